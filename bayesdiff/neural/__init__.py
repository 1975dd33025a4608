"""Neural amortized inference with deep-ensemble uncertainty.

Networks trained on simulations from bayesdiff's own models give, in
microseconds per track, estimates of ``alpha`` and ``D`` with uncertainties
and model-class probabilities; a deep ensemble of them mixes the members'
Gaussians. See ``docs/neural.md``.

>>> import bayesdiff as bd
>>> ens = bd.neural.default_ensemble()
>>> ens.model_names
['bm', 'fbm', 'langevin', 'levy', 'switch2']
"""

from ._setup import DEFAULT_MODELS as DEFAULT_MODELS
from ._setup import TrainConfig as TrainConfig
from .ensemble import AmortizedEstimator as AmortizedEstimator
from .ensemble import DeepEnsemble as DeepEnsemble
from .ensemble import default_ensemble as default_ensemble
from .ensemble import load as load
from .networks import Architecture as Architecture
from .train import train as train

__all__ = [
    "train",
    "load",
    "default_ensemble",
    "AmortizedEstimator",
    "DeepEnsemble",
    "Architecture",
    "TrainConfig",
    "DEFAULT_MODELS",
]
