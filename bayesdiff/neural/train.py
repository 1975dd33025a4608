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
import numpyro.distributions as dist
import optax

from ..errors import BayesdiffError, ModelError, NonFiniteError, ParameterError
from ..models.registry import from_name
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

#: Model classes of the default ensemble, in ``p_<name>`` order.
DEFAULT_MODELS = ("bm", "fbm", "langevin", "levy", "switch2")

#: Training priors that differ from the models' defaults (frame units, dt = 1).
#: ``sigma`` of the noisy variants is set from the SNR, so its prior is opened up;
#: the Langevin relaxation rate is kept where the trap shows within a track;
#: the Lévy walk's alpha stops short of 2, where its simulator overflows.
TRAINING_PRIORS: dict[str, dict[str, dist.Distribution]] = {
    "langevin": {"k": dist.LogUniform(1e-3, 1.0)},
    "levy": {"alpha": dist.Uniform(1.0, 1.9)},
}
_WIDE_SIGMA = dist.LogUniform(1e-12, 1e12)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What to simulate and how to train (stored in the manifest).

    Attributes
    ----------
    models : tuple of str
        Model classes (registry names: ``bm``, ``fbm``, ``langevin``, ``levy``,
        ``switch2``, ...; options such as ``+noise`` are added by ``noise_fraction``).
    lengths : (int, int)
        Shortest and longest track, in points.
    dims : tuple of int
        Dimensions (1 and/or 2).
    snr : (float, float)
        Range of ``sqrt(D) / sigma`` (per frame) of noisy tracks.
    noise_fraction : float
        Fraction of tracks (of models with a noise option) with localization noise.
    gap_fraction : float
        Fraction of simulation groups observed with random missing frames.
    n_train : int
        Training tracks (simulated) per member; with ``reuse`` passes over each chunk.
    batch_size, chunk, reuse, lr, val_every, patience, n_val :
        Optimizer batch, tracks simulated at a time, passes over each chunk,
        peak learning rate, steps between validations, validations without
        improvement before stopping, validation tracks.
    """

    models: tuple[str, ...] = DEFAULT_MODELS
    lengths: tuple[int, int] = (20, 500)
    dims: tuple[int, ...] = (1, 2)
    snr: tuple[float, float] = (1.0, 30.0)
    noise_fraction: float = 0.5
    gap_fraction: float = 0.1
    n_train: int = 200_000
    batch_size: int = 128
    chunk: int = 2048
    reuse: int = 3
    lr: float = 2e-3
    val_every: int = 250
    patience: int = 6
    n_val: int = 2000

    def __post_init__(self) -> None:
        lo, hi = self.lengths
        if not 4 <= lo <= hi:
            raise ParameterError(f"lengths must satisfy 4 <= min <= max points, got {self.lengths}")
        if not set(self.dims) <= {1, 2} or not self.dims:
            raise ParameterError(f"dims must be 1 and/or 2, got {self.dims}")
        if not 0 < self.snr[0] <= self.snr[1]:
            raise ParameterError(f"snr must be 0 < low <= high, got {self.snr}")
        for name in self.models:
            from_name(name)  # ModelError for unknown names

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["priors"] = {m: _describe_priors(m) for m in self.models}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**kw)


def _kind(name: str) -> str:
    return from_name(name).kind


def alpha_role(name: str) -> str:
    """What alpha is for a model class: ``"free"``, ``"one"`` or ``"none"``.

    ``"free"`` (FBM, Lévy walk): a variable exponent with its own Gaussian head;
    ``"one"`` (Brownian, switching diffusion): exactly 1, a point mass in the
    predictive distribution; ``"none"`` (Langevin): no single exponent, the
    MSD saturates.
    """
    kind = _kind(name)
    if kind in ("fbm", "levy"):
        return "free"
    return "none" if kind == "langevin" else "one"


def defines_d(name: str) -> bool:
    """Whether a model class has a diffusion coefficient target (the Lévy walk has none:
    its flights are ballistic)."""
    return _kind(name) != "levy"


def alpha_heads(models: Sequence[str]) -> list[int]:
    """Alpha-head index of every class (-1 for classes without a head)."""
    out, h = [], 0
    for name in models:
        out.append(h if alpha_role(name) == "free" else -1)
        h += alpha_role(name) == "free"
    return out


def joint_head(models: Sequence[str]) -> int:
    """Alpha-head index of the first class with a variable alpha *and* a defined D, or -1.

    That class (FBM by default) gets the joint (alpha, z) head of
    ``Architecture(joint=True)``; the Lévy walk has no D target and keeps its
    alpha-only head.
    """
    heads = alpha_heads(models)
    for name, h in zip(models, heads):
        if h >= 0 and defines_d(name):
            return h
    return -1


def _model(name: str, noisy: bool):
    base = from_name(name)
    overrides = dict(TRAINING_PRIORS.get(base.kind, {}))
    noisy = noisy and _with_noise(name) != name
    spec = _with_noise(name) if noisy else name
    m = from_name(spec)
    if noisy:
        overrides["sigma"] = _WIDE_SIGMA
    return dataclasses.replace(m, priors=overrides or None)


def _with_noise(name: str) -> str:
    if "noise" in name.split("+"):
        return name
    try:
        return name + "+noise" if "sigma" in from_name(name + "+noise").param_names else name
    except ModelError:
        return name


def _describe_priors(name: str) -> dict[str, str]:
    m = _model(name, noisy=False)
    out = m.config()["priors"]
    if _with_noise(name) != name:
        out["sigma"] = "sqrt(D) / SNR, SNR ~ LogUniform(snr)"
    return out


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
    model = _model(name, noisy)
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
    """Train one network; returns ``(params, info)``. Resumes from its checkpoint if present."""
    from tqdm.auto import tqdm

    net = arch.build()
    total_steps = max(1, int(cfg.n_train * cfg.reuse / cfg.batch_size))
    tx = _optimizer()
    warmup = min(200, total_steps // 10 + 1)

    def lr_at(step: int, elapsed: float) -> float:
        """Warm-up, then cosine decay over the run's progress in steps or time, whichever leads."""
        if step < warmup:
            return cfg.lr * (step + 1) / warmup
        frac = step / total_steps
        if deadline is not None:
            frac = max(frac, elapsed / max(deadline - t_start, 1e-9))
        frac = min(frac, 1.0)
        return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))

    L0 = bucket_length(cfg.lengths[0])
    init_x = jnp.zeros((2, L0, 4), jnp.float32)
    params = _f32(net.init(jax.random.PRNGKey(seed), init_x, jnp.ones((2, L0)), jnp.ones((2,))))
    opt_state = tx.init(params)
    state = {
        "params": params,
        "opt_state": opt_state,
        "best": params,
        "step": 0,
        "best_val": np.inf,
        "bad": 0,
        "done": False,
        "seconds": 0.0,
    }
    ckpt = _ckpt_path(checkpoint_dir, member)
    if ckpt is not None and ckpt.exists():
        try:
            state = flax.serialization.from_bytes(state, ckpt.read_bytes())
        except Exception as err:  # noqa: BLE001 - a stale checkpoint is not fatal
            warnings.warn(f"ignoring unreadable checkpoint {ckpt}: {err}", stacklevel=2)
    info: dict[str, Any] = {"seed": seed, "history": []}
    if bool(state["done"]):
        info.update(steps=int(state["step"]), best_val=float(state["best_val"]), resumed=True)
        info["seconds"] = float(state["seconds"])
        return state["best"], info

    step_fn, eval_fn = _compiled(arch)

    if val is None:
        val = simulate_chunk(cfg, cfg.n_val, seed=10**6 + seed)

    def validate(params):
        tot, n = 0.0, 0
        for d in val:
            loss, _ = eval_fn(params, d)
            tot += float(loss) * len(d["cls"])
            n += len(d["cls"])
        return tot / max(n, 1)

    rng = np.random.default_rng([seed, member, int(state["step"])])
    step = int(state["step"])
    params, opt_state = state["params"], state["opt_state"]
    best, best_val, bad = state["best"], float(state["best_val"]), int(state["bad"])
    t0 = time.time() - float(state["seconds"])
    t_start = time.time() - float(state["seconds"])
    bar = tqdm(total=total_steps, initial=step, disable=not progress, desc=f"member {member}")
    stop = False
    losses = []
    while step < total_steps and not stop:
        chunk = simulate_chunk(cfg, cfg.chunk, seed=int(rng.integers(2**62)))
        for _ in range(cfg.reuse):
            for batch in _batches(chunk, cfg.batch_size, rng):
                opt_state[1].hyperparams["learning_rate"] = jnp.asarray(
                    lr_at(step, time.time() - t_start), jnp.float32
                )
                params, opt_state, loss = step_fn(params, opt_state, batch)
                losses.append(float(loss))
                step += 1
                bar.update(1)
                if step % cfg.val_every == 0 or step >= total_steps:
                    v = validate(params)
                    info["history"].append((step, float(np.mean(losses[-cfg.val_every :])), v))
                    bar.set_postfix(
                        train=f"{np.mean(losses[-cfg.val_every :]):.3f}", val=f"{v:.3f}"
                    )
                    if v < best_val - 1e-3:
                        best, best_val, bad = params, v, 0
                    else:
                        bad += 1
                    out_of_time = deadline is not None and time.time() > deadline
                    stop = bad >= cfg.patience or step >= total_steps or out_of_time
                    if ckpt is not None:
                        _write_ckpt(ckpt, params, opt_state, best, step, best_val, bad, stop, t0)
                if stop:
                    break
            if stop:
                break
        if deadline is not None and time.time() > deadline and not stop:
            v = validate(params)
            if v < best_val:
                best, best_val = params, v
            stop = True
            if ckpt is not None:
                _write_ckpt(ckpt, params, opt_state, best, step, best_val, bad, True, t0)
    bar.close()
    if not np.isfinite(best_val):
        best_val = validate(params)
        best = params
    info.update(steps=step, best_val=float(best_val), seconds=time.time() - t0, resumed=False)
    info["first_loss"] = float(np.mean(losses[: min(20, len(losses))])) if losses else None
    return best, info


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
    from .ensemble import AmortizedEstimator, DeepEnsemble

    if members < 1:
        raise ParameterError(f"members must be >= 1, got {members}")
    cfg = TrainConfig(
        models=tuple(models), lengths=tuple(lengths), dims=tuple(dims), n_train=n_train, **config
    )
    if isinstance(architecture, dict):
        architecture = Architecture(**architecture)
    arch = dataclasses.replace(
        architecture or Architecture(),
        n_classes=len(cfg.models),
        alpha_heads=sum(h >= 0 for h in alpha_heads(cfg.models)),
    )
    if arch.joint:
        jh = joint_head(cfg.models)
        if jh < 0:
            raise ParameterError(
                f"joint=True needs a class with a variable alpha and a defined D (FBM); "
                f"got {list(cfg.models)}"
            )
        arch = dataclasses.replace(arch, joint_head=jh)
    else:
        arch = dataclasses.replace(arch, joint_head=-1)
    out_dir = None if out is None else Path(out)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        cfg_file = out_dir / "checkpoints" / "config.json"
        want = {"config": cfg.to_dict(), "architecture": arch.to_dict(), "seed": seed}
        if cfg_file.exists():
            have = json.loads(cfg_file.read_text())
            if have != json.loads(json.dumps(want)):
                raise BayesdiffError(
                    f"{out_dir}: holds checkpoints of a different training set-up; "
                    "use another --out folder or delete its checkpoints/"
                )
        cfg_file.parent.mkdir(parents=True, exist_ok=True)
        cfg_file.write_text(json.dumps(want, indent=1))
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
