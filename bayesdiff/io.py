"""Reading and writing tracks: CSV, Parquet, TrackMate XML and pandas DataFrames.

:func:`read_tracks` turns a file (or a DataFrame) of detections into a
:class:`~bayesdiff.tracks.TrackSet`, checking it on the way; :func:`write_tracks`
writes a TrackSet back as CSV or Parquet; :func:`describe` summarizes a
TrackSet for ``bayesdiff info``; :func:`example_tracks` reads the real tracks
shipped with the package. ``docs/file-formats.md`` is the user's guide.

Row numbers
-----------
Every error about data names the file, the track id and the *row* where the
problem is, and every :class:`~bayesdiff.tracks.Track` read from a file keeps
the rows of its points (``Track.rows``). A row is

* CSV/TSV/TXT: the 1-based line number in the file, the header being line 1
  (so the first detection is on row 2, or row 5 in a TrackMate spots CSV with
  its three extra header lines) -- what a text editor shows;
* Parquet and DataFrame: the 0-based position of the row in the table
  (``df.iloc[row]``, whatever the DataFrame's index is);
* TrackMate XML: the 0-based index of the ``<detection>`` element (simple
  "Tracks" export) or of the ``<Spot>`` element (full session file) among all
  such elements of the file, in file order.
"""

from __future__ import annotations

import csv
import logging
import os
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._files import atomic_path
from .errors import (
    DataWarning,
    DimensionError,
    EmptyFileError,
    FileFormatError,
    MalformedXMLError,
    MissingColumnError,
    NonFiniteError,
    ParameterError,
    TrackError,
    TrackTooShortError,
)
from .tracks import Track, TrackSet

__all__ = ["read_tracks", "write_tracks", "describe", "TrackSummary", "example_tracks"]

logger = logging.getLogger(__name__)

#: Column names recognized without a ``columns`` mapping, by role, first match wins.
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "track": ("track_id", "trajectory", "particle", "TRACK_ID", "track", "id"),
    "frame": ("frame", "FRAME", "Frame", "t"),
    "time": ("POSITION_T", "time", "Time"),
    "x": ("x", "POSITION_X", "X"),
    "y": ("y", "POSITION_Y", "Y"),
    "z": ("z", "POSITION_Z", "Z"),
}
_COORDS = ("x", "y", "z")
_TABLE_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_LENGTH_UNITS = {
    **dict.fromkeys(("micron", "microns", "µm", "μm", "um", "micrometer", "micrometers"), 1.0),
    **dict.fromkeys(("nm", "nanometer", "nanometers"), 1e-3),
    **dict.fromkeys(("mm", "millimeter", "millimeters"), 1e3),
    **dict.fromkeys(("pixel", "pixels", "px"), 1.0),
}
_TIME_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("ms", "msec", "millisecond", "milliseconds"), 1e-3),
    **dict.fromkeys(("us", "µs", "μs", "microsecond", "microseconds"), 1e-6),
    **dict.fromkeys(("ns", "nanosecond", "nanoseconds"), 1e-9),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hour", "hours"), 3600.0),
}
_TIME_TOLERANCE = 0.1  # frames: how far time / dt may be from an integer


# ---------------------------------------------------------------------------
# the intermediate long table
# ---------------------------------------------------------------------------
@dataclass
class _Long:
    """Detections in file order, before they are grouped into tracks."""

    ids: np.ndarray  # (n,) track ids (NaN/None where missing)
    frames: np.ndarray  # (n,) float64 frame numbers (NaN where missing)
    coords: np.ndarray  # (n, k) float64 in the final length unit, NaN where absent
    rows: np.ndarray  # (n,) int64 row numbers (see the module docstring)
    file: str | None
    loc_err: np.ndarray | float | None = None  # per detection, or one number
    loc_err_optional: bool = False  # a track whose errors are all NaN gets None
    dt: np.ndarray | float | None = None  # seconds: per detection or one number


@dataclass
class _Units:
    """What a file says about its units."""

    length: str | None = None  # e.g. "micron", "pixel"
    time: str | None = None  # unit of the time column or of the frame interval
    dt: float | None = None  # frame interval in ``time`` units


# ---------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------
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
        name) and ``rows`` (the row of each point, see the module docstring).

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
        df, rows, units, file = source, np.arange(len(source), dtype=np.int64), _Units(), None
        if len(df) == 0:
            raise EmptyFileError("the DataFrame has no rows")
        long = _long_from_table(df, rows, file, columns, localization_error, units, dt)
    else:
        path = Path(source)
        file = path.name
        suffix = path.suffix.lower()
        if suffix == ".xml":
            if columns is not None:
                raise ParameterError("columns= applies to tables (CSV, Parquet, DataFrame) only")
            if localization_error is not None and not _is_number(localization_error):
                raise ParameterError("for TrackMate XML files, localization_error must be a number")
            long, units = _read_xml(path, file, on_error, skipped)
            if localization_error is not None:
                long.loc_err = float(localization_error)
        elif suffix in _TABLE_SUFFIXES:
            if _TABLE_SUFFIXES[suffix] == "csv":
                df, rows, units = _read_csv(path, file)
            else:
                df, rows, units = _read_parquet(path, file)
            long = _long_from_table(df, rows, file, columns, localization_error, units, dt)
        else:
            raise FileFormatError(
                f"unknown file type {path.suffix!r}; bayesdiff reads .csv, .tsv, .txt, "
                ".parquet, .pq and TrackMate .xml files",
                file=file,
            )

    _apply_length_units(long, units, pixel_size)
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
    return _assemble(long, min_points=int(min_points), on_error=on_error, skipped=skipped)


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
    fmt = format or {".tsv": "tsv"}.get(suffix) or _TABLE_SUFFIXES.get(suffix)
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


# ---------------------------------------------------------------------------
# reading tables
# ---------------------------------------------------------------------------
def _read_csv(path: Path, file: str) -> tuple[pd.DataFrame, np.ndarray, _Units]:
    if path.stat().st_size == 0:
        raise EmptyFileError("the file is empty", file=file)
    with open(path, encoding="utf-8-sig", newline="") as f:
        head = [line.rstrip("\r\n") for _, line in zip(range(5), f)]
    if not head or not head[0].strip():
        raise EmptyFileError("the file is empty (no header line)", file=file)
    if path.suffix.lower() == ".tsv":
        sep = "\t"
    else:
        counts = {s: head[0].count(s) for s in (",", "\t", ";")}
        sep = max(counts, key=counts.get) if max(counts.values()) else r"\s+"

    def split(line: str) -> list[str]:
        return line.split() if sep == r"\s+" else next(csv.reader([line], delimiter=sep))

    header = [h.strip() for h in split(head[0])]
    units, skip = _Units(), 0
    if "POSITION_X" in header or "LABEL" in header:
        # TrackMate spots CSV: three lines of labels (name, short name, unit) under the header
        ix = header.index("POSITION_X") if "POSITION_X" in header else None
        it = header.index("POSITION_T") if "POSITION_T" in header else None
        for line in head[1:4]:
            fields = split(line)
            probe = fields[ix] if ix is not None and ix < len(fields) else ""
            if ix is None or _is_float(probe):
                break
            skip += 1
            if probe.startswith("(") and probe.endswith(")"):
                units.length = probe[1:-1].strip()
                if it is not None and it < len(fields):
                    units.time = fields[it].strip()[1:-1].strip() or None
    try:
        df = pd.read_csv(
            path,
            sep=sep,
            skiprows=range(1, 1 + skip),
            skip_blank_lines=False,
            encoding="utf-8-sig",
            low_memory=False,
        )
    except pd.errors.EmptyDataError as e:
        raise EmptyFileError("the file is empty", file=file) from e
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise FileFormatError(f"cannot be read as a table: {e}", file=file) from e
    df.columns = [str(c).strip() for c in df.columns]
    rows = np.arange(len(df), dtype=np.int64) + 2 + skip
    blank = df.isna().all(axis=1).to_numpy()
    if blank.any():
        df, rows = df.loc[~blank].reset_index(drop=True), rows[~blank]
    if len(df) == 0:
        raise EmptyFileError("the file has a header but no detections", file=file)
    return df, rows, units


def _read_parquet(path: Path, file: str) -> tuple[pd.DataFrame, np.ndarray, _Units]:
    if path.stat().st_size == 0:
        raise EmptyFileError("the file is empty", file=file)
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several unrelated types
        raise FileFormatError(f"cannot be read as Parquet: {e}", file=file) from e
    if len(df) == 0:
        raise EmptyFileError("the file has no detections", file=file)
    return df, np.arange(len(df), dtype=np.int64), _Units()


def _pick(df: pd.DataFrame, role: str, columns: Mapping | None, file: str | None) -> str | None:
    if columns is not None and role in columns:
        name = columns[role]
        if name is not None and name not in df.columns:
            raise MissingColumnError(
                f"no column {name!r} (given as columns[{role!r}]); the table has "
                f"{_list(df.columns)}",
                file=file,
            )
        return name
    return next((c for c in COLUMN_NAMES[role] if c in df.columns), None)


def _numeric(df: pd.DataFrame, col: str, rows: np.ndarray, file: str | None) -> np.ndarray:
    s = df[col]
    if pd.api.types.is_bool_dtype(s):
        raise FileFormatError(f"column {col!r} holds booleans, not numbers", file=file)
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(values) & ~s.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FileFormatError(
            f"column {col!r} holds a value that is not a number: {s.iloc[i]!r}",
            file=file,
            row=int(rows[i]),
        )
    return values


def _long_from_table(
    df: pd.DataFrame,
    rows: np.ndarray,
    file: str | None,
    columns: Mapping | None,
    localization_error: Any,
    units: _Units,
    dt: float | None,
) -> _Long:
    track_col = _pick(df, "track", columns, file)
    if track_col is None:
        raise MissingColumnError(
            f"no track id column: looked for {_list(COLUMN_NAMES['track'])} in "
            f"{_list(df.columns)}; map yours with columns={{'track': <name>}}",
            file=file,
        )
    coord_cols = [_pick(df, c, columns, file) for c in _COORDS]
    if coord_cols[0] is None:
        raise MissingColumnError(
            f"no x coordinate column: looked for {_list(COLUMN_NAMES['x'])} in "
            f"{_list(df.columns)}; map yours with columns={{'x': <name>}}",
            file=file,
        )
    if coord_cols[1] is None and coord_cols[2] is not None:
        raise MissingColumnError(
            f"has a z column ({coord_cols[2]!r}) but no y column; map it with "
            "columns={'y': <name>}",
            file=file,
        )
    coord_cols = [c for c in coord_cols if c is not None]
    coords = np.column_stack([_numeric(df, c, rows, file) for c in coord_cols])

    frame_col = _pick(df, "frame", columns, file)
    if frame_col is not None:
        frames = _numeric(df, frame_col, rows, file)
        frac = np.isfinite(frames) & (frames != np.round(frames))
        if frac.any():
            i = int(np.flatnonzero(frac)[0])
            raise FileFormatError(
                f"frame column {frame_col!r} holds a value that is not an integer "
                f"({float(frames[i]):g}); if it is a time in seconds, pass "
                f"columns={{'frame': None, 'time': {frame_col!r}}}",
                file=file,
                row=int(rows[i]),
            )
        time_col = None
    else:
        time_col = _pick(df, "time", columns, file)
        if time_col is None:
            raise MissingColumnError(
                f"no frame column: looked for {_list(COLUMN_NAMES['frame'])} (or a time "
                f"column {_list(COLUMN_NAMES['time'])}) in {_list(df.columns)}; map yours "
                "with columns={'frame': <name>}",
                file=file,
            )
        frames = _numeric(df, time_col, rows, file)

    long = _Long(
        ids=_ids(df[track_col]),
        frames=frames,
        coords=coords,
        rows=np.asarray(rows, dtype=np.int64),
        file=file,
    )
    if "dt" in df.columns and dt is None:
        long.dt = _numeric(df, "dt", rows, file)

    if localization_error is None:
        if "localization_error" in df.columns:
            long.loc_err = _numeric(df, "localization_error", rows, file)
            long.loc_err_optional = True
    elif _is_number(localization_error):
        long.loc_err = float(localization_error)
    else:
        names = [localization_error] if isinstance(localization_error, str) else localization_error
        names = list(names)
        missing = [n for n in names if n not in df.columns]
        if missing or not names:
            raise MissingColumnError(
                f"no localization error column {_list(missing)}; the table has {_list(df.columns)}",
                file=file,
            )
        long.loc_err = np.mean([_numeric(df, n, rows, file) for n in names], axis=0)

    if time_col is not None:
        _frames_from_time(long, time_col, units, dt)
    return long


def _frames_from_time(long: _Long, time_col: str, units: _Units, dt: float | None) -> None:
    factor = 1.0
    if units.time is not None:
        if units.time.lower() not in _TIME_UNITS:
            raise FileFormatError(
                f"time column {time_col!r} is in {units.time!r}, not a unit of time; "
                "add a frame column or map one with columns={'frame': <name>}",
                file=long.file,
            )
        factor = _TIME_UNITS[units.time.lower()]
    step = dt if dt is not None else long.dt
    if step is None:
        raise FileFormatError(
            f"no frame column, and frame numbers cannot be computed from the time column "
            f"{time_col!r} without dt: pass dt=<seconds per frame>",
            file=long.file,
        )
    f = long.frames * factor / step
    off = np.abs(f - np.round(f)) > _TIME_TOLERANCE
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise FileFormatError(
            f"time {float(long.frames[i]):g} in column {time_col!r} is not a multiple of "
            f"dt={np.ravel(step)[0]:g} s (within {_TIME_TOLERANCE} frame); check dt",
            file=long.file,
            row=int(long.rows[i]),
        )
    long.frames = np.round(f)
    warnings.warn(
        f"{long.file or 'table'}: no frame column; frame numbers computed as "
        f"round(time / dt) from the time column {time_col!r}",
        DataWarning,
        stacklevel=4,
    )


def _ids(s: pd.Series) -> np.ndarray:
    """Track ids as a numpy array: int64 when integral, else float or object."""
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype=object)
    if pd.api.types.is_integer_dtype(s) and not s.isna().any():
        return s.to_numpy(dtype=np.int64)
    v = s.to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isfinite(v)
    if np.all(v[ok] == np.round(v[ok])) and np.all(np.abs(v[ok]) < 2**53):
        out = np.empty(len(v), dtype=object)
        out[:] = [int(x) if f else None for x, f in zip(v.tolist(), ok.tolist())]
        return out
    return v


# ---------------------------------------------------------------------------
# reading TrackMate XML
# ---------------------------------------------------------------------------
def _read_xml(
    path: Path, file: str, on_error: str, skipped: list[TrackError]
) -> tuple[_Long, _Units]:
    with open(path, "rb") as f:
        if not f.read(4096).strip():
            raise EmptyFileError("the file is empty", file=file)
    try:
        events = ET.iterparse(path, events=("start", "end"))
        _, root = next(events)
        if root.tag == "Tracks":
            return _read_tracks_xml(root, events, file)
        if root.tag == "TrackMate":
            return _read_session_xml(events, file, on_error, skipped)
    except ET.ParseError as e:
        raise MalformedXMLError(f"not well-formed XML: {e}", file=file) from e
    raise MalformedXMLError(
        f"root element <{root.tag}> is not a TrackMate file (expected <Tracks> from "
        "TrackMate's 'Export tracks to XML' or <TrackMate> from a saved session)",
        file=file,
    )


def _xml_float(el: ET.Element, name: str, file: str, row: int | None) -> float:
    v = el.get(name)
    if v is None:
        return np.nan
    try:
        return float(v)
    except ValueError:
        raise MalformedXMLError(
            f"<{el.tag}> attribute {name}={v!r} is not a number", file=file, row=row
        ) from None


def _read_tracks_xml(root: ET.Element, events, file: str) -> tuple[_Long, _Units]:
    """The simple export: <Tracks><particle><detection t= x= y= z=/>..."""
    units = _Units(length=root.get("spaceUnits"), time=root.get("timeUnits"))
    if root.get("frameInterval") is not None:
        units.dt = _xml_float(root, "frameInterval", file, None)
    ids, data, particle = [], [], -1
    for event, el in events:
        if event == "start":
            if el.tag == "particle":
                particle += 1
            continue
        if el.tag == "detection":
            row = len(data)
            if particle < 0:
                raise MalformedXMLError("<detection> outside a <particle>", file=file, row=row)
            data.append([_xml_float(el, k, file, row) for k in ("t", "x", "y", "z")])
            ids.append(particle)
            el.clear()
        elif el.tag == "particle":
            el.clear()
    if not data:
        raise EmptyFileError("the file has no <detection> elements", file=file)
    a = np.asarray(data, dtype=np.float64)
    long = _Long(
        ids=np.asarray(ids, dtype=np.int64),
        frames=a[:, 0],
        coords=_trim_absent(a[:, 1:]),
        rows=np.arange(len(a), dtype=np.int64),
        file=file,
    )
    long.dt = _seconds(units, file)
    return long, units


def _read_session_xml(
    events, file: str, on_error: str, skipped: list[TrackError]
) -> tuple[_Long, _Units]:
    """A saved TrackMate session: spots, tracks as edges, filtered track ids."""
    units = _Units()
    spot_ids: list[int] = []
    spot_data: list[list[float]] = []
    tracks: dict[int, list[tuple[int, int]]] = {}
    filtered: set[int] | None = None
    current: list[tuple[int, int]] | None = None
    for event, el in events:
        tag = el.tag
        if event == "start":
            if tag == "Model":
                units.length, units.time = el.get("spatialunits"), el.get("timeunits")
            elif tag == "Track":
                tid = el.get("TRACK_ID")
                if tid is None or not _is_int(tid):
                    raise MalformedXMLError(
                        f"<Track name={el.get('name')!r}> has no integer TRACK_ID", file=file
                    )
                current = tracks.setdefault(int(tid), [])
            elif tag == "FilteredTracks":
                filtered = set()
            continue
        if tag == "Spot":
            row = len(spot_ids)
            sid = el.get("ID")
            if sid is None or not _is_int(sid):
                raise MalformedXMLError("<Spot> without an integer ID", file=file, row=row)
            spot_ids.append(int(sid))
            spot_data.append(
                [
                    _xml_float(el, k, file, row)
                    for k in ("FRAME", "POSITION_X", "POSITION_Y", "POSITION_Z", "POSITION_T")
                ]
            )
            el.clear()
        elif tag == "SpotsInFrame":
            el.clear()
        elif tag == "Edge" and current is not None:
            src, tgt = el.get("SPOT_SOURCE_ID"), el.get("SPOT_TARGET_ID")
            if src is None or tgt is None or not (_is_int(src) and _is_int(tgt)):
                raise MalformedXMLError(
                    "<Edge> without integer SPOT_SOURCE_ID and SPOT_TARGET_ID", file=file
                )
            current.append((int(src), int(tgt)))
            el.clear()
        elif tag == "Track":
            current = None
            el.clear()
        elif tag == "TrackID" and filtered is not None:
            tid = el.get("TRACK_ID")
            if tid is not None and _is_int(tid):
                filtered.add(int(tid))
        elif tag == "ImageData":
            for key in ("timeinterval", "frameinterval"):
                if el.get(key) is not None:
                    units.dt = _xml_float(el, key, file, None)
                    break
    if not spot_ids:
        raise EmptyFileError("the file has no <Spot> elements", file=file)
    a = np.asarray(spot_data, dtype=np.float64)
    index = {s: i for i, s in enumerate(spot_ids)}
    if len(index) != len(spot_ids):
        dup = next(s for s, n in Counter(spot_ids).items() if n > 1)
        raise MalformedXMLError(f"spot ID {dup} appears twice in <AllSpots>", file=file)
    keep = sorted(tracks) if filtered is None else [t for t in sorted(tracks) if t in filtered]
    if filtered is not None and len(keep) < len(tracks):
        logger.info(
            "%s: %d of %d tracks are in <FilteredTracks>; reading those",
            file,
            len(keep),
            len(tracks),
        )
    if not keep:
        raise EmptyFileError("the file has no tracks (no <Track> to read)", file=file)
    sel_ids, sel_rows = [], []
    for tid in keep:
        try:
            members = _linear_track(tid, tracks[tid], index, spot_ids, a[:, 0], file)
        except TrackError as err:
            if on_error == "raise":
                raise
            logger.warning("skipped: %s", err)
            skipped.append(err)
            continue
        sel_rows.extend(members)
        sel_ids.extend([tid] * len(members))
    rows = np.asarray(sel_rows, dtype=np.int64)
    long = _Long(
        ids=np.asarray(sel_ids, dtype=np.int64),
        frames=a[rows, 0],
        coords=_trim_absent(a[rows, 1:4]),
        rows=rows,
        file=file,
    )
    n_untracked = len(spot_ids) - len(set(sel_rows))
    if n_untracked:
        logger.info("%s: %d spots are in no track read and were ignored", file, n_untracked)
    dt = _seconds(units, file)
    if dt is None:
        # no frame interval in <ImageData>: try POSITION_T / FRAME of the spots
        f, t = a[:, 0], a[:, 4]
        ok = np.isfinite(f) & np.isfinite(t) & (f > 0)
        if ok.any():
            ratio = t[ok] / f[ok]
            if np.allclose(ratio, ratio[0], rtol=1e-6):
                units.dt = float(ratio[0])
                dt = _seconds(units, file)
    long.dt = dt
    return long, units


def _linear_track(
    tid: int,
    edges: list[tuple[int, int]],
    index: dict[int, int],
    spot_ids: list[int],
    frames: np.ndarray,
    file: str,
) -> list[int]:
    """Rows of the spots of one track, checking that it neither splits nor merges."""
    members: dict[int, None] = {}
    succ: Counter = Counter()
    pred: Counter = Counter()
    for s, t in edges:
        for sid in (s, t):
            if sid not in index:
                raise MalformedXMLError(
                    f"track {tid} links spot ID {sid}, which is not in <AllSpots>", file=file
                )
            members[index[sid]] = None
        i, j = index[s], index[t]
        if frames[i] > frames[j]:
            i, j = j, i
        succ[i] += 1
        pred[j] += 1
    for counter, what in ((succ, "splits"), (pred, "merges")):
        branch = [i for i, n in counter.items() if n > 1]
        if branch:
            i = min(branch)
            raise TrackError(
                f"the track {what} at spot ID {spot_ids[i]} (frame {frames[i]:g}); bayesdiff "
                "reads unbranched tracks only: remove the branch in TrackMate, or pass "
                "on_error='skip'",
                file=file,
                track=tid,
                row=i,
            )
    return sorted(members)


# ---------------------------------------------------------------------------
# units and assembly
# ---------------------------------------------------------------------------
def _seconds(units: _Units, file: str) -> float | None:
    """The file's frame interval in seconds, or None when it has none (or no time unit)."""
    if units.dt is None or not np.isfinite(units.dt) or units.dt <= 0:
        return None
    if units.time is None:
        return None
    factor = _TIME_UNITS.get(units.time.strip().lower())
    if factor is None:
        logger.info("%s: time unit %r is not a time; dt must be given", file, units.time)
        return None
    return float(units.dt * factor)


def _apply_length_units(long: _Long, units: _Units, pixel_size: float | None) -> None:
    factor = 1.0
    unit = units.length.strip() if units.length else None
    if unit:
        key = unit.lower() if unit.lower() in _LENGTH_UNITS else unit
        if key in _LENGTH_UNITS:
            factor = _LENGTH_UNITS[key]
            is_pixel = key in ("pixel", "pixels", "px")
            if is_pixel and pixel_size is None:
                warnings.warn(
                    f"{long.file}: coordinates are in pixels; pass pixel_size=<µm per pixel> "
                    "to read them in µm",
                    DataWarning,
                    stacklevel=3,
                )
            elif not is_pixel and pixel_size is not None:
                warnings.warn(
                    f"{long.file}: coordinates are in {unit} already (converted to µm); "
                    f"pixel_size={pixel_size:g} multiplies them anyway",
                    DataWarning,
                    stacklevel=3,
                )
            if factor != 1.0:
                logger.info("%s: coordinates converted from %s to µm", long.file, unit)
        else:
            logger.info("%s: unknown length unit %r; coordinates kept as they are", long.file, unit)
    if pixel_size is not None:
        factor *= pixel_size
    if factor != 1.0:
        long.coords = long.coords * factor
        if long.loc_err is not None:
            long.loc_err = long.loc_err * factor


def _trim_absent(coords: np.ndarray) -> np.ndarray:
    """Drop a z that is 0 for every detection (2-D data), and coordinates no detection has."""
    k = coords.shape[1]
    if k == 3 and np.all(coords[:, 2] == 0):
        k = 2
    while k > 1 and np.isnan(coords[:, k - 1]).all():
        k -= 1
    return coords[:, :k]


def _assemble(
    long: _Long, *, min_points: int, on_error: str, skipped: list[TrackError]
) -> TrackSet:
    if len(long.rows) == 0:  # every track of a TrackMate file was skipped
        if not skipped:
            raise EmptyFileError("the file has no detections", file=long.file)
        _warn_skipped(long.file, skipped, 0)
        return TrackSet()
    long.coords = _trim_absent(long.coords)
    codes, uniques = pd.factorize(long.ids, sort=False, use_na_sentinel=True)
    no_id = codes < 0
    if no_id.any():
        first = int(long.rows[np.flatnonzero(no_id)[0]])
        warnings.warn(
            f"{long.file or 'table'}: ignored {int(no_id.sum())} detections without a track id "
            f"(first: row {first})",
            DataWarning,
            stacklevel=3,
        )
    if no_id.all():
        raise EmptyFileError("no detection has a track id", file=long.file)
    perm = _sort_order(uniques)
    rank = np.empty(len(perm), dtype=np.int64)
    rank[perm] = np.arange(len(perm))
    key = np.where(no_id, -1, rank[np.maximum(codes, 0)])
    order = np.argsort(key, kind="stable")
    order = order[key[order] >= 0]
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    tracks: list[Track] = []
    reordered = []

    def bad(err: TrackError) -> None:
        if on_error == "raise":
            raise err
        logger.warning("skipped: %s", err)
        skipped.append(err)

    for group in np.split(order, bounds):
        tid = _py(uniques[codes[group[0]]])
        try:
            track, was_sorted = _make_track(long, group, tid, min_points)
        except TrackError as err:
            bad(err)
            continue
        if was_sorted:
            reordered.append(tid)
        tracks.append(track)

    dims = Counter(t.dim for t in tracks)
    if len(dims) > 1:
        common = max(dims, key=lambda d: (dims[d], d))
        good = []
        for t in tracks:
            if t.dim == common:
                good.append(t)
                continue
            bad(
                DimensionError(
                    f"has {t.dim} coordinates ({', '.join(_COORDS[: t.dim])}) but "
                    f"{dims[common]} tracks have {common}; all tracks of a file need the "
                    "same coordinates",
                    file=long.file,
                    track=t.id,
                    row=int(t.rows[0]),
                )
            )
        tracks = good

    if reordered:
        warnings.warn(
            f"{long.file or 'table'}: {len(reordered)} tracks had frames out of order and "
            f"were sorted by frame (first: track {reordered[0]!r})",
            DataWarning,
            stacklevel=3,
        )
    if skipped:
        _warn_skipped(long.file, skipped, len(tracks))
    return TrackSet(tracks)


def _warn_skipped(file: str | None, skipped: list[TrackError], n_kept: int) -> None:
    kinds = Counter(type(e).__name__ for e in skipped)
    warnings.warn(
        f"{file or 'table'}: skipped {len(skipped)} of {len(skipped) + n_kept} tracks "
        f"({', '.join(f'{n} {k}' for k, n in kinds.items())}); the logger 'bayesdiff.io' "
        f"names each; first: {skipped[0]}",
        DataWarning,
        stacklevel=4,
    )


def _make_track(long: _Long, r: np.ndarray, tid: Any, min_points: int) -> tuple[Track, bool]:
    where = {"file": long.file, "track": tid}
    fr = long.frames[r]
    missing = ~np.isfinite(fr)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise TrackError("frame number is missing", row=int(long.rows[r[i]]), **where)
    was_sorted = bool(np.any(np.diff(fr) < 0))
    if was_sorted:
        o = np.argsort(fr, kind="stable")
        r, fr = r[o], fr[o]
    rows = long.rows[r]
    pos = long.coords[r]
    present = ~np.isnan(pos).all(axis=0)
    dim = int(np.argmin(present)) if not present.all() else pos.shape[1]
    if dim == 0 or present[dim:].any():
        name = _COORDS[dim]
        raise NonFiniteError(f"has no {name} coordinate at any point", row=int(rows[0]), **where)
    pos = pos[:, :dim]

    le = long.loc_err
    if isinstance(le, np.ndarray):
        le = le[r]
        if long.loc_err_optional and np.isnan(le).all():
            le = None
        else:
            badle = ~np.isfinite(le) | (le < 0)
            if badle.any():
                i = int(np.flatnonzero(badle)[0])
                raise NonFiniteError(
                    f"localization error {float(le[i]):g} is not a finite number >= 0",
                    row=int(rows[i]),
                    **where,
                )

    dt = long.dt
    if isinstance(dt, np.ndarray):
        d = dt[r]
        if not np.all(d == d[0]):
            i = int(np.flatnonzero(d != d[0])[0])
            raise TrackError(
                f"dt changes within the track ({float(d[0]):g} s, then {float(d[i]):g} s)",
                row=int(rows[i]),
                **where,
            )
        dt = float(d[0])

    track = Track(pos, dt, fr.astype(np.int64), tid, le, source=long.file, rows=rows)
    if track.n_points < min_points:
        raise TrackTooShortError(
            f"has {track.n_points} points; min_points={min_points}", row=int(rows[0]), **where
        )
    return track, was_sorted


# ---------------------------------------------------------------------------
# writing and summaries
# ---------------------------------------------------------------------------
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
        data[_COORDS[k]] = pos[:, k]
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


def _length_histogram(lengths: np.ndarray, width: int) -> str:
    if lengths.size == 0:
        return "(no tracks)"
    top = int(np.ceil(np.log2(max(int(lengths.max()), 1)))) if lengths.max() > 1 else 0
    edges = [(1, 1)] + [(2 ** (k - 1) + 1, 2**k) for k in range(1, top + 1)]
    counts = [int(((lengths >= lo) & (lengths <= hi)).sum()) for lo, hi in edges]
    most = max(counts)
    lines = [f"{'points':>7}  {'tracks':>6}"]
    for (lo, hi), c in zip(edges, counts):
        label = str(lo) if lo == hi else f"{lo}-{hi}"
        bar = "#" * (max(1, round(width * c / most)) if c else 0)
        lines.append(f"{label:>7}  {c:>6}  {bar}".rstrip())
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------
def _positive_or_none(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or not np.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _is_int(s: str) -> bool:
    try:
        int(s)
    except ValueError:
        return False
    return True


def _py(v: Any) -> Any:
    """A numpy scalar as the Python scalar (so ids print as 3, not np.int64(3))."""
    return v.item() if isinstance(v, np.generic) else v


def _sort_order(uniques: np.ndarray) -> np.ndarray:
    values = [_py(u) for u in uniques]
    try:
        order = sorted(range(len(values)), key=values.__getitem__)
    except TypeError:  # ids of mixed types: numbers first, then the others by their text

        def key(i: int) -> tuple:
            v = values[i]
            return (0, v, "") if _is_number(v) else (1, 0, str(v))

        order = sorted(range(len(values)), key=key)
    return np.asarray(order, dtype=np.int64)


def _list(names: Iterable) -> str:
    names = [str(n) for n in names]
    shown = ", ".join(repr(n) for n in names[:12])
    return f"[{shown}{', ...' if len(names) > 12 else ''}]"
