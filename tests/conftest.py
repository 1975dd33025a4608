"""Shared test set-up: CPU only, non-interactive plots, shared expensive fits."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

import bayesdiff  # noqa: E402,F401  (configures float64 and host devices before JAX is used)
