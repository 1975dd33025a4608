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

__all__ = [
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
