"""Langevin (Ornstein-Uhlenbeck) model and the Kalman kernel: exactness against dense
Gaussian densities, the simulator's moments, the Brownian limit, gradients, errors."""

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
import scipy.stats as st
from numpyro import handlers

import bayesdiff as bd
from bayesdiff._kernels.kalman import kalman_pointwise
from bayesdiff.errors import ParameterError, TrackTooShortError
from bayesdiff.models.base import as_data
from bayesdiff.models.langevin import Langevin, StationaryCentre, ou_transition

GAPPED = np.array([0, 1, 2, 4, 5, 6, 9, 10, 11, 12, 15, 16, 20, 21, 22, 23, 24, 30, 31, 32,
                   33, 34, 36, 37, 38, 40, 41, 45, 46, 47, 48, 49, 50, 52, 53, 60, 61, 62, 63,
                   64, 65, 66, 70, 71, 72, 73, 74, 75, 76, 77, 78])  # fmt: skip


def params_for(model, dim=2):
    p = {"D": 0.3, "k": 1.7, "c": np.array([5.0, -3.0, 1.0])[:dim]}
    if model.drift:
        p["v"] = np.array([0.4, -0.2, 0.1])[:dim]
    if model.noise:
        p["sigma"] = 0.15
    return p


def dense_loglik(p, track):
    """log p(y_1..y_n | y_0) from the stationary joint density, built independently."""
    D, k = p["D"], p["k"]
    d = track.dim
    c = np.broadcast_to(np.asarray(p["c"], float), (d,))
    v = np.broadcast_to(np.asarray(p.get("v", 0.0), float), (d,))
    s2 = p.get("sigma", 0.0) ** 2
    t = track.times
    mean = c[None, :] + v[None, :] * t[:, None] - v[None, :] / k  # steady state of a moving trap
    cov = D / k * np.exp(-k * np.abs(t[:, None] - t[None, :])) + s2 * np.eye(len(t))
    total = 0.0
    for j in range(d):
        y = track.positions[:, j]
        total += st.multivariate_normal(mean[:, j], cov).logpdf(y)
        total -= st.norm(mean[0, j], np.sqrt(cov[0, 0])).logpdf(y[0])
    return total


CONFIGS = [dict(drift=a, noise=b) for a in (False, True) for b in (False, True)]


# -- Kalman kernel -----------------------------------------------------------------------
def test_kalman_matches_dense_gaussian():
    """Time-varying a, b, q, per-step r: the filter's total equals the dense MVN density."""
    rng = np.random.default_rng(0)
    n, d = 25, 3
    a = rng.uniform(0.2, 1.1, n)
    b = rng.normal(size=(n, d))
    q = rng.uniform(0.1, 1.0, n)
    r = rng.uniform(0.05, 0.5, n)
    m0, p0 = rng.normal(size=d), 0.7
    # x_k = mean_k + G[k] @ (x_0 - m0, w_1, ..., w_n): mean and covariance by explicit recursion
    mean = np.zeros((n, d))
    G = np.zeros((n, n + 1))
    m, g = m0, np.eye(n + 1)[0]
    for k in range(n):
        m = a[k] * m + b[k]
        g = a[k] * g
        g[k + 1] = 1.0
        mean[k], G[k] = m, g
    cov_y = G @ np.diag(np.concatenate([[p0], q])) @ G.T + np.diag(r)
    y = mean + rng.multivariate_normal(np.zeros(n), cov_y, size=d).T
    expected = sum(st.multivariate_normal(mean[:, j], cov_y).logpdf(y[:, j]) for j in range(d))
    pw = kalman_pointwise(jnp.asarray(y), a, b, q, r, m0, p0)
    assert pw.shape == (n,)
    np.testing.assert_allclose(float(pw.sum()), expected, rtol=1e-10)
    # and the first term alone is the marginal density of y_1
    first = sum(st.norm(mean[0, j], np.sqrt(cov_y[0, 0])).logpdf(y[0, j]) for j in range(d))
    np.testing.assert_allclose(float(pw[0]), first, rtol=1e-10)


# -- exact likelihood --------------------------------------------------------------------
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"drift={c['drift']},noise={c['noise']}")
@pytest.mark.parametrize("gaps", [False, True])
def test_likelihood_matches_dense_mvn(cfg, gaps):
    """Exact to 1e-8 (relative) against scipy's MVN on the stationary covariance, n <= 60."""
    m = Langevin(**cfg)
    p = params_for(m)
    frames = GAPPED if gaps else np.arange(51)
    tr = m.simulate(3, p, len(frames) - 1, 0.1, dim=2, frames=frames)[0]
    assert tr.has_gaps == gaps
    ll = float(m.log_likelihood(p, tr))
    np.testing.assert_allclose(ll, dense_loglik(p, tr), rtol=1e-8)


@pytest.mark.parametrize("dim", [1, 3])
def test_likelihood_other_dimensions_and_far_from_origin(dim):
    """A track 1000 µm from the origin loses no precision (positions are taken relative)."""
    m = Langevin(noise=True, drift=True)
    p = params_for(m, dim)
    p["c"] = p["c"] + 1000.0
    tr = m.simulate(4, p, 40, 0.05, dim=dim)[0]
    np.testing.assert_allclose(float(m.log_likelihood(p, tr)), dense_loglik(p, tr), rtol=1e-8)


@pytest.mark.parametrize("cfg", CONFIGS[::3], ids=["plain", "drift+noise"])
def test_pointwise_sums_to_total_and_padding_is_exact(cfg):
    m = Langevin(**cfg)
    p = {k: jnp.asarray(v) for k, v in params_for(m).items()}
    tr = m.simulate(5, p, 30, 0.1, dim=2, frames=GAPPED[:31])[0]
    pw = m.pointwise_log_likelihood(p, tr)
    assert pw.shape == (tr.n_steps,)
    ll = jax.jit(lambda q: m.log_likelihood(q, tr))(p)
    np.testing.assert_allclose(float(pw.sum()), float(ll), rtol=1e-12)
    data, regular = as_data(tr, pad_to=45)
    padded = jax.jit(partial(m.pointwise_from_data, regular=regular))(p, data)
    np.testing.assert_allclose(padded[: tr.n_steps], pw, rtol=1e-12)
    assert np.all(np.asarray(padded[tr.n_steps :]) == 0.0)
    jitted = jax.jit(partial(m.loglik_from_data, regular=regular))
    np.testing.assert_allclose(float(jitted(p, data)), float(pw.sum()), rtol=1e-12)


@pytest.mark.parametrize("noise", [False, True])
def test_weak_confinement_is_brownian(noise):
    """k -> 0 (no drift): the likelihood tends to Brownian motion's (with noise, if any)."""
    lv = Langevin(noise=noise, priors={"k": dist.LogUniform(1e-12, 1e4)})
    bm = bd.models.Brownian(noise=noise)
    pb = {"D": 0.2, **({"sigma": 0.05} if noise else {})}
    tr = bm.simulate(1, pb, 50, 0.1, dim=2, frames=GAPPED)[0]
    target = float(bm.log_likelihood(pb, tr))
    diffs = []
    for k in (1e-2, 1e-4, 1e-6):
        ll = float(lv.log_likelihood({**pb, "k": k, "c": [0.3, -0.2]}, tr))
        diffs.append(abs(ll - target))
    assert diffs[0] > diffs[1] > diffs[2]  # converges
    assert diffs[2] < 1e-5


def test_ou_transition_limits():
    tau = jnp.array([1e-9, 1e-3, 0.1, 10.0])
    g, h, q = ou_transition(jnp.asarray(2.0), jnp.asarray(0.5), tau)
    np.testing.assert_allclose(g, -np.expm1(-2 * tau), rtol=1e-12)
    np.testing.assert_allclose(q, 0.5 / 2.0 * -np.expm1(-4 * tau), rtol=1e-12)
    x = 2 * np.asarray(tau)  # h = (x - 1 + e^-x) / x, by its power series (no cancellation)
    series = sum((-1) ** (j + 1) * x**j / math.factorial(j + 1) for j in range(1, 40))
    ref = np.where(x < 1, series, (x - 1 + np.exp(-x)) / x)
    np.testing.assert_allclose(h, ref, rtol=1e-12)
    g0, h0, q0 = ou_transition(jnp.asarray(0.0), jnp.asarray(0.5), tau)
    np.testing.assert_allclose(q0, 2 * 0.5 * tau, rtol=1e-12)
    assert np.all(np.asarray(g0) == 0.0) and np.all(np.asarray(h0) == 0.0)


# -- gradients ---------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", CONFIGS[1::2] + [dict(drift=True, noise=False)],
                         ids=["noise", "drift+noise", "drift"])  # fmt: skip
def test_gradients_match_finite_differences(cfg):
    m = Langevin(**cfg)
    p = {k: jnp.asarray(v, jnp.float64) for k, v in params_for(m).items()}
    tr = m.simulate(6, p, 40, 0.1, dim=2, frames=GAPPED[:41])[0]
    data, regular = as_data(tr)
    f = jax.jit(partial(m.loglik_from_data, data=data, regular=regular))
    grad = jax.grad(f)(p)
    for name, val in p.items():
        g = np.asarray(grad[name])
        assert np.all(np.isfinite(g))
        flat = np.atleast_1d(np.asarray(val))
        for i in range(flat.size):
            h = 1e-6 * max(1.0, abs(flat[i]))
            up, dn = flat.copy(), flat.copy()
            up[i] += h
            dn[i] -= h
            shape = np.shape(val)
            fu = float(f({**p, name: jnp.asarray(up.reshape(shape))}))
            fd = float(f({**p, name: jnp.asarray(dn.reshape(shape))}))
            np.testing.assert_allclose(
                np.atleast_1d(g)[i], (fu - fd) / (2 * h), rtol=1e-5, atol=1e-5
            )


def test_numpyro_model_gradient_is_finite():
    """The NumPyro log density (stationary centre prior, forward-mode VJP) has finite gradients."""
    from numpyro.infer.util import log_density

    m = Langevin(noise=True, drift=True)
    tr = m.simulate(7, params_for(m), 50, 0.1, dim=2)[0]
    data, regular = as_data(tr)
    fn = partial(m.numpyro_model, regular=regular)
    z = {"D_base": jnp.log(0.3), "k_base": jnp.log(1.7), "c_z": jnp.array([0.1, -0.2]),
         "v": jnp.array([0.4, -0.2]), "sigma_base": jnp.log(0.15)}  # fmt: skip
    val, g = jax.jit(jax.value_and_grad(lambda z: log_density(fn, (data,), {}, z)[0]))(z)
    assert np.isfinite(float(val))
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(g))


# -- simulator -----------------------------------------------------------------------------
def test_stationary_variance_and_autocorrelation():
    """Var = D/k at every time and corr(x_0, x_t) = exp(-k t), gaps included.

    4000 tracks x 2 coordinates: the standard error of a variance ratio is
    sqrt(2/8000) ~ 1.6%; of a correlation below 0.011. Tolerances are 5 standard errors.
    """
    D, k, dt = 0.5, 2.0, 0.1
    m = Langevin()
    frames = np.array([0, 1, 2, 3, 5, 8, 13])
    ts = m.simulate(0, {"D": D, "k": k, "c": [1.0, -1.0]}, len(frames) - 1, dt, dim=2,
                    n_tracks=4000, frames=frames)  # fmt: skip
    x = np.stack([t.positions for t in ts]) - np.array([1.0, -1.0])  # (tracks, points, dim)
    var = x.var(axis=(0, 2))
    np.testing.assert_allclose(var, D / k, rtol=5 * np.sqrt(2 / 8000))
    np.testing.assert_allclose(x.mean(axis=(0, 2)), 0.0, atol=5 * np.sqrt(D / k / 8000))
    x0 = x[:, 0].ravel()
    for j in range(1, len(frames)):
        r = np.corrcoef(x0, x[:, j].ravel())[0, 1]
        rho = np.exp(-k * frames[j] * dt)
        assert abs(r - rho) < 5 * (1 - rho**2) / np.sqrt(8000) + 1e-3, (j, r, rho)


def test_simulator_moving_trap_noise_and_given_start():
    """Mean path c + v t - v/k (steady lag behind the trap); noise adds sigma^2; start is kept."""
    D, k, dt = 0.2, 4.0, 0.05
    v, c, s = np.array([1.0, -0.5]), np.array([2.0, 3.0]), 0.1
    m = Langevin(drift=True, noise=True)
    p = {"D": D, "k": k, "c": c, "v": v, "sigma": s}
    x = np.stack([t.positions for t in m.simulate(1, p, 20, dt, dim=2, n_tracks=4000)])
    t = np.arange(21) * dt
    mean = c + v * t[:, None] - v / k
    se = np.sqrt((D / k + s**2) / 4000)
    np.testing.assert_allclose(x.mean(0), mean, atol=5 * se)
    var = ((x - x.mean(0)) ** 2).mean(axis=(0, 2))
    np.testing.assert_allclose(var, D / k + s**2, rtol=5 * np.sqrt(2 / 8000))
    start = np.array([10.0, 10.0])
    m0 = Langevin()
    ts = m0.simulate(2, {"D": D, "k": k, "c": c}, 5, dt, dim=2, n_tracks=3, start=start)
    assert all(np.allclose(tr.positions[0], start) for tr in ts)


def test_score_of_simulated_tracks_has_mean_zero():
    """Simulator and likelihood agree: E[grad log p(y | theta)] = 0 at the true theta.

    The mean score over 400 tracks is compared with its standard error (4 s.e.).
    """
    m = Langevin(drift=True, noise=True)
    p = {k: jnp.asarray(v, jnp.float64) for k, v in params_for(m).items()}
    ts = m.simulate(11, params_for(m), 30, 0.1, dim=2, n_tracks=400, frames=GAPPED[:31])
    batch = ts.batches(bucket="exact")[0]
    data, regular = as_data(batch)
    score = jax.jit(jax.vmap(jax.grad(partial(m.loglik_from_data, regular=regular)), (None, 0)))
    g = score(p, data)
    for name in p:
        a = np.asarray(g[name]).reshape(400, -1)
        z = a.mean(0) / (a.std(0) / np.sqrt(400))
        assert np.all(np.abs(z) < 4), (name, z)


def test_simulate_is_reproducible_and_vectorized():
    m = Langevin(noise=True)
    p = {"D": [0.1, 0.2, 0.3], "k": 1.0, "c": [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], "sigma": 0.01}
    a = m.simulate(3, p, 10, 0.1, dim=2, n_tracks=3)
    b = m.simulate(3, p, 10, 0.1, dim=2, n_tracks=3)
    assert all(np.array_equal(x.positions, y.positions) for x, y in zip(a, b))
    assert len(a) == 3 and a[0].positions.shape == (11, 2)


# -- priors, configuration, errors ---------------------------------------------------------
def test_names_and_priors():
    assert Langevin().param_names == ("D", "k", "c")
    m = Langevin(drift=True, noise=True)
    assert m.name == "langevin+drift+noise"
    assert m.param_names == ("D", "k", "c", "v", "sigma")
    assert isinstance(m.prior("c"), StationaryCentre)
    cfg = m.config()
    assert cfg["priors"]["k"].startswith("LogUniform")
    assert cfg["priors"]["c"].startswith("StationaryCentre")
    assert bd.models.Langevin is Langevin  # the package offers the model class itself


def test_stationary_centre_prior_is_relative_to_first_point():
    """c = y_0 + sqrt(D/k + sigma^2) z; a user prior for c is absolute."""
    m = Langevin(noise=True)
    tr = m.simulate(0, {"D": 0.1, "k": 1.0, "c": [50.0, 60.0], "sigma": 0.02}, 30, 0.1, dim=2)[0]
    data, regular = as_data(tr)
    trace = handlers.trace(handlers.seed(partial(m.numpyro_model, regular=regular), 0)).get_trace(
        data
    )
    assert "c_z" in trace and trace["c"]["type"] == "deterministic"
    D, k, s = (trace[n]["value"] for n in ("D", "k", "sigma"))
    expect = tr.positions[0] + np.sqrt(D / k + s**2) * trace["c_z"]["value"]
    np.testing.assert_allclose(trace["c"]["value"], expect, rtol=1e-12)
    m2 = Langevin(priors={"c": dist.Uniform(0.0, 100.0)})
    trace = handlers.trace(handlers.seed(partial(m2.numpyro_model, regular=regular), 0)).get_trace(
        data
    )
    assert "c_z" not in trace and trace["c"]["type"] == "sample"


def test_init_values_are_finite_and_in_support():
    for cfg in CONFIGS:
        m = Langevin(**cfg)
        tr = m.simulate(2, params_for(m), 100, 0.1, dim=2)[0]
        init = jax.jit(m.init_values)(as_data(tr)[0])
        for name in m.param_names:
            v = np.asarray(init[name])
            assert np.all(np.isfinite(v))
            assert np.all(np.asarray(m.prior(name).support(jnp.asarray(v))))
        assert 0.05 < float(init["D"]) / 0.3 < 20 and 0.05 < float(init["k"]) / 1.7 < 20


@pytest.mark.parametrize(
    "bad",
    [{"D": -1.0}, {"k": 0.0}, {"k": np.nan}, {"c": [1.0, 2.0, 3.0]}, {"sigma": 0.0}],
)
def test_bad_parameters_raise(bad):
    m = Langevin(noise=True)
    p = {**params_for(m), **bad}
    tr = m.simulate(0, params_for(m), 10, 0.1, dim=2)[0]
    with pytest.raises(ParameterError):
        m.log_likelihood(p, tr)
    with pytest.raises(ParameterError):
        m.simulate(0, p, 10, 0.1, dim=2)


def test_missing_parameter_and_short_track():
    m = Langevin()
    tr = bd.Track(np.zeros((2, 2)), dt=0.1)
    with pytest.raises(ParameterError):
        m.log_likelihood({"D": 1.0, "k": 1.0}, m.simulate(0, params_for(m), 5, 0.1, dim=2)[0])
    with pytest.raises(TrackTooShortError):
        m.log_likelihood(params_for(m), tr)
