"""write_tracks: a TrackSet to a CSV or Parquet table that read_tracks reads back."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._files import atomic_path
from ..errors import ParameterError
from ..tracks import Track, TrackSet
from ._common import COORDS, TABLE_SUFFIXES

__all__ = ["write_tracks"]


def write_tracks(
    tracks: TrackSet | Iterable[Track], path: str | os.PathLike, *, format: str | None = None
) -> Path:
    """Write tracks to a CSV or Parquet file, atomically.

    The table has one row per point and the columns ``track_id, frame, x``
    (``, y``, ``, z`` by dimension), ``localization_error`` when a track has
    one, and ``dt`` (seconds), so that ``read_tracks(write_tracks(ts, p))``
    gives back the same tracks without further arguments. The file is first
    written to a temporary file in the same folder and then moved over
    ``path`` in one step (``os.replace``): a failed write leaves an existing
    file as it was.

    Parameters
    ----------
    tracks : TrackSet or iterable of Track
        The tracks to write.
    path : str or path
        Destination; ``.csv``/``.txt`` (comma), ``.tsv`` (tab), ``.parquet``/``.pq``.
    format : {"csv", "tsv", "parquet"}, optional
        Overrides the format implied by the suffix.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import numpy as np, bayesdiff as bd, tempfile, os
    >>> ts = bd.TrackSet([bd.Track(np.arange(6.0).reshape(3, 2), dt=0.1, frames=[0, 2, 3], id=4)])
    >>> p = bd.write_tracks(ts, os.path.join(tempfile.mkdtemp(), "t.csv"))
    >>> print(p.read_text())
    track_id,frame,x,y,dt
    4,0,0.0,1.0,0.1
    4,2,2.0,3.0,0.1
    4,3,4.0,5.0,0.1
    <BLANKLINE>
    >>> bd.read_tracks(p)[0].frames.tolist()
    [0, 2, 3]
    """
    path = Path(path)
    ts = tracks if isinstance(tracks, TrackSet) else TrackSet(tracks)
    suffix = path.suffix.lower()
    fmt = format or {".tsv": "tsv"}.get(suffix) or TABLE_SUFFIXES.get(suffix)
    if fmt not in ("csv", "tsv", "parquet"):
        raise ParameterError(
            f"cannot tell the format of {path.name!r}: use a .csv, .tsv or .parquet suffix, "
            "or format='csv'/'tsv'/'parquet'"
        )
    df = _tracks_to_frame(ts)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False, sep="\t" if fmt == "tsv" else ",", lineterminator="\n")
    return path


def _tracks_to_frame(ts: TrackSet) -> pd.DataFrame:
    n = [t.n_points for t in ts]
    dim = ts.dim or 2
    ids = np.empty(sum(n), dtype=object)
    ids[:] = [t.id for t, k in zip(ts, n) for _ in range(k)]
    if len(ids) and all(isinstance(i, (int, np.integer)) for i in ids):
        ids = ids.astype(np.int64)
    data: dict[str, Any] = {"track_id": ids}
    data["frame"] = np.concatenate([t.frames for t in ts]) if len(ts) else np.zeros(0, np.int64)
    pos = np.concatenate([t.positions for t in ts]) if len(ts) else np.zeros((0, dim))
    for k in range(dim):
        data[COORDS[k]] = pos[:, k]
    if any(t.localization_error is not None for t in ts):
        data["localization_error"] = np.concatenate(
            [
                np.broadcast_to(
                    np.nan if t.localization_error is None else t.localization_error,
                    (t.n_points,),
                )
                for t in ts
            ]
        )
    data["dt"] = np.repeat([t.dt for t in ts], n) if len(ts) else np.zeros(0)
    return pd.DataFrame(data)
