"""describe: counts, lengths, gaps and a length histogram of a TrackSet."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..tracks import Track, TrackSet, next_power_of_two

__all__ = ["TrackSummary", "describe"]


@dataclass(frozen=True)
class TrackSummary:
    """A summary of a TrackSet (what ``bayesdiff info`` prints).

    Attributes
    ----------
    n_tracks, n_points : int
        Number of tracks and of points (detections) in all.
    dim : int
        Number of coordinates (0 for an empty set).
    dt : float or None
        Frame interval in seconds; None when the tracks do not share one.
    dts : tuple of float
        The distinct frame intervals.
    min_length, max_length : int
        Shortest and longest track, in points.
    median_length : float
        Median track length, in points.
    n_with_gaps : int
        Tracks that skip at least one frame.
    n_missing_frames : int
        Frames missing inside tracks, summed over tracks.
    sources : tuple of str
        The files the tracks were read from.
    histogram : str
        A text histogram of track lengths (bins 1, 2, 3-4, 5-8, ...).
    """

    n_tracks: int
    n_points: int
    dim: int
    dt: float | None
    dts: tuple[float, ...]
    min_length: int
    median_length: float
    max_length: int
    n_with_gaps: int
    n_missing_frames: int
    sources: tuple[str, ...]
    histogram: str

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)

    def __str__(self) -> str:
        if self.dt is not None:
            dt = f"{self.dt:g} s"
        elif self.dts:
            dt = ", ".join(f"{d:g}" for d in self.dts) + " s (differs between tracks)"
        else:
            dt = "-"
        lines = [
            f"tracks:          {self.n_tracks}",
            f"points:          {self.n_points}",
            f"dimension:       {self.dim}",
            f"frame interval:  {dt}",
            f"length (points): min {self.min_length}, median {self.median_length:g}, "
            f"max {self.max_length}",
            f"with gaps:       {self.n_with_gaps} tracks, {self.n_missing_frames} missing frames",
        ]
        if self.sources:
            lines.append(f"source:          {', '.join(self.sources)}")
        return "\n".join(lines) + "\n\n" + self.histogram


def describe(tracks: TrackSet | Iterable[Track], width: int = 40) -> TrackSummary:
    """Summarize tracks: counts, dimension, dt, lengths, gaps and a length histogram.

    Parameters
    ----------
    tracks : TrackSet or iterable of Track
    width : int
        Width in characters of the longest histogram bar.

    Returns
    -------
    TrackSummary
        ``str(summary)`` is the text report; ``summary.to_dict()`` the numbers.

    Examples
    --------
    >>> import numpy as np, bayesdiff as bd
    >>> ts = bd.TrackSet([bd.Track(np.zeros((n, 2)), dt=0.1, id=n) for n in (1, 2, 3, 4, 9)])
    >>> s = bd.io.describe(ts, width=10)
    >>> s.n_tracks, s.n_points, s.median_length
    (5, 19, 3.0)
    >>> print(s.histogram)
     points  tracks
          1       1  #####
          2       1  #####
        3-4       2  ##########
        5-8       0
       9-16       1  #####
    """
    ts = tracks if isinstance(tracks, TrackSet) else TrackSet(tracks)
    L = ts.lengths
    dts = tuple(sorted({t.dt for t in ts}))
    sources = tuple(dict.fromkeys(t.source for t in ts if t.source is not None))
    return TrackSummary(
        n_tracks=len(ts),
        n_points=int(L.sum()),
        dim=ts.dim,
        dt=dts[0] if len(dts) == 1 else None,
        dts=dts,
        min_length=int(L.min()) if L.size else 0,
        median_length=float(np.median(L)) if L.size else 0.0,
        max_length=int(L.max()) if L.size else 0,
        n_with_gaps=int(sum(t.has_gaps for t in ts)),
        n_missing_frames=int(sum(t.n_missing for t in ts)),
        sources=sources,
        histogram=_length_histogram(L, width),
    )


def _length_histogram(lengths: np.ndarray, width: int) -> str:
    if lengths.size == 0:
        return "(no tracks)"
    top = next_power_of_two(int(lengths.max())).bit_length() - 1  # bins up to 2**top
    edges = [(1, 1)] + [(2 ** (k - 1) + 1, 2**k) for k in range(1, top + 1)]
    counts = [int(((lengths >= lo) & (lengths <= hi)).sum()) for lo, hi in edges]
    most = max(counts)
    lines = [f"{'points':>7}  {'tracks':>6}"]
    for (lo, hi), c in zip(edges, counts):
        label = str(lo) if lo == hi else f"{lo}-{hi}"
        bar = "#" * (max(1, round(width * c / most)) if c else 0)
        lines.append(f"{label:>7}  {c:>6}  {bar}".rstrip())
    return "\n".join(lines)
