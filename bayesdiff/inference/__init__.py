"""Inference: posteriors (NUTS and exact quadrature), evidence and model comparison,
model checks, segmentation, summaries and diagnostics."""

from ._arviz import diagnostics as diagnostics
from ._arviz import from_netcdf as from_netcdf
from ._arviz import summary as summary
from ._arviz import to_netcdf as to_netcdf
from ._programs import clear_caches as clear_caches
from .checks import model_check as model_check
from .compare import ManyComparison as ManyComparison
from .compare import compare as compare
from .compare import compare_many as compare_many
from .evidence import Evidence as Evidence
from .evidence import evidence as evidence
from .sampling import sample as sample
from .sampling import sample_many as sample_many
from .segment import Segmentation as Segmentation
from .segment import Segmentations as Segmentations
from .segment import loo_n_states as loo_n_states
from .segment import segment as segment
from .segment import state_summary as state_summary

__all__ = [
    "clear_caches",
    "sample",
    "sample_many",
    "summary",
    "diagnostics",
    "to_netcdf",
    "from_netcdf",
    "model_check",
    "segment",
    "Segmentation",
    "Segmentations",
    "state_summary",
    "loo_n_states",
    "evidence",
    "Evidence",
    "compare",
    "compare_many",
    "ManyComparison",
]
