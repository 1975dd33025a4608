"""Calibration studies: are the uncertainties honest?

A posterior or an error bar is useful only if it is calibrated: a 90% interval
should contain the truth 90% of the time, over tracks drawn from the prior the
estimator assumes. This package has

* **metrics** on plain arrays (:mod:`.metrics`) -- :func:`coverage` (central
  intervals from draws), :func:`coverage_gaussian`, :func:`ence` with its
  reliability table, :func:`sbc_ranks` / :func:`sbc` (simulation-based
  calibration with a uniformity test), :func:`crps_gaussian` /
  :func:`crps_samples`, :func:`sharpness`, and for classes :func:`accuracy`,
  :func:`expected_calibration_error`;
* **estimators** behind one interface (:mod:`.estimators`, :class:`Estimator`):
  NUTS posteriors (:class:`Bayes`), the neural deep ensemble and one of its
  members (:class:`Neural`), the time-averaged MSD power-law fit
  (:class:`MSDFit`, :func:`tamsd`, :func:`msd_exponent`) and hmmlearn maximum
  likelihood for switching tracks (:class:`HMMFit`); :func:`idata_draws` takes
  the draws from an InferenceData with a ``track`` dimension;
* :func:`study` (:mod:`.study`), which simulates test tracks from stated priors,
  runs every estimator and returns a tidy table of every metric by estimator,
  model, length and SNR (resumable), and its figures and Markdown report
  (:mod:`.report`). The ``bayesdiff calibrate`` command runs a study.

Positive scale parameters (``D``, ``v``, ``sigma``, ``k``) are compared on the
natural-log scale and named ``logD``, ``logv``, ... in every table.

The references of the metrics are listed in :mod:`.metrics`.
"""

from ._columns import LOG_PARAMS as LOG_PARAMS
from .estimators import Bayes as Bayes
from .estimators import Estimate as Estimate
from .estimators import Estimator as Estimator
from .estimators import HMMFit as HMMFit
from .estimators import MSDFit as MSDFit
from .estimators import Neural as Neural
from .estimators import idata_draws as idata_draws
from .estimators import msd_exponent as msd_exponent
from .estimators import msd_power_law as msd_power_law
from .estimators import neural_available as neural_available
from .estimators import tamsd as tamsd
from .metrics import DEFAULT_LEVELS as DEFAULT_LEVELS
from .metrics import ECEResult as ECEResult
from .metrics import EnceResult as EnceResult
from .metrics import SBCResult as SBCResult
from .metrics import accuracy as accuracy
from .metrics import coverage as coverage
from .metrics import coverage_from_pit as coverage_from_pit
from .metrics import coverage_gaussian as coverage_gaussian
from .metrics import crps_gaussian as crps_gaussian
from .metrics import crps_samples as crps_samples
from .metrics import ece_from_confidence as ece_from_confidence
from .metrics import ence as ence
from .metrics import expected_calibration_error as expected_calibration_error
from .metrics import pit_gaussian as pit_gaussian
from .metrics import pit_samples as pit_samples
from .metrics import sbc as sbc
from .metrics import sbc_ranks as sbc_ranks
from .metrics import sbc_uniformity as sbc_uniformity
from .metrics import sharpness as sharpness
from .report import markdown_report as markdown_report
from .report import markdown_table as markdown_table
from .report import write_figures as write_figures
from .study import SimSpec as SimSpec
from .study import StudyResult as StudyResult
from .study import add_noise as add_noise
from .study import simulate_truth as simulate_truth
from .study import study as study
from .study import study_models as study_models
from .study import summarize as summarize

__all__ = [
    "DEFAULT_LEVELS",
    "coverage",
    "coverage_gaussian",
    "coverage_from_pit",
    "ence",
    "EnceResult",
    "sbc_ranks",
    "sbc",
    "sbc_uniformity",
    "SBCResult",
    "pit_gaussian",
    "pit_samples",
    "crps_gaussian",
    "crps_samples",
    "sharpness",
    "accuracy",
    "expected_calibration_error",
    "ece_from_confidence",
    "ECEResult",
    "idata_draws",
    "Estimate",
    "Estimator",
    "Bayes",
    "Neural",
    "MSDFit",
    "HMMFit",
    "tamsd",
    "msd_power_law",
    "msd_exponent",
    "neural_available",
    "SimSpec",
    "study_models",
    "simulate_truth",
    "add_noise",
    "study",
    "StudyResult",
    "summarize",
    "write_figures",
    "markdown_report",
    "markdown_table",
]
