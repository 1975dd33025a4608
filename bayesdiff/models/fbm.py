"""Fractional Brownian motion with optional drift and localization noise."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import ClassVar

import jax

from .increments import IncrementModel, fgn_autocovariance, increment_covariance

__all__ = ["FBM", "fgn_autocovariance", "increment_covariance"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class FBM(IncrementModel):
    """Fractional Brownian motion, optionally with drift and localization noise.

    Parameters
    ----------
    drift : bool
        Add a constant velocity ``v`` (length/s, one component per dimension).
    noise : bool
        Add static Gaussian localization error ``sigma`` (length) to every position.
    priors : mapping, optional
        Replaces default priors: ``alpha ~ Uniform(0, 2)``,
        ``D ~ LogUniform(1e-4, 1e3)`` (µm²/s^alpha), ``v ~ Normal(0, 1)`` (µm/s,
        each component), ``sigma ~ LogUniform(1e-3, 1)`` (µm).

    Notes
    -----
    Each coordinate is an independent FBM ``B(t)`` with
    ``MSD_1d(t) = <(B(t) - B(0))^2> = 2 D t^alpha`` (Hurst exponent
    ``H = alpha / 2``). The observed positions are
    ``y(t_k) = y_0 + v t_k + B(t_k) + sigma eps_k``. The likelihood is that of
    the increments ``y(t_k) - y(t_{k-1})`` (the first position is conditioned
    on), which are Gaussian with mean ``v tau_k`` and covariance
    ``D C_alpha(t) + sigma^2 M`` where ``C_alpha`` is the fractional Gaussian
    noise covariance at the observed times and ``M`` has 2 on the diagonal and
    -1 beside it. Without gaps this covariance is Toeplitz and the exact
    likelihood is evaluated by the Durbin-Levinson recursion in O(n^2); with
    gaps it is built at the observed times and factorized by Cholesky.

    References
    ----------
    Mandelbrot & Van Ness, SIAM Review 10, 422 (1968). Davies & Harte,
    Biometrika 74, 95 (1987) (exact simulation). Krog, Jacobsen & Lomholt,
    PRE 98, 042112 (2018) (Bayesian FBM analysis of tracks).

    Examples
    --------
    >>> import bayesdiff as bd
    >>> m = bd.models.FBM(noise=True)
    >>> m.name, m.param_names
    ('fbm+noise', ('alpha', 'D', 'sigma'))
    >>> ts = m.simulate(seed=0, params={"alpha": 0.6, "D": 0.1, "sigma": 0.02},
    ...                 n_steps=50, dt=0.05, dim=2, n_tracks=3)
    >>> len(ts), ts[0].positions.shape
    (3, (51, 2))
    """

    kind: ClassVar[str] = "fbm"
    _shape_params: ClassVar[tuple[str, ...]] = ("alpha",)

    def _alpha(self, params: Mapping) -> jax.Array:
        return params["alpha"]
