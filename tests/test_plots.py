"""Figures: what each plot draws, PNG files, and no global state set at import.

Every figure is built from small hand-made tables, so each test checks the
drawn data (line and bar coordinates, panels, titles) against the table it
came from.
"""

import os
import struct
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import bayesdiff as bd
from bayesdiff import plots
from bayesdiff.calibration import coverage_from_pit, ence


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


# -----------------------------------------------------------------------------
# import and files
# -----------------------------------------------------------------------------
def test_import_leaves_the_backend_alone():
    """A user's backend survives ``import bayesdiff`` and ``import bayesdiff.plots``."""
    code = (
        "import matplotlib; matplotlib.use('svg'); "
        "import bayesdiff, bayesdiff.plots, bayesdiff.calibration; "
        "print(matplotlib.get_backend())"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert out.stdout.strip() == "svg"


def _full_figure(width_in: float, height_in: float):
    """A figure whose content fills it exactly (an image on axes spanning the figure)."""
    fig = plt.figure(figsize=(width_in, height_in))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(np.zeros((4, 8)), aspect="auto")
    ax.axis("off")
    return fig


def test_save_figure_writes_a_png_of_the_right_size_atomically(tmp_path):
    fig = _full_figure(2.0, 1.0)
    path = plots.save_figure(fig, tmp_path / "sub" / "fig.png", dpi=50)
    assert path == tmp_path / "sub" / "fig.png"
    # 2 x 1 inches plus the tight bounding box's 0.1-inch pad on every side, at 50 dpi
    assert _png_size(path) == (110, 60)
    assert not plt.fignum_exists(fig.number)  # closed
    assert sorted(p.name for p in path.parent.iterdir()) == ["fig.png"]  # no temporary file


def test_save_figure_failure_keeps_the_earlier_file(tmp_path, monkeypatch):
    path = plots.save_figure(_full_figure(2.0, 1.0), tmp_path / "fig.png", dpi=50)
    before = path.read_bytes()
    fig = _full_figure(4.0, 4.0)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        plots.save_figure(fig, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
    assert not plt.fignum_exists(fig.number)


# -----------------------------------------------------------------------------
# tracks, posteriors, checks, comparisons
# -----------------------------------------------------------------------------
def test_plot_tracks_draws_one_line_per_track():
    ts = bd.models.Brownian().simulate(0, {"D": 0.1}, 20, 0.1, dim=2, n_tracks=5)
    fig = plots.plot_tracks(ts, max_tracks=3)
    (ax,) = fig.axes
    assert len(ax.lines) == 3
    np.testing.assert_array_equal(ax.lines[1].get_xdata(), ts[1].positions[:, 0])
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), ts[1].positions[:, 1])
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_aspect()) == ("x", "y", 1.0)
    one = bd.models.Brownian().simulate(0, {"D": 0.1}, 20, 0.1, dim=1)[0]
    (ax,) = plots.plot_tracks(one).axes
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), one.times)
    assert ax.get_xlabel() == "time (s)"


def test_plot_model_check_lines_scale_and_title():
    df = pd.DataFrame({"scale": [1, 2, 4, 8], "p_value": [0.4, 0.2, 0.01, 0.5],
                       "p_value_upper": [0.6, 0.8, 0.99, 0.5]})  # fmt: skip
    df.attrs["model"] = "fbm"
    (ax,) = plots.plot_model_check(df, level=0.01).axes
    assert len(ax.lines) == 3  # p_value, p_value_upper, the level
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), df["p_value"])
    assert ax.lines[2].get_ydata()[0] == 0.01
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4", "8"]
    assert ax.get_title().endswith(": fbm")
    (ax,) = plots.plot_model_check(df.drop(columns="p_value_upper")).axes
    assert len(ax.lines) == 2


def test_plot_trace_and_posterior_have_a_panel_per_parameter():
    from bayesdiff.inference._arviz import build_inference_data

    rng = np.random.default_rng(0)
    idata = build_inference_data({"alpha": rng.normal(size=(2, 50)), "D": rng.random((2, 50))})
    fig = plots.plot_trace(idata)
    assert len(fig.axes) == 4  # density and trace of each parameter
    titles = {ax.get_title() for ax in plots.plot_posterior(idata, ["alpha"]).axes}
    assert titles == {"alpha"}


def _comparison_table():
    rows = []
    for track, probs in (("a", (0.9, 0.1)), ("b", (0.3, 0.7)), ("c", (0.8, 0.2))):
        for model, p in zip(("bm", "fbm"), probs):
            rows.append({"track": track, "model": model, "probability": p,
                         "log_z": np.log(p), "chosen": p == max(probs)})  # fmt: skip
    return pd.DataFrame(rows)


def test_plot_comparison_stacks_probabilities_and_counts_wins():
    table = _comparison_table()
    summary = pd.DataFrame({"model": ["bm", "fbm"], "wins": [2, 1]})
    fig = plots.plot_comparison(table, summary)
    ax1, ax2 = fig.axes[:2]
    bars = ax1.patches
    assert len(bars) == 6  # 3 tracks x 2 models
    np.testing.assert_allclose([b.get_height() for b in bars], [0.9, 0.3, 0.8, 0.1, 0.7, 0.2])
    np.testing.assert_allclose([b.get_y() for b in bars[3:]], [0.9, 0.3, 0.8])  # stacked
    assert [t.get_text() for t in ax1.get_xticklabels()] == ["a", "b", "c"]
    assert [b.get_width() for b in ax2.patches] == [2, 1]
    assert [t.get_text() for t in ax2.get_yticklabels()] == ["bm", "fbm"]
    fig = plots.plot_comparison(table, summary, max_tracks=2)
    assert len(fig.axes[0].patches) == 4


def test_plot_comparison_computes_the_summary():
    fig = plots.plot_comparison(_comparison_table())
    assert [b.get_width() for b in fig.axes[1].patches] == [2, 1]


# -----------------------------------------------------------------------------
# calibration figures
# -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def per_track():
    """Two estimators x (alpha, logD) x lengths 50, 100; 'tight' is over-confident."""
    rng = np.random.default_rng(1)
    frames = []
    for est, factor, n_draws in (("bayes", 1.0, 99), ("tight", 0.3, 0)):
        for par in ("alpha", "logD"):
            for length in (50, 100):
                n = 60
                truth = rng.normal(size=n)
                mean = truth + rng.normal(size=n) * 0.5
                sd = np.full(n, 0.5 * factor)
                pit = 0.5 * (1 + np.tanh((truth - mean) / sd))
                df = pd.DataFrame({
                    "estimator": est, "model": "fbm", "fit_model": "fbm", "parameter": par,
                    "length": length, "snr": np.inf, "track": np.arange(n), "truth": truth,
                    "mean": mean, "sd": sd, "pit": pit, "n_draws": n_draws,
                    "rank": np.minimum(np.floor(pit * (n_draws + 1)), n_draws) if n_draws else -1,
                    "crps": np.abs(truth - mean), "seconds_per_track": 0.01,
                })  # fmt: skip
                for level, z in ((50, 0.674), (90, 1.645), (95, 1.96)):
                    df[f"in{level}"] = (np.abs(truth - mean) <= z * sd).astype(float)
                frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _visible(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_plot_reliability_panels_and_points(per_track):
    fig = plots.plot_reliability(per_track, n_bins=3)
    axes = _visible(fig)
    assert [ax.get_title() for ax in axes] == [
        "alpha, n = 50", "alpha, n = 100", "logD, n = 50", "logD, n = 100"
    ]  # fmt: skip
    assert fig.get_suptitle() == "reliability: fbm"
    ax = axes[0]
    assert len(ax.lines) == 3  # two estimators and the diagonal
    g = per_track[(per_track["parameter"] == "alpha") & (per_track["length"] == 50)]
    e = g[g["estimator"] == "tight"]
    r = ence(e["mean"], e["sd"], e["truth"], 3)
    np.testing.assert_allclose(ax.lines[1].get_xdata(), r.table["rmv"])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), r.table["rmse"])
    assert ax.get_legend().get_texts()[1].get_text().startswith(f"tight (ENCE {r.ence:.2f}")
    assert plots.plot_reliability(per_track.assign(sd=np.nan)) is None


def test_plot_coverage_curves_follow_the_pits(per_track):
    fig = plots.plot_coverage_curves(per_track)
    ax = _visible(fig)[0]
    levels = np.linspace(0.02, 0.98, 49)
    g = per_track[(per_track["parameter"] == "alpha") & (per_track["length"] == 50)]
    curves = [ln for ln in ax.lines if len(ln.get_xdata()) == len(levels)]
    assert len(curves) == 2
    want = coverage_from_pit(g.loc[g["estimator"] == "tight", "pit"], levels)
    np.testing.assert_allclose(curves[1].get_ydata(), want)
    assert want[-1] < 0.7  # over-confident: far below the diagonal at high levels
    assert plots.plot_coverage_curves(per_track.assign(pit=np.nan)) is None


def test_plot_sbc_ecdf_one_curve_per_estimator(per_track):
    fig = plots.plot_sbc_ecdf(per_track)
    axes = _visible(fig)
    assert len(axes) == 4
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels == ["bayes (n=60)", "tight (n=60)"]
    assert "95% simultaneous bands" in fig.get_suptitle()


def test_plot_error_vs_length_draws_the_metric(per_track):
    table = bd.calibration.summarize(per_track)
    fig = plots.plot_error_vs_length(table)
    axes = _visible(fig)
    assert [ax.get_title() for ax in axes] == ["fbm: alpha", "fbm: logD"]
    ax = axes[0]
    assert ax.get_ylabel() == "MAE" and ax.get_xscale() == "log"
    rows = table[(table["parameter"] == "alpha") & (table["estimator"] == "tight")]
    line = [ln for ln in ax.lines if ln.get_label().startswith("tight")][0]
    np.testing.assert_allclose(line.get_xdata(), [50, 100])
    np.testing.assert_allclose(line.get_ydata(), rows.sort_values("length")["mae"])
    assert plots.plot_error_vs_length(table, metric="nosuch") is None
