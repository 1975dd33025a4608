"""The command line: every command, its output files, exit statuses and error messages."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesdiff as bd
from bayesdiff.cli import main

DATA = Path(__file__).resolve().parent.parent / "examples" / "data" / "halotag_nls.csv"
COMMANDS = ["info", "demo", "simulate", "fit", "compare", "train", "predict", "calibrate"]


def quick_fit(tracks, out, *extra) -> int:
    """``bayesdiff fit`` with the Brownian model and a short NUTS run."""
    args = ["fit", str(tracks), "--model", "bm", "--draws", "30", "--tune", "30", "--chains", "2"]
    return main([*args, *extra, "--quiet", "--out", str(out)])


@pytest.fixture(scope="module")
def fbm_file(tmp_path_factory):
    """Three simulated 2-D FBM tracks of 30 steps, written as CSV."""
    ts = bd.models.FBM().simulate(
        seed=3, params={"alpha": 0.6, "D": 0.1}, n_steps=30, dt=0.05, dim=2, n_tracks=3
    )
    path = tmp_path_factory.mktemp("tracks") / "fbm.csv"
    bd.write_tracks(ts, path)
    return path


def error_line(capsys, command: str) -> str:
    """The one-line error message of ``command`` on stderr."""
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith(f"bayesdiff {command}: error: "), err
    return err[-1]


# -----------------------------------------------------------------------------
# the parser
# -----------------------------------------------------------------------------
def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"bayesdiff {bd.__version__}"
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: bayesdiff [-h] [--version] COMMAND ...")
    listed = re.findall(r"^ {4}(\S+)", out, flags=re.MULTILINE)
    assert listed == COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: bayesdiff {command} [-h]")


def test_unknown_command_and_missing_option_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["nosuchcmd"])
    assert e.value.code == 2 and "invalid choice: 'nosuchcmd'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["fit", "tracks.csv"])
    assert e.value.code == 2
    assert "the following arguments are required: --out" in capsys.readouterr().err


def test_module_entry_point_and_bad_input(tmp_path):
    """``python -m bayesdiff.cli``: bad input ends with file, track and row, and status 2."""
    bad = tmp_path / "bad.csv"
    bad.write_text("track_id,frame,x,y\n1,0,0.0,0.0\n1,1,nan,0.1\n1,2,0.2,0.2\n")
    r = subprocess.run(
        [sys.executable, "-m", "bayesdiff.cli", "info", str(bad), "--dt", "0.1"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stdout == ""
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("bayesdiff info: error: ")
    assert "bad.csv" in last and "track 1" in last and "row 3" in last


def test_no_warning_banners(tmp_path, fbm_file):
    """A command prints nothing on stderr, even on the day's first import of ArviZ."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}  # a fresh once-a-day stamp
    r = subprocess.run(
        [sys.executable, "-m", "bayesdiff.cli", "info", str(fbm_file)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0 and "tracks:" in r.stdout
    assert r.stderr == ""


@pytest.mark.parametrize(("env", "expected"), [(None, "agg"), ("svg", "svg")])
def test_main_draws_with_agg_unless_mplbackend_says(monkeypatch, env, expected):
    """A command switches to Agg for its figures; ``MPLBACKEND`` still wins."""
    import matplotlib

    if env is None:
        monkeypatch.delenv("MPLBACKEND", raising=False)
    else:
        monkeypatch.setenv("MPLBACKEND", env)
    matplotlib.use("svg")
    try:
        assert main(["info", str(DATA), "--dt", "0.00748"]) == 0
        assert matplotlib.get_backend().lower() == expected
    finally:
        matplotlib.use("Agg")


# -----------------------------------------------------------------------------
# info, simulate
# -----------------------------------------------------------------------------
def test_info_on_example_data(capsys):
    rc = main(["info", str(DATA), "--dt", "0.00748", "--pixel-size", "0.16"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "tracks:          1045" in out and "dimension:       2" in out


def test_info_missing_file(capsys):
    assert main(["info", "no/such/file.csv"]) == 2
    assert "no/such/file.csv" in error_line(capsys, "info")


def test_simulate_flags_and_param(tmp_path, capsys):
    f = tmp_path / "lang.parquet"
    rc = main([
        "simulate", "langevin", "--D", "0.1", "--k", "2", "--c", "1,-1",
        "--param", "k=3", "--n-steps", "25", "--dt", "0.1", "--dim", "2",
        "--n-tracks", "2", "--seed", "4", "--out", str(f),
    ])  # fmt: skip
    assert rc == 0
    assert capsys.readouterr().out.strip() == f"wrote 2 langevin tracks of 25 steps to {f}"
    ts = bd.read_tracks(f)
    assert len(ts) == 2 and ts[0].n_steps == 25 and ts.dim == 2 and ts[0].dt == pytest.approx(0.1)
    # the same seed and parameters (k from --param) simulate the same tracks
    same = bd.models.Langevin().simulate(
        seed=4, params={"D": 0.1, "k": 3.0, "c": np.array([1.0, -1.0])},
        n_steps=25, dt=0.1, dim=2, n_tracks=2,
    )  # fmt: skip
    np.testing.assert_allclose(ts[1].positions, same[1].positions)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nosuchmodel"], "unknown model 'nosuchmodel'"),
        (["fbm", "--param", "alpha"], "--param expects NAME=VALUE, got 'alpha'"),
    ],
)
def test_simulate_errors(tmp_path, capsys, argv, message):
    out = tmp_path / "x.csv"
    assert main(["simulate", *argv, "--out", str(out)]) == 2
    assert message in error_line(capsys, "simulate")
    assert not out.exists()


# -----------------------------------------------------------------------------
# fit, demo
# -----------------------------------------------------------------------------
def test_simulate_then_fit(tmp_path, capsys):
    f = tmp_path / "tracks.csv"
    rc = main([
        "simulate", "fbm", "--alpha", "0.5", "--D", "0.1", "--n-steps", "40",
        "--dt", "0.05", "--dim", "2", "--n-tracks", "2", "--out", str(f),
    ])  # fmt: skip
    assert rc == 0
    ts = bd.read_tracks(f)
    assert len(ts) == 2 and ts[0].n_steps == 40 and ts.dim == 2
    out = tmp_path / "fit"
    capsys.readouterr()
    assert quick_fit(f, out) == 0
    summ = pd.read_csv(out / "summary.csv")
    assert set(summ.track) == {0, 1} and set(summ.parameter) == {"D"}
    assert {"mean", "sd", "r_hat", "ess_bulk"} <= set(summ.columns)
    idata = bd.inference.from_netcdf(out / "posterior.nc")
    assert idata.posterior.D.dims == ("chain", "draw", "track")
    # per-track fits of several tracks: no figures and no model check
    assert sorted(p.name for p in out.iterdir()) == ["posterior.nc", "summary.csv"]
    assert f"results in {out}/: posterior.nc, summary.csv\n" in capsys.readouterr().out


def test_fit_single_track_writes_plots_and_model_check(tmp_path, capsys, png):
    f = tmp_path / "one.csv"
    rc = main(
        ["simulate", "bm", "--D", "0.2", "--n-steps", "30", "--n-tracks", "1", "--out", str(f)]
    )
    assert rc == 0
    out = tmp_path / "fit1"
    assert quick_fit(f, out) == 0
    for name in ("trace.png", "posterior.png"):
        assert min(png(out / name)) >= 200  # pixels: a figure of a few inches
    check = pd.read_csv(out / "model_check.csv")
    assert len(check) > 0 and "p_value" in check.columns
    captured = capsys.readouterr()
    assert "posterior.nc, summary.csv, model_check.csv" in captured.out
    # the sampler's diagnostics warnings (30 draws) are printed, one line each
    assert all(line.startswith("warning: ") for line in captured.err.strip().splitlines())


def test_fit_pooled_grid(tmp_path, fbm_file):
    """The grid posterior (with its boolean ``grid_converged`` attribute) goes to netCDF."""
    out = tmp_path / "pooled"
    assert quick_fit(fbm_file, out, "--pooled", "--method", "grid") == 0
    back = bd.inference.from_netcdf(out / "posterior.nc")
    assert back.attrs["method"] == "grid" and back.attrs["grid_converged"] in (0, 1)
    summ = pd.read_csv(out / "summary.csv")
    assert "track" not in summ.columns and list(summ.parameter) == ["D"]
    assert (out / "trace.png").exists() and not (out / "model_check.csv").exists()


def test_fit_per_track_auto(tmp_path, fbm_file):
    """--method auto on several tracks: exact grid posteriors per track, the method of
    each track in posterior.nc, one summary row per track and parameter."""
    out = tmp_path / "auto"
    assert quick_fit(fbm_file, out, "--method", "auto") == 0
    back = bd.inference.from_netcdf(out / "posterior.nc")
    assert list(back.constant_data["method"].values) == ["grid"] * 3
    summ = pd.read_csv(out / "summary.csv")
    assert len(summ) == 3 and list(summ.parameter) == ["D"] * 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "grid", "--model", "levy"], "method='grid' does not apply to levy"),
        (["--min-points", "1000"], "no track has at least 1000 points"),
        (["--model", "nosuch"], "unknown model 'nosuch'"),
    ],
)
def test_fit_errors(tmp_path, capsys, fbm_file, extra, message):
    assert quick_fit(fbm_file, tmp_path / "o", *extra) == 2
    assert message in error_line(capsys, "fit")


@pytest.mark.slow  # ~40 s: it compiles FBM's NUTS and two quadratures
def test_demo_on_small_data(tmp_path, capsys, monkeypatch):
    """The demo's two parts, with the shipped tracks replaced by two short simulated ones."""
    import bayesdiff.cli.fit as cli_fit

    small = bd.models.Brownian(noise=True).simulate(
        seed=1, params={"D": 0.1, "sigma": 0.02}, n_steps=30, dt=0.05, dim=2, n_tracks=2
    )
    monkeypatch.setattr(cli_fit, "example_tracks", lambda min_points: small)
    out = tmp_path / "demo"
    rc = main(["demo", "--out", str(out), "--draws", "20", "--n-sim", "2", "--quiet"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "halotag_bm_noise_pooled.csv",
        "halotag_fbm_noise_pooled.csv",
        "halotag_tracks.png",
        "simulated_fbm_summary.csv",
    ]
    assert set(pd.read_csv(out / "simulated_fbm_summary.csv").track) == {0, 1}
    assert set(pd.read_csv(out / "halotag_fbm_noise_pooled.csv").parameter) == {
        "alpha",
        "D",
        "sigma",
    }
    text = capsys.readouterr().out
    assert "2 tracks with >= 10 points" in text
    assert "log Bayes factor fbm+noise vs bm+noise: " in text
    assert text.rstrip().endswith(f"results written to {out}/")


# -----------------------------------------------------------------------------
# compare
# -----------------------------------------------------------------------------
def test_compare_command(tmp_path, fbm_file, capsys, png):
    out = tmp_path / "out"
    args = ["compare", str(fbm_file), "--models", "bm,fbm", "--out", str(out), "--no-loo"]
    assert main([*args, "--verbose"]) == 0
    table = pd.read_csv(out / "comparison.csv")
    assert len(table) == 6 and set(table.model) == {"bm", "fbm"}
    np.testing.assert_allclose(table.groupby("track").probability.sum(), 1.0)
    per_track = pd.read_csv(out / "per_track.csv")
    assert list(per_track.columns) == [
        "track", "chosen", "p_bm", "p_fbm", "log_z_bm", "log_z_fbm",
    ]  # fmt: skip
    assert len(per_track) == 3 and set(per_track.chosen) <= {"bm", "fbm"}
    summary = pd.read_csv(out / "summary.csv")
    assert summary.wins.sum() == 3 and set(summary.model) == {"bm", "fbm"}
    assert sorted(p.name for p in (out / "tracks").iterdir()) == ["0.csv", "1.csv", "2.csv"]
    assert min(png(out / "comparison.png")) >= 200
    printed = capsys.readouterr().out
    assert f"wrote {out / 'comparison.csv'}, per_track.csv" in printed
    assert "  bm: quadrature 3\n  fbm: quadrature 3" in printed  # --verbose


def test_compare_pooled(tmp_path, fbm_file):
    out = tmp_path / "pooled"
    rc = main(["compare", str(fbm_file), "--models", "bm,fbm", "--pooled", "--no-loo",
               "--out", str(out)])  # fmt: skip
    assert rc == 0
    table = pd.read_csv(out / "comparison.csv")
    assert list(table.track) == ["pooled", "pooled"] and set(table.n_steps) == {90}
    assert len(pd.read_csv(out / "per_track.csv")) == 1
    assert pd.read_csv(out / "summary.csv").wins.sum() == 1
    assert not (out / "tracks").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--models", "bm,nosuch"], "nosuch"),
        (["--min-points", "1000"], "no track has 1000 or more points"),
    ],
)
def test_compare_errors(tmp_path, capsys, fbm_file, extra, message):
    assert main(["compare", str(fbm_file), "--out", str(tmp_path / "o"), *extra]) == 2
    assert message in error_line(capsys, "compare")


# -----------------------------------------------------------------------------
# train, predict
# -----------------------------------------------------------------------------
def test_train_passes_options(tmp_path, capsys, monkeypatch):
    """The options reach ``bd.neural.train`` parsed (the training itself is tested elsewhere)."""
    seen = {}

    class Trained:
        def __repr__(self):
            return "Ensemble()"

    def fake_train(**kw):
        seen.update(kw)
        return Trained()

    monkeypatch.setattr(bd.neural, "train", fake_train)
    rc = main(["train", "--out", str(tmp_path), "--models", "bm, fbm", "--lengths", "20,60",
               "--dims", "2", "--members", "3", "--kind", "cnn", "--quiet"])  # fmt: skip
    assert rc == 0
    assert seen["models"] == ["bm", "fbm"] and seen["lengths"] == (20, 60)
    assert seen["dims"] == (2,) and seen["members"] == 3 and seen["n_train"] == 200_000
    assert seen["architecture"].kind == "cnn" and seen["progress"] is False
    assert seen["out"] == str(tmp_path) and seen["minutes"] is None
    assert f"trained Ensemble() in 0 s; saved to {tmp_path}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--lengths", "20"], "--lengths expects MIN,MAX, got '20'"),
        (["--dims", "1,x"], "--dims expects comma-separated integers, got '1,x'"),
    ],
)
def test_train_errors(tmp_path, capsys, extra, message):
    assert main(["train", "--out", str(tmp_path), *extra]) == 2
    assert message in error_line(capsys, "train")


def test_predict_on_real_data(tmp_path, capsys):
    out = tmp_path / "pred"
    rc = main(["predict", str(DATA), "--dt", "0.00748", "--pixel-size", "0.16",
               "--out", str(out), "--netcdf", "--draws", "20"])  # fmt: skip
    assert rc == 0
    pred = pd.read_csv(out / "predictions.csv")
    skipped = pd.read_csv(out / "skipped.csv")
    n_all = len(bd.read_tracks(DATA, dt=0.00748, pixel_size=0.16))
    assert len(pred) + len(skipped) == n_all and len(pred) > 0
    assert list(skipped.columns) == ["track", "n_points", "reason"]
    assert skipped["n_points"].max() < bd.neural.default_ensemble().min_length
    assert np.all(np.isfinite(pred["alpha_mean"])) and "p_fbm" in pred.columns
    captured = capsys.readouterr()
    assert f"skipped {len(skipped)} of {n_all} tracks" in captured.err
    assert captured.out.strip() == (
        f"wrote {len(pred)} predictions to {out / 'predictions.csv'} "
        f"and draws to {out / 'predictions.nc'}"
    )
    idata = bd.inference.from_netcdf(out / "predictions.nc")
    assert idata.posterior.sizes["track"] == len(pred)


def test_predict_errors(tmp_path, capsys, fbm_file):
    rc = main(["predict", str(DATA), "--dt", "0.00748", "--network", str(tmp_path),
               "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2 and "no manifest" in error_line(capsys, "predict")
    short = tmp_path / "short.csv"
    bd.write_tracks(bd.models.Brownian().simulate(0, {"D": 0.1}, 4, 0.05, n_tracks=2), short)
    assert main(["predict", str(short), "--out", str(tmp_path / "s")]) == 2
    assert "no track can be read by the network" in error_line(capsys, "predict")
    assert len(pd.read_csv(tmp_path / "s" / "skipped.csv")) == 2


# -----------------------------------------------------------------------------
# calibrate
# -----------------------------------------------------------------------------
def test_calibrate_tiny(tmp_path, capsys, png):
    rc = main(["calibrate", "--models", "fbm", "--lengths", "20", "--n-tracks", "6",
               "--estimators", "msd", "--out", str(tmp_path), "--no-progress"])  # fmt: skip
    assert rc == 0
    table = pd.read_csv(tmp_path / "calibration_table.csv")
    assert set(table.estimator) == {"msd"} and set(table.parameter) == {"alpha", "logD"}
    assert set(table.n) == {6} and {"cov90", "ence", "mae"} <= set(table.columns)
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# Calibration study") and "| msd | fbm |" in report
    assert sorted(p.name for p in tmp_path.glob("calibration_*.png")) == [
        "calibration_coverage_fbm.png",
        "calibration_mae_vs_length.png",
        "calibration_reliability_fbm.png",
        "calibration_sbc_fbm.png",
    ]
    assert all(min(png(p)) >= 200 for p in tmp_path.glob("calibration_*.png"))
    out = capsys.readouterr().out
    assert out.startswith("| estimator | model |")
    assert f"wrote {tmp_path}/calibration_table.csv, report.md and 4 figures" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--models", "nosuch"], "--models: unknown model 'nosuch' (known: fbm,"),
        (["--models", ","], "--models: give at least one model"),
        (["--misspecified", "nosuch"], "--models: unknown model 'nosuch'"),
        (["--lengths", "2"], "--lengths: give track lengths >= 3"),
        (["--lengths", "a,b"], "--lengths/--snr: "),
        (["--snr", "high"], "--lengths/--snr: "),
        (["--n-tracks", "0"], "--n-tracks must be >= 1"),
        (["--estimators", "magic"], "--estimators: unknown estimator 'magic'"),
    ],
)
def test_calibrate_errors(tmp_path, capsys, argv, message):
    rc = main(["calibrate", "--out", str(tmp_path), "--no-progress", *argv])
    assert rc == 2
    assert message in error_line(capsys, "calibrate")
    assert not any(tmp_path.iterdir())
