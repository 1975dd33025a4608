"""Figures: posterior traces and densities, track views, model checks and comparisons,
calibration studies.

Every function draws with matplotlib and returns the figure (``None`` where a
calibration figure has nothing to draw); ``save_figure`` writes PNGs
atomically. Importing this package leaves matplotlib's backend alone: pyplot
is imported when a figure is drawn, and a script without a display picks a
non-interactive backend itself (``MPLBACKEND=Agg``; the ``bayesdiff`` command
does so).
"""

from ._common import save_figure as save_figure
from .calibration import plot_coverage_curves as plot_coverage_curves
from .calibration import plot_error_vs_length as plot_error_vs_length
from .calibration import plot_reliability as plot_reliability
from .calibration import plot_sbc_ecdf as plot_sbc_ecdf
from .inference import plot_comparison as plot_comparison
from .inference import plot_model_check as plot_model_check
from .inference import plot_posterior as plot_posterior
from .inference import plot_trace as plot_trace
from .tracks import plot_tracks as plot_tracks

__all__ = [
    "plot_trace",
    "plot_posterior",
    "plot_tracks",
    "plot_model_check",
    "plot_comparison",
    "plot_reliability",
    "plot_coverage_curves",
    "plot_sbc_ecdf",
    "plot_error_vs_length",
    "save_figure",
]
