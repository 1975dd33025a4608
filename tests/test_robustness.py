"""Real tracks through every model and evidence method: a finite result or a named error.

Tracks: short real HaloTag-NLS tracks (regular) and tracks shaped like a
TrackMate export (60 ms frames, µm, missing frames), written as TrackMate XML
and read back. Every model x method x {regular, gapped} x {with, without noise}
must give a finite log evidence or raise a ``bayesdiff.errors`` exception --
never a bare Python/JAX error, never NaN. ``compare_many`` records a model's
failure on a track as a row and writes each track as soon as it is done.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import bayesdiff as bd
from bayesdiff.errors import BayesdiffError, InferenceError, MethodError

#: (model name, quadrature applies)
MODELS = [
    ("bm", True),
    ("bm+noise", True),
    ("fbm", True),
    ("fbm+noise", True),
    ("langevin", True),
    ("langevin+noise", True),
    ("levy", False),
    ("switch2", False),
    ("switch2+noise", False),
]
METHODS = ("auto", "quadrature", "importance", "laplace", "bridge")


def trackmate_xml(path, tracks: bd.TrackSet) -> None:
    """Write tracks as a TrackMate "Tracks" export (µm, frame interval in ms)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<Tracks nTracks="{len(tracks)}" spaceUnits="µm" frameInterval="60.0" timeUnits="ms">',
    ]
    for t in tracks:
        lines.append(f'  <particle nSpots="{t.n_points}">')
        for f, (x, y) in zip(t.frames, t.positions, strict=True):
            lines.append(f'    <detection t="{f + 3}" x="{x + 12.0}" y="{y + 18.0}" z="0.0" />')
        lines.append("  </particle>")
    lines.append("</Tracks>")
    path.write_text("\n".join(lines), encoding="utf-8")


@pytest.fixture(scope="module")
def real_tracks(tmp_path_factory) -> dict[str, bd.Track]:
    """A regular real track and a gapped TrackMate-shaped one (read from XML)."""
    halo = [t for t in bd.io.example_tracks() if not t.has_gaps and t.n_points == 12]
    fbm = bd.models.FBM(noise=True)
    frames = np.r_[0:6, 7:11, 13:17]  # two gaps, 14 points
    sim = fbm.simulate(
        seed=4,
        params={"alpha": 0.8, "D": 0.05, "sigma": 0.03},
        n_steps=len(frames) - 1,
        dt=0.06,
        dim=2,
        frames=frames,
    )
    path = tmp_path_factory.mktemp("trackmate") / "export.xml"
    trackmate_xml(path, sim)
    gapped = bd.read_tracks(path)[0]
    assert gapped.has_gaps and gapped.dt == pytest.approx(0.06)
    return {"regular": halo[0], "gapped": gapped}


def check(model: bd.models.Model, track: bd.Track, method: str, quadrature: bool) -> str:
    """Run one evidence; return what happened ("finite" or the named error's class)."""
    kw = {"draws": 60, "tune": 60, "chains": 2} if method in ("bridge", "auto") else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ev = bd.evidence(model, track, method=method, seed=1, n_draws=500, **kw)
    except BayesdiffError as err:
        if method == "quadrature" and not quadrature:
            assert isinstance(err, MethodError) and "use method=" in str(err)
        else:
            assert isinstance(err, InferenceError), f"{model.name} {method}: {err!r}"
        return type(err).__name__
    assert np.isfinite(ev.log_z), f"{model.name} {method}: {ev}"
    assert ev.method == method or method == "auto"
    assert np.isfinite(ev.log_z_err) or ev.method == "laplace"
    return "finite"


@pytest.mark.parametrize("kind", ["regular", "gapped"])
@pytest.mark.parametrize(
    ("name", "quad"), [m for m in MODELS if m[0] in ("bm+noise", "fbm+noise", "langevin+noise")]
)
def test_trackmate_trio_every_direct_method(real_tracks, kind, name, quad):
    """The models of a typical `bayesdiff compare` on TrackMate data: every method
    that needs no NUTS gives a finite log Z on regular and gapped tracks, or the
    quadrature says it does not apply."""
    model = bd.models.from_name(name)
    outcomes = {m: check(model, real_tracks[kind], m, quad) for m in METHODS[:4]}
    assert outcomes["auto"] == outcomes["importance"] == outcomes["laplace"] == "finite"
    assert outcomes["quadrature"] == ("finite" if quad else "MethodError")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["regular", "gapped"])
@pytest.mark.parametrize(("name", "quad"), MODELS)
def test_every_model_and_method_on_real_tracks(real_tracks, kind, name, quad):
    """Every model x evidence method x {regular, gapped} x {noise, none}."""
    model = bd.models.from_name(name)
    outcomes = {m: check(model, real_tracks[kind], m, quad) for m in METHODS}
    assert outcomes["auto"] == "finite"
    if quad:
        assert outcomes["quadrature"] == "finite"


# -----------------------------------------------------------------------------
# compare_many: failures are rows, tracks are written as soon as they are done
# -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class _FailsOnLongTracks(bd.models.Brownian):
    """A Brownian model whose likelihood raises on tracks padded beyond 32 steps
    (a stand-in for a numerical failure deep inside one track's fit); compared by
    importance sampling, which calls the likelihood (the exact quadrature does not)."""

    def fast_loglik(self, params, data, regular):
        if data.increments.shape[-2] > 32:
            raise FloatingPointError("simulated failure")
        return super().fast_loglik(params, data, regular)


def test_compare_many_records_failures_and_writes_each_track(tmp_path):
    bm = bd.models.Brownian()
    ts = bm.simulate(seed=2, params={"D": 0.1}, n_steps=40, dt=0.05, dim=2, n_tracks=3)
    short = bm.simulate(seed=3, params={"D": 0.1}, n_steps=20, dt=0.05, dim=2, n_tracks=1)
    tracks = bd.TrackSet([ts[0], dataclasses.replace(short[0], id=9), ts[2]])
    models = {"bm": bm, "fragile": _FailsOnLongTracks()}
    seen = []

    def on_track(tid, df):  # each track's file exists before the next one starts
        seen.append((str(tid), sorted(p.name for p in (tmp_path / "tracks").iterdir())))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bd.compare_many(
            models,
            tracks,
            tmp_path,
            progress=False,
            method={"bm": "auto", "fragile": "importance"},
            loo=False,
            evidence_kw={"n_draws": 500},
            on_track=on_track,
        )
    assert [s[0] for s in seen] == ["0", "9", "2"]
    assert [len(s[1]) for s in seen] == [1, 2, 3]
    t = res.table.set_index(["track", "model"])
    for tid in ("0", "2"):  # the fragile model failed there; bm is compared alone
        row = t.loc[(tid, "fragile")]
        assert row["method"] == "failed" and "FloatingPointError: simulated failure" in row["error"]
        assert math.isnan(row["log_z"]) and row["probability"] == 0.0
        assert t.loc[(tid, "bm"), "probability"] == 1.0 and t.loc[(tid, "bm"), "chosen"]
    ok = t.loc[("9", "fragile")]
    assert ok["method"] != "failed" and np.isfinite(ok["log_z"]) and ok["error"] == ""
    summary = res.summary.set_index("model")
    assert summary.loc["fragile", "failed"] == 2 and summary.loc["bm", "failed"] == 0
    on_disk = pd.read_csv(tmp_path / "tracks" / "0.csv")
    assert "simulated failure" in on_disk.loc[on_disk["model"] == "fragile", "error"].item()


def test_compare_refuses_an_inapplicable_method_before_work():
    track = bd.models.Brownian().simulate(seed=0, params={"D": 0.1}, n_steps=20, dt=0.05)[0]
    with pytest.raises(MethodError, match="levy.*quadrature"):
        bd.compare(
            {"bm": bd.models.Brownian(), "levy": bd.models.LevyWalk()},
            track,
            method="quadrature",
            progress=False,
        )


def test_frozen_track_is_a_named_error_and_a_failed_row(tmp_path):
    """A track whose positions stop changing (as TrackMate exports hold lost spots) gets
    RepeatedPositionsError naming the track, from bd.evidence and bd.sample, and a
    'failed' row in compare_many; a few exact repeats (positions on a grid) are fine."""
    from bayesdiff.errors import RepeatedPositionsError

    bm = bd.models.Brownian()
    moving = bm.simulate(seed=5, params={"D": 0.1}, n_steps=30, dt=0.05, dim=2)[0]
    pos = moving.positions.copy()
    pos[10:] = pos[10]  # points 11-30 repeat point 10: 20 of 30 steps
    frozen = dataclasses.replace(moving.with_positions(pos), id="stuck")
    with pytest.raises(RepeatedPositionsError, match=r"track 'stuck': 20 of 30 steps .* point 11 "):
        bd.evidence(bm, frozen)
    with pytest.raises(RepeatedPositionsError):
        bd.sample(bm, frozen, method="grid")
    few = moving.positions.copy()
    few[5] = few[4]  # one repeat: allowed
    assert np.isfinite(bd.evidence(bm, moving.with_positions(few)).log_z)
    res = bd.compare_many({"bm": bm}, bd.TrackSet([moving, frozen]), tmp_path, progress=False,
                          loo=False)  # fmt: skip
    row = res.table.set_index("track").loc["stuck"]
    assert row["method"] == "failed" and "RepeatedPositionsError" in row["error"]
