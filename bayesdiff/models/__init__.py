"""Generative models: priors, exact likelihoods and simulators."""

from .base import Model as Model
from .base import TrackData as TrackData
from .brownian import Brownian as Brownian
from .fbm import FBM as FBM
from .langevin import Langevin as Langevin
from .levy import LevyWalk as LevyWalk
from .registry import from_name as from_name
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
]
