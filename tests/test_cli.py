"""The command line: info, simulate, fit, errors."""

import subprocess
import sys

import pandas as pd
import pytest

import bayesdiff as bd
from bayesdiff.cli import main


def quick_fit(tracks, out) -> int:
    """``bayesdiff fit`` with the Brownian model and a short NUTS run."""
    args = ["fit", str(tracks), "--model", "bm", "--draws", "30", "--tune", "30", "--chains", "2"]
    return main([*args, "--quiet", "--out", str(out)])


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert bd.__version__ in capsys.readouterr().out
    assert main([]) == 0


def test_info_on_example_data(capsys):
    assert (
        main(["info", "examples/data/halotag_nls.csv", "--dt", "0.00748", "--pixel-size", "0.16"])
        == 0
    )
    out = capsys.readouterr().out
    assert "1045" in out and "dimension" in out


def test_simulate_then_fit(tmp_path, capsys):
    f = tmp_path / "tracks.csv"
    assert (
        main(
            [
                "simulate",
                "fbm",
                "--alpha",
                "0.5",
                "--D",
                "0.1",
                "--n-steps",
                "40",
                "--dt",
                "0.05",
                "--dim",
                "2",
                "--n-tracks",
                "2",
                "--out",
                str(f),
            ]
        )
        == 0
    )
    ts = bd.read_tracks(f)
    assert len(ts) == 2 and ts[0].n_steps == 40 and ts.dim == 2
    out = tmp_path / "fit"
    assert quick_fit(f, out) == 0
    summ = pd.read_csv(out / "summary.csv")
    assert set(summ.track) == {0, 1} and set(summ.parameter) == {"D"}
    idata = bd.inference.from_netcdf(out / "posterior.nc")
    assert idata.posterior.D.dims == ("chain", "draw", "track")


def test_fit_single_track_writes_plots(tmp_path):
    f = tmp_path / "one.csv"
    assert (
        main(
            ["simulate", "bm", "--D", "0.2", "--n-steps", "30", "--n-tracks", "1", "--out", str(f)]
        )
        == 0
    )
    out = tmp_path / "fit1"
    assert quick_fit(f, out) == 0
    assert (out / "trace.png").stat().st_size > 0 and (out / "posterior.png").exists()


def test_bad_input_exit_code_and_message(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("track_id,frame,x,y\n1,0,0.0,0.0\n1,1,nan,0.1\n1,2,0.2,0.2\n")
    r = subprocess.run(
        [sys.executable, "-m", "bayesdiff.cli", "info", str(bad), "--dt", "0.1"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "bad.csv" in r.stderr and "track 1" in r.stderr and "row 3" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "bayesdiff.cli", "simulate", "nosuchmodel", "--out", str(bad)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "unknown model" in r.stderr
