"""Figures: posterior traces and densities, track views, model checks.

Every function draws with matplotlib (safe under the non-interactive Agg
backend) and returns the figure; ``save_figure`` writes PNGs atomically.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .inference import _arviz  # noqa: E402
from .tracks import Track, TrackSet  # noqa: E402

__all__ = ["plot_trace", "plot_posterior", "plot_tracks", "plot_model_check", "save_figure"]


def _figure_of(axes) -> plt.Figure:
    a = np.asarray(axes).ravel()[0]
    return a.get_figure()


def plot_trace(idata, var_names=None) -> plt.Figure:
    """Trace and density of every parameter, chains overlaid."""
    return _figure_of(_arviz.plot_trace(idata, var_names))


def plot_posterior(idata, var_names=None, hdi_prob: float = 0.94) -> plt.Figure:
    """Posterior density of every parameter with its HDI."""
    return _figure_of(_arviz.plot_posterior(idata, var_names, hdi_prob))


def plot_tracks(tracks: Track | TrackSet, max_tracks: int = 50, ax=None) -> plt.Figure:
    """Draw 2-D tracks (x, y), or 1-D tracks against time."""
    ts = TrackSet([tracks]) if isinstance(tracks, Track) else tracks
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    for t in list(ts)[:max_tracks]:
        if t.dim >= 2:
            ax.plot(t.positions[:, 0], t.positions[:, 1], lw=0.8)
        else:
            ax.plot(t.times, t.positions[:, 0], lw=0.8)
    ax.set_xlabel("x" if ts.dim >= 2 else "time (s)")
    ax.set_ylabel("y" if ts.dim >= 2 else "x")
    if ts.dim >= 2:
        ax.set_aspect("equal", adjustable="datalim")
    return ax.get_figure()


def plot_model_check(df, ax=None, level: float = 0.05) -> plt.Figure:
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


def save_figure(fig: plt.Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save as PNG atomically (temporary file, then rename) and close the figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
