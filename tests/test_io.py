"""read_tracks / write_tracks / describe / example_tracks: formats, units, rows, every bad input."""

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesdiff as bd
from bayesdiff import io
from bayesdiff.errors import (
    DataWarning,
    DimensionError,
    DuplicateFrameError,
    EmptyFileError,
    FileFormatError,
    MalformedXMLError,
    MissingColumnError,
    NonFiniteError,
    ParameterError,
    TrackError,
    TrackTooShortError,
)

REPO = Path(__file__).resolve().parents[1]

# Reference content: three 2-D tracks (µm), dt = 0.05 s; track 1 has a gap (frame 3 missing).
DT = 0.05
REF = {
    0: ([0, 1, 2, 3], [[1.0, 2.0], [1.5, 2.25], [1.25, 2.5], [2.0, 3.0]]),
    1: ([0, 1, 2, 4, 5], [[5.0, 5.0], [5.5, 4.75], [6.0, 4.5], [6.25, 4.0], [6.5, 4.5]]),
    2: ([3, 4, 5], [[9.0, 1.0], [9.5, 1.5], [8.75, 2.0]]),
}


def long_table():
    rows = [(tid, f, x, y) for tid, (fr, pos) in REF.items() for f, (x, y) in zip(fr, pos)]
    return pd.DataFrame(rows, columns=["track_id", "frame", "x", "y"])


def assert_reference(ts, dt=DT):
    assert ts.ids == list(REF)
    assert all(type(i) is int for i in ts.ids)
    assert ts.dim == 2
    for t, (tid, (frames, pos)) in zip(ts, REF.items()):
        assert t.id == tid
        assert t.frames.tolist() == frames
        np.testing.assert_allclose(t.positions, pos, rtol=0, atol=1e-12)
        assert t.dt == pytest.approx(dt, rel=1e-12)
    assert ts.by_id(1).has_gaps and ts.by_id(1).lags.tolist() == [1, 1, 2, 1]


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def tracks_xml(path, space_units="micron", interval="50", time_units="ms"):
    """TrackMate's simple 'Export tracks to XML' file for REF (particles in REF order)."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<Tracks nTracks="{len(REF)}" spaceUnits="{space_units}" frameInterval="{interval}" '
        f'timeUnits="{time_units}" generationDateTime="now" from="TrackMate v7.11.1">',
    ]
    for frames, pos in REF.values():
        out.append(f'  <particle nSpots="{len(frames)}">')
        for f, (x, y) in zip(frames, pos):
            out.append(f'    <detection t="{f}" x="{x!r}" y="{y!r}" z="0.0" />')
        out.append("  </particle>")
    out.append("</Tracks>")
    path.write_text("\n".join(out) + "\n")
    return path


def session_xml(path, branch=False, filtered=True, interval="0.05", units="sec"):
    """A TrackMate session file for REF, plus an unfiltered track and an untracked spot.

    Spots are listed frame by frame (as TrackMate does), with IDs that are not
    row numbers; edges of track 1 are listed target-first to check orientation.
    """
    spots = []  # (spot_id, frame, x, y, track)
    sid = 1000
    for tid, (frames, pos) in REF.items():
        for f, (x, y) in zip(frames, pos):
            spots.append((sid, f, x, y, tid))
            sid += 7
    spots += [(5, 0, 40.0, 40.0, 9), (6, 1, 41.0, 40.0, 9)]  # track 9: not in FilteredTracks
    spots.append((77, 2, 30.0, 30.0, None))  # untracked spot
    if branch:
        spots.append((88, 1, 1.7, 2.3, 0))  # second spot of track 0 in frame 1: a split
    spots.sort(key=lambda s: (s[1], s[0]))
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<TrackMate version="7.11.1">',
        "  <Log>some log text</Log>",
        f'  <Model spatialunits="µm" timeunits="{units}">',
        f'    <AllSpots nspots="{len(spots)}">',
    ]
    for frame in sorted({s[1] for s in spots}):
        lines.append(f'      <SpotsInFrame frame="{frame}">')
        for s, f, x, y, _ in (s for s in spots if s[1] == frame):
            lines.append(
                f'        <Spot ID="{s}" name="ID{s}" QUALITY="1.0" POSITION_X="{x!r}" '
                f'POSITION_Y="{y!r}" POSITION_Z="0.0" POSITION_T="{f * 0.05!r}" '
                f'FRAME="{f}" RADIUS="0.2" VISIBILITY="1" />'
            )
        lines.append("      </SpotsInFrame>")
    lines += ["    </AllSpots>", "    <AllTracks>"]
    for tid in [*REF, 9]:
        mine = sorted((f, s) for s, f, _, _, t in spots if t == tid and s != 88)
        lines.append(
            f'      <Track name="Track_{tid}" TRACK_ID="{tid}" NUMBER_SPOTS="{len(mine)}">'
        )
        for (_, a), (_, b) in zip(mine, mine[1:]):
            src, tgt = (b, a) if tid == 1 else (a, b)
            lines.append(
                f'        <Edge SPOT_SOURCE_ID="{src}" SPOT_TARGET_ID="{tgt}" LINK_COST="1" />'
            )
        if branch and tid == 0:
            lines.append(f'        <Edge SPOT_SOURCE_ID="{mine[0][1]}" SPOT_TARGET_ID="88" />')
        lines.append("      </Track>")
    lines.append("    </AllTracks>")
    if filtered:
        lines.append("    <FilteredTracks>")
        lines += [f'      <TrackID TRACK_ID="{tid}" />' for tid in REF]
        lines.append("    </FilteredTracks>")
    lines += [
        "  </Model>",
        "  <Settings>",
        '    <ImageData filename="movie.tif" folder="/data" width="256" height="256" '
        'nslices="1" nframes="6" pixelwidth="0.16" pixelheight="0.16" voxeldepth="1.0" '
        f'timeinterval="{interval}" />',
        "  </Settings>",
        "</TrackMate>",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- the same tracks from every source ----------------------------------------------------
def test_csv(tmp_path):
    p = tmp_path / "t.csv"
    long_table().to_csv(p, index=False)
    ts = bd.read_tracks(p, dt=DT)
    assert_reference(ts)
    assert ts[0].source == "t.csv"
    assert ts[0].rows.tolist() == [2, 3, 4, 5]  # line numbers, header = line 1


def test_parquet(tmp_path):
    p = tmp_path / "t.parquet"
    long_table().to_parquet(p, index=False)
    ts = bd.read_tracks(p, dt=DT)
    assert_reference(ts)
    assert ts[1].rows.tolist() == [4, 5, 6, 7, 8]  # 0-based row index


def test_trackpy_dataframe():
    df = long_table().rename(columns={"track_id": "particle"})
    df = df.sample(frac=1.0, random_state=0)  # shuffled rows, non-default index
    with pytest.warns(DataWarning, match="frames out of order and were sorted"):
        ts = bd.read_tracks(df, dt=DT)
    assert_reference(ts)
    t = ts[0]
    assert t.source is None
    # rows are positions in the shuffled frame: df.iloc[row] is that point
    for row, f in zip(t.rows, t.frames):
        assert df.iloc[int(row)]["frame"] == f and df.iloc[int(row)]["particle"] == 0


def test_trackmate_tracks_xml(tmp_path):
    p = tracks_xml(tmp_path / "tracks.xml")
    ts = bd.read_tracks(p)  # dt from frameInterval="50" timeUnits="ms"; z = 0 -> 2-D
    assert_reference(ts)
    assert ts[1].rows.tolist() == [4, 5, 6, 7, 8]  # detection index in the file


def test_trackmate_session_xml(tmp_path, caplog):
    p = session_xml(tmp_path / "session.xml")
    with caplog.at_level(logging.INFO, logger="bayesdiff.io"):
        ts = bd.read_tracks(p)
    assert_reference(ts)  # track 9 (not filtered) and the untracked spot are left out
    assert "3 of 4 tracks are in <FilteredTracks>" in caplog.text
    assert "3 spots are in no track read" in caplog.text
    # rows are <Spot> indices: frame 0 holds spot 5 (track 9), 1000 (track 0), 1028 (track 1)
    assert ts[0].rows[0] == 1 and ts[1].rows[0] == 2
    unfiltered = bd.read_tracks(session_xml(tmp_path / "all.xml", filtered=False))
    assert unfiltered.ids == [0, 1, 2, 9]


def test_session_dt_from_spot_times(tmp_path):
    p = session_xml(tmp_path / "s.xml", interval="0.0")  # no interval: POSITION_T / FRAME
    assert bd.read_tracks(p).dt == pytest.approx(DT)
    p = session_xml(tmp_path / "f.xml", units="frame", interval="1.0")
    with pytest.raises(FileFormatError, match=r"file 'f.xml': no frame interval: pass dt="):
        bd.read_tracks(p)
    assert bd.read_tracks(p, dt=DT).dt == DT


def test_explicit_dt_wins(tmp_path):
    p = tracks_xml(tmp_path / "tracks.xml")
    assert bd.read_tracks(p, dt=0.01).dt == 0.01


def test_round_trip(tmp_path):
    ref = bd.read_tracks(long_table(), dt=DT)
    for name in ("out.csv", "out.parquet", "out.tsv"):
        p = bd.write_tracks(ref, tmp_path / name)
        assert p == tmp_path / name
        assert_reference(bd.read_tracks(p))  # dt is stored in the file


def test_round_trip_3d_localization_error_and_string_ids(tmp_path):
    rng = np.random.default_rng(1)
    ts = bd.TrackSet(
        [
            bd.Track(
                rng.normal(size=(4, 3)),
                dt=0.1,
                frames=[0, 2, 3, 4],
                id="b",
                localization_error=[0.01, 0.02, 0.03, 0.04],
            ),
            bd.Track(rng.normal(size=(3, 3)), dt=0.2, id="a", localization_error=0.05),
        ]
    )
    for name in ("x.csv", "x.parquet"):
        back = bd.read_tracks(bd.write_tracks(ts, tmp_path / name))
        assert back.ids == ["a", "b"]
        for t in ts:
            u = back.by_id(t.id)
            np.testing.assert_array_equal(u.positions, t.positions)
            np.testing.assert_array_equal(u.frames, t.frames)
            assert u.dt == t.dt
            np.testing.assert_array_equal(
                u.localization_error, np.broadcast_to(t.localization_error, (t.n_points,))
            )
    df = pd.read_csv(tmp_path / "x.csv")
    assert list(df.columns) == ["track_id", "frame", "x", "y", "z", "localization_error", "dt"]


def test_round_trip_some_without_localization_error(tmp_path):
    ts = bd.TrackSet(
        [
            bd.Track(np.ones((3, 1)), dt=1.0, id=1, localization_error=0.1),
            bd.Track(np.ones((2, 1)), dt=1.0, id=2),
        ]
    )
    back = bd.read_tracks(bd.write_tracks(ts, tmp_path / "x.csv"))
    assert back.dim == 1
    assert back.by_id(2).localization_error is None
    assert back.by_id(1).localization_error.tolist() == [0.1, 0.1, 0.1]


def test_write_tracks_format_argument(tmp_path):
    ref = bd.read_tracks(long_table(), dt=DT)
    p = bd.write_tracks(ref, tmp_path / "t.data", format="parquet")
    assert_reference(bd.read_tracks(pd.read_parquet(p)))
    with pytest.raises(ParameterError, match="cannot tell the format"):
        bd.write_tracks(ref, tmp_path / "t.data")


def test_atomic_write(tmp_path, monkeypatch):
    p = tmp_path / "keep.csv"
    ref = bd.read_tracks(long_table(), dt=DT)
    bd.write_tracks(ref, p)
    before = p.read_bytes()

    def broken(self, path, *args, **kwargs):
        Path(path).write_text("track_id,frame,x\n1,0,")  # half a file, then the disk fills up
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="No space left"):
        bd.write_tracks(ref[:1], p)
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep.csv"]  # the temporary file is gone


# -- columns, units, rows -------------------------------------------------------------------
def test_recognized_names_and_mapping(tmp_path):
    p = write(tmp_path, "a.csv", "TRACK_ID,FRAME,POSITION_X,POSITION_Y\n3,0,1.0,2.0\n3,1,1.5,2.5\n")
    t = bd.read_tracks(p, dt=1.0)[0]
    assert (t.id, t.dim, t.positions.tolist()) == (3, 2, [[1.0, 2.0], [1.5, 2.5]])
    p = write(tmp_path, "b.csv", "cell,step,u,v,w\na,0,1,2,3\na,1,2,3,4\n")
    cols = {"track": "cell", "frame": "step", "x": "u", "y": "v", "z": "w"}
    t = bd.read_tracks(p, dt=1.0, columns=cols)[0]
    assert (t.id, t.dim) == ("a", 3)
    t = bd.read_tracks(p, dt=1.0, columns={**cols, "z": None})[0]
    assert t.dim == 2
    with pytest.raises(
        MissingColumnError, match=r"file 'b.csv': no column 'q' \(given as columns\['x'\]\)"
    ):
        bd.read_tracks(p, dt=1.0, columns={**cols, "x": "q"})
    with pytest.raises(ParameterError, match="unknown column roles"):
        bd.read_tracks(p, dt=1.0, columns={"colour": "u"})


def test_one_and_three_dimensions(tmp_path):
    p = write(tmp_path, "a.csv", "particle,frame,x\n1,0,0.5\n1,1,0.7\n")
    assert bd.read_tracks(p, dt=1.0).dim == 1
    p = write(tmp_path, "b.csv", "particle,frame,x,y,z\n1,0,0,0,0\n1,1,1,1,0.5\n")
    assert bd.read_tracks(p, dt=1.0).dim == 3
    p = write(tmp_path, "c.csv", "particle,frame,x,y,z\n1,0,0,0,0\n1,1,1,1,0\n")
    assert bd.read_tracks(p, dt=1.0).dim == 2  # z == 0 everywhere: 2-D


def test_delimiters(tmp_path):
    text = "particle{0}frame{0}x{0}y\n1{0}0{0}0.5{0}1\n1{0}1{0}0.7{0}2\n"
    for name, sep in [
        ("a.tsv", "\t"),
        ("b.txt", "\t"),
        ("c.txt", ";"),
        ("d.txt", " "),
        ("e.csv", ","),
    ]:
        t = bd.read_tracks(write(tmp_path, name, text.format(sep)), dt=1.0)[0]
        assert t.positions.tolist() == [[0.5, 1.0], [0.7, 2.0]], name


def test_pixel_size_and_localization_error(tmp_path):
    p = write(
        tmp_path,
        "a.csv",
        "trajectory,frame,y,x,y_err,x_err\n4,0,10,20,0.2,0.4\n4,1,11,22,0.1,0.3\n",
    )
    t = bd.read_tracks(p, dt=0.00748, pixel_size=0.16, localization_error=["x_err", "y_err"])[0]
    np.testing.assert_allclose(t.positions, [[3.2, 1.6], [3.52, 1.76]])
    np.testing.assert_allclose(t.localization_error, [0.048, 0.032])
    t = bd.read_tracks(p, dt=1.0, pixel_size=0.16, localization_error="x_err")[0]
    np.testing.assert_allclose(t.localization_error, [0.064, 0.048])
    t = bd.read_tracks(p, dt=1.0, pixel_size=0.16, localization_error=0.25)[0]
    assert float(t.localization_error) == pytest.approx(0.04)
    with pytest.raises(MissingColumnError, match="no localization error column"):
        bd.read_tracks(p, dt=1.0, localization_error="sigma")


def test_trackmate_spots_csv(tmp_path):
    text = (
        "LABEL,ID,TRACK_ID,QUALITY,POSITION_X,POSITION_Y,POSITION_Z,POSITION_T,FRAME\n"
        "Label,Spot ID,Track ID,Quality,X,Y,Z,T,Frame\n"
        "Label,Spot ID,Track ID,Quality,X,Y,Z,T,Frame\n"
        ",,,(quality),(micron),(micron),(micron),(sec),\n"
        "ID1,1,0,5.0,1.0,2.0,0.0,0.0,0\n"
        "ID2,2,0,5.0,1.5,2.5,0.0,0.05,1\n"
        "ID3,3,,5.0,7.0,7.0,0.0,0.05,1\n"
    )
    p = write(tmp_path, "spots.csv", text)
    with pytest.warns(
        DataWarning, match=r"ignored 1 detections without a track id \(first: row 7\)"
    ):
        ts = bd.read_tracks(p, dt=0.05)
    t = ts[0]
    assert (t.id, t.rows.tolist(), t.dim) == (0, [5, 6], 2)
    with pytest.warns(DataWarning) as record:
        bd.read_tracks(p, dt=0.05, pixel_size=0.1)
    assert any("are in micron already" in str(w.message) for w in record)


def test_frames_from_time_column(tmp_path):
    p = write(tmp_path, "a.csv", "track,time,x\n1,0.10,0\n1,0.15,1\n1,0.25,2\n")
    with pytest.warns(DataWarning, match="frame numbers computed as round"):
        t = bd.read_tracks(p, dt=0.05)[0]
    assert t.frames.tolist() == [2, 3, 5]
    with pytest.raises(
        FileFormatError, match=r"row 3: time 0.15 in column 'time' is not a multiple of dt=0.1"
    ):
        bd.read_tracks(p, dt=0.1)
    with pytest.raises(FileFormatError, match="without dt"):
        bd.read_tracks(p)
    q = write(tmp_path, "b.csv", "track,t,x\n1,0.10,0\n1,0.15,1\n")
    with pytest.raises(FileFormatError, match=r"row 2: frame column 't' .* not an integer"):
        bd.read_tracks(q, dt=0.05)
    with pytest.warns(DataWarning):
        t = bd.read_tracks(q, dt=0.05, columns={"frame": None, "time": "t"})[0]
    assert t.frames.tolist() == [2, 3]


def test_ids_keep_their_values_and_tracks_are_sorted(tmp_path):
    p = write(tmp_path, "a.csv", "particle,frame,x\n10,0,0\n2,0,1\n10,1,0\n2,1,1\n")
    ts = bd.read_tracks(p, dt=1.0)
    assert ts.ids == [2, 10] and all(type(i) is int for i in ts.ids)
    p = write(tmp_path, "b.csv", "particle,frame,x\nb,0,0\na,0,1\nb,1,0\n")
    assert bd.read_tracks(p, dt=1.0).ids == ["a", "b"]
    df = pd.DataFrame({"particle": [3.0, 3.0, np.nan], "frame": [0, 1, 0], "x": [0.0, 1.0, 2.0]})
    with pytest.warns(DataWarning, match="without a track id"):
        assert bd.read_tracks(df, dt=1.0).ids == [3]


# -- bad input ----------------------------------------------------------------------------
def test_nan_and_inf_coordinates(tmp_path):
    p = write(tmp_path, "a.csv", "particle,frame,x,y\n1,0,0,0\n1,1,,0\n1,2,1,1\n")
    with pytest.raises(NonFiniteError, match=r"file 'a.csv', track 1, row 3: non-finite"):
        bd.read_tracks(p, dt=1.0)
    p = write(tmp_path, "b.csv", "particle,frame,x,y\n1,0,0,0\n2,0,0,inf\n2,1,0,0\n")
    with pytest.raises(NonFiniteError, match=r"file 'b.csv', track 2, row 3"):
        bd.read_tracks(p, dt=1.0)
    p = write(tmp_path, "c.csv", "particle,frame,x,y\n1,0,0,0\n1,1,abc,0\n")
    with pytest.raises(FileFormatError, match=r"file 'c.csv', row 3: column 'x' .* not a number"):
        bd.read_tracks(p, dt=1.0)


def test_duplicate_frames(tmp_path):
    p = write(tmp_path, "a.csv", "particle,frame,x\n1,0,0\n2,0,0\n2,1,0\n2,1,1\n")
    with pytest.raises(
        DuplicateFrameError, match=r"file 'a.csv', track 2, row 5: frame 1 appears twice"
    ):
        bd.read_tracks(p, dt=1.0)


def test_unordered_frames_are_sorted_with_a_warning(tmp_path):
    p = write(
        tmp_path, "a.csv", "particle,frame,x\n1,2,2.0\n1,0,0.0\n1,1,1.0\n2,1,5\n2,0,4\n3,0,0\n"
    )
    with pytest.warns(DataWarning, match=r"2 tracks had frames out of order .* \(first: track 1\)"):
        ts = bd.read_tracks(p, dt=1.0)
    t = ts[0]
    assert t.frames.tolist() == [0, 1, 2]
    assert t.positions[:, 0].tolist() == [0.0, 1.0, 2.0]
    assert t.rows.tolist() == [3, 4, 2]  # each point keeps its line


def test_mixed_dimensions(tmp_path):
    p = write(
        tmp_path,
        "a.csv",
        "particle,frame,x,y,z\n1,0,0,0,1\n1,1,0,0,1\n2,0,0,0,\n2,1,1,1,\n3,0,0,0,2\n",
    )
    with pytest.raises(DimensionError, match=r"file 'a.csv', track 2, row 4: has 2 coordinates"):
        bd.read_tracks(p, dt=1.0)
    p = write(tmp_path, "b.csv", "particle,frame,x,y,z\n1,0,0,0,1\n1,1,0,0,\n")
    with pytest.raises(NonFiniteError, match="track 1, row 3"):
        bd.read_tracks(p, dt=1.0)


def test_missing_columns(tmp_path):
    p = write(tmp_path, "a.csv", "particle,x,y\n1,0,0\n")
    with pytest.raises(
        MissingColumnError, match=r"file 'a.csv': no frame column.*'particle', 'x', 'y'"
    ):
        bd.read_tracks(p, dt=1.0)
    p = write(tmp_path, "b.csv", "frame,x,y\n1,0,0\n")
    with pytest.raises(MissingColumnError, match=r"no track id column: looked for \['track_id'"):
        bd.read_tracks(p, dt=1.0)
    p = write(tmp_path, "c.csv", "particle,frame,y\n1,0,0\n")
    with pytest.raises(MissingColumnError, match="no x coordinate column"):
        bd.read_tracks(p, dt=1.0)
    p = write(tmp_path, "d.csv", "particle,frame,x,z\n1,0,0,0\n")
    with pytest.raises(MissingColumnError, match="has a z column .* but no y column"):
        bd.read_tracks(p, dt=1.0)


def test_empty_files(tmp_path):
    for name in ("a.csv", "a.xml", "a.parquet"):
        with pytest.raises(EmptyFileError, match=f"file '{name}': the file is empty"):
            bd.read_tracks(write(tmp_path, name, ""), dt=1.0)
    with pytest.raises(EmptyFileError, match="header but no detections"):
        bd.read_tracks(write(tmp_path, "b.csv", "particle,frame,x\n\n"), dt=1.0)
    p = tmp_path / "b.parquet"
    long_table().iloc[:0].to_parquet(p)
    with pytest.raises(EmptyFileError, match="no detections"):
        bd.read_tracks(p, dt=1.0)
    with pytest.raises(EmptyFileError, match="DataFrame has no rows"):
        bd.read_tracks(long_table().iloc[:0], dt=1.0)
    with pytest.raises(EmptyFileError, match="no <detection>"):
        bd.read_tracks(write(tmp_path, "c.xml", '<Tracks nTracks="0"></Tracks>'))


def test_malformed_xml(tmp_path):
    full = tracks_xml(tmp_path / "full.xml").read_text()
    p = write(tmp_path, "cut.xml", full[: len(full) // 2])
    with pytest.raises(MalformedXMLError, match=r"file 'cut.xml': not well-formed XML: .*line"):
        bd.read_tracks(p)
    p = write(tmp_path, "other.xml", "<svg><g/></svg>")
    with pytest.raises(MalformedXMLError, match=r"root element <svg> is not a TrackMate file"):
        bd.read_tracks(p)
    p = write(tmp_path, "bad.xml", full.replace('x="1.5"', 'x="one"'))
    with pytest.raises(
        MalformedXMLError, match=r"file 'bad.xml', row 1: <detection> attribute x='one'"
    ):
        bd.read_tracks(p)


def test_branching_trackmate_track(tmp_path):
    p = session_xml(tmp_path / "b.xml", branch=True)
    with pytest.raises(
        TrackError, match=r"file 'b.xml', track 0, row 1: the track splits at spot ID 1000"
    ):
        bd.read_tracks(p)
    with pytest.warns(DataWarning, match=r"skipped 1 of 3 tracks \(1 TrackError\)"):
        ts = bd.read_tracks(p, on_error="skip")
    assert ts.ids == [1, 2]


def test_too_short(tmp_path):
    p = write(tmp_path, "a.csv", "particle,frame,x\n1,0,0\n1,1,0\n1,2,0\n5,0,1\n5,1,1\n")
    with pytest.raises(
        TrackTooShortError, match=r"file 'a.csv', track 5, row 5: has 2 points; min_points=3"
    ):
        bd.read_tracks(p, dt=1.0, min_points=3)


def test_missing_dt(tmp_path):
    p = tmp_path / "a.csv"
    long_table().to_csv(p, index=False)
    with pytest.raises(FileFormatError, match=r"file 'a.csv': no frame interval: pass dt="):
        bd.read_tracks(p)
    with pytest.raises(FileFormatError, match="no frame interval"):
        bd.read_tracks(long_table())
    xml = tracks_xml(tmp_path / "t.xml", time_units="frame", interval="1.0")
    with pytest.raises(FileFormatError, match="no frame interval"):
        bd.read_tracks(xml)


def test_bad_arguments(tmp_path):
    df = long_table()
    for kwargs in (
        {"dt": 0.0},
        {"dt": -1},
        {"dt": 1.0, "pixel_size": np.nan},
        {"dt": 1.0, "on_error": "ignore"},
    ):
        with pytest.raises(ParameterError):
            bd.read_tracks(df, **kwargs)
    with pytest.raises(FileFormatError, match=r"unknown file type '.h5'"):
        bd.read_tracks(write(tmp_path, "a.h5", "x"), dt=1.0)


def test_skip_bad_tracks_logs_and_warns(tmp_path, caplog):
    p = write(
        tmp_path,
        "a.csv",
        "particle,frame,x\n1,0,0\n1,1,0\n2,0,0\n2,0,1\n3,0,nan\n3,1,0\n4,0,0\n4,1,1\n5,0,1\n",
    )
    with caplog.at_level(logging.WARNING, logger="bayesdiff.io"):
        with pytest.warns(
            DataWarning,
            match=r"skipped 3 of 5 tracks \(1 DuplicateFrameError, 1 NonFiniteError, "
            r"1 TrackTooShortError\)",
        ):
            ts = bd.read_tracks(p, dt=1.0, on_error="skip", min_points=2)
    assert ts.ids == [1, 4]
    skips = [r.getMessage() for r in caplog.records if r.name == "bayesdiff.io"]
    assert len(skips) == 3
    assert (
        "track 2, row 5" in skips[0]
        and "track 3, row 6" in skips[1]
        and "track 5, row 10" in skips[2]
    )
    # file-level errors still raise
    with pytest.raises(MissingColumnError):
        bd.read_tracks(write(tmp_path, "b.csv", "particle,x\n1,0\n"), dt=1.0, on_error="skip")


def test_good_data_gives_no_warning(tmp_path):
    p = tmp_path / "a.csv"
    long_table().to_csv(p, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bd.read_tracks(p, dt=DT)
        bd.read_tracks(tracks_xml(tmp_path / "t.xml"))
        bd.read_tracks(session_xml(tmp_path / "s.xml"))


# -- example data and describe -------------------------------------------------------------
def test_example_data_in_examples_folder():
    p = REPO / "examples" / "data" / "halotag_nls.csv"
    assert p.stat().st_size < 300_000
    assert (REPO / "examples" / "data" / "LICENSE").read_text().startswith("MIT License")
    assert (REPO / "bayesdiff" / "data" / "halotag_nls.csv").read_bytes() == p.read_bytes()
    ts = bd.read_tracks(p, dt=0.00748, pixel_size=0.16, localization_error=["x_err", "y_err"])
    assert (len(ts), int(ts.lengths.sum()), ts.dim) == (1045, 2236, 2)
    assert ts.ids == sorted(ts.ids)


def test_example_tracks():
    ts = io.example_tracks()
    assert (len(ts), ts.dim, ts.dt) == (1045, 2, 0.00748)
    t = ts.by_id(0)
    assert t.source == "halotag_nls.csv" and t.rows[0] == 5  # line 5 of the CSV
    raw = pd.read_csv(REPO / "bayesdiff" / "data" / "halotag_nls.csv").iloc[3]
    np.testing.assert_allclose(t.positions[0], [raw.x * 0.16, raw.y * 0.16])
    assert t.localization_error[0] == pytest.approx((raw.x_err + raw.y_err) / 2 * 0.16)
    # positions in µm: tens of µm across a nucleus, errors of tens of nm
    assert 5 < np.ptp(np.concatenate([t.positions for t in ts])) < 50
    long = io.example_tracks(min_points=10)
    assert len(long) == 30 and long.lengths.min() >= 10


def test_describe():
    ts = bd.read_tracks(long_table(), dt=DT)
    s = io.describe(ts)
    d = s.to_dict()
    assert (d["n_tracks"], d["n_points"], d["dim"], d["dt"]) == (3, 12, 2, DT)
    assert (d["min_length"], d["median_length"], d["max_length"]) == (3, 4.0, 5)
    assert (d["n_with_gaps"], d["n_missing_frames"]) == (1, 1)
    text = str(s)
    assert "tracks:          3" in text and "1 tracks, 1 missing frames" in text
    assert "    3-4       2  " in s.histogram and "    5-8       1  " in s.histogram
    empty = io.describe(bd.TrackSet())
    assert empty.n_tracks == 0 and empty.histogram == "(no tracks)"


def test_xml_length_units(tmp_path):
    p = tracks_xml(tmp_path / "px.xml", space_units="pixel")
    with pytest.warns(DataWarning, match="coordinates are in pixels; pass pixel_size"):
        bd.read_tracks(p)
    ts = bd.read_tracks(p, pixel_size=0.16)
    np.testing.assert_allclose(ts[0].positions, np.asarray(REF[0][1]) * 0.16)
    ts = bd.read_tracks(tracks_xml(tmp_path / "nm.xml", space_units="nm"))
    np.testing.assert_allclose(ts[0].positions, np.asarray(REF[0][1]) * 1e-3)


def test_bad_localization_error_and_dt_columns(tmp_path):
    p = write(tmp_path, "a.csv", "particle,frame,x,err\n1,0,0,0.1\n1,1,0,-0.1\n")
    with pytest.raises(NonFiniteError, match=r"track 1, row 3: localization error -0.1 is not"):
        bd.read_tracks(p, dt=1.0, localization_error="err")
    p = write(tmp_path, "b.csv", "track_id,frame,x,dt\n1,0,0,0.1\n1,1,0,0.2\n")
    with pytest.raises(TrackError, match=r"track 1, row 3: dt changes within the track"):
        bd.read_tracks(p)
    assert bd.read_tracks(p, dt=0.5).dt == 0.5  # explicit dt wins over the column


def test_atomic_writes_keep_earlier_results_and_usual_mode(tmp_path):
    """A failed write leaves the earlier file as it was and no temporary file behind;
    a successful one gets the usual file mode (not mkstemp's 0600)."""
    import os
    import stat

    from bayesdiff._files import atomic_path

    out = tmp_path / "result.csv"
    out.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "result.csv"
    ]
    with atomic_path(out) as tmp:
        tmp.write_text("new\n")
    umask = os.umask(0)
    os.umask(umask)
    assert out.read_text() == "new\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_write_csv_is_atomic_and_round_trips(tmp_path, monkeypatch):
    from bayesdiff._files import write_csv

    out = tmp_path / "sub" / "table.csv"
    df = pd.DataFrame({"model": ["bm", "fbm"], "log_z": [1.5, -2.25]})
    assert write_csv(df, out) == out
    pd.testing.assert_frame_equal(pd.read_csv(out), df)
    before = out.read_bytes()

    def broken(self, path, *args, **kwargs):
        Path(path).write_text("model,log_z\nbm,")
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="No space left"):
        write_csv(df.iloc[:1], out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["table.csv"]
