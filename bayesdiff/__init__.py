"""bayesdiff: Bayesian inference for single-particle trajectories with anomalous diffusion.

The public face: tracks and file formats, generative models, posterior
sampling, model evidence and comparison, model checks, neural amortized
inference and calibration studies. See ``docs/`` for the guides.
"""

from . import _config  # noqa: F401  (float64 and host devices, before JAX is used)
from . import errors as errors
from . import models as models
from ._version import __version__ as __version__
from .inference import Evidence as Evidence
from .inference import compare as compare
from .inference import compare_many as compare_many
from .inference import diagnostics as diagnostics
from .inference import evidence as evidence
from .inference import model_check as model_check
from .inference import sample as sample
from .inference import sample_many as sample_many
from .inference import segment as segment
from .inference import summary as summary
from .io import read_tracks as read_tracks
from .io import write_tracks as write_tracks
from .tracks import Track as Track
from .tracks import TrackSet as TrackSet

__all__ = [
    "__version__",
    "errors",
    "Track",
    "TrackSet",
    "read_tracks",
    "models",
    "sample",
    "sample_many",
    "summary",
    "diagnostics",
    "model_check",
    "segment",
    "write_tracks",
    "evidence",
    "Evidence",
    "compare",
    "compare_many",
    "neural",
    "calibration",
]


def __getattr__(name: str):
    # neural (Flax, Optax) and calibration load on first use: ``import bayesdiff`` stays quick
    if name in ("neural", "calibration"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'bayesdiff' has no attribute {name!r}")
