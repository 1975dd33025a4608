"""Posterior results as ArviZ InferenceData, with diagnostics always computed.

:func:`posterior_result` turns parameter draws, sample stats and pointwise
log-likelihoods from any sampler (NUTS or the quadrature grid; one track, a
pooled set or many tracks) into the InferenceData that ``bd.sample`` and
``bd.sample_many`` return, computes R-hat and ESS, and warns.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .._version import __version__
from ..models.base import Model
from ..tracks import Track
from . import _arviz

__all__ = ["track_info", "posterior_result", "FitInfo"]

_COORDS = ("x", "y", "z")


def track_info(tracks: list[Track]) -> dict:
    """Increments, frames, dt, lengths, ids and sources of the tracks, NaN/-1-padded."""
    n_max = max(t.n_steps for t in tracks)
    dim = tracks[0].dim
    inc = np.full((len(tracks), n_max, dim), np.nan)
    frames = np.full((len(tracks), n_max + 1), -1, dtype=np.int64)
    for i, t in enumerate(tracks):
        inc[i, : t.n_steps] = t.increments
        frames[i, : t.n_points] = t.frames
    return {
        "ids": [t.id for t in tracks],
        "increments": inc,
        "frames": frames,
        "dt": np.array([t.dt for t in tracks]),
        "n_steps": np.array([t.n_steps for t in tracks]),
        "dim": dim,
        "sources": sorted({str(t.source) for t in tracks if t.source}),
    }


def coord_ids(ids: list) -> list:
    """Track ids as coordinate values: ints if all are integers, else strings."""
    if all(isinstance(i, (int, np.integer)) for i in ids):
        return [int(i) for i in ids]
    return [str(i) for i in ids]


@dataclasses.dataclass(frozen=True)
class FitInfo:
    """How a posterior was obtained; recorded in the InferenceData's attrs.

    Attributes
    ----------
    kind : {"single", "pooled", "many"}
        One track, one parameter set for a TrackSet, or one posterior per track.
    seed : int
    seconds : float
        Wall time of the fit.
    chains, draws : int
    method : str
        ``"nuts"`` or ``"grid"``.
    extra_attrs : dict, optional
        Further attrs (e.g. the grid's log evidence, NUTS's start).
    """

    kind: str
    seed: int
    seconds: float
    chains: int
    draws: int
    method: str = "nuts"
    extra_attrs: dict[str, Any] | None = None


_STAT_NAMES = ("diverging", "n_steps", "tree_depth", "acceptance_rate", "step_size", "energy", "lp")


def _sample_stats(stats: tuple | None) -> tuple[dict | None, int]:
    """NUTS stats (after warm-up) as the ``sample_stats`` group, and the divergences."""
    if stats is None:
        return None, 0
    div, n_steps, acc, step, energy, pe = stats
    return {
        "diverging": np.asarray(div, bool),
        "n_steps": np.asarray(n_steps),
        "tree_depth": np.floor(np.log2(np.asarray(n_steps) + 1)).astype(np.int64),
        "acceptance_rate": np.asarray(acc),
        "step_size": np.asarray(step),
        "energy": np.asarray(energy),
        "lp": -np.asarray(pe),
    }, int(np.asarray(div).sum())


def _data_groups(info: dict, single: bool, dims: dict) -> tuple[dict, dict]:
    """``observed_data`` and ``constant_data`` of the tracks (their dims go into ``dims``)."""

    def pick(a):
        return a[0] if single else a

    obs = {"increments": pick(info["increments"])}
    dims["increments"] = ["step", "coord"] if single else ["track", "step", "coord"]
    const = {
        "dt": pick(info["dt"]),
        "frames": pick(info["frames"]),
        "track_length": pick(info["n_steps"]),
    }
    dims["frames"] = ["point"] if single else ["track", "point"]
    if not single:
        dims["dt"] = ["track"]
        dims["track_length"] = ["track"]
    return obs, const


def posterior_result(
    model: Model,
    params: dict[str, np.ndarray],
    stats: tuple | None,
    loglik: dict[str, np.ndarray],
    ll_dims: list[str],
    info: dict,
    fit: FitInfo,
    *,
    dims_extra: list[str],
    warn: bool,
    per_track: dict[str, np.ndarray] | None = None,
):
    """Build the InferenceData, compute diagnostics and warn.

    Parameters
    ----------
    model : Model
    params : dict of arrays
        Draws with leading (chain, draw) axes, then ``dims_extra`` axes.
    stats : tuple or None
        NUTS sample stats after warm-up (None: no ``sample_stats`` group).
    loglik : dict of arrays
        Pointwise log-likelihoods, with dims ``ll_dims`` after (chain, draw).
    info : dict
        :func:`track_info` of the tracks.
    fit : FitInfo
    dims_extra : list of str
        Dimensions between (chain, draw) and a parameter's own (``["track"]``
        for one posterior per track).
    warn : bool
        Emit a DiagnosticsWarning for poor R-hat/ESS or divergences.
    per_track : dict of arrays, optional
        Further ``constant_data`` with a ``track`` dimension (e.g. the method
        each track got).
    """
    dim = info["dim"]
    sample_stats, n_div = _sample_stats(stats)
    dims = {
        p: list(dims_extra) + param_dims(model, p, a.ndim - 2 - len(dims_extra), dim)
        for p, a in params.items()
    }
    dims.update({k: list(dims_extra) for k in _STAT_NAMES})
    single = fit.kind == "single"
    coords = {"coord": list(_COORDS[:dim])}
    if not single:
        coords["track"] = coord_ids(info["ids"])
    dims["obs"] = ll_dims
    obs, const = _data_groups(info, single, dims)
    for name, values in (per_track or {}).items():
        values = np.asarray(values)
        const[name] = values.astype(str) if values.dtype == object else values
        dims[name] = ["track"]
    attrs = {
        "bayesdiff_version": __version__,
        "model": model.name,
        "model_config": model.config(),
        "method": fit.method,
        "fit": fit.kind,
        "seed": int(fit.seed),
        "chains": int(fit.chains),
        "draws": int(fit.draws),
        "tune": 0,
        "sampling_seconds": float(fit.seconds),
        "track_ids": [str(i) for i in info["ids"]] if fit.kind != "many" else "see coords",
        "sources": info["sources"],
        **(fit.extra_attrs or {}),
    }
    idata = _arviz.build_inference_data(
        params,
        sample_stats=sample_stats,
        log_likelihood=loglik,
        observed_data=obs,
        constant_data=const,
        coords=coords,
        dims=dims,
        attrs=attrs,
    )
    diag = _arviz.diagnostics(idata)
    msgs = _arviz.warn_diagnostics(diag, stacklevel=4) if warn else []
    summary_attrs = {
        "max_r_hat": _finite_extreme(np.max, diag["r_hat"]),
        "min_ess_bulk": _finite_extreme(np.min, diag["ess_bulk"]),
        "min_ess_tail": _finite_extreme(np.min, diag["ess_tail"]),
        "divergences": n_div,
        "diagnostic_warnings": len(msgs),
    }
    for g in idata.groups():
        idata[g].attrs.update(summary_attrs)
    return idata


def param_dims(model: Model, p: str, n_extra: int, dim: int) -> list[str]:
    """Names of the ``n_extra`` trailing dimensions of parameter ``p``."""
    if n_extra <= 0:
        return []
    d = model.param_dims(p)
    if d is not None and len(d) == n_extra:
        return list(d)
    if n_extra == 1 and p in model.vector_params:
        return ["coord"]
    return [f"{p}_dim_{i}" for i in range(n_extra)]


def _finite_extreme(extreme, values) -> float:
    """``extreme`` (np.max or np.min) of the values that are not NaN; NaN where there
    are none (a single chain has no R-hat)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    return float(extreme(v)) if v.size else float("nan")
