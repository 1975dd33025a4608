"""Reading TrackMate XML: the simple "Tracks" export and saved sessions."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EmptyFileError, MalformedXMLError, TrackError
from ._common import TIME_UNITS, Long, Units, logger, parses, trim_absent

__all__ = ["read_xml"]


def read_xml(path: Path, file: str, on_error: str, skipped: list[TrackError]) -> tuple[Long, Units]:
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


def _read_tracks_xml(root: ET.Element, events, file: str) -> tuple[Long, Units]:
    """The simple export: <Tracks><particle><detection t= x= y= z=/>..."""
    units = Units(length=root.get("spaceUnits"), time=root.get("timeUnits"))
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
    long = Long(
        ids=np.asarray(ids, dtype=np.int64),
        frames=a[:, 0],
        coords=trim_absent(a[:, 1:]),
        rows=np.arange(len(a), dtype=np.int64),
        file=file,
    )
    long.dt = _seconds(units, file)
    return long, units


@dataclass
class _Session:
    """What the event loop collects from a saved TrackMate session."""

    units: Units = field(default_factory=Units)
    spot_ids: list[int] = field(default_factory=list)  # <Spot> IDs, in file order
    spot_data: list[list[float]] = field(default_factory=list)  # FRAME, X, Y, Z, T per spot
    tracks: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # edges by TRACK_ID
    filtered: set[int] | None = None  # the ids in <FilteredTracks>, if the file has it
    current: list[tuple[int, int]] | None = None  # edges of the <Track> being read


def _read_session_xml(
    events, file: str, on_error: str, skipped: list[TrackError]
) -> tuple[Long, Units]:
    """A saved TrackMate session: spots, tracks as edges, filtered track ids."""
    session = _Session()
    for event, el in events:
        if event == "start":
            _session_start(session, el, file)
        else:
            _session_end(session, el, file)
    units, spot_ids = session.units, session.spot_ids
    if not spot_ids:
        raise EmptyFileError("the file has no <Spot> elements", file=file)
    a = np.asarray(session.spot_data, dtype=np.float64)
    index = {s: i for i, s in enumerate(spot_ids)}
    if len(index) != len(spot_ids):
        dup = next(s for s, n in Counter(spot_ids).items() if n > 1)
        raise MalformedXMLError(f"spot ID {dup} appears twice in <AllSpots>", file=file)
    keep = _tracks_to_read(session, file)
    sel_ids, sel_rows = [], []
    for tid in keep:
        try:
            members = _linear_track(tid, session.tracks[tid], index, spot_ids, a[:, 0], file)
        except TrackError as err:
            if on_error == "raise":
                raise
            logger.warning("skipped: %s", err)
            skipped.append(err)
            continue
        sel_rows.extend(members)
        sel_ids.extend([tid] * len(members))
    rows = np.asarray(sel_rows, dtype=np.int64)
    long = Long(
        ids=np.asarray(sel_ids, dtype=np.int64),
        frames=a[rows, 0],
        coords=trim_absent(a[rows, 1:4]),
        rows=rows,
        file=file,
    )
    n_untracked = len(spot_ids) - len(set(sel_rows))
    if n_untracked:
        logger.info("%s: %d spots are in no track read and were ignored", file, n_untracked)
    long.dt = _session_dt(units, a, file)
    return long, units


def _session_start(session: _Session, el: ET.Element, file: str) -> None:
    """An opening tag: the model's units, a new <Track>, the start of <FilteredTracks>."""
    tag = el.tag
    if tag == "Model":
        session.units.length, session.units.time = el.get("spatialunits"), el.get("timeunits")
    elif tag == "Track":
        tid = el.get("TRACK_ID")
        if tid is None or not parses(tid, int):
            raise MalformedXMLError(
                f"<Track name={el.get('name')!r}> has no integer TRACK_ID", file=file
            )
        session.current = session.tracks.setdefault(int(tid), [])
    elif tag == "FilteredTracks":
        session.filtered = set()


def _session_end(session: _Session, el: ET.Element, file: str) -> None:
    """A closing tag: spots, edges, filtered track ids and the frame interval."""
    tag = el.tag
    if tag == "Spot":
        row = len(session.spot_ids)
        sid = el.get("ID")
        if sid is None or not parses(sid, int):
            raise MalformedXMLError("<Spot> without an integer ID", file=file, row=row)
        session.spot_ids.append(int(sid))
        session.spot_data.append(
            [
                _xml_float(el, k, file, row)
                for k in ("FRAME", "POSITION_X", "POSITION_Y", "POSITION_Z", "POSITION_T")
            ]
        )
        el.clear()
    elif tag == "SpotsInFrame":
        el.clear()
    elif tag == "Edge" and session.current is not None:
        src, tgt = el.get("SPOT_SOURCE_ID"), el.get("SPOT_TARGET_ID")
        if src is None or tgt is None or not (parses(src, int) and parses(tgt, int)):
            raise MalformedXMLError(
                "<Edge> without integer SPOT_SOURCE_ID and SPOT_TARGET_ID", file=file
            )
        session.current.append((int(src), int(tgt)))
        el.clear()
    elif tag == "Track":
        session.current = None
        el.clear()
    elif tag == "TrackID" and session.filtered is not None:
        tid = el.get("TRACK_ID")
        if tid is not None and parses(tid, int):
            session.filtered.add(int(tid))
    elif tag == "ImageData":
        for key in ("timeinterval", "frameinterval"):
            if el.get(key) is not None:
                session.units.dt = _xml_float(el, key, file, None)
                break


def _tracks_to_read(session: _Session, file: str) -> list[int]:
    """The track ids to read, sorted: those in <FilteredTracks> when the file has it."""
    tracks, filtered = session.tracks, session.filtered
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
    return keep


def _session_dt(units: Units, spots: np.ndarray, file: str) -> float | None:
    """The frame interval in seconds: from <ImageData>, else from POSITION_T / FRAME."""
    dt = _seconds(units, file)
    if dt is None:
        f, t = spots[:, 0], spots[:, 4]
        ok = np.isfinite(f) & np.isfinite(t) & (f > 0)
        if ok.any():
            ratio = t[ok] / f[ok]
            if np.allclose(ratio, ratio[0], rtol=1e-6):
                units.dt = float(ratio[0])
                dt = _seconds(units, file)
    return dt


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


def _seconds(units: Units, file: str) -> float | None:
    """The file's frame interval in seconds, or None when it has none (or no time unit)."""
    if units.dt is None or not np.isfinite(units.dt) or units.dt <= 0:
        return None
    if units.time is None:
        return None
    factor = TIME_UNITS.get(units.time.strip().lower())
    if factor is None:
        logger.info("%s: time unit %r is not a time; dt must be given", file, units.time)
        return None
    return float(units.dt * factor)
