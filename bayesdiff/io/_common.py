"""Shared pieces of the readers: the long table of detections, units, constants."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "COLUMN_NAMES",
    "COORDS",
    "TABLE_SUFFIXES",
    "TIME_UNITS",
    "Long",
    "Units",
    "logger",
    "is_number",
    "parses",
    "trim_absent",
]

#: The logger of every reader and writer (the name users configure).
logger = logging.getLogger("bayesdiff.io")

#: Column names recognized without a ``columns`` mapping, by role, first match wins.
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "track": ("track_id", "trajectory", "particle", "TRACK_ID", "track", "id"),
    "frame": ("frame", "FRAME", "Frame", "t"),
    "time": ("POSITION_T", "time", "Time"),
    "x": ("x", "POSITION_X", "X"),
    "y": ("y", "POSITION_Y", "Y"),
    "z": ("z", "POSITION_Z", "Z"),
}
COORDS = ("x", "y", "z")
TABLE_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
TIME_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("ms", "msec", "millisecond", "milliseconds"), 1e-3),
    **dict.fromkeys(("us", "µs", "μs", "microsecond", "microseconds"), 1e-6),
    **dict.fromkeys(("ns", "nanosecond", "nanoseconds"), 1e-9),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hour", "hours"), 3600.0),
}


@dataclass
class Long:
    """Detections in file order, before they are grouped into tracks."""

    ids: np.ndarray  # (n,) track ids (NaN/None where missing)
    frames: np.ndarray  # (n,) float64 frame numbers (NaN where missing)
    coords: np.ndarray  # (n, k) float64 in the final length unit, NaN where absent
    rows: np.ndarray  # (n,) int64 row numbers (see the docstring of bayesdiff.io)
    file: str | None
    loc_err: np.ndarray | float | None = None  # per detection, or one number
    loc_err_optional: bool = False  # a track whose errors are all NaN gets None
    dt: np.ndarray | float | None = None  # seconds: per detection or one number


@dataclass
class Units:
    """What a file says about its units."""

    length: str | None = None  # e.g. "micron", "pixel"
    time: str | None = None  # unit of the time column or of the frame interval
    dt: float | None = None  # frame interval in ``time`` units


def is_number(v: Any) -> bool:
    """Whether ``v`` is a real number (not a bool)."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def parses(text: str, kind: type) -> bool:
    """Whether ``kind(text)`` succeeds (``kind`` is ``int`` or ``float``)."""
    try:
        kind(text)
    except ValueError:
        return False
    return True


def trim_absent(coords: np.ndarray) -> np.ndarray:
    """Drop a z that is 0 for every detection (2-D data), and coordinates no detection has."""
    k = coords.shape[1]
    if k == 3 and np.all(coords[:, 2] == 0):
        k = 2
    while k > 1 and np.isnan(coords[:, k - 1]).all():
        k -= 1
    return coords[:, :k]
