"""Figures of calibration studies: reliability, coverage, SBC ECDFs, error against length.

Each takes :attr:`bayesdiff.calibration.StudyResult.per_track` (for one model)
or ``.table`` and draws one panel per (parameter, length) or (model,
parameter), one colour per estimator (the same in every figure); each returns
``None`` when there is nothing to draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..calibration.metrics import coverage_from_pit, ence
from ..inference import _arviz
from ._common import panel_grid

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_reliability", "plot_coverage_curves", "plot_sbc_ecdf", "plot_error_vs_length"]


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


def plot_reliability(per_track, n_bins: int = 8) -> Figure | None:
    """Reliability diagrams: RMSE against root mean predicted variance in bins of predicted sd.

    One panel per (parameter, length), one line per estimator; a calibrated
    predictor lies on the diagonal (above it: over-confident).

    Parameters
    ----------
    per_track : pandas.DataFrame
        :attr:`bayesdiff.calibration.StudyResult.per_track` for one model.
    n_bins : int
        Most equal-count bins of predicted sd (fewer for small cells: about
        10 tracks a bin, at least 2 bins; :func:`~bayesdiff.calibration.ence`).

    Returns
    -------
    matplotlib Figure or None
        ``None`` when no track has a finite sd.
    """
    pt = per_track[np.isfinite(per_track["sd"].to_numpy(float))]
    if pt.empty:
        return None
    keys = _panels(pt)
    fig, axes = panel_grid(keys)
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


def plot_coverage_curves(per_track) -> Figure | None:
    """Coverage of central intervals against their nominal level (from each track's PIT).

    Parameters
    ----------
    per_track : pandas.DataFrame
        :attr:`bayesdiff.calibration.StudyResult.per_track` for one model.

    Returns
    -------
    matplotlib Figure or None
        One panel per (parameter, length), one curve per estimator at 49 levels
        from 0.02 to 0.98 (:func:`~bayesdiff.calibration.coverage_from_pit`), the
        diagonal and a grey band of +-2 binomial standard errors; ``None``
        without a finite PIT.
    """
    pt = per_track[np.isfinite(per_track["pit"].to_numpy(float))]
    if pt.empty:
        return None
    levels = np.linspace(0.02, 0.98, 49)
    keys = _panels(pt)
    fig, axes = panel_grid(keys)
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


def plot_sbc_ecdf(per_track, ci_prob: float = 0.95) -> Figure | None:
    """SBC/PIT ECDF-difference plots with simultaneous bands (``arviz.plot_ecdf``).

    For posterior draws the PIT is the randomized normalized rank
    ``(rank + U) / (n_draws + 1)``; for Gaussian predictors ``Phi(z)``.
    The band holds the whole ECDF difference with probability ``ci_prob``
    when calibrated. One panel per (parameter, length), one colour per estimator.

    Parameters
    ----------
    per_track : pandas.DataFrame
        :attr:`bayesdiff.calibration.StudyResult.per_track` for one model.
    ci_prob : float
        Probability of the simultaneous band.

    Returns
    -------
    matplotlib Figure or None
        ``None`` without a finite PIT.
    """
    pt = per_track[np.isfinite(per_track["pit"].to_numpy(float))]
    if pt.empty:
        return None
    rng = np.random.default_rng(0)
    keys = _panels(pt)
    fig, axes = panel_grid(keys)
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


def plot_error_vs_length(table, metric: str = "mae") -> Figure | None:
    """A metric (default MAE) against track length, one panel per (model, parameter).

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`bayesdiff.calibration.StudyResult.table`.
    metric : str
        A column of the table (``mae``, ``rmse``, ``crps``, ...).

    Returns
    -------
    matplotlib Figure or None
        Log-log axes, one line per (estimator, fit model, SNR) -- dashed when
        misspecified or noisy; ``None`` without parameter rows or that column.
    """
    from matplotlib.ticker import NullFormatter

    t = table[table["parameter"] != "model"]
    if t.empty or metric not in t:
        return None
    keys = sorted(t.groupby(["model", "parameter"]).groups.keys())
    fig, axes = panel_grid(keys)
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
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{model}: {par}", fontsize="medium")
        ax.set_xlabel("track length (steps)")
        ax.set_ylabel(metric.upper())
        ax.legend(fontsize="x-small", frameon=False)
    return fig
