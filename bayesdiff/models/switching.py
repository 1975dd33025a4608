"""Multi-state switching diffusion: a hidden Markov model of Brownian states."""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import gammaln
from numpyro.distributions import constraints
from numpyro.distributions.transforms import (
    AffineTransform,
    ComposeTransform,
    ExpTransform,
    OrderedTransform,
    SigmoidTransform,
    biject_to,
)
from numpyro.infer.reparam import TransformReparam

from .._kernels import hmm
from ..errors import ModelError, ParameterError
from ..tracks import Track, TrackSet
from .base import Model, TrackData
from .priors import D_RANGE, PERSISTENCE, SIGMA_RANGE, V_SCALE

__all__ = ["Switching", "OrderedLogUniform", "fit_ml"]

#: Where ``simulate_with_states`` collects the hidden states drawn by ``_simulate``.
_STATES: contextvars.ContextVar[dict | None] = contextvars.ContextVar("_STATES", default=None)

_LOG2PI = float(np.log(2 * np.pi))


# -----------------------------------------------------------------------------
# an ordered prior for the diffusion coefficients
# -----------------------------------------------------------------------------
class _OrderedInterval(constraints.Constraint):
    """Increasing vectors with every entry in the open interval (lower, upper)."""

    event_dim = 1

    def __init__(self, lower: float, upper: float):
        self.lower = lower
        self.upper = upper

    def __call__(self, x):
        x = jnp.asarray(x)
        inside = jnp.all((x > self.lower) & (x < self.upper), axis=-1)
        return inside & jnp.all(jnp.diff(x, axis=-1) > 0, axis=-1)

    def feasible_like(self, prototype):
        K = jnp.shape(prototype)[-1]
        lo, hi = np.log(self.lower), np.log(self.upper)
        grid = jnp.exp(lo + (hi - lo) * (jnp.arange(K) + 1.0) / (K + 1))
        return jnp.broadcast_to(grid, jnp.shape(prototype))

    def tree_flatten(self):
        return (self.lower, self.upper), (("lower", "upper"), {})

    def __eq__(self, other):
        return (
            isinstance(other, _OrderedInterval)
            and self.lower == other.lower
            and self.upper == other.upper
        )

    def __hash__(self):
        return hash((type(self).__name__, self.lower, self.upper))


@biject_to.register(_OrderedInterval)
def _ordered_interval_bijection(c: _OrderedInterval):
    lo, hi = float(np.log(c.lower)), float(np.log(c.upper))
    return ComposeTransform(
        [OrderedTransform(), SigmoidTransform(), AffineTransform(lo, hi - lo), ExpTransform()]
    )


class OrderedLogUniform(dist.Distribution):
    """``K`` independent ``LogUniform(low, high)`` values, sorted increasingly.

    The default prior of the switching model's state diffusion coefficients:
    each ``D_k`` is log-uniform on ``(low, high)`` and the labels are fixed by
    ordering, ``D_1 < D_2 < ... < D_K`` (the order statistics of ``K`` draws).

    Parameters
    ----------
    low, high : float
        Bounds (``0 < low < high``).
    n : int
        Length of the vector (number of states).

    Notes
    -----
    Density on the ordered set: ``K! prod_k 1 / (D_k log(high / low))``. NUTS
    works on ``x`` in ``R^K`` with ``D = exp(a + b sigmoid(ordered(x)))``,
    ``ordered(x) = cumsum(x_1, exp(x_2), ..., exp(x_K))`` (Stan's ordered
    transform), so every point of the unconstrained space is a valid, ordered
    value.
    """

    arg_constraints = {"low": constraints.positive, "high": constraints.positive}
    pytree_aux_fields = ("low", "high", "n")
    reparametrized_params = []

    def __init__(self, low: float, high: float, n: int, *, validate_args=None):
        if not 0 < float(low) < float(high):
            raise ModelError(f"OrderedLogUniform needs 0 < low < high, got low={low}, high={high}")
        self.low, self.high, self.n = float(low), float(high), int(n)
        super().__init__(batch_shape=(), event_shape=(self.n,), validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=1)
    def support(self):
        return _OrderedInterval(self.low, self.high)

    def sample(self, key, sample_shape=()):
        lo, hi = np.log(self.low), np.log(self.high)
        u = jax.random.uniform(key, (*sample_shape, self.n), minval=lo, maxval=hi)
        return jnp.exp(jnp.sort(u, axis=-1))

    def log_prob(self, value):
        width = np.log(self.high / self.low)
        lp = gammaln(self.n + 1.0) - jnp.sum(jnp.log(value), -1) - self.n * np.log(width)
        return jnp.where(self.support(value), lp, -jnp.inf)


# -----------------------------------------------------------------------------
# the model
# -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class Switching(Model):
    """Switching diffusion: ``K`` Brownian states linked by a hidden Markov chain.

    Parameters
    ----------
    n_states : int
        Number of hidden diffusive states ``K`` (1-6).
    drift : bool
        Give each state a constant velocity ``v_k`` (length/s per coordinate).
    noise : bool
        Add static Gaussian localization error ``sigma`` (length) to every
        position, in the approximate (independent-increment) form described below.
    ml_init : bool
        Start NUTS from a maximum-likelihood fit of the track by hmmlearn
        (:func:`fit_ml`) instead of the default quantile-based starting values.
    priors : mapping, optional
        Replaces default priors:

        * ``D`` -- :class:`OrderedLogUniform` ``(1e-4, 1e3, K)`` (µm²/s): the
          ``K`` coefficients are independent log-uniform values, sorted so that
          ``D_1 < D_2 < ... < D_K`` (this removes label switching). A scalar
          ``dist.LogUniform(low, high)`` is accepted and turned into
          ``OrderedLogUniform(low, high, K)``; any other distribution must have
          event shape ``(K,)`` and support on increasing vectors.
        * ``P`` -- rows independent ``Dirichlet``, concentration 10 on the
          diagonal and 1 elsewhere (``PERSISTENCE``): a priori
          ``E[P_kk] = 10 / (9 + K)`` (0.91 for K = 2, mean dwell ~ 11 frames),
          and ``P_kk < 0.5`` has prior probability ~ 0.002 for K = 2. Give
          ``dist.Dirichlet(conc)`` with ``conc`` of shape ``(K, K)`` to change it.
        * ``v`` -- ``Normal(0, 1)`` (µm/s) for every state and coordinate.
        * ``sigma`` -- ``LogUniform(1e-3, 1)`` (µm).

    Notes
    -----
    **Model.** A hidden state ``s_f`` in ``{1..K}`` per frame interval follows a
    Markov chain with transition matrix ``P`` (row = from, column = to,
    ``P_ij = p(s_{f+1} = j | s_f = i)`` per frame), started from its stationary
    distribution ``pi = pi P``. In state ``k`` a particle does Brownian motion
    with ``MSD_1d(t) = 2 D_k t`` and velocity ``v_k``. Parameters: ``D``
    (shape (K,)), ``P`` (shape (K, K); absent for ``K = 1``), ``v`` (shape
    (K, dim)), ``sigma`` (scalar).

    **Emission.** Increment ``x_t`` over ``tau_t = lag_t dt`` is, per coordinate,

        x_t | s_t = k  ~  N(v_k tau_t, 2 D_k tau_t + 2 sigma^2),

    independently of the other increments given the states. Without noise and
    without gaps this is exact. With noise it is an approximation: static
    localization error makes consecutive increments anticorrelated
    (covariance ``-sigma^2``), which this emission ignores; the variance of each
    increment is right. Because of that, with equally spaced frames ``sigma``
    enters the likelihood only through ``2 D_k tau + 2 sigma^2`` and is not
    identified by the data -- its posterior is essentially its prior
    (truncated so that every ``D_k > 0``); give an informative ``sigma`` prior
    when the localization error is known, or leave ``noise=False`` and read
    ``D_k`` as ``D_k + sigma^2 / tau`` (bias measured in
    ``benchmarks/switching.py``).

    **Gaps.** An increment spanning ``L`` frames is emitted by the state of its
    last frame interval, and the chain moves ``L`` frames between consecutive
    increments: the transition into increment ``t`` is ``P^L_t``, computed by
    binary exponentiation (:func:`bayesdiff._kernels.hmm.matrix_power`, 12
    squarings, lags up to 4095 frames). This is the exact likelihood of the
    model on the full frame grid where the emissions of the missing frames are
    not observed, with a state held constant over the gap for the emission (a
    switch inside a gap is not split).

    **Likelihood.** The states are summed out by the forward algorithm
    (:func:`bayesdiff._kernels.hmm.forward`); its one-step predictive densities
    are the pointwise log-likelihoods. NUTS samples only the continuous
    parameters. Posterior state probabilities, the most probable path and
    changepoints come afterwards from :func:`bayesdiff.segment`.

    **Pooling.** ``bd.sample(Switching(...), trackset)`` fits one ``D`` and one
    ``P`` to all tracks (:meth:`numpyro_model_pooled`): the hidden states of
    different tracks are independent chains sharing the parameters, each
    started from its stationary distribution. ``bd.sample_many`` fits each
    track separately.

    References
    ----------
    Persson, Lindén, Unoson, Elf, "Extracting intracellular diffusive states and
    transition rates from single-molecule tracking data", Nat. Methods 10, 265
    (2013) (vbSPT). Das, Cairo, Coombs, "A hidden Markov model for single
    particle tracks quantifies dynamic interactions between LFA-1 and the
    actin cytoskeleton", PLoS Comput. Biol. 5, e1000556 (2009). Rabiner, Proc.
    IEEE 77, 257 (1989).

    Examples
    --------
    >>> import bayesdiff as bd
    >>> m = bd.models.Switching(n_states=2)
    >>> m.name, m.param_names
    ('switching2', ('D', 'P'))
    >>> ts = m.simulate(seed=0, params={"D": [0.05, 0.5], "P": [[0.98, 0.02], [0.02, 0.98]]},
    ...                 n_steps=100, dt=0.01, dim=2, n_tracks=2)
    >>> ts[0].positions.shape
    (101, 2)
    """

    n_states: int = 2
    drift: bool = False
    noise: bool = False
    ml_init: bool = False

    kind: ClassVar[str] = "switching"
    min_points: ClassVar[int] = 2
    vector_params: ClassVar[tuple[str, ...]] = ("v",)
    param_domains: ClassVar[Mapping[str, tuple[float, float]]] = {
        "D": (0.0, math.inf), "sigma": (0.0, math.inf),
    }  # fmt: skip
    supports_segmentation: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not isinstance(self.n_states, (int, np.integer)) or not 1 <= self.n_states <= 6:
            raise ModelError(f"n_states must be an integer from 1 to 6, got {self.n_states!r}")
        super().__post_init__()

    # -- configuration -----------------------------------------------------------
    @property
    def name(self) -> str:
        opts = [f for f in ("drift", "noise") if getattr(self, f)]
        return "+".join([f"{self.kind}{self.n_states}", *opts])

    @property
    def param_names(self) -> tuple[str, ...]:
        names = ["D"]
        if self.n_states > 1:
            names.append("P")
        if self.drift:
            names.append("v")
        if self.noise:
            names.append("sigma")
        return tuple(names)

    def default_priors(self) -> dict[str, dist.Distribution]:
        K = self.n_states
        conc = np.ones((K, K)) + (PERSISTENCE - 1.0) * np.eye(K)
        return {
            "D": OrderedLogUniform(*D_RANGE, K),
            "P": dist.Dirichlet(jnp.asarray(conc)),
            "v": dist.Normal(0.0, V_SCALE),
            "sigma": dist.LogUniform(*SIGMA_RANGE),
        }

    def prior(self, name: str) -> dist.Distribution:
        d = super().prior(name)
        K = self.n_states
        if name == "D":
            if isinstance(d, dist.LogUniform) and d.event_shape == () and d.batch_shape == ():
                return OrderedLogUniform(float(d.low), float(d.high), K)
            if d.event_shape != (K,):
                raise ModelError(
                    f"{self.name}: the prior of D must be a distribution over increasing vectors "
                    f"of length {K} (e.g. OrderedLogUniform(low, high, {K})), got event shape "
                    f"{d.event_shape}"
                )
        if name == "P" and tuple(d.batch_shape) + tuple(d.event_shape) != (K, K):
            raise ModelError(
                f"{self.name}: the prior of P must have shape ({K}, {K}) (one row each)"
            )
        return d

    def param_shape(self, name: str, dim: int) -> tuple[int, ...]:
        K = self.n_states
        return {"D": (K,), "P": (K, K), "v": (K, dim), "sigma": ()}[name]

    def param_dims(self, name: str) -> tuple[str, ...] | None:
        """ArviZ dimension names of each parameter's trailing axes."""
        return {"D": ("state",), "P": ("state", "to_state"), "v": ("state", "coord"),
                "sigma": ()}.get(name)  # fmt: skip

    def _check_params(self, params: Mapping, dim: int) -> dict:
        if isinstance(params, Mapping) and self.n_states > 1 and "v" in params:
            v = jnp.asarray(params["v"])
            if v.shape == (dim,):
                params = {**params, "v": jnp.broadcast_to(v, (self.n_states, dim))}
        return super()._check_params(params, dim)

    # -- NumPyro -------------------------------------------------------------------
    def sample_params(self, dim: int) -> dict[str, jax.Array]:
        """Inside a NumPyro model: ``D`` (ordered), ``P`` (Dirichlet rows), ``v``, ``sigma``."""
        params = {"D": numpyro.sample("D", self.prior("D"))}
        if self.n_states > 1:
            prior_p = self.prior("P")
            params["P"] = numpyro.sample("P", prior_p.to_event(len(prior_p.batch_shape)))
        if self.drift:
            shape = self.param_shape("v", dim)
            params["v"] = numpyro.sample("v", self.prior("v").expand(shape).to_event(len(shape)))
        if self.noise:
            prior_s = self.prior("sigma")
            if isinstance(prior_s, dist.TransformedDistribution):
                with numpyro.handlers.reparam(config={"sigma": TransformReparam()}):
                    params["sigma"] = numpyro.sample("sigma", prior_s)
            else:
                params["sigma"] = numpyro.sample("sigma", prior_s)
        return params

    def init_values(self, data: TrackData) -> dict[str, jax.Array]:
        """Starting values for NUTS (constrained), pure JAX (works under ``vmap``).

        ``D_k`` from quantiles of the locally averaged squared displacements
        (5-step moving average of ``|x_t|^2 / (2 dim tau_t)``, split into ``K``
        equal-count groups), ``P`` with 0.9 on the diagonal, ``v`` the mean
        velocity, ``sigma`` a tenth of the slowest state's per-frame step. With
        ``ml_init=True`` a hmmlearn maximum-likelihood fit instead.
        """
        if self.ml_init:
            return self._ml_init_values(data)
        K = self.n_states
        m = data.mask
        tau = data.lags * data.dt
        nobs = jnp.maximum(jnp.sum(m), 1)
        v0 = jnp.sum(jnp.where(m[:, None], data.increments, 0.0), 0) / jnp.sum(
            jnp.where(m, tau, 0.0)
        )
        x = data.increments - (v0 * tau[:, None] if self.drift else 0.0)
        r = jnp.where(m, jnp.sum(x**2, -1) / (2 * data.dim * tau), 0.0)
        w = jnp.ones(5)
        num = jnp.convolve(r, w, mode="same")
        den = jnp.convolve(m.astype(r.dtype), w, mode="same")
        rs = jnp.where(m, num / jnp.maximum(den, 1.0), jnp.inf)
        srt = jnp.sort(rs)
        rank = jnp.arange(rs.shape[0])
        group = jnp.minimum((rank * K) // nobs, K - 1)
        valid = rank < nobs
        sums = jnp.zeros(K).at[group].add(jnp.where(valid, srt, 0.0))
        counts = jnp.zeros(K).at[group].add(valid.astype(r.dtype))
        mean_all = jnp.sum(jnp.where(valid, srt, 0.0)) / nobs
        D0 = jnp.where(counts > 0, sums / jnp.maximum(counts, 1.0), mean_all)
        # strictly increasing by at least 20 % per state
        logD = jnp.log(jnp.maximum(D0, 1e-12))
        logD = jax.lax.associative_scan(jnp.maximum, logD - jnp.log(1.2) * jnp.arange(K))
        logD = logD + jnp.log(1.2) * jnp.arange(K)
        out = {"D": self._clip_D(jnp.exp(logD))}
        if K > 1:
            out["P"] = 0.9 * jnp.eye(K) + 0.1 / (K - 1) * (1 - jnp.eye(K))
        if self.drift:
            out["v"] = jnp.broadcast_to(v0, (K, data.dim))
        if self.noise:
            lo, hi = self._sigma_bounds()
            out["sigma"] = jnp.clip(0.1 * jnp.sqrt(2 * out["D"][0] * data.dt), lo, hi)
        return out

    def init_values_pooled(self, batches: Sequence[tuple[TrackData, bool]]) -> dict[str, jax.Array]:
        """Starting values for a pooled fit, from the increments of every track.

        Same rule as :meth:`init_values`, applied to all tracks' increments laid
        end to end (``batches`` as in :meth:`numpyro_model_pooled`).
        """
        dim = batches[0][0].dim
        inc = jnp.concatenate([d.increments.reshape(-1, dim) for d, _ in batches])
        lags = jnp.concatenate([d.lags.reshape(-1) for d, _ in batches])
        mask = jnp.concatenate([d.mask.reshape(-1) for d, _ in batches])
        dt = jnp.ravel(batches[0][0].dt)[0]
        flat = TrackData(inc, lags, mask, dt, jnp.zeros(dim))
        return self.init_values(flat)

    def _clip_D(self, D: jax.Array) -> jax.Array:
        """Keep increasing starting values strictly inside a bounded ``D`` prior."""
        sup = self.prior("D").support
        if not isinstance(sup, _OrderedInterval):
            return D
        k = jnp.arange(self.n_states)
        lo = sup.lower * (1 + 1e-3) ** (k + 1)
        hi = sup.upper * (1 - 1e-3) ** (self.n_states - k)
        return jnp.clip(D, lo, hi)

    def _sigma_bounds(self) -> tuple[float, float]:
        sup = self.prior("sigma").support
        lo = float(getattr(sup, "lower_bound", 1e-12))
        hi = float(getattr(sup, "upper_bound", 1e12))
        pad = (hi - lo) * 1e-6
        return lo + pad, hi - pad

    def _ml_init_values(self, data: TrackData) -> dict[str, jax.Array]:
        K, dim = self.n_states, data.dim
        shapes = {"D": jax.ShapeDtypeStruct((K,), jnp.float64)}
        if K > 1:
            shapes["P"] = jax.ShapeDtypeStruct((K, K), jnp.float64)
        if self.drift:
            shapes["v"] = jax.ShapeDtypeStruct((K, dim), jnp.float64)

        fallback = dataclasses.replace(self, ml_init=False).init_values(data)
        fb = {k: fallback[k] for k in shapes}

        def host(inc, lags, mask, dt, fb):
            mask = np.asarray(mask, bool)
            n = int(mask.sum())
            try:
                if n < 4 * K:
                    raise ValueError("too few increments for an EM fit")
                est = _fit_increments([np.asarray(inc)[:n]], [np.asarray(lags)[:n]], float(dt),
                                      K, self.drift, n_iter=50, seed=0)  # fmt: skip
            except Exception:  # EM failed: keep the quantile start
                est = fb
            return {k: np.asarray(est[k], np.float64) for k in shapes}

        est = jax.pure_callback(
            host, shapes, data.increments, data.lags, data.mask, data.dt, fb,
            vmap_method="sequential",
        )  # fmt: skip
        out = dict(fallback)
        out["D"] = self._clip_D(est["D"])
        if K > 1:
            P = jnp.clip(est["P"], 1e-3, None)
            out["P"] = P / P.sum(-1, keepdims=True)
        if self.drift:
            out["v"] = est["v"]
        return out

    # -- likelihood ----------------------------------------------------------------
    def hmm_inputs(
        self, params: Mapping, data: TrackData, regular: bool
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """The HMM of one track: ``(log_init, log_trans, log_emit, mask)``.

        Shapes (K,), (K, K) or (n - 1, K, K) with gaps, (n, K), (n,); the inputs
        of :func:`bayesdiff._kernels.hmm.forward`.
        """
        K = self.n_states
        D = jnp.reshape(params["D"], (K,))
        P = params["P"] if K > 1 else jnp.ones((1, 1))
        P = jnp.maximum(P, 1e-300)
        tau = data.lags * data.dt  # (n,)
        var = 2.0 * D[None, :] * tau[:, None]  # (n, K)
        if self.noise:
            var = var + 2.0 * params["sigma"] ** 2
        x = jnp.where(data.mask[:, None], data.increments, 0.0)  # (n, dim)
        if self.drift:
            mean = params["v"][None, :, :] * tau[:, None, None]  # (n, K, dim)
            sq = jnp.sum((x[:, None, :] - mean) ** 2, -1)
        else:
            sq = jnp.sum(x**2, -1)[:, None]
        dim = x.shape[-1]
        log_emit = -0.5 * (sq / var + dim * (jnp.log(var) + _LOG2PI))
        log_init = jnp.log(jnp.maximum(hmm.stationary(P), 1e-300))
        if regular:
            log_trans = jnp.log(P)
        else:
            powers = jax.vmap(lambda L: hmm.matrix_power(P, L))(jnp.round(data.lags[1:]))
            log_trans = jnp.log(jnp.maximum(powers, 1e-300))
        return log_init, log_trans, log_emit, data.mask

    def pointwise_from_data(self, params: Mapping, data: TrackData, regular: bool) -> jax.Array:
        """One-step predictive log densities ``log p(x_t | x_<t)`` (states summed out), (n,)."""
        _, pw = hmm.forward(*self.hmm_inputs(params, data, regular))
        return jnp.where(data.mask, pw, 0.0)

    def state_probs_from_data(self, params: Mapping, data: TrackData, regular: bool) -> jax.Array:
        """Posterior state probabilities ``p(s_t = k | x, params)``, (n, K); 0 where masked."""
        return hmm.forward_backward(*self.hmm_inputs(params, data, regular))

    def viterbi_from_data(self, params: Mapping, data: TrackData, regular: bool) -> jax.Array:
        """Most probable state path given ``params``, shape (n,), -1 where masked."""
        return hmm.viterbi(*self.hmm_inputs(params, data, regular))

    # -- simulation ----------------------------------------------------------------
    def _simulate(self, rng, params, frames, dt, dim, n_tracks, start) -> np.ndarray:
        pos, states = self._simulate_states(rng, params, frames, dt, dim, n_tracks, start)
        box = _STATES.get()
        if box is not None:
            box["states"] = states
        return pos

    def _simulate_states(self, rng, params, frames, dt, dim, n_tracks, start):
        K = self.n_states
        n_frames = int(frames[-1])
        D = params["D"].reshape(n_tracks, K)
        P = params["P"] if K > 1 else np.ones((n_tracks, 1, 1))
        cum = np.cumsum(P, axis=-1)
        cum[..., -1] = 1.0
        pi = np.stack([np.asarray(hmm.stationary(jnp.asarray(p))) for p in P])
        pi = np.clip(pi, 0, None)
        pi /= pi.sum(-1, keepdims=True)
        states = np.empty((n_tracks, n_frames), dtype=np.int64)
        u = rng.random((n_tracks, n_frames))
        s = (u[:, 0, None] > np.cumsum(pi, -1)[:, :-1]).sum(-1)
        states[:, 0] = s
        rows = np.arange(n_tracks)
        for f in range(1, n_frames):
            c = cum[rows, s]  # (n_tracks, K)
            s = (u[:, f, None] > c[:, :-1]).sum(-1)
            states[:, f] = s
        Ds = np.take_along_axis(D, states, axis=1)  # (n_tracks, n_frames)
        inc = np.sqrt(2 * Ds * dt)[..., None] * rng.standard_normal((n_tracks, n_frames, dim))
        if self.drift:
            v = params["v"].reshape(n_tracks, K, dim)
            inc = inc + np.take_along_axis(v, states[..., None], axis=1) * dt
        pos = np.concatenate([np.zeros((n_tracks, 1, dim)), np.cumsum(inc, axis=1)], axis=1)
        pos = pos[:, frames]
        if self.noise:
            pos = pos + params["sigma"].reshape(n_tracks, 1, 1) * rng.standard_normal(pos.shape)
        if start is not None:
            pos = pos + np.asarray(start, dtype=np.float64)
        # the state of each observed increment: that of its last frame interval
        obs_states = states[:, frames[1:] - 1]
        return pos, obs_states

    def simulate_with_states(
        self,
        seed: int,
        params: Mapping,
        n_steps: int,
        dt: float,
        dim: int = 1,
        n_tracks: int = 1,
        frames: np.ndarray | None = None,
        start: np.ndarray | None = None,
    ) -> tuple[TrackSet, np.ndarray]:
        """Like :meth:`simulate`, also returning the true hidden states.

        Returns
        -------
        tracks : TrackSet
            The same tracks as ``simulate`` with the same arguments.
        states : array of int, shape (n_tracks, n_steps)
            State (0-based, ordered like ``D``) of each observed increment: that
            of the increment's last frame interval.
        """
        token = _STATES.set({})
        try:
            tracks = self.simulate(seed, params, n_steps, dt, dim, n_tracks, frames, start)
            states = _STATES.get()["states"]
        finally:
            _STATES.reset(token)
        return tracks, states

    def _per_track_params(self, params: Mapping, dim: int, n_tracks: int) -> dict[str, np.ndarray]:
        params = dict(params)
        K = self.n_states
        if self.drift and "v" in params:
            v = np.asarray(params["v"], np.float64)
            if v.shape == (dim,) and (K, dim) != (dim,):
                params["v"] = np.broadcast_to(v, (K, dim))
        out = super()._per_track_params(params, dim, n_tracks)
        if K > 1:
            P = out["P"]
            if not np.allclose(P.sum(-1), 1.0, atol=1e-8):
                raise ParameterError(f"{self.name}: every row of P must sum to 1")
        return out

    # -- maximum likelihood (hmmlearn) -------------------------------------------------
    def fit_ml(self, tracks: Track | TrackSet, n_iter: int = 200, seed: int = 0) -> dict[str, Any]:
        """Maximum-likelihood estimate by hmmlearn's EM (Baum-Welch); see :func:`fit_ml`."""
        return fit_ml(self, tracks, n_iter=n_iter, seed=seed)


# -----------------------------------------------------------------------------
# hmmlearn maximum likelihood
# -----------------------------------------------------------------------------
def _zero_mean_hmm_class():
    from hmmlearn.hmm import GaussianHMM

    class _GaussianHMM(GaussianHMM):
        """GaussianHMM that always collects the occupancy statistics.

        hmmlearn 0.3.3 accumulates ``stats['post']`` (state occupancies) only
        when the means are estimated (``'m' in params``); the variance update
        divides by them, so holding the means fixed at zero makes the variances
        blow up. Collecting them always fixes it.
        """

        def _needs_sufficient_statistics_for_mean(self):
            return True

    return _GaussianHMM


def _fit_increments(incs, lags, dt, K, drift, n_iter=200, seed=0):
    """EM fit of the switching emission to per-frame-normalized increments."""
    hmm_cls = _zero_mean_hmm_class()
    X = np.concatenate([x / np.sqrt(L)[:, None] for x, L in zip(incs, lags, strict=True)])
    lengths = [len(x) for x in incs]
    dim = X.shape[1]
    params = "stmc" if drift else "stc"
    model = hmm_cls(
        n_components=K, covariance_type="spherical", n_iter=n_iter, tol=1e-6,
        random_state=seed, params=params, init_params="",
    )  # fmt: skip
    r = np.sum(X**2, 1) / dim
    qs = np.quantile(r, (np.arange(K) + 0.5) / K) if K > 1 else np.array([r.mean()])
    model.startprob_ = np.full(K, 1.0 / K)
    model.transmat_ = 0.9 * np.eye(K) + (0.1 / (K - 1) if K > 1 else 0.0) * (1 - np.eye(K))
    if drift:
        model.means_ = np.tile(X.mean(0), (K, 1))
    else:
        model.means_ = np.zeros((K, dim))
    model.covars_ = np.maximum(qs, 1e-12)
    log = logging.getLogger("hmmlearn")
    level = log.level
    log.setLevel(logging.ERROR)  # EM's "not converging" chatter on round-off-sized decreases
    try:
        model.fit(X, lengths)
    finally:
        log.setLevel(level)
    svar = np.asarray(model._covars_).reshape(K, -1).mean(1)  # spherical: one variance per state
    order = np.argsort(svar)
    var = svar[order]  # per coordinate, per frame: 2 D dt
    means = model.means_[order]
    if drift:
        # the means are per-frame displacements of the normalized increments; good
        # as velocities only for regular tracks
        v = means / dt
    else:
        v = np.zeros((K, dim))
    out = {"D": var / (2 * dt), "P": model.transmat_[np.ix_(order, order)], "v": v,
           "loglik": float(model.score(X, lengths)), "converged": bool(model.monitor_.converged),
           "hmm": model, "order": order}  # fmt: skip
    return out


def fit_ml(
    model: Switching, tracks: Track | TrackSet, n_iter: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Maximum-likelihood fit of a switching model by hmmlearn (Baum-Welch EM).

    A ``GaussianHMM`` with spherical (isotropic) covariance on the increments
    (divided by ``sqrt(lag)`` for gaps): state variance ``2 D_k dt`` per
    coordinate, means fixed at zero unless ``model.drift``. Localization noise is
    not separated (``D_k`` absorbs ``sigma^2 / dt``). The states are sorted by
    ``D``. Used as a reference point estimate and, with ``ml_init=True``, as the
    NUTS starting point.

    Parameters
    ----------
    model : Switching
    tracks : Track or TrackSet
        One track, or several fitted jointly (shared parameters).
    n_iter : int
        Maximum EM iterations.
    seed : int
        Random state of hmmlearn.

    Returns
    -------
    dict
        ``D`` (K,), ``P`` (K, K), ``v`` (K, dim), ``loglik`` (hmmlearn's score of
        the normalized increments), ``converged``, and ``hmm`` (the fitted
        hmmlearn object, its states permuted by ``order``).
    """
    ts = [tracks] if isinstance(tracks, Track) else list(tracks)
    if not ts:
        raise ModelError("fit_ml needs at least one track")
    dts = {t.dt for t in ts}
    if len(dts) != 1:
        raise ModelError("fit_ml needs tracks with one frame interval")
    incs = [t.increments for t in ts if t.n_steps >= 1]
    lags = [t.lags.astype(float) for t in ts if t.n_steps >= 1]
    return _fit_increments(incs, lags, dts.pop(), model.n_states, model.drift, n_iter, seed)
