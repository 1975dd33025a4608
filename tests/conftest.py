"""Shared test set-up: CPU only, non-interactive plots, a compilation counter."""

import collections
import contextlib
import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

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
