"""The information-content model check: is the observed track typical of the fitted model?

Following Krog & Lomholt (PRE 96, 062106, 2017), the *information content* of
data ``y`` under parameters ``theta`` is ``-log p(y | theta)``. A model that
describes the data should give the observed track an information content
typical of tracks it generates itself. The check compares, at several
coarse-graining scales ``n`` (the track observed every ``n`` frames, i.e.
increments summed in blocks of ``n``), the log-likelihood of the observed
track with the log-likelihoods of replicate tracks simulated from the model
with the same frames, all evaluated under the parameters that generated the
replicate. Coarse-graining probes the long-time behaviour that one-frame
increments barely constrain: a Brownian fit to a confined or subdiffusive
track predicts too large displacements over many frames.

Coarse-grained likelihoods need no new mathematics: the sum of ``n``
consecutive increments is the displacement between points ``n`` frames apart,
so the coarse-grained data are the track observed every ``n`` frames
(:func:`coarse_grain`), whose exact likelihood every model already provides.
For Brownian motion and FBM this is the same process at frame interval
``n dt`` (FBM keeps ``alpha``; static localization noise keeps its ``sigma``,
since only the end points of a summed block matter); for the Langevin model
the OU transitions over lag ``n dt``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import jax
import numpy as np
import pandas as pd

from ..errors import ModelError, ParameterError
from ..models.base import Model, TrackData, as_data
from ..tracks import Track
from . import _arviz
from ._programs import cached_jit

__all__ = ["model_check", "coarse_grain"]

#: Scales that leave fewer coarse-grained increments than this are skipped.
MIN_INCREMENTS = 8

_METHODS = ("sampled", "posterior")


def coarse_grain(track: Track, scale: int) -> Track:
    """The track observed every ``scale`` frames.

    Keeps the points at frames ``f_0, f_0 + scale, f_0 + 2 scale, ...`` that
    exist (``f_0`` is the first frame) and renumbers them ``0, 1, 2, ...`` with
    frame interval ``scale * dt``. Its increments are the sums of ``scale``
    consecutive increments of the original track. For a track with gaps the
    coarse-grained track keeps a gap wherever a grid frame is missing (points
    off the grid are dropped), so coarse-graining is in time, not in point
    count.

    Parameters
    ----------
    track : Track
    scale : int
        Coarse-graining factor (>= 1).

    Returns
    -------
    Track
        With the same ``id`` and ``source``; ``dt`` is ``scale * track.dt``.

    Examples
    --------
    >>> import numpy as np, bayesdiff as bd
    >>> from bayesdiff.inference.checks import coarse_grain
    >>> t = bd.Track(np.arange(10.0), dt=0.1)
    >>> c = coarse_grain(t, 4)
    >>> c.positions[:, 0].tolist(), c.dt
    ([0.0, 4.0, 8.0], 0.4)
    """
    scale = int(scale)
    if scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    if scale == 1:
        return track
    rel = track.frames - track.frames[0]
    keep = rel % scale == 0
    le = track.localization_error
    if le is not None and np.ndim(le) == 1:
        le = le[keep]
    return Track(
        track.positions[keep], track.dt * scale, rel[keep] // scale, id=track.id,
        localization_error=le, source=track.source,
    )  # fmt: skip


def model_check(
    model: Model,
    track: Track,
    idata: Any,
    scales: Sequence[int] = (1, 2, 4, 8, 16, 32),
    n_replicates: int = 100,
    seed: int = 0,
    *,
    method: str = "sampled",
    min_increments: int = MIN_INCREMENTS,
) -> pd.DataFrame:
    """Information-content model check of a fitted model on one track.

    Parameters
    ----------
    model : bayesdiff.models.Model
        The model that was fitted.
    track : Track
        The observed track.
    idata : arviz.InferenceData, xarray.Dataset or mapping
        Posterior draws: an InferenceData (its ``posterior`` group) or a
        Dataset with variables named by ``model.param_names`` and dims
        ``(chain, draw, ...)``; from :func:`bayesdiff.sample_many` (a
        ``track`` dimension) the draws of ``track.id`` are used. A mapping of
        parameter name to an array with one leading draw axis is also accepted.
    scales : sequence of int
        Coarse-graining scales ``n`` (frames per coarse-grained step).
    n_replicates : int
        Number of replicate tracks simulated from the model.
    seed : int
        Random seed (choice of posterior draws and the replicates).
    method : {"sampled", "posterior"}
        Which parameters the replicates are drawn with (see Notes).
        ``"sampled"`` (default): one posterior draw, chosen at random, for all
        replicates -- the sampled posterior p-value, uniform under the model.
        ``"posterior"``: one posterior draw per replicate -- the posterior
        predictive p-value of Krog & Lomholt, conservative at fine scales.
    min_increments : int
        Scales whose coarse-grained track has fewer increments than this
        (default 8) are skipped, as are scales leaving fewer points than the
        model needs.

    Returns
    -------
    pandas.DataFrame
        One row per scale kept, columns

        * ``scale`` -- coarse-graining factor ``n``,
        * ``n_points`` -- points of the coarse-grained track (increments + 1),
        * ``p_value`` -- fraction of replicates whose log-likelihood is *below*
          the observed one (small: the observed track is atypically
          improbable, e.g. larger excursions than the model allows),
        * ``p_value_upper`` -- fraction *above* (small: the observed track is
          atypically probable, e.g. smaller displacements at that scale than
          the model predicts, as for a confined or subdiffusive track checked
          with Brownian motion),
        * ``p_value_two_sided`` -- ``min(1, 2 min(p_value, p_value_upper))``,
        * ``loglik_obs``, ``loglik_rep`` -- mean log-likelihood of the
          observed and of the replicate coarse-grained tracks.

        ``df.attrs`` records the method, model, number of replicates, the
        skipped scales and, per scale, the arrays of log-likelihoods
        (``"loglik"``: ``{scale: (obs, rep)}``).

    Notes
    -----
    For replicate ``r`` with parameters ``theta_r`` (a posterior draw) a track
    ``y_r ~ p(y | theta_r)`` is simulated with the observed frames (the model's
    own start, e.g. stationary for the Langevin model). At scale ``n``, with
    ``C_n`` the coarse-graining, the check compares
    ``L_obs,r = log p(C_n y_obs | theta_r)`` with ``L_rep,r = log p(C_n y_r | theta_r)``:

        p_value = (1/R) #{r : L_rep,r < L_obs,r},
        p_value_upper = (1/R) #{r : L_rep,r > L_obs,r}.

    For Gaussian models the log-determinant cancels between the two, and the
    check compares the observed Mahalanobis distance with its chi-squared
    distribution under the model.

    With ``method="posterior"`` every replicate has its own posterior draw.
    This is the posterior predictive p-value: because the draws were fitted to
    the observed track, the observed track looks typical at the scales that
    determined the fit, and the p-values pile up near 0.5 there (for Brownian
    motion at scale 1 exactly: ``L_obs,r`` then has the same distribution as
    ``L_rep,r`` whatever the data). ``method="sampled"`` uses one posterior
    draw for all replicates (Johnson 2004; Gosselin 2011): if the track comes
    from the model with parameters from the prior, that draw and the track
    are distributed like a prior draw and its data, so the p-value is exactly
    uniform at every scale (up to the ``1/R`` resolution), and approximately
    so for a fixed true parameter and an informative track. Its price is that
    it depends on which draw was chosen (the seed), most at fine scales.

    The p-values have resolution ``1/n_replicates``; a value of 0 means
    "below 1/n_replicates". Scales are tested separately: with several scales
    some small p-values are expected by chance.

    References
    ----------
    Krog & Lomholt, PRE 96, 062106 (2017). Krog, Jacobsen, Lund, Wüstner &
    Lomholt, J. Stat. Mech. 093501 (2018). Johnson, Ann. Statist. 32, 2361
    (2004). Gosselin, PLoS ONE 6, e14770 (2011).

    Examples
    --------
    >>> import bayesdiff as bd
    >>> m = bd.models.Brownian()
    >>> track = m.simulate(seed=1, params={"D": 0.2}, n_steps=200, dt=0.05)[0]
    >>> idata = bd.sample(m, track, draws=300, tune=300, chains=2, progress=False)  # doctest: +SKIP
    >>> bd.model_check(m, track, idata)  # doctest: +SKIP
    """
    if not isinstance(track, Track):
        raise TypeError(f"expected a Track, got {type(track).__name__}")
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {_METHODS}")
    if n_replicates < 1:
        raise ValueError("n_replicates must be >= 1")
    track.require(model.min_points, f"the {model.name} model")
    draws = _draws(model, track, idata)
    n_draws = next(iter(draws.values())).shape[0]
    rng = np.random.default_rng(seed)
    if method == "posterior":
        idx = rng.choice(n_draws, n_replicates, replace=n_draws < n_replicates)
    else:
        idx = np.full(n_replicates, rng.integers(n_draws))
    params = {p: a[idx] for p, a in draws.items()}
    reps = model.simulate(
        seed=int(rng.integers(2**62)), params=params, n_steps=track.n_steps, dt=track.dt,
        dim=track.dim, n_tracks=n_replicates, frames=track.frames,
    )  # fmt: skip
    rep_pos = np.stack([t.positions for t in reps])  # (R, n_points, dim)
    n_obs = 1 if method == "sampled" else n_replicates  # distinct parameter values
    all_params = {
        p: jax.device_put(np.concatenate([a[:n_obs], a]).astype(np.float64))
        for p, a in params.items()
    }
    rows, skipped, logliks = [], [], {}
    for n in scales:
        n = int(n)
        obs = coarse_grain(track, n)
        if obs.n_steps < min_increments or obs.n_points < model.min_points:
            skipped.append(n)
            continue
        keep = (track.frames - track.frames[0]) % n == 0
        # every scale padded to the full length (masked exactly): one compilation for all;
        # observed and replicates in one batch (the observed once per distinct draw)
        data_obs, regular = as_data(obs, pad_to=track.n_steps)
        batch = jax.tree.map(
            lambda a, b: jax.device_put(np.concatenate([a, b])),
            _broadcast(data_obs, n_obs),
            _replicate_data(data_obs, rep_pos[:, keep]),
        )
        ll = np.asarray(_batched_loglik(model, regular)(all_params, batch))
        l_obs, l_rep = ll[:n_obs], ll[n_obs:]
        lo = float(np.mean(l_rep < l_obs))
        hi = float(np.mean(l_rep > l_obs))
        rows.append({
            "scale": n, "n_points": obs.n_points, "p_value": lo, "p_value_upper": hi,
            "p_value_two_sided": min(1.0, 2.0 * min(lo, hi)),
            "loglik_obs": float(np.mean(l_obs)), "loglik_rep": float(np.mean(l_rep)),
        })  # fmt: skip
        logliks[n] = (l_obs, l_rep)
    columns = ["scale", "n_points", "p_value", "p_value_upper", "p_value_two_sided",
               "loglik_obs", "loglik_rep"]  # fmt: skip
    df = pd.DataFrame(rows, columns=columns)
    df.attrs.update({
        "model": model.name, "method": method, "n_replicates": int(n_replicates),
        "seed": int(seed), "skipped_scales": skipped, "min_increments": int(min_increments),
        "track_id": str(track.id), "loglik": logliks,
    })  # fmt: skip
    return df


# -----------------------------------------------------------------------------
# helpers
# -----------------------------------------------------------------------------
def _draws(model: Model, track: Track, idata: Any) -> dict[str, np.ndarray]:
    """Posterior draws of the model's parameters, (chain, draw) flattened."""
    names = model.param_names
    if (
        isinstance(idata, Mapping)
        and not hasattr(idata, "data_vars")
        and not hasattr(idata, "posterior")
    ):
        missing = [p for p in names if p not in idata]
        if missing:
            raise ModelError(f"posterior draws lack the {model.name} parameters {missing}")
        out = {p: np.asarray(idata[p], dtype=np.float64) for p in names}
        out = {p: a.reshape(-1) if a.ndim == 0 else a for p, a in out.items()}
    else:
        post = getattr(idata, "posterior", idata)
        if not hasattr(post, "data_vars"):
            raise TypeError(
                f"expected InferenceData, a Dataset or a mapping, got {type(idata).__name__}"
            )
        missing = [p for p in names if p not in post.data_vars]
        if missing:
            raise ModelError(
                f"the posterior has no variables {missing}; was it fitted with the "
                f"{model.name} model? (it has {sorted(post.data_vars)})"
            )
        out = _arviz.draws(post, names, track=track.id)
    sizes = {a.shape[0] for a in out.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise ParameterError(f"posterior draws have inconsistent or zero sizes {sorted(sizes)}")
    return out


def _broadcast(data: TrackData, R: int) -> TrackData:
    """``R`` copies of one track's data, as host (NumPy) arrays."""
    return TrackData(*(np.broadcast_to(np.asarray(a), (R, *np.shape(a))) for a in data))


def _replicate_data(obs: TrackData, positions: np.ndarray) -> TrackData:
    """Replicates observed at the observed (coarse-grained, padded) frames, as a batch."""
    R, n_pts = positions.shape[:2]
    inc = np.zeros((R, *obs.increments.shape))
    inc[:, : n_pts - 1] = np.diff(positions, axis=1)
    batch = _broadcast(obs, R)
    return batch._replace(increments=inc, start=np.asarray(positions[:, 0], np.float64))


def _batched_loglik(model: Model, regular: bool):
    """Jitted ``(params (R, ...), data (R, ...)) -> (R,)`` log-likelihoods.

    Compiled once per model configuration and data shape (jit's own cache),
    not per scale, replicate or call.
    """
    one = partial(model.loglik_from_data, regular=bool(regular))
    return cached_jit("loglik-rows", model, bool(regular), build=lambda: jax.jit(jax.vmap(one)))
