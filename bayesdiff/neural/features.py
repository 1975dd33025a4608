"""What the networks see: scale-free increments in padded length buckets.

A track of ``n`` increments ``x_t`` (shape (n, dim), frame lags ``l_t``) is
normalized by its mean squared increment per coordinate per frame,

    s^2 = sum_t |x_t|^2 / (dim * sum_t l_t),

so the network sees ``x_t / s`` (dimensionless, of order one) and never the
track's length unit. The scale comes back in :func:`physical_log_d`: the
networks predict ``z = log(D dt^alpha) - log s^2`` (``D dt^alpha`` is the
per-frame diffusion scale, so ``z`` is free of units), and

    log D = z + log s^2 - alpha log dt.

Per-step input channels (float32): the two coordinates of ``x_t / s`` (the
second is zero for a 1-D track), ``log l_t`` (gaps: an increment spanning
``l`` frames) and the padding mask. 1-D and 2-D tracks share one network; a
global ``dim`` flag tells them apart. Tracks are grouped by their number of
increments into buckets (powers of two, at least :data:`MIN_BUCKET`) and
padded with zeros, so one compiled function serves every track of a bucket.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from ..errors import DimensionError, NonFiniteError
from ..tracks import Track, TrackSet, next_power_of_two

__all__ = [
    "N_COORDS",
    "N_CHANNELS",
    "MIN_BUCKET",
    "Bucket",
    "as_trackset",
    "bucket_length",
    "encode",
    "buckets",
    "check_tracks",
    "physical_log_d",
]

#: Coordinates the network reads (1-D tracks fill the first one).
N_COORDS = 2
#: Per-step input channels: two scaled coordinates, log lag, mask.
N_CHANNELS = N_COORDS + 2
#: Shortest bucket (increments); shorter tracks are padded up to it.
MIN_BUCKET = 32


class Bucket(NamedTuple):
    """Tracks of one padded length, ready for the network.

    Attributes
    ----------
    x : ndarray of float32, shape (n_tracks, length, N_CHANNELS)
        Scaled increments, log lag and mask (zero in padding).
    mask : ndarray of float32, shape (n_tracks, length)
        1 for real increments, 0 for padding.
    dim : ndarray of float32, shape (n_tracks,)
        Number of coordinates of each track (1 or 2).
    log_scale : ndarray of float64, shape (n_tracks,)
        ``log s^2`` of each track (length unit squared per frame).
    index : ndarray of int, shape (n_tracks,)
        Position of each track in the input.
    """

    x: np.ndarray
    mask: np.ndarray
    dim: np.ndarray
    log_scale: np.ndarray
    index: np.ndarray


def bucket_length(n_steps: int) -> int:
    """Padded length of a track with ``n_steps`` increments (power of two >= MIN_BUCKET)."""
    return max(MIN_BUCKET, next_power_of_two(int(n_steps)))


def encode(
    increments: np.ndarray, lags: np.ndarray, n_steps: np.ndarray, dim: np.ndarray | int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalize padded increments.

    Parameters
    ----------
    increments : array of shape (n_tracks, length, d) with d <= N_COORDS
        Raw increments (zero beyond each track's ``n_steps``).
    lags : array of shape (n_tracks, length)
        Frame lags (any value in padding).
    n_steps : array of int, shape (n_tracks,)
        Number of real increments of each track.
    dim : int or array of shape (n_tracks,)
        Coordinates of each track.

    Returns
    -------
    x : float32 array of shape (n_tracks, length, N_CHANNELS)
    mask : float32 array of shape (n_tracks, length)
    log_scale : float64 array of shape (n_tracks,)
        ``log s^2``; ``-inf`` for a track whose increments are all zero.
    """
    inc = np.asarray(increments, dtype=np.float64)
    B, L, d = inc.shape
    mask = np.arange(L)[None, :] < np.asarray(n_steps)[:, None]
    inc = np.where(mask[..., None], inc, 0.0)
    lag = np.where(mask, np.asarray(lags, dtype=np.float64), 1.0)
    dims = np.broadcast_to(np.asarray(dim, dtype=np.float64), (B,))
    frames = np.sum(np.where(mask, lag, 0.0), axis=1)
    s2 = np.sum(inc**2, axis=(1, 2)) / (dims * np.maximum(frames, 1.0))
    with np.errstate(divide="ignore"):
        log_scale = np.log(s2)
    scale = np.sqrt(np.where(s2 > 0, s2, 1.0))
    x = np.zeros((B, L, N_CHANNELS), dtype=np.float32)
    x[..., :d] = inc / scale[:, None, None]
    x[..., N_COORDS] = np.log(lag) * mask
    x[..., N_COORDS + 1] = mask
    return x, mask.astype(np.float32), log_scale


def as_trackset(tracks: Track | TrackSet | Iterable[Track]) -> TrackSet:
    """A TrackSet from a Track, a TrackSet or an iterable of tracks."""
    if isinstance(tracks, TrackSet):
        return tracks
    if isinstance(tracks, Track):
        return TrackSet([tracks])
    return TrackSet(list(tracks))


def check_tracks(ts: TrackSet, min_length: int, dims: tuple[int, ...]) -> None:
    """Raise a bayesdiff error naming the first track the network cannot read.

    Too short (fewer than ``min_length`` points): TrackTooShortError; a
    dimension the network was not trained on: DimensionError; non-finite or
    all-zero increments: NonFiniteError / TrackError.
    """
    for t in ts:
        if t.dim not in dims:
            raise DimensionError(
                f"is {t.dim}-dimensional; this network was trained on dims {list(dims)}",
                file=t.source,
                track=t.id,
            )
        pos = t.positions
        if not np.all(np.isfinite(pos)):  # Track already refuses these; arrays may be mutated
            raise NonFiniteError("non-finite coordinates", file=t.source, track=t.id)
        t.require(min_length, "the network")  # also refuses frozen tracks (no scale)


def buckets(ts: TrackSet, max_batch: int = 4096) -> list[Bucket]:
    """Group tracks into padded power-of-two buckets of at most ``max_batch`` tracks.

    Every track appears in exactly one bucket; ``Bucket.index`` maps back.
    Call :func:`check_tracks` first.
    """
    groups: dict[int, list[int]] = {}
    for i, t in enumerate(ts):
        groups.setdefault(bucket_length(t.n_steps), []).append(i)
    out = []
    for L, idx in sorted(groups.items()):
        for start in range(0, len(idx), max_batch):
            part = idx[start : start + max_batch]
            d = ts[part[0]].dim
            inc = np.zeros((len(part), L, d))
            lags = np.ones((len(part), L))
            n = np.empty(len(part), dtype=np.int64)
            for b, i in enumerate(part):
                t = ts[i]
                n[b] = t.n_steps
                inc[b, : t.n_steps] = t.increments
                lags[b, : t.n_steps] = t.lags
            x, mask, log_scale = encode(inc, lags, n, d)
            dims = np.full(len(part), d, dtype=np.float32)
            out.append(Bucket(x, mask, dims, log_scale, np.asarray(part)))
    return out


def physical_log_d(z: np.ndarray, log_scale: np.ndarray, alpha: np.ndarray, dt) -> np.ndarray:
    """``log D = z + log s^2 - alpha log dt`` (D in length^2 / s^alpha)."""
    return z + log_scale - alpha * np.log(dt)
