"""Calibration studies: are the uncertainties honest?

A posterior or an error bar is useful only if it is calibrated: a 90% interval
should contain the truth 90% of the time, over tracks drawn from the prior the
estimator assumes. This module has

* **metrics** on plain arrays -- :func:`coverage` (central intervals from
  draws), :func:`coverage_gaussian`, :func:`ence` with its reliability table,
  :func:`sbc_ranks` / :func:`sbc` (simulation-based calibration with a
  uniformity test), :func:`crps_gaussian` / :func:`crps_samples`,
  :func:`sharpness`, and for classes :func:`accuracy`,
  :func:`expected_calibration_error`; :func:`idata_draws` takes the draws
  from an InferenceData with a ``track`` dimension;
* **estimators** behind one small interface (:class:`Estimator`): NUTS
  posteriors (:class:`Bayes`), the neural deep ensemble and one of its members
  (:class:`Neural`), the time-averaged MSD power-law fit (:class:`MSDFit`) and
  hmmlearn maximum likelihood for switching tracks (:class:`HMMFit`);
* :func:`study`, which simulates test tracks from stated priors, runs every
  estimator and returns a tidy table of every metric by estimator, model,
  length and SNR (resumable, with figures), and the ``bayesdiff calibrate``
  command (``bayesdiff.cli.calibrate``).

Positive scale parameters (``D``, ``v``, ``sigma``, ``k``) are compared on the
natural-log scale and named ``logD``, ``logv``, ... in every table.

References
----------
Talts, Betancourt, Simpson, Vehtari & Gelman, "Validating Bayesian inference
algorithms with simulation-based calibration", arXiv:1804.06788 (2018).
Levi, Gispan, Giladi & Fetaya, "Evaluating and calibrating uncertainty
prediction in regression tasks", Sensors 22, 5540 (2022) (ENCE).
Gneiting & Raftery, "Strictly proper scoring rules, prediction, and
estimation", JASA 102, 359 (2007) (CRPS).
Guo, Pleiss, Sun & Weinberger, "On calibration of modern neural networks",
ICML (2017) (expected calibration error).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from scipy import special, stats

from ._files import atomic_path
from .errors import BayesdiffError
from .tracks import Track, TrackSet

__all__ = [
    "DEFAULT_LEVELS",
    "coverage",
    "coverage_gaussian",
    "coverage_from_pit",
    "ence",
    "EnceResult",
    "sbc_ranks",
    "sbc",
    "sbc_uniformity",
    "SBCResult",
    "pit_gaussian",
    "pit_samples",
    "crps_gaussian",
    "crps_samples",
    "sharpness",
    "accuracy",
    "expected_calibration_error",
    "ECEResult",
    "idata_draws",
    "Estimate",
    "Estimator",
    "Bayes",
    "Neural",
    "MSDFit",
    "HMMFit",
    "tamsd",
    "neural_available",
    "SimSpec",
    "study_models",
    "simulate_truth",
    "study",
    "StudyResult",
    "summarize",
    "write_figures",
    "markdown_report",
]

#: Interval levels reported in the study table.
DEFAULT_LEVELS = (0.5, 0.9, 0.95)
#: Parameters compared on the natural-log scale (``D`` -> ``logD``).
LOG_PARAMS = ("D", "v", "sigma", "k")


# =============================================================================
# metrics on arrays
# =============================================================================
def _levels(levels) -> np.ndarray:
    lv = np.atleast_1d(np.asarray(levels, dtype=float))
    if np.any((lv <= 0) | (lv >= 1)):
        raise ValueError(f"interval levels must lie in (0, 1), got {lv}")
    return lv


def _draws_truth(draws, truth) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(draws, dtype=float)
    t = np.asarray(truth, dtype=float)
    if d.ndim == 1:
        d = d[:, None]
    if d.ndim != 2 or t.shape != d.shape[1:]:
        raise ValueError(
            f"draws must have shape (n_draws, n_items) and truth (n_items,); "
            f"got {d.shape} and {t.shape}"
        )
    return d, t


def coverage(draws, truth, levels=DEFAULT_LEVELS) -> np.ndarray:
    """Fraction of items whose central posterior interval contains the truth.

    Parameters
    ----------
    draws : array of shape (n_draws, n_items)
        Posterior (or predictive) draws, one column per item.
    truth : array of shape (n_items,)
    levels : float or sequence of floats in (0, 1)
        Interval probabilities; the interval at level ``l`` runs between the
        ``(1 - l) / 2`` and ``(1 + l) / 2`` empirical quantiles (linear
        interpolation) of each item's draws.

    Returns
    -------
    array of shape (n_levels,)
        Coverage at each level. A calibrated predictor has coverage close to
        the level (binomial error ``sqrt(l (1 - l) / n_items)``).

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.tile(np.arange(101.0), (3, 1)).T      # each item: draws 0..100
    >>> coverage(draws, np.array([50.0, 80.0, 99.0]), [0.5, 0.9])
    array([0.33333333, 0.66666667])
    """
    d, t = _draws_truth(draws, truth)
    lv = _levels(levels)
    lo = np.quantile(d, (1 - lv) / 2, axis=0)  # (n_levels, n_items)
    hi = np.quantile(d, (1 + lv) / 2, axis=0)
    return np.mean((lo <= t) & (t <= hi), axis=1)


def coverage_gaussian(mean, sd, truth, levels=DEFAULT_LEVELS) -> np.ndarray:
    """Coverage of the central intervals ``mean +- z sd`` of Gaussian predictions.

    Parameters
    ----------
    mean, sd, truth : arrays of shape (n_items,)
    levels : float or sequence of floats in (0, 1)

    Returns
    -------
    array of shape (n_levels,)

    Examples
    --------
    >>> coverage_gaussian([0.0, 0.0], [1.0, 1.0], [0.5, 1.0], [0.5, 0.95])  # |z| <= 0.674, 1.96
    array([0.5, 1. ])
    """
    z = np.abs(np.asarray(truth, float) - np.asarray(mean, float)) / np.asarray(sd, float)
    half = special.ndtri((1 + _levels(levels)) / 2)
    return np.mean(z[None, :] <= half[:, None], axis=1)


def coverage_from_pit(pit, levels=DEFAULT_LEVELS) -> np.ndarray:
    """Coverage of central intervals from probability integral transforms.

    The central interval at level ``l`` contains the truth exactly when its
    PIT ``u = F(truth)`` satisfies ``|2u - 1| <= l``; one PIT per item gives
    the whole coverage curve.

    Parameters
    ----------
    pit : array of shape (n_items,), values in [0, 1]
    levels : float or sequence of floats in (0, 1)

    Returns
    -------
    array of shape (n_levels,)
    """
    u = np.asarray(pit, dtype=float)
    u = u[np.isfinite(u)]
    if u.size == 0:
        return np.full(len(_levels(levels)), np.nan)
    return np.mean(np.abs(2 * u[None, :] - 1) <= _levels(levels)[:, None], axis=1)


def pit_gaussian(mean, sd, truth) -> np.ndarray:
    """Probability integral transform ``Phi((truth - mean) / sd)``, shape (n_items,)."""
    return special.ndtr((np.asarray(truth, float) - np.asarray(mean, float)) / np.asarray(sd))


def pit_samples(draws, truth) -> np.ndarray:
    """Empirical PIT: the fraction of each item's draws below the truth (ties count half).

    Parameters
    ----------
    draws : array of shape (n_draws, n_items)
    truth : array of shape (n_items,)

    Returns
    -------
    array of shape (n_items,)
    """
    d, t = _draws_truth(draws, truth)
    return (np.sum(d < t, axis=0) + 0.5 * np.sum(d == t, axis=0)) / d.shape[0]


class EnceResult(NamedTuple):
    """Result of :func:`ence`.

    Attributes
    ----------
    ence : float
        Expected normalized calibration error: the mean over bins of
        ``|RMV - RMSE| / RMV`` (0 for a calibrated predictor, up to sampling
        noise of order ``1 / sqrt(2 n_per_bin)``).
    table : pandas.DataFrame
        The reliability table, one row per bin (sorted by predicted sd):
        ``bin``, ``n``, ``sd_lo``, ``sd_hi``, ``rmv`` (root mean predicted
        variance), ``rmse`` (root mean squared error of the means), ``nce``
        (``|rmv - rmse| / rmv``).
    """

    ence: float
    table: pd.DataFrame


def ence(mean, sd, truth, n_bins: int = 10) -> EnceResult:
    """Expected normalized calibration error and reliability table (Levi et al. 2022).

    Items are sorted by predicted ``sd`` and split into ``n_bins`` bins of
    (nearly) equal count; in each bin the root mean predicted variance
    ``RMV = sqrt(mean(sd^2))`` is compared with the root mean squared error
    ``RMSE = sqrt(mean((mean - truth)^2))``.

    Parameters
    ----------
    mean, sd, truth : arrays of shape (n_items,)
    n_bins : int
        Number of equal-count bins (reduced to ``n_items`` when fewer).

    Returns
    -------
    EnceResult
        ``ence = mean_b |RMV_b - RMSE_b| / RMV_b`` and the per-bin table.

    Notes
    -----
    An over-confident predictor (sd too small by a factor ``c < 1``) has
    ``ENCE ~ 1/c - 1`` (1 for ``c = 0.5``), an under-confident one
    ``1 - 1/c`` (0.5 for ``c = 2``).

    Examples
    --------
    >>> r = ence([0, 0, 0, 0], [1.0, 1.0, 2.0, 2.0], [1.0, -1.0, 1.0, -1.0], n_bins=2)
    >>> float(r.ence), r.table["rmse"].tolist()
    (0.25, [1.0, 1.0])
    """
    m, s, t = (np.asarray(a, dtype=float) for a in (mean, sd, truth))
    ok = np.isfinite(m) & np.isfinite(s) & np.isfinite(t)
    m, s, t = m[ok], s[ok], t[ok]
    if m.size == 0:
        return EnceResult(float("nan"), pd.DataFrame())
    order = np.argsort(s, kind="stable")
    rows = []
    for b, idx in enumerate(np.array_split(order, min(n_bins, m.size))):
        rmv = float(np.sqrt(np.mean(s[idx] ** 2)))
        rmse = float(np.sqrt(np.mean((m[idx] - t[idx]) ** 2)))
        nce = abs(rmv - rmse) / rmv if rmv > 0 else float("inf")
        rows.append(
            {
                "bin": b,
                "n": idx.size,
                "sd_lo": float(s[idx].min()),
                "sd_hi": float(s[idx].max()),
                "rmv": rmv,
                "rmse": rmse,
                "nce": nce,
            }
        )
    table = pd.DataFrame(rows)
    return EnceResult(float(table["nce"].mean()), table)


def sbc_ranks(draws, truth) -> np.ndarray:
    """Rank of the truth among each item's draws (Talts et al. 2018).

    Parameters
    ----------
    draws : array of shape (n_draws, n_items)
        Posterior draws, as nearly independent as possible (thin correlated
        MCMC output to about its effective sample size first).
    truth : array of shape (n_items,)
        The parameter values the data were simulated with, drawn from the prior.

    Returns
    -------
    int array of shape (n_items,)
        ``#{draws < truth}``, in ``0 .. n_draws``; uniform on those
        ``n_draws + 1`` values when the posterior is correct. Ties are
        broken at random with a fixed seed (they occur only for discrete draws).

    Examples
    --------
    >>> sbc_ranks([[0.0, 5.0], [1.0, 6.0], [2.0, 7.0]], [1.5, -1.0])
    array([2, 0])
    """
    d, t = _draws_truth(draws, truth)
    below = np.sum(d < t, axis=0)
    ties = np.sum(d == t, axis=0)
    if np.any(ties):
        rng = np.random.default_rng(0)
        below = below + rng.integers(0, ties + 1)
    return below.astype(int)


class SBCResult(NamedTuple):
    """Result of :func:`sbc` (simulation-based calibration).

    Attributes
    ----------
    ranks : int array of shape (n_items,)
        Rank of the truth among the draws (see :func:`sbc_ranks`); ``-1`` where
        the predictor is Gaussian (no draws).
    n_draws : int
        Draws per item (ranks lie in ``0 .. n_draws``); 0 for Gaussian predictors.
    pit : array of shape (n_items,)
        Randomized probability integral transform ``(rank + U) / (n_draws + 1)``,
        exactly uniform on (0, 1) under calibration (``Phi((truth - mean)/sd)``
        for Gaussian predictors).
    statistic, p_value : float
        Chi-square statistic of the binned ranks against their uniform
        expectation and its p-value (the headline test; for Gaussian predictors
        the same test on PIT bins).
    n_bins : int
        Bins of the chi-square test.
    ks_statistic, ks_p_value : float
        Kolmogorov-Smirnov test of ``pit`` against U(0, 1).
    """

    ranks: np.ndarray
    n_draws: int
    pit: np.ndarray
    statistic: float
    p_value: float
    n_bins: int
    ks_statistic: float
    ks_p_value: float


def _default_bins(n_items: int, n_draws: int) -> int:
    """At least 5 expected items per bin, at most 20 bins, never more than n_draws + 1."""
    b = int(min(20, max(2, n_items // 5)))
    return b if n_draws <= 0 else int(min(b, n_draws + 1))


def sbc_uniformity(ranks, n_draws: int, n_bins: int | None = None) -> tuple[float, float, int]:
    """Chi-square test that ranks are uniform on ``0 .. n_draws``.

    Ranks are grouped into ``n_bins`` bins ``floor(rank * n_bins / (n_draws + 1))``;
    each bin's expected probability is the exact share of the ``n_draws + 1``
    rank values that fall in it, so any bin count works for any ``n_draws``.

    Parameters
    ----------
    ranks : int array of shape (n_items,)
    n_draws : int
    n_bins : int, optional
        Default: ``min(20, n_items // 5, n_draws + 1)`` (at least 2), so that each
        bin expects at least about 5 items.

    Returns
    -------
    (statistic, p_value, n_bins)
    """
    r = np.asarray(ranks, dtype=int)
    if np.any((r < 0) | (r > n_draws)):
        raise ValueError(f"ranks must lie in 0..{n_draws}")
    b = n_bins or _default_bins(r.size, n_draws)
    b = int(min(b, n_draws + 1))
    values = np.arange(n_draws + 1)
    prob = np.bincount(values * b // (n_draws + 1), minlength=b) / (n_draws + 1)
    obs = np.bincount(r * b // (n_draws + 1), minlength=b)
    res = stats.chisquare(obs, prob * r.size)
    return float(res.statistic), float(res.pvalue), b


def sbc(
    draws=None,
    truth=None,
    *,
    mean=None,
    sd=None,
    n_bins: int | None = None,
    seed: int = 0,
) -> SBCResult:
    """Simulation-based calibration: ranks of the truth and a uniformity test.

    Give either ``draws`` (posterior draws) or ``mean`` and ``sd`` (Gaussian
    predictions). Over items whose truths were drawn from the estimator's
    prior, a correct posterior gives uniform ranks (Talts et al. 2018); a
    too-narrow posterior piles ranks at the ends (U shape), a too-wide one in
    the middle, a biased one to one side.

    Parameters
    ----------
    draws : array of shape (n_draws, n_items), optional
    truth : array of shape (n_items,)
    mean, sd : arrays of shape (n_items,), optional
        Gaussian predictions instead of draws: the test then runs on the PIT
        ``Phi((truth - mean) / sd)`` binned into ``n_bins`` equal bins.
    n_bins : int, optional
        Bins of the chi-square test (see :func:`sbc_uniformity`).
    seed : int
        Seed of the randomization of the PIT within a rank.

    Returns
    -------
    SBCResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> mu = rng.normal(size=400)                    # truths from the prior N(0, 1)
    >>> y = mu + rng.normal(size=400)                # one observation each, noise N(0, 1)
    >>> post = y / 2 + rng.normal(size=(99, 400)) / np.sqrt(2)   # exact posterior draws
    >>> sbc(post, mu).p_value > 0.01
    True
    """
    if truth is None:
        raise ValueError("sbc needs the true values")
    rng = np.random.default_rng(seed)
    if draws is not None:
        d, t = _draws_truth(draws, truth)
        ranks = sbc_ranks(d, t)
        L = d.shape[0]
        pit = (ranks + rng.uniform(size=ranks.size)) / (L + 1)
        stat, p, b = sbc_uniformity(ranks, L, n_bins)
    else:
        if mean is None or sd is None:
            raise ValueError("sbc needs draws, or mean and sd")
        t = np.asarray(truth, dtype=float)
        pit = pit_gaussian(mean, sd, t)
        L, ranks = 0, np.full(t.shape, -1)
        b = n_bins or _default_bins(t.size, 0)
        obs = np.bincount(np.minimum((pit * b).astype(int), b - 1), minlength=b)
        res = stats.chisquare(obs)
        stat, p = float(res.statistic), float(res.pvalue)
    ks = stats.kstest(pit, "uniform")
    return SBCResult(ranks, L, pit, stat, p, b, float(ks.statistic), float(ks.pvalue))


def crps_gaussian(mean, sd, truth) -> np.ndarray:
    """Continuous ranked probability score of Gaussian predictions (closed form).

    ``CRPS(N(m, s^2), y) = s [z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)]`` with
    ``z = (y - m) / s`` (Gneiting & Raftery 2007); lower is better, in the
    units of the parameter; it reduces to the absolute error as ``s -> 0``.

    Parameters
    ----------
    mean, sd, truth : arrays of shape (n_items,)

    Returns
    -------
    array of shape (n_items,)

    Examples
    --------
    >>> float(crps_gaussian(0.0, 1.0, 0.0)).__round__(6)
    0.233695
    """
    m, s, y = (np.asarray(a, dtype=float) for a in (mean, sd, truth))
    z = (y - m) / s
    return s * (z * (2 * special.ndtr(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


def crps_samples(draws, truth) -> np.ndarray:
    """Sample-based CRPS: ``E|X - y| - E|X - X'| / 2`` over each item's draws.

    Computed exactly for the empirical distribution of the draws in
    ``O(n_draws log n_draws)`` per item (sorted draws).

    Parameters
    ----------
    draws : array of shape (n_draws, n_items)
    truth : array of shape (n_items,)

    Returns
    -------
    array of shape (n_items,)

    Examples
    --------
    >>> crps_samples([[0.0], [2.0]], [1.0])        # E|X-y| = 1, E|X-X'|/2 = 0.5
    array([0.5])
    """
    d, t = _draws_truth(draws, truth)
    n = d.shape[0]
    e_xy = np.mean(np.abs(d - t), axis=0)
    x = np.sort(d, axis=0)
    i = np.arange(1, n + 1)[:, None]
    # sum_{i,j} |x_i - x_j| = 2 sum_i (2 i - n - 1) x_(i)
    e_xx = 2 * np.sum((2 * i - n - 1) * x, axis=0) / n**2
    return e_xy - e_xx / 2


def sharpness(sd) -> float:
    """Mean predicted standard deviation (smaller is sharper; only meaningful when calibrated)."""
    s = np.asarray(sd, dtype=float)
    return float(np.mean(s[np.isfinite(s)])) if np.any(np.isfinite(s)) else float("nan")


def accuracy(probs, labels) -> float:
    """Fraction of items whose most probable class is the true one.

    Parameters
    ----------
    probs : array of shape (n_items, n_classes)
    labels : int array of shape (n_items,)
    """
    p = np.asarray(probs, dtype=float)
    return float(np.mean(np.argmax(p, axis=1) == np.asarray(labels)))


class ECEResult(NamedTuple):
    """Result of :func:`expected_calibration_error`.

    Attributes
    ----------
    ece : float
        ``sum_b (n_b / n) |accuracy_b - confidence_b|``.
    table : pandas.DataFrame
        Reliability table, one row per non-empty confidence bin: ``bin``,
        ``lo``, ``hi``, ``n``, ``confidence`` (mean top-class probability),
        ``accuracy``.
    """

    ece: float
    table: pd.DataFrame


def expected_calibration_error(probs, labels, n_bins: int = 10) -> ECEResult:
    """Expected calibration error of class probabilities (Guo et al. 2017).

    The top-class probability (confidence) of each item is binned into
    ``n_bins`` equal-width bins on [0, 1]; in each bin the mean confidence is
    compared with the fraction of correct top-class predictions.

    Parameters
    ----------
    probs : array of shape (n_items, n_classes)
    labels : int array of shape (n_items,)
    n_bins : int

    Returns
    -------
    ECEResult

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    >>> round(expected_calibration_error(p, [0, 1, 0, 0], n_bins=5).ece, 3)  # |0.5-0.9|, |1-0.6|
    0.4
    """
    p = np.asarray(probs, dtype=float)
    return _ece(p.max(axis=1), np.argmax(p, axis=1) == np.asarray(labels), n_bins)


def _ece(conf: np.ndarray, correct: np.ndarray, n_bins: int) -> ECEResult:
    """ECE from top-class confidences and whether each top class was right."""
    conf = np.asarray(conf, dtype=float)
    correct = np.asarray(correct, dtype=float)
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = which == b
        if m.any():
            rows.append(
                {"bin": b, "lo": edges[b], "hi": edges[b + 1], "n": int(m.sum()),
                 "confidence": float(conf[m].mean()), "accuracy": float(correct[m].mean())}
            )  # fmt: skip
    table = pd.DataFrame(rows)
    ece_val = float(
        np.sum(table["n"] / conf.size * np.abs(table["accuracy"] - table["confidence"]))
    )
    return ECEResult(ece_val, table)


# -- ArviZ objects ------------------------------------------------------------------
def idata_draws(idata, var_names: Sequence[str], thin: int = 1) -> dict[str, np.ndarray]:
    """Posterior draws of an InferenceData with a ``track`` dimension, as (n_draws, n_tracks).

    Chains are concatenated after thinning every chain by ``thin``; vector
    parameters keep their trailing axes: (n_draws, n_tracks, ...).

    Parameters
    ----------
    idata : arviz.InferenceData
        From :func:`bayesdiff.sample_many`.
    var_names : sequence of str
    thin : int

    Returns
    -------
    dict of str to array
    """
    from .inference import _arviz

    return _arviz.track_draws(idata, var_names, thin=thin)


# =============================================================================
# estimators
# =============================================================================
class Estimate(NamedTuple):
    """What an estimator returns for a TrackSet.

    Attributes
    ----------
    mean, sd : dict of str to array of shape (n_tracks,)
        Point estimate and its standard deviation per parameter (names as in
        the models: ``alpha``, ``D``, ...; positive scale parameters on the
        log scale as ``logD``, ...). ``sd`` is NaN where there is none.
    draws : dict of str to array of shape (n_draws, n_tracks), or None
        Posterior draws (same names), for estimators that have them.
    seconds : float
        Wall time of the estimate (all tracks).
    class_probs : array of shape (n_tracks, n_classes), or None
        Model-class probabilities, for estimators that classify.
    class_names : tuple of str
        Names of the classes (model kinds, e.g. ``"fbm"``).
    """

    mean: dict[str, np.ndarray]
    sd: dict[str, np.ndarray]
    draws: dict[str, np.ndarray] | None = None
    seconds: float = float("nan")
    class_probs: np.ndarray | None = None
    class_names: tuple[str, ...] = ()


@runtime_checkable
class Estimator(Protocol):
    """The interface of :func:`study`: a ``name`` and ``estimate(tracks, model)``.

    ``model`` is the generating model of the tracks (with the study's priors);
    estimators that need a model (NUTS) use it unless they were given their own
    (misspecification studies), others ignore it.
    """

    name: str

    def estimate(self, tracks: TrackSet, model) -> Estimate: ...


def _log_name(p: str) -> str:
    base = p.split("[")[0]
    return f"log{p}" if base in LOG_PARAMS else p


def _flatten_params(values: Mapping[str, np.ndarray], n: int, axis: int = 0) -> dict:
    """{'D': (.., n, K)} -> {'logD[0]': (.., n), 'logD[1]': ...}; scale parameters logged."""
    out = {}
    for p, a in values.items():
        a = np.asarray(a, dtype=float)
        if p.split("[")[0] in LOG_PARAMS:
            with np.errstate(divide="ignore", invalid="ignore"):
                a = np.log(a)
        trailing = a.shape[axis + 1 :]
        if not trailing:
            out[_log_name(p)] = a
        else:
            flat = a.reshape(*a.shape[: axis + 1], -1)
            for j, idx in enumerate(np.ndindex(*trailing)):
                out[_log_name(p) + "[" + ",".join(map(str, idx)) + "]"] = flat[..., j]
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class Bayes:
    """NUTS posteriors of every track (:func:`bayesdiff.sample_many`).

    Parameters
    ----------
    model : Model, optional
        The model to fit; default: the generating model of each study cell
        (same priors as the simulation, so SBC applies). Give one to study
        misspecification (e.g. ``FBM()`` on Langevin tracks).
    draws, tune, chains : int
        Per chain; ``draws // thin`` draws per chain are kept.
    thin : int
        Keep every ``thin``-th draw (SBC wants nearly independent draws).
    noise : bool
        With finite SNR in a study, fit the model's ``noise=True`` variant
        (when it has one).
    method : {"nuts", "grid"}
        ``"nuts"``: :func:`bayesdiff.sample_many` (all tracks at once);
        ``"grid"``: exact quadrature posteriors, one :func:`bayesdiff.sample`
        call per track with ``method="grid"`` (FBM and Brownian motion only;
        independent draws, so ``tune`` and ``thin`` are ignored).
    max_tracks : int or mapping, optional
        In a study, fit only the first ``max_tracks`` tracks of each cell
        (NUTS costs seconds to minutes per track; the other estimators still
        see every track). A mapping ``{(model_label, length): n}`` sizes cells
        separately (missing keys: all tracks).
    name : str
    """

    model: Any = None
    max_tracks: Any = None
    draws: int = 400
    tune: int = 400
    chains: int = 2
    thin: int = 2
    noise: bool = True
    method: str = "nuts"
    name: str = "bayes"
    seed: int = 0
    sample_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def _grid(self, m, tracks: TrackSet) -> dict[str, np.ndarray]:
        import warnings

        from .inference import _arviz, sample

        per = []
        for i, t in enumerate(tracks):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                idata = sample(m, t, draws=self.draws, chains=self.chains, seed=self.seed + i,
                               method="grid", progress=False, warn=False)  # fmt: skip
            per.append(_arviz.posterior_draws(idata, m.param_names))
        return {p: np.stack([d[p] for d in per], axis=1) for p in m.param_names}

    def fit_model(self, model, snr: float = math.inf):
        m = self.model if self.model is not None else model
        if self.noise and np.isfinite(snr) and hasattr(m, "noise") and not m.noise:
            m = dataclasses.replace(m, noise=True)
        return m

    def estimate(self, tracks: TrackSet, model, snr: float = math.inf) -> Estimate:
        from .inference import sample_many

        m = self.fit_model(model, snr)
        t0 = time.perf_counter()
        if self.method == "grid":
            raw = self._grid(m, tracks)
        elif self.method == "nuts":
            idata = sample_many(m, tracks, draws=self.draws, tune=self.tune, chains=self.chains,
                                seed=self.seed, progress=False, warn=False,
                                **dict(self.sample_kwargs))  # fmt: skip
            raw = idata_draws(idata, m.param_names, thin=self.thin)
        else:
            raise ValueError(f"Bayes.method must be 'nuts' or 'grid', got {self.method!r}")
        seconds = time.perf_counter() - t0
        draws = _flatten_params(raw, len(tracks), axis=1)
        mean = {k: np.mean(v, axis=0) for k, v in draws.items()}
        sd = {k: np.std(v, axis=0, ddof=1) for k, v in draws.items()}
        return Estimate(mean, sd, draws, seconds)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Neural:
    """A neural predictor: the deep ensemble, or one of its members.

    Parameters
    ----------
    predictor : object, optional
        Anything with ``predict(trackset) -> DataFrame`` in the format of
        :mod:`bayesdiff.neural` (columns ``alpha_mean``, ``alpha_sd``,
        ``logD_mean``, ``logD_sd`` and ``p_<model>``); default:
        ``bd.neural.default_ensemble()``.
    member : int, optional
        Use this member of the ensemble (``predictor.members[member]``) alone.
    name : str
        Default ``"ensemble"``, or ``"member"`` when ``member`` is given.
    conditional : bool
        Take alpha from the predictor's estimate *given the simulated model's
        class* (``alpha_mean_<kind>``, ``alpha_sd_<kind>``) where it has one, as
        the Bayesian estimator also knows the model; otherwise (or with
        ``False``) from its mixture over classes (``alpha_mean``, ``alpha_sd``).
    """

    predictor: Any = None
    member: int | None = None
    name: str = ""
    conditional: bool = True

    def __post_init__(self):
        if not self.name:
            object.__setattr__(self, "name", "ensemble" if self.member is None else "member")

    def _predictor(self):
        ens = self.predictor if self.predictor is not None else _default_ensemble()
        return ens if self.member is None else ens.members[self.member]

    def fingerprint(self) -> str:
        """Eight hex digits of a hash of the predictor's weights (names a study's cells,
        so a retrained network is not mistaken for the one a saved cell came from)."""
        import jax

        pred = self._predictor()
        stacked = getattr(pred, "_stacked", None)
        if stacked is None:
            return "external"
        h = hashlib.sha1()
        for leaf in jax.tree.leaves(stacked()):
            h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
        return h.hexdigest()[:8]

    def estimate(self, tracks: TrackSet, model=None, snr: float = math.inf) -> Estimate:
        pred = self._predictor()
        t0 = time.perf_counter()
        df = pred.predict(tracks)
        seconds = time.perf_counter() - t0
        mean, sd = {}, {}
        for p in ("alpha", "logD"):
            if f"{p}_mean" in df:
                mean[p] = df[f"{p}_mean"].to_numpy(float)
                sd[p] = (
                    df[f"{p}_sd"].to_numpy(float) if f"{p}_sd" in df else np.full(len(df), np.nan)
                )
        kind = getattr(model, "kind", None)
        if self.conditional and f"alpha_mean_{kind}" in df:
            mean["alpha"] = df[f"alpha_mean_{kind}"].to_numpy(float)
            sd["alpha"] = df[f"alpha_sd_{kind}"].to_numpy(float)
        pcols = [c for c in df.columns if c.startswith("p_")]
        probs = df[pcols].to_numpy(float) if pcols else None
        names = tuple(c[2:] for c in pcols)
        return Estimate(mean, sd, None, seconds, probs, names)


def _default_ensemble():
    try:
        from . import neural
    except ImportError as err:
        raise BayesdiffError(
            f"the neural estimators need bayesdiff.neural, which could not be imported: {err}"
        ) from err
    try:
        return neural.default_ensemble()
    except AttributeError as err:
        raise BayesdiffError("bayesdiff.neural has no default_ensemble() in this version") from err


def neural_available() -> bool:
    """Whether ``bd.neural.default_ensemble()`` can be loaded (used to pick default estimators)."""
    try:
        _default_ensemble()
    except Exception:  # noqa: BLE001  (any failure: not available)
        return False
    return True


def tamsd(track: Track, lags: np.ndarray) -> np.ndarray:
    """Time-averaged MSD per coordinate at the given lags (frames), shape (n_lags,).

    ``TAMSD(L) = mean_t |x(t + L) - x(t)|^2 / dim`` over all pairs of observed
    frames ``L`` apart (gaps are respected through the frame numbers).
    """
    f = np.asarray(track.frames)
    pos = np.asarray(track.positions, dtype=float)
    index = {int(fr): i for i, fr in enumerate(f)}
    out = np.full(len(lags), np.nan)
    for j, L in enumerate(lags):
        pairs = [(index[int(a)], index[int(a) + int(L)]) for a in f if int(a) + int(L) in index]
        if pairs:
            i0, i1 = np.array(pairs).T
            out[j] = np.mean(np.sum((pos[i1] - pos[i0]) ** 2, axis=1)) / pos.shape[1]
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class MSDFit:
    """Classical estimate: power-law fit to the time-averaged MSD.

    Least squares of ``log TAMSD(L dt) = log(2 D) + alpha log(L dt)`` over lags
    ``L = 1 .. max(min_lags, n_steps * max_lag_fraction)``; the standard
    errors are the textbook ones of that regression (residual variance times
    ``(X^T X)^-1``), reported as Gaussian ``sd``. They treat the TAMSD points as
    independent with equal variance, which they are not (overlapping windows,
    variance growing with the lag), so these error bars are **not** calibrated;
    the study measures by how much.

    Parameters
    ----------
    max_lag_fraction : float
        Largest lag as a fraction of the track length (default 0.1).
    min_lags : int
        At least this many lags (default 4, so the regression has residuals).
    name : str
    """

    max_lag_fraction: float = 0.1
    min_lags: int = 4
    name: str = "msd"

    def fit_track(self, track: Track) -> tuple[np.ndarray, np.ndarray]:
        """``([alpha, logD], [se_alpha, se_logD])`` of one track."""
        n_lag = int(max(self.min_lags, math.floor(track.n_steps * self.max_lag_fraction)))
        n_lag = min(n_lag, track.n_steps)
        lags = np.arange(1, n_lag + 1)
        y = tamsd(track, lags)
        ok = np.isfinite(y) & (y > 0)
        if ok.sum() < 3:
            return np.full(2, np.nan), np.full(2, np.nan)
        x = np.log(lags[ok] * track.dt)
        X = np.column_stack([np.ones(ok.sum()), x])
        coef, *_ = np.linalg.lstsq(X, np.log(y[ok]), rcond=None)
        resid = np.log(y[ok]) - X @ coef
        s2 = resid @ resid / (ok.sum() - 2)
        cov = s2 * np.linalg.inv(X.T @ X)
        est = np.array([coef[1], coef[0] - np.log(2.0)])
        se = np.sqrt(np.array([cov[1, 1], cov[0, 0]]))
        return est, se

    def estimate(self, tracks: TrackSet, model=None, snr: float = math.inf) -> Estimate:
        t0 = time.perf_counter()
        fits = [self.fit_track(t) for t in tracks]
        seconds = time.perf_counter() - t0
        est = np.array([f[0] for f in fits])
        se = np.array([f[1] for f in fits])
        return Estimate(
            {"alpha": est[:, 0], "logD": est[:, 1]},
            {"alpha": se[:, 0], "logD": se[:, 1]},
            None,
            seconds,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class HMMFit:
    """Maximum likelihood for switching tracks (hmmlearn EM, ``Switching.fit_ml``), per track.

    Point estimates only (``logD[k]``, states sorted by ``D``): EM gives no
    standard errors, so the study reports MAE/RMSE for it and no coverage.
    """

    n_iter: int = 200
    name: str = "hmm-ml"

    def estimate(self, tracks: TrackSet, model, snr: float = math.inf) -> Estimate:
        from .models import Switching

        m = model if isinstance(model, Switching) else Switching(n_states=2)
        t0 = time.perf_counter()
        Ds = np.array([m.fit_ml(t, n_iter=self.n_iter, seed=0)["D"] for t in tracks])
        seconds = time.perf_counter() - t0
        mean = _flatten_params({"D": Ds}, len(tracks))
        return Estimate(mean, {k: np.full(len(tracks), np.nan) for k in mean}, None, seconds)


# =============================================================================
# study
# =============================================================================
@dataclasses.dataclass(frozen=True, kw_only=True)
class SimSpec:
    """How a study simulates test tracks.

    Parameters
    ----------
    model : Model
        Generating model; its priors (``model.prior``) are the test
        distribution of the parameters.
    dt : float
        Frame interval (s).
    dim : int
        Coordinates per track.
    name : str, optional
        Label in the tables (default: the model name).
    """

    model: Any
    dt: float = 0.05
    dim: int = 2
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.model.name


def study_models(dt: float = 0.05) -> dict[str, SimSpec]:
    """The study priors used by ``bayesdiff calibrate`` and the shipped study.

    ``fbm``: alpha ~ U(0.1, 1.9), D ~ LogUniform(1e-2, 1) µm²/s^alpha;
    ``levy``: alpha ~ U(1.1, 1.9), v ~ LogUniform(0.5, 5) µm/s, sigma ~
    LogUniform(0.01, 0.1) µm; ``langevin``: D ~ LogUniform(1e-2, 1),
    k ~ LogUniform(0.5, 20) 1/s; ``bm``: D ~ LogUniform(1e-2, 1);
    ``switch2``: the model's default priors. All 2-D, ``dt = 0.05`` s.
    """
    import numpyro.distributions as dist

    from .models import FBM, Brownian, Langevin, LevyWalk, Switching

    return {
        "fbm": SimSpec(
            model=FBM(priors={"alpha": dist.Uniform(0.1, 1.9), "D": dist.LogUniform(1e-2, 1.0)}),
            dt=dt,
        ),
        "levy": SimSpec(
            model=LevyWalk(
                priors={
                    "alpha": dist.Uniform(1.1, 1.9),
                    "v": dist.LogUniform(0.5, 5.0),
                    "sigma": dist.LogUniform(0.01, 0.1),
                }
            ),
            dt=dt,
        ),
        "langevin": SimSpec(
            model=Langevin(
                priors={"D": dist.LogUniform(1e-2, 1.0), "k": dist.LogUniform(0.5, 20.0)}
            ),
            dt=dt,
        ),
        "bm": SimSpec(model=Brownian(priors={"D": dist.LogUniform(1e-2, 1.0)}), dt=dt),
        "switch2": SimSpec(model=Switching(n_states=2), dt=dt),
    }


def simulate_truth(spec: SimSpec, n_tracks: int, seed: int) -> dict[str, np.ndarray]:
    """Draw ``n_tracks`` parameter sets from the generating model's priors.

    Returns
    -------
    dict of str to array with leading axis ``n_tracks`` (the model's parameter names)
    """
    import jax
    from numpyro.infer import Predictive

    m = spec.model
    pred = Predictive(lambda: m.sample_params(spec.dim), num_samples=n_tracks)
    s = pred(jax.random.PRNGKey(seed))
    return {p: np.asarray(s[p], dtype=float) for p in m.param_names}


def _add_noise(ts: TrackSet, snr: float, seed: int) -> TrackSet:
    """Static localization noise of sd ``rms(increment per coordinate) / snr`` on each track."""
    if not np.isfinite(snr):
        return ts
    rng = np.random.default_rng(seed)
    out = []
    for t in ts:
        scale = float(np.sqrt(np.mean(np.asarray(t.increments) ** 2))) / snr
        out.append(t.with_positions(t.positions + scale * rng.normal(size=t.positions.shape)))
    return TrackSet(out)


def _cell_key(est: str, model: str, length: int, snr: float, fit: str, sizes: str) -> str:
    snr_s = "inf" if not np.isfinite(snr) else f"{snr:g}"
    key = f"{est}__{model}__{fit}__n{length}__snr{snr_s}__{sizes}"
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", key)


def _write_atomic(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def _per_track_rows(
    est: Estimate, truth: Mapping[str, np.ndarray], cell: dict, model_label: str
) -> pd.DataFrame:
    """Per-track table of one cell: truth, mean, sd, PIT, rank, CRPS, interval hits."""
    n = len(next(iter(truth.values())))
    truth_flat = _flatten_params(truth, n)
    frames = []
    for p in est.mean:
        if p not in truth_flat:
            continue
        t = truth_flat[p]
        m, s = np.asarray(est.mean[p], float), np.asarray(est.sd[p], float)
        row = {"track": np.arange(n), "parameter": p, "truth": t, "mean": m, "sd": s}
        if est.draws is not None and p in est.draws:
            d = est.draws[p]
            row["rank"] = sbc_ranks(d, t)
            row["n_draws"] = d.shape[0]
            row["pit"] = pit_samples(d, t)
            row["crps"] = crps_samples(d, t)
            lv = np.asarray(DEFAULT_LEVELS)
            lo = np.quantile(d, (1 - lv) / 2, axis=0)
            hi = np.quantile(d, (1 + lv) / 2, axis=0)
            for i, level in enumerate(lv):
                row[f"in{round(level * 100)}"] = ((lo[i] <= t) & (t <= hi[i])).astype(float)
        else:
            row["rank"] = -1
            row["n_draws"] = 0
            with np.errstate(invalid="ignore", divide="ignore"):
                row["pit"] = pit_gaussian(m, s, t)
                row["crps"] = crps_gaussian(m, s, t)
                z = np.abs(t - m) / s
            for level in DEFAULT_LEVELS:
                hit = (z <= special.ndtri((1 + level) / 2)).astype(float)
                row[f"in{round(level * 100)}"] = np.where(np.isfinite(z), hit, np.nan)
        frames.append(pd.DataFrame(row))
    if est.class_probs is not None and model_label.split("+")[0] in est.class_names:
        probs = np.asarray(est.class_probs, float)
        label = est.class_names.index(model_label.split("+")[0])
        frames.append(
            pd.DataFrame(
                {
                    "track": np.arange(n),
                    "parameter": "model",
                    "truth": float(label),
                    "mean": np.argmax(probs, 1).astype(float),
                    "sd": probs.max(1),
                    "p_true": probs[:, label],
                }
            )
        )
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    for k, v in cell.items():
        out[k] = v
    out["seconds_per_track"] = est.seconds / n
    return out


_KEYS = ["estimator", "model", "fit_model", "length", "snr", "parameter"]
_METRICS = ("n", "mae", "rmse", "bias", "cov50", "cov90", "cov95", "ence", "sbc_p", "pit_ks_p",
            "sharpness", "crps", "accuracy", "ece", "sec_per_track")  # fmt: skip


def summarize(per_track: pd.DataFrame, n_bins: int = 10) -> pd.DataFrame:
    """The study table from the per-track table: one row per cell and parameter.

    Columns: ``estimator, model, fit_model, length, snr, parameter, n, mae,
    rmse, bias, cov50, cov90, cov95, ence`` (``min(n_bins, n // 10)`` equal-count
    bins, at least 2, so each holds about 10 tracks or more), ``sbc_p`` (chi-square uniformity of
    the ranks; only for estimators with draws), ``pit_ks_p``, ``sharpness``,
    ``crps``, ``accuracy``/``ece`` (for the ``model`` parameter of classifiers),
    ``sec_per_track``.
    """
    rows = []
    for key, g in per_track.groupby(_KEYS, sort=True, dropna=False):
        r = dict(zip(_KEYS, key, strict=True))
        r["n"] = len(g)
        if r["parameter"] == "model":
            labels = g["truth"].to_numpy(int)
            pred = g["mean"].to_numpy(int)
            r["accuracy"] = float(np.mean(pred == labels))
            # for the "model" rows, "sd" holds the top-class probability (confidence)
            r["ece"] = _ece(g["sd"].to_numpy(float), pred == labels, n_bins).ece
        else:
            t, m, s = (g[c].to_numpy(float) for c in ("truth", "mean", "sd"))
            err = m - t
            r["mae"] = float(np.nanmean(np.abs(err)))
            r["rmse"] = float(np.sqrt(np.nanmean(err**2)))
            r["bias"] = float(np.nanmean(err))
            for level in DEFAULT_LEVELS:
                c = f"in{round(level * 100)}"
                r[f"cov{round(level * 100)}"] = (
                    float(np.nanmean(g[c])) if g[c].notna().any() else float("nan")
                )
            nb = int(max(2, min(n_bins, len(t) // 10)))  # >= ~10 items a bin
            r["ence"] = ence(m, s, t, nb).ence if np.isfinite(s).any() else float("nan")
            has_draws = (g["n_draws"] > 0).all()
            if has_draws:
                L = int(g["n_draws"].iloc[0])
                r["sbc_p"] = sbc_uniformity(g["rank"].to_numpy(int), L)[1]
            else:
                r["sbc_p"] = float("nan")
            u = g["pit"].to_numpy(float)
            u = u[np.isfinite(u)]
            r["pit_ks_p"] = float(stats.kstest(u, "uniform").pvalue) if u.size else float("nan")
            r["sharpness"] = sharpness(s)
            r["crps"] = float(np.nanmean(g["crps"]))
        r["sec_per_track"] = float(g["seconds_per_track"].iloc[0])
        rows.append(r)
    return pd.DataFrame(rows).reindex(columns=_KEYS + list(_METRICS))


class StudyResult(NamedTuple):
    """Result of :func:`study`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (estimator, model, fit_model, length, snr, parameter) with
        every metric (see :func:`summarize`).
    per_track : pandas.DataFrame
        One row per track and parameter: truth, mean, sd, PIT, rank, CRPS and
        interval hits (the material of the figures).
    figures : list of pathlib.Path
        PNGs written (empty without ``out``).
    """

    table: pd.DataFrame
    per_track: pd.DataFrame
    figures: list


def _spec_of(s, dt: float, dim: int) -> SimSpec:
    if isinstance(s, SimSpec):
        return s
    if isinstance(s, str):
        from .models.registry import from_name

        known = study_models(dt)
        if s in known:
            return dataclasses.replace(known[s], dim=dim)
        return SimSpec(model=from_name(s), dt=dt, dim=dim)
    return SimSpec(model=s, dt=dt, dim=dim)


def study(
    estimators: Sequence[Estimator],
    simulator_spec,
    lengths: Sequence[int] = (50, 100, 200),
    snr: Sequence[float] = (math.inf,),
    n_tracks: int | Mapping = 200,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    *,
    misspecified: Mapping | None = None,
    progress: bool = True,
    figures: bool = True,
) -> StudyResult:
    """Calibration study: simulate test tracks from stated priors and score every estimator.

    For each generating model, length and SNR, ``n_tracks`` parameter sets
    are drawn from the model's priors, tracks simulated (one per parameter
    set) and, for finite SNR, static localization noise of standard deviation
    ``rms one-frame increment / snr`` added. Every estimator then estimates
    every track; the per-track results are scored (coverage at 50/90/95%,
    ENCE, SBC, CRPS, sharpness, MAE, RMSE, accuracy/ECE for classifiers).

    Parameters
    ----------
    estimators : sequence of Estimator
        E.g. ``[Bayes(), Neural(), Neural(member=0), MSDFit()]``.
    simulator_spec : SimSpec, Model, str, or a sequence / mapping of them
        Generating models. Strings name the study priors of
        :func:`study_models` (``"fbm"``, ``"levy"``, ``"langevin"``...) or a model
        (``bayesdiff.models.registry.from_name``) with its default priors.
    lengths : sequence of int
        Track lengths (increments).
    snr : sequence of float
        Signal-to-noise ratios (``inf``: no added noise).
    n_tracks : int or mapping
        Test tracks per cell; a mapping ``{(model_label, length): n}`` or
        ``{model_label: n}`` sizes cells separately (missing keys: 200).
    seed : int
        Base seed: cell tracks use ``seed`` + a stable offset of (model, length).
        The same tracks go to every estimator.
    out : path, optional
        Folder for resumable results: each finished cell is written atomically
        to ``out/cells/<key>.csv`` and skipped when present; the table
        (``calibration_table.csv``), the per-track table and figures
        (``calibration_*.png``) are written at the end.
    misspecified : mapping, optional
        ``{generating model: fit model}``, e.g. ``{"langevin": "fbm"}``: tracks
        from the first, analysed by NUTS estimators with the second (other
        estimators unchanged). Rows carry ``fit_model``.
    progress : bool
        A tqdm bar over the cells.
    figures : bool
        Write the figures (with ``out``).

    Returns
    -------
    StudyResult

    Examples
    --------
    >>> res = study([MSDFit()], "fbm", lengths=[50], n_tracks=20, progress=False)  # doctest: +SKIP
    >>> res.table[["estimator", "parameter", "mae", "cov90"]]  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    from .models.registry import from_name

    specs = _as_specs(simulator_spec)
    mis = dict(misspecified or {})
    jobs = []  # (spec, fit_model or None)
    for s in specs:
        jobs.append((s, None))
    for gen, fit in mis.items():
        s = _spec_of(gen, specs[0].dt if specs else 0.05, specs[0].dim if specs else 2)
        fit_m = fit if not isinstance(fit, str) else from_name(fit)
        jobs.append((s, fit_m))
    names = [e.name for e in estimators]
    if len(set(names)) != len(names):
        raise BayesdiffError(f"estimator names must be unique, got {names}")
    lengths = [int(n) for n in lengths]
    snrs = [float(x) for x in snr]
    outp = Path(out) if out is not None else None
    cells = [(j, n, q, e) for j in jobs for n in lengths for q in snrs for e in estimators]
    frames = []
    bar = tqdm(total=len(cells), desc="calibration cells", unit="cell", disable=not progress)
    cache: dict = {}
    done: set = set()
    for (spec, fit_m), n, q, est in cells:
        fit_name = _fit_name(est, spec, fit_m, q)
        nt = _n_tracks(n_tracks, spec.label, n)
        cap = getattr(est, "max_tracks", None)
        cap = min(nt, _n_tracks(cap, spec.label, n, default=nt)) if cap is not None else nt
        # the key names everything that changes the cell's tracks: a study rerun
        # with other sizes or seed recomputes instead of reusing stale cells
        key = _cell_key(est.name, spec.label, n, q, fit_name, f"seed{seed}_{cap}of{nt}")
        if key in done or cap <= 0:  # duplicate (misspecified model also studied as itself)
            bar.update(1)  # or an estimator told to skip this cell (max_tracks 0)
            continue
        done.add(key)
        path = outp / "cells" / f"{key}.csv" if outp is not None else None
        if path is not None and path.exists():
            frames.append(pd.read_csv(path))
            bar.update(1)
            continue
        bar.set_postfix_str(key)
        tkey = (spec.label, n, q, nt)
        if tkey not in cache:
            cache.clear()
            cseed = seed + _stable(f"{spec.label}|{n}") % 100_000
            truth = simulate_truth(spec, nt, cseed)
            ts = spec.model.simulate(
                seed=cseed, params=truth, n_steps=n, dt=spec.dt, dim=spec.dim, n_tracks=nt
            )
            ts = _add_noise(ts, q, cseed + 1)
            cache[tkey] = (truth, ts)
        truth, ts = cache[tkey]
        if fit_m is not None and isinstance(est, Bayes) and est.model is None:
            est_use = dataclasses.replace(est, model=fit_m)
        else:
            est_use = est
        ts_use = ts if cap >= len(ts) else TrackSet(list(ts)[:cap])
        truth_use = truth if cap >= len(ts) else {k: v[:cap] for k, v in truth.items()}
        res = est_use.estimate(ts_use, spec.model, snr=q)
        cell = {
            "estimator": est.name,
            "model": spec.label,
            "fit_model": fit_name,
            "length": n,
            "snr": q,
        }
        df = _per_track_rows(res, truth_use, cell, spec.label)
        if path is not None:
            _write_atomic(df, path)
        frames.append(df)
        bar.update(1)
    bar.close()
    per_track = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    table = summarize(per_track)
    figs = []
    if outp is not None:
        _write_atomic(table, outp / "calibration_table.csv")
        _write_atomic(per_track, outp / "calibration_per_track.csv")
        if figures and len(per_track):
            figs = write_figures(per_track, table, outp)
    return StudyResult(table, per_track, figs)


def _fit_name(est, spec: SimSpec, fit_m, snr: float) -> str:
    if isinstance(est, Bayes):
        m = est.model if est.model is not None else (fit_m if fit_m is not None else spec.model)
        return est.fit_model(m, snr).name
    if isinstance(est, Neural):  # the network's weights and the alpha used name the cell
        kind = spec.model.kind if est.conditional else "mixture"
        return f"{kind}-{est.fingerprint()}"
    return "-"


def _as_specs(simulator_spec) -> list[SimSpec]:
    if isinstance(simulator_spec, Mapping):
        items = [
            dataclasses.replace(_spec_of(v, 0.05, 2), name=str(k))
            for k, v in simulator_spec.items()
        ]
    elif isinstance(simulator_spec, (str, SimSpec)) or not isinstance(simulator_spec, Sequence):
        items = [_spec_of(simulator_spec, 0.05, 2)]
    else:
        items = [_spec_of(s, 0.05, 2) for s in simulator_spec]
    return items


def _n_tracks(n_tracks, label: str, length: int, default: int = 200) -> int:
    if isinstance(n_tracks, Mapping):
        for k in ((label, length), label, length):
            if k in n_tracks:
                return int(n_tracks[k])
        return default
    return int(n_tracks)


def _stable(s: str) -> int:
    import zlib

    return zlib.crc32(s.encode())


def write_figures(per_track: pd.DataFrame, table: pd.DataFrame, out: str | os.PathLike) -> list:
    """Reliability diagrams, coverage curves, SBC ECDF differences and MAE vs length.

    Returns the list of PNG paths (``out/calibration_<kind>_<model>.png``).
    """
    from . import plots

    out = Path(out)
    paths = []
    pt = per_track[per_track["parameter"] != "model"]
    for model, g in pt.groupby("model", sort=True):
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", str(model))
        for kind, fn in (
            ("reliability", plots.plot_reliability),
            ("coverage", plots.plot_coverage_curves),
            ("sbc", plots.plot_sbc_ecdf),
        ):
            fig = fn(g)
            if fig is not None:
                paths.append(plots.save_figure(fig, out / f"calibration_{kind}_{tag}.png"))
    fig = plots.plot_error_vs_length(table)
    if fig is not None:
        paths.append(plots.save_figure(fig, out / "calibration_mae_vs_length.png"))
    return paths


def markdown_report(
    table: pd.DataFrame, figures: Sequence, command: str = "", seconds: float | None = None
) -> str:
    """A short Markdown report: the command, the table, the figures."""
    lines = ["# Calibration study", ""]
    if command:
        lines += ["```", command, "```", ""]
    if seconds is not None:
        lines += [f"Wall time: {seconds:.0f} s.", ""]
    lines += [_markdown_table(table), ""]
    lines += [f"![{Path(p).stem}]({Path(p).name})" for p in figures]
    return "\n".join(lines) + "\n"


def _markdown_table(table: pd.DataFrame) -> str:
    cols = [c for c in [*_KEYS, *_METRICS] if c in table.columns and c != "bias"]
    t = table[cols].copy()

    def fmt(v):
        if isinstance(v, (float, np.floating)):
            if not np.isfinite(v):
                return "" if np.isnan(v) else "inf"
            return f"{v:.3g}"
        return str(v)

    head = "| " + " | ".join(cols) + " |"
    sep = "|" + "|".join("---" for _ in cols) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in t.itertuples(index=False)]
    return "\n".join([head, sep, *body])
