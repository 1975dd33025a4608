"""Figures of fits: posterior traces and densities, model checks, model comparisons."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..inference import _arviz
from ._common import figure_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_trace", "plot_posterior", "plot_model_check", "plot_comparison"]


def plot_trace(idata, var_names=None) -> Figure:
    """Trace and density of every parameter, chains overlaid (``arviz.plot_trace``).

    Parameters
    ----------
    idata : arviz.InferenceData
        From :func:`bayesdiff.sample` (or any posterior group).
    var_names : sequence of str, optional
        Parameters to draw (default: all).

    Returns
    -------
    matplotlib Figure
        Two panels per parameter: density and trace.
    """
    return figure_of(_arviz.plot_trace(idata, var_names))


def plot_posterior(idata, var_names=None, hdi_prob: float = 0.94) -> Figure:
    """Posterior density of every parameter with its HDI (``arviz.plot_posterior``).

    Parameters
    ----------
    idata : arviz.InferenceData
    var_names : sequence of str, optional
        Parameters to draw (default: all).
    hdi_prob : float
        Probability of the highest-density interval drawn.

    Returns
    -------
    matplotlib Figure
        One panel per parameter, titled with its name.
    """
    return figure_of(_arviz.plot_posterior(idata, var_names, hdi_prob))


def plot_model_check(df, ax=None, level: float = 0.05) -> Figure:
    """P-values of :func:`bayesdiff.model_check` against the coarse-graining scale.

    Parameters
    ----------
    df : pandas.DataFrame
        The table returned by :func:`bayesdiff.model_check` (columns ``scale``,
        ``p_value`` and, if present, ``p_value_upper``).
    ax : matplotlib Axes, optional
        Where to draw (a new figure if None).
    level : float
        Significance level, drawn as a dotted line.

    Returns
    -------
    matplotlib Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesdiff.plots import plot_model_check
    >>> df = pd.DataFrame({"scale": [1, 2, 4], "p_value": [0.4, 0.2, 0.01],
    ...                    "p_value_upper": [0.6, 0.8, 0.99]})
    >>> fig = plot_model_check(df)
    >>> fig.axes[0].get_xscale()
    'log'
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    scale = np.asarray(df["scale"], dtype=float)
    ax.plot(scale, df["p_value"], "o-", color="C0", label="p_value (observed less probable)")
    if "p_value_upper" in df:
        ax.plot(scale, df["p_value_upper"], "s--", color="C1",
                label="p_value_upper (observed more probable)")  # fmt: skip
    ax.axhline(level, color="0.4", ls=":", lw=1, label=f"p = {level:g}")
    ax.set_xscale("log", base=2)
    if len(scale):
        ax.set_xticks(scale, [f"{int(s)}" for s in scale])
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("coarse-graining scale n (frames)")
    ax.set_ylabel("p-value")
    model = getattr(df, "attrs", {}).get("model")
    ax.set_title(f"information-content model check{': ' + model if model else ''}",
                 fontsize="medium")  # fmt: skip
    ax.legend(fontsize="small", frameon=False)
    return ax.get_figure()


def plot_comparison(
    table: pd.DataFrame, summary: pd.DataFrame | None = None, max_tracks: int = 200
) -> Figure:
    """Model probabilities per track (stacked bars) and how many tracks each model wins.

    Parameters
    ----------
    table : DataFrame
        :attr:`ManyComparison.table` (a single-track :func:`compare` table works too).
    summary : DataFrame, optional
        :attr:`ManyComparison.summary` (computed from ``table`` if absent).
    max_tracks : int
        At most this many tracks are drawn (the first ones).

    Returns
    -------
    matplotlib.figure.Figure
        Left: one stacked bar per track (``track`` order of ``table``), one
        colour per model; right: the tracks each model wins.
    """
    import matplotlib.pyplot as plt

    if "track" not in table.columns:
        table = table.assign(track=str(table.attrs.get("track", "track")))
    names = list(dict.fromkeys(table["model"]))
    if summary is None:
        from ..inference.compare import comparison_summary

        summary = comparison_summary(table, names)
    wide = table.pivot_table(index="track", columns="model", values="probability", sort=False)
    wide = wide.reindex(columns=names).iloc[:max_tracks]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 1]})
    colors = plt.get_cmap("tab10")
    bottom = np.zeros(len(wide))
    x = np.arange(len(wide))
    for i, n in enumerate(names):
        v = np.nan_to_num(wide[n].to_numpy())
        ax1.bar(x, v, bottom=bottom, width=1.0, color=colors(i % 10), label=n, linewidth=0)
        bottom += v
    ax1.set_xlim(-0.5, len(wide) - 0.5)
    ax1.set_ylim(0, 1)
    ax1.set_xlabel("track")
    ax1.set_ylabel("posterior model probability")
    if len(wide) <= 30:
        ax1.set_xticks(x, [str(t) for t in wide.index], rotation=90, fontsize="small")
    ax1.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    s = summary.set_index("model").reindex(names)
    ax2.barh(np.arange(len(names)), s["wins"], color=[colors(i % 10) for i in range(len(names))])
    ax2.set_yticks(np.arange(len(names)), names)
    ax2.invert_yaxis()
    ax2.set_xlabel("tracks won")
    fig.tight_layout()
    return fig
