"""Brownian motion with optional drift and localization noise."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import ClassVar

import jax
import jax.numpy as jnp

from .increments import IncrementModel

__all__ = ["Brownian"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Brownian(IncrementModel):
    """Brownian motion (normal diffusion), optionally with drift and localization noise.

    Parameters
    ----------
    drift : bool
        Add a constant velocity ``v`` (length/s, one component per dimension).
    noise : bool
        Add static Gaussian localization error ``sigma`` (length) to every position.
    priors : mapping, optional
        Replaces default priors: ``D ~ LogUniform(1e-4, 1e3)`` (µm²/s),
        ``v ~ Normal(0, 1)`` (µm/s), ``sigma ~ LogUniform(1e-3, 1)`` (µm).

    Notes
    -----
    ``MSD_1d(t) = 2 D t``. Without noise the increments are independent,
    ``N(v tau_k, 2 D tau_k)`` per coordinate, for any time lags (gaps included).
    Localization noise makes consecutive increments anticorrelated
    (covariance ``-sigma^2``, variance ``2 D tau_k + 2 sigma^2``): a tridiagonal
    covariance, evaluated exactly by the same recursions as FBM (Levinson
    without gaps, Cholesky with them). This is FBM with ``alpha = 1``.

    References
    ----------
    Michalet, PRE 82, 041914 (2010); Berglund, PRE 82, 011917 (2010) (noise and
    motion blur in diffusion estimates).

    Examples
    --------
    >>> import bayesdiff as bd
    >>> bd.models.Brownian(drift=True).param_names
    ('D', 'v')
    """

    kind: ClassVar[str] = "bm"
    independent_increments: ClassVar[bool] = True

    def _alpha(self, params: Mapping) -> jax.Array:
        return jnp.asarray(1.0)
