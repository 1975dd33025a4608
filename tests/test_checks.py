"""The information-content model check: coarse-graining is exact, the table is well formed,
p-values are calibrated under the model and small under a misspecified one."""

import arviz as az
import jax
import numpy as np
import pandas as pd
import pytest
import scipy.stats as st
import xarray as xr

import bayesdiff as bd
from bayesdiff.errors import ModelError
from bayesdiff.inference.checks import coarse_grain, model_check
from bayesdiff.models.fbm import fgn_autocovariance

BM = bd.models.Brownian()


def brownian_posterior(track, n_draws=400, seed=0):
    """Exact posterior draws of D for Brownian motion without noise (gap-free track).

    With the log-uniform (1/D) prior, D | data ~ InvGamma(N/2, S/(4 dt)) where S is
    the sum of squared increments and N their number (truncation to the prior's
    bounds is negligible here).
    """
    x = track.increments
    S, N = float(np.sum(x**2)), x.size
    return {"D": (S / (4 * track.dt)) / np.random.default_rng(seed).gamma(N / 2, size=n_draws)}


# -- coarse-graining -----------------------------------------------------------------------
def test_coarse_grain_sums_blocks_of_increments():
    tr = BM.simulate(0, {"D": 1.0}, 20, 0.1, dim=2)[0]
    c = coarse_grain(tr, 4)
    assert c.dt == pytest.approx(0.4)
    assert c.frames.tolist() == [0, 1, 2, 3, 4, 5]
    np.testing.assert_allclose(c.increments, tr.increments.reshape(5, 4, 2).sum(1))
    assert coarse_grain(tr, 1) is tr
    with pytest.raises(ValueError):
        coarse_grain(tr, 0)


def test_coarse_grain_with_gaps_is_in_time():
    frames = [3, 4, 5, 7, 9, 11, 12, 15, 17, 19]
    tr = bd.Track(np.arange(10.0), dt=0.5, frames=frames)
    c = coarse_grain(tr, 2)  # grid 3, 5, 7, ...: keeps frames 3 5 7 9 11 15 17 19
    assert c.positions[:, 0].tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 9.0]
    assert c.frames.tolist() == [0, 1, 2, 3, 4, 6, 7, 8] and c.dt == 1.0
    assert c.has_gaps


@pytest.mark.parametrize("scale", [2, 3, 5])
def test_coarse_grained_fbm_likelihood_is_exact(scale):
    """The likelihood of the every-n-th-point track equals the dense density of the
    block sums of the full-resolution increments (FBM with noise and drift)."""
    m = bd.models.FBM(noise=True, drift=True)
    p = {"alpha": 0.6, "D": 0.3, "v": [0.2, -0.1], "sigma": 0.1}
    dt, n = 0.1, 30
    tr = m.simulate(1, p, n, dt, dim=2)[0]
    r = np.asarray(fgn_autocovariance(p["alpha"], n))
    lag = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    band = np.where(lag == 0, 2.0, 0.0) - np.where(lag == 1, 1.0, 0.0)
    cov = p["D"] * dt ** p["alpha"] * r[lag] + p["sigma"] ** 2 * band
    m_blocks = n // scale
    A = np.kron(np.eye(m_blocks), np.ones(scale))
    A = np.pad(A, ((0, 0), (0, n - A.shape[1])))
    summed = A @ tr.increments
    mean = scale * dt * np.asarray(p["v"])
    expected = sum(
        st.multivariate_normal(np.full(m_blocks, mean[j]), A @ cov @ A.T).logpdf(summed[:, j])
        for j in range(2)
    )
    coarse = coarse_grain(tr, scale)
    got = float(jax.jit(lambda q: m.log_likelihood(q, coarse))(p))  # one program, not op by op
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_coarse_grained_brownian_with_gaps_is_exact():
    """Gapped Brownian + noise: block sums in time have variance 2 D tau + noise band."""
    m = bd.models.Brownian(noise=True)
    p = {"D": 0.2, "sigma": 0.05}
    frames = np.array([0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 20, 22, 24])
    tr = m.simulate(2, p, len(frames) - 1, 0.1, dim=1, frames=frames)[0]
    c = coarse_grain(tr, 2)
    tau = c.time_lags
    k = len(tau)
    lag = np.abs(np.arange(k)[:, None] - np.arange(k)[None, :])
    cov = np.diag(2 * p["D"] * tau) + p["sigma"] ** 2 * (
        np.where(lag == 0, 2.0, 0.0) - np.where(lag == 1, 1.0, 0.0)
    )
    expected = st.multivariate_normal(np.zeros(k), cov).logpdf(c.increments[:, 0])
    np.testing.assert_allclose(float(jax.jit(lambda q: m.log_likelihood(q, c))(p)), expected,
                               rtol=1e-9)  # fmt: skip


# -- the table -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bm_track():
    return BM.simulate(5, {"D": 0.1}, 100, 0.05, dim=2)[0]


def test_table_columns_and_skipped_scales(bm_track):
    df = model_check(BM, bm_track, brownian_posterior(bm_track), n_replicates=50)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns[:5]) == ["scale", "n_points", "p_value", "p_value_upper",
                                    "p_value_two_sided"]  # fmt: skip
    # 100 increments: scale 16 leaves 6 < 8 coarse increments, 32 leaves 3: skipped
    assert df["scale"].tolist() == [1, 2, 4, 8]
    assert df["n_points"].tolist() == [101, 51, 26, 13]
    assert df.attrs["skipped_scales"] == [16, 32]
    for col in ("p_value", "p_value_upper", "p_value_two_sided"):
        assert df[col].between(0, 1).all()
    assert (df["p_value"] + df["p_value_upper"] <= 1 + 1e-12).all()
    obs, rep = df.attrs["loglik"][1]
    assert obs.shape == (1,) and rep.shape == (50,)  # "sampled": one draw, observed once


def test_same_seed_same_table_and_methods(bm_track):
    post = brownian_posterior(bm_track)
    a = model_check(BM, bm_track, post, n_replicates=40, seed=3)
    b = model_check(BM, bm_track, post, n_replicates=40, seed=3)
    pd.testing.assert_frame_equal(a, b)
    c = model_check(BM, bm_track, post, n_replicates=40, seed=3, method="posterior")
    assert c.attrs["method"] == "posterior" and len(c) == len(a)
    assert c.attrs["loglik"][1][0].shape == (40,)
    with pytest.raises(ValueError):
        model_check(BM, bm_track, post, method="nope")


def test_accepts_inference_data_and_track_dimension(bm_track):
    post = brownian_posterior(bm_track, n_draws=200)["D"].reshape(2, 100)
    idata = az.from_dict(posterior={"D": post})
    a = model_check(BM, bm_track, idata, n_replicates=30)
    b = model_check(BM, bm_track, {"D": post.ravel()}, n_replicates=30)
    pd.testing.assert_frame_equal(a, b)
    # a sample_many-like posterior: (chain, draw, track); the track's own draws are used
    other = np.full_like(post, 50.0)
    many = xr.Dataset({"D": (("chain", "draw", "track"), np.stack([other, post], -1))},
                      coords={"track": [7, bm_track.id]})  # fmt: skip
    c = model_check(BM, bm_track, many, n_replicates=30)
    pd.testing.assert_frame_equal(a, c)
    with pytest.raises(ModelError):
        model_check(BM, bm_track, many.assign_coords(track=[7, 8]), n_replicates=30)
    with pytest.raises(ModelError):
        model_check(bd.models.FBM(), bm_track, idata, n_replicates=30)


def test_no_recompilation_across_tracks_and_replicates(compilations):
    tracks = BM.simulate(9, {"D": 0.1}, 64, 0.05, dim=2, n_tracks=4)
    bd.inference.clear_caches()
    with compilations() as first:
        model_check(BM, tracks[0], brownian_posterior(tracks[0]), n_replicates=23)
    assert first["jit(loglik_from_data)"] == 1  # all scales padded to one shape: one compilation
    with compilations() as rest:
        for t in tracks[1:]:
            model_check(BM, t, brownian_posterior(t), n_replicates=23)
    assert sum(rest.values()) == 0  # nothing at all is compiled again


# -- calibration and power -------------------------------------------------------------------
def test_sampled_p_values_are_uniform_for_the_true_model():
    """150 Brownian tracks checked with Brownian (exact posterior): at each scale the
    fraction of p < 0.1 lies in the binomial 99.9% range around 0.1, and the mean p in
    0.5 +- 4 standard errors. Negative control below: the posterior-predictive variant
    piles p near 0.5 at scale 1."""
    tracks = BM.simulate(21, {"D": 0.1}, 64, 0.05, dim=1, n_tracks=150)
    p = np.array([
        model_check(BM, t, brownian_posterior(t, seed=i), scales=(1, 4), n_replicates=100,
                    seed=i)["p_value"].to_numpy()
        for i, t in enumerate(tracks)
    ])  # fmt: skip
    lo, hi = st.binom(150, 0.1).ppf([0.0005, 0.9995]) / 150
    for j in range(p.shape[1]):
        assert lo <= np.mean(p[:, j] < 0.1) <= hi
        assert abs(p[:, j].mean() - 0.5) < 4 * np.sqrt(1 / 12 / 150)
    pp = [model_check(BM, t, brownian_posterior(t), scales=(1,), method="posterior")
          for t in tracks[:20]]  # fmt: skip
    assert all(0.3 <= df["p_value"].iloc[0] <= 0.7 for df in pp)


def test_subdiffusive_fbm_fails_the_brownian_check():
    """Negative control: FBM alpha = 0.3 (n = 200) checked with Brownian motion gives
    p_value_upper < 0.05 at a coarse scale (too small displacements over many frames)."""
    fbm = bd.models.FBM()
    tr = fbm.simulate(4, {"alpha": 0.3, "D": 0.1}, 200, 0.05, dim=2)[0]
    df = model_check(BM, tr, brownian_posterior(tr))
    coarse = df[df["scale"] >= 4]
    assert (coarse["p_value_upper"] < 0.05).all()
    assert (coarse["p_value_two_sided"] < 0.1).all()


def test_langevin_check_runs_with_noise_and_gaps():
    lv = bd.models.Langevin(noise=True)
    p = {"D": 0.1, "k": 1.0, "c": [1.0, 2.0], "sigma": 0.02}
    frames = np.delete(np.arange(130), [5, 17, 18, 40, 77, 78, 79, 100, 101, 120])
    tr = lv.simulate(0, p, len(frames) - 1, 0.05, dim=2, frames=frames)[0]
    post = {k: np.broadcast_to(np.asarray(v), (10, *np.shape(v))) for k, v in p.items()}
    df = model_check(lv, tr, post, n_replicates=30, method="posterior")
    assert df["scale"].tolist() == [1, 2, 4, 8, 16]  # 16: 9 grid frames, 8 increments
    assert df["p_value"].between(0, 1).all()


def test_plot_model_check(bm_track):
    import matplotlib

    matplotlib.use("Agg")
    from bayesdiff.plots import plot_model_check

    df = model_check(BM, bm_track, brownian_posterior(bm_track), n_replicates=20)
    fig = plot_model_check(df)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.lines) == 3
    assert bd.model_check is model_check
