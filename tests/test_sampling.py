"""NUTS posteriors: structure of the results, diagnostics, recovery, compilation counts."""

import re
import warnings

import numpy as np
import pytest

import bayesdiff as bd
from bayesdiff.errors import DiagnosticsWarning, MethodError

# One set of NUTS settings for the short fits of this file: a compiled sampler is
# reused by every fit of the same model, data shape, warm-up length and chain count.
FAST = dict(draws=150, tune=150, progress=False)


@pytest.fixture(scope="module")
def fbm_track():
    return bd.models.FBM().simulate(
        seed=3, params={"alpha": 0.5, "D": 0.2}, n_steps=150, dt=0.05, dim=2
    )[0]


@pytest.fixture(scope="module")
def fbm_fit(fbm_track):
    """FBM fit of the track (4 x 150 draws) and the diagnostics warnings it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DiagnosticsWarning)
        idata = bd.sample(bd.models.FBM(), fbm_track, chains=4, seed=0, **FAST)
    return idata, [w for w in caught if issubclass(w.category, DiagnosticsWarning)]


@pytest.fixture(scope="module")
def fbm_idata(fbm_fit):
    return fbm_fit[0]


def test_inference_data_groups_and_attrs(fbm_idata, fbm_track):
    idata = fbm_idata
    for g in ("posterior", "sample_stats", "log_likelihood", "observed_data", "constant_data"):
        assert g in idata.groups()
    assert set(idata.posterior.data_vars) == {"alpha", "D"}
    assert idata.posterior.alpha.shape == (4, 150)
    for s in ("diverging", "tree_depth", "n_steps", "step_size", "energy", "lp", "acceptance_rate"):
        assert s in idata.sample_stats
    assert idata.log_likelihood.obs.shape == (4, 150, fbm_track.n_steps)
    assert idata.observed_data.increments.shape == (fbm_track.n_steps, 2)
    assert idata.constant_data.dt.item() == 0.05
    attrs = idata.posterior.attrs
    assert attrs["model"] == "fbm" and attrs["seed"] == 0 and "bayesdiff_version" in attrs
    assert "max_r_hat" in attrs and "divergences" in attrs


def test_pointwise_loglik_sums_to_loglik(fbm_idata, fbm_track):
    m = bd.models.FBM()
    a, D = float(fbm_idata.posterior.alpha[0, 0]), float(fbm_idata.posterior.D[0, 0])
    total = float(m.log_likelihood({"alpha": a, "D": D}, fbm_track))
    assert float(fbm_idata.log_likelihood.obs[0, 0].sum()) == pytest.approx(total, rel=1e-10)


def test_recovery_single_track(fbm_idata):
    """The truth (alpha=0.5, D=0.2) lies within 4 posterior sd; R-hat is fine."""
    post = fbm_idata.posterior
    for name, truth in (("alpha", 0.5), ("D", 0.2)):
        m, s = float(post[name].mean()), float(post[name].std())
        assert abs(m - truth) < 4 * s
    diag = bd.diagnostics(fbm_idata)
    assert (diag.r_hat < 1.05).all()


def test_summary_table(fbm_idata):
    tab = bd.summary(fbm_idata)
    assert list(tab.parameter) == ["D", "alpha"] or set(tab.parameter) == {"D", "alpha"}
    for col in ("mean", "sd", "r_hat", "ess_bulk", "ess_tail"):
        assert col in tab.columns
    assert any(c.startswith("hdi_") for c in tab.columns)


def test_same_seed_same_draws(fbm_track):
    m = bd.models.Brownian()
    kw = dict(chains=2, warn=False, **FAST)  # the negative control's compiled sampler
    a = bd.sample(m, fbm_track, seed=4, **kw)
    b = bd.sample(m, fbm_track, seed=4, **kw)
    np.testing.assert_array_equal(a.posterior.D.values, b.posterior.D.values)
    c = bd.sample(m, fbm_track, seed=5, **kw)
    assert not np.array_equal(a.posterior.D.values, c.posterior.D.values)


def test_diagnostics_warn_names_parameter(fbm_fit):
    """4 x 150 draws: bulk ESS below 400, and the warning says for which parameter."""
    _, caught = fbm_fit
    assert len(caught) == 1
    assert re.search("alpha|D", str(caught[0].message))


def test_negative_control_fbm_data_with_brownian(fbm_idata, fbm_track):
    """Subdiffusive FBM data: Brownian's pointwise fit is worse (PSIS-LOO) than FBM's."""
    from bayesdiff.inference import _arviz

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        bm = bd.sample(bd.models.Brownian(), fbm_track, chains=2, seed=1, **FAST)
    assert _arviz.loo(fbm_idata).elpd_loo > _arviz.loo(bm).elpd_loo + 5


class _Counting(bd.models.Brownian):
    """Brownian motion that counts how often its likelihood is traced (compiled)."""

    traces = 0

    def pointwise_from_data(self, params, data, regular):
        type(self).traces += 1
        return super().pointwise_from_data(params, data, regular)


def test_pointwise_draws_in_memory_bounded_batches(fbm_idata, fbm_track, monkeypatch):
    """The pointwise log-likelihoods of all draws are computed in batches of draws sized
    to a memory budget (one vmap over 4000 draws of a 1000-step FBM track needed ~32 GB):
    batches of one draw give the same numbers as the default batch."""
    from bayesdiff.inference import _programs
    from bayesdiff.models.base import as_data

    m = bd.models.FBM()
    data, regular = as_data(fbm_track)
    params = {k: fbm_idata.posterior[k].values[:, :7] for k in ("alpha", "D")}
    full = np.asarray(_programs.pointwise_program(m, regular, "lanes")(params, data))
    monkeypatch.setattr(_programs, "POINTWISE_BYTES", 1)
    bd.inference.clear_caches()
    one_by_one = np.asarray(_programs.pointwise_program(m, regular, "lanes")(params, data))
    bd.inference.clear_caches()
    np.testing.assert_allclose(one_by_one, full, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        full, fbm_idata.log_likelihood.obs.values[:, :7], rtol=1e-12, atol=1e-12
    )


def test_sample_many_compiles_once_per_bucket():
    """Tracing count does not grow with the number of equal-length tracks."""
    import dataclasses

    m = dataclasses.replace(_Counting())
    kw = dict(draws=20, tune=20, chains=2, progress=False, warn=False, chunk_size=4)
    ts = m.simulate(0, {"D": 0.1}, n_steps=24, dt=0.1, n_tracks=16)
    _Counting.traces = 0
    bd.sample_many(m, ts[:4], **kw)  # warm the compiled-sampler cache
    assert _Counting.traces > 0  # the count sees compilations
    _Counting.traces = 0
    bd.sample_many(m, ts[:4], **kw)
    small = _Counting.traces
    _Counting.traces = 0
    idata = bd.sample_many(m, ts, **kw)
    assert _Counting.traces == small  # 4 chunks cost no more traces than 1
    assert idata.posterior.D.dims == ("chain", "draw", "track")
    assert list(idata.posterior.track.values) == list(range(16))


def test_sample_many_ragged_padding_and_recovery():
    """Ragged tracks (lengths in two buckets, 32 and 64 steps): NaN padding, ids as
    coordinates, recovery; and a padded track has the posterior of its own exact (grid)
    fit: means within 4 Monte Carlo standard errors."""
    m = bd.models.Brownian()
    truth = {"D": 0.3}
    ts = bd.TrackSet(
        [
            bd.Track(m.simulate(s, truth, n_steps=n, dt=0.05, dim=2)[0].positions, 0.05, id=f"t{s}")
            for s, n in enumerate([40, 60, 50, 25])
        ]
    )
    idata = bd.sample_many(m, ts, draws=300, tune=300, chains=2, progress=False, warn=False)
    assert list(idata.posterior.track.values) == ["t0", "t1", "t2", "t3"]
    ll = idata.log_likelihood.obs
    assert ll.shape[-1] == 60 and np.isnan(ll.sel(track="t3")[0, 0, 25:]).all()
    assert np.isfinite(ll.sel(track="t3")[0, 0, :25]).all()
    D = idata.posterior.D
    z = (D.mean(("chain", "draw")) - 0.3) / D.std(("chain", "draw"))
    assert (np.abs(z) < 4).all()
    tab = bd.summary(idata)
    assert set(tab.track) == {"t0", "t1", "t2", "t3"}
    one = bd.sample(m, ts[2], method="grid", draws=2000, chains=2, seed=0)  # 50 of 64 steps
    a, b = D.sel(track="t2"), one.posterior.D
    se = np.sqrt(float(a.var()) / 100 + float(b.var()) / 4000)  # NUTS ESS >= 100 per fit
    assert abs(float(a.mean()) - float(b.mean())) < 4 * se


@pytest.mark.parametrize(
    ("model", "truth"),
    [
        (bd.models.Brownian(), {"D": 0.5}),
        # the same path with FBM's likelihood: its compilation takes 20 s of the suite
        pytest.param(bd.models.FBM(), {"alpha": 0.7, "D": 0.5}, marks=pytest.mark.slow),
    ],
    ids=["bm", "fbm"],
)
def test_pooled_fit_shares_parameters(model, truth):
    """One set of parameters for twelve tracks, recovered; pointwise log-likelihoods
    per track and step."""
    ts = model.simulate(1, truth, n_steps=30, dt=0.05, dim=2, n_tracks=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        idata = bd.sample(model, ts, chains=2, method="nuts", **FAST)
    for p, value in truth.items():
        post = idata.posterior[p]
        assert post.dims == ("chain", "draw")
        assert abs(float(post.mean()) - value) < 4 * float(post.std())
    assert idata.log_likelihood.obs.dims[-2:] == ("track", "step")


def test_bad_input_errors():
    m = bd.models.FBM()
    with pytest.raises(bd.errors.TrackTooShortError, match="'tiny'"):
        bd.sample(m, bd.Track(np.zeros((2, 1)), dt=0.1, id="tiny"), progress=False)
    with pytest.raises(TypeError):
        bd.sample(m, np.zeros((10, 2)), progress=False)
    with pytest.raises(bd.errors.ModelError):
        bd.sample_many(m, bd.TrackSet([]), progress=False)


# -----------------------------------------------------------------------------
# method="grid": exact quadrature posterior
# -----------------------------------------------------------------------------
def _brute_force_moments(model, track, axes, fixed=None):
    """Posterior mean and sd of alpha, log D and log sigma by a dense midpoint rule over
    ``axes`` (name -> (lo, hi, n): alpha linear, D and sigma on the log scale)."""
    import jax
    import jax.numpy as jnp

    names = list(axes)
    grids = []
    for name in names:
        lo, hi, n = axes[name]
        h = (hi - lo) / n
        grids.append(lo + h * (np.arange(n) + 0.5))
    mesh = [g.ravel() for g in np.meshgrid(*grids, indexing="ij")]

    def logpost(vals):
        p = {}
        lp = 0.0
        for name, v in zip(names, vals, strict=True):
            val = v if name == "alpha" else jnp.exp(v)
            p[name] = val
            # density in the integration coordinate: prior(val) * |d val / d v|
            lp = lp + model.prior(name).log_prob(val) + (0.0 if name == "alpha" else v)
        return lp + model.log_likelihood(p | (fixed or {}), track)

    # one compiled program for every chunk of 4096 points (the last one padded)
    batched, size = jax.jit(jax.vmap(logpost)), mesh[0].size
    points = np.stack(mesh, 1)
    points = np.concatenate([points, np.repeat(points[-1:], -size % 4096, 0)])
    lp = np.concatenate(
        [np.asarray(batched(jnp.asarray(points[i : i + 4096]))) for i in range(0, size, 4096)]
    )[:size]
    w = np.exp(lp - lp.max())
    w /= w.sum()
    out = {}
    for name, v in zip(names, mesh, strict=True):
        mu = np.sum(w * v)
        out[name] = (mu, np.sqrt(np.sum(w * (v - mu) ** 2)))
    return out


@pytest.mark.parametrize("noise", [False, True])
def test_grid_posterior_matches_brute_force(noise):
    """Grid draws (jittered over cells) against a dense midpoint rule: means and sds of
    alpha, log D (, log sigma) agree to 0.05 posterior sd (Monte Carlo error of 8000
    draws: about 0.011 sd for the mean, 0.008 sd for the sd)."""
    m = bd.models.FBM(noise=noise)
    p = {"alpha": 0.8, "D": 0.3} | ({"sigma": 0.1} if noise else {})
    tr = m.simulate(seed=11, params=p, n_steps=60, dt=0.1, dim=1)[0]
    idata = bd.sample(m, tr, method="grid", draws=2000, chains=4, seed=2)
    assert idata.attrs["method"] == "grid" and "sample_stats" not in idata.groups()
    n = 40 if noise else 160
    axes = {"alpha": (0.0, 2.0, n), "D": (np.log(1e-3), np.log(10.0), n)}
    if noise:
        axes["sigma"] = (np.log(1e-3), np.log(1.0), n)
    ref = _brute_force_moments(m, tr, axes)
    for name, (mu, sd) in ref.items():
        d = idata.posterior[name].values.ravel()
        d = d if name == "alpha" else np.log(d)
        assert abs(d.mean() - mu) < 0.05 * sd, (name, d.mean(), mu, sd)
        assert abs(d.std() - sd) < 0.05 * sd, (name, d.std(), sd)


def test_grid_auto_choice_pooled_and_errors(fbm_track, fbm_idata):
    """auto -> grid for FBM; grid agrees with NUTS (0.3 sd); pooled works; grid on a model
    it does not cover (the Lévy walk) is an error naming the model."""
    g = bd.sample(bd.models.FBM(), fbm_track, method="auto", draws=500, chains=2, seed=1)
    assert g.attrs["method"] == "grid" and np.isfinite(g.attrs["log_evidence"])
    assert g.log_likelihood.obs.shape == (2, 500, fbm_track.n_steps)
    for name in ("alpha", "D"):
        a, b = g.posterior[name].values, fbm_idata.posterior[name].values
        assert abs(a.mean() - b.mean()) < 0.3 * b.std()
    lw = bd.models.Langevin()
    tr = lw.simulate(seed=0, params={"D": 0.1, "k": 2.0, "c": 0.0}, n_steps=30, dt=0.05)[0]
    with pytest.raises(MethodError, match="levy"):
        bd.sample(bd.models.LevyWalk(), tr, method="grid")
    ts = bd.models.Brownian().simulate(seed=4, params={"D": 0.3}, n_steps=30, dt=0.05, n_tracks=5)
    pooled = bd.sample(bd.models.Brownian(), ts, method="grid", draws=400, chains=2, seed=0)
    assert pooled.attrs["fit"] == "pooled" and pooled.log_likelihood.obs.shape == (2, 400, 5, 30)
    assert abs(float(pooled.posterior.D.mean()) - 0.3) < 4 * float(pooled.posterior.D.std())


def test_single_chain_has_scalar_parameters():
    """chains=1: parameters keep their own shape (no stray chain axis inside them; the
    Lévy walk, whose chain construction needs a scalar alpha, used to fail)."""
    model, params = bd.models.FBM(), {"alpha": 0.7, "D": 0.1}
    track = model.simulate(seed=1, params=params, n_steps=30, dt=0.05, dim=2)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = bd.sample(model, track, draws=20, tune=20, chains=1, progress=False, method="nuts")
    post = idata.posterior
    assert dict(post.sizes) == {"chain": 1, "draw": 20}
    assert all(post[p].dims == ("chain", "draw") for p in model.param_names)


def test_mode_start_same_posterior(fbm_track, fbm_idata):
    """start="mode" (Laplace start and initial mass matrix) samples the same posterior as
    the default data-based start: means within 4 Monte Carlo standard errors (negative
    control: a shift of 10 posterior sd is detected); a wrong name errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        idata = bd.sample(bd.models.FBM(), fbm_track, chains=4, seed=1, start="mode", **FAST)
    assert idata.attrs["nuts_start"] == "mode" and fbm_idata.attrs["nuts_start"] == "data"
    assert bd.models.FBM.nuts_start == "data" and bd.models.LevyWalk.nuts_start == "mode"
    a, b = bd.summary(idata).set_index("parameter"), bd.summary(fbm_idata).set_index("parameter")
    for p in ("alpha", "D"):
        se = np.hypot(a.loc[p, "sd"] / np.sqrt(a.loc[p, "ess_bulk"]),
                      b.loc[p, "sd"] / np.sqrt(b.loc[p, "ess_bulk"]))  # fmt: skip
        assert abs(a.loc[p, "mean"] - b.loc[p, "mean"]) < 4 * se
        assert abs(a.loc[p, "mean"] + 10 * a.loc[p, "sd"] - b.loc[p, "mean"]) > 4 * se
    with pytest.raises(ValueError, match="start"):
        bd.sample(bd.models.FBM(), fbm_track, start="prior", **FAST)
