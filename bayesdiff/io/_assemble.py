"""From the long table to a TrackSet: units, grouping by track id, checks of each track."""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from ..errors import (
    DataWarning,
    DimensionError,
    EmptyFileError,
    NonFiniteError,
    TrackError,
    TrackTooShortError,
)
from ..tracks import Track, TrackSet
from ._common import COORDS, Long, Units, is_number, logger, trim_absent

__all__ = ["apply_length_units", "assemble"]

LENGTH_UNITS = {
    **dict.fromkeys(("micron", "microns", "µm", "μm", "um", "micrometer", "micrometers"), 1.0),
    **dict.fromkeys(("nm", "nanometer", "nanometers"), 1e-3),
    **dict.fromkeys(("mm", "millimeter", "millimeters"), 1e3),
    **dict.fromkeys(("pixel", "pixels", "px"), 1.0),
}


def apply_length_units(long: Long, units: Units, pixel_size: float | None) -> None:
    """Convert ``long``'s coordinates (and localization errors) to µm, in place.

    The file's length unit gives the factor; ``pixel_size`` multiplies it.
    """
    factor = 1.0
    unit = units.length.strip() if units.length else None
    if unit:
        key = unit.lower() if unit.lower() in LENGTH_UNITS else unit
        if key in LENGTH_UNITS:
            factor = LENGTH_UNITS[key]
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


def assemble(long: Long, *, min_points: int, on_error: str, skipped: list[TrackError]) -> TrackSet:
    """Group the detections by track id into a TrackSet sorted by id, checking each track.

    A bad track raises its error (``on_error="raise"``) or is logged and
    appended to ``skipped``; warnings count sorted, skipped and id-less rows.
    """
    if len(long.rows) == 0:  # every track of a TrackMate file was skipped
        if not skipped:
            raise EmptyFileError("the file has no detections", file=long.file)
        _warn_skipped(long.file, skipped, 0)
        return TrackSet()
    long.coords = trim_absent(long.coords)
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

    tracks = _one_dimension(tracks, long.file, bad)

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


def _one_dimension(tracks: list[Track], file: str | None, bad) -> list[Track]:
    """The tracks of the most common dimension; ``bad`` gets a DimensionError for each other."""
    dims = Counter(t.dim for t in tracks)
    if len(dims) <= 1:
        return tracks
    common = max(dims, key=lambda d: (dims[d], d))
    good = []
    for t in tracks:
        if t.dim == common:
            good.append(t)
            continue
        bad(
            DimensionError(
                f"has {t.dim} coordinates ({', '.join(COORDS[: t.dim])}) but "
                f"{dims[common]} tracks have {common}; all tracks of a file need the "
                "same coordinates",
                file=file,
                track=t.id,
                row=int(t.rows[0]),
            )
        )
    return good


def _warn_skipped(file: str | None, skipped: list[TrackError], n_kept: int) -> None:
    kinds = Counter(type(e).__name__ for e in skipped)
    warnings.warn(
        f"{file or 'table'}: skipped {len(skipped)} of {len(skipped) + n_kept} tracks "
        f"({', '.join(f'{n} {k}' for k, n in kinds.items())}); the logger 'bayesdiff.io' "
        f"names each; first: {skipped[0]}",
        DataWarning,
        stacklevel=4,
    )


def _make_track(long: Long, r: np.ndarray, tid: Any, min_points: int) -> tuple[Track, bool]:
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
        name = COORDS[dim]
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
            return (0, v, "") if is_number(v) else (1, 0, str(v))

        order = sorted(range(len(values)), key=key)
    return np.asarray(order, dtype=np.int64)
