"""Posterior sampling, for one track, a pooled set, or many tracks.

:func:`sample` and :func:`sample_many` are the public faces. NUTS runs
through the vectorized, cached runner of :mod:`._nuts` (compiled once per
model configuration and data shape: ``sample_many`` on 1000 equal-length
tracks compiles once, not 1000 times); ``method="grid"`` draws from the exact
quadrature of :mod:`._quadrature`.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.handlers import seed as seed_handler
from numpyro.infer.util import unconstrain_fn
from tqdm.auto import tqdm

from ..errors import DiagnosticsWarning, InferenceError, MethodError, ModelError
from ..models.base import Model, as_data, take_rows
from ..tracks import Batch, Track, TrackSet, next_power_of_two
from . import _nuts
from ._importance import ImportanceFit, fit_importance
from ._nuts import Draws, NutsSettings
from ._programs import cached_jit, pointwise_program, pointwise_shared
from ._quadrature import Quadrature, quadrature_reason
from ._results import FitInfo, posterior_result, track_info
from ._target import Target, default_latents, latent_values, model_function

__all__ = ["sample", "sample_many"]


def sample(
    model: Model,
    track: Track | TrackSet,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = 0,
    progress: bool = True,
    *,
    method: str = "nuts",
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    dense_mass: bool = True,
    start: str = "auto",
    warn: bool = True,
):
    """Posterior of a model's parameters given one track (or a pooled TrackSet), by NUTS.

    Parameters
    ----------
    model : bayesdiff.models.Model
        The generative model (its priors are part of it).
    track : Track or TrackSet
        One track; or a TrackSet, whose tracks then share one set of parameters
        (a pooled fit; per-track fits are :func:`sample_many`).
    draws, tune, chains : int
        Posterior draws per chain, warm-up iterations per chain, number of chains.
    seed : int
        Random seed; the same seed gives the same draws.
    progress : bool
        Show a progress bar.
    method : {"nuts", "grid", "importance", "auto"}
        ``"nuts"``: NumPyro's No-U-Turn sampler, the general path and the
        reference. ``"grid"``: exact deterministic quadrature over the
        parameters (FBM and Brownian motion, with or without noise, drift and
        gaps; ``D`` and drift are integrated on inner rules), converged to
        0.01 in the log evidence, then ``chains x draws`` independent draws
        from the grid's piecewise-constant posterior; ``tune`` and the NUTS
        settings are ignored and ``sample_stats`` is absent.
        ``"importance"``: adaptive importance sampling for any model
        (Student-t proposal at the mode, quasi-random points, Pareto-smoothed
        weights; see :mod:`bayesdiff.inference._importance`), ``chains x
        draws`` draws resampled from the weights; ``attrs`` hold its checks
        (``pareto_k``, ``importance_ess``) and the log evidence, and a
        :class:`~bayesdiff.errors.DiagnosticsWarning` says when they fail.
        ``"auto"``: ``"grid"`` where it applies, otherwise importance
        sampling when its posterior check passes (Pareto k <= 0.7, ESS >=
        400), otherwise NUTS; ``attrs["method"]`` says which ran and
        ``attrs["auto"]`` why.
    target_accept, max_tree_depth, dense_mass
        NUTS settings: target acceptance probability of step-size adaptation,
        maximum tree depth, and a dense (rather than diagonal) mass matrix.
    start : {"auto", "data", "mode"}
        Where the chains start (one track). ``"data"``: the model's data-based
        guesses, jittered per chain, with a unit initial mass matrix.
        ``"mode"``: the posterior mode (BFGS on the unconstrained parameters)
        with the chains' starts drawn from the Laplace approximation there and
        its covariance as the initial inverse mass matrix (warm-up still adapts
        it); this costs a few seconds but saves most of the warm-up when the
        parameters' posterior scales differ by orders of magnitude (the Lévy
        walk; ``docs/benchmarks.md`` has the timings). If the mode cannot be
        found, it falls back to ``"data"``. ``"auto"``: the model's
        ``nuts_start``.
    warn : bool
        Emit a :class:`~bayesdiff.errors.DiagnosticsWarning` naming every
        parameter whose R-hat > 1.01, bulk or tail ESS < 400, and any divergences.

    Returns
    -------
    arviz.InferenceData
        Groups ``posterior`` (the model's parameters), ``sample_stats``
        (``diverging``, ``tree_depth``, ``n_steps``, ``acceptance_rate``,
        ``step_size``, ``energy``, ``lp``), ``log_likelihood`` (``obs``: the
        pointwise one-step-ahead log-likelihood of each increment),
        ``observed_data`` (``increments``), ``constant_data`` (``dt``, ``frames``)
        and ``attrs`` (model, configuration, priors, version, seed, timings,
        diagnostics summary).

    Examples
    --------
    >>> import bayesdiff as bd
    >>> m = bd.models.FBM()
    >>> track = m.simulate(seed=1, params={"alpha": 0.5, "D": 0.2}, n_steps=100, dt=0.05)[0]
    >>> idata = bd.sample(m, track, draws=500, tune=500, progress=False)  # doctest: +SKIP
    >>> bd.summary(idata)  # doctest: +SKIP
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {METHODS}")
    if not isinstance(track, (Track, TrackSet)):
        raise TypeError(f"expected a Track or TrackSet, got {type(track).__name__}")
    tracks = list(track) if isinstance(track, TrackSet) else [track]
    for t in tracks:
        t.require(model.min_points, f"the {model.name} model")
    _nuts.check_counts(draws, tune if method == "nuts" else 0, chains)
    plan = Draws(draws, tune, chains)
    note = None
    if method in ("grid", "auto"):
        reason = quadrature_reason(model, tracks)
        if method == "grid" and reason is not None:
            raise MethodError(
                f"method='grid' does not apply to {model.name}: {reason}; use method='nuts'"
            )
        if reason is None:
            try:
                return _sample_grid(model, track, tracks, Draws(draws, 0, chains), seed, warn)
            except InferenceError as err:
                if method == "grid":
                    raise
                note = f"grid failed ({err})"
    if method in ("importance", "auto"):
        try:
            fit = fit_importance(Target(model, track), seed, enough=_fast_enough)
        except InferenceError as err:
            if method == "importance":
                raise
            note = _join(note, f"importance sampling failed ({err})")
        else:
            if method == "importance" or fit.posterior_ok():
                return _sample_importance(model, track, fit, plan, seed, warn, note)
            note = _join(note, fit.verdict("posterior"))
    if note is not None:
        note += "; NUTS instead"
    nuts = NutsSettings(dense_mass, target_accept, max_tree_depth)
    _nuts.check_counts(draws, tune, chains)
    if isinstance(track, TrackSet):
        return _sample_pooled(model, track, plan, nuts, seed, progress, warn, note)
    return _sample_single(model, track, plan, nuts, seed, progress, start, warn, note)


#: Posterior methods of :func:`sample` and :func:`sample_many`.
METHODS = ("nuts", "grid", "importance", "auto")


def _fast_enough(fit: ImportanceFit) -> bool:
    """Adapt the importance proposal until both the posterior and evidence checks pass."""
    return fit.posterior_ok() and fit.evidence_ok()


def _join(note: str | None, more: str) -> str:
    return more if note is None else f"{note}; {more}"


def _sample_single(
    model: Model,
    track: Track,
    plan: Draws,
    nuts: NutsSettings,
    seed: int,
    progress: bool,
    start: str,
    warn: bool,
    note: str | None = None,
):
    """NUTS for one track."""
    data, regular = as_data(track)
    t0 = time.perf_counter()
    model_fn = partial(model.numpyro_model, regular=regular)
    k_init, k_run = jax.random.split(jax.random.PRNGKey(seed))
    start = _nuts.resolve_start(start, model)
    z0, inverse_mass = None, None
    if start == "mode":
        z0, inverse_mass = _nuts.mode_start(model, track, k_init, plan.chains)
    if z0 is None:
        init = _nuts.init_function(model_fn, model, track.dim)
        z0, pe = _nuts.start_values(model_fn, init, (data,), k_init, plan.chains)
        _nuts.check_finite_start(model_fn, (data,), z0, track, pe)
    params, stats = _nuts.run_shared(
        model_fn,
        model,
        (data,),
        z0,
        k_run,
        plan,
        nuts,
        progress=progress,
        cache_key=("single", regular),
        inverse_mass=inverse_mass,
    )
    seconds = time.perf_counter() - t0
    ll = np.asarray(pointwise_program(model, regular, "lanes")(params, data))  # (chain, draw, n)
    fit = FitInfo(
        "single",
        seed,
        seconds,
        plan.chains,
        plan.draws,
        extra_attrs={
            "nuts_start": "mode" if inverse_mass is not None else "data",
            **({"auto": note} if note else {}),
        },
    )
    return posterior_result(
        model,
        params,
        stats,
        {"obs": ll},
        ["step"],
        track_info([track]),
        fit,
        dims_extra=[],
        warn=warn,
    )


def _sample_grid(model: Model, track, tracks: list[Track], plan: Draws, seed: int, warn: bool):
    """Posterior draws from the adaptive quadrature grid (``tracks`` checked by the caller)."""
    t0 = time.perf_counter()
    pooled = isinstance(track, TrackSet)
    quad = Quadrature(model, tracks, pooled=pooled)
    log_z, err, n_eval, details = quad.run()
    flat = quad.draws(plan.chains * plan.draws, seed, jitter=True)
    params = {k: v.reshape(plan.chains, plan.draws, *v.shape[2:]) for k, v in flat.items()}
    seconds = time.perf_counter() - t0
    extra = {
        "log_evidence": log_z,
        "log_evidence_error": err,
        "grid_converged": details["converged"],
        "grid_levels": details["levels"],
    }
    fit = FitInfo(
        "pooled" if pooled else "single",
        seed,
        seconds,
        plan.chains,
        plan.draws,
        method="grid",
        extra_attrs=extra,
    )
    return _independent_draws_result(model, track, params, plan, fit, warn)


def _sample_importance(
    model: Model,
    track,
    fit: ImportanceFit,
    plan: Draws,
    seed: int,
    warn: bool,
    note: str | None = None,
):
    """Posterior draws resampled from an importance-sampling fit."""
    t0 = time.perf_counter()
    flat = fit.draws(plan.chains * plan.draws, seed)
    params = {k: v.reshape(plan.chains, plan.draws, *v.shape[1:]) for k, v in flat.items()}
    extra = {
        "log_evidence": fit.log_z,
        "log_evidence_error": fit.log_z_err,
        "pareto_k": fit.pareto_k,
        "importance_ess": fit.ess,
        "importance_rounds": fit.rounds,
        "n_likelihood_evals": fit.n_eval,
    }
    if note:
        extra["auto"] = note
    if warn and not fit.posterior_ok():
        warnings.warn(
            f"{model.name}: {fit.verdict('posterior')}; the posterior may be off "
            "(method='nuts' is the reference)",
            DiagnosticsWarning,
            stacklevel=3,
        )
    pooled = isinstance(track, TrackSet)
    info = FitInfo(
        "pooled" if pooled else "single",
        seed,
        time.perf_counter() - t0,
        plan.chains,
        plan.draws,
        method="importance",
        extra_attrs=extra,
    )
    return _independent_draws_result(model, track, params, plan, info, warn)


def _independent_draws_result(model: Model, track, params: dict, plan: Draws, fit, warn: bool):
    """The InferenceData of grid or importance draws (no sampler statistics) with their
    pointwise log-likelihoods: one track, or a pooled TrackSet (track, step)."""
    if not isinstance(track, TrackSet):
        data, regular = as_data(track)
        ll = np.asarray(pointwise_program(model, regular, "lanes")(params, data))
        dims, info = ["step"], track_info([track])
    else:
        ll = _pooled_loglik(model, track, params, plan.chains, plan.draws)
        dims, info = ["track", "step"], track_info(list(track))
    return posterior_result(
        model, params, None, {"obs": ll}, dims, info, fit, dims_extra=[], warn=warn
    )


def sample_many(
    model: Model,
    tracks: TrackSet,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = 0,
    progress: Any = True,
    *,
    method: str = "nuts",
    chunk_size: int | None = None,
    bucket: str | int = "pow2",
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    dense_mass: bool = True,
    warn: bool = True,
):
    """Independent posteriors for every track of a TrackSet, in one InferenceData.

    Tracks are grouped into equal-shape buckets (:meth:`TrackSet.batches`);
    each bucket is processed in chunks of ``chunk_size`` tracks, every chunk
    running ``chunk_size x chains`` NUTS chains side by side (vectorized and
    spread over the CPU devices). One compilation per bucket shape.

    Parameters
    ----------
    model : bayesdiff.models.Model
    tracks : TrackSet
    draws, tune, chains, seed
        As in :func:`sample`.
    progress : bool or tqdm-like
        Show a progress bar over tracks (with the time left); or a bar of the
        caller's (anything with ``update(n)``, e.g. a calibration study's),
        moved by one per finished track and left open.
    chunk_size : int, optional
        Tracks per compiled batch (default: up to 16, fewer for small sets; with
        more, every NUTS iteration waits for the deepest tree among more chains).
    bucket : "pow2", "exact" or int
        How track lengths are grouped (see :meth:`TrackSet.batches`).

    method : {"nuts", "grid", "importance", "auto"}
        As in :func:`sample`, per track: with ``"auto"`` each track gets the
        grid where it applies, else importance sampling when its check
        passes; the tracks where neither holds are sampled by NUTS together
        at the end. ``constant_data["method"]`` says which method each track
        got and ``attrs["methods"]`` counts them.
    Returns
    -------
    arviz.InferenceData
        As :func:`sample`, with a ``track`` dimension (track ids as coordinates)
        on every posterior variable. Pointwise log-likelihoods and observed
        increments are padded with NaN beyond each track's length
        (``constant_data.track_length`` holds the number of increments).
    """
    if isinstance(tracks, Track):
        tracks = TrackSet([tracks])
    if not isinstance(tracks, TrackSet):
        raise TypeError(f"expected a TrackSet, got {type(tracks).__name__}")
    if len(tracks) == 0:
        raise ModelError("sample_many needs at least one track")
    if len(set(map(repr, tracks.ids))) != len(tracks):
        warnings.warn(
            "track ids are not unique; results are indexed by position 0..n-1 instead", stacklevel=2
        )
        tracks = TrackSet(
            Track(t.positions, t.dt, t.frames, i, t.localization_error, t.source, t.rows)
            for i, t in enumerate(tracks)
        )
    _nuts.check_counts(draws, tune, chains)
    for t in tracks:
        t.require(model.min_points, f"the {model.name} model")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {METHODS}")
    plan = Draws(draws, tune, chains)
    nuts = NutsSettings(dense_mass, target_accept, max_tree_depth)
    t0 = time.perf_counter()
    acc = _ManyResults(len(tracks), plan, int(tracks.lengths.max()) - 1)
    label = "NUTS" if method == "nuts" else method
    if hasattr(progress, "update"):  # the caller's bar: moved, not closed
        bar, scope = progress, contextlib.nullcontext()
    else:
        bar = tqdm(
            total=len(tracks),
            desc=f"{model.name} {label} x {len(tracks)} tracks",
            unit="track",
            disable=not progress,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total} [{elapsed}<{remaining}]",
        )
        scope = bar
    master = jax.random.PRNGKey(seed)
    with scope:
        todo = list(range(len(tracks)))
        if method != "nuts":
            todo = _fast_tracks(model, tracks, method, plan, seed, acc, bar, warn)
        if todo:
            sub = TrackSet([tracks[i] for i in todo])
            for batch in sub.batches(bucket=bucket, min_steps=1):
                _sample_bucket(
                    model,
                    sub,
                    batch,
                    plan,
                    nuts,
                    chunk_size,
                    master,
                    acc,
                    bar,
                    to_global=np.asarray(todo),
                )
    seconds = time.perf_counter() - t0
    # (track, chain, draw, ...) -> (chain, draw, track, ...)
    params = {k: np.moveaxis(v, 0, 2) for k, v in acc.params.items()}
    stats = tuple(np.moveaxis(s, 0, 2) for s in acc.stats) if acc.stats else None
    extra = None
    if method != "nuts":
        counts = {m: int(np.sum(acc.methods == m)) for m in ("grid", "importance", "nuts")}
        extra = {"methods": {m: c for m, c in counts.items() if c}}
    fit = FitInfo("many", seed, seconds, chains, draws, method=method, extra_attrs=extra)
    return posterior_result(
        model,
        params,
        stats,
        {"obs": acc.loglik},
        ["track", "step"],
        track_info(list(tracks)),
        fit,
        dims_extra=["track"],
        warn=warn,
        per_track=(
            {"method": acc.methods, "importance_ess": acc.importance_ess}
            if method != "nuts"
            else None
        ),
    )


def _track_seed(seed: int, index: int) -> int:
    """A seed for one track of a run: independent of which other tracks are in it."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _fast_tracks(
    model: Model,
    tracks: TrackSet,
    method: str,
    plan: Draws,
    seed: int,
    acc: _ManyResults,
    bar,
    warn: bool,
) -> list[int]:
    """Grid or importance-sampling posteriors, track by track, in the order
    :func:`sample` tries them (under "auto": the grid where it applies, importance
    sampling where the grid fails or does not apply); returns the tracks left for
    NUTS (under "auto": where neither applies nor passes its check)."""
    reason = quadrature_reason(model, [tracks[0]]) if method in ("grid", "auto") else "-"
    if method == "grid" and reason is not None:
        raise MethodError(
            f"method='grid' does not apply to {model.name}: {reason}; use method='nuts'"
        )
    n = plan.chains * plan.draws
    leftover = []
    for i, t in enumerate(tracks):
        pad = next_power_of_two(t.n_steps)
        flat, used = None, None
        if reason is None:
            try:
                q = Quadrature(model, [t], bucket="pow2", pooled=False)
                q.run()
                flat = {k: v[0] for k, v in q.draws(n, _track_seed(seed, i), jitter=True).items()}
                used = "grid"
            except InferenceError:
                if method == "grid":
                    raise
        if flat is None and method in ("importance", "auto"):
            try:
                target = Target(model, t, pad_to=pad)
                fit = fit_importance(target, _track_seed(seed, i), enough=_fast_enough)
            except InferenceError:
                if method == "importance":
                    raise
            else:
                if method == "importance" or fit.posterior_ok():
                    if warn and not fit.posterior_ok():
                        warnings.warn(
                            f"{model.name}, track {t.id!r}: {fit.verdict('posterior')}",
                            DiagnosticsWarning,
                            stacklevel=3,
                        )
                    flat = fit.draws(n, _track_seed(seed, i))
                    acc.importance_ess[i] = fit.ess
                    used = "importance"
        if flat is None:
            leftover.append(i)
            continue
        params = {k: v.reshape(plan.chains, plan.draws, *v.shape[1:]) for k, v in flat.items()}
        data, regular = as_data(t, pad_to=pad)
        ll = np.asarray(pointwise_program(model, regular, "lanes")(params, data))
        acc.add([i], {k: v[None] for k, v in params.items()}, None, ll[None], [t.n_steps])
        acc.methods[i] = used
        bar.update(1)
    return leftover


class _ManyResults:
    """Per-track draws, stats and pointwise log-likelihoods of ``sample_many``, filled
    track by track or chunk by chunk: arrays (track, chain, draw, ...) and (chain,
    draw, track, step). NUTS stats of tracks that another method handled stay NaN
    (False, 0 for the boolean and integer stats)."""

    def __init__(self, n_tracks: int, plan: Draws, n_max: int):
        self.n = n_tracks
        self.params: dict[str, np.ndarray] = {}
        self.stats: list[np.ndarray] = []
        self.loglik = np.full((plan.chains, plan.draws, n_tracks, n_max), np.nan)
        self.methods = np.full(n_tracks, "nuts", dtype=object)
        self.importance_ess = np.full(n_tracks, np.nan)

    def add(
        self, where, params: dict, stats: list | None, loglik: np.ndarray, lengths: list[int]
    ) -> None:
        for name, a in params.items():
            if name not in self.params:
                self.params[name] = np.zeros((self.n, *a.shape[1:]))
            self.params[name][where] = a
        if stats is not None:
            if not self.stats:
                self.stats = [
                    np.full((self.n, *s.shape[1:]), _missing(s.dtype), s.dtype) for s in stats
                ]
            for acc, s in zip(self.stats, stats, strict=True):
                acc[where] = s
        for j, gi in enumerate(where):
            self.loglik[:, :, gi, : lengths[j]] = loglik[j, :, :, : lengths[j]]


def _missing(dtype) -> object:
    """The fill value of a NUTS stat for a track that NUTS did not sample."""
    if np.issubdtype(dtype, np.floating):
        return np.nan
    return False if np.issubdtype(dtype, np.bool_) else 0


def _sample_bucket(
    model: Model,
    tracks: TrackSet,
    batch: Batch,
    plan: Draws,
    nuts: NutsSettings,
    chunk_size: int | None,
    master: jax.Array,
    acc: _ManyResults,
    bar,
    to_global: np.ndarray | None = None,
) -> None:
    """NUTS for the tracks of one equal-shape bucket, ``chunk_size`` tracks at a time."""
    data_b, regular = as_data(batch)
    size = chunk_size or int(min(16, max(1, len(batch.index))))
    dim, chains = tracks.dim, plan.chains
    model_fn = partial(model.numpyro_model, regular=regular)
    seg = _nuts.segment_length(plan.total)
    run = _nuts.runner("many", model, model_fn, 0, (regular,), plan.tune, seg, nuts)
    first = jax.tree.map(lambda a: a[0], data_b)
    init = cached_jit(
        "init-many",
        model,
        regular,
        dim,
        build=lambda: jax.jit(jax.vmap(_nuts.init_function(model_fn, model, dim))),
    )
    constrain = cached_jit(
        "constrain-many",
        model,
        regular,
        build=lambda: _nuts.constrainer(model_fn, model, lane_axis=0),
    )
    pointwise = pointwise_program(model, regular, "lanes", lane_axis=0)
    for start in range(0, len(batch.index), size):
        sel = np.arange(start, start + size) % len(batch.index)  # pad the last chunk
        n_real = min(size, len(batch.index) - start)
        data_c = take_rows(data_b, sel)
        z0 = init((data_c,))
        lane = np.repeat(np.arange(size), chains)  # lanes: track-major, chain-minor
        data_l = take_rows(data_b, sel[lane])
        glob = batch.index[sel] if to_global is None else to_global[batch.index[sel]]
        ks = _lane_keys(master, np.asarray(glob, np.uint32), chains)
        z0l = take_rows(z0, lane)
        z0l = jax.vmap(_nuts.jitter)(z0l, ks[:, 0])
        if start == 0:
            _nuts.check_finite_start(
                model_fn, (first,), jax.tree.map(lambda a: a[:1], z0l), tracks[int(batch.index[0])]
            )
        z, stats = _nuts.run_lanes(
            run, (data_l,), z0l, ks[:, 1], plan.total, bar, n_real / math.ceil(plan.total / seg)
        )
        params = constrain({k: jnp.asarray(v[:, plan.tune :]) for k, v in z.items()}, (data_l,))
        params = {k: np.asarray(v) for k, v in params.items()}
        ll = np.asarray(pointwise(params, data_l))  # (lanes, draw, L)
        where = batch.index[start : start + n_real]
        by_track = partial(_by_track, size=size, chains=chains, n_real=n_real)
        acc.add(
            where if to_global is None else to_global[where],
            {name: by_track(a) for name, a in params.items()},
            [by_track(s) for s in _nuts.after_warmup(stats, plan.tune)],
            ll.reshape(size, chains, plan.draws, -1)[:n_real],
            [tracks[int(gi)].n_steps for gi in where],
        )


@partial(jax.jit, static_argnums=2)
def _lane_keys(master: jax.Array, ids: jax.Array, chains: int) -> jax.Array:
    """Per lane (track-major, chain-minor) a pair of keys (start jitter, NUTS), from the
    tracks' global indices: a track's draws do not depend on its chunk."""
    ks = jax.vmap(lambda i: jax.random.fold_in(master, i))(ids)
    ks = jax.vmap(lambda k: jax.random.split(k, chains * 2).reshape(chains, 2, -1))(ks)
    return ks.reshape(ids.shape[0] * chains, 2, -1)


def _by_track(a: np.ndarray, size: int, chains: int, n_real: int) -> np.ndarray:
    """Lanes (track-major, chain-minor) -> (track, chain, ...), padding tracks dropped."""
    return a.reshape(size, chains, *a.shape[1:])[:n_real]


def _sample_pooled(
    model: Model,
    tracks: TrackSet,
    plan: Draws,
    nuts: NutsSettings,
    seed: int,
    progress: bool,
    warn: bool,
    note: str | None = None,
):
    """Shared parameters for all tracks of a TrackSet."""
    _nuts.check_counts(plan.draws, plan.tune, plan.chains)
    for t in tracks:
        t.require(model.min_points, f"the {model.name} model")
    t0 = time.perf_counter()
    datas = [as_data(b) for b in tracks.batches(bucket="pow2", min_steps=1)]
    data_tuple = tuple(d for d, _ in datas)
    regular = tuple(r for _, r in datas)
    model_fn = model_function(model, regular, pooled=True)
    # start from the values suggested by the first track's data
    z0 = dict(default_latents(model, model_fn, data_tuple, (regular, True), seed))
    first = jax.tree.map(lambda a: a[0], data_tuple[0])
    vals = latent_values(model, model.init_values(first), tracks.dim)
    vals = {k: v for k, v in vals.items() if k in z0 and jnp.shape(v) == jnp.shape(z0[k])}
    if vals:
        z0.update(unconstrain_fn(seed_handler(model_fn, rng_seed=0), data_tuple, {}, vals))
    k_init, k_run = jax.random.split(jax.random.PRNGKey(seed))
    z0 = jax.vmap(lambda k: _nuts.jitter(z0, k))(jax.random.split(k_init, plan.chains))
    _nuts.check_finite_start(model_fn, data_tuple, jax.tree.map(lambda a: a[:1], z0), tracks[0])
    params, stats = _nuts.run_shared(
        model_fn,
        model,
        data_tuple,
        z0,
        k_run,
        plan,
        nuts,
        progress=progress,
        cache_key=("pooled", regular),
    )
    seconds = time.perf_counter() - t0
    ll_all = _pooled_loglik(model, tracks, params, plan.chains, plan.draws)
    fit = FitInfo(
        "pooled",
        seed,
        seconds,
        plan.chains,
        plan.draws,
        extra_attrs={"auto": note} if note else None,
    )
    return posterior_result(
        model,
        params,
        stats,
        {"obs": ll_all},
        ["track", "step"],
        track_info(list(tracks)),
        fit,
        dims_extra=[],
        warn=warn,
    )


def _pooled_loglik(
    model: Model, tracks: TrackSet, params: dict, chains: int, draws: int
) -> np.ndarray:
    """Pointwise log-likelihood (chain, draw, track, step) of shared parameters, NaN-padded."""
    n, n_max = len(tracks), int(tracks.lengths.max()) - 1
    ll_all = np.full((chains, draws, n, n_max), np.nan)
    for b in tracks.batches(bucket="pow2", min_steps=1):
        data, reg = as_data(b)
        ll = pointwise_shared(model, data, reg, params)  # (chain, draw, B, L)
        for j, gi in enumerate(b.index):
            L = tracks[int(gi)].n_steps
            ll_all[:, :, gi, :L] = ll[:, :, j, :L]
    return ll_all
