"""Default prior bounds and scales of every model, in µm and seconds.

The models build their default priors from these numbers
(``docs/models.md`` lists the priors); a user's ``priors=`` mapping
replaces any of them.

Examples
--------
>>> from bayesdiff.models import priors
>>> priors.D_RANGE
(0.0001, 1000.0)
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from scipy.optimize import brentq

__all__ = [
    "support_bounds",
    "support_range",
    "quantile",
    "mass_outside",
    "D_RANGE",
    "SIGMA_RANGE",
    "V_SCALE",
    "ALPHA_RANGE",
    "K_RANGE",
    "C_SCALE",
    "LEVY_ALPHA_RANGE",
    "LEVY_V_RANGE",
    "LEVY_SIGMA_RANGE",
    "PERSISTENCE",
]

# -- Brownian motion, FBM, Langevin and switching diffusion ----------------------------
#: ``D ~ LogUniform(*D_RANGE)``: diffusion coefficient (µm²/s^alpha).
D_RANGE = (1e-4, 1e3)
#: ``sigma ~ LogUniform(*SIGMA_RANGE)``: static localization error (µm).
SIGMA_RANGE = (1e-3, 1.0)
#: ``v ~ Normal(0, V_SCALE)``: drift velocity, each component (µm/s).
V_SCALE = 1.0
#: ``alpha ~ Uniform(*ALPHA_RANGE)``: FBM anomalous exponent.
ALPHA_RANGE = (0.0, 2.0)

# -- Langevin (harmonic trap) ----------------------------------------------------------
#: ``k ~ LogUniform(*K_RANGE)``: trap stiffness (1/s).
K_RANGE = (1e-3, 1e4)
#: Standard deviation (µm) of the trap centre's prior where no first position is given.
C_SCALE = 100.0

# -- Lévy walk -------------------------------------------------------------------------
#: ``alpha ~ Uniform(*LEVY_ALPHA_RANGE)``: ``alpha = 3 - gamma`` of the flight times.
LEVY_ALPHA_RANGE = (1.0, 2.0)
#: ``v ~ LogUniform(*LEVY_V_RANGE)``: flight speed (µm/s).
LEVY_V_RANGE = (1e-3, 1e3)
#: ``sigma ~ LogUniform(*LEVY_SIGMA_RANGE)``: step noise per frame (µm).
LEVY_SIGMA_RANGE = (1e-4, 1e2)

# -- switching diffusion ---------------------------------------------------------------
#: Dirichlet concentration of the diagonal of each transition-matrix row (off-diagonal
#: entries have concentration 1): favours staying in a state.
PERSISTENCE = 10.0


# -- where a prior puts its mass -------------------------------------------------------
def support_bounds(d: dist.Distribution) -> tuple[float, float]:
    """The bounds of a scalar distribution's support (``-inf``/``inf`` where open).

    For a transformed distribution whose declared support is the whole line
    (NumPyro's affine transforms do not narrow it), the base distribution's
    bounds mapped through the transforms.
    """
    sup = d.support
    lo = _as_float(getattr(sup, "lower_bound", -math.inf))
    hi = _as_float(getattr(sup, "upper_bound", math.inf))
    if isinstance(d, dist.TransformedDistribution) and not (
        math.isfinite(lo) and math.isfinite(hi)
    ):
        blo, bhi = support_bounds(d.base_dist)
        for t in d.transforms:
            with np.errstate(all="ignore"):
                ends = sorted(_as_float(t(jnp.asarray(x))) for x in (blo, bhi))
            blo, bhi = (
                (ends[0], ends[1]) if not any(map(math.isnan, ends)) else (-math.inf, math.inf)
            )
        lo, hi = max(lo, blo), min(hi, bhi)
    return lo, hi


def quantile(d: dist.Distribution, p: float) -> float | None:
    """The ``p`` quantile of a scalar distribution: its ``icdf``, or the root of its
    ``cdf`` (SciPy's ``brentq``) where NumPyro has no ``icdf``; None if it has neither."""
    try:
        return _as_float(d.icdf(jnp.asarray(p)))
    except (ImportError, NotImplementedError, AttributeError):
        pass
    lo, hi = support_bounds(d)
    try:
        cdf = _cdf_function(d)
        a = lo if math.isfinite(lo) else (hi - 1.0 if math.isfinite(hi) else -1.0)
        b = hi if math.isfinite(hi) else (lo + 1.0 if math.isfinite(lo) else 1.0)
        step = 1.0
        while not math.isfinite(lo) and cdf(a) > p and step < 1e300:
            step *= 2.0
            a -= step
        step = 1.0
        while not math.isfinite(hi) and cdf(b) < p and step < 1e300:
            step *= 2.0
            b += step
        return float(brentq(lambda x: cdf(x) - p, a, b, xtol=1e-300, rtol=1e-12))
    except (ImportError, NotImplementedError, AttributeError, ValueError):
        return None


def support_range(
    d: dist.Distribution, q: float = 1e-12, positive: bool = False
) -> tuple[float, float] | None:
    """A finite range holding all but ``2 q`` of a scalar prior's mass.

    The support's bounds where finite, else the ``q`` and ``1 - q``
    quantiles. With ``positive`` (a parameter integrated on the log scale)
    a lower bound of 0 is replaced by the ``q`` quantile too. None if a
    needed quantile is unavailable or the range is empty.
    """
    if d.event_shape != () or d.batch_shape != ():
        return None
    lo, hi = support_bounds(d)
    if not math.isfinite(lo) or (positive and lo <= 0.0):
        lo = quantile(d, q)
    if not math.isfinite(hi):
        hi = quantile(d, 1.0 - q)
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        return None
    return lo, hi


def mass_outside(d: dist.Distribution, low: float, high: float) -> float | None:
    """The prior mass of a scalar distribution outside ``[low, high]`` (None if unknown)."""
    lo, hi = support_bounds(d)
    if lo >= low and hi <= high:
        return 0.0
    try:
        cdf = _cdf_function(d)
        below = cdf(low) if lo < low else 0.0
        above = 1.0 - cdf(high) if hi > high else 0.0
    except (ImportError, NotImplementedError, AttributeError):
        return None
    out = below + above
    return out if math.isfinite(out) else None


def _cdf_function(d: dist.Distribution):
    lo, hi = support_bounds(d)

    def cdf(x: float) -> float:
        if x <= lo:
            return 0.0
        if x >= hi:
            return 1.0
        return _as_float(d.cdf(jnp.asarray(x)))

    if math.isfinite(lo) and math.isfinite(hi):
        inside = 0.5 * (lo + hi)
    else:
        inside = lo + 1.0 if math.isfinite(lo) else (hi - 1.0 if math.isfinite(hi) else 0.0)
    cdf(inside)  # raises if the distribution has no cdf
    return cdf


def _as_float(x) -> float:
    return float(np.asarray(x, dtype=np.float64))
