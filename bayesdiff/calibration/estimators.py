"""Estimators behind one interface: NUTS posteriors, neural networks, classical fits.

:class:`Estimator` declares what :func:`~bayesdiff.calibration.study` asks of
an estimator; :class:`Bayes` (NUTS or grid posteriors), :class:`Neural` (the
deep ensemble or one member), :class:`MSDFit` (the time-averaged-MSD power law,
:func:`tamsd`, :func:`msd_power_law`, :func:`msd_exponent`) and :class:`HMMFit`
(hmmlearn maximum likelihood for switching tracks) implement it. Each returns
an :class:`Estimate`: per-track means and standard deviations of the
parameters (scale parameters on the log scale, ``logD``), draws when it has
them, and class probabilities when it classifies.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

import numpy as np

from ..tracks import Track, TrackSet
from ._columns import flatten_params

__all__ = [
    "Estimate",
    "Estimator",
    "Bayes",
    "Neural",
    "MSDFit",
    "HMMFit",
    "tamsd",
    "msd_power_law",
    "msd_exponent",
    "neural_available",
    "idata_draws",
]


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
    from ..inference import _arviz

    return _arviz.track_draws(idata, var_names, thin=thin)


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
    """What :func:`~bayesdiff.calibration.study` asks of an estimator.

    Attributes
    ----------
    name : str
        Label in the tables (unique within a study).
    max_tracks : int, mapping or None
        Estimate only the first ``max_tracks`` tracks of each study cell
        (``None``: all); a mapping ``{(model_label, length): n}`` or
        ``{model_label: n}`` sizes cells separately (missing keys: all).

    Notes
    -----
    ``estimate`` receives the generating model of the tracks (with the study's
    priors) and the cell's signal-to-noise ratio; estimators that need a model
    (NUTS) use it unless they were given their own, others ignore it.
    An estimator with ``reports_progress = True`` takes ``progress=`` in
    ``estimate``: the study's bar, to move by one per finished track (the
    study moves it by the cell's tracks for the others).
    ``fit_label`` names what the estimator fits in a cell: it fills the
    ``fit_model`` column and is part of the cell's file name, so it must change
    whenever the estimator's results would (another fit model, other network
    weights). ``for_fit_model`` returns the estimator to use on tracks that a
    misspecification study analyses with another model.

    Subclass ``Estimator`` to inherit the defaults below (no cap, fit label
    ``"-"``, misspecification ignored) and write only ``name`` and ``estimate``.
    """

    name: str
    max_tracks: Any = None
    #: whether ``estimate`` takes ``progress=`` (a tqdm-like bar it moves per track)
    reports_progress: ClassVar[bool] = False

    def estimate(self, tracks: TrackSet, model: Any, snr: float = math.inf) -> Estimate:
        """Estimates for every track of ``tracks`` (simulated by ``model``)."""
        ...

    def fit_label(self, model: Any, snr: float = math.inf) -> str:
        """What this estimator fits to tracks of ``model`` at ``snr``; ``"-"`` by default."""
        return "-"

    def for_fit_model(self, model: Any) -> Estimator:
        """The estimator for tracks analysed with ``model`` (itself by default)."""
        return self


@dataclasses.dataclass(frozen=True, kw_only=True)
class Bayes(Estimator):
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
    method : {"nuts", "grid", "importance", "auto"}
        The ``method`` of :func:`bayesdiff.sample_many`: ``"nuts"``;
        ``"grid"``, exact quadrature posteriors (FBM, Brownian motion,
        Langevin); ``"importance"``; ``"auto"``, grid or checked importance
        sampling per track with NUTS where neither passes. Grid and importance
        draws are independent, so ``thin`` applies to NUTS draws only.
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

    def fit_model(self, model, snr: float = math.inf):
        """The model this estimator fits to tracks of ``model`` at ``snr``: its own
        ``model`` if it has one, with the noise variant at finite SNR (``noise=True``)."""
        m = self.model if self.model is not None else model
        if self.noise and np.isfinite(snr) and hasattr(m, "noise") and not m.noise:
            m = dataclasses.replace(m, noise=True)
        return m

    def fit_label(self, model, snr: float = math.inf) -> str:
        """The name of the fitted model (:meth:`fit_model`), e.g. ``"fbm+noise"``."""
        return self.fit_model(model, snr).name

    def for_fit_model(self, model) -> Bayes:
        """Fit ``model`` instead of the generating model, unless a model was given."""
        return dataclasses.replace(self, model=model) if self.model is None else self

    reports_progress: ClassVar[bool] = True

    def estimate(
        self, tracks: TrackSet, model, snr: float = math.inf, progress: Any = False
    ) -> Estimate:
        """Posterior draws of every track under :meth:`fit_model`, thinned by ``thin``.

        ``progress``: as in :func:`bayesdiff.sample_many` (False, True, or a
        tqdm-like bar moved by one per track).

        Returns
        -------
        Estimate
            Posterior means, standard deviations and the draws (scale parameters
            logged), shape (n_draws, n_tracks) per parameter.
        """
        from ..inference import sample_many
        from ..inference.sampling import METHODS

        m = self.fit_model(model, snr)
        if self.method not in METHODS:
            raise ValueError(f"Bayes.method must be one of {METHODS}, got {self.method!r}")
        t0 = time.perf_counter()
        idata = sample_many(m, tracks, draws=self.draws, tune=self.tune, chains=self.chains,
                            seed=self.seed, progress=progress, warn=False, method=self.method,
                            **dict(self.sample_kwargs))  # fmt: skip
        # grid and importance draws are independent: thinning is for NUTS chains (all
        # tracks are thinned alike where any of them fell back to NUTS)
        cd = idata.constant_data if "constant_data" in idata.groups() else {}
        used = set(np.asarray(cd["method"]).ravel()) if "method" in cd else {"nuts"}
        thin = self.thin if "nuts" in used else 1
        raw = idata_draws(idata, m.param_names, thin=thin)
        seconds = time.perf_counter() - t0
        draws = flatten_params(raw, len(tracks), axis=1)
        mean = {k: np.mean(v, axis=0) for k, v in draws.items()}
        sd = {k: np.std(v, axis=0, ddof=1) for k, v in draws.items()}
        return Estimate(mean, sd, draws, seconds)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Neural(Estimator):
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
    max_tracks: Any = None

    def __post_init__(self):
        if not self.name:
            object.__setattr__(self, "name", "ensemble" if self.member is None else "member")

    def _predictor(self):
        ens = self.predictor if self.predictor is not None else _default_ensemble()
        return ens if self.member is None else ens.members[self.member]

    def fingerprint(self) -> str:
        """Eight hex digits of a hash of the predictor's weights (names a study's cells,
        so a retrained network is not mistaken for the one a saved cell came from);
        ``"external"`` for a predictor without a ``fingerprint()``."""
        # any object with predict() is accepted; only bayesdiff's networks have a fingerprint
        fingerprint = getattr(self._predictor(), "fingerprint", None)
        return "external" if fingerprint is None else fingerprint()[:8]

    def fit_label(self, model, snr: float = math.inf) -> str:
        """``<kind>-<fingerprint>``: the class whose alpha is read (``mixture`` with
        ``conditional=False``) and the network's weights."""
        kind = model.kind if self.conditional else "mixture"
        return f"{kind}-{self.fingerprint()}"

    def estimate(self, tracks: TrackSet, model=None, snr: float = math.inf) -> Estimate:
        """The predictor's table as an estimate: ``alpha`` and ``logD`` means and sds
        (alpha given ``model``'s class with ``conditional``) and the class probabilities.
        """
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
    from .. import neural

    return neural.default_ensemble()


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

    Examples
    --------
    >>> import numpy as np
    >>> from bayesdiff import Track
    >>> line = Track(np.column_stack([np.arange(10.0), np.zeros(10)]), dt=1.0)
    >>> tamsd(line, np.array([1, 2, 3]))        # lag^2 / dim
    array([0.5, 2. , 4.5])
    """
    f = np.asarray(track.frames)
    pos = np.asarray(track.positions, dtype=float)
    out = np.full(len(lags), np.nan)
    regular, index = not track.has_gaps, None
    for j, L in enumerate(lags):
        if regular and int(L) >= 0:
            # frames f[0], f[0] + 1, ...: the pairs L apart are the rows i and i + L
            if int(L) < len(pos):
                d = pos[int(L) :] - pos[: len(pos) - int(L)]
                out[j] = np.mean(np.sum(d**2, axis=1)) / pos.shape[1]
            continue
        if index is None:
            index = {int(fr): i for i, fr in enumerate(f)}
        pairs = [(index[int(a)], index[int(a) + int(L)]) for a in f if int(a) + int(L) in index]
        if pairs:
            i0, i1 = np.array(pairs).T
            out[j] = np.mean(np.sum((pos[i1] - pos[i0]) ** 2, axis=1)) / pos.shape[1]
    return out


def msd_power_law(track: Track, lags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Power-law fit to the time-averaged MSD: ``([alpha, logD], [se_alpha, se_logD])``.

    Least squares of ``log TAMSD(L dt) = log(2 D) + alpha log(L dt)`` over the
    given lags (:func:`tamsd`, lags with a positive finite TAMSD), with the
    textbook standard errors of that regression (residual variance times
    ``(X^T X)^-1``). Those treat the TAMSD points as independent with equal
    variance, which they are not (overlapping windows, variance growing with
    the lag): the standard errors are not calibrated.

    Parameters
    ----------
    track : Track
    lags : int array
        Lags in frames (at least 3 usable ones, else all nan).

    Returns
    -------
    estimate, standard_error : arrays of shape (2,)
        ``alpha`` (the log-log slope) and the natural log of ``D``
        (length^2 / s^alpha, from ``MSD_1d = 2 D t^alpha``), and their
        standard errors.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesdiff import Track
    >>> t = np.arange(50.0) * 0.1
    >>> line = Track(np.column_stack([t, 0 * t]), dt=0.1)   # ballistic: MSD ~ t^2
    >>> est, se = msd_power_law(line, np.arange(1, 6))
    >>> round(float(est[0]), 6)
    2.0
    """
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


def msd_exponent(track: Track, lags: np.ndarray | None = None) -> float:
    """The anomalous exponent ``alpha`` of a track: the log-log slope of its TAMSD.

    Parameters
    ----------
    track : Track
    lags : int array, optional
        Lags in frames; default ``MSDFit().lags(track)``: ``1 .. max(4, n_steps // 10)``.

    Returns
    -------
    float
        The slope of :func:`msd_power_law` (nan with fewer than 3 usable lags).
    """
    if lags is None:
        lags = MSDFit().lags(track)
    return float(msd_power_law(track, np.asarray(lags))[0][0])


@dataclasses.dataclass(frozen=True, kw_only=True)
class MSDFit(Estimator):
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
    max_tracks: Any = None

    def lags(self, track: Track) -> np.ndarray:
        """Lags (frames) of the fit: ``1 .. max(min_lags, floor(n_steps * max_lag_fraction))``,
        at most ``n_steps``."""
        n_lag = int(max(self.min_lags, math.floor(track.n_steps * self.max_lag_fraction)))
        n_lag = min(n_lag, track.n_steps)
        return np.arange(1, n_lag + 1)

    def fit_track(self, track: Track) -> tuple[np.ndarray, np.ndarray]:
        """``([alpha, logD], [se_alpha, se_logD])`` of one track (:func:`msd_power_law`)."""
        return msd_power_law(track, self.lags(track))

    def estimate(self, tracks: TrackSet, model=None, snr: float = math.inf) -> Estimate:
        """:meth:`fit_track` of every track: ``alpha`` and ``logD`` with their regression
        standard errors as ``sd``."""
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
class HMMFit(Estimator):
    """Maximum likelihood for switching tracks (hmmlearn EM, ``Switching.fit_ml``), per track.

    Point estimates only (``logD[k]``, states sorted by ``D``): EM gives no
    standard errors, so the study reports MAE/RMSE for it and no coverage.
    """

    n_iter: int = 200
    name: str = "hmm-ml"
    max_tracks: Any = None

    def estimate(self, tracks: TrackSet, model, snr: float = math.inf) -> Estimate:
        """EM fit of ``model`` (a 2-state :class:`~bayesdiff.models.Switching` if it is
        not switching) to every track: ``logD[k]`` point estimates, ``sd`` nan."""
        from ..models import Switching

        m = model if isinstance(model, Switching) else Switching(n_states=2)
        t0 = time.perf_counter()
        Ds = np.array([m.fit_ml(t, n_iter=self.n_iter, seed=0)["D"] for t in tracks])
        seconds = time.perf_counter() - t0
        mean = flatten_params({"D": Ds}, len(tracks))
        return Estimate(mean, {k: np.full(len(tracks), np.nan) for k in mean}, None, seconds)
