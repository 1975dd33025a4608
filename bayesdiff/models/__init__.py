"""Generative models: priors, exact likelihoods and simulators."""

from .base import Model as Model
from .base import TrackData as TrackData
from .brownian import Brownian as Brownian
from .fbm import FBM as FBM
from .langevin import Langevin as Langevin
from .levy import LevyWalk as LevyWalk
from .registry import MODEL_NAMES as MODEL_NAMES
from .registry import from_name as from_name
from .registry import from_spec as from_spec
from .switching import Switching as Switching

__all__ = [
    "Model",
    "TrackData",
    "Brownian",
    "FBM",
    "Langevin",
    "Switching",
    "LevyWalk",
    "from_name",
    "from_spec",
    "MODEL_NAMES",
]
