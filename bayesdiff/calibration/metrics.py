"""Calibration metrics on plain arrays (NumPy and SciPy only).

Coverage of central intervals (from draws, Gaussian predictions or PITs),
the expected normalized calibration error with its reliability table,
simulation-based calibration ranks with a uniformity test, the continuous
ranked probability score, sharpness, and for classifiers accuracy and the
expected calibration error. Every function takes arrays with the items along
the last axis (draws: (n_draws, n_items)) and returns arrays or small
NamedTuples; :mod:`bayesdiff.plots` draws its calibration figures from them.

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

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import special, stats

__all__ = [
    "DEFAULT_LEVELS",
    "coverage",
    "coverage_gaussian",
    "coverage_from_pit",
    "pit_gaussian",
    "pit_samples",
    "ence",
    "EnceResult",
    "sbc_ranks",
    "sbc",
    "sbc_uniformity",
    "SBCResult",
    "crps_gaussian",
    "crps_samples",
    "sharpness",
    "accuracy",
    "expected_calibration_error",
    "ece_from_confidence",
    "ECEResult",
]

#: Interval levels reported in the study table.
DEFAULT_LEVELS = (0.5, 0.9, 0.95)


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
    return ece_from_confidence(p.max(axis=1), np.argmax(p, axis=1) == np.asarray(labels), n_bins)


def ece_from_confidence(conf, correct, n_bins: int = 10) -> ECEResult:
    """Expected calibration error from top-class confidences and whether each top class was right.

    Parameters
    ----------
    conf : array of shape (n_items,)
        Probability of each item's most probable class.
    correct : bool array of shape (n_items,)
        Whether that class is the true one.
    n_bins : int
        Equal-width confidence bins on [0, 1].

    Returns
    -------
    ECEResult
        As :func:`expected_calibration_error`, which calls this with the
        maximum and the argmax of its class probabilities.
    """
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
