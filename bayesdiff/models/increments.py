"""Gaussian models with stationary increments (Brownian motion, FBM): shared machinery.

:class:`IncrementModel` is the base of :class:`~bayesdiff.models.Brownian` and
:class:`~bayesdiff.models.FBM`: drift and localization-noise options, the
exact likelihood (Durbin-Levinson without gaps, Cholesky with them), start
values and the simulator. The covariance pieces are public for the
quadrature evidence: :func:`fgn_autocovariance` (unit fractional Gaussian
noise), :func:`increment_covariance` (FBM increments at arbitrary times),
:func:`noise_band` and :func:`noise_band_matrix` (what static localization
noise adds), and :func:`simulate_fgn` (exact fGn draws by Davies-Harte).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from functools import partial
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from .._kernels.gaussian import (
    dense_pointwise,
    forward_mode_vjp,
    independent_pointwise,
    levinson_pointwise,
    toeplitz_loglik,
)
from .base import Model, TrackData
from .priors import ALPHA_RANGE, D_RANGE, SIGMA_RANGE, V_SCALE

__all__ = [
    "IncrementModel",
    "fgn_autocovariance",
    "increment_covariance",
    "noise_band",
    "noise_band_matrix",
    "simulate_fgn",
]


def _pow(x: jax.Array, a: jax.Array) -> jax.Array:
    """``x ** a`` for x >= 0 with ``0 ** a = 0`` and finite derivatives in ``a``."""
    pos = x > 0
    return jnp.where(pos, jnp.exp(a * jnp.log(jnp.where(pos, x, 1.0))), 0.0)


def fgn_autocovariance(alpha: jax.Array, n: int) -> jax.Array:
    """Autocovariance of unit fractional Gaussian noise at lags 0..n-1.

    ``r_k = |k+1|^alpha + |k-1|^alpha - 2 |k|^alpha``, so ``r_0 = 2``: the
    increments of an FBM with ``MSD_1d(t) = 2 D t^alpha`` sampled every frame
    have covariance ``D dt^alpha r_|i-j|``.
    """
    k = jnp.arange(n, dtype=jnp.float64)
    return _pow(k + 1, alpha) + _pow(jnp.abs(k - 1), alpha) - 2 * _pow(k, alpha)


def increment_covariance(alpha: jax.Array, times: jax.Array) -> jax.Array:
    """Covariance of unit-scale FBM increments between observation times.

    Parameters
    ----------
    alpha : scalar
    times : array of shape (n + 1,)
        Observation times (any unit; the scale absorbs it).

    Returns
    -------
    array of shape (n, n)
        ``C_ij = |t_i - t_{j-1}|^a + |t_{i-1} - t_j|^a - |t_i - t_j|^a - |t_{i-1} - t_{j-1}|^a``
        for increments ``i, j`` ending at ``t_i, t_j`` (so ``C_ii = 2 tau_i^a``).
    """
    hi, lo = times[1:], times[:-1]

    def p(a, b):
        return _pow(jnp.abs(a[:, None] - b[None, :]), alpha)

    return p(hi, lo) + p(lo, hi) - p(hi, hi) - p(lo, lo)


def noise_band(n: int, dtype=jnp.float64) -> jax.Array:
    """First column of the covariance that static localization noise adds to increments.

    Unit noise variance: ``[2, -1, 0, ..., 0]`` (length ``n``; ``[2]`` for
    ``n = 1``), the Toeplitz form of :func:`noise_band_matrix`.
    """
    return jnp.zeros(n, dtype).at[0].set(2.0).at[1].set(-1.0) if n > 1 else jnp.full(1, 2.0)


def noise_band_matrix(n: int) -> jax.Array:
    """The covariance, shape (n, n), that unit static localization noise adds to increments.

    2 on the diagonal, -1 beside it, 0 elsewhere: increments ``y_k - y_{k-1}``
    of positions with independent unit errors.
    """
    i = jnp.arange(n)
    return jnp.where(i[:, None] == i[None, :], 2.0, 0.0) - jnp.where(
        jnp.abs(i[:, None] - i[None, :]) == 1, 1.0, 0.0
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class IncrementModel(Model):
    """Gaussian models with stationary increments: FBM and Brownian motion.

    Subclasses set ``kind``, ``_shape_params`` (parameters before ``D``),
    ``independent_increments`` and ``_alpha`` (the exponent, a parameter or 1).

    Parameters
    ----------
    drift, noise : bool
        Add a constant velocity ``v``, static localization error ``sigma``
        (see :class:`~bayesdiff.models.FBM`).
    priors : mapping, optional
        Replaces default priors (see the subclasses).
    """

    drift: bool = False
    noise: bool = False

    min_points: ClassVar[int] = 3

    @property
    def param_names(self) -> tuple[str, ...]:
        names = [*self._shape_params, "D"]
        if self.drift:
            names.append("v")
        if self.noise:
            names.append("sigma")
        return tuple(names)

    _shape_params: ClassVar[tuple[str, ...]] = ()

    def default_priors(self) -> dict[str, dist.Distribution]:
        return {
            "alpha": dist.Uniform(*ALPHA_RANGE),
            "D": dist.LogUniform(*D_RANGE),
            "v": dist.Normal(0.0, V_SCALE),
            "sigma": dist.LogUniform(*SIGMA_RANGE),
        }

    def _alpha(self, params: Mapping) -> jax.Array:
        raise NotImplementedError

    def _centered(self, params: Mapping, data: TrackData) -> jax.Array:
        """Increments minus the drift, zero in padding, shape (n, dim)."""
        x = data.increments
        if self.drift:
            x = x - params["v"] * (data.lags * data.dt)[:, None]
        return jnp.where(data.mask[:, None], x, 0.0)

    def _acov(self, params: Mapping, data: TrackData, n: int) -> jax.Array:
        """Autocovariance of regular increments at lags 0..n-1."""
        alpha = self._alpha(params)
        acov = params["D"] * _pow(data.dt, alpha) * fgn_autocovariance(alpha, n)
        if self.noise:
            acov = acov + params["sigma"] ** 2 * noise_band(n)
        return acov

    def pointwise_from_data(self, params: Mapping, data: TrackData, regular: bool) -> jax.Array:
        x = self._centered(params, data)
        n = x.shape[0]
        alpha = self._alpha(params)
        scale = params["D"] * _pow(data.dt, alpha)  # variance scale per frame
        if self.independent_increments and not self.noise:
            pw = independent_pointwise(2.0 * scale * data.lags, x)
        elif regular:
            pw = levinson_pointwise(self._acov(params, data, n), x)
        else:
            times = jnp.concatenate([jnp.zeros(1), jnp.cumsum(data.lags)])
            cov = scale * increment_covariance(alpha, times)
            if self.noise:
                cov = cov + params["sigma"] ** 2 * noise_band_matrix(n)
            pw = dense_pointwise(cov, x)
        return jnp.where(data.mask, pw, 0.0)

    #: True when the increments are independent without noise (Brownian motion).
    independent_increments: ClassVar[bool] = False
    param_domains: ClassVar[Mapping[str, tuple[float, float]]] = {
        "alpha": (0.0, 2.0), "D": (0.0, math.inf), "sigma": (0.0, math.inf),
    }  # fmt: skip

    def fast_loglik(self, params: Mapping, data: TrackData, regular: bool) -> jax.Array:
        """The log-likelihood with the cheapest exact gradient (reverse mode only).

        Regular tracks: Durbin-Levinson value with the Gohberg-Semencul
        gradient (:func:`~bayesdiff._kernels.gaussian.toeplitz_loglik`); gapped
        tracks: forward-mode derivatives through the Cholesky factorization.
        Used by the samplers; ``log_likelihood`` stays differentiable to any order.
        """
        if self.independent_increments and not self.noise:
            return self.loglik_from_data(params, data, regular)
        if regular:
            x = self._centered(params, data)
            return toeplitz_loglik(self._acov(params, data, x.shape[0]), x, jnp.sum(data.mask))
        return forward_mode_vjp(partial(self.loglik_from_data, regular=regular))(params, data)

    def init_values(self, data: TrackData) -> dict[str, jax.Array]:
        m = data.mask[:, None]
        tau = (data.lags * data.dt)[:, None]
        nobs = jnp.maximum(jnp.sum(data.mask), 1)
        v0 = jnp.sum(jnp.where(m, data.increments, 0.0), 0) / jnp.sum(jnp.where(m, tau, 0.0))
        resid = data.increments - (v0 * tau if self.drift else 0.0)
        msd1 = jnp.sum(jnp.where(m, resid**2 / tau, 0.0)) / (nobs * data.dim)
        out = {"D": jnp.clip(msd1 / 2.0, *self._bounds("D"))}
        if "alpha" in self.param_names:
            out["alpha"] = jnp.asarray(1.0)
        if self.drift:
            out["v"] = v0
        if self.noise:
            out["sigma"] = jnp.clip(0.2 * jnp.sqrt(msd1 * data.dt), *self._bounds("sigma"))
        return out

    def _simulate(self, rng, params, frames, dt, dim, n_tracks, start) -> np.ndarray:
        n_frames = int(frames[-1])
        alpha = np.asarray(self._alpha(params)) * np.ones(n_tracks)
        scale = params["D"] * dt**alpha  # (n_tracks,)
        inc = np.empty((n_tracks, n_frames, dim))
        for i in range(n_tracks):
            inc[i] = simulate_fgn(rng, float(alpha[i]), n_frames, dim) * np.sqrt(scale[i])
        pos = np.concatenate([np.zeros((n_tracks, 1, dim)), np.cumsum(inc, axis=1)], axis=1)
        pos = pos[:, frames]
        t = (frames * dt)[None, :, None]
        if self.drift:
            pos = pos + params["v"][:, None, :] * t
        if self.noise:
            pos = pos + params["sigma"][:, None, None] * rng.standard_normal(pos.shape)
        if start is not None:
            pos = pos + np.asarray(start, dtype=np.float64)
        return pos


def simulate_fgn(rng: np.random.Generator, alpha: float, n: int, dim: int) -> np.ndarray:
    """Exact unit fractional Gaussian noise (r_0 = 2), shape (n, dim), by Davies-Harte.

    Parameters
    ----------
    rng : numpy Generator
    alpha : float
        Exponent (``0 < alpha < 2``); ``alpha = 1`` gives white noise of variance 2.
    n : int
        Number of increments.
    dim : int
        Number of independent coordinates.

    Returns
    -------
    ndarray of shape (n, dim)
        Increments with covariance :func:`fgn_autocovariance` at their lags.
    """
    if abs(alpha - 1.0) < 1e-12:
        return np.sqrt(2.0) * rng.standard_normal((n, dim))
    k = np.arange(n + 1, dtype=np.float64)
    r = np.abs(k + 1) ** alpha + np.abs(k - 1) ** alpha - 2 * k**alpha
    c = np.concatenate([r, r[-2:0:-1]])  # circulant embedding, length 2n
    lam = np.fft.fft(c).real
    if lam.min() < -1e-8 * lam.max():  # cannot happen for fGn; fall back to Cholesky
        cov = r[np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])]
        return np.linalg.cholesky(cov) @ rng.standard_normal((n, dim))
    m = c.size
    z = rng.standard_normal((dim, m)) + 1j * rng.standard_normal((dim, m))
    w = np.fft.fft(np.sqrt(np.clip(lam, 0, None) / m) * z, axis=1)
    return w.real[:, :n].T
