"""Calibration metrics, negative controls, the estimators and the study runner.

Statistical tests state their tolerance; every calibrated case is paired with
negative controls that must be flagged (over-confident sd x 0.5,
under-confident sd x 2, a posterior from a wrong prior).
"""

import math
import os

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesdiff as bd
from bayesdiff import calibration as cal


# -----------------------------------------------------------------------------
# metrics against hand-computed cases
# -----------------------------------------------------------------------------
def test_coverage_hand_computed():
    draws = np.tile(np.arange(101.0), (4, 1)).T  # every item: draws 0..100
    truth = np.array([50.0, 74.0, 76.0, 99.0])
    # 50% interval [25, 75]; 90% [5, 95]; 99% [0.5, 99.5]
    np.testing.assert_allclose(cal.coverage(draws, truth, [0.5, 0.9, 0.99]), [0.5, 0.75, 1.0])
    with pytest.raises(ValueError):
        cal.coverage(draws, truth, [1.2])
    with pytest.raises(ValueError):
        cal.coverage(draws, truth[:2])


def test_coverage_gaussian_and_pit():
    # |z| = 0.5, 1.5, 2.5: inside 50% (|z| <= 0.674) once, 90% (1.645) twice, 99% (2.576) thrice
    mean, sd, truth = np.zeros(3), np.ones(3), np.array([0.5, -1.5, 2.5])
    np.testing.assert_allclose(
        cal.coverage_gaussian(mean, sd, truth, [0.5, 0.9, 0.99]), [1 / 3, 2 / 3, 1.0]
    )
    pit = cal.pit_gaussian(mean, sd, truth)
    np.testing.assert_allclose(pit, stats.norm.cdf(truth))
    np.testing.assert_allclose(cal.coverage_from_pit(pit, [0.5, 0.9, 0.99]), [1 / 3, 2 / 3, 1.0])
    assert cal.pit_samples([[0.0], [1.0], [2.0], [3.0]], [1.0])[0] == pytest.approx(1.5 / 4)


def test_ence_hand_computed():
    # bin 1 (sd 1): errors +-1 -> RMSE 1, RMV 1; bin 2 (sd 2): errors +-1 -> RMSE 1, RMV 2
    r = cal.ence([0, 0, 0, 0], [1.0, 1.0, 2.0, 2.0], [1.0, -1.0, 1.0, -1.0], n_bins=2)
    assert r.ence == pytest.approx((0 + 0.5) / 2)
    assert list(r.table.columns) == ["bin", "n", "sd_lo", "sd_hi", "rmv", "rmse", "nce"]
    np.testing.assert_allclose(r.table["rmv"], [1.0, 2.0])
    np.testing.assert_allclose(r.table["nce"], [0.0, 0.5])


def test_sbc_ranks_and_uniformity_hand_computed():
    draws = np.array([[0.0, 5.0, 1.0], [1.0, 6.0, 1.0], [2.0, 7.0, 1.0]])
    ranks = cal.sbc_ranks(draws, [1.5, -1.0, 9.0])
    np.testing.assert_array_equal(ranks, [2, 0, 3])
    # n_draws = 3: rank values 0..3; 2 bins {0,1}, {2,3}, each with probability 1/2
    stat, p, b = cal.sbc_uniformity(np.array([0, 1, 2, 3, 0, 1, 2, 3]), 3, n_bins=2)
    assert (stat, b) == (0.0, 2) and p == pytest.approx(1.0)
    # 3 bins over 4 rank values: floor(r*3/4) -> bins {0}, {1}, {2,3}: expected 1/4, 1/4, 1/2
    stat, p, b = cal.sbc_uniformity(np.array([0, 1, 2, 3]), 3, n_bins=3)
    assert stat == pytest.approx(0.0)
    stat, _, _ = cal.sbc_uniformity(np.array([0, 0, 0, 0]), 3, n_bins=2)
    assert stat == pytest.approx((4 - 2) ** 2 / 2 + 2**2 / 2)
    with pytest.raises(ValueError):
        cal.sbc_uniformity(np.array([5]), 3)


def test_crps_hand_computed():
    # standard normal at its mean: 2 phi(0) - 1/sqrt(pi) = (sqrt(2) - 1) / sqrt(pi)
    assert cal.crps_gaussian(0.0, 1.0, 0.0) == pytest.approx((np.sqrt(2) - 1) / np.sqrt(np.pi))
    # tiny sd: the absolute error
    assert cal.crps_gaussian(0.0, 1e-9, 3.0) == pytest.approx(3.0)
    # two draws {0, 2}, truth 1: E|X - y| = 1, E|X - X'| = 1 -> 0.5
    assert cal.crps_samples([[0.0], [2.0]], [1.0])[0] == pytest.approx(0.5)
    # many draws from N(0, 1) approach the closed form
    rng = np.random.default_rng(1)
    d = rng.normal(size=(20000, 1))
    assert cal.crps_samples(d, [0.7])[0] == pytest.approx(cal.crps_gaussian(0, 1, 0.7), abs=0.01)
    assert cal.sharpness([1.0, 3.0, np.nan]) == 2.0


def test_classification_metrics_hand_computed():
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    y = np.array([0, 1, 0, 0])
    assert cal.accuracy(p, y) == 0.75
    r = cal.expected_calibration_error(p, y, n_bins=5)
    # bin [0.8, 1]: confidence 0.9, accuracy 0.5; bin [0.6, 0.8): confidence 0.6, accuracy 1
    assert r.ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    assert r.table["n"].tolist() == [2, 2]
    same = cal.ece_from_confidence(p.max(1), p.argmax(1) == y, n_bins=5)
    assert same.ece == r.ece and same.table.equals(r.table)


# -----------------------------------------------------------------------------
# negative controls
# -----------------------------------------------------------------------------
N_ITEMS = 1000


@pytest.fixture(scope="module")
def conjugate():
    """Normal-normal model: mu ~ N(0, 1), y | mu ~ N(mu, 1), posterior N(y/2, 1/2)."""
    rng = np.random.default_rng(42)
    mu = rng.normal(size=N_ITEMS)
    y = mu + rng.normal(size=N_ITEMS)
    return rng, mu, y


@pytest.mark.parametrize("factor", [1.0, 0.5, 2.0])
def test_gaussian_predictor_controls(conjugate, factor):
    """Calibrated sd passes, sd x 0.5 and sd x 2 are flagged by coverage, ENCE and SBC.

    Tolerances (n = 1000): coverage within 0.04 of nominal (about 3 binomial
    s.e. at 90%), ENCE < 0.2 (sampling noise ~ 0.07 with 10 bins of 100),
    SBC chi-square p > 0.001; the controls must miss coverage by > 0.1,
    have ENCE > 0.4 and SBC p < 1e-6 (their expected ENCE: 1 and 0.5).
    """
    rng, mu, y = conjugate
    mean, sd = y / 2, np.full(N_ITEMS, np.sqrt(0.5)) * factor
    draws = mean + sd * rng.normal(size=(199, N_ITEMS))
    cov_draws = cal.coverage(draws, mu, [0.5, 0.9])
    cov_gauss = cal.coverage_gaussian(mean, sd, mu, [0.5, 0.9])
    e = cal.ence(mean, sd, mu).ence
    p_draws = cal.sbc(draws, mu).p_value
    p_gauss = cal.sbc(truth=mu, mean=mean, sd=sd).p_value
    if factor == 1.0:
        assert np.all(np.abs(cov_draws - [0.5, 0.9]) < 0.04)
        assert np.all(np.abs(cov_gauss - [0.5, 0.9]) < 0.04)
        assert e < 0.2
        assert p_draws > 1e-3 and p_gauss > 1e-3
    else:
        sign = 1 if factor > 1 else -1  # under-confident: too much coverage
        assert np.all(sign * (cov_draws - [0.5, 0.9]) > 0.04)
        assert sign * (cov_gauss[0] - 0.5) > 0.1 and sign * (cov_draws[0] - 0.5) > 0.1
        assert e > 0.4
        assert p_draws < 1e-6 and p_gauss < 1e-6


def test_wrong_prior_fails_sbc(conjugate):
    """Posterior computed under a wrong prior (mu ~ N(2, 0.5^2)) fails SBC; the right one passes."""
    rng, mu, y = conjugate

    def posterior_draws(m0, s0, n_draws=99):
        prec = 1 / s0**2 + 1.0
        mean = (m0 / s0**2 + y) / prec
        return mean + rng.normal(size=(n_draws, N_ITEMS)) / np.sqrt(prec)

    good = cal.sbc(posterior_draws(0.0, 1.0), mu)
    bad = cal.sbc(posterior_draws(2.0, 0.5), mu)
    assert good.p_value > 1e-3 and good.ks_p_value > 1e-3
    assert bad.p_value < 1e-6 and bad.ks_p_value < 1e-6
    assert good.n_draws == 99 and good.ranks.min() >= 0 and good.ranks.max() <= 99


def test_idata_draws_from_sample_many_shape():
    from bayesdiff.inference._arviz import build_inference_data

    a = np.arange(2 * 10 * 3, dtype=float).reshape(2, 10, 3)  # chain, draw, track
    idata = build_inference_data(
        {"alpha": a}, coords={"track": [0, 1, 2]}, dims={"alpha": ["track"]}
    )
    d = cal.idata_draws(idata, ["alpha"], thin=2)["alpha"]
    assert d.shape == (10, 3)
    np.testing.assert_array_equal(d[:5, 0], a[0, ::2, 0])


# -----------------------------------------------------------------------------
# estimators and study
# -----------------------------------------------------------------------------
def test_msd_fit_recovers_brownian_exponent():
    ts = bd.models.FBM().simulate(
        seed=3, params={"alpha": 1.0, "D": 0.5}, n_steps=400, dt=0.1, dim=2, n_tracks=30
    )
    est = cal.MSDFit().estimate(ts)
    assert np.median(est.mean["alpha"]) == pytest.approx(1.0, abs=0.1)
    assert np.median(est.mean["logD"]) == pytest.approx(np.log(0.5), abs=0.2)
    assert np.all(est.sd["alpha"] > 0)
    # TAMSD of a straight line at unit speed: lag^2 per coordinate / dim
    tr = bd.Track(np.column_stack([np.arange(10.0), np.zeros(10)]), dt=1.0)
    np.testing.assert_allclose(cal.tamsd(tr, np.array([1, 2, 3])), [0.5, 2.0, 4.5])
    # the estimator is the public fit with the public lags
    t0 = ts[0]
    np.testing.assert_array_equal(cal.MSDFit().lags(t0), np.arange(1, 41))  # 400 // 10
    est0, se0 = cal.msd_power_law(t0, np.arange(1, 41))
    assert (est.mean["alpha"][0], est.sd["alpha"][0]) == (est0[0], se0[0])
    assert cal.msd_exponent(t0) == est0[0]


def test_tamsd_by_hand_with_gaps_and_a_power_law():
    """Gaps: only pairs of observed frames L apart count; a gap-free track gives the
    plain sliding-window mean; x = t^(alpha/2) gives slope alpha exactly in the limit."""
    x = np.array([0.0, 1.0, 3.0, 6.0, 10.0])
    gapped = bd.Track(x[:, None], dt=1.0, frames=[0, 1, 2, 4, 5])
    # frame pairs and squared steps: lag 1 (0,1),(1,2),(4,5): 1, 4, 16; lag 2 (0,2),(2,4): 9, 9;
    # lag 3 (1,4),(2,5): 25, 49; lag 4 (0,4),(1,5): 36, 81; lag 9: none
    np.testing.assert_allclose(cal.tamsd(gapped, np.array([1, 2, 3, 4, 9])),
                               [7.0, 9.0, 37.0, 58.5, np.nan])  # fmt: skip
    rng = np.random.default_rng(0)
    walk = bd.Track(np.cumsum(rng.normal(size=(60, 2)), 0), dt=0.1)
    want = [np.mean(np.sum((walk.positions[L:] - walk.positions[:-L]) ** 2, 1)) / 2
            for L in (1, 5, 59)]  # fmt: skip
    np.testing.assert_array_equal(cal.tamsd(walk, np.array([1, 5, 59])), want)
    assert np.isnan(cal.tamsd(walk, np.array([60]))[0])
    t = np.arange(1, 2001) * 0.01
    ballistic = bd.Track(np.column_stack([t, 2 * t]), dt=0.01)  # MSD = 5 t^2 / 2 per coordinate
    est, se = cal.msd_power_law(ballistic, np.arange(1, 11))
    assert est[0] == pytest.approx(2.0, abs=1e-9) and est[1] == pytest.approx(np.log(1.25))
    assert se[0] < 1e-6
    assert np.isnan(cal.msd_exponent(ballistic, [1, 2]))  # fewer than 3 lags: no fit


class _FakeNet:
    """A synthetic 'neural' predictor: truth-free, fixed predictions."""

    def predict(self, tracks):
        n = len(tracks)
        return pd.DataFrame(
            {
                "track": range(n),
                "alpha_mean": np.ones(n),
                "alpha_sd": np.full(n, 0.3),
                "logD_mean": np.full(n, -2.0),
                "logD_sd": np.ones(n),
                "p_fbm": np.full(n, 0.7),
                "p_bm": np.full(n, 0.3),
            }
        )


class _FakeEnsemble(_FakeNet):
    members = [_FakeNet()]


def test_neural_estimator_reads_predict_columns():
    ts = bd.models.FBM().simulate(seed=0, params={"alpha": 1.0, "D": 0.1}, n_steps=20, dt=0.1,
                                  n_tracks=3)  # fmt: skip
    for est in (
        cal.Neural(predictor=_FakeEnsemble()),
        cal.Neural(predictor=_FakeEnsemble(), member=0),
    ):
        e = est.estimate(ts)
        np.testing.assert_allclose(e.sd["alpha"], 0.3)
        assert e.class_names == ("fbm", "bm") and e.class_probs.shape == (3, 2)
    assert cal.Neural(member=0).name == "member" and cal.Neural().name == "ensemble"


class _FakeConditional(_FakeNet):
    def predict(self, tracks):
        df = super().predict(tracks)
        df["alpha_mean_fbm"], df["alpha_sd_fbm"] = 0.6, 0.1
        return df


def test_neural_estimator_class_conditional_alpha():
    """With the study's model known, alpha comes from that class's head (FBM here); with
    conditional=False, or a model without a head, from the class mixture."""
    ts = bd.models.FBM().simulate(seed=0, params={"alpha": 0.6, "D": 0.1}, n_steps=20, dt=0.1,
                                  n_tracks=3)  # fmt: skip
    net = _FakeConditional()
    e = cal.Neural(predictor=net).estimate(ts, bd.models.FBM())
    np.testing.assert_allclose([e.mean["alpha"], e.sd["alpha"]], [[0.6] * 3, [0.1] * 3])
    for est, model in ((cal.Neural(predictor=net, conditional=False), bd.models.FBM()),
                       (cal.Neural(predictor=net), bd.models.Brownian())):  # fmt: skip
        e = est.estimate(ts, model)
        np.testing.assert_allclose([e.mean["alpha"], e.sd["alpha"]], [[1.0] * 3, [0.3] * 3])
    assert cal.Neural(predictor=net).fingerprint() == "external"


def test_neural_cells_are_named_by_the_shipped_weights():
    """Saved study cells of the shipped network carry these names: they must not change
    unless the weights do (the eight digits start the ensemble's SHA-1 fingerprint)."""
    ens = bd.neural.default_ensemble()
    assert cal.neural_available()
    assert cal.Neural().fingerprint() == "9be2eb45" == ens.fingerprint()[:8]
    assert cal.Neural(member=0).fingerprint() == "43d59170" == ens.members[0].fingerprint()[:8]
    fbm = bd.models.FBM()
    assert cal.Neural().fit_label(fbm) == "fbm-9be2eb45"
    assert cal.Neural(member=0, conditional=False).fit_label(fbm) == "mixture-43d59170"


def test_estimator_protocol_cell_labels_and_misspecification():
    fbm, lang = bd.models.FBM(), bd.models.Langevin()
    bayes = cal.Bayes()
    assert bayes.fit_label(fbm) == "fbm" and bayes.fit_label(fbm, snr=5.0) == "fbm+noise"
    assert bayes.for_fit_model(fbm).model is fbm  # analyses Langevin tracks with FBM
    assert bayes.for_fit_model(fbm).fit_label(lang) == "fbm"
    fixed = cal.Bayes(model=lang)
    assert fixed.for_fit_model(fbm) is fixed  # a model given by the user stays
    for est in (cal.MSDFit(), cal.HMMFit()):
        assert est.fit_label(fbm) == "-" and est.for_fit_model(fbm) is est
        assert est.max_tracks is None and isinstance(est, cal.Estimator)

    class Halves(cal.Estimator):  # a user's estimator: defaults for all but estimate
        name = "halves"

        def estimate(self, tracks, model=None, snr=math.inf):
            n = len(tracks)
            return cal.Estimate({"alpha": np.full(n, 0.5)}, {"alpha": np.full(n, 0.2)})

    res = cal.study([Halves()], "fbm", lengths=[10], n_tracks=4, progress=False)
    assert res.table["fit_model"].tolist() == ["-"] and res.table["n"].tolist() == [4]

    class Bare:  # name and estimate only: refused with a clear message
        name = "bare"

        def estimate(self, tracks, model=None, snr=math.inf): ...

    with pytest.raises(bd.errors.BayesdiffError, match="not an Estimator"):
        cal.study([Bare()], "fbm", lengths=[10], n_tracks=4, progress=False)


class _Bar:
    """A stand-in for a tqdm bar: records its updates."""

    def __init__(self):
        self.steps, self.closed = [], False

    def update(self, k=1):
        self.steps.append(k)

    def close(self):
        self.closed = True


def test_study_bar_counts_every_track_of_every_cell():
    """The study's bar runs over tracks, not cells: an estimator that reports progress
    gets it and moves it per track, the others move it by their cell's tracks."""
    seen = []

    class PerTrack(cal.Estimator):
        name = "per-track"
        reports_progress = True

        def estimate(self, tracks, model=None, snr=math.inf, progress=False):
            seen.append((progress.n, progress.total))
            for _ in tracks:
                progress.update(1)
            n = len(tracks)
            return cal.Estimate({"alpha": np.full(n, 0.5)}, {"alpha": np.full(n, 0.2)})

    cal.study([cal.MSDFit(), PerTrack()], "fbm", lengths=[10, 12], n_tracks=4, progress=True)
    assert seen == [(4, 16), (12, 16)]  # after MSD's cell of 4 tracks, then both of len 10


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    ests = [
        cal.MSDFit(),
        cal.Neural(predictor=_FakeNet(), name="fake"),
        cal.Bayes(draws=60, tune=60, chains=1, thin=1),
    ]
    res = cal.study(ests, "fbm", lengths=[20], n_tracks=8, seed=1, out=out, progress=False)
    return out, ests, res


def test_study_end_to_end(tiny_study, png):
    out, _, res = tiny_study
    t = res.table
    assert set(t["estimator"]) == {"msd", "fake", "bayes"}
    assert set(t.loc[t["parameter"] != "model", "parameter"]) == {"alpha", "logD"}
    b = t[(t["estimator"] == "bayes") & (t["parameter"] == "alpha")].iloc[0]
    assert b["n"] == 8 and 0 <= b["sbc_p"] <= 1 and b["fit_model"] == "fbm"
    assert np.isnan(t.loc[t["estimator"] == "msd", "sbc_p"]).all()
    m = t[(t["estimator"] == "fake") & (t["parameter"] == "model")].iloc[0]
    assert m["accuracy"] == 1.0 and m["ece"] == pytest.approx(0.3)
    for c in ("mae", "rmse", "cov50", "cov90", "cov95", "ence", "sharpness", "crps"):
        assert np.isfinite(t.loc[t["parameter"] != "model", c]).all(), c
    written = pd.read_csv(out / "calibration_table.csv")
    assert list(written.columns) == list(t.columns) and len(written) == len(t)
    # cell files: estimator, model, fit label, length, SNR, seed and sizes (resumable names)
    assert sorted(p.name for p in (out / "cells").glob("*.csv")) == [
        "bayes__fbm__fbm__n20__snrinf__seed1_8of8.csv",
        "fake__fbm__fbm-external__n20__snrinf__seed1_8of8.csv",
        "msd__fbm__-__n20__snrinf__seed1_8of8.csv",
    ]
    names = {p.name for p in res.figures}
    assert {
        "calibration_reliability_fbm.png",
        "calibration_coverage_fbm.png",
        "calibration_sbc_fbm.png",
        "calibration_mae_vs_length.png",
    } <= names
    assert all(min(png(p)) >= 200 for p in res.figures)


def test_markdown_report(tiny_study):
    _, _, res = tiny_study
    md = cal.markdown_report(res.table, res.figures, command="bayesdiff calibrate", seconds=3.4)
    lines = md.splitlines()
    assert lines[0] == "# Calibration study" and "Wall time: 3 s." in lines
    table = cal.markdown_table(res.table)
    header = table.splitlines()[0]
    assert header.startswith("| estimator | model | fit_model | length |") and "bias" not in header
    assert len(table.splitlines()) == 2 + len(res.table)
    assert "![calibration_reliability_fbm](calibration_reliability_fbm.png)" in lines


def test_study_resumes(tiny_study, monkeypatch):
    out, ests, res = tiny_study

    def boom(*a, **k):
        raise AssertionError("a finished cell was recomputed")

    monkeypatch.setattr(cal.Bayes, "estimate", boom)
    monkeypatch.setattr(cal.MSDFit, "estimate", boom)
    again = cal.study(
        ests, "fbm", lengths=[20], n_tracks=8, seed=1, out=out, progress=False, figures=False
    )
    pd.testing.assert_frame_equal(again.table, res.table)
    assert not list((out / "cells").glob("*.tmp"))


def test_misspecified_study_labels_fit_model(tiny_study):
    # same fit model and settings as tiny_study, so the compiled sampler is reused
    _, ests, _ = tiny_study
    fbm = cal.study_models()["fbm"].model
    res = cal.study(
        ests[::2], [], lengths=[20], n_tracks=8, misspecified={"langevin": fbm}, progress=False
    )
    t = res.table
    assert set(t["model"]) == {"langevin"}
    assert t.loc[t["estimator"] == "bayes", "fit_model"].unique().tolist() == ["fbm"]
    # Langevin has no alpha: only D is scored
    assert set(t["parameter"]) == {"logD"}


def test_bayes_grid_estimator_matches_truth_scale():
    spec = cal.study_models()["fbm"]
    truth = cal.simulate_truth(spec, 2, seed=3)
    ts = spec.model.simulate(seed=3, params=truth, n_steps=40, dt=0.05, dim=2, n_tracks=2)
    bar = _Bar()  # a caller's bar (the study's): moved by one per track, left open
    est = cal.Bayes(draws=50, chains=2, method="grid").estimate(ts, spec.model, progress=bar)
    assert bar.steps == [1, 1] and not bar.closed
    assert est.draws["alpha"].shape == (100, 2) and est.draws["logD"].shape == (100, 2)
    assert np.all(np.abs(est.mean["alpha"] - truth["alpha"]) < 4 * est.sd["alpha"] + 0.05)


def test_hmm_fit_on_switching_tracks():
    m = bd.models.Switching(n_states=2)
    params = {"D": np.array([0.05, 1.0]), "P": np.array([[0.97, 0.03], [0.03, 0.97]])}
    ts = m.simulate(seed=0, params=params, n_steps=300, dt=0.05, dim=2, n_tracks=2)
    est = cal.HMMFit().estimate(ts, m)
    assert set(est.mean) == {"logD[0]", "logD[1]"}
    np.testing.assert_allclose(est.mean["logD[0]"], np.log(0.05), atol=0.5)
    np.testing.assert_allclose(est.mean["logD[1]"], np.log(1.0), atol=0.5)
    assert np.isnan(est.sd["logD[0]"]).all()


def test_snr_adds_noise_and_fits_noise_model():
    spec = cal.study_models()["fbm"]
    truth = cal.simulate_truth(spec, 5, seed=0)
    assert truth["alpha"].shape == (5,) and np.all((truth["D"] > 1e-2) & (truth["D"] < 1))
    ts = spec.model.simulate(seed=0, params=truth, n_steps=30, dt=0.05, dim=2, n_tracks=5)
    noisy = cal.add_noise(ts, 2.0, seed=0)
    assert not np.allclose(noisy[0].positions, ts[0].positions)
    assert cal.add_noise(ts, math.inf, 0) is ts
    assert cal.Bayes().fit_model(spec.model, 2.0).name == "fbm+noise"


# -----------------------------------------------------------------------------
# slow: SBC of NUTS posteriors on FBM tracks drawn from the prior
# -----------------------------------------------------------------------------
@pytest.mark.slow
def test_sample_many_passes_sbc_on_fbm_prior():
    """500 FBM tracks (n = 50 increments, 2-D, dt = 0.05 s) with parameters from the
    default prior (alpha ~ U(0, 2), D ~ LogUniform(1e-4, 1e3)); NUTS 2 chains x
    (300 warm-up + 400 draws), every 4th draw kept (200 draws per track, about
    the effective sample size); chi-square uniformity of the ranks, 20 bins:
    p > 0.01 for alpha and D. About 10 minutes on two shared cores."""
    m = bd.models.FBM()
    spec = cal.SimSpec(model=m, dt=0.05, dim=2)
    res = cal.study(
        [cal.Bayes(draws=400, tune=300, chains=2, thin=4)],
        spec,
        lengths=[50],
        n_tracks=500,
        seed=7,
        progress=False,
        figures=False,
    )
    t = res.table.set_index("parameter")
    print(res.table[["parameter", "n", "sbc_p", "pit_ks_p", "cov50", "cov90", "cov95", "ence"]])
    res.per_track.to_csv(os.environ.get("BAYESDIFF_SBC_OUT", os.devnull), index=False)
    assert t.loc["alpha", "sbc_p"] > 0.01
    assert t.loc["logD", "sbc_p"] > 0.01
