"""read_tracks: a file or a DataFrame of detections to a checked TrackSet."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EmptyFileError, FileFormatError, ParameterError, TrackError
from ..tracks import TrackSet
from ._assemble import apply_length_units, assemble
from ._common import COLUMN_NAMES, TABLE_SUFFIXES, Units, is_number, logger
from ._tables import long_from_table, read_csv, read_parquet
from ._trackmate import read_xml

__all__ = ["read_tracks", "example_tracks"]


def read_tracks(
    source: str | os.PathLike | pd.DataFrame,
    dt: float | None = None,
    pixel_size: float | None = None,
    columns: Mapping[str, str | None] | None = None,
    *,
    localization_error: float | str | Sequence[str] | None = None,
    on_error: str = "raise",
    min_points: int = 1,
) -> TrackSet:
    """Read tracks from a CSV, Parquet or TrackMate XML file, or a DataFrame.

    Tables are "long": one row per detection, with a track id, a frame number
    and 1 to 3 coordinates. Common column names are recognized (see Notes);
    ``columns`` maps any others.

    Parameters
    ----------
    source : str, path or pandas.DataFrame
        A file ending in ``.csv``, ``.tsv``, ``.txt`` (delimiter guessed from the
        header: comma, tab, semicolon or whitespace), ``.parquet``/``.pq`` or
        ``.xml`` (TrackMate: the simple "Tracks" export or a full session file),
        or a DataFrame (trackpy's ``x, y, frame, particle`` works as is).
    dt : float, optional
        Frame interval in seconds. Required for tables (unless they have a
        ``dt`` column, as written by :func:`write_tracks`); read from TrackMate
        XML files otherwise. An explicit value always wins over the file's.
    pixel_size : float, optional
        Length of a pixel in µm. Coordinates (and localization errors) are
        multiplied by it; leave it out when the file is in µm already.
    columns : dict, optional
        Column names by role: ``{"track": ..., "frame": ..., "x": ..., "y": ...,
        "z": ..., "time": ...}``. Roles left out are looked up among the
        recognized names; a role mapped to ``None`` is not used (e.g.
        ``{"z": None}`` reads 3-D data as 2-D). Tables only.
    localization_error : float, str or list of str, optional
        Known localization error (standard deviation per coordinate, in the
        file's length unit; ``pixel_size`` applies): one number for all points,
        or a column name (one value per point), or a list of columns averaged
        per point (e.g. ``["x_err", "y_err"]``). By default a column named
        ``localization_error`` is used when present.
    on_error : {"raise", "skip"}
        What to do with a bad *track* (non-finite coordinate, duplicate frame,
        too short, wrong dimension, branching TrackMate track): raise its
        error, or skip it, log it (logger ``bayesdiff.io``) and count the skips
        in a :class:`~bayesdiff.errors.DataWarning`. Errors about the whole file
        (missing columns, empty file, malformed XML) always raise.
    min_points : int
        Tracks with fewer points are bad tracks
        (:class:`~bayesdiff.errors.TrackTooShortError`).

    Returns
    -------
    TrackSet
        Tracks sorted by id. Each track keeps its id as in the file (integers
        stay integers; integral floats such as ``3.0`` become ``3``), its frame
        numbers (gaps stay gaps: nothing is interpolated), ``source`` (the file
        name) and ``rows`` (the row of each point, see :mod:`bayesdiff.io`).

    Raises
    ------
    FileFormatError, MissingColumnError, EmptyFileError, MalformedXMLError
        The file cannot be read as tracks (always raised).
    NonFiniteError, DuplicateFrameError, TrackTooShortError, DimensionError, TrackError
        A track is bad (raised unless ``on_error="skip"``); the message names
        the file, the track id and the row.
    ParameterError
        An argument is invalid (``dt <= 0``, unknown ``on_error``, ...).

    Warns
    -----
    DataWarning
        When frames out of order were sorted (how many tracks), tracks were
        skipped, rows without a track id were ignored, or frame numbers were
        computed from a time column.

    Notes
    -----
    Recognized column names, first match wins: track id ``track_id``,
    ``trajectory``, ``particle``, ``TRACK_ID``, ``track``, ``id``; frame
    ``frame``, ``FRAME``, ``Frame``, ``t``; coordinates ``x``/``POSITION_X``/``X``
    and likewise for ``y`` and ``z``. Without a frame column, a time column
    (``POSITION_T``, ``time``, ``Time``; seconds) is turned into frame numbers
    ``round(time / dt)``, with a warning. A ``z`` coordinate that is exactly 0
    for every detection is dropped: the data are 2-D, as TrackMate writes
    ``POSITION_Z = 0`` for 2-D images. A coordinate column that is empty for
    every detection is dropped too.

    Examples
    --------
    >>> import pandas as pd, bayesdiff as bd
    >>> df = pd.DataFrame({"particle": [7, 7, 7, 2, 2], "frame": [0, 1, 3, 5, 6],
    ...                    "x": [0.0, 0.1, 0.3, 1.0, 1.2], "y": [0.0, 0.0, 0.1, 2.0, 2.1]})
    >>> ts = bd.read_tracks(df, dt=0.05)
    >>> ts.ids, ts.dim, ts[1].frames.tolist(), ts[1].rows.tolist()
    ([2, 7], 2, [0, 1, 3], [0, 1, 2])
    """
    if on_error not in ("raise", "skip"):
        raise ParameterError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    dt = _positive_or_none("dt", dt)
    pixel_size = _positive_or_none("pixel_size", pixel_size)
    if isinstance(min_points, bool) or not isinstance(min_points, (int, np.integer)):
        raise ParameterError(f"min_points must be an integer, got {min_points!r}")
    if columns is not None:
        unknown = set(columns) - set(COLUMN_NAMES)
        if unknown:
            raise ParameterError(
                f"unknown column roles {sorted(unknown)}; use {sorted(COLUMN_NAMES)}"
            )
    skipped: list[TrackError] = []

    if isinstance(source, pd.DataFrame):
        df, rows, units, file = source, np.arange(len(source), dtype=np.int64), Units(), None
        if len(df) == 0:
            raise EmptyFileError("the DataFrame has no rows")
        long = long_from_table(df, rows, file, columns, localization_error, units, dt)
    else:
        path = Path(source)
        file = path.name
        suffix = path.suffix.lower()
        if suffix == ".xml":
            if columns is not None:
                raise ParameterError("columns= applies to tables (CSV, Parquet, DataFrame) only")
            if localization_error is not None and not is_number(localization_error):
                raise ParameterError("for TrackMate XML files, localization_error must be a number")
            long, units = read_xml(path, file, on_error, skipped)
            if localization_error is not None:
                long.loc_err = float(localization_error)
        elif suffix in TABLE_SUFFIXES:
            if TABLE_SUFFIXES[suffix] == "csv":
                df, rows, units = read_csv(path, file)
            else:
                df, rows, units = read_parquet(path, file)
            long = long_from_table(df, rows, file, columns, localization_error, units, dt)
        else:
            raise FileFormatError(
                f"unknown file type {path.suffix!r}; bayesdiff reads .csv, .tsv, .txt, "
                ".parquet, .pq and TrackMate .xml files",
                file=file,
            )

    apply_length_units(long, units, pixel_size)
    if dt is not None:
        if isinstance(long.dt, float) and abs(long.dt - dt) > 1e-9 * dt:
            logger.info("%s: using dt=%g s rather than the file's %g s", file, dt, long.dt)
        long.dt = dt
    elif long.dt is None:
        where = "the file stores none" if file else "a DataFrame stores none"
        if units.time is not None and units.dt is not None:
            where = f"the file's time unit {units.time!r} is not a time"
        raise FileFormatError(
            f"no frame interval: pass dt=<seconds per frame> to read_tracks ({where})",
            file=file,
        )
    return assemble(long, min_points=int(min_points), on_error=on_error, skipped=skipped)


def example_tracks(min_points: int = 1) -> TrackSet:
    """Real tracks of HaloTag-NLS in U2OS cell nuclei, shipped with bayesdiff.

    1045 tracks (2236 detections, 2-D) from the saspt example data (Heckert et
    al., eLife 2022; MIT license, see ``bayesdiff/data/LICENSE``), read with
    their units: 0.16 µm per pixel, dt = 7.48 ms, and the localization fit's
    errors ``x_err``, ``y_err`` averaged per point as localization error (µm).
    Most tracks are short: 767 have one point.

    Parameters
    ----------
    min_points : int
        Keep only tracks with at least this many points (a plain filter,
        not an error).

    Returns
    -------
    TrackSet
        Positions in µm, dt in seconds.

    Examples
    --------
    >>> import bayesdiff as bd
    >>> ts = bd.io.example_tracks(min_points=10)
    >>> len(ts), ts.dim, round(ts.dt, 5)
    (30, 2, 0.00748)
    """
    ref = resources.files("bayesdiff") / "data" / "halotag_nls.csv"
    with resources.as_file(ref) as p:
        ts = read_tracks(p, dt=0.00748, pixel_size=0.16, localization_error=["x_err", "y_err"])
    return ts.filter(min_points=min_points) if min_points > 1 else ts


def _positive_or_none(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if not is_number(value) or not np.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} must be a positive number, got {value!r}")
    return float(value)
