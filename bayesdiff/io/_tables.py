"""Reading tables: CSV/TSV/TXT, Parquet and pandas DataFrames, into the long table."""

from __future__ import annotations

import csv
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataWarning, EmptyFileError, FileFormatError, MissingColumnError
from ._common import COLUMN_NAMES, COORDS, TIME_UNITS, Long, Units, is_number, parses

__all__ = ["read_csv", "read_parquet", "long_from_table"]

TIME_TOLERANCE = 0.1  # frames: how far time / dt may be from an integer


def read_csv(path: Path, file: str) -> tuple[pd.DataFrame, np.ndarray, Units]:
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
    units, skip = Units(), 0
    if "POSITION_X" in header or "LABEL" in header:
        # TrackMate spots CSV: three lines of labels (name, short name, unit) under the header
        ix = header.index("POSITION_X") if "POSITION_X" in header else None
        it = header.index("POSITION_T") if "POSITION_T" in header else None
        for line in head[1:4]:
            fields = split(line)
            probe = fields[ix] if ix is not None and ix < len(fields) else ""
            if ix is None or parses(probe, float):
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


def read_parquet(path: Path, file: str) -> tuple[pd.DataFrame, np.ndarray, Units]:
    if path.stat().st_size == 0:
        raise EmptyFileError("the file is empty", file=file)
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several unrelated types
        raise FileFormatError(f"cannot be read as Parquet: {e}", file=file) from e
    if len(df) == 0:
        raise EmptyFileError("the file has no detections", file=file)
    return df, np.arange(len(df), dtype=np.int64), Units()


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


def long_from_table(
    df: pd.DataFrame,
    rows: np.ndarray,
    file: str | None,
    columns: Mapping | None,
    localization_error: Any,
    units: Units,
    dt: float | None,
) -> Long:
    """The detections of a table, by the columns that ``columns`` or the known names pick.

    Parameters are those of :func:`bayesdiff.io.read_tracks`, plus the table's
    ``rows`` (row number of each table row), ``file`` (its name, or None for
    a DataFrame) and ``units`` (what the file says about them).
    """
    track_col = _pick(df, "track", columns, file)
    if track_col is None:
        raise MissingColumnError(
            f"no track id column: looked for {_list(COLUMN_NAMES['track'])} in "
            f"{_list(df.columns)}; map yours with columns={{'track': <name>}}",
            file=file,
        )
    coords = _coordinates(df, rows, file, columns)
    frames, time_col = _frames(df, rows, file, columns)
    long = Long(
        ids=_ids(df[track_col]),
        frames=frames,
        coords=coords,
        rows=np.asarray(rows, dtype=np.int64),
        file=file,
    )
    if "dt" in df.columns and dt is None:
        long.dt = _numeric(df, "dt", rows, file)
    _localization_error(long, df, localization_error)
    if time_col is not None:
        _frames_from_time(long, time_col, units, dt)
    return long


def _coordinates(
    df: pd.DataFrame, rows: np.ndarray, file: str | None, columns: Mapping | None
) -> np.ndarray:
    """The coordinate columns as an array of shape (n, dim)."""
    coord_cols = [_pick(df, c, columns, file) for c in COORDS]
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
    return np.column_stack([_numeric(df, c, rows, file) for c in coord_cols])


def _frames(
    df: pd.DataFrame, rows: np.ndarray, file: str | None, columns: Mapping | None
) -> tuple[np.ndarray, str | None]:
    """The frame column's values, or the time column's (and its name) when there is none."""
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
        return frames, None
    time_col = _pick(df, "time", columns, file)
    if time_col is None:
        raise MissingColumnError(
            f"no frame column: looked for {_list(COLUMN_NAMES['frame'])} (or a time "
            f"column {_list(COLUMN_NAMES['time'])}) in {_list(df.columns)}; map yours "
            "with columns={'frame': <name>}",
            file=file,
        )
    return _numeric(df, time_col, rows, file), time_col


def _localization_error(long: Long, df: pd.DataFrame, localization_error: Any) -> None:
    """Set ``long.loc_err`` from ``read_tracks``'s ``localization_error`` argument."""
    rows, file = long.rows, long.file
    if localization_error is None:
        if "localization_error" in df.columns:
            long.loc_err = _numeric(df, "localization_error", rows, file)
            long.loc_err_optional = True
    elif is_number(localization_error):
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


def _frames_from_time(long: Long, time_col: str, units: Units, dt: float | None) -> None:
    factor = 1.0
    if units.time is not None:
        if units.time.lower() not in TIME_UNITS:
            raise FileFormatError(
                f"time column {time_col!r} is in {units.time!r}, not a unit of time; "
                "add a frame column or map one with columns={'frame': <name>}",
                file=long.file,
            )
        factor = TIME_UNITS[units.time.lower()]
    step = dt if dt is not None else long.dt
    if step is None:
        raise FileFormatError(
            f"no frame column, and frame numbers cannot be computed from the time column "
            f"{time_col!r} without dt: pass dt=<seconds per frame>",
            file=long.file,
        )
    f = long.frames * factor / step
    off = np.abs(f - np.round(f)) > TIME_TOLERANCE
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise FileFormatError(
            f"time {float(long.frames[i]):g} in column {time_col!r} is not a multiple of "
            f"dt={np.ravel(step)[0]:g} s (within {TIME_TOLERANCE} frame); check dt",
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


def _list(names: Iterable) -> str:
    names = [str(n) for n in names]
    shown = ", ".join(repr(n) for n in names[:12])
    return f"[{shown}{', ...' if len(names) > 12 else ''}]"
