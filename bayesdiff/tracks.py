"""Tracks: the positions of one particle over time, and sets of them.

A :class:`Track` holds positions of shape ``(n_points, dim)`` at integer frame
numbers (frames may skip: gaps are kept as gaps, never interpolated) with a
frame interval ``dt`` in seconds. A :class:`TrackSet` is an ordered collection
of tracks with helpers to filter them and to batch equal-shape groups into
padded arrays with masks, so that compiled likelihoods and samplers are built
once per bucket rather than once per track.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .errors import (
    DimensionError,
    DuplicateFrameError,
    NonFiniteError,
    RepeatedPositionsError,
    TrackError,
    TrackTooShortError,
    UnorderedFramesError,
)

__all__ = ["Track", "TrackSet", "Batch", "next_power_of_two"]


def next_power_of_two(n: int) -> int:
    """The smallest power of two that is at least ``max(n, 1)``.

    The bucket length of ``TrackSet.batches(bucket="pow2")``: padding to it
    costs at most a factor two and leaves few distinct shapes to compile.

    Parameters
    ----------
    n : int
        A length (any integer; values below 1 count as 1).

    Returns
    -------
    int

    Examples
    --------
    >>> [next_power_of_two(n) for n in (0, 1, 2, 3, 4, 5, 100)]
    [1, 1, 2, 4, 4, 8, 128]
    """
    return 1 << (max(int(n), 1) - 1).bit_length()


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


@dataclass(frozen=True, eq=False)
class Track:
    """One particle's trajectory.

    Parameters
    ----------
    positions : array_like of shape (n_points, dim) or (n_points,)
        Coordinates in the user's length unit (µm by default); ``dim`` is 1, 2 or 3.
        A 1-D array is read as a one-dimensional track.
    dt : float
        Frame interval in seconds (> 0).
    frames : array_like of int, shape (n_points,), optional
        Frame numbers, strictly increasing; a jump larger than one is a gap.
        Defaults to ``0, 1, ..., n_points - 1``.
    id : hashable, optional
        Track identifier (from the file, or the index in a TrackSet).
    localization_error : float or array of shape (n_points,), optional
        Known localization error (standard deviation per coordinate, same unit
        as ``positions``), for example from the localization fit.
    source : str, optional
        The file the track was read from (used in error messages).
    rows : array_like of int, shape (n_points,), optional
        Row numbers in the source file of each point (used in error messages).

    Raises
    ------
    NonFiniteError, DuplicateFrameError, UnorderedFramesError, DimensionError
        When the data are invalid; the message names the track and row.

    Examples
    --------
    >>> import numpy as np, bayesdiff as bd
    >>> t = bd.Track(np.zeros((4, 2)), dt=0.1, frames=[0, 1, 3, 4], id="a")
    >>> t.n_steps, t.dim, t.lags.tolist(), t.n_missing
    (3, 2, [1, 2, 1], 1)
    """

    positions: np.ndarray
    dt: float
    frames: np.ndarray = None  # type: ignore[assignment]
    id: Any = None
    localization_error: Any = None
    source: str | None = None
    rows: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        where = {"file": self.source, "track": self.id}
        pos = np.asarray(self.positions, dtype=np.float64)
        if pos.ndim == 1:
            pos = pos[:, None]
        if pos.ndim != 2 or not 1 <= pos.shape[1] <= 3:
            raise DimensionError(
                "positions must have shape (n_points, dim) with dim 1-3, "
                f"got {np.shape(self.positions)}",
                **where,
            )
        rows = None if self.rows is None else np.asarray(self.rows, dtype=np.int64)
        if rows is not None and rows.shape != (pos.shape[0],):
            raise TrackError(f"rows has shape {rows.shape}, expected ({pos.shape[0]},)", **where)

        def row_of(i: int) -> int:
            return int(rows[i]) if rows is not None else i

        bad = ~np.isfinite(pos).all(axis=1)
        if bad.any():
            i = _first(bad)
            raise NonFiniteError(
                f"non-finite coordinate {pos[i].tolist()} ({int(bad.sum())} such points)",
                row=row_of(i),
                **where,
            )
        if not (np.isfinite(self.dt) and self.dt > 0):
            raise TrackError(f"dt must be a positive number of seconds, got {self.dt!r}", **where)
        if self.frames is None:
            frames = np.arange(pos.shape[0], dtype=np.int64)
        else:
            fr = np.asarray(self.frames)
            if fr.shape != (pos.shape[0],):
                raise TrackError(
                    f"frames has shape {fr.shape}, expected ({pos.shape[0]},)", **where
                )
            if fr.size and (not np.all(np.isfinite(fr)) or np.any(fr != np.round(fr))):
                i = _first(~np.isfinite(fr) | (fr != np.round(fr)))
                raise TrackError(
                    f"frame numbers must be integers, got {fr[i]!r}", row=row_of(i), **where
                )
            frames = fr.astype(np.int64)
        d = np.diff(frames)
        if (d == 0).any():
            i = _first(d == 0) + 1
            raise DuplicateFrameError(f"frame {frames[i]} appears twice", row=row_of(i), **where)
        if (d < 0).any():
            i = _first(d < 0) + 1
            raise UnorderedFramesError(
                f"frame {frames[i]} comes after frame {frames[i - 1]}; frames must increase "
                "(bayesdiff.read_tracks sorts them for you and says so)",
                row=row_of(i),
                **where,
            )
        le = self.localization_error
        if le is not None:
            le = np.asarray(le, dtype=np.float64)
            if le.ndim not in (0, 1) or (le.ndim == 1 and le.shape != (pos.shape[0],)):
                raise TrackError(
                    f"localization_error must be a scalar or have shape ({pos.shape[0]},)", **where
                )
            if not np.all(np.isfinite(le)) or np.any(le < 0):
                raise NonFiniteError("localization_error must be finite and >= 0", **where)
        pos.setflags(write=False)
        frames.setflags(write=False)
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "frames", frames)
        object.__setattr__(self, "dt", float(self.dt))
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "localization_error", le)

    # -- shape ---------------------------------------------------------------
    @property
    def n_points(self) -> int:
        """Number of observed positions."""
        return int(self.positions.shape[0])

    @property
    def n_steps(self) -> int:
        """Number of increments (``n_points - 1``)."""
        return max(self.n_points - 1, 0)

    @property
    def dim(self) -> int:
        """Number of coordinates (1, 2 or 3)."""
        return int(self.positions.shape[1])

    def __len__(self) -> int:
        return self.n_points

    # -- time ----------------------------------------------------------------
    @property
    def times(self) -> np.ndarray:
        """Observation times in seconds from the first point, shape (n_points,)."""
        return (self.frames - self.frames[0]) * self.dt

    @property
    def increments(self) -> np.ndarray:
        """Displacements between consecutive observed points, shape (n_steps, dim)."""
        return np.diff(self.positions, axis=0)

    @property
    def lags(self) -> np.ndarray:
        """Frame lag of each increment (1 where no frame is missing), shape (n_steps,)."""
        return np.diff(self.frames)

    @property
    def time_lags(self) -> np.ndarray:
        """Time lag of each increment in seconds, shape (n_steps,)."""
        return self.lags * self.dt

    @property
    def n_missing(self) -> int:
        """Number of frames missing inside the track (0 for a gap-free track)."""
        return int((self.lags - 1).sum()) if self.n_points > 1 else 0

    @property
    def has_gaps(self) -> bool:
        """Whether any frame between the first and the last is missing."""
        return self.n_missing > 0

    def require(self, min_points: int, what: str = "this model") -> None:
        """Raise :class:`TrackTooShortError` unless the track has ``min_points`` points,
        and :class:`RepeatedPositionsError` when more than half of its steps repeat the
        previous position exactly (no motion model describes a frozen track; a few exact
        repeats, as positions rounded to a grid give, are allowed)."""
        if self.n_points < min_points:
            raise TrackTooShortError(
                f"has {self.n_points} points; {what} needs at least {min_points}",
                file=self.source,
                track=self.id,
            )
        still = np.all(self.increments == 0.0, axis=1)
        if self.n_steps and 2 * int(still.sum()) > self.n_steps:
            raise RepeatedPositionsError(
                f"{int(still.sum())} of {self.n_steps} steps repeat the previous position "
                f"exactly, from point {int(np.argmax(still)) + 1} on (a tracker holding a "
                f"lost spot?); {what} cannot describe a frozen track: drop or repair it",
                file=self.source,
                track=self.id,
            )

    def with_positions(self, positions: np.ndarray) -> Track:
        """A copy with other positions (same frames, dt, id)."""
        return Track(positions, self.dt, self.frames, self.id, self.localization_error, self.source)

    def __repr__(self) -> str:
        gaps = f", {self.n_missing} missing frames" if self.has_gaps else ""
        return (
            f"Track(id={self.id!r}, n_points={self.n_points}, dim={self.dim}, dt={self.dt:g}{gaps})"
        )


class Batch(NamedTuple):
    """Equal-shape tracks padded into arrays, for compiled batch evaluation.

    Attributes
    ----------
    increments : ndarray of shape (n_tracks, n_max, dim)
        Increments, zero beyond each track's length.
    lags : ndarray of shape (n_tracks, n_max)
        Frame lags of the increments; 1 in the padding.
    mask : ndarray of bool, shape (n_tracks, n_max)
        True for real increments, False for padding.
    dt : ndarray of shape (n_tracks,)
        Frame interval of each track (seconds).
    start : ndarray of shape (n_tracks, dim)
        First position of each track (models of absolute position need it).
    index : ndarray of int, shape (n_tracks,)
        Position of each track in the TrackSet it came from.
    regular : bool
        True when no track of the batch has gaps (Toeplitz fast paths apply).
    """

    increments: np.ndarray
    lags: np.ndarray
    mask: np.ndarray
    dt: np.ndarray
    start: np.ndarray
    index: np.ndarray
    regular: bool


class TrackSet(Sequence):
    """An ordered collection of :class:`Track` objects.

    Parameters
    ----------
    tracks : iterable of Track
        The tracks. They may have different lengths; they must share ``dim``
        (mixing 2-D and 3-D tracks raises :class:`~bayesdiff.errors.DimensionError`).

    Examples
    --------
    >>> import numpy as np, bayesdiff as bd
    >>> ts = bd.TrackSet([bd.Track(np.zeros((n, 2)), dt=0.1, id=n) for n in (5, 9, 12)])
    >>> len(ts), ts.lengths.tolist(), len(ts.filter(min_points=8))
    (3, [5, 9, 12], 2)
    """

    def __init__(self, tracks: Iterable[Track] = ()):
        self._tracks: list[Track] = list(tracks)
        for i, t in enumerate(self._tracks):
            if not isinstance(t, Track):
                raise TypeError(f"TrackSet item {i} is a {type(t).__name__}, not a Track")
        dims = {t.dim for t in self._tracks}
        if len(dims) > 1:
            d0 = self._tracks[0].dim
            bad = next(t for t in self._tracks if t.dim != d0)
            raise DimensionError(
                f"has {bad.dim} coordinates but track {self._tracks[0].id!r} has {d0}; "
                "a TrackSet holds tracks of one dimension",
                file=bad.source,
                track=bad.id,
            )

    # -- sequence protocol ------------------------------------------------------
    def __len__(self) -> int:
        return len(self._tracks)

    def __iter__(self) -> Iterator[Track]:
        return iter(self._tracks)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return TrackSet(self._tracks[i])
        if isinstance(i, (list, np.ndarray)):
            idx = np.asarray(i)
            if idx.dtype == bool:
                idx = np.flatnonzero(idx)
            return TrackSet([self._tracks[int(j)] for j in idx])
        return self._tracks[i]

    def by_id(self, track_id: Any) -> Track:
        """The track whose ``id`` equals ``track_id`` (KeyError if none)."""
        for t in self._tracks:
            if t.id == track_id:
                return t
        raise KeyError(track_id)

    def __repr__(self) -> str:
        if not self._tracks:
            return "TrackSet(0 tracks)"
        L = self.lengths
        return (
            f"TrackSet({len(self)} tracks, dim={self.dim}, points {L.min()}-{L.max()} "
            f"(median {int(np.median(L))}), {int(sum(t.has_gaps for t in self))} with gaps)"
        )

    # -- properties -------------------------------------------------------------
    @property
    def ids(self) -> list:
        """Track ids, in order."""
        return [t.id for t in self._tracks]

    @property
    def lengths(self) -> np.ndarray:
        """Number of points of each track."""
        return np.array([t.n_points for t in self._tracks], dtype=np.int64)

    @property
    def dim(self) -> int:
        """The tracks' dimension (0 for an empty set)."""
        return self._tracks[0].dim if self._tracks else 0

    @property
    def dt(self) -> float:
        """The frame interval shared by the tracks (ValueError if they differ)."""
        dts = {t.dt for t in self._tracks}
        if len(dts) != 1:
            raise ValueError(f"tracks have {len(dts)} different frame intervals")
        return dts.pop()

    def filter(self, min_points: int = 0, max_points: int | None = None) -> TrackSet:
        """Tracks with ``min_points <= n_points <= max_points``."""
        hi = np.inf if max_points is None else max_points
        return TrackSet(t for t in self._tracks if min_points <= t.n_points <= hi)

    def __add__(self, other: TrackSet) -> TrackSet:
        return TrackSet([*self._tracks, *other])

    # -- batching ----------------------------------------------------------------
    def batches(self, bucket: str | int = "pow2", min_steps: int = 1) -> list[Batch]:
        """Group tracks into padded equal-shape batches.

        Parameters
        ----------
        bucket : "pow2", "exact" or int
            How increment counts are rounded up to a bucket length: to the next
            power of two (:func:`next_power_of_two`; at most ~2x padding, few
            shapes), not at all (one bucket per distinct length), or to a
            multiple of the given integer.
        min_steps : int
            Tracks with fewer increments raise TrackTooShortError.

        Returns
        -------
        list of Batch
            One per (bucket length, has-gaps) group, ordered by length. Every
            track appears in exactly one batch; ``Batch.index`` maps back.
        """
        groups: dict[tuple[int, bool], list[int]] = {}
        for i, t in enumerate(self._tracks):
            if t.n_steps < min_steps:
                t.require(min_steps + 1, "batching")
            n = t.n_steps
            if bucket == "pow2":
                size = next_power_of_two(n)
            elif bucket == "exact":
                size = n
            else:
                size = int(np.ceil(n / int(bucket)) * int(bucket))
            groups.setdefault((size, t.has_gaps), []).append(i)
        out = []
        for (size, gaps), idx in sorted(groups.items()):
            B, d = len(idx), self.dim
            inc = np.zeros((B, size, d))
            lags = np.ones((B, size), dtype=np.int64)
            mask = np.zeros((B, size), dtype=bool)
            for b, i in enumerate(idx):
                t = self._tracks[i]
                inc[b, : t.n_steps] = t.increments
                lags[b, : t.n_steps] = t.lags
                mask[b, : t.n_steps] = True
            dts = np.array([self._tracks[i].dt for i in idx])
            start = np.stack([self._tracks[i].positions[0] for i in idx])
            out.append(Batch(inc, lags, mask, dts, start, np.asarray(idx), not gaps))
        return out
