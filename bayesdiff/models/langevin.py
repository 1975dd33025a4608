"""Overdamped Langevin motion in a harmonic trap (Ornstein-Uhlenbeck process)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from functools import partial
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer.reparam import TransformReparam

from .._kernels.gaussian import forward_mode_vjp, independent_pointwise
from .._kernels.kalman import kalman_pointwise
from .base import Model, TrackData
from .priors import C_SCALE, D_RANGE, K_RANGE, SIGMA_RANGE, V_SCALE

__all__ = ["Langevin", "StationaryCentre", "ou_transition"]


def _phi1(x: jax.Array) -> jax.Array:
    """``(1 - exp(-x)) / x`` for x >= 0 (1 at x = 0), accurate and smooth near 0."""
    small = x < 1e-4
    xs = jnp.where(small, 1.0, x)
    series = 1.0 - x / 2 + x * x / 6 - x**3 / 24
    return jnp.where(small, series, -jnp.expm1(-xs) / xs)


def _phi2(x: jax.Array) -> jax.Array:
    """``1 - (1 - exp(-x)) / x = (x - 1 + exp(-x)) / x`` for x >= 0 (0 at x = 0)."""
    small = x < 1e-2
    xs = jnp.where(small, 1.0, x)
    series = x / 2 - x**2 / 6 + x**3 / 24 - x**4 / 120 + x**5 / 720
    return jnp.where(small, series, (xs + jnp.expm1(-xs)) / xs)


class StationaryCentre(dist.Normal):
    """Default prior of the Langevin trap centre ``c``: the steady state seen from the first point.

    Inside :meth:`Langevin.numpyro_model` (the prior used for posteriors and
    evidence) the centre is given, per coordinate, the distribution it has
    conditionally on the first observed position ``y_0`` when the track
    starts in the steady state and nothing else singles out a place:

        c | y_0, D, k, v, sigma ~ Normal(y_0 + v/k, D/k + sigma^2),

    i.e. the trap is within a trap size of where the particle was first seen.
    This is the conditional of a flat prior on ``c`` given ``y_0``, so the
    model is exactly the stationary process with a translation-invariant
    prior, conditioned on ``y_0`` like the likelihood (and like the
    increments-based likelihoods of Brownian motion and FBM, so evidences stay
    comparable). It depends on the data only through ``y_0``, which every
    likelihood conditions on, never on ``y_1..y_n``.

    A fixed wide prior such as ``Normal(0, 100 µm)`` would instead reward
    ``k -> 0``, where ``c`` is unconstrained and keeps its whole prior volume:
    moderately confined tracks would then be called free.

    Where no first position is at hand (drawing parameters from the prior to
    simulate, pooled fits of several tracks) it is ``Normal(0, scale)``.

    Parameters
    ----------
    scale : float
        Standard deviation (length) of the unconditional fallback.
    """

    def __init__(self, scale: float = 100.0, *, validate_args=None):
        super().__init__(0.0, scale, validate_args=validate_args)


def ou_transition(k: jax.Array, D: jax.Array, tau: jax.Array) -> tuple[jax.Array, ...]:
    """Exact one-coordinate OU transition over a time lag ``tau``.

    For ``dX = -k (X - c - v t) dt + sqrt(2 D) dW``,
    ``X(t + tau) | X(t) ~ N(X(t) - g (X(t) - c - v t) + v tau h, q)`` with the
    returned ``g = 1 - exp(-k tau)``, ``h = 1 - g / (k tau)`` and
    ``q = (D / k)(1 - exp(-2 k tau))``, all finite and smooth as ``k -> 0``
    (where ``g, h -> 0`` and ``q -> 2 D tau``: Brownian motion).

    Parameters
    ----------
    k, D : scalars
        Stiffness (1/s) and diffusion coefficient (length²/s).
    tau : array
        Time lags in seconds.

    Returns
    -------
    g, h, q : arrays shaped like ``tau``
    """
    kt = k * tau
    g = -jnp.expm1(-kt)
    h = _phi2(kt)
    q = 2.0 * D * tau * _phi1(2.0 * kt)
    return g, h, q


@dataclasses.dataclass(frozen=True, kw_only=True)
class Langevin(Model):
    """Overdamped Langevin motion in a harmonic trap (Ornstein-Uhlenbeck process).

    Parameters
    ----------
    drift : bool
        Let the trap centre move at a constant velocity ``v`` (length/s, one
        component per dimension): ``c(t) = c + v t``.
    noise : bool
        Add static Gaussian localization error ``sigma`` (length) to every position.
    priors : mapping, optional
        Replaces default priors (each a NumPyro distribution; ``c`` and ``v``
        take a scalar distribution applied to every coordinate):

        * ``D ~ LogUniform(1e-4, 1e3)`` (µm²/s),
        * ``k ~ LogUniform(1e-3, 1e4)`` (1/s; relaxation times 1e-4 s to 1000 s),
        * ``c ~ StationaryCentre()``: each coordinate within a trap size of the
          first observed position, ``Normal(y_0 + v/k, D/k + sigma^2)`` (see
          :class:`StationaryCentre`; ``Normal(0, 100)`` µm where no track is
          given, e.g. to simulate from the prior),
        * ``v ~ Normal(0, 1)`` (µm/s, each component),
        * ``sigma ~ LogUniform(1e-3, 1)`` (µm).

        Any other prior for ``c`` is an absolute one, the same for every
        track, e.g. ``{"c": dist.Uniform(0.0, 500.0)}`` for a field of view of
        500 µm; note that a wide absolute prior favours ``k -> 0`` (see
        :class:`StationaryCentre`).

    Notes
    -----
    Each coordinate follows, independently,

    .. math:: dX = -k\\,(X - c(t))\\,dt + \\sqrt{2 D}\\,dW, \\qquad c(t) = c + v t,

    with ``t`` measured from the track's first observation (so ``c`` is the
    trap centre at that time). ``D`` is the free diffusion coefficient
    (``MSD_1d(t) = 2 D t`` for ``t << 1/k``), ``1/k`` the relaxation time and
    ``sqrt(D/k)`` the trap size: the stationary standard deviation of each
    coordinate about the centre (``MSD_1d(t) -> 2 D/k``). With a moving trap
    the particle lags behind the centre by ``v/k`` in the steady state. The
    observed positions are ``y_j = X(t_j) + sigma eps_j``.

    The transition over a time lag ``tau`` is exact (:func:`ou_transition`):
    ``X(t + tau) | X(t)`` is Gaussian with mean
    ``X(t) - (1 - e^{-k tau})(X(t) - c(t)) + v tau h(k tau)`` and variance
    ``(D/k)(1 - e^{-2 k tau})``, for any lag, so gaps are exact.

    **What is conditioned on.** The likelihood is that of the observed
    positions ``y_1..y_n`` given the first observation ``y_0`` (equivalently,
    of the increments given the first position, as for the other models).
    Without noise ``X(t_0) = y_0`` and the likelihood is the product of the
    exact AR(1) transition densities; it does not depend on how the track
    started. With noise the true first position is unknown: it is given the
    steady-state distribution ``N(c - v/k, D/k)`` (the simulator's start),
    updated by ``y_0``, and the observations are filtered exactly with a
    Kalman filter (:func:`~bayesdiff._kernels.kalman.kalman_pointwise`). This is
    ``log p(y_0..y_n) - log p(y_0)`` under the stationary process. As
    ``k -> 0`` (without drift) the model becomes Brownian motion (with noise,
    if any) and the likelihood that of :class:`~bayesdiff.models.Brownian`.
    The pointwise terms are the one-step-ahead densities ``log p(y_j | y_<j)``.

    References
    ----------
    Uhlenbeck & Ornstein, Phys. Rev. 36, 823 (1930). Krog & Lomholt, PRE 96,
    062106 (2017) (Bayesian inference with an information-content model check
    for Langevin equations). Kalman, J. Basic Eng. 82, 35 (1960).

    Examples
    --------
    >>> import bayesdiff as bd
    >>> m = bd.models.Langevin(noise=True)
    >>> m.name, m.param_names
    ('langevin+noise', ('D', 'k', 'c', 'sigma'))
    >>> ts = m.simulate(seed=0, params={"D": 0.1, "k": 2.0, "c": [1.0, 2.0], "sigma": 0.02},
    ...                 n_steps=50, dt=0.05, dim=2, n_tracks=3)
    >>> len(ts), ts[0].positions.shape
    (3, (51, 2))
    """

    drift: bool = False
    noise: bool = False

    kind: ClassVar[str] = "langevin"
    min_points: ClassVar[int] = 3
    param_domains: ClassVar[Mapping[str, tuple[float, float]]] = {
        "D": (0.0, math.inf), "k": (0.0, math.inf), "sigma": (0.0, math.inf),
    }  # fmt: skip

    @property
    def param_names(self) -> tuple[str, ...]:
        names = ["D", "k", "c"]
        if self.drift:
            names.append("v")
        if self.noise:
            names.append("sigma")
        return tuple(names)

    def default_priors(self) -> dict[str, dist.Distribution]:
        return {
            "D": dist.LogUniform(*D_RANGE),
            "k": dist.LogUniform(*K_RANGE),
            "c": StationaryCentre(C_SCALE),
            "v": dist.Normal(0.0, V_SCALE),
            "sigma": dist.LogUniform(*SIGMA_RANGE),
        }

    def prior(self, name: str) -> dist.Distribution:
        if name == "c_z":  # latent site of the stationary centre prior (see sample_params)
            return dist.Normal(0.0, 1.0)
        return super().prior(name)

    # -- likelihood ------------------------------------------------------------
    def pointwise_from_data(self, params: Mapping, data: TrackData, regular: bool) -> jax.Array:
        D, k = params["D"], params["k"]
        n, d = data.increments.shape
        inc = jnp.where(data.mask[:, None], data.increments, 0.0)
        tau = data.lags * data.dt
        t_prev = jnp.concatenate([jnp.zeros(1, tau.dtype), jnp.cumsum(tau)[:-1]])
        # work relative to the first observation: no large numbers are subtracted
        c_rel = params["c"] - data.start  # (d,)
        v = params["v"] if self.drift else jnp.zeros(d)
        centre_prev = c_rel + v * t_prev[:, None]  # trap centre at the start of each step
        g, h, q = ou_transition(k, D, tau)
        drift_term = v * (tau * h)[:, None]
        if not self.noise:
            y = jnp.cumsum(inc, axis=0)
            y_prev = y - inc
            resid = inc + g[:, None] * (y_prev - centre_prev) - drift_term
            pw = independent_pointwise(q, resid)
        else:
            y = jnp.cumsum(inc, axis=0)
            s2 = params["sigma"] ** 2
            # x_0 | y_0: steady state N(c - v/k, D/k) updated by y_0 = 0 (relative units)
            p0 = D * s2 / (D + k * s2)
            m0 = (c_rel * k - v) * s2 / (D + k * s2)
            pw = kalman_pointwise(y, 1.0 - g, g[:, None] * centre_prev + drift_term, q, s2, m0, p0)
        return jnp.where(data.mask, pw, 0.0)

    def sample_params(self, dim: int, start: jax.Array | None = None) -> dict[str, jax.Array]:
        """Inside a NumPyro model: draw the parameters from their priors.

        With the default :class:`StationaryCentre` prior and the first observed
        position ``start`` (shape (dim,)), the centre is drawn as
        ``c = start + v/k + sqrt(D/k + sigma^2) c_z`` with ``c_z ~ Normal(0, 1)``
        per coordinate (site ``c_z``, non-centred for good NUTS geometry; ``c``
        is recorded as a deterministic site). Without ``start``, or with a
        user prior for ``c``, every parameter is drawn from its prior.
        """
        if start is None or not isinstance(self.prior("c"), StationaryCentre):
            return super().sample_params(dim)
        params = {}
        for p in self.param_names:
            if p == "c":
                continue
            prior = self.prior(p)
            shape = self.param_shape(p, dim)
            if shape:
                params[p] = numpyro.sample(p, prior.expand(shape).to_event(len(shape)))
            elif isinstance(prior, dist.TransformedDistribution):  # log scale for NUTS
                with numpyro.handlers.reparam(config={p: TransformReparam()}):
                    params[p] = numpyro.sample(p, prior)
            else:
                params[p] = numpyro.sample(p, prior)
        D, k = params["D"], params["k"]
        v = params["v"] if self.drift else 0.0
        var = D / k + (params["sigma"] ** 2 if self.noise else 0.0)
        z = numpyro.sample("c_z", dist.Normal(0.0, 1.0).expand((dim,)).to_event(1))
        params["c"] = numpyro.deterministic("c", start + v / k + jnp.sqrt(var) * z)
        return {p: params[p] for p in self.param_names}

    def fast_loglik(self, params: Mapping, data: TrackData, regular: bool) -> jax.Array:
        """The log-likelihood the samplers differentiate: with noise (a long Kalman
        scan) by forward-mode derivatives, which are cheaper there."""
        loglik = partial(self.loglik_from_data, regular=regular)
        if self.noise:
            loglik = forward_mode_vjp(loglik)
        return loglik(params, data)

    def numpyro_model(self, data: TrackData, regular: bool) -> None:
        """Priors (the trap centre's given the first position) and :meth:`fast_loglik`."""
        params = self.sample_params(data.dim, data.start)
        numpyro.factor("loglik", self.fast_loglik(params, data, regular))

    def init_values(self, data: TrackData) -> dict[str, jax.Array]:
        """Moment estimates: centre = mean position, ``k`` from the lag-1
        correlation of positions, ``D = k Var[y]`` (clipped to the priors).

        With the default :class:`StationaryCentre` prior the latent site is
        ``c_z`` (see :meth:`sample_params`), whose starting value is returned too.
        """
        m = data.mask
        d = data.dim
        inc = jnp.where(m[:, None], data.increments, 0.0)
        tau = data.lags * data.dt
        n_obs = jnp.maximum(jnp.sum(m), 1)
        y = jnp.concatenate([jnp.zeros((1, d)), jnp.cumsum(inc, axis=0)])
        pm = jnp.concatenate([jnp.ones(1, bool), m])
        t = jnp.concatenate([jnp.zeros(1), jnp.cumsum(jnp.where(m, tau, 0.0))])
        w = pm.astype(y.dtype)
        n_pts = jnp.sum(w)
        if self.drift:  # least-squares line through the positions
            tbar = jnp.sum(w * t) / n_pts
            ybar0 = jnp.sum(w[:, None] * y, 0) / n_pts
            stt = jnp.maximum(jnp.sum(w * (t - tbar) ** 2), 1e-300)
            v0 = jnp.sum((w * (t - tbar))[:, None] * (y - ybar0), 0) / stt
            trend = ybar0 + v0 * (t - tbar)[:, None]
        else:
            trend = jnp.sum(w[:, None] * y, 0) / n_pts * jnp.ones_like(y)
        resid = jnp.where(pm[:, None], y - trend, 0.0)
        var1 = jnp.maximum(jnp.sum(resid**2) / (n_pts * d), 1e-300)
        mean_tau = jnp.sum(jnp.where(m, tau, 0.0)) / n_obs
        msd1 = jnp.sum(jnp.where(m[:, None], inc**2, 0.0)) / (n_obs * d)
        rho = jnp.clip(1.0 - msd1 / (2.0 * var1), np.exp(-10.0), 1.0 - 1e-6)
        k0 = jnp.clip(-jnp.log(rho) / mean_tau, *self._bounds("k"))
        # the particle's mean path is the line; the trap centre leads it by v/k
        out = {"D": jnp.clip(k0 * var1, *self._bounds("D")), "k": k0, "c": data.start + trend[0]}
        if self.drift:
            out["v"] = v0
            out["c"] = out["c"] + v0 / k0
        var0 = out["D"] / k0
        if self.noise:
            out["sigma"] = jnp.clip(0.3 * jnp.sqrt(msd1 / 2.0), *self._bounds("sigma"))
            var0 = var0 + out["sigma"] ** 2
        if isinstance(self.prior("c"), StationaryCentre):  # c = y_0 + v/k + sqrt(var) c_z
            out["c_z"] = trend[0] / jnp.sqrt(var0)
        return out

    # -- simulation --------------------------------------------------------------
    def _simulate(self, rng, params, frames, dt, dim, n_tracks, start) -> np.ndarray:
        D = params["D"][:, None]  # (n_tracks, 1)
        k = params["k"][:, None]
        c = np.asarray(params["c"], dtype=np.float64)  # (n_tracks, dim)
        v = params["v"] if self.drift else np.zeros((n_tracks, dim))
        t = frames * dt
        x = np.empty((n_tracks, len(frames), dim))
        if start is None:  # steady state about the (moving) centre
            x[:, 0] = c - v / k + np.sqrt(D / k) * rng.standard_normal((n_tracks, dim))
        else:
            x[:, 0] = np.broadcast_to(np.asarray(start, dtype=np.float64), (n_tracks, dim))
        for j in range(1, len(frames)):
            tau = t[j] - t[j - 1]
            kt = k * tau
            g = -np.expm1(-kt)
            h = _np_phi2(kt)
            sd = np.sqrt(D / k * -np.expm1(-2.0 * kt))
            prev = x[:, j - 1]
            mean = prev - g * (prev - (c + v * t[j - 1])) + v * tau * h
            x[:, j] = mean + sd * rng.standard_normal((n_tracks, dim))
        if self.noise:
            x = x + params["sigma"][:, None, None] * rng.standard_normal(x.shape)
        return x


def _np_phi2(x: np.ndarray) -> np.ndarray:
    """NumPy version of :func:`_phi2`."""
    x = np.asarray(x, dtype=np.float64)
    small = x < 1e-2
    xs = np.where(small, 1.0, x)
    series = x / 2 - x**2 / 6 + x**3 / 24 - x**4 / 120 + x**5 / 720
    return np.where(small, series, (xs + np.expm1(-xs)) / xs)
