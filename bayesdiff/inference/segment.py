"""Segmentation of tracks by a hidden-state model: state probabilities, paths, changepoints.

Given posterior draws of a hidden-Markov model's parameters (``D``, ``P``, ...)
the forward-backward algorithm gives ``p(s_t = k | x, theta)`` for each draw;
averaging over draws gives the posterior state probabilities with the
parameter uncertainty integrated out. Paths, changepoints and segments are
read off those probabilities by the rule documented in :func:`segment`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..errors import ModelError
from ..models.base import Model, as_data, take_rows
from ..tracks import Track, TrackSet
from . import _arviz

__all__ = ["Segmentation", "Segmentations", "segment", "state_summary", "loo_n_states"]


@dataclasses.dataclass(frozen=True)
class Segmentation:
    """The hidden states of one track.

    Attributes
    ----------
    track_id : hashable
        Id of the track.
    state_probs : array of shape (n_steps, K)
        Posterior probability of each state at every step (increment), averaged
        over posterior draws.
    states : array of int, shape (n_steps,)
        The segmented state path (0-based, states ordered by ``D``): piecewise
        constant, changing exactly at ``changepoints``.
    changepoints : array of int
        Step indices ``t`` where a new segment starts (increment ``t`` is the
        first one in the new state; it starts at frame ``frames[t]``).
    segments : pandas.DataFrame
        One row per segment: ``track``, ``start``, ``end`` (step indices, end
        exclusive), ``state``, ``n_steps``, ``start_frame``, ``end_frame``,
        ``duration_frames``, ``duration_s``, ``mean_prob`` (mean posterior
        probability of the segment's state over its steps).
    viterbi : array of int, shape (n_steps,)
        The Viterbi path at the posterior-mean parameters (for comparison).
    dwell_times : pandas.DataFrame
        Per-state summary from the posterior draws (see :func:`state_summary`).
    frames : array of int, shape (n_steps + 1,)
        Frame numbers of the track's points.
    dt : float
        Frame interval (s).
    """

    track_id: Any
    state_probs: np.ndarray
    states: np.ndarray
    changepoints: np.ndarray
    segments: pd.DataFrame
    viterbi: np.ndarray
    dwell_times: pd.DataFrame
    frames: np.ndarray
    dt: float

    @property
    def n_states(self) -> int:
        return int(self.state_probs.shape[1])


class Segmentations(list):
    """One :class:`Segmentation` per track of a TrackSet (a list, in track order)."""

    @property
    def segments(self) -> pd.DataFrame:
        """All tracks' segments in one table."""
        if not self:
            return pd.DataFrame()
        return pd.concat([s.segments for s in self], ignore_index=True)

    @property
    def changepoints(self) -> dict:
        """Track id -> changepoint step indices."""
        return {s.track_id: s.changepoints for s in self}


# -----------------------------------------------------------------------------
# posterior draws
# -----------------------------------------------------------------------------
def _draws(model: Model, idata, max_draws: int) -> tuple[dict[str, np.ndarray], bool]:
    """Posterior parameter draws, flattened to (S, [track,] ...), thinned to ``max_draws``."""
    post = idata.posterior
    missing = [p for p in model.param_names if p not in post]
    if missing:
        raise ModelError(
            f"the posterior has no {missing}: was it fitted with {model.name}? "
            f"(it has {list(post.data_vars)})"
        )
    per_track = "track" in post[model.param_names[0]].dims
    out = {p: np.asarray(a, np.float64) for p, a in _arviz.draws(post, model.param_names).items()}
    S = next(iter(out.values())).shape[0]
    if S > max_draws:
        idx = np.linspace(0, S - 1, max_draws).round().astype(int)
        out = {k: v[idx] for k, v in out.items()}
    return out, per_track


def _batch_fn(model: Model, regular: bool):
    """Jitted: params (S, B, ...), data (B, ...) -> mean state probs (B, T, K), Viterbi (B, T)."""

    def probs(params, data):
        def body(acc, p):
            return acc + jax.vmap(lambda pp, d: model.state_probs_from_data(pp, d, regular))(
                p, data
            ), None

        first = jax.tree.map(lambda a: a[0], params)
        shape = jax.eval_shape(
            jax.vmap(lambda pp, d: model.state_probs_from_data(pp, d, regular)), first, data
        )
        acc, _ = jax.lax.scan(body, jnp.zeros(shape.shape, shape.dtype), params)
        S = jax.tree.leaves(params)[0].shape[0]
        mean = jax.tree.map(lambda a: jnp.mean(a, 0), params)
        path = jax.vmap(lambda pp, d: model.viterbi_from_data(pp, d, regular))(mean, data)
        return acc / S, path

    return jax.jit(probs)


# -----------------------------------------------------------------------------
# path and changepoints
# -----------------------------------------------------------------------------
def _segment_path(probs: np.ndarray, min_prob: float, min_run: int) -> np.ndarray:
    """The piecewise-constant state path from per-step probabilities (rule in :func:`segment`)."""
    n, _ = probs.shape
    s = probs.argmax(1)
    conf = probs[np.arange(n), s] >= min_prob
    # runs of the marginal-mode path
    bounds = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [n]])
    kept = [(a, b, int(s[a])) for a, b in zip(starts, ends) if conf[a:b].sum() >= min_run]
    if not kept:
        return np.full(n, int(probs.mean(0).argmax()))
    # merge neighbouring kept runs of the same state
    merged = [list(kept[0])]
    for a, b, k in kept[1:]:
        if k == merged[-1][2]:
            merged[-1][1] = b
        else:
            merged.append([a, b, k])
    path = np.empty(n, dtype=np.int64)
    path[: merged[0][1]] = merged[0][2]
    for (_, b0, k0), (a1, b1, k1) in zip(merged[:-1], merged[1:]):
        # boundary c in [b0, a1] maximizing the probability mass on either side
        gap = probs[b0:a1]
        if len(gap):
            left = np.concatenate([[0.0], np.cumsum(gap[:, k0])])
            right = np.concatenate([np.cumsum(gap[::-1, k1])[::-1], [0.0]])
            c = b0 + int(np.argmax(left + right))
        else:
            c = a1
        path[b0:c] = k0
        path[c:b1] = k1
    path[merged[-1][1] :] = merged[-1][2]
    return path


def _segments_table(track: Track, path: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    n = len(path)
    cps = np.flatnonzero(np.diff(path)) + 1
    starts = np.concatenate([[0], cps]).astype(int)
    ends = np.concatenate([cps, [n]]).astype(int)
    rows = []
    for a, b in zip(starts, ends):
        k = int(path[a])
        fa, fb = int(track.frames[a]), int(track.frames[b])
        rows.append({
            "track": track.id, "start": a, "end": b, "state": k, "n_steps": b - a,
            "start_frame": fa, "end_frame": fb, "duration_frames": fb - fa,
            "duration_s": (fb - fa) * track.dt, "mean_prob": float(probs[a:b, k].mean()),
        })  # fmt: skip
    return pd.DataFrame(rows)


# -----------------------------------------------------------------------------
# per-state summaries
# -----------------------------------------------------------------------------
def _stationary_np(P: np.ndarray) -> np.ndarray:
    K = P.shape[-1]
    A = np.swapaxes(P - np.eye(K), -1, -2).copy()
    A[..., -1, :] = 1.0
    b = np.zeros(P.shape[:-1])
    b[..., -1] = 1.0
    return np.linalg.solve(A, b[..., None])[..., 0]


def _state_table(D: np.ndarray, P: np.ndarray | None, dt: float, prob: float) -> pd.DataFrame:
    """D (S, K), P (S, K, K) -> per-state table of medians and central intervals."""
    lo, hi = 50 * (1 - prob), 50 * (1 + prob)
    K = D.shape[1]
    q = lambda a: np.percentile(a, [50, lo, hi], axis=0)  # noqa: E731
    rows = {"state": np.arange(K)}
    for name, a in [("D", D)]:
        m, l, h = q(a)
        rows.update({name: m, f"{name}_low": l, f"{name}_high": h})
    if P is not None:
        occ = _stationary_np(P)
        stay = np.clip(np.diagonal(P, axis1=-2, axis2=-1), 0, 1 - 1e-15)
        dwell_f = 1.0 / (1.0 - stay)
        for name, a in [("occupancy", occ), ("dwell_frames", dwell_f), ("dwell_s", dwell_f * dt)]:
            m, l, h = q(a)
            rows.update({name: m, f"{name}_low": l, f"{name}_high": h})
        rows["dwell_s_mean"] = (dwell_f * dt).mean(0)
    else:
        rows.update(
            {"occupancy": np.ones(1), "occupancy_low": np.ones(1), "occupancy_high": np.ones(1)}
        )
    return pd.DataFrame(rows)


def state_summary(idata, track: Any = None, prob: float = 0.9) -> pd.DataFrame:
    """Per-state diffusion coefficients, occupancies and dwell times from a switching posterior.

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior of a :class:`~bayesdiff.models.Switching` model (single, pooled
        or per-track fit).
    track : hashable, optional
        Track id, for a per-track (``sample_many``) posterior; required there.
    prob : float
        Probability mass of the central credible intervals (default 0.9).

    Returns
    -------
    pandas.DataFrame
        One row per state: ``D`` (median, ``D_low``, ``D_high``), ``occupancy``
        (stationary probability ``pi_k`` of ``P``), mean dwell time
        ``dwell_frames = 1 / (1 - P_kk)`` and ``dwell_s = dt / (1 - P_kk)`` (each
        with median and interval; ``dwell_s_mean`` is the posterior mean).

    Notes
    -----
    The dwell time in state ``k`` of a Markov chain is geometric with mean
    ``1 / (1 - P_kk)`` frames; its posterior follows from the draws of ``P``.
    """
    post = idata.posterior
    sel = {}
    if "track" in post["D"].dims:
        if track is None:
            raise ModelError("a per-track posterior needs track=<id>")
        sel = {"track": track}
    D = np.asarray(post["D"].sel(sel).values)
    D = D.reshape(-1, D.shape[-1])
    P = None
    if "P" in post:
        P = np.asarray(post["P"].sel(sel).values)
        P = P.reshape(-1, *P.shape[-2:])
    dts = np.atleast_1d(np.asarray(idata.constant_data["dt"].values))
    if sel and "track" in idata.constant_data["dt"].dims:
        dt = float(idata.constant_data["dt"].sel(sel).values)
    else:
        dt = float(dts[0])
    return _state_table(D, P, dt, prob)


# -----------------------------------------------------------------------------
# public entry point
# -----------------------------------------------------------------------------
def segment(
    model: Model,
    tracks: Track | TrackSet,
    idata,
    *,
    min_prob: float = 0.8,
    min_run: int = 3,
    max_draws: int = 200,
    chunk: int = 128,
) -> Segmentation | Segmentations:
    """Hidden states, changepoints and segments of tracks under a fitted switching model.

    Parameters
    ----------
    model : Model
        A hidden-state model with ``state_probs_from_data`` and
        ``viterbi_from_data`` (:class:`~bayesdiff.models.Switching`).
    tracks : Track or TrackSet
        The tracks to segment: the fitted track, or the TrackSet of a pooled
        (``bd.sample``) or per-track (``bd.sample_many``) fit, in the same order.
        With a pooled or single-track posterior any tracks can be segmented
        (the shared parameters are used for each).
    idata : arviz.InferenceData
        The posterior.
    min_prob : float
        Minimum posterior probability for a step to count as confidently in a state.
    min_run : int
        Minimum number of confident steps for a run of the marginal-mode path to
        be kept as a segment.
    max_draws : int
        Posterior draws used (evenly thinned); the forward-backward pass is
        vectorized over draws and tracks, compiled once per track-length bucket.
    chunk : int
        Tracks per compiled batch.

    Returns
    -------
    Segmentation, or Segmentations (a list, one per track) for a TrackSet.

    Notes
    -----
    **State probabilities.** ``p(s_t = k | x) ~= (1/S) sum_s p(s_t = k | x, theta_s)``
    over ``S`` posterior draws (forward-backward for each).

    **Path and changepoints.** Start from the marginal-mode path
    ``m_t = argmax_k p(s_t = k | x)``. A step is *confident* if
    ``p(s_t = m_t | x) >= min_prob``. A run of equal ``m_t`` is kept as a
    segment if it holds at least ``min_run`` confident steps; the other runs are
    uncertain. Neighbouring kept runs of the same state are joined (the
    uncertain steps between them take that state). Between kept runs of
    different states ``A`` then ``B`` the changepoint ``c`` is placed where it
    captures the most probability, ``argmax_c sum_{t<c} p_A(t) + sum_{t>=c} p_B(t)``
    over the uncertain steps in between. With no kept run the track is one
    segment in its most probable state. A changepoint therefore needs the new
    state to be held with probability >= ``min_prob`` for ``min_run`` steps;
    the defaults (0.8, 3) keep the false-changepoint rate of the 2-state model
    on 1-state tracks below 5 % (``tests/test_switching.py``).

    **Dwell times.** :func:`state_summary` of the posterior (per track for a
    per-track fit), in ``Segmentation.dwell_times``.

    Examples
    --------
    >>> import bayesdiff as bd
    >>> m = bd.models.Switching(n_states=2)
    >>> tracks = m.simulate(seed=0, params={"D": [0.05, 0.5], "P": [[0.98, 0.02], [0.02, 0.98]]},
    ...                     n_steps=200, dt=0.01, dim=2, n_tracks=4)
    >>> idata = bd.sample(m, tracks, draws=300, tune=300, progress=False)  # doctest: +SKIP
    >>> segs = bd.segment(m, tracks, idata)  # doctest: +SKIP
    >>> segs.segments.head()  # doctest: +SKIP
    """
    if not model.supports_segmentation:
        raise ModelError(f"{model.name} has no hidden states to segment")
    if not 0 < min_prob <= 1 or min_run < 1:
        raise ValueError("need 0 < min_prob <= 1 and min_run >= 1")
    single = isinstance(tracks, Track)
    ts = TrackSet([tracks]) if single else tracks
    if not isinstance(ts, TrackSet):
        raise TypeError(f"expected a Track or TrackSet, got {type(tracks).__name__}")
    draws, per_track = _draws(model, idata, max_draws)
    S = next(iter(draws.values())).shape[0]
    if per_track:
        n_post = next(iter(draws.values())).shape[1]
        if n_post != len(ts):
            raise ModelError(
                f"the posterior has {n_post} tracks but {len(ts)} tracks were given; "
                "segment the TrackSet that was fitted"
            )
    dim = ts.dim
    results: list[Segmentation | None] = [None] * len(ts)
    for batch in ts.batches(bucket="pow2", min_steps=1):
        data_b, regular = as_data(batch)
        fn = _batch_fn(model, regular)
        B = len(batch.index)
        size = min(chunk, B)
        for start in range(0, B, size):
            sel = np.arange(start, start + size) % B
            n_real = min(size, B - start)
            data_c = take_rows(data_b, sel)
            gidx = batch.index[sel]
            params = {}
            for p, a in draws.items():
                shape = model.param_shape(p, dim)
                a = np.asarray(a)
                if per_track:
                    params[p] = jax.device_put(a[:, gidx])
                else:
                    params[p] = jax.device_put(np.broadcast_to(a[:, None], (S, size, *shape)))
            probs, vit = fn(params, data_c)
            probs, vit = np.asarray(probs), np.asarray(vit)
            for j in range(n_real):
                gi = int(gidx[j])
                track = ts[gi]
                n = track.n_steps
                pr = probs[j, :n]
                path = _segment_path(pr, min_prob, min_run)
                P = draws.get("P")
                dwell = _state_table(
                    draws["D"][:, gi] if per_track else draws["D"],
                    None if P is None else (P[:, gi] if per_track else P),
                    track.dt, 0.9,
                )  # fmt: skip
                results[gi] = Segmentation(
                    track_id=track.id, state_probs=pr, states=path,
                    changepoints=np.flatnonzero(np.diff(path)) + 1,
                    segments=_segments_table(track, path, pr), viterbi=vit[j, :n],
                    dwell_times=dwell, frames=np.asarray(track.frames), dt=float(track.dt),
                )  # fmt: skip
    if single:
        return results[0]
    return Segmentations(results)


# -----------------------------------------------------------------------------
# choosing the number of states
# -----------------------------------------------------------------------------
def loo_n_states(fits: Mapping[Any, Any], by: str = "track") -> pd.DataFrame:
    """Compare fits with different numbers of states by PSIS-LOO (ArviZ ``az.compare``).

    Until model evidence is available for the switching model, this is how
    bayesdiff chooses ``K``: fit ``Switching(n_states=K)`` for K = 1, 2, 3, ...
    and compare the expected log predictive densities.

    Parameters
    ----------
    fits : mapping of label -> InferenceData
        E.g. ``{1: idata_k1, 2: idata_k2, 3: idata_k3}``, all fitted to the same tracks.
    by : {"track", "step"}
        Unit left out: ``"track"`` sums each track's pointwise terms first
        (leave-one-track-out, the natural unit of a pooled fit; needs several
        tracks), ``"step"`` uses each increment's one-step predictive density
        (one long track).

    Returns
    -------
    pandas.DataFrame
        ``az.compare``'s table (``elpd_loo``, ``se``, ``elpd_diff``, ``dse``,
        ``weight``, ``warning``...), best model first.
    """
    if by not in ("track", "step"):
        raise ValueError("by must be 'track' or 'step'")
    arrays, posteriors = {}, {}
    for label, idata in fits.items():
        ll = idata.log_likelihood["obs"]
        a = np.asarray(ll.values)  # (chain, draw, [track,] step)
        if by == "track":
            if "track" not in ll.dims:
                raise ModelError("by='track' needs a fit to several tracks; use by='step'")
            a = np.nansum(a, axis=-1)
        else:
            a = a.reshape(a.shape[0], a.shape[1], -1)
            keep = ~np.isnan(a[0, 0])
            a = a[:, :, keep]
        arrays[str(label)] = a
        posteriors[str(label)] = idata.posterior
    return _arviz.compare_loo(arrays, posteriors)
