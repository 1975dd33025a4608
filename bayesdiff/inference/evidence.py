"""Model evidence (marginal likelihood) ``Z = p(track | model)`` with an error bar.

Four estimators behind :func:`evidence`:

* ``"quadrature"`` -- deterministic, for the Gaussian increment models
  (:class:`~bayesdiff.models.FBM`, :class:`~bayesdiff.models.Brownian`) and
  the :class:`~bayesdiff.models.Langevin` model, with any of drift, noise and
  gaps. The drift ``v`` (and Langevin's trap centre) are integrated
  analytically (Gaussian priors), ``log D`` by an adaptive Gauss-Legendre rule
  on closed-form sufficient statistics, and at most two outer coordinates
  (``alpha`` or ``log k``, and the noise-to-diffusion ratio) by Gauss-Legendre
  rules on a window found by a coarse scan. The error is the change when every
  rule doubles its nodes.
* ``"bridge"`` -- bridge sampling (Meng & Wong 1996) on NUTS draws in the
  sampler's unconstrained space, with the iterative optimal bridge and a
  multivariate normal proposal (Gronau et al. 2017); works for every model
  through its NumPyro model, pooled TrackSets included. The error is the
  relative mean-square error of Frühwirth-Schnatter (2004).
* ``"importance"`` -- importance sampling from a multivariate Student-t
  fitted at the posterior mode (Laplace); independent of NUTS, with a
  standard error from the weights and a Pareto-k check of their tail.
* ``"laplace"`` -- the Laplace approximation at the mode; a cheap cross-check
  without an error bar.

``method="auto"`` uses quadrature where the model allows it, otherwise
importance sampling when its diagnostics pass, otherwise bridge sampling
(:func:`choose_method`). The harmonic-mean estimator is deliberately absent.
The estimators live in :mod:`._quadrature` and :mod:`._estimators`; this
module turns their numbers into :class:`Evidence`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InferenceError, MethodError, ModelError
from ..models.base import Model
from ..tracks import Track, TrackSet
from . import _arviz
from ._estimators import bridge_sampling, laplace
from ._importance import (
    EVIDENCE_ERR_MAX,
    EVIDENCE_K_MAX,
    ImportanceSettings,
    fit_importance,
)
from ._quadrature import Quadrature, quadrature_reason
from ._target import Target
from .sampling import sample

__all__ = [
    "Evidence",
    "evidence",
    "METHODS",
    "quadrature_reason",
    "importance_reliable",
    "choose_method",
    "bridge_evidence",
    "quadrature_evidence",
    "importance_evidence",
    "IMPORTANCE_K_MAX",
    "IMPORTANCE_ERR_MAX",
]

#: Importance-sampling points of the first round, and posterior draws kept for LOO.
DEFAULT_DRAWS = 1024

#: Estimators accepted by :func:`evidence` ("auto" picks one of the first three).
METHODS = ("quadrature", "bridge", "importance", "laplace")

_LN10 = math.log(10.0)


@dataclasses.dataclass(frozen=True)
class Evidence:
    """The log evidence of one model given one track (or a pooled TrackSet).

    Attributes
    ----------
    log_z : float
        Natural log of the marginal likelihood ``p(data | model)`` of the
        track's increments given its first position, with the model's priors.
    log_z_err : float
        One standard error of ``log_z`` (quadrature: the change on doubling
        the resolution; bridge/importance: the Monte Carlo standard error;
        NaN for the Laplace approximation, which has none).
    method : str
        The estimator used ("quadrature", "bridge", "importance", "laplace").
    n_likelihood_evals : int
        Full likelihood evaluations spent (quadrature: covariance
        factorizations; sampling methods: log-density evaluations, NUTS
        gradient steps included).
    seconds : float
        Wall time, compilation included.
    model : str
        The model's name.
    details : dict
        Method-specific diagnostics (grid sizes, iterations, ESS, Pareto k...).
    draws : dict of arrays, optional
        Posterior draws of the model's parameters, each with leading
        ``(chain, draw)`` axes (from NUTS, or resampled from the quadrature
        grid); used by :func:`~bayesdiff.compare` for PSIS-LOO.
    idata : arviz.InferenceData, optional
        The NUTS posterior when one was run.
    """

    log_z: float
    log_z_err: float
    method: str
    n_likelihood_evals: int
    seconds: float
    model: str = ""
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    draws: Mapping[str, np.ndarray] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )
    idata: Any = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def log10_z(self) -> float:
        """``log_z`` in base 10."""
        return self.log_z / _LN10

    @property
    def log10_z_err(self) -> float:
        """``log_z_err`` in base 10."""
        return self.log_z_err / _LN10

    def __str__(self) -> str:
        return (
            f"log Z = {self.log_z:.4f} ± {self.log_z_err:.2g} ({self.method}, {self.model}, "
            f"{self.n_likelihood_evals} evals, {self.seconds:.2f} s)"
        )


def evidence(
    model: Model,
    track: Track | TrackSet,
    method: str = "auto",
    seed: int = 0,
    *,
    tol: float = 0.01,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    idata: Any = None,
    keep_draws: bool = False,
    n_draws: int = DEFAULT_DRAWS,
    target_accept: float = 0.95,
    progress: bool = False,
) -> Evidence:
    """Log marginal likelihood (evidence) of a model given a track, with its error.

    Parameters
    ----------
    model : bayesdiff.models.Model
        The model, priors included (the evidence depends on them).
    track : Track or TrackSet
        One track, or a TrackSet whose tracks share one set of parameters
        (pooled; the evidence is then ``p(all tracks | model)``).
    method : {"auto", "quadrature", "bridge", "importance", "laplace"}
        "auto" uses quadrature for FBM/Brownian/Langevin (any options, gaps
        included; see :func:`quadrature_reason` for the priors it takes);
        for every other model importance sampling from the Laplace
        approximation, kept only when its weights pass the checks of
        :func:`importance_reliable` (Pareto k <= 0.5, error <= 0.05 nats),
        else bridge sampling on NUTS draws (also when ``idata`` is given).
        ``Evidence.method`` says which method produced the value and
        ``details["auto"]`` why.
    seed : int
        Random seed (NUTS, proposals, resampling). Quadrature is deterministic.
    tol : float
        Quadrature: refine (double every rule) until ``log_z`` changes by less
        than ``tol`` nats, at most three times.
    draws, tune, chains : int
        NUTS settings for bridge sampling (``draws`` per chain; half of them
        fit the proposal, half enter the estimate).
    idata : arviz.InferenceData, optional
        Reuse this posterior of ``model`` given ``track`` (from
        :func:`bayesdiff.sample`) for bridge sampling instead of running NUTS.
    keep_draws : bool
        Store posterior draws in ``Evidence.draws`` (quadrature: ``n_draws``
        draws resampled from the grid; bridge: the NUTS draws; importance:
        ``n_draws`` draws resampled in proportion to the weights).
    n_draws : int
        Number of draws resampled from the quadrature grid, or quasi-random
        points of the importance-sampling proposal's first round (rounded up
        to a power of two).
    target_accept : float
        NUTS target acceptance for bridge sampling; high by default, since
        divergent transitions bias the draws and with them the estimate.
    progress : bool
        Progress bar for NUTS.

    Returns
    -------
    Evidence
        ``log_z`` (natural log), ``log_z_err``, ``method``,
        ``n_likelihood_evals``, ``seconds`` and details.

    Notes
    -----
    The evidence is

    .. math:: Z = p(y \\mid M) = \\int p(y \\mid \\theta, M)\\, p(\\theta \\mid M)\\, d\\theta ,

    the likelihood averaged over the prior, so it depends on the width of the
    priors (see ``docs/evidence.md``). The likelihood is that of the increments
    given the first position, the same for every model, so evidences of
    different models of one track are comparable; ``exp(log_z_1 - log_z_2)``
    is the Bayes factor.

    References
    ----------
    Meng & Wong, Statistica Sinica 6, 831 (1996). Gronau et al., J. Math.
    Psychol. 81, 80 (2017). Frühwirth-Schnatter, Econometrics J. 7, 143
    (2004). Kass & Raftery, JASA 90, 773 (1995).

    Examples
    --------
    >>> import bayesdiff as bd
    >>> m = bd.models.FBM()
    >>> track = m.simulate(seed=1, params={"alpha": 0.5, "D": 0.2}, n_steps=100, dt=0.05)[0]
    >>> ev = bd.evidence(m, track)  # doctest: +SKIP
    >>> ev.method, round(ev.log_z, 2)  # doctest: +SKIP
    ('quadrature', 37.18)
    """
    if not isinstance(model, Model):
        raise TypeError(f"expected a bayesdiff model, got {type(model).__name__}")
    if not isinstance(track, (Track, TrackSet)):
        raise TypeError(f"expected a Track or TrackSet, got {type(track).__name__}")
    if method not in ("auto", *METHODS):
        raise ValueError(f"unknown method {method!r}; use one of {('auto', *METHODS)}")
    tracks = [track] if isinstance(track, Track) else list(track)
    if not tracks:
        raise ModelError("evidence needs at least one track")
    for t in tracks:
        t.require(model.min_points, f"the {model.name} model")
    t0 = time.perf_counter()
    chosen = choose_method(model, tracks, method, idata=idata)
    auto = method == "auto"
    auto_note = None
    if chosen == "quadrature":
        reason = quadrature_reason(model, tracks)
        if reason is not None:
            raise MethodError(
                f"method='quadrature' does not apply to {model.name}: {reason}; use "
                "method='importance' or 'bridge' (or 'auto', which picks one that applies)"
            )
        try:
            return quadrature_evidence(
                model,
                tracks,
                tol=tol,
                keep_draws=keep_draws,
                n_draws=n_draws,
                seed=seed,
                pooled=isinstance(track, TrackSet),
            )
        except InferenceError as err:
            if not auto:
                raise
            chosen, auto_note = "importance", f"quadrature failed ({err})"
    if auto and chosen == "importance":
        try:
            ev = importance_evidence(model, track, seed, n_draws, keep_draws, t0)
        except InferenceError as err:
            why = f"importance sampling failed ({err})"
        else:
            ok, why = importance_reliable(ev)
            if ok:
                note = why if auto_note is None else f"{auto_note}; {why}"
                return dataclasses.replace(ev, details={**ev.details, "auto": note})
        why = why if auto_note is None else f"{auto_note}; {why}"
        chosen, auto_note = "bridge", why + "; bridge sampling instead"
    if chosen == "bridge":
        if idata is None:
            idata = sample(
                model,
                track,
                draws=draws,
                tune=tune,
                chains=chains,
                seed=seed,
                progress=progress,
                warn=False,
                target_accept=target_accept,
            )
        post = _arviz.draws(idata, model.param_names, flat=False)
        return bridge_evidence(
            model,
            track,
            post,
            seed=seed,
            n_steps=int(np.asarray(idata.sample_stats["n_steps"]).sum()),
            divergences=int(np.asarray(idata.sample_stats["diverging"]).sum()),
            seconds=time.perf_counter() - t0,
            keep_draws=keep_draws,
            idata=idata,
            note=auto_note,
        )
    if chosen == "laplace":
        target = Target(model, track)
        mode, hess, n_opt = target.mode()
        log_z, details = laplace(target, mode, hess)
        return Evidence(
            float(log_z),
            float("nan"),
            "laplace",
            int(n_opt),
            time.perf_counter() - t0,
            model.name,
            details,
        )
    return importance_evidence(model, track, seed, n_draws, keep_draws, t0)


def choose_method(
    model: Model, tracks: Sequence[Track], method: str = "auto", *, idata: Any = None
) -> str:
    """The estimator :func:`evidence` runs for ``method``.

    Parameters
    ----------
    model : Model
    tracks : sequence of Track
        The track, or the tracks of a pooled set.
    method : {"auto", "quadrature", "bridge", "importance", "laplace"}
    idata : arviz.InferenceData, optional
        A posterior that bridge sampling may reuse.

    Returns
    -------
    str
        ``method`` itself unless it is "auto". For "auto": "quadrature" where
        it applies (FBM/Brownian/Langevin, see :func:`quadrature_reason`), "bridge" when
        ``idata`` is given, else "importance" -- which :func:`evidence` and
        :func:`~bayesdiff.compare` keep only when :func:`importance_reliable`
        accepts it, running NUTS and bridge sampling otherwise.
    """
    if method not in ("auto", *METHODS):
        raise ValueError(f"unknown method {method!r}; use one of {('auto', *METHODS)}")
    if method != "auto":
        return method
    if quadrature_reason(model, tracks) is None:
        return "quadrature"
    return "bridge" if idata is not None else "importance"


#: "auto" keeps importance sampling when the Pareto k of its weights is at most this
#: and its standard error at most :data:`IMPORTANCE_ERR_MAX` nats.
IMPORTANCE_K_MAX = EVIDENCE_K_MAX
IMPORTANCE_ERR_MAX = EVIDENCE_ERR_MAX


def importance_reliable(ev: Evidence) -> tuple[bool, str]:
    """Whether an importance-sampling estimate passes the checks of ``method="auto"``."""
    k = float(ev.details.get("pareto_k", np.inf))
    ok = k <= IMPORTANCE_K_MAX and ev.log_z_err <= IMPORTANCE_ERR_MAX
    verdict = "accepted" if ok else "rejected"
    return ok, (
        f"importance sampling {verdict}: Pareto k {k:.2f} (max {IMPORTANCE_K_MAX}), "
        f"error {ev.log_z_err:.3g} (max {IMPORTANCE_ERR_MAX})"
    )


def bridge_evidence(
    model: Model,
    track: Track | TrackSet,
    posterior: Mapping[str, np.ndarray],
    *,
    seed: int,
    n_steps: int,
    divergences: int,
    seconds: float = 0.0,
    pad_to: int | None = None,
    keep_draws: bool = False,
    idata: Any = None,
    note: str | None = None,
) -> Evidence:
    """Bridge-sampling evidence from posterior draws of ``model`` given ``track``.

    Parameters
    ----------
    model : Model
    track : Track or TrackSet
    posterior : dict of arrays
        Draws of the model's parameters with leading (chain, draw) axes (NUTS).
    seed : int
        Seed of the proposal draws.
    n_steps, divergences : int
        NUTS gradient evaluations and divergent transitions behind the draws
        (counted in ``n_likelihood_evals`` and reported in ``details``).
    seconds : float
        Time already spent on the draws (added to ``Evidence.seconds``).
    pad_to : int, optional
        Pad the track to this length (shares compiled programs across lengths).
    keep_draws : bool
        Keep the draws in ``Evidence.draws``.
    idata : arviz.InferenceData, optional
        Stored in ``Evidence.idata``.
    note : str, optional
        Why this method ran (``details["auto"]``).
    """
    t1 = time.perf_counter()
    target = Target(model, track, pad_to=pad_to)
    n_chains = next(iter(posterior.values())).shape[0]
    flat = {
        p: np.asarray(posterior[p]).reshape(-1, *np.shape(posterior[p])[2:])
        for p in model.param_names
    }
    theta = target.unconstrained(flat).reshape(n_chains, -1, target.size)
    log_z, err, n_eval, details = bridge_sampling(target, theta, seed)
    details["divergences"] = int(divergences)
    if note:
        details["auto"] = note
    return Evidence(
        float(log_z),
        float(err),
        "bridge",
        int(n_eval + n_steps),
        seconds + time.perf_counter() - t1,
        model.name,
        details,
        dict(posterior) if keep_draws else None,
        idata,
    )


def importance_evidence(
    model: Model,
    track: Track | TrackSet,
    seed: int,
    n_draws: int,
    keep_draws: bool,
    t0: float | None = None,
    rounds: int = 3,
    pad_to: int | None = None,
) -> Evidence:
    """Adaptive importance sampling (:func:`~._importance.fit_importance`) as an
    :class:`Evidence`.

    Round 1 proposes ``n_draws`` quasi-random points (rounded up to a power of
    two) from a Student-t at the mode; when the weights fail
    :func:`importance_reliable`, the next round moment-matches the proposal
    and doubles the points, up to ``rounds`` rounds; the last is reported and
    every likelihood evaluation counted. ``t0``: when the work started
    (``perf_counter``); ``pad_to``: pad a track to this length (programs
    compiled for one length serve every shorter track).
    """
    t0 = time.perf_counter() if t0 is None else t0
    target = Target(model, track, pad_to=pad_to)
    fit = fit_importance(target, seed, ImportanceSettings(n_draws=n_draws, rounds=rounds))
    draws = None
    if keep_draws:
        draws = {k: v[None] for k, v in fit.draws(len(fit.log_w), seed + 1).items()}
    return Evidence(
        float(fit.log_z),
        float(fit.log_z_err),
        "importance",
        int(fit.n_eval),
        time.perf_counter() - t0,
        model.name,
        fit.details(),
        draws,
    )


def quadrature_evidence(
    model: Model,
    tracks: Sequence[Track],
    *,
    tol: float = 0.01,
    keep_draws: bool = False,
    n_draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    bucket: str = "exact",
    pooled: bool | None = None,
) -> Evidence:
    """Deterministic quadrature evidence of FBM/Brownian motion or Langevin (see :func:`evidence`).

    ``bucket``: how track lengths are padded (``"pow2"`` shares compiled
    programs across lengths, ``"exact"`` pads nothing). ``pooled``: whether
    ``tracks`` are a pooled set (default: more than one track); a single
    track given as a TrackSet is a pooled set (Langevin's centre prior differs).
    """
    t0 = time.perf_counter()
    quad = Quadrature(model, tracks, bucket=bucket, pooled=pooled)
    log_z, err, n_eval, details = quad.run(tol=tol)
    draws = quad.draws(n_draws, seed) if keep_draws else None
    seconds = time.perf_counter() - t0
    return Evidence(log_z, err, "quadrature", n_eval, seconds, model.name, details, draws)
