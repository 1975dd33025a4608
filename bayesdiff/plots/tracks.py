"""Figures of tracks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..tracks import Track, TrackSet

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_tracks"]


def plot_tracks(tracks: Track | TrackSet, max_tracks: int = 50, ax=None) -> Figure:
    """Draw 2-D tracks (x, y), or 1-D tracks against time.

    Parameters
    ----------
    tracks : Track or TrackSet
    max_tracks : int
        At most this many tracks are drawn (the first ones), one line each.
    ax : matplotlib Axes, optional
        Where to draw (a new 5 x 5 inch figure if None).

    Returns
    -------
    matplotlib Figure
        Equal axis scales for 2-D tracks.
    """
    import matplotlib.pyplot as plt

    ts = TrackSet([tracks]) if isinstance(tracks, Track) else tracks
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    for t in list(ts)[:max_tracks]:
        if t.dim >= 2:
            ax.plot(t.positions[:, 0], t.positions[:, 1], lw=0.8)
        else:
            ax.plot(t.times, t.positions[:, 0], lw=0.8)
    ax.set_xlabel("x" if ts.dim >= 2 else "time (s)")
    ax.set_ylabel("y" if ts.dim >= 2 else "x")
    if ts.dim >= 2:
        ax.set_aspect("equal", adjustable="datalim")
    return ax.get_figure()
