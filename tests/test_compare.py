"""Model comparison: the comparison table (log evidence, Bayes factors, model
probabilities, PSIS-LOO), model priors, model lists and resumable many-track runs."""

import math

import numpy as np
import pandas as pd
import pytest

import bayesdiff as bd
from bayesdiff.errors import ModelError
from bayesdiff.inference.compare import models_from_spec


@pytest.fixture(scope="module")
def fbm_track():
    return bd.models.FBM().simulate(
        seed=1, params={"alpha": 0.5, "D": 0.1}, n_steps=60, dt=0.05, dim=2
    )[0]


def test_compare_table(fbm_track):
    table = bd.compare("bm,fbm,bm+drift", fbm_track, progress=False)
    for col in (
        "model",
        "log_z",
        "log_z_err",
        "delta_log_z",
        "bayes_factor",
        "probability",
        "probability_sd",
        "elpd_loo",
        "elpd_loo_se",
        "pareto_k_max",
        "loo_warning",
        "method",
        "chosen",
    ):
        assert col in table.columns
    assert list(table["log_z"]) == sorted(table["log_z"], reverse=True)
    assert math.isclose(table["probability"].sum(), 1.0, rel_tol=1e-12)
    assert table["bayes_factor"].iloc[0] == 1.0 and (table["bayes_factor"] <= 1.0).all()
    assert (
        table["chosen"].sum() == 1
        and table.attrs["chosen"] == table.loc[table["chosen"], "model"].item()
    )
    assert table.attrs["chosen"] == "fbm"  # alpha = 0.5 over 60 steps: clearly anomalous
    assert np.isfinite(table["elpd_loo"]).all()
    # model priors move the probabilities as Bayes' rule says
    lz = dict(zip(table["model"], table["log_z"], strict=True))
    t2 = bd.compare(
        "bm,fbm,bm+drift",
        fbm_track,
        progress=False,
        loo=False,
        model_priors={"bm": 0.0, "fbm": 1.0, "bm+drift": 3.0},
    )
    p = dict(zip(t2["model"], t2["probability"], strict=True))
    assert p["bm"] == 0.0
    assert math.isclose(
        p["bm+drift"] / p["fbm"], 3 * math.exp(lz["bm+drift"] - lz["fbm"]), rel_tol=1e-9
    )


def test_models_from_spec():
    ms = models_from_spec("bm, fbm+noise, fbm+noise+drift ,switch2,levy,langevin+noise")
    assert list(ms) == ["bm", "fbm+noise", "fbm+noise+drift", "switch2", "levy", "langevin+noise"]
    assert ms["fbm+noise+drift"].name == "fbm+drift+noise"
    assert ms["switch2"].n_states == 2
    for bad in ("gbm", "fbm+fast", "bm,bm", "levy+noise", ""):
        with pytest.raises(ModelError):
            models_from_spec(bad)


class _Stop(Exception):
    pass


def test_compare_many_resumes(tmp_path):
    ts = bd.models.Brownian().simulate(
        seed=0, params={"D": 0.1}, n_steps=30, dt=0.05, dim=2, n_tracks=5
    )
    models = {"bm": bd.models.Brownian(), "fbm": bd.models.FBM()}
    seen = []

    def stop_after_two(tid, df):
        seen.append(tid)
        if len(seen) == 2:
            raise _Stop

    with pytest.raises(_Stop):
        bd.compare_many(models, ts, tmp_path, progress=False, chunk_size=2, on_track=stop_after_two)
    assert len(list((tmp_path / "tracks").glob("*.csv"))) == 2
    again = []
    res = bd.compare_many(
        models,
        ts,
        tmp_path,
        progress=False,
        chunk_size=2,
        on_track=lambda tid, df: again.append(tid),
    )
    assert sorted(again) == [2, 3, 4]  # only the tracks not done before
    table = res.table
    assert len(table) == 10 and not table.duplicated(["track", "model"]).any()
    assert set(table["track"]) == {"0", "1", "2", "3", "4"}
    np.testing.assert_allclose(table.groupby("track")["probability"].sum(), 1.0)
    assert res.summary["wins"].sum() == 5
    on_disk = pd.read_csv(tmp_path / "comparison.csv")
    assert len(on_disk) == 10
    # a third run computes nothing
    third = []
    bd.compare_many(
        models, ts, tmp_path, progress=False, on_track=lambda tid, df: third.append(tid)
    )
    assert third == []
