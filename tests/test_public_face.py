"""The public face: what each package offers, and that it is what its docs say.

Like optax's ``optax_test.py``: every name a public module lists in ``__all__``
imports; nothing private is exported; every exported function and class has its
own docstring; a package re-exports the public objects of its modules; and
``neural`` and ``calibration`` (Flax, Optax) load only when first used.
"""

import importlib
import inspect
import subprocess
import sys
import types
from pathlib import Path

import pytest

import bayesdiff as bd

ROOT = Path(__file__).resolve().parent.parent

#: Each package's ``__all__``: what a user may rely on (removing a name breaks users).
FACE = {
    "bayesdiff": [
        "__version__", "errors", "Track", "TrackSet", "read_tracks", "models", "sample",
        "sample_many", "summary", "diagnostics", "model_check", "segment", "write_tracks",
        "evidence", "Evidence", "compare", "compare_many", "neural", "calibration",
    ],
    "bayesdiff.models": [
        "Model", "TrackData", "Brownian", "FBM", "Langevin", "Switching", "LevyWalk",
        "from_name", "from_spec", "MODEL_NAMES",
    ],
    "bayesdiff.inference": [
        "clear_caches", "sample", "sample_many", "summary", "diagnostics", "to_netcdf",
        "from_netcdf", "model_check", "segment", "Segmentation", "Segmentations",
        "state_summary", "loo_n_states", "evidence", "Evidence", "compare", "compare_many",
        "ManyComparison",
    ],
    "bayesdiff.io": ["read_tracks", "write_tracks", "describe", "TrackSummary", "example_tracks"],
    "bayesdiff.calibration": [
        "DEFAULT_LEVELS", "coverage", "coverage_gaussian", "coverage_from_pit", "ence",
        "EnceResult", "sbc_ranks", "sbc", "sbc_uniformity", "SBCResult", "pit_gaussian",
        "pit_samples", "crps_gaussian", "crps_samples", "sharpness", "accuracy",
        "expected_calibration_error", "ece_from_confidence", "ECEResult", "idata_draws",
        "Estimate", "Estimator", "Bayes", "Neural", "MSDFit", "HMMFit", "tamsd",
        "msd_power_law", "msd_exponent", "neural_available", "SimSpec", "study_models",
        "simulate_truth", "add_noise", "study", "StudyResult", "summarize", "write_figures",
        "markdown_report", "markdown_table",
    ],
    "bayesdiff.neural": [
        "train", "load", "default_ensemble", "AmortizedEstimator", "DeepEnsemble",
        "Architecture", "TrainConfig", "DEFAULT_MODELS",
    ],
    "bayesdiff.plots": [
        "plot_trace", "plot_posterior", "plot_tracks", "plot_model_check", "plot_comparison",
        "plot_reliability", "plot_coverage_curves", "plot_sbc_ecdf", "plot_error_vs_length",
        "save_figure",
    ],
    "bayesdiff.cli": ["main"],
}  # fmt: skip


def _public_modules() -> list[str]:
    """Every module of the package with no private part in its name (``__main__`` aside)."""
    names = []
    for path in sorted((ROOT / "bayesdiff").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if not any(p.startswith("_") for p in parts):
            names.append(".".join(parts))
    return names


PUBLIC_MODULES = _public_modules()
PACKAGES = [n for n in PUBLIC_MODULES if (ROOT / n.replace(".", "/") / "__init__.py").exists()]


def _is_private_module(name: str) -> bool:
    return any(p.startswith("_") for p in name.split("."))


def test_module_lists_are_complete():
    assert set(FACE) == set(PACKAGES)
    assert {"bayesdiff.inference.sampling", "bayesdiff.models.fbm", "bayesdiff.tracks"} <= set(
        PUBLIC_MODULES
    )
    assert not any(_is_private_module(n) for n in PUBLIC_MODULES)


@pytest.mark.parametrize("name", PACKAGES)
def test_packages_offer_what_they_offer(name):
    assert sorted(importlib.import_module(name).__all__) == sorted(FACE[name])


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_exported_names_import_and_are_documented(name):
    """Every name in ``__all__`` resolves; none is private; modules, functions and
    classes have their own docstrings (a dataclass's generated signature does not
    count) and come from bayesdiff, under their own public names."""
    mod = importlib.import_module(name)
    assert (mod.__doc__ or "").strip(), f"{name} has no module docstring"
    exported = mod.__all__
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    for attr in exported:
        assert not attr.startswith("_") or attr == "__version__", f"{name} exports {attr}"
        obj = getattr(mod, attr)
        where = f"{name}.{attr}"
        if isinstance(obj, types.ModuleType):
            assert obj.__name__.startswith("bayesdiff.") and (obj.__doc__ or "").strip(), where
        elif inspect.isclass(obj) or inspect.isfunction(obj):
            doc = (obj.__doc__ or "").strip()
            assert doc and not doc.startswith(f"{obj.__name__}("), f"{where} has no docstring"
            assert obj.__module__.startswith("bayesdiff"), f"{where} is {obj.__module__}'s"
            assert not obj.__name__.startswith("_"), f"{where} is the private {obj.__name__}"
        else:
            assert not callable(obj), f"{where}: a callable of unexpected type {type(obj)}"


@pytest.mark.parametrize("name", PACKAGES)
def test_packages_re_export_their_modules_public_objects(name):
    """A function or class a package offers is the object its defining module offers:
    a public module lists it in its own ``__all__`` (a private helper module's public
    names are its API)."""
    pkg = importlib.import_module(name)
    for attr in pkg.__all__:
        obj = getattr(pkg, attr)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        home = importlib.import_module(obj.__module__)
        assert getattr(home, obj.__name__) is obj
        if not _is_private_module(obj.__module__):
            assert obj.__name__ in home.__all__, f"{name}.{attr}: not in {obj.__module__}.__all__"


def test_neural_and_calibration_load_on_first_use():
    """``import bayesdiff`` stays quick: Flax, Optax, neural and calibration load when
    first touched; an unknown attribute is an AttributeError naming it."""
    heavy = ("bayesdiff.neural", "bayesdiff.calibration", "flax", "optax")
    code = (
        "import sys, bayesdiff as bd\n"
        f"heavy = {heavy!r}\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "bd.calibration, bd.neural\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "try:\n    bd.nosuch\nexcept AttributeError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.splitlines()
    assert out == ["[]", str(sorted(heavy)), "module 'bayesdiff' has no attribute 'nosuch'"]
    assert bd.neural.__name__ == "bayesdiff.neural"
