"""Track and TrackSet: shapes, time, gaps, filtering, indexing, batching and every error."""

import numpy as np
import pytest

import bayesdiff as bd
from bayesdiff.errors import (
    DimensionError,
    DuplicateFrameError,
    NonFiniteError,
    RepeatedPositionsError,
    TrackError,
    TrackTooShortError,
    UnorderedFramesError,
)


def make(n, dim=2, dt=0.1, id=None, frames=None, seed=0):
    pos = np.random.default_rng(seed).normal(size=(n, dim)).cumsum(axis=0)
    return bd.Track(pos, dt=dt, frames=frames, id=id)


# -- Track: shapes and time ----------------------------------------------------------
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_shapes(dim):
    t = make(6, dim=dim)
    assert t.positions.shape == (6, dim)
    assert (t.n_points, t.n_steps, t.dim, len(t)) == (6, 5, dim, 6)
    assert t.increments.shape == (5, dim)
    np.testing.assert_allclose(t.increments, np.diff(t.positions, axis=0))
    assert t.frames.tolist() == list(range(6))
    assert t.frames.dtype == np.int64 and t.positions.dtype == np.float64


def test_one_dimensional_input_is_a_column():
    t = bd.Track([0.0, 1.0, 3.0], dt=0.5)
    assert t.positions.shape == (3, 1)
    assert t.increments[:, 0].tolist() == [1.0, 2.0]


def test_times_and_lags_without_gaps():
    t = make(4, dt=0.25, frames=[10, 11, 12, 13])
    assert t.times.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert t.lags.tolist() == [1, 1, 1]
    assert t.time_lags.tolist() == [0.25, 0.25, 0.25]
    assert (t.n_missing, t.has_gaps) == (0, False)


def test_gaps_are_kept():
    t = make(4, dt=0.1, frames=[0, 1, 4, 5])
    assert t.lags.tolist() == [1, 3, 1]
    np.testing.assert_allclose(t.time_lags, [0.1, 0.3, 0.1])
    np.testing.assert_allclose(t.times, [0.0, 0.1, 0.4, 0.5])
    assert (t.n_missing, t.has_gaps) == (2, True)
    assert t.increments.shape == (3, 2)  # one increment per observed pair, no interpolation
    assert "2 missing frames" in repr(t)


def test_single_point_track():
    t = make(1)
    assert (t.n_points, t.n_steps, t.n_missing, t.has_gaps) == (1, 0, 0, False)
    assert t.increments.shape == (0, 2)


def test_immutable_arrays():
    t = make(3)
    with pytest.raises(ValueError):
        t.positions[0, 0] = 1.0
    with pytest.raises(ValueError):
        t.frames[0] = 5


def test_localization_error_scalar_and_per_point():
    assert make(3).localization_error is None
    t = bd.Track(np.zeros((3, 2)), dt=1.0, localization_error=0.02)
    assert t.localization_error.shape == () and float(t.localization_error) == 0.02
    t = bd.Track(np.zeros((3, 2)), dt=1.0, localization_error=[0.1, 0.2, 0.3])
    assert t.localization_error.tolist() == [0.1, 0.2, 0.3]


def test_with_positions_keeps_frames_dt_and_id():
    t = make(4, frames=[0, 2, 3, 4], id="a")
    u = t.with_positions(np.ones((4, 2)))
    assert (u.id, u.dt, u.frames.tolist()) == ("a", t.dt, [0, 2, 3, 4])
    assert u.positions.sum() == 8


def test_require():
    t = bd.Track(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.5]]), dt=1.0, id=7, source="a.csv")
    t.require(3)
    with pytest.raises(TrackTooShortError, match=r"file 'a.csv', track 7: has 3 points; FBM"):
        t.require(4, "FBM")
    # half the steps frozen is allowed; more than half is not
    t.with_positions(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]])).require(3)
    frozen = bd.Track(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]), dt=1.0, id=7)
    with pytest.raises(RepeatedPositionsError, match=r"track 7: 2 of 3 steps .* point 2 on"):
        frozen.require(2, "FBM")


# -- Track: every error path ------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 4), (3, 0), (2, 2, 2)])
def test_bad_dimension(shape):
    with pytest.raises(DimensionError, match="track 'a'.*positions must have shape"):
        bd.Track(np.zeros(shape), dt=1.0, id="a")


def test_non_finite_names_track_and_row():
    pos = np.zeros((4, 2))
    pos[2, 1] = np.nan
    with pytest.raises(NonFiniteError, match=r"track 3, row 2: non-finite coordinate"):
        bd.Track(pos, dt=1.0, id=3)
    pos[2, 1] = np.inf
    with pytest.raises(NonFiniteError, match=r"file 'f.csv', track 3, row 12"):
        bd.Track(pos, dt=1.0, id=3, source="f.csv", rows=[10, 11, 12, 13])


def test_rows_shape():
    with pytest.raises(TrackError, match=r"rows has shape \(2,\), expected \(3,\)"):
        bd.Track(np.zeros((3, 2)), dt=1.0, rows=[1, 2])


@pytest.mark.parametrize("dt", [0.0, -1.0, np.nan, np.inf])
def test_bad_dt(dt):
    with pytest.raises(TrackError, match="dt must be a positive number"):
        bd.Track(np.zeros((3, 2)), dt=dt)


def test_frames_shape():
    with pytest.raises(TrackError, match=r"frames has shape \(2,\), expected \(3,\)"):
        bd.Track(np.zeros((3, 2)), dt=1.0, frames=[0, 1])


@pytest.mark.parametrize("bad", [0.5, np.nan])
def test_non_integer_frames(bad):
    with pytest.raises(TrackError, match=r"row 1: frame numbers must be integers"):
        bd.Track(np.zeros((3, 2)), dt=1.0, frames=[0.0, bad, 2.0])


def test_duplicate_frame_names_row():
    with pytest.raises(DuplicateFrameError, match=r"track 5, row 22: frame 1 appears twice"):
        bd.Track(np.zeros((3, 2)), dt=1.0, frames=[0, 1, 1], id=5, rows=[20, 21, 22])


def test_unordered_frames_names_row():
    with pytest.raises(UnorderedFramesError, match=r"track 5, row 2: frame 1 comes after frame 3"):
        bd.Track(np.zeros((3, 2)), dt=1.0, frames=[0, 3, 1], id=5)


def test_bad_localization_error():
    with pytest.raises(
        TrackError, match=r"localization_error must be a scalar or have shape \(3,\)"
    ):
        bd.Track(np.zeros((3, 2)), dt=1.0, localization_error=[0.1, 0.2])
    with pytest.raises(NonFiniteError, match="localization_error must be finite and >= 0"):
        bd.Track(np.zeros((3, 2)), dt=1.0, localization_error=-0.1)
    with pytest.raises(NonFiniteError, match="localization_error must be finite and >= 0"):
        bd.Track(np.zeros((3, 2)), dt=1.0, localization_error=[0.1, np.nan, 0.1])


def test_errors_are_value_errors_with_attributes():
    with pytest.raises(ValueError) as info:
        bd.Track(np.zeros((2, 2)), dt=1.0, frames=[4, 4], id="q", source="s.csv", rows=[7, 8])
    err = info.value
    assert isinstance(err, bd.errors.BayesdiffError)
    assert (err.file, err.track, err.row) == ("s.csv", "q", 8)


# -- TrackSet ------------------------------------------------------------------------
@pytest.fixture
def ts():
    return bd.TrackSet(
        [
            make(5, id="a", seed=1),
            make(9, id="b", seed=2, frames=[0, 1, 2, 3, 5, 6, 7, 8, 9]),
            make(12, id="c", seed=3),
            make(3, id="d", seed=4),
        ]
    )


def test_trackset_basics(ts):
    assert len(ts) == 4 and ts.dim == 2 and ts.dt == 0.1
    assert ts.ids == ["a", "b", "c", "d"]
    assert ts.lengths.tolist() == [5, 9, 12, 3]
    assert ts.lengths.dtype == np.int64
    assert [t.id for t in ts] == ts.ids
    assert "4 tracks" in repr(ts) and "1 with gaps" in repr(ts)
    assert repr(bd.TrackSet()) == "TrackSet(0 tracks)"
    assert bd.TrackSet().dim == 0


def test_indexing(ts):
    assert ts[0].id == "a" and ts[-1].id == "d"
    assert isinstance(ts[1:3], bd.TrackSet) and ts[1:3].ids == ["b", "c"]
    assert ts[[3, 0]].ids == ["d", "a"]
    assert ts[np.array([2])].ids == ["c"]
    assert ts[np.array([True, False, True, False])].ids == ["a", "c"]
    assert ts.by_id("c") is ts[2]
    with pytest.raises(KeyError):
        ts.by_id("zz")
    with pytest.raises(IndexError):
        ts[10]


def test_filter_and_add(ts):
    assert ts.filter(min_points=5).ids == ["a", "b", "c"]
    assert ts.filter(max_points=5).ids == ["a", "d"]
    assert ts.filter(5, 9).ids == ["a", "b"]
    both = ts[:1] + ts[3:]
    assert both.ids == ["a", "d"]


def test_trackset_errors():
    with pytest.raises(TypeError, match="TrackSet item 1 is a ndarray"):
        bd.TrackSet([make(3), np.zeros((3, 2))])
    with pytest.raises(DimensionError, match=r"file 'x.csv', track 'b': has 3 coordinates"):
        bd.TrackSet([make(3, id="a"), bd.Track(np.zeros((3, 3)), dt=0.1, id="b", source="x.csv")])
    mixed = bd.TrackSet([make(3, dt=0.1), make(3, dt=0.2)])
    with pytest.raises(ValueError, match="2 different frame intervals"):
        _ = mixed.dt


# -- batches -------------------------------------------------------------------------
def test_next_power_of_two():
    from bayesdiff.tracks import next_power_of_two

    assert [next_power_of_two(n) for n in range(-2, 10)] == [1, 1, 1, 1, 2, 4, 4, 8, 8, 8, 8, 16]
    for k in range(0, 62):
        p = 2**k
        assert next_power_of_two(p) == p
        assert next_power_of_two(p + 1) == 2 * p
        if p > 2:
            assert next_power_of_two(p - 1) == p
    assert isinstance(next_power_of_two(np.int64(5)), int)


def test_batches_pow2(ts):
    batches = ts.batches()
    # increments: a 4, b 8 (gaps), c 11, d 2 -> buckets (2, -), (4, -), (8, gaps), (16, -)
    assert [(b.increments.shape[1], b.regular) for b in batches] == [
        (2, True),
        (4, True),
        (8, False),
        (16, True),
    ]
    seen = sorted(int(i) for b in batches for i in b.index)
    assert seen == [0, 1, 2, 3]
    for b in batches:
        for row, i in enumerate(b.index):
            t = ts[int(i)]
            n = t.n_steps
            np.testing.assert_array_equal(b.increments[row, :n], t.increments)
            assert (b.increments[row, n:] == 0).all()
            np.testing.assert_array_equal(b.lags[row, :n], t.lags)
            assert (b.lags[row, n:] == 1).all()
            assert b.mask[row].tolist() == [True] * n + [False] * (b.mask.shape[1] - n)
            assert b.dt[row] == t.dt


def test_batches_exact_and_multiple():
    ts = bd.TrackSet([make(n, id=n, seed=n) for n in (4, 4, 6, 11)])
    exact = ts.batches("exact")
    assert [b.increments.shape for b in exact] == [(2, 3, 2), (1, 5, 2), (1, 10, 2)]
    assert exact[0].index.tolist() == [0, 1]
    assert exact[0].mask.all()
    by5 = ts.batches(5)
    assert [b.increments.shape[:2] for b in by5] == [(3, 5), (1, 10)]
    assert by5[0].mask.sum(axis=1).tolist() == [3, 3, 5]


def test_batches_gap_tracks_batch_separately():
    ts = bd.TrackSet([make(5, id=0), make(5, id=1, frames=[0, 1, 2, 4, 5])])
    b = ts.batches()
    assert len(b) == 2
    assert [x.regular for x in b] == [True, False]
    assert b[1].lags[0].tolist() == [1, 1, 2, 1]


def test_batches_too_short():
    ts = bd.TrackSet([make(5, id=0), bd.Track(np.zeros((1, 2)), dt=0.1, id=9, source="f.csv")])
    with pytest.raises(TrackTooShortError, match=r"file 'f.csv', track 9: has 1 points"):
        ts.batches()
    with pytest.raises(TrackTooShortError, match="track 0: has 5 points"):
        ts[:1].batches(min_steps=5)
