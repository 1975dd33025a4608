"""Every ArviZ call of bayesdiff lives here.

ArviZ 0.x (InferenceData) is what pip resolves on Python 3.11; ArviZ 1.x moves
to DataTree. Keeping the construction of results, diagnostics, summaries, LOO
and netCDF I/O in this one module means that move touches one file.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._files import atomic_path
from ..errors import DiagnosticsWarning, ModelError

with warnings.catch_warnings():
    # ArviZ 0.x prints a FutureWarning banner about its 1.x refactor on import;
    # bayesdiff keeps every ArviZ call in this module, so the banner says nothing
    # to bayesdiff's users.
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

__all__ = [
    "build_inference_data",
    "diagnostics",
    "warn_diagnostics",
    "summary",
    "loo",
    "to_netcdf",
    "from_netcdf",
    "draws",
    "posterior_draws",
    "track_draws",
    "select_track",
    "plot_ecdf_difference",
    "ess_array",
    "pareto_khat",
    "psis",
    "loo_array",
    "compare_loo",
    "neural_inference_data",
]

#: Thresholds of the always-on diagnostics.
RHAT_MAX = 1.01
ESS_MIN = 400


def build_inference_data(
    posterior: Mapping[str, np.ndarray],
    *,
    sample_stats: Mapping[str, np.ndarray] | None = None,
    log_likelihood: Mapping[str, np.ndarray] | None = None,
    observed_data: Mapping[str, np.ndarray] | None = None,
    constant_data: Mapping[str, np.ndarray] | None = None,
    coords: Mapping[str, Sequence] | None = None,
    dims: Mapping[str, list[str]] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> az.InferenceData:
    """Assemble an InferenceData; arrays in posterior/sample_stats/log_likelihood
    have leading (chain, draw) axes."""
    idata = az.from_dict(
        posterior=dict(posterior),
        sample_stats=dict(sample_stats or {}),
        log_likelihood=dict(log_likelihood or {}),
        observed_data=dict(observed_data or {}),
        constant_data=dict(constant_data or {}),
        coords=dict(coords or {}),
        dims=dict(dims or {}),
        attrs=_flat_attrs(attrs or {}),
    )
    for group in idata.groups():
        idata[group].attrs.update(_flat_attrs(attrs or {}))
    return idata


def _flat_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """netCDF attributes must be str/number/list: booleans become 0/1, the rest JSON."""
    import json

    out = {}
    for k, v in attrs.items():
        if isinstance(v, (bool, np.bool_)):
            out[k] = int(v)
        elif isinstance(v, (str, int, float, np.integer, np.floating)):
            out[k] = v
        else:
            out[k] = json.dumps(v, default=str)
    return out


def _param_vars(idata: az.InferenceData) -> list[str]:
    return [v for v in idata.posterior.data_vars if not v.endswith("_base")]


def diagnostics(idata: az.InferenceData) -> pd.DataFrame:
    """R-hat, bulk and tail ESS and divergences, one row per scalar parameter
    (and per track when the posterior has a ``track`` dimension)."""
    post = idata.posterior[_param_vars(idata)]
    rhat = az.rhat(post)
    ess_b = az.ess(post, method="bulk")
    ess_t = az.ess(post, method="tail")
    frames = []
    for var in post.data_vars:
        df = _to_df(
            xr.Dataset({"r_hat": rhat[var], "ess_bulk": ess_b[var], "ess_tail": ess_t[var]})
        )
        df.insert(0, "parameter", _labels(var, df, post[var].dims))
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    _cap_importance_ess(idata, out)
    div = idata.sample_stats.get("diverging") if "sample_stats" in idata.groups() else None
    if div is not None:
        d = div.sum(("chain", "draw"))
        if "track" in d.dims:
            out["divergences"] = out["track"].map(
                dict(zip(d["track"].values, d.values, strict=True))
            )
        else:
            out["divergences"] = int(d.values)
    return out


def _cap_importance_ess(idata: az.InferenceData, diag: pd.DataFrame) -> None:
    """Draws resampled from importance weights repeat draws: their ESS is at most the
    weights' own (``importance_ess``), whatever the resampled chains' autocorrelation
    says. Caps ``ess_bulk``/``ess_tail`` in place, per track where the method differs."""
    const = idata.constant_data if "constant_data" in idata.groups() else None
    if const is not None and "importance_ess" in const and "track" in diag.columns:
        cap_of = dict(zip(const["track"].values, const["importance_ess"].values, strict=True))
        cap = diag["track"].map(cap_of).astype(float).fillna(np.inf).to_numpy()
    elif "importance_ess" in idata.attrs:
        cap = np.full(len(diag), float(idata.attrs["importance_ess"]))
    else:
        return
    for col in ("ess_bulk", "ess_tail"):
        diag[col] = np.minimum(diag[col].to_numpy(), cap)


def _to_df(ds: xr.Dataset) -> pd.DataFrame:
    if not ds.dims:
        return pd.DataFrame({k: [ds[k].item()] for k in ds.data_vars})
    return ds.to_dataframe().reset_index()


def _labels(var: str, df: pd.DataFrame, dims: tuple[str, ...]) -> list[str]:
    extra = [d for d in dims if d not in ("chain", "draw", "track")]
    if not extra:
        return [var] * len(df)
    return [f"{var}[{','.join(str(r[d]) for d in extra)}]" for _, r in df.iterrows()]


def warn_diagnostics(diag: pd.DataFrame, *, stacklevel: int = 3) -> list[str]:
    """Warn (DiagnosticsWarning) naming each parameter/track that fails
    R-hat <= 1.01, bulk/tail ESS >= 400 or has divergences. Returns the messages."""
    msgs = []
    has_track = "track" in diag.columns
    for _, r in diag.iterrows():
        where = f"{r['parameter']}" + (f" (track {r['track']})" if has_track else "")
        bad = []
        if not np.isfinite(r["r_hat"]) or r["r_hat"] > RHAT_MAX:
            bad.append(f"R-hat {r['r_hat']:.3f} > {RHAT_MAX}")
        if r["ess_bulk"] < ESS_MIN:
            bad.append(f"bulk ESS {r['ess_bulk']:.0f} < {ESS_MIN}")
        if r["ess_tail"] < ESS_MIN:
            bad.append(f"tail ESS {r['ess_tail']:.0f} < {ESS_MIN}")
        if bad:
            msgs.append(f"{where}: " + ", ".join(bad))
    if "divergences" in diag.columns:
        key = ["track"] if has_track else []
        div = diag.groupby(key)["divergences"].first() if key else diag["divergences"].iloc[:1]
        for k, n in div.items():
            if n > 0:
                msgs.append(f"{int(n)} divergent transitions" + (f" (track {k})" if key else ""))
    if msgs:
        head = msgs[:10]
        more = f" ... and {len(msgs) - 10} more" if len(msgs) > 10 else ""
        warnings.warn(
            "sampling diagnostics: " + "; ".join(head) + more,
            DiagnosticsWarning,
            stacklevel=stacklevel,
        )
    return msgs


def summary(idata: az.InferenceData, hdi_prob: float = 0.94) -> pd.DataFrame:
    """Tidy table: one row per parameter (and track): mean, sd, HDI, R-hat, ESS."""
    post = idata.posterior[_param_vars(idata)]
    mean = post.mean(("chain", "draw"))
    sd = post.std(("chain", "draw"))
    hdi = az.hdi(post, hdi_prob=hdi_prob)
    lo_name, hi_name = f"hdi_{(1 - hdi_prob) / 2:.1%}", f"hdi_{1 - (1 - hdi_prob) / 2:.1%}"
    frames = []
    for var in post.data_vars:
        ds = xr.Dataset(
            {
                "mean": mean[var],
                "sd": sd[var],
                lo_name: hdi[var].sel(hdi="lower", drop=True),
                hi_name: hdi[var].sel(hdi="higher", drop=True),
            }
        )
        df = _to_df(ds)
        dims = tuple(d for d in post[var].dims if d not in ("chain", "draw"))
        df.insert(0, "parameter", _labels(var, df, dims))
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    diag = diagnostics(idata)
    keys = ["parameter"] + (["track"] if "track" in out.columns else [])
    out = out.merge(
        diag[keys + [c for c in diag.columns if c in ("r_hat", "ess_bulk", "ess_tail")]], on=keys
    )
    drop = [
        c
        for c in out.columns
        if c not in keys + ["mean", "sd", lo_name, hi_name, "r_hat", "ess_bulk", "ess_tail"]
    ]
    out = out.drop(columns=drop)
    if "track" in out.columns:
        out = out[["track", *[c for c in out.columns if c != "track"]]]
    return out


def loo(idata: az.InferenceData, var_name: str | None = None) -> Any:
    """PSIS-LOO (ArviZ ``az.loo``) with pointwise Pareto k."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return az.loo(idata, var_name=var_name, pointwise=True)


def ess_array(x: np.ndarray) -> np.ndarray:
    """Bulk ESS of each trailing variable of an array of shape (chain, draw, k) -> (k,)."""
    x = np.asarray(x, dtype=float)
    cols = [np.ascontiguousarray(x[..., i]) for i in range(x.shape[-1])]
    return np.array([float(az.ess(c, method="bulk")) for c in cols])


def psis(log_weights: np.ndarray) -> tuple[np.ndarray, float]:
    """Pareto-smoothed, normalized log importance weights and the Pareto k-hat
    of their upper tail (``az.psislw``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lw, k = az.psislw(np.asarray(log_weights, dtype=float))
    return np.asarray(lw), float(np.asarray(k))


def pareto_khat(log_weights: np.ndarray) -> float:
    """Pareto k-hat of the upper tail of importance weights (PSIS)."""
    return psis(log_weights)[1]


def loo_array(log_lik: np.ndarray, reff: float = 1.0) -> Any:
    """PSIS-LOO of a pointwise log-likelihood array of shape (chain, draw, n_obs);
    ``reff`` is the relative efficiency of the draws (1 for independent draws)."""
    idata = az.from_dict(log_likelihood={"obs": np.asarray(log_lik, dtype=float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return az.loo(idata, var_name="obs", pointwise=True, reff=float(reff))


def draws(
    idata: Any,
    names: Sequence[str],
    *,
    flat: bool = True,
    track: Any = None,
    thin: int = 1,
) -> dict[str, np.ndarray]:
    """Posterior draws of the variables ``names``: the one accessor every module uses.

    Parameters
    ----------
    idata : arviz.InferenceData or xarray.Dataset
        A posterior (its ``posterior`` group is used when it has one).
    names : sequence of str
    flat : bool
        Flatten (chain, draw) into one leading axis (chains concatenated).
    track : optional
        For a posterior with a ``track`` dimension: keep only this track,
        selected by id (or its string form); None keeps every track, as the
        axis right after (chain, draw).
    thin : int
        Keep every ``thin``-th draw of every chain.

    Returns
    -------
    dict of str to array
        Shape (chain * draw, [track,] ...) with ``flat``, else (chain, draw, [track,] ...).
    """
    post = getattr(idata, "posterior", idata)
    if track is not None and "track" in post.dims:
        post = select_track(post, track)
    out = {}
    for n in names:
        da = post[n]
        rest = [d for d in da.dims if d not in ("chain", "draw", "track")]
        lead = ["chain", "draw"] + (["track"] if "track" in da.dims else [])
        a = da.transpose(*lead, *rest).values[:, :: max(1, int(thin))]
        out[n] = a.reshape(-1, *a.shape[2:]) if flat else a
    return out


def select_track(post: xr.Dataset, track_id: Any) -> xr.Dataset:
    """The posterior of one track of a ``track``-dimensioned posterior, by its id."""
    ids = list(post["track"].values)
    for key in (track_id, str(track_id)):
        if key in ids:
            return post.sel(track=key)
    raise ModelError(
        f"the posterior has a track dimension but no track {track_id!r}; "
        "select one with idata.posterior.sel(track=...)"
    )


def compare_loo(log_liks: Mapping[str, np.ndarray], posteriors: Mapping[str, Any]) -> pd.DataFrame:
    """``az.compare`` by PSIS-LOO of several fits' pointwise log-likelihoods.

    ``log_liks`` maps a label to an array (chain, draw, n_obs); ``posteriors``
    maps the same labels to their posterior groups (for the relative effective
    sample size). Returns ArviZ's table, best fit first.
    """
    prepared = {}
    for label, a in log_liks.items():
        new = az.from_dict(log_likelihood={"obs": a})
        new.add_groups(posterior=posteriors[label])
        prepared[label] = new
    return az.compare(prepared, ic="loo")


def posterior_draws(idata: az.InferenceData, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Posterior arrays with (chain, draw) flattened into one leading axis."""
    return draws(idata, names)


def track_draws(
    idata: az.InferenceData, names: Sequence[str], thin: int = 1
) -> dict[str, np.ndarray]:
    """Posterior arrays of a ``track``-dimensioned posterior as (n_draws, n_track, ...).

    Every chain is thinned by ``thin`` before the chains are concatenated.
    """
    for n in names:
        if "track" not in idata.posterior[n].dims:
            raise ValueError(f"posterior variable {n!r} has no 'track' dimension")
    return draws(idata, names, thin=thin)


def plot_ecdf_difference(pit: np.ndarray, ax, ci_prob: float = 0.95, npoints: int = 100,
                         color: str | None = None, label: str | None = None):  # fmt: skip
    """ECDF difference of PIT values against U(0, 1) with a simultaneous band (``az.plot_ecdf``).

    The band is ArviZ's simultaneous confidence band for ``len(pit)`` uniform
    draws evaluated at ``npoints`` fixed points (Säilynoja et al. 2022).
    """
    from scipy import stats

    u = np.asarray(pit, dtype=float)
    u = u[np.isfinite(u)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.plot_ecdf(
            u,
            cdf=stats.uniform(0, 1).cdf,
            difference=True,
            confidence_bands=True,
            ci_prob=ci_prob,
            eval_points=np.linspace(0, 1, npoints + 1)[1:],
            npoints=npoints,
            ax=ax,
            plot_kwargs={"color": color, "label": label},
            fill_kwargs={"alpha": 0.15, "color": color or "C0"},
        )


def to_netcdf(idata: az.InferenceData, path: str | os.PathLike) -> Path:
    """Write atomically: a temporary file in the same folder, then rename."""
    path = Path(path)
    with atomic_path(path) as tmp:
        idata.to_netcdf(tmp, engine="h5netcdf")
    return path


def from_netcdf(path: str | os.PathLike) -> az.InferenceData:
    """Read an InferenceData written by :func:`to_netcdf`."""
    return az.from_netcdf(str(path), engine="h5netcdf")


def plot_trace(idata: az.InferenceData, var_names: Sequence[str] | None = None):
    """ArviZ trace plot of the model parameters (returns the axes)."""
    names = list(var_names or _param_vars(idata))
    return az.plot_trace(idata, var_names=names, compact=True)


def plot_posterior(
    idata: az.InferenceData, var_names: Sequence[str] | None = None, hdi_prob: float = 0.94
):
    """ArviZ posterior densities with HDI (returns the axes)."""
    names = list(var_names or _param_vars(idata))
    return az.plot_posterior(idata, var_names=names, hdi_prob=hdi_prob)


def neural_inference_data(
    draws: Mapping[str, np.ndarray],
    *,
    track_ids: Sequence,
    model_probability: np.ndarray | None = None,
    model_names: Sequence[str] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> az.InferenceData:
    """InferenceData from draws of a neural predictive distribution.

    ``draws`` maps names to arrays of shape (draw, track); they become the
    ``posterior`` group with dims (chain=1, draw, track). ``model_probability``
    (track, model) goes into ``constant_data``.
    """
    posterior = {k: np.asarray(v)[None] for k, v in draws.items()}
    constant = {}
    dims: dict[str, list[str]] = {k: ["track"] for k in posterior}
    coords: dict[str, Sequence] = {"track": list(track_ids)}
    if model_probability is not None:
        constant["model_probability"] = np.asarray(model_probability)
        dims["model_probability"] = ["track", "model"]
        coords["model"] = list(model_names or range(np.shape(model_probability)[1]))
    return build_inference_data(
        posterior, constant_data=constant, coords=coords, dims=dims, attrs=attrs
    )
