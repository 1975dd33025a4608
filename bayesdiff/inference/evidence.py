"""Model evidence (marginal likelihood) ``Z = p(track | model)`` with an error bar.

Four estimators behind :func:`evidence`:

* ``"quadrature"`` -- deterministic, for the Gaussian increment models
  (:class:`~bayesdiff.models.FBM`, :class:`~bayesdiff.models.Brownian`, with
  any of drift, noise and gaps). The drift ``v`` is integrated analytically
  (Gaussian prior), ``log D`` by an adaptive Gauss-Legendre rule on closed-form
  sufficient statistics, and at most two outer coordinates (``alpha`` and the
  noise-to-diffusion ratio) by Gauss-Legendre rules on a window found by a
  coarse scan. The error is the change when every rule doubles its nodes.
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
importance sampling when its diagnostics pass, otherwise bridge sampling.
The harmonic-mean estimator is deliberately absent.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.flatten_util import ravel_pytree
from jax.scipy.special import logsumexp
from numpyro.handlers import seed
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn

from .._kernels.gaussian import dense_innovations, levinson_innovations
from ..errors import InferenceError, ModelError
from ..models.base import Model, TrackData, as_data
from ..models.fbm import _IncrementModel, _noise_band, fgn_autocovariance, increment_covariance
from ..tracks import Track, TrackSet
from . import _arviz
from .sampling import _cached_jit, _default_latents, _generic_pooled, _latent_values, sample

__all__ = ["Evidence", "evidence", "METHODS", "quadrature_reason", "importance_reliable"]

#: Estimators accepted by :func:`evidence` ("auto" picks one of the first two).
METHODS = ("quadrature", "bridge", "importance", "laplace")

_LOG2PI = math.log(2.0 * math.pi)
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


# =============================================================================
# public entry point
# =============================================================================
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
    n_draws: int = 4000,
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
        "auto" uses quadrature for FBM/Brownian (any options, gaps included);
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
        Number of draws resampled from the quadrature grid, or drawn from the
        importance-sampling proposal.
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
    auto_note = None
    if method == "auto":
        if quadrature_reason(model, tracks) is None:
            method = "quadrature"
        elif idata is not None:
            method = "bridge"
        else:
            ev = _run_importance(model, track, seed, n_draws, keep_draws, t0)
            ok, why = importance_reliable(ev)
            if ok:
                return dataclasses.replace(ev, details={**ev.details, "auto": why})
            method, auto_note = "bridge", why + "; bridge sampling instead"
    if method == "quadrature":
        reason = quadrature_reason(model, tracks)
        if reason is not None:
            raise ModelError(
                f"quadrature does not apply to {model.name}: {reason}; use method='bridge'"
            )
        return _quadrature_evidence(model, tracks, tol, keep_draws, n_draws, seed)
    if method == "bridge":
        target = _Target(model, track)
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
        post = _arviz.posterior_draws(idata, model.param_names)
        n_chains = int(idata.posterior.sizes["chain"])
        theta = target.unconstrained(post).reshape(n_chains, -1, target.size)
        log_z, err, n_eval, details = _bridge(target, theta, seed)
        n_eval += int(np.asarray(idata.sample_stats["n_steps"]).sum())
        details["divergences"] = int(np.asarray(idata.sample_stats["diverging"]).sum())
        if auto_note:
            details["auto"] = auto_note
        draws_out = _by_chain(post, n_chains) if keep_draws else None
        return Evidence(
            float(log_z),
            float(err),
            "bridge",
            int(n_eval),
            time.perf_counter() - t0,
            model.name,
            details,
            draws_out,
            idata,
        )
    if method == "laplace":
        target = _Target(model, track)
        mode, hess, n_opt = target.mode()
        log_z, details = _laplace(target, mode, hess)
        return Evidence(
            float(log_z),
            float("nan"),
            "laplace",
            int(n_opt),
            time.perf_counter() - t0,
            model.name,
            details,
        )
    return _run_importance(model, track, seed, n_draws, keep_draws, t0)


#: "auto" accepts importance sampling when the Pareto k of its weights is at
#: most this (finite variance: the error bar holds) ...
IMPORTANCE_K_MAX = 0.5
#: ... and its standard error is at most this (nats).
IMPORTANCE_ERR_MAX = 0.05


def _importance_ok(pareto_k: float, err: float) -> bool:
    return pareto_k <= IMPORTANCE_K_MAX and err <= IMPORTANCE_ERR_MAX


def importance_reliable(ev: Evidence) -> tuple[bool, str]:
    """Whether an importance-sampling estimate passes the checks of ``method="auto"``."""
    k = float(ev.details.get("pareto_k", np.inf))
    ok = _importance_ok(k, ev.log_z_err)
    verdict = "accepted" if ok else "rejected"
    return ok, (
        f"importance sampling {verdict}: Pareto k {k:.2f} (max {IMPORTANCE_K_MAX}), "
        f"error {ev.log_z_err:.3g} (max {IMPORTANCE_ERR_MAX})"
    )


def _run_importance(model, track, seed, n_draws, keep_draws, t0, rounds: int = 3) -> Evidence:
    """Importance sampling, adapted over up to ``rounds`` rounds.

    Round 1 proposes from a Student-t at the mode (Laplace scale). When its
    weights fail :func:`importance_reliable` (a skewed or prior-dominated
    posterior), the next round moment-matches the proposal to the weighted
    draws of the last one and doubles their number. Each round is a complete
    unbiased estimate; the last one is reported, and every likelihood
    evaluation is counted.
    """
    target = _Target(model, track)
    mode, hess, n_opt = target.mode()
    mean, cov = mode, np.linalg.inv(hess)
    n_eval, n = 0, int(n_draws)
    for r in range(max(1, int(rounds))):
        log_z, err, n_round, details, (x, lw) = _importance(target, mean, cov, seed + r, n)
        n_eval += n_round
        details["rounds"] = r + 1
        if r == rounds - 1 or _importance_ok(details["pareto_k"], err):
            break
        w = np.exp(lw - np.max(lw))
        w /= w.sum()
        mean = w @ x
        if details["ess"] >= 5 * (x.shape[1] + 1):  # else too few draws to estimate a shape
            dev = x - mean
            cov = (dev * w[:, None]).T @ dev + 1e-9 * np.eye(x.shape[1])
        n *= 2
    draws_out = None
    if keep_draws:  # sampling-importance-resampling: draws proportional to the weights
        rng = np.random.default_rng(seed + 1)
        w = np.exp(lw - np.max(lw))
        idx = rng.choice(len(w), size=len(w), p=w / w.sum())
        draws_out = {k: v[None] for k, v in target.constrained(x[idx]).items()}
    return Evidence(
        float(log_z),
        float(err),
        "importance",
        int(n_eval + n_opt),
        time.perf_counter() - t0,
        model.name,
        details,
        draws_out,
    )


def _quadrature_evidence(
    model: Model,
    tracks: Sequence[Track],
    tol: float,
    keep_draws: bool,
    n_draws: int,
    seed: int,
    bucket: str = "exact",
) -> Evidence:
    """Quadrature (tracks padded to ``bucket`` lengths) as an :class:`Evidence`."""
    t0 = time.perf_counter()
    quad = _IncrementQuadrature(model, tracks, bucket=bucket)
    log_z, err, n_eval, details = quad.run(tol=tol)
    draws = quad.draws(n_draws, seed) if keep_draws else None
    seconds = time.perf_counter() - t0
    return Evidence(log_z, err, "quadrature", n_eval, seconds, model.name, details, draws)


def _by_chain(post: Mapping[str, np.ndarray], n_chains: int) -> dict[str, np.ndarray]:
    return {k: v.reshape(n_chains, -1, *v.shape[1:]) for k, v in post.items()}


# =============================================================================
# quadrature for the Gaussian increment models (FBM, Brownian)
# =============================================================================
def quadrature_reason(model: Model, tracks: Sequence[Track]) -> str | None:
    """Why quadrature does not apply to ``model`` and ``tracks`` (None if it does).

    It needs an FBM/Brownian model, a ``Normal`` prior on the drift, priors
    on ``alpha`` and ``sigma`` whose range is bounded or has quantiles, and
    (for a pooled set) one frame interval shared by all tracks.
    """
    if not isinstance(model, _IncrementModel):
        return f"{type(model).__name__} is not a Gaussian increment model (FBM/Brownian)"
    if len({float(t.dt) for t in tracks}) > 1:
        return "the pooled tracks have different frame intervals"
    if model.drift:
        pv = model.prior("v")
        if type(pv) is not dist.Normal or jnp.shape(pv.loc) != () or jnp.shape(pv.scale) != ():
            return "the drift prior is not a scalar Normal"
    for p in ("D", "sigma"):
        if p in model.param_names and not _positive(model.prior(p)):
            return f"the prior of {p} is not a distribution on positive numbers"
    for p in ("alpha", "sigma"):
        if p in model.param_names and _finite_range(model.prior(p)) is None:
            return f"the prior of {p} has neither bounded support nor quantiles"
    return None


def _positive(d: dist.Distribution) -> bool:
    lo = getattr(d.support, "lower_bound", None)
    return (
        d.event_shape == () and d.batch_shape == () and lo is not None and float(np.min(lo)) >= 0.0
    )


def _finite_range(d: dist.Distribution, q: float = 1e-12) -> tuple[float, float] | None:
    """Support bounds, or the ``q`` and ``1 - q`` quantiles where a bound is infinite."""
    sup = d.support
    lo = getattr(sup, "lower_bound", None)
    hi = getattr(sup, "upper_bound", None)
    lo = -math.inf if lo is None else float(lo)
    hi = math.inf if hi is None else float(hi)
    try:
        if not math.isfinite(lo) or (lo == 0.0 and not math.isfinite(hi)):
            lo = float(d.icdf(jnp.asarray(q)))
        if not math.isfinite(hi):
            hi = float(d.icdf(jnp.asarray(1.0 - q)))
    except (ImportError, NotImplementedError, AttributeError):
        return None
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        return None
    return lo, hi


def _gl(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return x, np.log(w)


@partial(jax.jit, static_argnames=("kind",))
def _node_stats(alpha: jax.Array, r: jax.Array, data: TrackData, kind: tuple) -> tuple:
    """Sufficient statistics of the unit-scale Gaussian likelihood at nodes ``(alpha, r)``.

    With ``s = D dt^alpha`` (variance per frame) and ``r = sigma^2 / s``, the
    increments of one coordinate are ``x ~ N(v tau, s S(alpha, r))``, where
    ``S = C_alpha + r M`` (fGn covariance in frame units plus the noise band).
    Returns, summed over the tracks of the batch: ``d log det S``, the
    quadratic forms ``Q_j = x_j^T S^-1 x_j``, ``B_j = tau^T S^-1 x_j`` and
    ``A = tau^T S^-1 tau`` (zeros without drift); shapes (P,), (P, d), (P, d), (P,).
    """
    independent, regular, noise, drift = kind

    def one_track(a, rr, inc, lags, mask, dt):
        n, d = inc.shape
        x = jnp.where(mask[:, None], inc, 0.0)
        cols = jnp.concatenate([x, (lags * dt)[:, None]], axis=1) if drift else x
        if independent:
            var = 2.0 * lags
            logv, z = jnp.log(var), cols / jnp.sqrt(var)[:, None]
        elif regular:
            acov = fgn_autocovariance(a, n)
            if noise:
                acov = acov + rr * _noise_band(n)
            logv, z = levinson_innovations(acov, cols)
        else:
            times = jnp.concatenate([jnp.zeros(1), jnp.cumsum(lags)])
            cov = increment_covariance(a, times)
            if noise:
                i = jnp.arange(n)
                band = jnp.where(i[:, None] == i[None, :], 2.0, 0.0) - jnp.where(
                    jnp.abs(i[:, None] - i[None, :]) == 1, 1.0, 0.0
                )
                cov = cov + rr * band
            logv, z = dense_innovations(cov, cols)
        m = mask.astype(x.dtype)
        zx = z[:, :d] * m[:, None]
        logdet = d * jnp.sum(m * logv)
        Q = jnp.sum(zx * zx, axis=0)
        if drift:
            f = z[:, d] * m
            return logdet, Q, jnp.sum(zx * f[:, None], axis=0), jnp.sum(f * f)
        return logdet, Q, jnp.zeros(d), jnp.zeros(())

    def one_node(a, rr):
        out = jax.vmap(one_track, in_axes=(None, None, 0, 0, 0, 0))(
            a, rr, data.increments, data.lags, data.mask, data.dt
        )
        return jax.tree.map(lambda t: jnp.sum(t, axis=0), out)

    return jax.vmap(one_node)(alpha, r)


def _log_integrand_fn(noise: bool, drift: bool, priors: dict, consts: dict):
    """The log of the integrand in ``lam = log D`` at one outer node, and its limits."""
    N, logdt = consts["N"], consts["logdt"]

    def f(lam, st, alpha, u):
        logdet, Q, B, A = st
        ell = lam + alpha * logdt  # log s
        s_inv = jnp.exp(-ell)
        out = -0.5 * N * (_LOG2PI + ell) - 0.5 * logdet - 0.5 * jnp.sum(Q) * s_inv
        if drift:
            m, sv2 = priors["v_loc"], priors["v_scale"] ** 2
            a = A * s_inv + 1.0 / sv2
            b = B * s_inv + m / sv2
            out = out + jnp.sum(-0.5 * m * m / sv2 - 0.5 * jnp.log(sv2 * a) + 0.5 * b * b / a)
        out = out + priors["D"].log_prob(jnp.exp(lam)) + lam
        if noise:
            w = 0.5 * (u + ell)  # log sigma
            out = out + priors["sigma"].log_prob(jnp.exp(w)) + w + math.log(0.5)
        return jnp.where(jnp.isnan(out), -jnp.inf, out)

    def limits(alpha, u):
        lo, hi = consts["lam_lo"], consts["lam_hi"]
        if noise:
            shift = u + alpha * logdt
            lo = jnp.maximum(lo, 2.0 * consts["w_lo"] - shift)
            hi = jnp.minimum(hi, 2.0 * consts["w_hi"] - shift)
        return lo, hi

    return f, limits


_N_LAM_MAX = 128


def _gl_padded(n: int) -> tuple[jax.Array, jax.Array]:
    """Gauss-Legendre rule of order ``n`` padded to ``_N_LAM_MAX`` nodes (log weight
    -inf), so that every order shares one compiled :func:`_inner`."""
    x, logw = _gl(n)
    pad = _N_LAM_MAX - n
    return jnp.asarray(np.concatenate([x, np.zeros(pad)])), jnp.asarray(
        np.concatenate([logw, np.full(pad, -np.inf)])
    )


@partial(jax.jit, static_argnames=("noise", "drift", "nodes"))
def _inner(st, alpha, u, priors, consts, rule, noise: bool, drift: bool, nodes: bool = False):
    """``log int exp f(lam) dlam`` at each outer node: Gauss-Legendre ``rule``
    (nodes, log weights) on a window around the conditional mode, found by
    safeguarded Newton steps."""
    f, limits = _log_integrand_fn(noise, drift, priors, consts)
    x, logw = rule
    N = consts["N"]

    def one(st1, a, uu):
        lo, hi = limits(a, uu)
        logdet, Q, B, A = st1
        q_eff = jnp.sum(Q) - (jnp.sum(B * B) / jnp.maximum(A, 1e-300) if drift else 0.0)
        lam0 = jnp.log(jnp.maximum(q_eff, 1e-300) / N) - a * consts["logdt"]
        lam0 = jnp.clip(lam0, lo, hi)
        lam0 = jnp.where(jnp.isfinite(lam0), lam0, jnp.where(jnp.isfinite(lo), lo, hi))
        g1 = jax.grad(f)
        g2 = jax.grad(g1)

        def newton(_, lam):
            g, h = g1(lam, st1, a, uu), g2(lam, st1, a, uu)
            step = jnp.where(h < 0, -g / h, jnp.sign(g))
            step = jnp.clip(jnp.nan_to_num(step), -2.0, 2.0)
            return jnp.clip(lam + step, lo, hi)

        lam_m = jax.lax.fori_loop(0, 16, newton, lam0)
        h = g2(lam_m, st1, a, uu)
        sd = jnp.where(h < 0, 1.0 / jnp.sqrt(jnp.maximum(-h, 1e-12)), jnp.sqrt(2.0 / N))
        sd = jnp.minimum(sd, 5.0)
        a_w = jnp.maximum(lo, lam_m - 9.0 * sd)
        b_w = jnp.minimum(hi, lam_m + 9.0 * sd + 80.0 / N)
        ok = (b_w > a_w) & jnp.isfinite(a_w) & jnp.isfinite(b_w)
        half = jnp.where(ok, 0.5 * (b_w - a_w), 1.0)
        lam = 0.5 * (a_w + b_w) + half * x
        vals = jax.vmap(lambda ll: f(ll, st1, a, uu))(lam) + logw + jnp.log(half)
        vals = jnp.where(jnp.isfinite(logw), vals, -jnp.inf)
        total = jnp.where(ok, logsumexp(vals), -jnp.inf)
        if nodes:
            return total, lam, jnp.where(ok, vals, -jnp.inf)
        return total

    return jax.vmap(one)(st, alpha, u)


class _IncrementQuadrature:
    """Adaptive tensor Gauss-Legendre quadrature for FBM/Brownian (see :func:`evidence`).

    Coordinates: ``alpha`` (FBM only), ``u = log(sigma^2 / s)`` (with noise)
    and ``lam = log D`` innermost, where ``s = D dt^alpha``. For fixed
    ``(alpha, u)`` the covariance is ``s S(alpha, e^u)``, so one Levinson
    (or Cholesky) pass gives sufficient statistics from which the integrals
    over ``v`` (analytic) and ``lam`` (Gauss-Legendre) cost O(dim) per node.
    The Jacobian of ``(log D, log sigma) -> (lam, u)`` is 1/2.

    Notes
    -----
    With ``s`` the variance per frame and ``x_j`` the increments of
    coordinate ``j``, ``-2 log p(x | s, v, S) = N log(2 pi s) + d log|S|
    + sum_j (x_j - v_j tau)^T S^-1 (x_j - v_j tau) / s``. The prior box of
    ``(log D, log sigma)`` becomes, at fixed ``(alpha, u)``, an interval of
    ``lam``, so prior bounds are integration limits of the inner rule and the
    outer integrand is smooth (where sigma or D piles up against a prior
    bound it falls off as a smooth step in ``u``).

    1. A coarse midpoint scan (16 alpha x 48 u nodes over the prior range and
       the range the data allow) finds the box where the integrand is within
       30 nats of its maximum (the u range grows if the mass touches it).
    2. Tensor Gauss-Legendre rules on that box, (24, 32, 32) nodes in
       (alpha, u, lam), then doubled, until the estimate changes by less than
       ``tol`` (at most 96 x 128 x 128); the last change is the error.
    3. The inner rule sits on ``[mode - 9 sd, mode + 9 sd + 80/N]`` around the
       conditional mode of ``lam`` (16 safeguarded Newton steps), clipped to
       the prior limits.
    """

    CHUNK = 256
    N_COARSE = (16, 48)  # alpha, u
    THRESHOLD = 30.0  # nats below the coarse maximum that still count as mass
    LEVELS = ((24, 32, 32), (48, 64, 64), (96, 128, 128))  # (n_alpha, n_u, n_lam)

    def __init__(self, model: _IncrementModel, tracks: Sequence[Track], bucket: str = "exact"):
        self.model = model
        self.fbm = "alpha" in model.param_names
        self.noise, self.drift = bool(model.noise), bool(model.drift)
        self.independent = model._independent and not self.noise
        ts = TrackSet(tracks)
        self.dim = ts.dim
        self.batches = [as_data(b) for b in ts.batches(bucket=bucket, min_steps=1)]
        self.dt = float(tracks[0].dt)
        self.N = float(sum(t.n_steps for t in tracks) * self.dim)
        var0 = sum(float(np.sum(t.increments**2 / t.lags[:, None])) for t in tracks) / self.N
        self.var0 = max(var0, 1e-300)
        pD = model.prior("D")
        lamD = _finite_range(pD) if getattr(pD.support, "upper_bound", None) is not None else None
        lam_lo, lam_hi = (math.log(lamD[0]), math.log(lamD[1])) if lamD else (-math.inf, math.inf)
        if lamD and lamD[0] <= 0:
            lam_lo = -math.inf
        self.priors: dict[str, Any] = {"D": pD}
        self.consts: dict[str, Any] = {
            "N": jnp.asarray(self.N),
            "logdt": jnp.asarray(math.log(self.dt)),
            "lam_lo": jnp.asarray(lam_lo),
            "lam_hi": jnp.asarray(lam_hi),
        }
        if self.fbm:
            self.alpha_prior = model.prior("alpha")
            self.alpha_range = _finite_range(self.alpha_prior)
        if self.noise:
            ps = model.prior("sigma")
            self.priors["sigma"] = ps
            lo, hi = _finite_range(ps)
            self.consts["w_lo"], self.consts["w_hi"] = (
                jnp.asarray(math.log(lo)),
                jnp.asarray(math.log(hi)),
            )
            self.w_range = (math.log(lo), math.log(hi))
        if self.drift:
            pv = model.prior("v")
            self.priors["v_loc"], self.priors["v_scale"] = (
                jnp.asarray(pv.loc),
                jnp.asarray(pv.scale),
            )
        self.n_evals = 0
        self._final: dict | None = None

    # -- evaluation ------------------------------------------------------------
    def _stats(self, alpha: np.ndarray, u: np.ndarray) -> tuple:
        """Sufficient statistics at nodes (alpha, u), summed over all batches of tracks."""
        r = np.exp(u) if self.noise else np.zeros_like(u)
        total = None
        for data, regular in self.batches:
            kind = (self.independent, bool(regular), self.noise, self.drift)
            out = _node_stats(jnp.asarray(alpha), jnp.asarray(r), data, kind)
            total = out if total is None else jax.tree.map(jnp.add, total, out)
        self.n_evals += int(len(alpha)) * sum(int(d.mask.shape[0]) for d, _ in self.batches)
        return total

    def log_g(self, alpha: np.ndarray, u: np.ndarray, n_lam: int) -> np.ndarray:
        """``log int dlam ...`` at outer nodes (alpha, u) (1-D arrays), chunked."""
        out = np.empty(len(alpha))
        c = self.CHUNK if (self.fbm or self.noise) else 1
        for i in range(0, len(alpha), c):
            a = np.asarray(alpha[i : i + c], float)
            uu = np.asarray(u[i : i + c], float)
            k = len(a)
            if k < c:
                a = np.concatenate([a, np.full(c - k, a[-1])])
                uu = np.concatenate([uu, np.full(c - k, uu[-1])])
            st = self._stats(a, uu)
            self.n_evals -= (c - k) * sum(int(d.mask.shape[0]) for d, _ in self.batches)
            vals = _inner(
                st,
                jnp.asarray(a),
                jnp.asarray(uu),
                self.priors,
                self.consts,
                _gl_padded(n_lam),
                self.noise,
                self.drift,
            )
            out[i : i + k] = np.asarray(vals)[:k]
        return out

    def _log_prior_alpha(self, alpha: np.ndarray) -> np.ndarray:
        if not self.fbm:
            return np.zeros_like(alpha)
        return np.asarray(self.alpha_prior.log_prob(jnp.asarray(alpha)))

    # -- windows -----------------------------------------------------------------
    def _u_range(self) -> tuple[float, float]:
        logdt = math.log(self.dt)
        a_lo, a_hi = self.alpha_range if self.fbm else (1.0, 1.0)
        lam_lo = float(self.consts["lam_lo"])
        if math.isfinite(lam_lo):
            log_s_min = lam_lo + min(a_lo * logdt, a_hi * logdt)
        else:
            log_s_min = math.log(self.var0) - 30.0
        log_s_max = math.log(self.var0 / 2.0)
        w_lo, w_hi = self.w_range
        u_min = 2.0 * w_lo - log_s_max - 4.0
        u_max = min(2.0 * w_hi, log_s_max + 4.0) - log_s_min
        if u_max <= u_min + 1.0:
            u_max = u_min + 1.0
        return u_min, u_max

    def _window(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Coarse scan: the (alpha, u) box holding the posterior mass."""
        na = self.N_COARSE[0] if self.fbm else 1
        nu = self.N_COARSE[1] if self.noise else 1
        a_lo, a_hi = self.alpha_range if self.fbm else (1.0, 1.0)
        u_lo, u_hi = self._u_range() if self.noise else (0.0, 0.0)
        for _ in range(4):
            ha, hu = (a_hi - a_lo) / na, (u_hi - u_lo) / nu
            ag = a_lo + ha * (np.arange(na) + 0.5)
            ug = u_lo + hu * (np.arange(nu) + 0.5)
            A, U = np.meshgrid(ag, ug, indexing="ij")
            lg = self.log_g(A.ravel(), U.ravel(), 16).reshape(na, nu) + self._log_prior_alpha(A)
            if not np.isfinite(lg).any():
                raise InferenceError(
                    f"{self.model.name}: the likelihood is zero on the whole prior range "
                    "(check units and priors)"
                )
            sel = lg > np.max(lg) - self.THRESHOLD
            ia = np.flatnonzero(sel.any(axis=1))
            iu = np.flatnonzero(sel.any(axis=0))
            grow = False
            if self.noise and iu[0] == 0:
                u_lo -= 0.5 * (u_hi - u_lo)
                grow = True
            if self.noise and iu[-1] == nu - 1:
                u_hi += 0.5 * (u_hi - u_lo)
                grow = True
            if not grow:
                break
        aw = (max(a_lo, ag[ia[0]] - ha), min(a_hi, ag[ia[-1]] + ha)) if self.fbm else (1.0, 1.0)
        uw = (ug[iu[0]] - hu, ug[iu[-1]] + hu) if self.noise else (0.0, 0.0)
        return aw, uw

    def _nodes(self, aw, uw, n_a: int, n_u: int):
        if self.fbm:
            xa, lwa = _gl(n_a)
            ha = 0.5 * (aw[1] - aw[0])
            a, lwa = 0.5 * (aw[0] + aw[1]) + ha * xa, lwa + math.log(ha)
        else:
            a, lwa = np.ones(1), np.zeros(1)
        if self.noise:
            xu, lwu = _gl(n_u)
            hu = 0.5 * (uw[1] - uw[0])
            u, lwu = 0.5 * (uw[0] + uw[1]) + hu * xu, lwu + math.log(hu)
        else:
            u, lwu = np.zeros(1), np.zeros(1)
        A, U = np.meshgrid(a, u, indexing="ij")
        LW = lwa[:, None] + lwu[None, :] + self._log_prior_alpha(A)
        return A.ravel(), U.ravel(), LW.ravel()

    # -- driver ------------------------------------------------------------------
    def run(self, tol: float = 0.01) -> tuple[float, float, int, dict]:
        aw, uw = self._window()
        levels = []
        prev = None
        err = math.inf
        for n_a, n_u, n_lam in self.LEVELS:
            A, U, LW = self._nodes(aw, uw, n_a, n_u)
            lg = self.log_g(A, U, n_lam)
            logz = float(logsumexp(jnp.asarray(lg + LW)))
            levels.append(
                {
                    "n_alpha": n_a if self.fbm else 1,
                    "n_u": n_u if self.noise else 1,
                    "n_lam": n_lam,
                    "log_z": logz,
                }
            )
            self._final = {"A": A, "U": U, "LW": LW + lg, "n_lam": n_lam, "aw": aw, "uw": uw}
            if prev is not None:
                err = abs(logz - prev)
                if err < tol:
                    break
            prev = logz
        if not math.isfinite(levels[-1]["log_z"]):
            raise InferenceError(f"{self.model.name}: quadrature gave a non-finite log evidence")
        details = {
            "levels": levels,
            "alpha_window": aw if self.fbm else None,
            "u_window": uw if self.noise else None,
            "converged": bool(err < tol),
        }
        return levels[-1]["log_z"], max(err, 1e-12), self.n_evals, details

    # -- posterior draws from the grid ---------------------------------------------
    def draws(self, n: int, seed: int, jitter: bool = False) -> dict[str, np.ndarray]:
        """``n`` posterior draws resampled from the final grid, shape (1, n, ...).

        Outer nodes and ``log D`` nodes are drawn with probability proportional
        to their quadrature weight times the integrand; the drift, given
        them, from its exact Gaussian conditional. With ``jitter``, each
        ``alpha``, ``u`` and ``log D`` draw is then spread uniformly over its
        node's cell (between the midpoints to the neighbouring nodes), so the
        draws follow the piecewise-constant density of the grid instead of
        sitting on the nodes.
        """
        if self._final is None:
            self.run()
        fin = self._final
        rng = np.random.default_rng(seed)
        p = np.exp(fin["LW"] - np.max(fin["LW"]))
        idx = rng.choice(p.size, size=n, p=p / p.sum())
        uniq, inv = np.unique(idx, return_inverse=True)
        a, u = fin["A"][uniq], fin["U"][uniq]
        out_lam = np.empty(n)
        lam_all, vals_all, stats_all = [], [], []
        for i in range(0, len(uniq), self.CHUNK):
            aa, uu = a[i : i + self.CHUNK], u[i : i + self.CHUNK]
            k = len(aa)
            pad = self.CHUNK - k if (self.fbm or self.noise) else 0
            ap, up = (
                np.concatenate([aa, np.full(pad, aa[-1])]),
                np.concatenate([uu, np.full(pad, uu[-1])]),
            )
            st = self._stats(ap, up)
            _, lam, vals = _inner(
                st,
                jnp.asarray(ap),
                jnp.asarray(up),
                self.priors,
                self.consts,
                _gl_padded(fin["n_lam"]),
                self.noise,
                self.drift,
                nodes=True,
            )
            lam_all.append(np.asarray(lam)[:k])
            vals_all.append(np.asarray(vals)[:k])
            stats_all.append(jax.tree.map(lambda t, k=k: np.asarray(t)[:k], st))
        lam_nodes = np.concatenate(lam_all)
        vals = np.concatenate(vals_all)
        stats = jax.tree.map(lambda *t: np.concatenate(t), *stats_all)
        for j in range(n):
            row = vals[inv[j]]
            q = np.exp(row - np.max(row))
            k = rng.choice(q.size, p=q / q.sum())
            out_lam[j] = lam_nodes[inv[j], k]
            if jitter:  # the padded nodes (zero weight) sit after the real, ascending ones
                out_lam[j] = _spread(lam_nodes[inv[j]][np.isfinite(row)], k, rng)
        alpha = a[inv]
        uu = u[inv]
        if jitter:
            for coord, arr in (("alpha", alpha), ("u", uu)):
                if (coord == "alpha" and self.fbm) or (coord == "u" and self.noise):
                    nodes = np.unique(fin["A"] if coord == "alpha" else fin["U"])
                    box = fin["aw"] if coord == "alpha" else fin["uw"]
                    pos = np.searchsorted(nodes, arr)
                    arr[:] = [_spread(nodes, int(i), rng, box) for i in pos]
        ell = out_lam + alpha * math.log(self.dt)
        res: dict[str, np.ndarray] = {}
        if self.fbm:
            res["alpha"] = alpha
        res["D"] = np.exp(out_lam)
        if self.drift:
            _, _, B, A = stats
            s_inv = np.exp(-ell)
            m, sv2 = float(self.priors["v_loc"]), float(self.priors["v_scale"]) ** 2
            prec = A[inv] * s_inv + 1.0 / sv2
            mean = (B[inv] * s_inv[:, None] + m / sv2) / prec[:, None]
            res["v"] = mean + rng.standard_normal(mean.shape) / np.sqrt(prec)[:, None]
        if self.noise:
            res["sigma"] = np.exp(0.5 * (uu + ell))
        return {k: v[None] for k, v in res.items()}


def _spread(nodes: np.ndarray, k: int, rng: np.random.Generator, box=None) -> float:
    """A uniform draw over the cell of ``nodes[k]`` (sorted nodes; cells end at midpoints,
    the outer cells as far out as the inner half-width, or at the ``box`` edges)."""
    lo = 0.5 * (nodes[k - 1] + nodes[k]) if k > 0 else None
    hi = 0.5 * (nodes[k] + nodes[k + 1]) if k < len(nodes) - 1 else None
    if lo is None and hi is None:
        return float(nodes[k])
    lo = lo if lo is not None else (box[0] if box else nodes[k] - (hi - nodes[k]))
    hi = hi if hi is not None else (box[1] if box else nodes[k] + (nodes[k] - lo))
    return float(rng.uniform(lo, hi))


# =============================================================================
# the unnormalized posterior in the sampler's unconstrained space
# =============================================================================
def _model_fn(model: Model, regs: tuple, pooled: bool):
    """The NumPyro model function that :func:`bayesdiff.sample` runs for this data layout."""
    if not pooled:
        return partial(model.numpyro_model, regular=regs[0])
    hook = getattr(model, "numpyro_model_pooled", None)
    if hook is not None:

        def model_fn(*data):
            hook(list(zip(data, regs, strict=True)))
    else:

        def model_fn(*data):
            _generic_pooled(model, data, regs)

    return model_fn


def _compile_target(model_fn, unravel) -> dict:
    def logq1(th, args):
        return -potential_energy(model_fn, args, {}, unravel(th))

    def neg(th, args):
        return -logq1(th, args)

    return {
        "logq1": jax.jit(logq1),
        "logq": jax.jit(jax.vmap(logq1, in_axes=(0, None))),
        "grad": jax.jit(jax.value_and_grad(neg)),
    }


def _to_latent(
    model_fn, order: tuple, missing: tuple, z0: dict, known: dict, targets: dict, args: tuple
):
    """One draw: known latent values (constrained) -> flat unconstrained vector."""
    # sites not in ``known`` are drawn by the seeded model and then overwritten
    z = unconstrain_fn(seed(model_fn, rng_seed=0), args, {}, known) if known else {}
    if missing:
        z_m0 = {k: jnp.zeros_like(z0[k]) for k in missing}
        flat_m, unravel_m = ravel_pytree(z_m0)
        flat_t, _ = ravel_pytree(targets)

        def resid(fm):
            full = {**z, **unravel_m(fm)}
            out = constrain_fn(model_fn, args, {}, full, return_deterministic=True)
            return ravel_pytree({k: out[k] for k in targets})[0] - flat_t

        if flat_t.shape != flat_m.shape:
            raise InferenceError(
                f"latent sites {list(missing)} do not match parameters {list(targets)}"
            )

        def step(fm, _):
            return fm - jnp.linalg.solve(jax.jacfwd(resid)(fm), resid(fm)), None

        flat_m, _ = jax.lax.scan(step, flat_m, None, length=8)
        ok = jnp.max(jnp.abs(resid(flat_m))) <= 1e-8 * (1.0 + jnp.max(jnp.abs(flat_t)))
        z = {**z, **unravel_m(jnp.where(ok, flat_m, jnp.nan))}
    return ravel_pytree({k: z[k] for k in order})[0]


class _Target:
    """``log q(theta) = log prior + log likelihood`` (Jacobians included) on the
    flattened unconstrained latent sites of the model's NumPyro model, the
    same space in which NUTS samples.

    The compiled functions take the data as an argument and are cached per
    model configuration, so targets for many tracks of one shape share them.
    """

    def __init__(self, model: Model, track: Track | TrackSet, pad_to: int | None = None):
        self.model = model
        self.dim = track.dim
        if isinstance(track, Track):
            data, regular = as_data(track, pad_to=pad_to)
            self.args: tuple = (data,)
            regs: tuple = (bool(regular),)
            pooled = False
        else:
            datas = [as_data(b) for b in track.batches(bucket="pow2", min_steps=1)]
            regs = tuple(bool(r) for _, r in datas)
            self.args = tuple(d for d, _ in datas)
            pooled = True
        self.model_fn = _model_fn(model, regs, pooled)
        self.z0 = dict(_default_latents(self.model_fn, self.args))
        flat, self.unravel = ravel_pytree(self.z0)
        self.size = int(flat.shape[0])
        self.flat0 = np.asarray(flat)
        shapes = tuple((k, tuple(jnp.shape(v))) for k, v in self.z0.items())
        self.fns = _cached_jit(
            "evidence-target", model, regs, pooled, shapes,
            build=lambda: _compile_target(self.model_fn, self.unravel),
        )  # fmt: skip
        self.n_evals = 0

    def logq1(self, theta) -> jax.Array:
        return self.fns["logq1"](jnp.asarray(theta), self.args)

    def grad(self, theta) -> tuple:
        return self.fns["grad"](jnp.asarray(theta), self.args)

    def hess(self, theta) -> np.ndarray:
        """Hessian of ``-log q`` by central differences of the gradient (one
        compiled gradient serves; exact second derivatives would compile a
        second, much larger program)."""
        th = np.asarray(theta, float)
        p = th.size
        h = 1e-4 * (1.0 + np.abs(th))
        pts = np.concatenate([th + np.diag(h), th - np.diag(h)])
        grads = np.stack([np.asarray(self.grad(x)[1]) for x in pts])
        H = (grads[:p] - grads[p:]) / (2.0 * h[:, None])
        self.n_evals += 2 * p
        return 0.5 * (H + H.T)

    def logq(self, theta: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """Vectorized log density at rows of ``theta`` (n, size); NaN -> -inf."""
        theta = np.asarray(theta, float)
        out = np.empty(len(theta))
        for i in range(0, len(theta), chunk):
            block = theta[i : i + chunk]
            k = len(block)
            if k < chunk and len(theta) > chunk:
                block = np.concatenate([block, np.repeat(block[-1:], chunk - k, 0)])
            out[i : i + k] = np.asarray(self.fns["logq"](jnp.asarray(block), self.args))[:k]
        self.n_evals += len(theta)
        return np.where(np.isnan(out), -np.inf, out)

    def constrained(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Rows of unconstrained latent vectors -> the model's parameters (leading draw axis)."""
        names = tuple(self.model.param_names)
        key = ("constrained", names)
        if key not in self.fns:
            model_fn, unravel = self.model_fn, self.unravel

            def one(th, args):
                out = constrain_fn(model_fn, args, {}, unravel(th), return_deterministic=True)
                return {p: out[p] for p in names}

            self.fns[key] = jax.jit(jax.vmap(one, in_axes=(0, None)))
        return {k: np.asarray(v) for k, v in self.fns[key](jnp.asarray(theta), self.args).items()}

    # -- constrained draws -> unconstrained latent vectors --------------------------
    def unconstrained(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        """Map posterior draws of the model's parameters (leading draw axis) to
        rows of unconstrained latent vectors, shape (n, size).

        Latent sites named after a parameter (or ``<name>_base`` for log-scale
        reparametrized priors) are unconstrained directly; any other latent site
        (e.g. a non-centred ``c_z`` whose deterministic image is the parameter
        ``c``) is found by Newton's method on the deterministic sites.
        """
        model = self.model
        known = _latent_values(model, {k: jnp.asarray(v) for k, v in params.items()}, self.dim)
        known = {k: v for k, v in known.items() if k in self.z0}
        missing = tuple(k for k in self.z0 if k not in known)
        used = {k[:-5] if k.endswith("_base") else k for k in known}
        targets = {k: jnp.asarray(v) for k, v in params.items() if k not in used}
        if missing and not targets:
            raise InferenceError(
                f"{model.name}: cannot map posterior draws to the latent sites {list(missing)}"
            )
        n = len(next(iter(params.values())))
        key = ("unconstrained", missing, tuple(sorted(targets)))
        if key not in self.fns:
            self.fns[key] = jax.jit(
                jax.vmap(
                    partial(_to_latent, self.model_fn, tuple(self.z0), missing, self.z0),
                    in_axes=(0, 0, None),
                )
            )
        rows = np.asarray(self.fns[key](known, targets, self.args))
        if rows.shape != (n, self.size) or not np.all(np.isfinite(rows)):
            bad = int(np.sum(~np.all(np.isfinite(rows), axis=1))) if rows.ndim == 2 else n
            raise InferenceError(
                f"{model.name}: {bad} posterior draws map to non-finite latent values"
            )
        return rows

    # -- the mode ------------------------------------------------------------------
    def mode(self, starts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """Posterior mode in unconstrained space (BFGS, then Newton polish) and
        the Hessian of ``-log q`` there."""
        from scipy.optimize import minimize

        if starts is None:
            starts = [self.flat0, self._init_from_model()]
        best, n_eval = None, 0
        for x0 in starts:
            if x0 is None or not np.all(np.isfinite(x0)):
                continue

            def fun(th):
                v, g = self.grad(jnp.asarray(th))
                return float(v), np.asarray(g)

            res = minimize(
                fun,
                np.asarray(x0, float),
                jac=True,
                method="BFGS",
                options={"gtol": 1e-8, "maxiter": 2000},
            )
            n_eval += int(res.nfev)
            if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
                best = res
        if best is None:
            raise InferenceError(f"{self.model.name}: could not find the posterior mode")
        th = np.asarray(best.x)
        for _ in range(5):  # Newton polish
            _, g = self.grad(jnp.asarray(th))
            H = np.asarray(self.hess(jnp.asarray(th)))
            try:
                step = np.linalg.solve(H, np.asarray(g))
            except np.linalg.LinAlgError:
                break
            if not np.all(np.isfinite(step)) or np.max(np.abs(step)) > 1.0:
                break
            th = th - step
            n_eval += 1
        H = np.asarray(self.hess(jnp.asarray(th)))
        self.n_evals += n_eval
        return th, H, n_eval

    def _init_from_model(self) -> np.ndarray | None:
        first_track = self.args[0]
        if first_track.increments.ndim == 3:  # pooled: a batch; start from its first track
            first_track = jax.tree.map(lambda a: a[0], first_track)
        try:
            vals = self.model.init_values(first_track)
        except Exception:  # noqa: BLE001 -- a starting point only
            return None
        if not vals:
            return None
        first = {k: jnp.asarray(v)[None] for k, v in vals.items() if k in self.model.param_names}
        try:
            return self.unconstrained(first)[0]
        except Exception:  # noqa: BLE001
            return None


# =============================================================================
# bridge sampling
# =============================================================================
def _mvn_logpdf(x: np.ndarray, mean: np.ndarray, chol: np.ndarray) -> np.ndarray:
    z = np.linalg.solve(chol, (x - mean).T).T
    p = x.shape[1]
    return -0.5 * np.sum(z * z, axis=1) - np.sum(np.log(np.diag(chol))) - 0.5 * p * _LOG2PI


def _bridge(target: _Target, theta: np.ndarray, seed: int, tol: float = 1e-10) -> tuple:
    """Bridge sampling estimate of ``log Z`` from posterior draws ``theta``
    (chain, draw, size) in unconstrained space.

    The first half of every chain fits a multivariate normal proposal ``g``;
    the second half (``N1`` draws) and ``N2 = N1`` draws from ``g`` enter the
    iterative estimator of Meng & Wong (1996), eq. 4.1, with ``s1`` based on
    the effective sample size as in Gronau et al. (2017). The error is the
    square root of the relative mean-square error of Frühwirth-Schnatter (2004),
    with the autocorrelation of the posterior term through its ESS.
    """
    C, S, p = theta.shape
    if S < 4:
        raise InferenceError("bridge sampling needs at least 4 draws per chain")
    fit = theta[:, : S // 2].reshape(-1, p)
    post = theta[:, S // 2 :]
    n1 = post.shape[0] * post.shape[1]
    mean = fit.mean(axis=0)
    cov = np.cov(fit, rowvar=False).reshape(p, p) + 1e-10 * np.eye(p)
    chol = np.linalg.cholesky(cov)
    rng = np.random.default_rng(seed)
    n2 = n1
    prop = mean + rng.standard_normal((n2, p)) @ chol.T
    q11 = target.logq(post.reshape(-1, p))
    q12 = _mvn_logpdf(post.reshape(-1, p), mean, chol)
    q21 = target.logq(prop)
    q22 = _mvn_logpdf(prop, mean, chol)
    l1 = q11 - q12
    l2 = q21 - q22
    if not np.all(np.isfinite(l1)):
        raise InferenceError(f"{target.model.name}: non-finite log density at posterior draws")
    ess = _arviz.ess_array(post)
    neff = float(np.clip(np.median(ess), 1.0, n1))
    s1, s2 = neff / (neff + n2), n2 / (neff + n2)
    lstar = float(np.median(l1))
    e1, e2 = l1 - lstar, l2 - lstar
    log_r = 0.0
    iters = 0
    for iters in range(1, 1001):  # noqa: B007
        # r_{t+1} = [mean_g e^l2 / (s1 e^l2 + s2 r)] / [mean_p 1 / (s1 e^l1 + s2 r)], in logs
        num = logsumexp(
            jnp.asarray(e2 - np.logaddexp(math.log(s1) + e2, math.log(s2) + log_r))
        ) - math.log(n2)
        den = logsumexp(
            jnp.asarray(-np.logaddexp(math.log(s1) + e1, math.log(s2) + log_r))
        ) - math.log(n1)
        new = float(num - den)
        if abs(new - log_r) < tol:
            log_r = new
            break
        log_r = new
    log_z = log_r + lstar
    # relative mean-square error (Frühwirth-Schnatter 2004, eq. 13; N1, N2 as counts)
    t1, t2 = n1 / (n1 + n2), n2 / (n1 + n2)
    lp_g = q21 - log_z  # normalized posterior at proposal draws
    lp_p = q11 - log_z
    f1 = np.exp(lp_g - np.logaddexp(math.log(t1) + lp_g, math.log(t2) + q22))
    f2 = np.exp(q12 - np.logaddexp(math.log(t1) + lp_p, math.log(t2) + q12))
    ess_f2 = float(_arviz.ess_array(f2.reshape(post.shape[0], post.shape[1], 1))[0])
    re2 = np.var(f1) / (n2 * np.mean(f1) ** 2) + np.var(f2) / (max(ess_f2, 1.0) * np.mean(f2) ** 2)
    err = float(math.sqrt(re2))
    details = {
        "n_post": n1,
        "n_proposal": n2,
        "iterations": iters,
        "ess_median": neff,
        "ess_f2": ess_f2,
        "dim": p,
        "proposal": "normal",
    }
    return log_z, err, n1 + n2, details


# =============================================================================
# Laplace and importance sampling
# =============================================================================
def _laplace(target: _Target, mode: np.ndarray, hess: np.ndarray) -> tuple[float, dict]:
    sign, logdet = np.linalg.slogdet(hess)
    if sign <= 0:
        raise InferenceError(
            f"{target.model.name}: the Hessian at the mode is not positive definite"
        )
    lq = float(target.logq1(jnp.asarray(mode)))
    p = target.size
    return lq + 0.5 * p * _LOG2PI - 0.5 * logdet, {"log_q_mode": lq, "dim": p}


def _t_logpdf(x: np.ndarray, mean: np.ndarray, chol: np.ndarray, df: float) -> np.ndarray:
    from scipy.special import gammaln

    p = x.shape[1]
    y = np.linalg.solve(chol, (x - mean).T).T
    return (
        gammaln((df + p) / 2)
        - gammaln(df / 2)
        - 0.5 * p * math.log(df * math.pi)
        - np.sum(np.log(np.diag(chol)))
        - 0.5 * (df + p) * np.log1p(np.sum(y * y, 1) / df)
    )


def _t_draws(rng, n: int, mean: np.ndarray, chol: np.ndarray, df: float) -> np.ndarray:
    z = rng.standard_normal((n, mean.size))
    w = rng.chisquare(df, size=n) / df
    return mean + (z @ chol.T) / np.sqrt(w)[:, None]


def _importance(
    target: _Target, mean: np.ndarray, cov: np.ndarray, seed: int, n: int, df: float = 5.0
) -> tuple:
    """Importance sampling from a multivariate Student-t (``df`` = 5) centred at
    ``mean``, scale matrix ``cov`` (the inverse Hessian at the mode, or a
    moment-matched covariance) inflated by 1.2.

    The Pareto k of the weights (PSIS, Vehtari et al. 2024) says whether their
    variance is finite, i.e. whether the standard error can be trusted.
    """
    p = target.size
    rng = np.random.default_rng(seed)
    cov = cov * 1.2**2
    chol = np.linalg.cholesky(0.5 * (cov + cov.T))
    x = _t_draws(rng, n, mean, chol, df)
    lw = target.logq(x) - _t_logpdf(x, mean, chol, df)
    log_z, rel_se, khat = _is_summary(lw)
    wn = np.exp(lw - np.max(lw))
    details = {
        "n": n,
        "pareto_k": khat,
        "ess": float(wn.sum() ** 2 / np.sum(wn**2)),
        "dim": p,
        "proposal": f"student-t(df={df:g})",
    }
    return log_z, rel_se, n, details, (x, lw)


def _is_summary(lw: np.ndarray) -> tuple[float, float, float]:
    """log of the mean weight, its standard error (delta method) and the Pareto k."""
    n = lw.size
    log_z = float(logsumexp(jnp.asarray(lw)) - math.log(n))
    wn = np.exp(lw - np.max(lw))
    rel_se = float(np.std(wn) / (np.mean(wn) * math.sqrt(n)))
    return log_z, rel_se, _arviz.pareto_khat(lw)
