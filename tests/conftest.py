"""Shared test set-up: CPU only, quick compilation shared by the test processes,
non-interactive plots, a compilation counter."""

import collections
import contextlib
import os
import shutil
import tempfile

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
# The suite compiles hundreds of small programs and runs most of them briefly: XLA's
# backend (LLVM) optimizations cost more than they save (the ``optimized`` fixture turns
# them on for the few long runs). JAX_DISABLE_MOST_OPTIMIZATIONS=0 tests the optimized
# programs everywhere.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

# One JAX compilation cache per test run, shared by the pytest-xdist workers (they
# inherit the variable from the process that starts them): a program that tests in both
# workers compile (same model, shapes and settings) is compiled once. It starts empty on
# every run and is removed at the end, unless BAYESDIFF_TEST_JAX_CACHE names a folder.
_OWN_CACHE = "BAYESDIFF_TEST_JAX_CACHE" not in os.environ
if _OWN_CACHE:
    os.environ["BAYESDIFF_TEST_JAX_CACHE"] = tempfile.mkdtemp(prefix="bayesdiff-jax-cache-")

import bayesdiff  # noqa: E402,F401  (configures float64 and host devices before JAX is used)


def _share_compilations() -> None:
    import jax

    jax.config.update("jax_compilation_cache_dir", os.environ["BAYESDIFF_TEST_JAX_CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


_share_compilations()


def pytest_unconfigure(config):
    if _OWN_CACHE and not hasattr(config, "workerinput"):  # the run's first process
        shutil.rmtree(os.environ["BAYESDIFF_TEST_JAX_CACHE"], ignore_errors=True)


#: The slowest test files, slowest first (measured: together about two thirds of the
#: suite's time). They run first, so that neither pytest-xdist worker is left with a
#: long file at the end; ``make test`` keeps this order (``--no-loadscope-reorder``).
_SLOWEST_FILES = (
    "test_sampling.py",
    "test_levy.py",
    "test_switching.py",
    "test_models_gaussian.py",
    "test_cli.py",
    "test_neural.py",
    "test_robustness.py",
    "test_evidence.py",
    "test_langevin.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(_SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable within a file


_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def _count_compilations():
    """Counts XLA compilations inside the block by the compiled function's name
    (``"jit(f)"``), from JAX's monitoring events."""
    import jax

    seen = collections.Counter()

    def listener(event, duration, **kwargs):
        if event == _BACKEND_COMPILE:
            seen[kwargs.get("fun_name")] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


@pytest.fixture
def compilations():
    """``with compilations() as n: ...`` then ``n["jit(f)"]``: compilations by function name."""
    return _count_compilations


@contextlib.contextmanager
def _optimized_compilation():
    """Programs compiled inside the block get XLA's backend optimizations: for long runs
    (the switching model's NUTS fits run about 4x slower unoptimized)."""
    import jax

    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", False)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture(scope="session")
def optimized():
    """``with optimized(): ...``: compile with XLA's optimizations (see the top of this file)."""
    return _optimized_compilation


def _png_with_content(path) -> tuple[int, int]:
    """Width and height of a PNG file, after checking its signature and that it is not
    one flat colour (something was drawn)."""
    import struct

    import matplotlib.image

    head = open(path, "rb").read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file"
    assert matplotlib.image.imread(path).std() > 0, f"{path} is blank"
    return struct.unpack(">II", head[16:24])


@pytest.fixture
def png():
    """``png(path)``: (width, height) of a non-blank PNG file (asserts both)."""
    return _png_with_content
