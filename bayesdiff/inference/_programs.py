"""Compiled programs shared by every inference routine, and their cache.

``jax.jit`` caches by function identity, so a program built afresh inside each
call would be traced and compiled again. :func:`cached_jit` keeps one built
function per (kind, model configuration, key); NUTS runners, start values,
constraint maps, evidence targets and the pointwise log-likelihood programs
all live in that one cache, which :func:`clear_caches` empties.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..models.base import Model

__all__ = [
    "model_key",
    "cached_jit",
    "clear_caches",
    "over_draws",
    "pointwise_program",
    "pointwise_shared",
    "POINTWISE_BYTES",
]

_JITTED: dict[Any, Any] = {}
_MAX_ENTRIES = 160


def model_key(model: Model) -> str:
    """A string that identifies a model's configuration and priors (cache key)."""
    return json.dumps(model.config(), sort_keys=True, default=str) + type(model).__qualname__


def cached_jit(kind: str, model: Model, *key, build: Callable[[], Any]) -> Any:
    """The object ``build()`` returns, built once per (kind, model configuration, key).

    Parameters
    ----------
    kind : str
        What the program is (e.g. ``"pointwise-lanes"``, ``"nuts-runner"``).
    model : Model
        Its configuration and priors are part of the key.
    *key
        Further hashable parts of the key (data layout, settings).
    build : callable
        Builds the compiled function (or an object holding compiled functions).
    """
    full = (kind, model_key(model), *key)
    if full not in _JITTED:
        if len(_JITTED) >= _MAX_ENTRIES:
            _JITTED.clear()
        _JITTED[full] = build()
    return _JITTED[full]


def clear_caches() -> None:
    """Forget every compiled program bayesdiff keeps (NUTS runners, evidence targets,
    pointwise log-likelihoods). Later calls compile again; use it to free memory in
    long sessions that fit many different models or data shapes."""
    _JITTED.clear()


#: Memory for the pointwise log-likelihoods of a batch of draws evaluated at once.
#: Long FBM tracks keep an O(n^2) recursion per evaluation (8 MB at n = 1000), so
#: 4000 draws in one vmap would need 32 GB; batches of draws stay within this.
POINTWISE_BYTES = 1 << 30


def over_draws(one: Callable, n_steps: int, n_parallel: int) -> Callable:
    """``(params with a leading draws axis, data) -> (draws, n)``, in batches of draws
    sized so that ``n_parallel`` such maps running side by side fit :data:`POINTWISE_BYTES`."""
    per_eval = 32 * n_steps * max(n_steps, 1024)  # bytes, generous for every model
    batch = max(1, POINTWISE_BYTES // (per_eval * max(n_parallel, 1)))

    def mapped(p, d):
        return jax.lax.map(lambda q: one(q, d), p, batch_size=batch)

    return mapped


def pointwise_program(model: Model, regular: bool, layout: str, lane_axis: int | None = None):
    """The compiled pointwise log-likelihood program for one data layout.

    Parameters
    ----------
    model : Model
    regular : bool
        Whether the tracks have no gaps (Toeplitz fast paths).
    layout : {"lanes", "pooled", "draws"}
        ``"lanes"``: parameters (lanes, draws, ...) with data per lane
        (``lane_axis=0``) or shared (``lane_axis=None``) -> (lanes, draws, n).
        ``"pooled"``: parameters (draws, ...) shared by a batch of tracks
        (B, ...) -> (draws, B, n). ``"draws"``: parameters (draws, ...) and one
        track -> (draws, n).
    lane_axis : int or None
        For ``"lanes"`` only.
    """
    one = partial(model.pointwise_from_data, regular=regular)

    def build():
        if layout == "lanes":

            def f(params, data):
                n_lanes = next(iter(params.values())).shape[0]
                inner = over_draws(one, data.increments.shape[-2], n_lanes)
                return jax.vmap(inner, in_axes=(0, lane_axis))(params, data)

        elif layout == "pooled":

            def f(params, data):
                n_tracks, n_steps = data.increments.shape[:2]
                per_track = jax.vmap(one, in_axes=(None, 0))
                return over_draws(per_track, n_steps, n_tracks)(params, data)

        elif layout == "draws":

            def f(params, data):
                return over_draws(one, data.increments.shape[-2], 1)(params, data)

        else:
            raise ValueError(f"unknown layout {layout!r}")
        return jax.jit(f)

    kind = {"lanes": "pointwise-lanes", "pooled": "pointwise-pooled", "draws": "pointwise-draws"}
    key = (bool(regular), lane_axis) if layout == "lanes" else (bool(regular),)
    return cached_jit(kind.get(layout, layout), model, *key, build=build)


def pointwise_shared(model: Model, data, regular: bool, params: dict) -> np.ndarray:
    """Pooled: parameters (chain, draw, ...) shared by a batch's tracks -> (chain, draw, B, L)."""
    c, d = next(iter(params.values())).shape[:2]
    flat = {k: jnp.asarray(v).reshape(c * d, *v.shape[2:]) for k, v in params.items()}
    out = np.asarray(pointwise_program(model, regular, "pooled")(flat, data))
    return out.reshape(c, d, *out.shape[1:])
