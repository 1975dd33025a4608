"""Model comparison: evidence, Bayes factors, posterior model probabilities and PSIS-LOO.

:func:`compare` ranks models for one track (or a pooled TrackSet);
:func:`compare_many` does it for every track of a TrackSet, restartably (the
``bayesdiff compare`` command wraps it); :func:`comparison_summary` counts
each model's wins.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.special import logsumexp
from tqdm.auto import tqdm

from .._files import write_csv
from ..errors import MethodError, ModelError
from ..models.base import Model, as_data
from ..models.registry import MODEL_NAMES, from_spec
from ..tracks import Track, TrackSet, next_power_of_two
from . import _arviz
from ._programs import pointwise_program
from .evidence import (
    DEFAULT_DRAWS,
    Evidence,
    bridge_evidence,
    choose_method,
    evidence,
    importance_evidence,
    importance_reliable,
    quadrature_evidence,
    quadrature_reason,
)
from .sampling import sample_many

__all__ = [
    "compare",
    "compare_many",
    "ManyComparison",
    "comparison_summary",
    "models_from_spec",
    "MODEL_NAMES",
]

#: Pareto k above which PSIS-LOO is flagged as unreliable.
PARETO_K_MAX = 0.7

_COLUMNS = [
    "model",
    "log_z",
    "log_z_err",
    "log10_z",
    "delta_log_z",
    "bayes_factor",
    "log10_bayes_factor",
    "probability",
    "probability_sd",
    "probability_lo",
    "probability_hi",
    "prior_probability",
    "elpd_loo",
    "elpd_loo_se",
    "elpd_diff",
    "elpd_diff_se",
    "p_loo",
    "pareto_k_max",
    "loo_warning",
    "method",
    "n_likelihood_evals",
    "seconds",
    "chosen",
    "error",
]


#: Model names as the command line writes them (see
#: :func:`bayesdiff.models.registry.from_spec`, of which this is an alias).
models_from_spec = from_spec


def _as_dict(models: Mapping[str, Model] | Sequence[Model] | str) -> dict[str, Model]:
    if isinstance(models, str):
        return models_from_spec(models)
    if isinstance(models, Mapping):
        out = dict(models)
    else:
        out = {}
        for m in models:
            if m.name in out:
                raise ModelError(
                    f"two models are named {m.name!r}; pass a dict with distinct names"
                )
            out[m.name] = m
    if not out:
        raise ModelError("no models to compare")
    for k, m in out.items():
        if not isinstance(m, Model):
            raise TypeError(f"model {k!r} is a {type(m).__name__}, not a bayesdiff model")
    return out


def _requested(method: str | Mapping[str, str], name: str) -> str:
    """The evidence method asked for model ``name``."""
    return method.get(name, "auto") if isinstance(method, Mapping) else method


#: ``Evidence.method`` (and the table's ``method``) of a model whose evidence failed.
FAILED = "failed"


def failed_evidence(model: Model, err: Exception, seconds: float = 0.0) -> Evidence:
    """The record of a model whose evidence could not be computed: NaN ``log_z``,
    method ``"failed"`` and the error (type and message) in ``details["error"]``."""
    msg = f"{type(err).__name__}: {err}".replace("\n", " ")
    return Evidence(math.nan, math.nan, FAILED, 0, seconds, model.name, {"error": msg})


def _check_methods(models: Mapping[str, Model], method, tracks: Sequence[Track]) -> None:
    """Refuse at once a method that cannot apply (unknown, or quadrature asked for a
    model it does not cover), before any work."""
    for name, m in models.items():
        requested = _requested(method, name)
        choose_method(m, tracks, requested)
        if requested == "quadrature":
            reason = quadrature_reason(m, tracks)
            if reason is not None:
                raise MethodError(
                    f"{name}: method='quadrature' does not apply: {reason}; use 'auto'"
                )


def _log_priors(names: Sequence[str], model_priors: Mapping[str, float] | None) -> np.ndarray:
    if model_priors is None:
        return np.full(len(names), -math.log(len(names)))
    unknown = set(model_priors) - set(names)
    if unknown:
        raise ModelError(f"model_priors name unknown models {sorted(unknown)}")
    w = np.array([float(model_priors.get(n, 0.0)) for n in names])
    if np.any(w < 0) or not np.any(w > 0):
        raise ModelError("model_priors must be >= 0 with a positive sum")
    with np.errstate(divide="ignore"):
        return np.log(w / w.sum())


# =============================================================================
# pointwise log-likelihood and LOO
# =============================================================================
def _pointwise(
    model: Model,
    tracks: Sequence[Track],
    draws: Mapping[str, np.ndarray],
    pad_to: int | None = None,
    chunk: int = 1000,
) -> np.ndarray:
    """Pointwise log-likelihood of every increment of ``tracks`` (concatenated)
    at posterior draws (chain, draw, ...) -> array (chain, draw, n_obs)."""
    c, d = next(iter(draws.values())).shape[:2]
    flat = {
        k: np.asarray(v).reshape(c * d, *v.shape[2:])
        for k, v in draws.items()
        if k in model.param_names
    }
    cols = []
    for t in tracks:
        data, regular = as_data(t, pad_to=pad_to)
        f = pointwise_program(model, bool(regular), "draws")
        parts = []
        for i in range(0, c * d, chunk):
            block = {k: v[i : i + chunk] for k, v in flat.items()}
            k = len(next(iter(block.values())))
            if k < chunk and c * d > chunk:
                block = {
                    kk: np.concatenate([v, np.repeat(v[-1:], chunk - k, 0)])
                    for kk, v in block.items()
                }
            parts.append(np.asarray(f({kk: jnp.asarray(v) for kk, v in block.items()}, data))[:k])
        cols.append(np.concatenate(parts)[:, : t.n_steps])
    return np.concatenate(cols, axis=1).reshape(c, d, -1)


def _reff(draws: Mapping[str, np.ndarray]) -> float:
    """Relative efficiency of (chain, draw, ...) draws: mean bulk ESS / number of draws."""
    c, d = next(iter(draws.values())).shape[:2]
    if c == 1:
        return 1.0  # independent draws (resampled from the quadrature grid)
    cols = np.concatenate([np.asarray(v).reshape(c, d, -1) for v in draws.values()], axis=2)
    return float(np.clip(np.nanmean(_arviz.ess_array(cols)) / (c * d), 0.01, 1.0))


def _loo(log_lik: np.ndarray, reff: float = 1.0) -> dict[str, Any]:
    """PSIS-LOO summary of a (chain, draw, n_obs) log-likelihood array."""
    res = _arviz.loo_array(log_lik, reff)
    k = np.asarray(res.pareto_k)
    return {
        "elpd_loo": float(res.elpd_loo),
        "elpd_loo_se": float(res.se),
        "p_loo": float(res.p_loo),
        "pareto_k_max": float(np.max(k)),
        "loo_warning": bool(np.any(k > PARETO_K_MAX)),
        "loo_i": np.asarray(res.loo_i),
    }


# =============================================================================
# the table
# =============================================================================
def _table(
    names: Sequence[str],
    evs: Sequence[Evidence],
    loos: Sequence[dict | None],
    log_prior: np.ndarray,
    seed: int,
    n_sim: int,
) -> pd.DataFrame:
    log_z = np.array([e.log_z for e in evs])
    err = np.array([e.log_z_err for e in evs])
    ok = np.isfinite(log_z)  # failed models (NaN) get probability 0
    lw = np.where(ok, log_z + log_prior, -np.inf)
    best = int(np.argmax(lw)) if ok.any() else None
    with np.errstate(invalid="ignore"):
        lp = lw - float(logsumexp(lw)) if ok.any() else np.full(len(names), np.nan)
        # uncertainty of the probabilities: log Z_i ~ N(log_z_i, err_i^2) independently
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal((n_sim, len(names))) * np.nan_to_num(err)[None, :]
        sims = np.where(ok, log_z, -np.inf)[None, :] + noise
        slw = sims + log_prior[None, :]
        sp = np.exp(slw - logsumexp(slw, axis=1)[:, None])
    ref = log_z[best] if best is not None else np.nan
    rows = []
    for i, (n, e) in enumerate(zip(names, evs, strict=True)):
        row = {
            "model": n,
            "log_z": e.log_z,
            "log_z_err": e.log_z_err,
            "log10_z": e.log10_z,
            "delta_log_z": e.log_z - ref,
            "bayes_factor": math.exp(min(e.log_z - ref, 700.0)) if ok[i] else np.nan,
            "log10_bayes_factor": (e.log_z - ref) / math.log(10.0),
            "probability": float(np.exp(lp[i])),
            "probability_sd": float(np.std(sp[:, i])),
            "probability_lo": float(np.quantile(sp[:, i], 0.025)),
            "probability_hi": float(np.quantile(sp[:, i], 0.975)),
            "prior_probability": float(np.exp(log_prior[i])),
            "method": e.method,
            "n_likelihood_evals": e.n_likelihood_evals,
            "seconds": e.seconds,
            "chosen": i == best,
            "error": e.details.get("error", "") if e.method == FAILED else "",
        }
        lo = loos[i]
        if lo is not None:
            row.update(
                {
                    k: lo[k]
                    for k in ("elpd_loo", "elpd_loo_se", "p_loo", "pareto_k_max", "loo_warning")
                }
            )
        rows.append(row)
    df = pd.DataFrame(rows)
    # LOO differences against the model with the best elpd (pointwise, same observations)
    have = [i for i, lo in enumerate(loos) if lo is not None]
    if have:
        j = max(have, key=lambda i: loos[i]["elpd_loo"])
        diff, dse = [], []
        for i in range(len(names)):
            if loos[i] is None:
                diff.append(np.nan)
                dse.append(np.nan)
                continue
            d = loos[i]["loo_i"] - loos[j]["loo_i"]
            diff.append(float(d.sum()))
            dse.append(float(math.sqrt(d.size * np.var(d))) if i != j else 0.0)
        df["elpd_diff"], df["elpd_diff_se"] = diff, dse
    df = df.reindex(columns=_COLUMNS)
    df = df.sort_values("log_z", ascending=False, kind="stable").reset_index(drop=True)
    df.attrs["chosen"] = names[best] if best is not None else None
    return df


# =============================================================================
# one track
# =============================================================================
def compare(
    models: Mapping[str, Model] | Sequence[Model] | str,
    track: Track | TrackSet,
    *,
    method: str | Mapping[str, str] = "auto",
    model_priors: Mapping[str, float] | None = None,
    seed: int = 0,
    loo: bool = True,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    n_sim: int = 4000,
    progress: bool = True,
    evidence_kw: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Rank models for one track (or a pooled TrackSet) by their evidence.

    Parameters
    ----------
    models : dict of name -> Model, list of models, or a spec string
        E.g. ``{"bm": bd.models.Brownian(), "fbm": bd.models.FBM()}`` or
        ``"bm,fbm,fbm+noise"`` (see :func:`models_from_spec`).
    track : Track or TrackSet
        One track; a TrackSet is compared as one pooled data set (the models'
        parameters shared by all its tracks). For one comparison per track use
        :func:`compare_many`.
    method : str or dict of name -> str
        Evidence method per model (see :func:`bayesdiff.evidence`); "auto"
        uses quadrature where it applies and bridge sampling elsewhere.
    model_priors : dict of name -> float, optional
        Prior model probabilities (normalized here); uniform by default.
    seed : int
        Random seed (NUTS, proposals, the probability uncertainty).
    loo : bool
        Also compute PSIS-LOO (ArviZ) from posterior draws: NUTS draws for the
        sampled models, draws resampled from the quadrature grid otherwise.
    draws, tune, chains : int
        NUTS settings where bridge sampling runs.
    n_sim : int
        Simulations for the uncertainty of the probabilities.
    progress : bool
        Show a progress bar over models.
    evidence_kw : dict, optional
        Further keyword arguments of :func:`bayesdiff.evidence` (e.g. ``tol``,
        ``n_draws``, ``target_accept``).

    Returns
    -------
    pandas.DataFrame
        One row per model, sorted by ``log_z`` (best first), with columns

        * ``log_z``, ``log_z_err``, ``log10_z`` -- the evidence and its error;
        * ``delta_log_z``, ``bayes_factor``, ``log10_bayes_factor`` -- against
          the best model (so the best has 0 and 1);
        * ``probability`` -- posterior model probability
          ``p_i Z_i / sum_j p_j Z_j``; ``probability_sd``, ``probability_lo``,
          ``probability_hi`` -- its standard deviation and 95 % interval when
          each ``log Z`` varies within its error (normal, simulated);
          ``prior_probability``;
        * ``elpd_loo``, ``elpd_loo_se``, ``p_loo`` -- PSIS-LOO expected log
          predictive density; ``elpd_diff``, ``elpd_diff_se`` -- against the
          model with the best ``elpd_loo`` (pointwise differences);
          ``pareto_k_max`` and ``loo_warning`` (any Pareto k > 0.7: LOO unreliable);
        * ``method``, ``n_likelihood_evals``, ``seconds``;
        * ``chosen`` -- True for the model with the highest posterior probability;
        * ``error`` -- empty, or why the model's evidence failed: such a model
          gets ``method`` "failed", NaN ``log_z`` and probability 0 (with a
          warning), and the others are compared among themselves.

        ``df.attrs["chosen"]`` holds the chosen model's name (None if every
        model failed). A method that cannot apply (e.g. ``"quadrature"`` asked
        for a Langevin model) raises :class:`~bayesdiff.errors.MethodError`
        before any work.

    Notes
    -----
    The Bayes factor answers "which model explains this track better, priors
    included"; LOO answers "which model predicts held-out increments better".
    They usually agree; when they do not, the evidence is often penalizing a
    wide prior (see ``docs/evidence.md``). LOO's pointwise terms are the
    one-step-ahead predictive densities of the increments, so "leave one out"
    is leave-one-increment-out given the others' past.

    Examples
    --------
    >>> import bayesdiff as bd
    >>> track = bd.models.FBM().simulate(seed=0, params={"alpha": 0.5, "D": 0.1},
    ...                                  n_steps=100, dt=0.05)[0]
    >>> table = bd.compare("bm,fbm", track, progress=False)  # doctest: +SKIP
    >>> table.attrs["chosen"]  # doctest: +SKIP
    'fbm'
    """
    models = _as_dict(models)
    if not isinstance(track, (Track, TrackSet)):
        raise TypeError(f"expected a Track or TrackSet, got {type(track).__name__}")
    names = list(models)
    log_prior = _log_priors(names, model_priors)
    tracks = [track] if isinstance(track, Track) else list(track)
    _check_methods(models, method, tracks)
    evs, loos = [], []
    bar = tqdm(names, desc="compare", unit="model", disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        m = models[name]
        t0 = time.perf_counter()
        try:
            ev = evidence(
                m,
                track,
                method=_requested(method, name),
                seed=seed,
                keep_draws=loo,
                draws=draws,
                tune=tune,
                chains=chains,
                **dict(evidence_kw or {}),
            )
        except Exception as err:  # noqa: BLE001 -- one model's failure is a row, not the end
            ev = failed_evidence(m, err, time.perf_counter() - t0)
            warnings.warn(f"{name}: {ev.details['error']}", stacklevel=2)
        evs.append(ev)
        lo = None
        if loo and ev.method != FAILED:
            if ev.draws is None:
                warnings.warn(
                    f"{name}: no posterior draws from method {ev.method!r}; LOO left out",
                    stacklevel=2,
                )
            else:
                lo = _loo(_pointwise(m, tracks, ev.draws), _reff(ev.draws))
        loos.append(lo)
    df = _table(names, evs, loos, log_prior, seed, n_sim)
    df.attrs["track"] = (
        str(track.id) if isinstance(track, Track) else f"pooled ({len(track)} tracks)"
    )
    return df


# =============================================================================
# many tracks
# =============================================================================
class ManyComparison(NamedTuple):
    """Result of :func:`compare_many`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (track, model): ``track``, ``n_steps`` and the columns of
        :func:`compare`.
    summary : pandas.DataFrame
        One row per model: ``wins`` (tracks where it is chosen), ``win_fraction``,
        ``expected_wins`` (sum of its probabilities), ``mean_probability``,
        ``confident_wins`` (probability > 0.95), ``mean_log_z``.
    """

    table: pd.DataFrame
    summary: pd.DataFrame


def _safe(name: Any) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "track"
    return s[:80]


def compare_many(
    models: Mapping[str, Model] | Sequence[Model] | str,
    tracks: TrackSet,
    out: str | os.PathLike | None = None,
    *,
    method: str | Mapping[str, str] = "auto",
    model_priors: Mapping[str, float] | None = None,
    seed: int = 0,
    loo: bool = True,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    chunk_size: int = 1,
    n_sim: int = 2000,
    progress: bool = True,
    on_track: Callable[[Any, pd.DataFrame], None] | None = None,
    evidence_kw: Mapping[str, Any] | None = None,
) -> ManyComparison:
    """Compare models on every track of a TrackSet (independently per track).

    Parameters
    ----------
    models, method, model_priors, seed, loo, draws, tune, chains, n_sim
        As in :func:`compare`.
    tracks : TrackSet
    out : folder, optional
        Results folder. Each track's table is written (atomically) to
        ``out/tracks/<id>.csv`` as soon as all its models are done, so a crash
        or a kill loses at most the track in flight; a rerun with the same
        ``out`` skips the tracks already there. A model that fails on a track
        is recorded in its row (``method`` "failed", ``error`` the exception,
        ``log_z`` NaN, probability 0) and the run goes on; delete a track's
        file to retry it. At the end ``out/comparison.csv`` (all rows) and
        ``out/summary.csv`` are written.
    chunk_size : int
        Tracks whose NUTS runs (for models whose evidence needs bridge
        sampling) are batched into one :func:`bayesdiff.sample_many` call.
        With more than one, the tracks that wait for that call are written
        when it ends.
    progress : bool
        Progress bar over tracks.
    on_track : callable, optional
        Called as ``on_track(track_id, table)`` after each track is done (and
        written); exceptions it raises stop the run.
    evidence_kw : dict, optional
        Further keyword arguments of :func:`bayesdiff.evidence` (``tol``,
        ``n_draws``...) for the models not bridge-sampled.

    Returns
    -------
    ManyComparison
        ``(table, summary)``.
    """
    models = _as_dict(models)
    names = list(models)
    if isinstance(tracks, Track):
        tracks = TrackSet([tracks])
    if not isinstance(tracks, TrackSet):
        raise TypeError(f"expected a TrackSet, got {type(tracks).__name__}")
    ids = [t.id for t in tracks]
    if len({str(i) for i in ids}) != len(ids):
        raise ModelError("compare_many needs distinct track ids")
    log_prior = _log_priors(names, model_priors)
    files = _track_files(out, ids)
    results = _finished_tracks(files, names)
    todo = [i for i, t in enumerate(tracks) if str(t.id) not in results]
    # tracks of several lengths: pad to powers of two so compiled programs are shared
    plan = _ChunkPlan(
        method,
        loo,
        draws,
        tune,
        chains,
        dict(evidence_kw or {}),
        pad=len({t.n_steps for t in tracks}) > 1,
    )
    bar = tqdm(
        total=len(tracks),
        initial=len(tracks) - len(todo),
        desc=f"compare {len(names)} models",
        unit="track",
        disable=not progress,
    )
    _check_methods(models, method, [tracks[i] for i in todo[:1]])

    def finish(t: Track, per_model: Mapping[str, tuple]) -> None:
        evs = [per_model[n][0] for n in names]
        loos = [per_model[n][1] for n in names]
        df = _table(names, evs, loos, log_prior, seed, n_sim)
        df.insert(0, "track", str(t.id))
        df.insert(1, "n_steps", t.n_steps)
        if files:
            write_csv(df, files[str(t.id)])
        results[str(t.id)] = df
        bar.update(1)
        if on_track is not None:
            on_track(t.id, df)

    with bar:
        for c0 in range(0, len(todo), chunk_size):
            chunk = [tracks[i] for i in todo[c0 : c0 + chunk_size]]
            _compare_chunk(models, chunk, seed + c0, plan, finish)
    table = pd.concat([results[str(i)] for i in ids], ignore_index=True)
    table["track"] = table["track"].astype(str)
    summary = comparison_summary(table, names)
    if out is not None:
        write_csv(table, Path(out) / "comparison.csv")
        write_csv(summary, Path(out) / "summary.csv")
    return ManyComparison(table, summary)


def _track_files(out: str | os.PathLike | None, ids: list) -> dict[str, Path]:
    """Track id -> its restart file ``out/tracks/<id>.csv`` (none without ``out``)."""
    if out is None:
        return {}
    folder = Path(out) / "tracks"
    files = {str(i): folder / f"{_safe(i)}.csv" for i in ids}
    if len(set(files.values())) != len(files):
        files = {str(i): folder / f"{k:06d}_{_safe(i)}.csv" for k, i in enumerate(ids)}
    return files


def _finished_tracks(files: Mapping[str, Path], names: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Tables of the tracks an earlier run finished (readable, with every model)."""
    done: dict[str, pd.DataFrame] = {}
    for tid, path in files.items():
        if path.exists():
            try:
                df = pd.read_csv(path)
            except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError):
                continue
            if set(names) <= set(df["model"]) and len(df) >= len(names):
                done[tid] = df
    return done


@dataclasses.dataclass(frozen=True)
class _ChunkPlan:
    """Settings every track of a ``compare_many`` chunk shares."""

    method: str | Mapping[str, str]
    loo: bool
    draws: int
    tune: int
    chains: int
    evidence_kw: Mapping[str, Any]
    pad: bool

    def pad_to(self, t: Track) -> int | None:
        return next_power_of_two(t.n_steps) if self.pad else None


def _compare_chunk(
    models: Mapping[str, Model],
    chunk: list[Track],
    seed: int,
    plan: _ChunkPlan,
    finish: Callable[[Track, Mapping[str, tuple]], None],
) -> None:
    """Evidence (and LOO) of every model for every track of a chunk; ``finish(track,
    {name: (Evidence, loo dict or None)})`` is called as soon as a track is done.

    Tracks whose every model has a direct method (quadrature, importance
    sampling that passes its checks, Laplace) finish at once; the rest wait
    for one NUTS run per model over the chunk's tracks that need it. A model
    that fails on a track is recorded (:func:`failed_evidence`), not raised.
    """
    done: list[dict[str, tuple]] = [{} for _ in chunk]
    nuts: dict[str, list[int]] = {}  # model -> tracks whose evidence needs NUTS + bridge
    notes: dict[tuple[str, int], str] = {}
    for k, t in enumerate(chunk):
        for name, m in models.items():
            t0 = time.perf_counter()
            try:
                ev, note = _direct_evidence(m, t, _requested(plan.method, name), seed + k, plan)
                lo = None
                if ev is not None and plan.loo and ev.draws:
                    lw = _pointwise(m, [t], ev.draws, pad_to=plan.pad_to(t))
                    lo = _loo(lw, _reff(ev.draws))
            except Exception as err:  # noqa: BLE001 -- recorded in the table
                ev, note, lo = failed_evidence(m, err, time.perf_counter() - t0), None, None
            if ev is None:
                nuts.setdefault(name, []).append(k)
                if note:
                    notes[name, k] = note
            else:
                done[k][name] = (ev, lo)
        if len(done[k]) == len(models):
            finish(t, done[k])
    for name, ks in nuts.items():
        m = models[name]
        for k, res in zip(ks, _bridge_chunk(m, chunk, ks, seed, plan, notes, name), strict=True):
            done[k][name] = res
            if len(done[k]) == len(models):
                finish(chunk[k], done[k])


def _direct_evidence(
    model: Model, t: Track, requested: str, seed: int, plan: _ChunkPlan
) -> tuple[Evidence | None, str | None]:
    """The evidence of one track by a method that needs no NUTS, or ``(None, note)``
    when NUTS and bridge sampling must run (asked for, or importance sampling
    rejected under "auto")."""
    t.require(model.min_points, f"the {model.name} model")
    chosen = choose_method(model, [t], requested)
    ev_kw = dict(plan.evidence_kw)
    if chosen == "bridge":
        return None, None
    if chosen == "quadrature":
        return quadrature_evidence(
            model,
            [t],
            tol=ev_kw.get("tol", 0.01),
            keep_draws=plan.loo,
            n_draws=ev_kw.get("n_draws", DEFAULT_DRAWS),
            seed=seed,
            bucket="pow2" if plan.pad else "exact",
        ), None
    if chosen == "importance":
        ev = importance_evidence(
            model, t, seed, ev_kw.get("n_draws", DEFAULT_DRAWS), plan.loo, pad_to=plan.pad_to(t)
        )
    else:
        ev = evidence(model, t, method=chosen, seed=seed, keep_draws=plan.loo, **ev_kw)
    if requested == "auto":  # importance sampling if its diagnostics pass, else NUTS + bridge
        ok, why = importance_reliable(ev)
        if not ok:
            return None, why + "; bridge sampling instead"
        ev = dataclasses.replace(ev, details={**ev.details, "auto": why})
    return ev, None


def _bridge_chunk(
    model: Model,
    chunk: list[Track],
    index: list[int],
    seed: int,
    plan: _ChunkPlan,
    notes: Mapping[tuple[str, int], str],
    name: str,
) -> list[tuple]:
    """NUTS for the tracks ``chunk[k]``, ``k`` in ``index``, at once
    (:func:`sample_many`), then bridge sampling per track: ``(Evidence, loo)`` each.

    If the joint NUTS run fails, every track is tried on its own, so one
    track's failure is recorded for that track only."""
    tracks = [chunk[k] for k in index]
    t0 = time.perf_counter()
    try:
        idata = _nuts_many(model, tracks, seed, plan)
    except Exception as err:  # noqa: BLE001 -- recorded per track below
        if len(index) == 1:
            return [(failed_evidence(model, err, time.perf_counter() - t0), None)]
        return [r for k in index for r in _bridge_chunk(model, chunk, [k], seed, plan, notes, name)]
    t_nuts = (time.perf_counter() - t0) / len(tracks)
    post = _arviz.draws(idata, model.param_names, flat=False)  # (chain, draw, track, ...)
    steps = np.asarray(idata.sample_stats["n_steps"]).sum(axis=(0, 1))
    divergent = np.asarray(idata.sample_stats["diverging"]).sum(axis=(0, 1))
    ll_all = np.asarray(idata.log_likelihood["obs"])  # (chain, draw, track, step)
    out = []
    for j, (k, t) in enumerate(zip(index, tracks, strict=True)):
        t1 = time.perf_counter()
        params = {p: v[:, :, j] for p, v in post.items()}
        try:
            ev = bridge_evidence(
                model,
                t,
                params,
                seed=seed + k,
                n_steps=int(steps[j]),
                divergences=int(divergent[j]),
                seconds=t_nuts,
                pad_to=plan.pad_to(t),
                note=notes.get((name, k)),
            )
        except Exception as err:  # noqa: BLE001 -- recorded in the table
            out.append((failed_evidence(model, err, t_nuts + time.perf_counter() - t1), None))
            continue
        lo = _loo(ll_all[:, :, j, : t.n_steps], _reff(params)) if plan.loo else None
        out.append((ev, lo))
    return out


def _nuts_many(model: Model, tracks: list[Track], seed: int, plan: _ChunkPlan):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sample_many(
            model,
            TrackSet(tracks),
            draws=plan.draws,
            tune=plan.tune,
            chains=plan.chains,
            seed=seed,
            progress=False,
            warn=False,
            target_accept=0.95,
        )


def comparison_summary(table: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """How often each model wins over the tracks of a comparison table.

    Parameters
    ----------
    table : DataFrame
        :attr:`ManyComparison.table` (or a single-track :func:`compare` table
        with a ``track`` column).
    names : sequence of str
        The models, in the order of the rows.

    Returns
    -------
    DataFrame
        One row per model, most wins first: ``wins``, ``win_fraction``,
        ``expected_wins``, ``mean_probability``, ``confident_wins``
        (probability > 0.95), ``mean_log_z`` (over the tracks where it did not
        fail), ``n_tracks``, ``failed`` (tracks where its evidence failed).
    """
    rows = []
    n_tracks = table["track"].nunique()
    for n in names:
        sub = table[table["model"] == n]
        rows.append(
            {
                "model": n,
                "wins": int(sub["chosen"].astype(bool).sum()),
                "win_fraction": float(sub["chosen"].astype(bool).sum() / max(n_tracks, 1)),
                "expected_wins": float(sub["probability"].sum()),
                "mean_probability": float(sub["probability"].mean()),
                "confident_wins": int((sub["probability"] > 0.95).sum()),
                "mean_log_z": float(sub["log_z"].mean()),
                "n_tracks": int(len(sub)),
                "failed": int((sub["method"] == FAILED).sum()) if "method" in sub else 0,
            }
        )
    return (
        pd.DataFrame(rows)
        .sort_values("wins", ascending=False, kind="stable")
        .reset_index(drop=True)
    )
