"""Figures: posterior traces and densities, track views, model checks.

Every function draws with matplotlib (safe under the non-interactive Agg
backend) and returns the figure; ``save_figure`` writes PNGs atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ._files import atomic_path
from .inference import _arviz  # noqa: E402
from .tracks import Track, TrackSet  # noqa: E402

__all__ = [
    "plot_trace",
    "plot_posterior",
    "plot_tracks",
    "plot_model_check",
    "plot_reliability",
    "plot_coverage_curves",
    "plot_sbc_ecdf",
    "plot_error_vs_length",
    "save_figure",
]


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


# -- calibration studies ---------------------------------------------------------
def _grid(keys: list, ncols: int = 4, size: float = 3.0):
    n = len(keys)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 0.9),
                             squeeze=False, layout="constrained")  # fmt: skip
    for a in axes.ravel()[n:]:
        a.set_visible(False)
    return fig, axes.ravel()


def _panels(per_track, by=("parameter", "length")):
    return sorted(per_track.groupby(list(by)).groups.keys(), key=lambda k: (str(k[0]), k[1]))


def _bins(n: int, n_bins: int) -> int:
    """Equal-count bins of at least ~10 items (at least 2 bins)."""
    return int(max(2, min(n_bins, n // 10)))


_ORDER = ("bayes", "bayes-grid", "ensemble", "member", "msd", "hmm-ml")


def _color(est: str) -> str:
    """The same colour for an estimator in every figure."""
    if est in _ORDER:
        return f"C{_ORDER.index(est)}"
    return f"C{(len(_ORDER) + sum(map(ord, est))) % 10}"


def _estimators(per_track) -> list:
    return list(dict.fromkeys(per_track["estimator"]))


def plot_reliability(per_track, n_bins: int = 8) -> plt.Figure | None:
    """Reliability diagrams: RMSE against root mean predicted variance in bins of predicted sd.

    One panel per (parameter, length), one line per estimator; a calibrated
    predictor lies on the diagonal (above it: over-confident). ``per_track``
    is :attr:`bayesdiff.calibration.StudyResult.per_track` for one model.
    """
    from .calibration import ence

    pt = per_track[np.isfinite(per_track["sd"].to_numpy(float))]
    if pt.empty:
        return None
    keys = _panels(pt)
    fig, axes = _grid(keys)
    for ax, (par, n) in zip(axes, keys, strict=False):
        g = pt[(pt["parameter"] == par) & (pt["length"] == n)]
        lo, hi = np.inf, 0.0
        for est in _estimators(pt):
            e = g[g["estimator"] == est]
            if e.empty:
                continue
            r = ence(e["mean"], e["sd"], e["truth"], _bins(len(e), n_bins))
            if r.table.empty:
                continue
            ax.plot(r.table["rmv"], r.table["rmse"], "o-", ms=3, color=_color(est),
                    label=f"{est} (ENCE {r.ence:.2f}, n={len(e)})")  # fmt: skip
            vals = np.concatenate([r.table["rmv"], r.table["rmse"]])
            vals = vals[vals > 0]
            if vals.size:
                lo, hi = min(lo, vals.min()), max(hi, vals.max())
        if hi > 0:
            ax.plot([lo, hi], [lo, hi], color="0.5", ls=":", lw=1)
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_title(f"{par}, n = {n}", fontsize="medium")
        ax.set_xlabel("RMV (predicted sd)")
        ax.set_ylabel("RMSE")
        ax.legend(fontsize="x-small", frameon=False)
    fig.suptitle(f"reliability: {per_track['model'].iloc[0]}", fontsize="medium")
    return fig


def plot_coverage_curves(per_track) -> plt.Figure | None:
    """Coverage of central intervals against their nominal level (from each track's PIT)."""
    from .calibration import coverage_from_pit

    pt = per_track[np.isfinite(per_track["pit"].to_numpy(float))]
    if pt.empty:
        return None
    levels = np.linspace(0.02, 0.98, 49)
    keys = _panels(pt)
    fig, axes = _grid(keys)
    for ax, (par, n) in zip(axes, keys, strict=False):
        g = pt[(pt["parameter"] == par) & (pt["length"] == n)]
        m = int(g.groupby("estimator").size().max())
        band = 2 * np.sqrt(levels * (1 - levels) / max(m, 1))
        ax.fill_between(levels, np.clip(levels - band, 0, 1), np.clip(levels + band, 0, 1),
                        color="0.85", lw=0, label=f"±2 s.e., n={m}")  # fmt: skip
        ax.plot([0, 1], [0, 1], color="0.5", ls=":", lw=1)
        for est in _estimators(pt):
            e = g[g["estimator"] == est]
            if not e.empty:
                ax.plot(levels, coverage_from_pit(e["pit"], levels), color=_color(est),
                        label=f"{est} (n={len(e)})")  # fmt: skip
        ax.set_title(f"{par}, n = {n}", fontsize="medium")
        ax.set_xlabel("nominal level")
        ax.set_ylabel("coverage")
        ax.legend(fontsize="x-small", frameon=False)
    fig.suptitle(f"coverage of central intervals: {per_track['model'].iloc[0]} "
                 "(grey: ±2 binomial s.e. of the largest n)", fontsize="medium")  # fmt: skip
    return fig


def plot_sbc_ecdf(per_track, ci_prob: float = 0.95) -> plt.Figure | None:
    """SBC/PIT ECDF-difference plots with simultaneous bands (``arviz.plot_ecdf``).

    For posterior draws the PIT is the randomized normalized rank
    ``(rank + U) / (n_draws + 1)``; for Gaussian predictors ``Phi(z)``.
    The band holds the whole ECDF difference with probability ``ci_prob``
    when calibrated. One panel per (parameter, length), one colour per estimator.
    """
    pt = per_track[np.isfinite(per_track["pit"].to_numpy(float))]
    if pt.empty:
        return None
    rng = np.random.default_rng(0)
    keys = _panels(pt)
    fig, axes = _grid(keys)
    for ax, (par, n) in zip(axes, keys, strict=False):
        g = pt[(pt["parameter"] == par) & (pt["length"] == n)]
        for est in _estimators(pt):
            e = g[g["estimator"] == est]
            if e.empty:
                continue
            L = e["n_draws"].to_numpy(int)
            u = np.where(L > 0, (e["rank"].to_numpy(float) + rng.uniform(size=len(e))) / (L + 1),
                         e["pit"].to_numpy(float))  # fmt: skip
            _arviz.plot_ecdf_difference(u, ax=ax, ci_prob=ci_prob, color=_color(est),
                                        label=f"{est} (n={len(e)})")  # fmt: skip
        ax.set_title(f"{par}, n = {n}", fontsize="medium")
        ax.set_xlabel("PIT / normalized rank")
        ax.set_ylabel("ECDF - uniform")
        ax.legend(fontsize="x-small", frameon=False)
    fig.suptitle(f"SBC ECDF difference ({ci_prob:.0%} simultaneous bands): "
                 f"{per_track['model'].iloc[0]}", fontsize="medium")  # fmt: skip
    return fig


def plot_error_vs_length(table, metric: str = "mae") -> plt.Figure | None:
    """A metric (default MAE) against track length, one panel per (model, parameter)."""
    t = table[table["parameter"] != "model"]
    if t.empty or metric not in t:
        return None
    keys = sorted(t.groupby(["model", "parameter"]).groups.keys())
    fig, axes = _grid(keys)
    lengths = sorted(t["length"].unique())
    for ax, (model, par) in zip(axes, keys, strict=False):
        g = t[(t["model"] == model) & (t["parameter"] == par)]
        for (est, fit, snr), e in g.groupby(["estimator", "fit_model", "snr"]):
            e = e.sort_values("length")
            lab = est + ("" if fit in ("-", model) else f" [{fit}]")
            lab += "" if not np.isfinite(snr) else f", SNR {snr:g}"
            ls = "-" if (fit in ("-", model) and not np.isfinite(snr)) else "--"
            ax.plot(e["length"], e[metric], "o", ls=ls, ms=3, color=_color(est), label=lab)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(lengths, [str(int(n)) for n in lengths])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(f"{model}: {par}", fontsize="medium")
        ax.set_xlabel("track length (steps)")
        ax.set_ylabel(metric.upper())
        ax.legend(fontsize="x-small", frameon=False)
    return fig


def save_figure(fig: plt.Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save as PNG atomically (temporary file, then rename) and close the figure."""
    path = Path(path)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
