"""Neural amortized inference: shapes, files, training, ensembles, bad input, CLI.

A tiny two-member ensemble (BM and FBM, 20-64 points) is trained once per
session; the whole file runs in well under a minute on two cores.
"""

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np
import pytest

import bayesdiff as bd
from bayesdiff.errors import (
    DimensionError,
    NetworkFileError,
    NonFiniteError,
    TrackError,
    TrackTooShortError,
)
from bayesdiff.neural import Architecture, TrainConfig
from bayesdiff.neural.train import (
    DEFAULT_MODELS,
    alpha_heads,
    alpha_role,
    loss_terms,
    simulate_chunk,
)

TINY = Architecture(kind="cnn", channels=8, depth=2, hidden=16, n_classes=2)
TINY_KW = dict(
    models=("bm", "fbm"),
    lengths=(20, 64),
    dims=(1, 2),
    n_train=1000,
    architecture=TINY,
    lr=1e-2,
    progress=False,
    chunk=500,
    reuse=1,
    batch_size=64,
    val_every=10,
    n_val=200,
)
DATA = Path(__file__).resolve().parent.parent / "examples" / "data" / "halotag_nls.csv"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    ens = bd.neural.train(members=2, seed=0, out=out, **TINY_KW)
    return ens, out


@pytest.fixture(scope="module")
def fbm_tracks():
    a = np.linspace(0.3, 1.7, 12)
    return bd.models.FBM().simulate(3, {"alpha": a, "D": np.full(12, 0.2)}, 40, 0.05, dim=2,
                                    n_tracks=12)  # fmt: skip


def test_public_face():
    import importlib

    from bayesdiff.neural import ensemble, networks

    train = importlib.import_module("bayesdiff.neural.train")  # bd.neural.train is the function
    # the package re-exports the objects of its modules, and train keeps its public names
    # (bd.neural.__all__ itself is listed in test_public_face.py)
    assert bd.neural.train is train.train and bd.neural.load is ensemble.load
    assert bd.neural.DeepEnsemble is ensemble.DeepEnsemble
    assert bd.neural.Architecture is networks.Architecture
    assert bd.neural.TrainConfig is train.TrainConfig and DEFAULT_MODELS == bd.neural.DEFAULT_MODELS


def test_predict_shapes_and_columns(tiny, fbm_tracks):
    ens, _ = tiny
    df = ens.predict(fbm_tracks)
    assert len(df) == len(fbm_tracks) and list(df["track"]) == fbm_tracks.ids
    for col in [
        "alpha_mean",
        "alpha_sd",
        "D_mean",
        "D_sd",
        "logD_mean",
        "logD_sd",
        "p_bm",
        "p_fbm",
        "alpha_mean_fbm",
        "alpha_sd_fbm",
    ]:
        assert np.all(np.isfinite(df[col])), col
    # one head (fbm); bm's alpha is a point mass at 1 and gets no conditional columns
    assert ens.alpha_classes == ["fbm"] and "alpha_mean_bm" not in df.columns
    assert np.all(df[["alpha_sd", "D_sd", "logD_sd", "alpha_sd_fbm"]] > 0)
    np.testing.assert_allclose(df[["p_bm", "p_fbm"]].sum(axis=1), 1.0, rtol=1e-5)
    assert ens.model_names == ["bm", "fbm"] and ens.min_length == 20 and ens.dims == (1, 2)
    assert len(ens.members) == 2 and len(ens.members[0].predict(fbm_tracks)) == len(fbm_tracks)
    assert ens.embed(fbm_tracks).shape == (len(fbm_tracks), 2 * TINY.hidden)
    assert ens.members[0].embed(fbm_tracks).shape == (len(fbm_tracks), TINY.hidden)


def test_single_track_and_1d(tiny):
    """One 1-D track in, one row out: the same row as for that track among others."""
    ens, _ = tiny
    ts = bd.models.Brownian().simulate(0, {"D": 1.0}, 30, 0.1, dim=1, n_tracks=3)
    df = ens.predict(ts[1])
    assert len(df) == 1 and np.isfinite(df["alpha_mean"][0])
    among = ens.predict(ts).drop(columns="track").iloc[[1]].reset_index(drop=True)
    cols = [c for c in among.columns if c != "model"]
    np.testing.assert_allclose(df[cols].to_numpy(float), among[cols].to_numpy(float), rtol=1e-5)


def test_d_scales_with_units(tiny, fbm_tracks):
    """Positions x10 -> D x100 exactly (the network sees scale-free increments)."""
    ens, _ = tiny
    big = bd.TrackSet(t.with_positions(10 * t.positions) for t in fbm_tracks)
    a, b = ens.predict(fbm_tracks), ens.predict(big)
    np.testing.assert_allclose(b["alpha_mean"], a["alpha_mean"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b["logD_mean"] - a["logD_mean"], np.log(100.0), atol=1e-5)


def test_save_load_round_trip(tiny, fbm_tracks, tmp_path):
    ens, out = tiny
    again = bd.neural.load(out)
    np.testing.assert_array_equal(
        again.predict(fbm_tracks).drop(columns="track").to_numpy(),
        ens.predict(fbm_tracks).drop(columns="track").to_numpy(),
    )
    ens.members[1].save(tmp_path / "one")
    one = bd.neural.load(tmp_path / "one")
    np.testing.assert_array_equal(
        one.predict(fbm_tracks)["alpha_mean"], ens.members[1].predict(fbm_tracks)["alpha_mean"]
    )


def test_fingerprint_names_the_weights(tiny, tmp_path):
    """Equal weights, equal fingerprint (after a save/load round trip); other weights differ.
    It is the SHA-1 of the stacked parameters' bytes in tree order."""
    import hashlib

    ens, out = tiny
    fp = ens.fingerprint()
    assert len(fp) == 40 and fp == bd.neural.load(out).fingerprint()
    members = [m.fingerprint() for m in ens.members]
    assert len({fp, *members}) == 3
    h = hashlib.sha1()
    for leaf in jax.tree.leaves(ens.members[1].params):
        h.update(np.asarray(leaf, np.float32)[None].tobytes())
    assert members[1] == h.hexdigest()
    assert jax.tree.leaves(ens.stacked_params)[0].shape[0] == 2


def test_training_lowers_loss(tiny):
    ens, _ = tiny
    cfg = TrainConfig(**{k: TINY_KW[k] for k in ("models", "lengths", "dims")})
    assert ens.arch == dataclasses.replace(TINY, alpha_heads=1)  # bm: point mass; fbm: a head
    net = ens.arch.build()
    eval_fn = jax.jit(lambda p, d: loss_terms(net, p, d))
    data = simulate_chunk(cfg, 200, seed=123)
    init = net.init(jax.random.PRNGKey(0), data[0]["x"][:2], data[0]["mask"][:2],
                    data[0]["dim"][:2])  # fmt: skip

    def loss(params):
        return np.mean([float(eval_fn(params, d)[0]) for d in data])

    assert loss(ens.members[0].params) < loss(init) - 0.3


def test_alpha_roles_and_heads():
    assert [alpha_role(m) for m in DEFAULT_MODELS] == ["one", "free", "none", "free", "one"]
    assert alpha_heads(DEFAULT_MODELS) == [-1, 0, -1, 1, -1]
    assert alpha_heads(("bm", "fbm+noise")) == [-1, 0]


def test_member_alpha_is_the_class_mixture(tiny, fbm_tracks):
    """One member: point mass at 1 (bm) and the fbm head, weighted by p_bm, p_fbm."""
    ens, _ = tiny
    df = ens.members[0].predict(fbm_tracks)
    p, mu, var = df["p_fbm"], df["alpha_mean_fbm"], df["alpha_sd_fbm"] ** 2
    np.testing.assert_allclose(df["alpha_mean"], (1 - p) * 1.0 + p * mu, rtol=1e-6)
    # law of total variance of the two-component mixture
    np.testing.assert_allclose(
        df["alpha_sd"] ** 2, p * var + p * (1 - p) * (mu - 1.0) ** 2, rtol=1e-5
    )


def test_ensemble_variance_at_least_mean_member_variance(tiny, fbm_tracks):
    ens, _ = tiny
    df = ens.predict(fbm_tracks)
    per = [m.predict(fbm_tracks) for m in ens.members]
    for col in ("alpha_sd", "logD_sd", "alpha_sd_fbm"):
        mean_var = np.mean([p[col] ** 2 for p in per], axis=0)
        assert np.all(df[col] ** 2 >= mean_var - 1e-9)
    for col in ("alpha_mean", "alpha_mean_fbm"):
        mean_alpha = np.mean([p[col] for p in per], axis=0)
        np.testing.assert_allclose(df[col], mean_alpha, rtol=1e-6)
    # the class-conditional columns: mean of variances + variance of means
    mu = np.array([p["alpha_mean_fbm"] for p in per])
    var = np.array([p["alpha_sd_fbm"] ** 2 for p in per])
    np.testing.assert_allclose(df["alpha_sd_fbm"] ** 2, var.mean(0) + mu.var(0), rtol=1e-5)
    np.testing.assert_allclose(df[["p_bm", "p_fbm"]], np.mean([p[["p_bm", "p_fbm"]] for p in per],
                                                             axis=0), rtol=1e-6)  # fmt: skip


def test_alpha_loss_uses_the_true_class_head_only(tiny):
    ens, _ = tiny
    net, params = ens.arch.build(), ens.members[0].params
    cfg = TrainConfig(**{k: TINY_KW[k] for k in ("models", "lengths", "dims")})
    (d,) = simulate_chunk(cfg, 40, seed=5)[:1]
    bm, fbm = d["cls"] == 0, d["cls"] == 1
    assert np.all(d["head"][bm] == -1) and np.all(d["head"][fbm] == 0)
    np.testing.assert_array_equal(d["alpha"][bm], 1.0)
    _, terms = loss_terms(net, params, {k: v[bm] for k, v in d.items()})
    assert float(terms["alpha"]) == 0.0  # alpha = 1 exactly: no alpha loss
    sub = {k: v[fbm] for k, v in d.items()}
    _, terms = loss_terms(net, params, sub)
    out, _ = net.apply(params, sub["x"], sub["mask"], sub["dim"])
    m, v = np.asarray(out["alpha_mean"][:, 0]), np.asarray(out["alpha_var"][:, 0])
    want = np.mean(0.5 * (np.log(v) + (sub["alpha"] - m) ** 2 / v))
    np.testing.assert_allclose(float(terms["alpha"]), want, rtol=1e-4)


@pytest.fixture(scope="module")
def tiny_joint(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_joint")
    arch = dataclasses.replace(TINY, joint=True)
    ens = bd.neural.train(members=1, seed=3, out=out, **{**TINY_KW, "architecture": arch})
    return ens, out


def test_joint_head_trains_scores_and_round_trips(tiny_joint, fbm_tracks):
    from scipy.stats import multivariate_normal

    ens, out = tiny_joint
    assert ens.arch.joint and ens.arch.joint_head == 0
    info = ens.members[0].info
    assert np.isfinite(info["best_val"]) and info["best_val"] < info["first_loss"]
    # independent networks keep their manifests: no joint keys unless joint=True
    assert "joint" not in Architecture().to_dict()
    assert Architecture(**{**Architecture().to_dict()}) == Architecture()
    # the loss on FBM tracks is the bivariate Gaussian NLL of (alpha, z)
    net, params = ens.arch.build(), ens.members[0].params
    cfg = TrainConfig(**{k: TINY_KW[k] for k in ("models", "lengths", "dims")})
    d = simulate_chunk(cfg, 40, seed=5)[0]
    sub = {k: v[d["cls"] == 1][:12] for k, v in d.items()}
    assert len(sub["cls"]) >= 4
    _, terms = loss_terms(net, params, sub)
    o, _ = net.apply(params, sub["x"], sub["mask"], sub["dim"])
    o = {k: np.asarray(v, np.float64) for k, v in o.items()}
    nll = []
    for i in range(len(sub["cls"])):
        va, vz, c = o["alpha_var"][i, 0], o["z_var"][i], o["alpha_z_cov"][i]
        mvn = multivariate_normal([o["alpha_mean"][i, 0], o["z_mean"][i]], [[va, c], [c, vz]])
        nll.append(-mvn.logpdf([sub["alpha"][i], sub["z"][i]]) - np.log(2 * np.pi))
    np.testing.assert_allclose(float(terms["alpha"] + terms["logD"]), np.mean(nll), rtol=1e-4)
    # Cholesky parameterization: var(alpha | z) = alpha_var - cov^2 / z_var >= the floor
    given = o["alpha_var"][:, 0] - o["alpha_z_cov"] ** 2 / o["z_var"]
    np.testing.assert_allclose(given, o["alpha_var_given_z"], rtol=1e-3, atol=1e-6)
    assert np.all(o["alpha_var_given_z"] >= 0.99e-4)
    # predict: the correlation column only for a joint network
    df = ens.predict(fbm_tracks)
    assert np.all(np.abs(df["alpha_logD_corr_fbm"]) < 1)
    post = ens.to_inference_data(fbm_tracks, draws=100, seed=0).posterior
    assert post["logD"].shape == (1, 100, len(fbm_tracks)) and np.all(np.isfinite(post["logD"]))
    # save / load round-trips identically, joint head included
    again = bd.neural.load(out)
    assert again.arch == ens.arch
    np.testing.assert_array_equal(
        again.predict(fbm_tracks).drop(columns=["track", "model"]).to_numpy(float),
        df.drop(columns=["track", "model"]).to_numpy(float),
    )
    man = json.loads((out / "manifest.json").read_text())
    assert man["architecture"]["joint"] is True and man["architecture"]["joint_head"] == 0
    (out / "manifest.json").write_text(
        json.dumps({**man, "architecture": {**man["architecture"], "joint_head": 1}})
    )
    with pytest.raises(NetworkFileError, match="joint head 1"):
        bd.neural.load(out)
    (out / "manifest.json").write_text(json.dumps(man))


def test_independent_network_has_no_correlation_column(tiny, fbm_tracks):
    ens, _ = tiny
    assert not ens.arch.joint and "alpha_logD_corr_fbm" not in ens.predict(fbm_tracks)
    default = bd.neural.default_ensemble()  # the shipped default loads as independent
    assert not default.arch.joint and "joint" not in default.arch.to_dict()


def test_compiles_once_per_bucket(tiny, compilations):
    ens, _ = tiny
    ts = bd.models.FBM().simulate(1, {"alpha": 0.8, "D": 0.1}, 50, 0.1, dim=2, n_tracks=200)
    ens.predict(ts[:70])  # pads to 128 tracks
    with compilations() as same:
        ens.predict(ts[:100])  # 100 tracks, one bucket, same padded batch size: no new compilation
    with compilations() as more:
        ens.predict(ts)  # 200 tracks pad to 256: a new program
    network = f"jit({ens.network.__name__})"  # the name JAX reports for its compilations
    assert same[network] == 0 and more[network] == 1


def test_to_inference_data(tiny, fbm_tracks):
    ens, _ = tiny
    idata = ens.to_inference_data(fbm_tracks, draws=200, seed=1)
    post = idata.posterior
    assert post["alpha"].shape == (1, 200, len(fbm_tracks))
    assert list(post["track"].values) == fbm_tracks.ids
    assert idata.constant_data["model_probability"].shape == (len(fbm_tracks), 2)
    df = ens.predict(fbm_tracks)
    # draws follow the mixture: their mean is near the mixture mean
    err = np.abs(post["alpha"].mean(("chain", "draw")).values - df["alpha_mean"].values)
    assert np.all(err < 5 * df["alpha_sd"].values / np.sqrt(200) + 1e-3)
    # ... and the point mass at alpha = 1 (bm) gets probability p_bm
    at_one = (post["alpha"].values[0] == 1.0).mean(0)
    np.testing.assert_allclose(at_one.mean(), df["p_bm"].mean(),
                               atol=5 * np.sqrt(0.25 / (200 * len(fbm_tracks))))  # fmt: skip
    assert np.all(at_one[df["p_bm"].values < 1e-3] < 0.05)


def test_bad_input_errors_clearly(tiny):
    ens, _ = tiny
    short = bd.Track(np.cumsum(np.ones((5, 2)), 0), dt=0.1, id="s")
    with pytest.raises(TrackTooShortError, match="'s'.*5 points.*at least 20"):
        ens.predict(short)
    with pytest.raises(NonFiniteError):
        bd.Track(np.where(np.arange(60)[:, None] == 7, np.nan, 1.0) * np.ones((60, 2)), dt=0.1)
    bad = bd.Track(np.random.default_rng(0).normal(size=(40, 2)), dt=0.1, id="n")
    object.__setattr__(bad, "positions", np.where(np.arange(40)[:, None] == 3, np.nan, 0.0))
    with pytest.raises(NonFiniteError, match="'n'"):
        ens.predict(bad)
    three = bd.Track(np.random.default_rng(0).normal(size=(40, 3)), dt=0.1, id="3d")
    with pytest.raises(DimensionError, match="3-dimensional"):
        ens.predict(three)
    still = bd.Track(np.ones((40, 2)), dt=0.1, id="z")
    with pytest.raises(TrackError, match="39 of 39 steps repeat the previous position"):
        ens.predict(still)


def test_bad_files_raise_network_file_error(tiny, tmp_path):
    ens, _ = tiny
    d = ens.save(tmp_path / "net")
    with pytest.raises(NetworkFileError, match="no manifest"):
        bd.neural.load(tmp_path / "nothing")
    man = json.loads((d / "manifest.json").read_text())
    arch_2heads = {**man["architecture"], "alpha_heads": 2}
    for change, pattern in [
        ({"bayesdiff_version": "9.9.0"}, "saved by bayesdiff 9.9.0"),
        ({"format": 99}, "format 99"),
        ({"format": 1}, "format 1; .*class-conditional alpha heads.*retrain"),
        ({"architecture": arch_2heads}, "2 alpha heads.*1 with a variable alpha"),
    ]:
        (d / "manifest.json").write_text(json.dumps({**man, **change}))
        with pytest.raises(NetworkFileError, match=pattern):
            bd.neural.load(d)
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(NetworkFileError, match="manifest"):
        bd.neural.load(d)
    (d / "manifest.json").write_text(json.dumps(man))
    w = d / "member0.msgpack"
    raw = bytearray(w.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    w.write_bytes(bytes(raw))
    with pytest.raises(NetworkFileError, match="checksum"):
        bd.neural.load(d)


def test_default_ensemble_predicts_finite_values():
    ens = bd.neural.default_ensemble()
    assert len(ens.members) == 5 and ens.min_length >= 2
    ts = bd.models.FBM().simulate(0, {"alpha": 0.5, "D": 0.1}, 99, 0.05, dim=2, n_tracks=8)
    df = ens.predict(ts)
    assert np.all(np.isfinite(df.drop(columns=["track", "model"]).to_numpy(float)))
    assert set(f"p_{m}" for m in ens.model_names) <= set(df.columns)
    assert ens.alpha_classes == ["fbm", "levy"] and ens.arch.alpha_heads == 2
    assert {"alpha_mean_fbm", "alpha_sd_fbm", "alpha_mean_levy", "alpha_sd_levy"} <= set(df)
