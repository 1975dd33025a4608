"""Shared test set-up: CPU only, quick compilation, non-interactive plots, a compilation
counter."""

import collections
import contextlib
import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
# The suite compiles hundreds of small programs and runs most of them briefly: XLA's
# backend (LLVM) optimizations cost more than they save (the ``optimized`` fixture turns
# them on for the few long runs). JAX_DISABLE_MOST_OPTIMIZATIONS=0 tests the optimized
# programs everywhere.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import bayesdiff  # noqa: E402,F401  (configures float64 and host devices before JAX is used)

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
