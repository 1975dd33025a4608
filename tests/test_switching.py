"""The switching-diffusion model: likelihood, gaps, simulator, priors, ML fit and
posterior recovery (segmentation: test_segment.py)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.distributions.transforms import biject_to
from scipy.stats import norm

import bayesdiff as bd
from bayesdiff.errors import ModelError, ParameterError
from bayesdiff.models.switching import OrderedLogUniform

P2 = np.array([[0.9, 0.1], [0.25, 0.75]])
P3 = np.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.3, 0.1, 0.6]])


def _stationary(P):
    w, v = np.linalg.eig(P.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1))])
    return pi / pi.sum()


def _brute_force(track, D, P, v=None, sigma=0.0):
    """Sum over every hidden path on the FULL frame grid; frames without an
    observed increment end have no emission. An increment of lag L is emitted by
    the state of its last frame interval with N(v tau, 2 D tau + 2 sigma^2)."""
    K = len(D)
    frames = track.frames - track.frames[0]
    n_frames = int(frames[-1])
    emit_at = {int(f) - 1: t for t, f in enumerate(frames[1:])}
    pi = _stationary(P)
    total = 0.0
    for path in itertools.product(range(K), repeat=n_frames):
        p = pi[path[0]]
        for f in range(1, n_frames):
            p *= P[path[f - 1], path[f]]
        for f, t in emit_at.items():
            k = path[f]
            tau = track.lags[t] * track.dt
            mean = 0.0 if v is None else v[k] * tau
            sd = np.sqrt(2 * D[k] * tau + 2 * sigma**2)
            p *= np.prod(norm.pdf(track.increments[t], mean, sd))
        total += p
    return np.log(total)


def _track(frames, dim=2, seed=0, dt=0.1):
    rng = np.random.default_rng(seed)
    pos = np.cumsum(rng.normal(scale=0.3, size=(len(frames), dim)), axis=0)
    return bd.Track(pos, dt, frames=np.asarray(frames))


# -----------------------------------------------------------------------------
# likelihood
# -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "K, drift, noise",
    [(2, False, False), (2, True, True), (3, False, True), (3, True, False)],
)
def test_likelihood_equals_brute_force(K, drift, noise):
    m = bd.models.Switching(n_states=K, drift=drift, noise=noise)
    track = _track(np.arange(6), dim=2, seed=K)
    D = np.array([0.05, 0.4, 1.5][:K])
    P = P2 if K == 2 else P3
    params = {"D": D, "P": P}
    v = None
    if drift:
        v = np.random.default_rng(1).normal(size=(K, 2))
        params["v"] = v
    sigma = 0.07 if noise else 0.0
    if noise:
        params["sigma"] = sigma
    ref = _brute_force(track, D, P, v, sigma)
    np.testing.assert_allclose(m.log_likelihood(params, track), ref, rtol=1e-11)
    # pointwise terms are one-step predictive densities: their partial sums are
    # the likelihoods of the truncated tracks
    pw = np.asarray(m.pointwise_log_likelihood(params, track))
    for n in (1, 3):
        short = bd.Track(track.positions[: n + 1], track.dt, frames=track.frames[: n + 1])
        np.testing.assert_allclose(pw[:n].sum(), _brute_force(short, D, P, v, sigma), rtol=1e-11)


@pytest.mark.parametrize("K", [2, 3])
def test_gaps_equal_brute_force_on_full_frame_grid(K):
    m = bd.models.Switching(n_states=K, noise=True)
    frames = [0, 1, 3, 4, 7] if K == 3 else [0, 2, 3, 6, 7, 9]
    track = _track(frames, dim=1, seed=3)
    assert track.has_gaps
    D = np.array([0.05, 0.4, 1.5][:K])
    P = P2 if K == 2 else P3
    ref = _brute_force(track, D, P, None, 0.05)
    got = m.log_likelihood({"D": D, "P": P, "sigma": 0.05}, track)
    np.testing.assert_allclose(got, ref, rtol=1e-11)


def test_likelihood_equals_hmmlearn_score():
    from hmmlearn.hmm import GaussianHMM

    m = bd.models.Switching(n_states=3, drift=True, noise=True)
    params = {"D": np.array([0.02, 0.3, 2.0]), "P": P3,
              "v": np.array([[0.0, 0.1], [0.5, -0.5], [1.0, 0.0]]), "sigma": 0.03}  # fmt: skip
    dt = 0.02
    tracks = m.simulate(seed=4, params=params, n_steps=300, dt=dt, dim=2)
    ref = GaussianHMM(n_components=3, covariance_type="spherical")
    ref.startprob_ = _stationary(P3)
    ref.transmat_ = P3
    ref.means_ = params["v"] * dt
    ref.covars_ = 2 * params["D"] * dt + 2 * params["sigma"] ** 2
    np.testing.assert_allclose(m.log_likelihood(params, tracks[0]), ref.score(tracks[0].increments),
                               rtol=1e-10)  # fmt: skip


def test_one_state_is_brownian():
    """K = 1 without noise is Brownian motion (independent Gaussian increments), gaps included."""
    track = _track([0, 1, 2, 5, 6, 8, 9], dim=2, seed=5)
    sw = bd.models.Switching(n_states=1, drift=True)
    bm = bd.models.Brownian(drift=True)
    v = np.array([0.3, -0.2])
    np.testing.assert_allclose(
        sw.log_likelihood({"D": [0.7], "v": v[None]}, track),
        bm.log_likelihood({"D": 0.7, "v": v}, track), rtol=1e-12,
    )  # fmt: skip


def test_jit_vmap_grad_and_padding():
    m = bd.models.Switching(n_states=2, noise=True)
    params = {"D": jnp.array([0.1, 1.0]), "P": jnp.asarray(P2), "sigma": jnp.asarray(0.02)}
    ts = m.simulate(seed=0, params=params, n_steps=40, dt=0.05, dim=2, n_tracks=3)
    ll = m.log_likelihood(params, ts[0])
    np.testing.assert_allclose(
        jax.jit(m.log_likelihood, static_argnums=1)(params, ts[0]), ll, rtol=1e-12
    )
    g = jax.jit(jax.grad(lambda p: m.log_likelihood(p, ts[0])))(params)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(g))
    # padded tails contribute exactly nothing
    from bayesdiff.models.base import as_data

    data, regular = as_data(ts[0], pad_to=64)
    padded = jax.jit(lambda p, d: m.loglik_from_data(p, d, regular))(params, data)
    np.testing.assert_allclose(padded, ll, rtol=1e-12)
    pw = jax.jit(lambda p, d: m.pointwise_from_data(p, d, regular))(params, data)
    assert np.all(np.asarray(pw)[40:] == 0)


def test_parameter_checks():
    m = bd.models.Switching(n_states=2)
    track = _track(np.arange(5))
    with pytest.raises(ParameterError):  # D not increasing
        m.log_likelihood({"D": [0.5, 0.1], "P": P2}, track)
    with pytest.raises(ParameterError):  # wrong shape
        m.log_likelihood({"D": [0.1, 0.5, 1.0], "P": P2}, track)
    with pytest.raises(ParameterError):  # rows of P not on the simplex
        m.log_likelihood({"D": [0.1, 0.5], "P": [[0.5, 0.6], [0.5, 0.5]]}, track)
    with pytest.raises(ModelError):
        bd.models.Switching(n_states=0)
    with pytest.raises(ModelError):
        bd.models.Switching(n_states=2, priors={"D": bd.models.switching.dist.Normal(0, 1)}).prior(
            "D"
        )
    assert bd.models.Switching(n_states=3).name == "switching3"
    assert bd.models.Switching(n_states=1, noise=True).param_names == ("D", "sigma")


def test_init_values():
    """Starting values: ordered, inside the prior, near the truth; pure JAX (vmap) and pooled."""
    from bayesdiff.models.base import as_data

    D = np.array([0.05, 0.5])
    P = np.array([[0.98, 0.02], [0.02, 0.98]])
    m = bd.models.Switching(n_states=2)
    ts = m.simulate(seed=1, params={"D": D, "P": P}, n_steps=400, dt=0.01, dim=2, n_tracks=3)
    data, _ = as_data(ts[0])
    for model in (m, bd.models.Switching(n_states=2, ml_init=True)):
        init = model.init_values(data)
        assert bool(model.prior("D").support(init["D"]))
        np.testing.assert_allclose(init["D"], D, rtol=0.6)
        np.testing.assert_allclose(init["P"].sum(1), 1)
    ml = bd.models.Switching(n_states=2, ml_init=True).init_values(data)
    np.testing.assert_allclose(ml["D"], D, rtol=0.2)  # the EM fit is closer than the quantiles
    batch, _ = as_data(ts.batches()[0])
    vm = jax.jit(jax.vmap(m.init_values))(batch)
    np.testing.assert_allclose(vm["D"][0], m.init_values(data)["D"], rtol=1e-12)
    pooled = m.init_values_pooled([(batch, True)])
    assert bool(m.prior("D").support(pooled["D"]))


# -----------------------------------------------------------------------------
# prior
# -----------------------------------------------------------------------------
def test_ordered_log_uniform_prior():
    d = OrderedLogUniform(1e-3, 10.0, 3)
    x = d.sample(jax.random.PRNGKey(0), (2000,))
    assert x.shape == (2000, 3)
    assert np.all(np.diff(x, axis=-1) > 0) and np.all((x > 1e-3) & (x < 10))
    # density = K! prod LogUniform densities
    lu = bd.models.switching.dist.LogUniform(1e-3, 10.0)
    np.testing.assert_allclose(
        d.log_prob(x[:5]), np.log(6) + lu.log_prob(x[:5]).sum(-1), rtol=1e-12
    )
    # order statistics: the median of the smallest of 3 log-uniforms is at quantile 1 - 0.5^(1/3)
    q = 1 - 0.5 ** (1 / 3)
    np.testing.assert_allclose(
        np.median(np.log(x[:, 0])), np.log(1e-3) + q * np.log(1e4), atol=0.25
    )
    # the NUTS bijection maps all of R^3 onto ordered vectors inside the bounds
    t = biject_to(d.support)
    z = jax.random.normal(jax.random.PRNGKey(1), (100, 3))
    y = t(z)
    assert bool(np.all(d.support(y)))
    np.testing.assert_allclose(t.inv(y), z, atol=1e-8)


# -----------------------------------------------------------------------------
# simulator
# -----------------------------------------------------------------------------
def test_simulator_moments_and_states():
    m = bd.models.Switching(n_states=2)
    D = np.array([0.05, 0.5])
    P = np.array([[0.95, 0.05], [0.1, 0.9]])
    dt = 0.01
    ts, states = m.simulate_with_states(7, {"D": D, "P": P}, 2000, dt, dim=2, n_tracks=5)
    ts2 = m.simulate(7, {"D": D, "P": P}, 2000, dt, dim=2, n_tracks=5)
    np.testing.assert_array_equal(ts[0].positions, ts2[0].positions)  # same seed, same tracks
    inc = np.stack([t.increments for t in ts])
    pi = _stationary(P)
    # occupancy ~ stationary distribution (sd of the mean over 10000 correlated steps ~ 0.015)
    assert abs(states.mean() - pi[1]) < 0.05
    for k in range(2):
        var = inc[states == k].var()
        assert abs(var / (2 * D[k] * dt) - 1) < 0.05
    # mean dwell time 1 / (1 - P_kk) frames
    s = states.ravel()
    changes = np.count_nonzero(np.diff(states, axis=1))
    expected = states.shape[0] * (states.shape[1] - 1) * (pi[0] * P[0, 1] + pi[1] * P[1, 0])
    assert abs(changes / expected - 1) < 0.1
    assert s.dtype.kind == "i"


# -----------------------------------------------------------------------------
# maximum likelihood with hmmlearn
# -----------------------------------------------------------------------------
def test_fit_ml_and_hmmlearn_fix():
    m = bd.models.Switching(n_states=2)
    D = np.array([0.05, 0.5])
    P = np.array([[0.98, 0.02], [0.02, 0.98]])
    dt = 0.01
    ts = m.simulate(seed=2, params={"D": D, "P": P}, n_steps=1000, dt=dt, dim=2, n_tracks=2)
    est = m.fit_ml(ts)
    np.testing.assert_allclose(est["D"], D, rtol=0.15)
    np.testing.assert_allclose(np.diag(est["P"]), np.diag(P), atol=0.02)
    # negative control: hmmlearn 0.3.3's GaussianHMM with means fixed at zero
    # does not collect the occupancies, and the variances blow up; fit_ml's class
    # (the type of the fitted object it returns) does not
    from hmmlearn.hmm import GaussianHMM

    X = np.concatenate([t.increments for t in ts])
    kw = dict(n_components=2, covariance_type="spherical", params="stc", init_params="", n_iter=20)
    fixed = type(est["hmm"])(**kw)
    plain = GaussianHMM(**kw)
    assert isinstance(fixed, GaussianHMM) and type(fixed) is not GaussianHMM
    for h in (fixed, plain):
        h.startprob_, h.transmat_ = np.array([0.5, 0.5]), np.array([[0.9, 0.1], [0.1, 0.9]])
        h.means_, h.covars_ = np.zeros((2, 2)), np.array([0.5e-3, 5e-3])
        h.fit(X, [1000, 1000])
    # spherical: one variance per state on the diagonals of covars_ (which hmmlearn
    # 0.3.3 repeats once per coordinate after a fit with fixed means)
    good = np.sort(np.diagonal(fixed.covars_, axis1=1, axis2=2).reshape(2, -1).mean(1)) / (2 * dt)
    bad = np.sort(np.diagonal(plain.covars_, axis1=1, axis2=2).reshape(2, -1).mean(1)) / (2 * dt)
    np.testing.assert_allclose(good, D, rtol=0.15)
    assert np.max(bad / D) > 100


# -----------------------------------------------------------------------------
# posterior recovery
# -----------------------------------------------------------------------------
def _inside(idata, name, truth, prob=0.99, sel=None):
    a = idata.posterior[name]
    if sel:
        a = a.sel(sel)
    a = np.asarray(a.values).reshape(-1, *np.shape(truth))
    lo, hi = np.quantile(a, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return np.all((truth >= lo) & (truth <= hi))


def test_recovery_single_track(optimized):
    m = bd.models.Switching(n_states=2)
    D = np.array([0.05, 0.5])
    P = np.array([[0.97, 0.03], [0.03, 0.97]])
    tr = m.simulate(seed=5, params={"D": D, "P": P}, n_steps=400, dt=0.01, dim=2)[0]
    with optimized():  # a long run: optimized code repays its compile time
        idata = bd.sample(m, tr, draws=300, tune=300, chains=2, seed=0, progress=False, warn=False)
    assert _inside(idata, "D", D) and _inside(idata, "P", P)
    assert idata.posterior["D"].dims[-1] == "state"
    med = np.median(idata.posterior["D"].values.reshape(-1, 2), 0)
    np.testing.assert_allclose(med, D, rtol=0.25)


FAST_AND_NUTS = ["auto", pytest.param("nuts", marks=pytest.mark.slow)]


@pytest.mark.parametrize("method", FAST_AND_NUTS)
def test_recovery_pooled_short_tracks(optimized, method):
    """Global D and P from many 20-frame tracks (tolerance: 99 % intervals, and 15 % on D);
    "auto" takes checked importance sampling here (NUTS, the reference, under -m slow)."""
    m = bd.models.Switching(n_states=2)
    D = np.array([0.05, 0.5])
    P = np.array([[0.95, 0.05], [0.05, 0.95]])
    ts = m.simulate(seed=6, params={"D": D, "P": P}, n_steps=20, dt=0.01, dim=2, n_tracks=200)
    with optimized():  # a long run: optimized code repays its compile time
        idata = bd.sample(m, ts, method=method, draws=300, tune=300, chains=2, seed=0,
                          progress=False, warn=False)  # fmt: skip
    assert idata.attrs["method"] == ("importance" if method == "auto" else "nuts")
    assert _inside(idata, "D", D) and _inside(idata, "P", P)
    med = np.median(idata.posterior["D"].values.reshape(-1, 2), 0)
    np.testing.assert_allclose(med, D, rtol=0.15)
    # per-track state probabilities from the pooled posterior
    segs = bd.segment(m, ts[:5], idata)
    assert len(segs) == 5 and segs[0].state_probs.shape == (20, 2)


@pytest.mark.parametrize("method", FAST_AND_NUTS)
def test_recovery_per_track_sample_many(optimized, method):
    m = bd.models.Switching(n_states=2)
    D = np.array([0.05, 0.5])
    P = np.array([[0.97, 0.03], [0.03, 0.97]])
    ts = m.simulate(seed=8, params={"D": D, "P": P}, n_steps=200, dt=0.01, dim=2, n_tracks=2)
    with optimized():  # a long run: optimized code repays its compile time
        idata = bd.sample_many(
            m, ts, method=method, draws=150, tune=200, chains=2, seed=0, progress=False,
            warn=False,
        )  # fmt: skip
    expected = "importance" if method == "auto" else "nuts"
    assert list(idata.constant_data["method"].values) == [expected] * 2 or method == "nuts"
    for i in ts.ids:
        assert _inside(idata, "D", D, sel={"track": i})
    segs = bd.segment(m, ts, idata)
    assert len(segs) == 2
    table = bd.inference.state_summary(idata, track=ts.ids[0])
    assert list(table["state"]) == [0, 1]


@pytest.mark.slow
def test_recovery_three_states_pooled(optimized):
    m = bd.models.Switching(n_states=3)
    D = np.array([0.02, 0.2, 2.0])
    P = np.array([[0.95, 0.04, 0.01], [0.03, 0.94, 0.03], [0.01, 0.04, 0.95]])
    ts = m.simulate(seed=9, params={"D": D, "P": P}, n_steps=50, dt=0.01, dim=2, n_tracks=200)
    with optimized():  # a long run: optimized code repays its compile time
        idata = bd.sample(m, ts, draws=500, tune=500, chains=2, seed=0, progress=False, warn=False)
    assert _inside(idata, "D", D) and _inside(idata, "P", P)
