"""NumPyro's NUTS, vectorized over lanes of chains and compiled once per layout.

NUTS chains ("lanes") are batched with ``jax.vmap`` and the batch is split
across the host devices with ``jax.pmap`` (bayesdiff asks JAX for several CPU
devices at import, so chains use every core). A :class:`Runner` is compiled
once per model configuration, data layout and settings, and reused through
the program cache. Sampling proceeds in segments so a progress bar can
follow it; NumPyro's NUTS kernel (``numpyro.infer.hmc.hmc``) does the work,
including step-size and dense mass-matrix adaptation during warm-up.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.handlers import seed as seed_handler
from numpyro.infer.hmc import hmc
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn
from tqdm.auto import tqdm

from ..errors import InferenceError
from ..models.base import Model
from ..tracks import Track
from ._programs import cached_jit
from ._target import Target, latent_values, prior_latents

__all__ = [
    "NutsSettings",
    "Draws",
    "Runner",
    "runner",
    "run_lanes",
    "run_shared",
    "segment_length",
    "init_function",
    "start_values",
    "resolve_start",
    "mode_start",
    "jitter",
    "check_counts",
    "check_finite_start",
    "after_warmup",
    "constrainer",
]

#: Sampling runs in this many segments (progress-bar updates).
N_SEGMENTS = 10


@dataclasses.dataclass(frozen=True)
class NutsSettings:
    """NUTS settings shared by every chain of a run.

    Attributes
    ----------
    dense_mass : bool
        A dense (rather than diagonal) mass matrix.
    target_accept : float
        Target acceptance probability of step-size adaptation, in (0, 1).
    max_tree_depth : int
        Maximum tree depth.
    """

    dense_mass: bool = True
    target_accept: float = 0.8
    max_tree_depth: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.target_accept < 1:
            raise ValueError(f"target_accept must be in (0, 1), got {self.target_accept}")
        object.__setattr__(self, "dense_mass", bool(self.dense_mass))
        object.__setattr__(self, "target_accept", float(self.target_accept))
        object.__setattr__(self, "max_tree_depth", int(self.max_tree_depth))


@dataclasses.dataclass(frozen=True)
class Draws:
    """How many iterations every chain runs.

    Attributes
    ----------
    draws, tune, chains : int
        Posterior draws per chain, warm-up iterations per chain, chains.
    """

    draws: int
    tune: int
    chains: int

    @property
    def total(self) -> int:
        return self.tune + self.draws


class Runner:
    """Compiled NUTS for one (model, data layout, settings); lanes = chains.

    ``init[mode]`` and ``segment[mode]`` are pmapped over devices; mode 1 runs
    one lane per device unbatched (NUTS's while loops stay scalar), mode 2
    vmaps several lanes per device.
    """

    def __init__(
        self, model_fn: Callable, lane_axis: int | None, tune: int, seg_len: int,
        nuts: NutsSettings,
    ):  # fmt: skip
        self.model_fn = model_fn
        self.lane_axis = lane_axis
        self.seg_len = seg_len

        def pot_gen(*args):
            return partial(potential_energy, model_fn, args, {})

        init_kernel, sample_kernel = hmc(potential_fn_gen=pot_gen, algo="NUTS")

        def init_one(z, key, args, inverse_mass=None):
            return init_kernel(
                z,
                num_warmup=tune,
                inverse_mass_matrix=inverse_mass,
                dense_mass=nuts.dense_mass,
                target_accept_prob=nuts.target_accept,
                max_tree_depth=nuts.max_tree_depth,
                model_args=args,
                rng_key=key,
            )

        def seg_one(state, args):
            def body(s, _):
                s = sample_kernel(s, model_args=args)
                stats = (s.diverging, s.num_steps, s.accept_prob, s.adapt_state.step_size, s.energy,
                         s.potential_energy)  # fmt: skip
                return s, (s.z, stats)

            return jax.lax.scan(body, state, None, length=seg_len)

        ax, sx = (0, 0, lane_axis, None), (0, lane_axis)
        self.init = {
            1: jax.pmap(init_one, in_axes=ax),
            2: jax.pmap(jax.vmap(init_one, in_axes=ax), in_axes=ax),
        }
        self.segment = {
            1: jax.pmap(seg_one, in_axes=sx),
            2: jax.pmap(jax.vmap(seg_one, in_axes=sx), in_axes=sx),
        }


def runner(kind: str, model: Model, model_fn: Callable, lane_axis: int | None, key: tuple,
           tune: int, seg_len: int, nuts: NutsSettings) -> Runner:  # fmt: skip
    """The cached :class:`Runner` for ``(kind, model, key, tune, seg_len, nuts)``."""
    return cached_jit(
        "nuts-runner", model, kind, *key, tune, seg_len, nuts,
        build=lambda: Runner(model_fn, lane_axis, tune, seg_len, nuts),
    )  # fmt: skip


def segment_length(total: int) -> int:
    return max(1, math.ceil(total / N_SEGMENTS))


def run_lanes(
    run: Runner,
    args: tuple,
    z0: dict,
    keys: jax.Array,
    total: int,
    bar: tqdm | None,
    bar_step: float,
    inverse_mass: jax.Array | None = None,
) -> tuple[dict, tuple]:
    """Run ``total`` NUTS iterations on every lane; returns traces with a leading lane axis.

    ``inverse_mass``: the initial inverse mass matrix of every lane (default: identity).
    """
    n_lanes = keys.shape[0]
    n_dev = min(jax.local_device_count(), n_lanes)
    per = math.ceil(n_lanes / n_dev)
    idx = np.arange(n_dev * per) % n_lanes

    def shard(a):  # on the host: NumPy indexing compiles nothing
        a = np.asarray(a)[idx]
        a = a.reshape(n_dev, *a.shape[1:]) if per == 1 else a.reshape(n_dev, per, *a.shape[1:])
        return jax.device_put(a)

    z0 = jax.tree.map(shard, z0)
    keys = shard(keys)
    dev_args = jax.tree.map(shard, args) if run.lane_axis == 0 else args
    mode = 1 if per == 1 else 2
    state = run.init[mode](z0, keys, dev_args, inverse_mass)
    zs, stats = [], []
    for _ in range(math.ceil(total / run.seg_len)):
        state, (z, st) = run.segment[mode](state, dev_args)
        zs.append(z)
        stats.append(st)
        if bar is not None:
            jax.block_until_ready(st[0])
            bar.update(bar_step)

    def unshard(parts):
        a = np.concatenate([np.asarray(p) for p in parts], axis=mode)  # (dev, [per,] iters, ...)
        a = a.reshape(n_dev * per, *a.shape[mode:])[:n_lanes]
        return a[:, :total]

    z = {k: unshard([p[k] for p in zs]) for k in zs[0]}
    st = tuple(unshard([s[i] for s in stats]) for i in range(len(stats[0])))
    return z, st


def run_shared(
    model_fn: Callable,
    model: Model,
    args: tuple,
    z0: dict,
    key: jax.Array,
    plan: Draws,
    nuts: NutsSettings,
    *,
    progress: bool,
    cache_key: tuple,
    inverse_mass: jax.Array | None = None,
) -> tuple[dict, tuple]:
    """NUTS for chains sharing one data set (one track or a pooled set).

    Chains run in parallel over the host devices, vectorized where there are
    fewer devices, through the cached :class:`Runner`. Returns the model's
    parameters (constrained) and sample stats, with leading (chain, draw) axes.
    ``inverse_mass``: the initial inverse mass matrix (dense; its diagonal when
    ``nuts.dense_mass`` is off), default identity.
    """
    if inverse_mass is not None and not nuts.dense_mass:
        inverse_mass = jnp.diag(inverse_mass)
    total = plan.total
    seg = segment_length(total)
    run = runner(cache_key[0], model, model_fn, None, cache_key[1:], plan.tune, seg, nuts)
    keys = jax.random.split(key, plan.chains)
    bar = tqdm(total=total, desc=f"{model.name}: NUTS", unit="it") if progress else None
    try:
        z, stats = run_lanes(run, args, z0, keys, total, bar, seg, inverse_mass)
    finally:
        if bar is not None:
            bar.close()
    constrain = cached_jit(
        "constrain-shared", model, *cache_key,
        build=lambda: constrainer(model_fn, model, lane_axis=None),
    )  # fmt: skip
    params = constrain({k: jnp.asarray(v[:, plan.tune :]) for k, v in z.items()}, args)
    return {k: np.asarray(v) for k, v in params.items()}, after_warmup(stats, plan.tune)


# -----------------------------------------------------------------------------
# start values
# -----------------------------------------------------------------------------
def init_function(model_fn: Callable, model: Model, dim: int) -> Callable:
    """A pure function data -> unconstrained initial values (vmappable over tracks)."""

    def init(data_args):
        z_default = prior_latents(model_fn, data_args)
        data = data_args[0]
        vals = latent_values(model, model.init_values(data), dim)
        vals = {k: v for k, v in vals.items() if k in z_default}
        z = dict(z_default)
        if vals:
            z.update(unconstrain_fn(seed_handler(model_fn, rng_seed=0), data_args, {}, vals))
            # a data-based value outside a user's bounded prior (D beyond a scaled Beta's
            # range, say): start from the prior medians instead
            z = {k: jnp.where(jnp.isfinite(v), v, z_default[k]) for k, v in z.items()}
            ok = jnp.isfinite(potential_energy(model_fn, data_args, {}, z))
            z = {k: jnp.where(ok, v, z_default[k]) for k, v in z.items()}
        return z

    return init


def start_values(model_fn, init: Callable, data_args: tuple, key: jax.Array, chains: int):
    """Data-based start values jittered once per chain, and the potential energy at the
    first chain's start -- one compiled program."""

    @jax.jit
    def start(data_args, key):
        z0 = init(data_args)
        zc = jax.vmap(lambda k: jitter(z0, k))(jax.random.split(key, chains))
        first = jax.tree.map(lambda a: a[0], zc)
        return zc, potential_energy(model_fn, data_args, {}, first)

    return start(data_args, key)


def resolve_start(start: str, model: Model) -> str:
    """``"data"`` or ``"mode"``: ``start`` itself, or the model's ``nuts_start`` for "auto"."""
    if start not in ("auto", "data", "mode"):
        raise ValueError(f"unknown start {start!r}; use 'auto', 'data' or 'mode'")
    return model.nuts_start if start == "auto" else start


def mode_start(model: Model, track: Track, key: jax.Array, chains: int) -> tuple:
    """Chains' starts drawn from the Laplace approximation at the posterior mode, and
    its covariance (the initial inverse mass matrix); ``(None, None)`` if the mode or
    a positive-definite Hessian cannot be found."""
    try:
        target = Target(model, track)
        theta, hess, _ = target.mode()
        cov = np.linalg.inv(hess)
        cov = 0.5 * (cov + cov.T)
        chol = np.linalg.cholesky(cov)
    except (InferenceError, np.linalg.LinAlgError):
        return None, None
    eps = np.asarray(jax.random.normal(key, (chains, theta.size)))
    rows = theta + eps @ chol.T
    if not (np.all(np.isfinite(rows)) and np.all(np.isfinite(target.logq(rows)))):
        return None, None
    z0 = jax.vmap(target.unravel)(jnp.asarray(rows))
    return z0, jnp.asarray(cov)


def jitter(z: dict, key: jax.Array, scale: float = 0.1) -> dict:
    """``z`` plus independent normal noise of standard deviation ``scale`` on every leaf."""
    leaves, tree = jax.tree.flatten(z)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        tree,
        [x + scale * jax.random.normal(k, jnp.shape(x)) for x, k in zip(leaves, keys, strict=True)],
    )


def check_counts(draws: int, tune: int, chains: int) -> None:
    if draws < 1 or tune < 0 or chains < 1:
        raise ValueError("draws and chains must be >= 1 and tune >= 0")


def check_finite_start(model_fn, args, z0, track: Track, pe=None) -> None:
    """Raise :class:`InferenceError` naming the track if the log density is not finite
    at the first chain's start (``pe``: its potential energy, if already known)."""
    if pe is None:
        z = jax.tree.map(lambda a: a[0], z0)
        pe = jax.jit(lambda a, z: potential_energy(model_fn, a, {}, z))(args, z)
    if not np.isfinite(float(pe)):
        raise InferenceError(
            f"track {track.id!r}: the log density is not finite at the starting values "
            "(check units, priors and the data)"
        )


def after_warmup(stats: tuple, tune: int) -> tuple:
    """Sample stats (lane, iteration, ...) without the warm-up iterations."""
    return tuple(s[:, tune:] for s in stats)


def constrainer(model_fn, model: Model, lane_axis) -> Callable:
    """Jitted map: unconstrained traces (lanes, draws, ...) -> parameters (lanes, draws, ...)."""

    def one(zz, a):
        out = constrain_fn(model_fn, a, {}, zz, return_deterministic=True)
        return {p: out[p] for p in model.param_names}

    return jax.jit(jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(0, lane_axis)))
