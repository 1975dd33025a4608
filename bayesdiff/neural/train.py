"""Training on simulations from bayesdiff's own models.

Every chunk of training tracks is simulated on the fly: parameters are drawn
from the models' priors (in frame units, ``dt = 1``: the networks see
scale-free increments, so only dimensionless combinations matter), track
lengths log-uniformly over ``lengths`` and grouped into power-of-two buckets,
dimensions from ``dims``, localization noise for a fraction of the tracks at
a signal-to-noise ratio ``SNR = sqrt(D) / sigma`` drawn log-uniformly from
``snr``, and random gaps (missing frames) for a fraction of them.

Targets (see ``docs/neural.md``): ``alpha`` and ``z = log D - log s^2`` with
``s^2`` the normalization of :mod:`bayesdiff.neural.features`.

========  ============================  =========================================
class     alpha (see :func:`alpha_role`)  D
========  ============================  =========================================
bm        1 (no head: a point mass)      D
fbm       alpha (its own head)           D (MSD_1d = 2 D t^alpha)
langevin  none (no head)                 D, the free diffusion coefficient
levy      alpha = 3 - gamma (own head)   undefined: the D loss is masked
switch2   1 (no head: a point mass)      occupancy-weighted mean of the states'
                                        D over the track's increments
========  ============================  =========================================

The alpha loss is the Gaussian NLL of the true class's head only, so each head
learns ``E[alpha | track, class]`` and its spread (not a posterior mean under
the mixed training prior, which the point masses at 1 would pull towards 1).

Each member trains with its own seed (initialization and data stream) under
Adam with a warm-up-cosine learning rate, keeps the parameters with the lowest
loss on a fixed validation set, stops early when that loss stops improving,
and writes a resumable checkpoint (Flax msgpack) after every validation.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..errors import BayesdiffError, NonFiniteError, ParameterError
from ._setup import DEFAULT_MODELS as DEFAULT_MODELS
from ._setup import TRAINING_PRIORS as TRAINING_PRIORS
from ._setup import TrainConfig as TrainConfig
from ._setup import alpha_heads as alpha_heads
from ._setup import alpha_role as alpha_role
from ._setup import defines_d as defines_d
from ._setup import joint_head as joint_head
from ._setup import training_model
from .ensemble import AmortizedEstimator, DeepEnsemble
from .features import bucket_length, encode
from .networks import Architecture

__all__ = [
    "TrainConfig",
    "DEFAULT_MODELS",
    "train",
    "simulate_chunk",
    "simulate_labelled",
    "loss_terms",
    "alpha_role",
    "alpha_heads",
    "joint_head",
]


def _draw(model, n: int, dim: int, key: jax.Array) -> dict[str, np.ndarray]:
    out = {}
    for i, p in enumerate(model.param_names):
        if p == "sigma":
            continue
        prior = model.prior(p)
        shape = model.param_shape(p, dim)
        k = jax.random.fold_in(key, i)
        s = np.asarray(prior.sample(k, (n,)), dtype=np.float64)
        if s.shape[1:] != shape:
            s = np.asarray(prior.sample(k, (n, *shape)), dtype=np.float64)
        out[p] = s
    return out


def _frames(rng: np.random.Generator, n_steps: int, gaps: bool) -> np.ndarray:
    if not gaps:
        return np.arange(n_steps + 1)
    lag = 1 + rng.binomial(1, 0.1, n_steps) * rng.integers(1, 3, n_steps)
    return np.concatenate([[0], np.cumsum(lag)])


def _simulate_group(cfg, name, noisy, n, L, dim, n_steps, rng, key):
    """Positions (n, L + 1, dim), lags (L,), alpha (n,), log D (n,) (nan: undefined)."""
    model = training_model(name, noisy)
    kind = model.kind
    params = _draw(model, n, dim, key)
    if kind == "switching":
        K = model.n_states
        P = params.get("P", np.ones((n, 1, 1)))
        pi = _stationary(P)
        d_scale = np.sum(pi * params["D"], axis=-1)
    else:
        d_scale = params.get("D", np.ones(n))
    if "sigma" in model.param_names:
        snr = np.exp(rng.uniform(*np.log(cfg.snr), n))
        params["sigma"] = np.sqrt(d_scale) / snr
    frames = _frames(rng, L, rng.random() < cfg.gap_fraction)
    seed = int(rng.integers(2**31))
    for attempt in range(5):
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if kind == "switching":
                    ts, states = model.simulate_with_states(
                        seed + attempt, params, L, 1.0, dim=dim, n_tracks=n, frames=frames
                    )
                else:
                    ts = model.simulate(seed + attempt, params, L, 1.0, dim=dim, n_tracks=n,
                                        frames=frames)  # fmt: skip
            break
        except NonFiniteError:
            continue
    else:
        return None
    pos = np.stack([t.positions for t in ts])
    lags = np.diff(frames).astype(np.float64)
    role = alpha_role(name)
    if role == "free":
        alpha = params["alpha"]
    elif role == "none":
        alpha = np.full(n, np.nan)  # no single exponent: the MSD saturates
    else:
        alpha = np.ones(n)
    if not defines_d(name):
        log_d = np.full(n, np.nan)
    elif kind == "switching":
        K = model.n_states
        Dk = params["D"].reshape(n, K)
        valid = np.arange(L)[None, :] < n_steps[:, None]
        occ = np.take_along_axis(Dk, states, axis=1)
        log_d = np.log(np.sum(occ * valid, axis=1) / n_steps)
    else:
        log_d = np.log(params["D"])
    return pos, lags, alpha, log_d


def _stationary(P: np.ndarray) -> np.ndarray:
    """Stationary distributions of transition matrices P (n, K, K), shape (n, K)."""
    K = P.shape[-1]
    A = np.swapaxes(P, -1, -2) - np.eye(K)
    A[:, -1, :] = 1.0
    b = np.zeros((P.shape[0], K))
    b[:, -1] = 1.0
    return np.clip(np.linalg.solve(A, b[..., None])[..., 0], 0, None)


def simulate_chunk(cfg: TrainConfig, n: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Simulate about ``n`` training tracks, grouped by bucket.

    Returns
    -------
    list of dict
        One per bucket length with encoded inputs ``x`` (B, L, channels),
        ``mask``, ``dim`` and targets ``alpha``, ``z`` (nan where undefined),
        ``cls`` (index into ``cfg.models``) and ``head`` (the class's alpha
        head, -1 where it has none).
    """
    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed % (2**31))
    lo, hi = cfg.lengths[0] - 1, cfg.lengths[1] - 1
    sizes = sorted({bucket_length(s) for s in range(lo, hi + 1)})
    groups = [(m, d) for m in range(len(cfg.models)) for d in cfg.dims]
    heads = alpha_heads(cfg.models)
    # equal numbers per bucket (log-spaced lengths) and group: fixed shapes, no recompilation
    per = max(8, n // (len(sizes) * len(groups)))
    by_bucket: dict[int, list] = {}
    for L in sizes:
        s_lo, s_hi = max(lo, L // 2 + 1 if L > sizes[0] else lo), min(hi, L)
        parts = []
        for g, (mi, dim) in enumerate(groups):
            noisy = rng.random() < cfg.noise_fraction
            ns = np.exp(rng.uniform(np.log(s_lo), np.log(s_hi + 1), per)).astype(np.int64)
            ns = ns.clip(s_lo, s_hi)
            sim_len = int(ns.max())
            k = jax.random.fold_in(key, L * 1000 + g)
            out = _simulate_group(cfg, cfg.models[mi], noisy, per, sim_len, dim, ns, rng, k)
            if out is None:
                continue
            pos, lags, alpha, log_d = out
            inc = np.zeros((per, L, dim))
            inc[:, :sim_len] = np.diff(pos, axis=1)
            lg = np.ones((per, L))
            lg[:, :sim_len] = lags
            x, mask, log_scale = encode(inc, lg, ns, dim)
            parts.append(
                dict(
                    x=x,
                    mask=mask,
                    dim=np.full(per, dim, np.float32),
                    alpha=alpha.astype(np.float32),
                    z=(log_d - log_scale).astype(np.float32),
                    cls=np.full(per, mi, np.int32),
                    head=np.full(per, heads[mi], np.int32),
                )
            )
        if parts:
            by_bucket[L] = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out = []
    for d in by_bucket.values():
        ok = np.all(np.isfinite(d["x"]), axis=(1, 2))
        out.append({k: v[ok] for k, v in d.items()})
    return out


def simulate_labelled(
    cfg: TrainConfig, model: str, n: int, n_steps: int, dim: int, seed: int
) -> tuple[Any, np.ndarray, np.ndarray]:
    """Test tracks from the training distribution of one class (dt = 1, no gaps).

    Returns
    -------
    tracks : TrackSet
        ``n`` tracks of ``n_steps`` increments; a fraction ``cfg.noise_fraction``
        of the groups with localization noise (as in training).
    alpha, log_d : arrays of shape (n,)
        True values (nan where undefined: alpha of Langevin, D of Lévy walks).
    """
    from ..tracks import Track, TrackSet

    rng = np.random.default_rng(seed)
    cfg = dataclasses.replace(cfg, gap_fraction=0.0)
    noisy = rng.random(n) < cfg.noise_fraction
    tracks, alphas, logds = [], [], []
    for flag in (False, True):
        m = int(np.sum(noisy == flag))
        if m == 0:
            continue
        key = jax.random.PRNGKey(seed * 2 + int(flag))
        out = _simulate_group(cfg, model, flag, m, n_steps, dim, np.full(m, n_steps), rng, key)
        if out is None:
            raise ParameterError(f"{model}: simulation failed")
        pos, _, alpha, log_d = out
        tracks += [Track(p, 1.0) for p in pos]
        alphas.append(alpha)
        logds.append(log_d)
    ts = TrackSet(Track(t.positions, 1.0, id=i) for i, t in enumerate(tracks))
    return ts, np.concatenate(alphas), np.concatenate(logds)


def loss_terms(net, params, batch) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Mean Gaussian NLLs of alpha and z plus the class cross-entropy.

    The alpha NLL is that of the true class's head (``batch["head"]``), over
    the tracks of classes with a head; the z NLL is masked where D is undefined.

    With a joint head (``Architecture(joint=True)``) the tracks of its class
    are scored by the bivariate Gaussian NLL of ``(alpha, z)``, written as
    ``-log p(z) - log p(alpha | z)``: the first part is the ``"logD"`` term (the
    z marginal, as for every class), the second replaces the ``"alpha"`` term
    (a Gaussian with mean ``mu_a + Sigma_az / Sigma_zz (z - mu_z)`` and variance
    ``alpha_var_given_z``). On a batch of such tracks alone the two terms add
    up to the mean bivariate NLL (without the constant ``log 2 pi``).
    """
    out, _ = net.apply(params, batch["x"], batch["mask"], batch["dim"])
    z_mu, z_var = out["z_mean"], out["z_var"]
    head = batch["head"]
    a_ok = (head >= 0) & jnp.isfinite(batch["alpha"])
    z_ok = jnp.isfinite(batch["z"])
    z = jnp.where(z_ok, batch["z"], 0.0)
    if out["alpha_mean"].shape[1]:
        idx = jnp.maximum(head, 0)[:, None]
        a_mu = jnp.take_along_axis(out["alpha_mean"], idx, axis=1)[:, 0]
        a_var = jnp.take_along_axis(out["alpha_var"], idx, axis=1)[:, 0]
        if "alpha_z_cov" in out:  # joint head: alpha given z for its class
            jnt = (head == net.joint_head) & z_ok
            a_mu = jnp.where(jnt, a_mu + out["alpha_z_cov"] / z_var * (z - z_mu), a_mu)
            a_var = jnp.where(jnt, out["alpha_var_given_z"], a_var)
        alpha = jnp.where(a_ok, batch["alpha"], 0.0)
        nll_a = jnp.where(a_ok, 0.5 * (jnp.log(a_var) + (alpha - a_mu) ** 2 / a_var), 0.0)
    else:  # no class with a variable alpha
        nll_a = jnp.zeros_like(z_mu)
    nll_z = jnp.where(z_ok, 0.5 * (jnp.log(z_var) + (z - z_mu) ** 2 / z_var), 0.0)
    ce = optax.softmax_cross_entropy_with_integer_labels(out["logits"], batch["cls"])
    terms = {
        "alpha": jnp.sum(nll_a) / jnp.maximum(jnp.sum(a_ok), 1),
        "logD": jnp.sum(nll_z) / jnp.maximum(jnp.sum(z_ok), 1),
        "class": jnp.mean(ce),
    }
    return terms["alpha"] + terms["logD"] + terms["class"], terms


def _batches(chunk, batch_size, rng):
    order = []
    for b, d in enumerate(chunk):
        n = len(d["cls"])
        perm = rng.permutation(n)
        order += [(b, perm[i : i + batch_size]) for i in range(0, n - batch_size + 1, batch_size)]
    rng.shuffle(order)
    for b, idx in order:
        yield {k: v[idx] for k, v in chunk[b].items()}


def _f32(tree):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), tree)


def _ckpt_path(out: Path | None, member: int) -> Path | None:
    return None if out is None else out / "checkpoints" / f"member{member}.msgpack"


def _optimizer():
    """Adam(W) with gradient clipping; the learning rate is set every step (see lr_at)."""
    return optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.inject_hyperparams(optax.adamw)(learning_rate=0.0, weight_decay=1e-4),
    )


@functools.lru_cache(maxsize=8)
def _compiled(arch: Architecture):
    """Jitted training step and loss of an architecture, shared by all members."""
    net, tx = arch.build(), _optimizer()

    @jax.jit
    def step_fn(params, opt_state, batch):
        (loss, _), grads = jax.value_and_grad(lambda p: loss_terms(net, p, batch), has_aux=True)(
            params
        )
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def eval_fn(params, batch):
        return loss_terms(net, params, batch)

    return step_fn, eval_fn


def _initial_state(cfg: TrainConfig, arch: Architecture, seed: int) -> dict[str, Any]:
    """A fresh member: initialized parameters and optimizer, nothing trained yet."""
    net = arch.build()
    L0 = bucket_length(cfg.lengths[0])
    init_x = jnp.zeros((2, L0, 4), jnp.float32)
    # one compiled program (bitwise the same values as running the initializer op by op)
    init = jax.jit(net.init)
    params = _f32(init(jax.random.PRNGKey(seed), init_x, jnp.ones((2, L0)), jnp.ones((2,))))
    opt_state = _optimizer().init(params)
    return {
        "params": params,
        "opt_state": opt_state,
        "best": params,
        "step": 0,
        "best_val": np.inf,
        "bad": 0,
        "done": False,
        "seconds": 0.0,
    }


def _resume(ckpt: Path | None, state: dict[str, Any]) -> dict[str, Any]:
    """The state saved in ``ckpt`` (same structure as ``state``), or ``state`` if there is none."""
    if ckpt is not None and ckpt.exists():
        try:
            return flax.serialization.from_bytes(state, ckpt.read_bytes())
        except Exception as err:  # noqa: BLE001 - a stale checkpoint is not fatal
            warnings.warn(f"ignoring unreadable checkpoint {ckpt}: {err}", stacklevel=3)
    return state


class _MemberRun:
    """One member's training loop: its state, learning-rate schedule, validation, checkpoints.

    Each validation keeps the parameters with the lowest validation loss so far
    (``best``) and counts validations without improvement (``bad``); training stops
    at ``cfg.patience`` of them, after the planned steps, or past the deadline.
    """

    def __init__(self, cfg, arch, state, *, ckpt, deadline, val):
        self.cfg = cfg
        self.total_steps = max(1, int(cfg.n_train * cfg.reuse / cfg.batch_size))
        self.warmup = min(200, self.total_steps // 10 + 1)
        self.ckpt, self.deadline, self.val = ckpt, deadline, val
        self.step_fn, self.eval_fn = _compiled(arch)
        self.step = int(state["step"])
        self.params, self.opt_state = state["params"], state["opt_state"]
        self.best = state["best"]
        self.best_val = float(state["best_val"])
        self.bad = int(state["bad"])
        self.t0 = time.time() - float(state["seconds"])
        self.losses: list[float] = []
        self.history: list[tuple[int, float, float]] = []

    def lr_at(self, step: int, elapsed: float) -> float:
        """Warm-up, then cosine decay over the run's progress in steps or time, whichever leads."""
        cfg = self.cfg
        if step < self.warmup:
            return cfg.lr * (step + 1) / self.warmup
        frac = step / self.total_steps
        if self.deadline is not None:
            frac = max(frac, elapsed / max(self.deadline - self.t0, 1e-9))
        frac = min(frac, 1.0)
        return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))

    def validate(self, params) -> float:
        """Mean loss over the validation set."""
        tot, n = 0.0, 0
        for d in self.val:
            loss, _ = self.eval_fn(params, d)
            tot += float(loss) * len(d["cls"])
            n += len(d["cls"])
        return tot / max(n, 1)

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.time() > self.deadline

    def run(self, rng: np.random.Generator, bar) -> None:
        """Train on fresh chunks until a stopping rule holds."""
        stop = False
        while self.step < self.total_steps and not stop:
            chunk = simulate_chunk(self.cfg, self.cfg.chunk, seed=int(rng.integers(2**62)))
            stop = self._train_on(chunk, rng, bar)
            if self.out_of_time() and not stop:
                v = self.validate(self.params)
                if v < self.best_val:
                    self.best, self.best_val = self.params, v
                stop = True
                self._checkpoint(done=True)

    def _train_on(self, chunk, rng: np.random.Generator, bar) -> bool:
        """``cfg.reuse`` passes over a chunk; True when a validation says stop."""
        cfg = self.cfg
        for _ in range(cfg.reuse):
            for batch in _batches(chunk, cfg.batch_size, rng):
                self.opt_state[1].hyperparams["learning_rate"] = jnp.asarray(
                    self.lr_at(self.step, time.time() - self.t0), jnp.float32
                )
                self.params, self.opt_state, loss = self.step_fn(self.params, self.opt_state, batch)
                self.losses.append(float(loss))
                self.step += 1
                bar.update(1)
                if self.step % cfg.val_every == 0 or self.step >= self.total_steps:
                    if self._after_validation(bar):
                        return True
        return False

    def _after_validation(self, bar) -> bool:
        """Validate, keep the best parameters, checkpoint; True when training should stop."""
        cfg = self.cfg
        v = self.validate(self.params)
        recent = np.mean(self.losses[-cfg.val_every :])
        self.history.append((self.step, float(recent), v))
        bar.set_postfix(train=f"{recent:.3f}", val=f"{v:.3f}")
        if v < self.best_val - 1e-3:
            self.best, self.best_val, self.bad = self.params, v, 0
        else:
            self.bad += 1
        stop = self.bad >= cfg.patience or self.step >= self.total_steps or self.out_of_time()
        self._checkpoint(done=stop)
        return stop

    def _checkpoint(self, done: bool) -> None:
        if self.ckpt is not None:
            _write_ckpt(self.ckpt, self.params, self.opt_state, self.best, self.step,
                        self.best_val, self.bad, done, self.t0)  # fmt: skip

    def result(self, seed: int) -> tuple[Any, dict[str, Any]]:
        """The best parameters and the training record."""
        if not np.isfinite(self.best_val):
            self.best_val = self.validate(self.params)
            self.best = self.params
        info: dict[str, Any] = {"seed": seed, "history": self.history}
        info.update(steps=self.step, best_val=float(self.best_val),
                    seconds=time.time() - self.t0, resumed=False)  # fmt: skip
        losses = self.losses
        info["first_loss"] = float(np.mean(losses[: min(20, len(losses))])) if losses else None
        return self.best, info


def train_member(
    cfg: TrainConfig,
    arch: Architecture,
    seed: int,
    member: int,
    *,
    deadline: float | None = None,
    checkpoint_dir: Path | None = None,
    progress: bool = True,
    val: list | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train one network; resumes from its checkpoint if present.

    Parameters
    ----------
    cfg : TrainConfig
    arch : Architecture
        With its heads sized for ``cfg.models`` (as :func:`train` sets them).
    seed : int
        Initialization and data-stream seed.
    member : int
        Index of the member (names its checkpoint and progress bar).
    deadline : float, optional
        Wall-clock time (``time.time()``) at which to stop.
    checkpoint_dir : path, optional
        Folder of ``checkpoints/member<i>.msgpack``, written after every validation.
    progress : bool
        Show a progress bar.
    val : list of dict, optional
        Validation chunk (:func:`simulate_chunk`); default: simulated from ``seed``.

    Returns
    -------
    params : pytree
        The parameters with the lowest validation loss.
    info : dict
        ``seed``, ``history`` (step, mean training loss, validation loss),
        ``steps``, ``best_val``, ``seconds``, ``resumed`` and ``first_loss``.
    """
    from tqdm.auto import tqdm

    ckpt = _ckpt_path(checkpoint_dir, member)
    state = _resume(ckpt, _initial_state(cfg, arch, seed))
    if bool(state["done"]):
        info: dict[str, Any] = {"seed": seed, "history": []}
        info.update(steps=int(state["step"]), best_val=float(state["best_val"]), resumed=True)
        info["seconds"] = float(state["seconds"])
        return state["best"], info
    if val is None:
        val = simulate_chunk(cfg, cfg.n_val, seed=10**6 + seed)
    run = _MemberRun(cfg, arch, state, ckpt=ckpt, deadline=deadline, val=val)
    rng = np.random.default_rng([seed, member, run.step])
    bar = tqdm(total=run.total_steps, initial=run.step, disable=not progress,
               desc=f"member {member}")  # fmt: skip
    run.run(rng, bar)
    bar.close()
    return run.result(seed)


def _write_ckpt(path, params, opt_state, best, step, best_val, bad, done, t0):
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "params": params,
        "opt_state": opt_state,
        "best": best,
        "step": step,
        "best_val": best_val,
        "bad": bad,
        "done": done,
        "seconds": time.time() - t0,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(flax.serialization.to_bytes(state))
    tmp.replace(path)


def _architecture(architecture: Architecture | dict | None, cfg: TrainConfig) -> Architecture:
    """The architecture with its heads sized for ``cfg.models`` (joint head included)."""
    if isinstance(architecture, dict):
        architecture = Architecture(**architecture)
    arch = dataclasses.replace(
        architecture or Architecture(),
        n_classes=len(cfg.models),
        alpha_heads=sum(h >= 0 for h in alpha_heads(cfg.models)),
    )
    if not arch.joint:
        return dataclasses.replace(arch, joint_head=-1)
    jh = joint_head(cfg.models)
    if jh < 0:
        raise ParameterError(
            f"joint=True needs a class with a variable alpha and a defined D (FBM); "
            f"got {list(cfg.models)}"
        )
    return dataclasses.replace(arch, joint_head=jh)


def _claim_out_dir(out_dir: Path, setup: dict[str, Any]) -> None:
    """Record the training set-up in ``out_dir/checkpoints/config.json``; refuse a folder
    whose checkpoints come from another set-up (resuming them would mix two trainings)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg_file = out_dir / "checkpoints" / "config.json"
    if cfg_file.exists():
        have = json.loads(cfg_file.read_text())
        if have != json.loads(json.dumps(setup)):
            raise BayesdiffError(
                f"{out_dir}: holds checkpoints of a different training set-up; "
                "use another --out folder or delete its checkpoints/"
            )
    cfg_file.parent.mkdir(parents=True, exist_ok=True)
    cfg_file.write_text(json.dumps(setup, indent=1))


def train(
    models: Sequence[str] = DEFAULT_MODELS,
    lengths: tuple[int, int] = (20, 500),
    dims: Sequence[int] = (1, 2),
    n_train: int = 200_000,
    members: int = 5,
    seed: int = 0,
    *,
    architecture: Architecture | dict | None = None,
    minutes: float | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    **config: Any,
):
    """Train a deep ensemble of amortized estimators on simulated tracks.

    Parameters
    ----------
    models : sequence of str
        Model classes to simulate and classify (registry names).
    lengths : (int, int)
        Shortest and longest training track, in points (the network refuses
        tracks shorter than the first).
    dims : sequence of int
        Dimensions to train on (1 and/or 2).
    n_train : int
        Simulated training tracks per member.
    members : int
        Ensemble size (each member: its own seed, initialization and data stream).
    seed : int
        Base seed; member ``i`` uses ``seed + i``.
    architecture : Architecture or dict, optional
        Network hyper-parameters (default :class:`Architecture`); with
        ``Architecture(joint=True)`` the FBM class gets a joint (alpha, z)
        head (``joint_head`` is set here from ``models``).
    minutes : float, optional
        Wall-time budget for the whole ensemble, shared equally by the members
        (a member stops at its share even if ``n_train`` is not reached).
    out : path, optional
        Folder for resumable checkpoints (``out/checkpoints``); the finished
        ensemble is saved there too. Calling again with the same ``out``
        resumes: finished members are loaded, a running one continues.
    progress : bool
        Show a progress bar per member.
    **config
        Other :class:`TrainConfig` fields (``snr``, ``noise_fraction``,
        ``batch_size``, ``lr``, ``patience``, ...).

    Returns
    -------
    DeepEnsemble
        With ``members`` members (a single member is still an ensemble; its
        ``members[0]`` is the :class:`AmortizedEstimator`).

    Examples
    --------
    >>> import bayesdiff as bd
    >>> ens = bd.neural.train(models=("bm", "fbm"), n_train=2000, members=2,
    ...                       progress=False)  # doctest: +SKIP
    """
    if members < 1:
        raise ParameterError(f"members must be >= 1, got {members}")
    cfg = TrainConfig(
        models=tuple(models), lengths=tuple(lengths), dims=tuple(dims), n_train=n_train, **config
    )
    arch = _architecture(architecture, cfg)
    out_dir = None if out is None else Path(out)
    if out_dir is not None:
        _claim_out_dir(out_dir, {"config": cfg.to_dict(), "architecture": arch.to_dict(),
                                 "seed": seed})  # fmt: skip
    start = time.time()
    budget = None if minutes is None else 60.0 * float(minutes)
    val = simulate_chunk(cfg, cfg.n_val, seed=10**6 + seed)
    nets = []
    for i in range(members):
        deadline = None
        if budget is not None:
            deadline = start + budget * (i + 1) / members
        params, info = train_member(
            cfg, arch, seed + i, i, deadline=deadline, checkpoint_dir=out_dir,
            progress=progress, val=val,
        )  # fmt: skip
        nets.append(AmortizedEstimator(arch, params, cfg, info))
    ens = DeepEnsemble(nets, info={"train_seconds": time.time() - start, "seed": seed})
    if out_dir is not None:
        ens.save(out_dir)
    return ens
