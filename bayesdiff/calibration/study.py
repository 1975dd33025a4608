"""Calibration studies: simulate test tracks from stated priors, score every estimator.

:func:`study` draws parameters from each generating model's priors
(:class:`SimSpec`, :func:`study_models`, :func:`simulate_truth`), simulates
one track per draw, adds localization noise at the requested SNR
(:func:`add_noise`), runs every :class:`~bayesdiff.calibration.Estimator` on
the same tracks and scores each track (truth, mean, sd, PIT, rank, CRPS,
interval hits); :func:`summarize` turns that per-track table into one row per
cell and parameter. Finished cells are saved and reused (resumable studies).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import special, stats

from .._files import write_csv
from ..errors import BayesdiffError
from ..tracks import TrackSet
from ._columns import TABLE_KEYS, TABLE_METRICS, flatten_params
from .estimators import Estimate, Estimator
from .metrics import (
    DEFAULT_LEVELS,
    crps_gaussian,
    crps_samples,
    ece_from_confidence,
    ence,
    pit_gaussian,
    pit_samples,
    sbc_ranks,
    sbc_uniformity,
    sharpness,
)
from .report import write_figures

__all__ = [
    "SimSpec",
    "study_models",
    "simulate_truth",
    "add_noise",
    "study",
    "StudyResult",
    "summarize",
]


@dataclasses.dataclass(frozen=True, kw_only=True)
class SimSpec:
    """How a study simulates test tracks.

    Parameters
    ----------
    model : Model
        Generating model; its priors (``model.prior``) are the test
        distribution of the parameters.
    dt : float
        Frame interval (s).
    dim : int
        Coordinates per track.
    name : str, optional
        Label in the tables (default: the model name).
    """

    model: Any
    dt: float = 0.05
    dim: int = 2
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.model.name


def study_models(dt: float = 0.05) -> dict[str, SimSpec]:
    """The study priors used by ``bayesdiff calibrate`` and the shipped study.

    ``fbm``: alpha ~ U(0.1, 1.9), D ~ LogUniform(1e-2, 1) µm²/s^alpha;
    ``levy``: alpha ~ U(1.1, 1.9), v ~ LogUniform(0.5, 5) µm/s, sigma ~
    LogUniform(0.01, 0.1) µm; ``langevin``: D ~ LogUniform(1e-2, 1),
    k ~ LogUniform(0.5, 20) 1/s; ``bm``: D ~ LogUniform(1e-2, 1);
    ``switch2``: the model's default priors. All 2-D, ``dt = 0.05`` s.
    """
    import numpyro.distributions as dist

    from ..models import FBM, Brownian, Langevin, LevyWalk, Switching

    return {
        "fbm": SimSpec(
            model=FBM(priors={"alpha": dist.Uniform(0.1, 1.9), "D": dist.LogUniform(1e-2, 1.0)}),
            dt=dt,
        ),
        "levy": SimSpec(
            model=LevyWalk(
                priors={
                    "alpha": dist.Uniform(1.1, 1.9),
                    "v": dist.LogUniform(0.5, 5.0),
                    "sigma": dist.LogUniform(0.01, 0.1),
                }
            ),
            dt=dt,
        ),
        "langevin": SimSpec(
            model=Langevin(
                priors={"D": dist.LogUniform(1e-2, 1.0), "k": dist.LogUniform(0.5, 20.0)}
            ),
            dt=dt,
        ),
        "bm": SimSpec(model=Brownian(priors={"D": dist.LogUniform(1e-2, 1.0)}), dt=dt),
        "switch2": SimSpec(model=Switching(n_states=2), dt=dt),
    }


def simulate_truth(spec: SimSpec, n_tracks: int, seed: int) -> dict[str, np.ndarray]:
    """Draw ``n_tracks`` parameter sets from the generating model's priors.

    Returns
    -------
    dict of str to array with leading axis ``n_tracks`` (the model's parameter names)
    """
    import jax
    from numpyro.infer import Predictive

    m = spec.model
    pred = Predictive(lambda: m.sample_params(spec.dim), num_samples=n_tracks)
    s = pred(jax.random.PRNGKey(seed))
    return {p: np.asarray(s[p], dtype=float) for p in m.param_names}


def add_noise(ts: TrackSet, snr: float, seed: int) -> TrackSet:
    """Static localization noise of sd ``rms(increment per coordinate) / snr`` on each track.

    Parameters
    ----------
    ts : TrackSet
    snr : float
        Signal-to-noise ratio; ``inf`` returns ``ts`` itself.
    seed : int
        Seed of the noise (one generator for all tracks, in order).

    Returns
    -------
    TrackSet
    """
    if not np.isfinite(snr):
        return ts
    rng = np.random.default_rng(seed)
    out = []
    for t in ts:
        scale = float(np.sqrt(np.mean(np.asarray(t.increments) ** 2))) / snr
        out.append(t.with_positions(t.positions + scale * rng.normal(size=t.positions.shape)))
    return TrackSet(out)


def _cell_key(est: str, model: str, length: int, snr: float, fit: str, sizes: str) -> str:
    snr_s = "inf" if not np.isfinite(snr) else f"{snr:g}"
    key = f"{est}__{model}__{fit}__n{length}__snr{snr_s}__{sizes}"
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", key)


def _per_track_rows(
    est: Estimate, truth: Mapping[str, np.ndarray], cell: dict, model_label: str
) -> pd.DataFrame:
    """Per-track table of one cell: truth, mean, sd, PIT, rank, CRPS, interval hits."""
    n = len(next(iter(truth.values())))
    truth_flat = flatten_params(truth, n)
    frames = []
    for p in est.mean:
        if p not in truth_flat:
            continue
        t = truth_flat[p]
        m, s = np.asarray(est.mean[p], float), np.asarray(est.sd[p], float)
        row = {"track": np.arange(n), "parameter": p, "truth": t, "mean": m, "sd": s}
        if est.draws is not None and p in est.draws:
            d = est.draws[p]
            row["rank"] = sbc_ranks(d, t)
            row["n_draws"] = d.shape[0]
            row["pit"] = pit_samples(d, t)
            row["crps"] = crps_samples(d, t)
            lv = np.asarray(DEFAULT_LEVELS)
            lo = np.quantile(d, (1 - lv) / 2, axis=0)
            hi = np.quantile(d, (1 + lv) / 2, axis=0)
            for i, level in enumerate(lv):
                row[f"in{round(level * 100)}"] = ((lo[i] <= t) & (t <= hi[i])).astype(float)
        else:
            row["rank"] = -1
            row["n_draws"] = 0
            with np.errstate(invalid="ignore", divide="ignore"):
                row["pit"] = pit_gaussian(m, s, t)
                row["crps"] = crps_gaussian(m, s, t)
                z = np.abs(t - m) / s
            for level in DEFAULT_LEVELS:
                hit = (z <= special.ndtri((1 + level) / 2)).astype(float)
                row[f"in{round(level * 100)}"] = np.where(np.isfinite(z), hit, np.nan)
        frames.append(pd.DataFrame(row))
    if est.class_probs is not None and model_label.split("+")[0] in est.class_names:
        probs = np.asarray(est.class_probs, float)
        label = est.class_names.index(model_label.split("+")[0])
        frames.append(
            pd.DataFrame(
                {
                    "track": np.arange(n),
                    "parameter": "model",
                    "truth": float(label),
                    "mean": np.argmax(probs, 1).astype(float),
                    "sd": probs.max(1),
                    "p_true": probs[:, label],
                }
            )
        )
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    for k, v in cell.items():
        out[k] = v
    out["seconds_per_track"] = est.seconds / n
    return out


def summarize(per_track: pd.DataFrame, n_bins: int = 10) -> pd.DataFrame:
    """The study table from the per-track table: one row per cell and parameter.

    Columns: ``estimator, model, fit_model, length, snr, parameter, n, mae,
    rmse, bias, cov50, cov90, cov95, ence`` (``min(n_bins, n // 10)`` equal-count
    bins, at least 2, so each holds about 10 tracks or more), ``sbc_p`` (chi-square uniformity of
    the ranks; only for estimators with draws), ``pit_ks_p``, ``sharpness``,
    ``crps``, ``accuracy``/``ece`` (for the ``model`` parameter of classifiers),
    ``sec_per_track``.
    """
    rows = []
    for key, g in per_track.groupby(TABLE_KEYS, sort=True, dropna=False):
        r = dict(zip(TABLE_KEYS, key, strict=True))
        r["n"] = len(g)
        if r["parameter"] == "model":
            labels = g["truth"].to_numpy(int)
            pred = g["mean"].to_numpy(int)
            r["accuracy"] = float(np.mean(pred == labels))
            # for the "model" rows, "sd" holds the top-class probability (confidence)
            r["ece"] = ece_from_confidence(g["sd"].to_numpy(float), pred == labels, n_bins).ece
        else:
            t, m, s = (g[c].to_numpy(float) for c in ("truth", "mean", "sd"))
            err = m - t
            r["mae"] = float(np.nanmean(np.abs(err)))
            r["rmse"] = float(np.sqrt(np.nanmean(err**2)))
            r["bias"] = float(np.nanmean(err))
            for level in DEFAULT_LEVELS:
                c = f"in{round(level * 100)}"
                r[f"cov{round(level * 100)}"] = (
                    float(np.nanmean(g[c])) if g[c].notna().any() else float("nan")
                )
            nb = int(max(2, min(n_bins, len(t) // 10)))  # >= ~10 items a bin
            r["ence"] = ence(m, s, t, nb).ence if np.isfinite(s).any() else float("nan")
            has_draws = (g["n_draws"] > 0).all()
            if has_draws:
                L = int(g["n_draws"].iloc[0])
                r["sbc_p"] = sbc_uniformity(g["rank"].to_numpy(int), L)[1]
            else:
                r["sbc_p"] = float("nan")
            u = g["pit"].to_numpy(float)
            u = u[np.isfinite(u)]
            r["pit_ks_p"] = float(stats.kstest(u, "uniform").pvalue) if u.size else float("nan")
            r["sharpness"] = sharpness(s)
            r["crps"] = float(np.nanmean(g["crps"]))
        r["sec_per_track"] = float(g["seconds_per_track"].iloc[0])
        rows.append(r)
    return pd.DataFrame(rows).reindex(columns=TABLE_KEYS + list(TABLE_METRICS))


class StudyResult(NamedTuple):
    """Result of :func:`study`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (estimator, model, fit_model, length, snr, parameter) with
        every metric (see :func:`summarize`).
    per_track : pandas.DataFrame
        One row per track and parameter: truth, mean, sd, PIT, rank, CRPS and
        interval hits (the material of the figures).
    figures : list of pathlib.Path
        PNGs written (empty without ``out``).
    """

    table: pd.DataFrame
    per_track: pd.DataFrame
    figures: list


def _spec_of(s, dt: float, dim: int) -> SimSpec:
    if isinstance(s, SimSpec):
        return s
    if isinstance(s, str):
        from ..models.registry import from_name

        known = study_models(dt)
        if s in known:
            return dataclasses.replace(known[s], dim=dim)
        return SimSpec(model=from_name(s), dt=dt, dim=dim)
    return SimSpec(model=s, dt=dt, dim=dim)


def study(
    estimators: Sequence[Estimator],
    simulator_spec,
    lengths: Sequence[int] = (50, 100, 200),
    snr: Sequence[float] = (math.inf,),
    n_tracks: int | Mapping = 200,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    *,
    misspecified: Mapping | None = None,
    progress: bool = True,
    figures: bool = True,
) -> StudyResult:
    """Calibration study: simulate test tracks from stated priors and score every estimator.

    For each generating model, length and SNR, ``n_tracks`` parameter sets
    are drawn from the model's priors, tracks simulated (one per parameter
    set) and, for finite SNR, static localization noise of standard deviation
    ``rms one-frame increment / snr`` added. Every estimator then estimates
    every track; the per-track results are scored (coverage at 50/90/95%,
    ENCE, SBC, CRPS, sharpness, MAE, RMSE, accuracy/ECE for classifiers).

    Parameters
    ----------
    estimators : sequence of Estimator
        E.g. ``[Bayes(), Neural(), Neural(member=0), MSDFit()]``.
    simulator_spec : SimSpec, Model, str, or a sequence / mapping of them
        Generating models. Strings name the study priors of
        :func:`study_models` (``"fbm"``, ``"levy"``, ``"langevin"``...) or a model
        (``bayesdiff.models.registry.from_name``) with its default priors.
    lengths : sequence of int
        Track lengths (increments).
    snr : sequence of float
        Signal-to-noise ratios (``inf``: no added noise).
    n_tracks : int or mapping
        Test tracks per cell; a mapping ``{(model_label, length): n}`` or
        ``{model_label: n}`` sizes cells separately (missing keys: 200).
    seed : int
        Base seed: cell tracks use ``seed`` + a stable offset of (model, length).
        The same tracks go to every estimator.
    out : path, optional
        Folder for resumable results: each finished cell is written atomically
        to ``out/cells/<key>.csv`` and skipped when present; the table
        (``calibration_table.csv``), the per-track table and figures
        (``calibration_*.png``) are written at the end.
    misspecified : mapping, optional
        ``{generating model: fit model}``, e.g. ``{"langevin": "fbm"}``: tracks
        from the first, analysed by NUTS estimators with the second (other
        estimators unchanged). Rows carry ``fit_model``.
    progress : bool
        A tqdm bar over every track of every cell, with the time left; it
        moves per track for NUTS/grid/importance posteriors (:class:`Bayes`)
        and per cell for the fast estimators.
    figures : bool
        Write the figures (with ``out``).

    Returns
    -------
    StudyResult

    Examples
    --------
    >>> res = study([MSDFit()], "fbm", lengths=[50], n_tracks=20, progress=False)  # doctest: +SKIP
    >>> res.table[["estimator", "parameter", "mae", "cov90"]]  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    for e in estimators:
        if not isinstance(e, Estimator):
            raise BayesdiffError(
                f"{e!r} is not an Estimator (name, max_tracks, estimate, fit_label, "
                "for_fit_model); subclass bayesdiff.calibration.Estimator for the defaults"
            )
    names = [e.name for e in estimators]
    if len(set(names)) != len(names):
        raise BayesdiffError(f"estimator names must be unique, got {names}")
    jobs = _jobs(simulator_spec, misspecified)
    lengths = [int(n) for n in lengths]
    snrs = [float(x) for x in snr]
    outp = Path(out) if out is not None else None
    cells = [(j, n, q, e) for j in jobs for n in lengths for q in snrs for e in estimators]
    plans, done = [], set()
    for (spec, fit_m), n, q, est in cells:
        est_use = est if fit_m is None else est.for_fit_model(fit_m)
        fit_name = est_use.fit_label(spec.model, q)
        nt = _n_tracks(n_tracks, spec.label, n)
        cap = est.max_tracks
        cap = min(nt, _n_tracks(cap, spec.label, n, default=nt)) if cap is not None else nt
        # the key names everything that changes the cell's tracks: a study rerun
        # with other sizes or seed recomputes instead of reusing stale cells
        key = _cell_key(est.name, spec.label, n, q, fit_name, f"seed{seed}_{cap}of{nt}")
        if key in done or cap <= 0:  # duplicate (misspecified model also studied as itself)
            continue  # or an estimator told to skip this cell (max_tracks 0)
        done.add(key)
        plans.append(_Cell(spec, est_use, fit_name, n, q, nt, cap, key))
    frames = []
    # one bar over every track of every cell: it moves per track where the estimator
    # reports progress (Bayes), per cell otherwise; its time left covers the whole study
    bar = tqdm(
        total=sum(c.cap for c in plans),
        desc=f"calibration ({len(plans)} cells)",
        unit="track",
        disable=not progress,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total} [{elapsed}<{remaining}]",
    )
    tracks = _CellTracks(seed)
    for spec, est_use, fit_name, n, q, nt, cap, key in plans:
        path = outp / "cells" / f"{key}.csv" if outp is not None else None
        if path is not None and path.exists():
            frames.append(pd.read_csv(path))
            bar.update(cap)
            continue
        bar.set_postfix_str(key)
        truth, ts = tracks.get(spec, n, q, nt)
        cell = {"estimator": est_use.name, "model": spec.label, "fit_model": fit_name,
                "length": n, "snr": q}  # fmt: skip
        before = bar.n
        df = _run_cell(est_use, spec, cell, truth, ts, cap, bar if progress else False)
        if path is not None:
            write_csv(df, path)
        frames.append(df)
        bar.update(max(before + cap - bar.n, 0))  # what the estimator did not report
    bar.close()
    return _summarize_and_write(frames, outp, figures)


def _jobs(simulator_spec, misspecified: Mapping | None) -> list[tuple[SimSpec, Any]]:
    """(generating spec, fit model or None) pairs: every spec as itself, then the
    misspecified ones with their fit model."""
    from ..models.registry import from_name

    specs = _as_specs(simulator_spec)
    jobs: list[tuple[SimSpec, Any]] = [(s, None) for s in specs]
    for gen, fit in dict(misspecified or {}).items():
        s = _spec_of(gen, specs[0].dt if specs else 0.05, specs[0].dim if specs else 2)
        fit_m = fit if not isinstance(fit, str) else from_name(fit)
        jobs.append((s, fit_m))
    return jobs


class _Cell(NamedTuple):
    """One study cell to run: generating spec, estimator, fit label, length, SNR,
    tracks simulated, tracks the estimator sees, and the cell's file key."""

    spec: SimSpec
    est: Estimator
    fit_name: str
    n: int
    snr: float
    n_tracks: int
    cap: int
    key: str


class _CellTracks:
    """The truths and tracks of one (model, length, SNR, size) at a time, shared by the
    estimators of a cell: simulated once from a seed that depends on model and length."""

    def __init__(self, seed: int):
        self.seed = seed
        self.key: tuple | None = None
        self.value: tuple[dict[str, np.ndarray], TrackSet] | None = None

    def get(self, spec: SimSpec, n: int, snr: float, n_tracks: int):
        key = (spec.label, n, snr, n_tracks)
        if key != self.key or self.value is None:
            cseed = self.seed + _crc32(f"{spec.label}|{n}") % 100_000
            truth = simulate_truth(spec, n_tracks, cseed)
            ts = spec.model.simulate(
                seed=cseed, params=truth, n_steps=n, dt=spec.dt, dim=spec.dim, n_tracks=n_tracks
            )
            self.key, self.value = key, (truth, add_noise(ts, snr, cseed + 1))
        return self.value


def _run_cell(
    est: Estimator, spec: SimSpec, cell: dict, truth, ts: TrackSet, cap: int, bar: Any = False
):
    """Run one estimator on the first ``cap`` tracks of a cell; its per-track table
    (``bar``: the study's, for estimators that report progress per track)."""
    ts_use = ts if cap >= len(ts) else TrackSet(list(ts)[:cap])
    truth_use = truth if cap >= len(ts) else {k: v[:cap] for k, v in truth.items()}
    if getattr(est, "reports_progress", False) and bar is not False:
        res = est.estimate(ts_use, spec.model, snr=cell["snr"], progress=bar)
    else:
        res = est.estimate(ts_use, spec.model, snr=cell["snr"])
    return _per_track_rows(res, truth_use, cell, spec.label)


def _summarize_and_write(frames: list, outp: Path | None, figures: bool) -> StudyResult:
    """Summarize the cells; with an output folder write the tables and figures."""
    per_track = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    table = summarize(per_track)
    figs = []
    if outp is not None:
        write_csv(table, outp / "calibration_table.csv")
        write_csv(per_track, outp / "calibration_per_track.csv")
        if figures and len(per_track):
            figs = write_figures(per_track, table, outp)
    return StudyResult(table, per_track, figs)


def _as_specs(simulator_spec) -> list[SimSpec]:
    if isinstance(simulator_spec, Mapping):
        items = [
            dataclasses.replace(_spec_of(v, 0.05, 2), name=str(k))
            for k, v in simulator_spec.items()
        ]
    elif isinstance(simulator_spec, (str, SimSpec)) or not isinstance(simulator_spec, Sequence):
        items = [_spec_of(simulator_spec, 0.05, 2)]
    else:
        items = [_spec_of(s, 0.05, 2) for s in simulator_spec]
    return items


def _n_tracks(n_tracks, label: str, length: int, default: int = 200) -> int:
    if isinstance(n_tracks, Mapping):
        for k in ((label, length), label, length):
            if k in n_tracks:
                return int(n_tracks[k])
        return default
    return int(n_tracks)


def _crc32(s: str) -> int:
    """A stable (run-independent) hash of ``s``: cell seeds must not depend on Python's
    randomized ``hash``."""
    return zlib.crc32(s.encode())
