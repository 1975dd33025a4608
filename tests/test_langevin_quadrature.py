"""Exact quadrature for the Langevin model: the Kalman innovations kernel, the
unit-scale statistics against the model's own likelihood, the analytic centre
and drift integrals against numerical ones, the evidence against brute-force
grids, grid posteriors against NUTS (slow), and negative controls."""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from jax.scipy.special import logsumexp as jax_logsumexp
from scipy.special import logsumexp

import bayesdiff as bd
from bayesdiff._kernels.kalman import kalman_innovations
from bayesdiff.errors import MethodError
from bayesdiff.inference._quadrature import Quadrature, log_integrand_fn, quadrature_reason
from bayesdiff.inference._quadrature_models import _langevin_stats
from bayesdiff.inference.evidence import quadrature_evidence
from bayesdiff.models.base import as_data

DT = 0.1
SHORT_GAPPED = np.r_[0:6, 8:14]  # 11 steps, two gaps


def simulate(model, frames, dim=1, seed=1, n_tracks=1, **overrides):
    p = {"D": 0.2, "k": 1.5, "c": 0.3, **overrides}
    if model.drift:
        p.setdefault("v", 0.2)
    if model.noise:
        p.setdefault("sigma", 0.1)
    return model.simulate(
        seed=seed, params=p, n_steps=len(frames) - 1, dt=DT, dim=dim, frames=frames,
        n_tracks=n_tracks,
    )  # fmt: skip


def trap_log_weights(x: np.ndarray) -> np.ndarray:
    w = np.full(len(x), x[1] - x[0])
    w[[0, -1]] *= 0.5
    return np.log(w)


# -- the kernel ---------------------------------------------------------------------------
def test_kalman_innovations_whiten_like_cholesky():
    """Time-varying a, q, r and p0 > 0: the innovations are L^-1 x for the Cholesky factor
    L of the observations' covariance, and their log variances sum to log det."""
    rng = np.random.default_rng(0)
    n, m = 20, 3
    a, q, r = rng.uniform(0.2, 1.1, n), rng.uniform(0.1, 1.0, n), rng.uniform(0.05, 0.5, n)
    p0 = 0.7
    G = np.zeros((n, n + 1))  # x_k = G[k] @ (x_0, w_1, ..., w_n)
    g = np.eye(n + 1)[0]
    for k in range(n):
        g = a[k] * g
        g[k + 1] = 1.0
        G[k] = g
    cov = G @ np.diag(np.concatenate([[p0], q])) @ G.T + np.diag(r)
    x = rng.normal(size=(n, m))
    log_v, z = kalman_innovations(a, q, r, p0, jnp.asarray(x))
    L = np.linalg.cholesky(cov)
    np.testing.assert_allclose(np.asarray(z), np.linalg.solve(L, x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(float(jnp.sum(log_v)), np.linalg.slogdet(cov)[1], rtol=1e-12)


# -- unit-scale statistics against the model's likelihood -----------------------------------
STATS_CASES = [  # noise, drift, gaps (noise-free without drift: the integrand test below)
    (False, True, True),
    (True, False, True),
    (True, True, False),
]


@pytest.mark.parametrize(("noise", "drift", "gaps"), STATS_CASES)
def test_unit_scale_statistics_reproduce_the_likelihood(noise, drift, gaps):
    """For every (D, k, sigma, c, v): log L = -(N log(2 pi s) + log det S + sum_j
    (Q_j - 2 b_j.B_j + b_j.A b_j) / s) / 2 with s = D/k, the statistics computed
    once at (log k, r = sigma^2/s), for the centre offset c - y_0 - v/k
    (stationary prior) and for c itself (absolute prior), over 2-D tracks."""
    model = bd.models.Langevin(noise=noise, drift=drift)
    frames = np.r_[0:20, 23:40, 41:50] if gaps else np.arange(40)
    track = simulate(model, frames, dim=2, c=[1.0, -2.0], v=[0.3, -0.2])[0]
    assert track.has_gaps == gaps
    data, _ = as_data(track)
    batch = type(data)(*(t[None] for t in data))
    y0 = np.asarray(track.positions[0])
    N = 2 * track.n_steps
    loglik = jax.jit(lambda p: model.log_likelihood(p, track))
    for D, k, sig in [(0.2, 1.5, 0.1), (0.05, 0.01, 0.3), (1.0, 30.0, 0.02)]:
        c, v = np.array([0.7, -1.5]), (np.array([0.2, 0.1]) if drift else np.zeros(2))
        p = {"D": D, "k": k, "c": c, **({"v": v} if drift else {})}
        p.update({"sigma": sig} if noise else {})
        expected = float(loglik(p))
        s, r = D / k, (sig**2 * k / D if noise else 0.0)
        for stationary in (True, False):
            kind = (noise, drift, stationary)
            out = _langevin_stats(jnp.array([math.log(k)]), jnp.array([r]), batch, kind)
            logdet, Q, B, A = (np.asarray(t)[0] for t in out)
            beta = np.stack([c - y0 - v / k if stationary else c, v])[: 1 + drift]  # (p, d)
            quad = sum(Q[j] - 2 * beta[:, j] @ B[:, j] + beta[:, j] @ A @ beta[:, j]
                       for j in range(2))  # fmt: skip
            mine = -0.5 * (N * math.log(2 * math.pi * s) + logdet + quad / s)
            assert abs(mine - expected) < 1e-9 * max(1.0, abs(expected)), (D, k, stationary)


def test_pooled_statistics_reproduce_the_pooled_likelihood():
    """Two tracks, one shared absolute centre and drift: the block statistics sum the
    tracks' likelihoods (each conditioned on its own first position)."""
    model = bd.models.Langevin(noise=True, drift=True)
    ts = simulate(model, np.arange(31), dim=2, n_tracks=2, c=[0.5, 1.0], v=[0.1, 0.0])
    q = Quadrature(model, list(ts), pooled=True)
    assert q.problem.block == 2
    D, k, sig = 0.3, 2.0, 0.08
    c, v = np.array([0.4, 1.2]), np.array([0.05, -0.1])
    both = jax.jit(lambda p: sum(model.log_likelihood(p, t) for t in ts))
    expected = float(both({"D": D, "k": k, "c": c, "v": v, "sigma": sig}))
    s = D / k
    u = math.log(sig**2 / (s * -math.expm1(-k * DT)))
    logdet, Q, B, A = (np.asarray(t)[0] for t in q.stats(np.array([math.log(k)]), np.array([u])))
    beta = np.stack([c, v])
    quad = sum(Q[j] - 2 * beta[:, j] @ B[:, j] + beta[:, j] @ A @ beta[:, j] for j in range(2))
    N = 2 * sum(t.n_steps for t in ts)
    mine = -0.5 * (N * math.log(2 * math.pi * s) + logdet + quad / s)
    assert abs(mine - expected) < 1e-9 * abs(expected)


# -- the analytic centre and drift integrals ------------------------------------------------
INTEGRAND_CASES = [  # noise, drift, centre prior
    (False, False, "stationary"),
    (True, True, "stationary"),
    (True, False, "normal"),
    (False, True, "normal"),
    (True, True, "normal"),
]


@pytest.mark.parametrize(("noise", "drift", "centre"), INTEGRAND_CASES)
def test_integrand_is_likelihood_times_priors_with_centre_and_drift_integrated(
    noise, drift, centre
):
    """At nodes (log D, log k, u) the integrand equals the model's likelihood times
    the priors of c and v integrated numerically (trapezoid grids, which are
    spectrally accurate for these Gaussian integrands), times the priors of D and
    sigma with the Jacobian of (log D, log sigma) -> (lam, u); 1-D gapped track."""
    priors = {"c": dist.Normal(0.5, 2.0)} if centre == "normal" else None
    model = bd.models.Langevin(noise=noise, drift=drift, priors=priors)
    track = simulate(model, SHORT_GAPPED)[0]
    q = Quadrature(model, [track])
    pb = q.problem
    f, _ = log_integrand_fn(noise, pb.block, q.priors, q.consts, pb.scale)

    def loglik(c, v, D, k, sig):
        p = {"D": D, "k": k, "c": c[None], **({"v": v[None]} if drift else {})}
        return model.log_likelihood({**p, **({"sigma": sig} if noise else {})}, track)

    lik = jax.jit(jax.vmap(loglik, in_axes=(0, 0, None, None, None)))
    y0 = float(track.positions[0, 0])
    vs = np.linspace(-8.0, 8.0, 161) if drift else np.zeros(1)
    zc = np.linspace(-12.0, 12.0, 401)  # steps of 0.06 prior sd: < 1/3 posterior sd
    for D, k, sig in [(0.2, 1.5, 0.1), (0.05, 0.3, 0.3), (1.0, 8.0, 0.02)]:
        s = D / k
        u = math.log(sig**2 / (s * -math.expm1(-k * DT))) if noise else 0.0
        st1 = jax.tree.map(lambda t: t[0], q.stats(np.array([math.log(k)]), np.array([u])))
        mine = float(f(jnp.log(D), st1, math.log(k), u))
        if centre == "stationary":  # c | v ~ N(y_0 + v/k, s + sigma^2)
            mu, sd = y0 + vs / k, np.full(len(vs), math.sqrt(s + (sig**2 if noise else 0.0)))
        else:
            mu, sd = np.full(len(vs), 0.5), np.full(len(vs), 2.0)
        C = mu[:, None] + sd[:, None] * zc[None, :]  # (n_v, n_c)
        V = np.broadcast_to(vs[:, None], C.shape)
        ll = np.asarray(lik(jnp.asarray(C.ravel()), jnp.asarray(V.ravel()), D, k, sig))
        ll = ll.reshape(C.shape) - 0.5 * zc**2 - 0.5 * math.log(2 * math.pi)  # c prior in z
        over_c = logsumexp(ll + trap_log_weights(zc), axis=1)
        if drift:
            over_v = logsumexp(over_c - 0.5 * vs**2 + trap_log_weights(vs))
            numeric = over_v - 0.5 * math.log(2 * math.pi)
        else:
            numeric = float(over_c[0])
        numeric += float(model.prior("D").log_prob(D)) + math.log(D)
        if noise:
            numeric += float(model.prior("sigma").log_prob(sig)) + math.log(sig) + math.log(0.5)
        assert abs(mine - numeric) < 1e-8, (D, k, sig, mine, numeric)


# -- the evidence against brute force --------------------------------------------------------
NARROW = {"D": dist.LogUniform(0.01, 10.0), "k": dist.LogUniform(0.05, 50.0)}
ZERO_BOUND = {"D": dist.Uniform(0.0, 5.0), "k": dist.HalfNormal(10.0)}


def brute_force_log_z(model, track, log_d, log_k, log_sigma=None):
    """Trapezoid rules over (log D, log k[, log sigma]) of the model's likelihood,
    with the stationary centre integrated numerically (trapezoid in its prior's
    standard units), times the priors (and the Jacobians of the log coordinates)."""
    y0 = float(track.positions[0, 0])
    zc = np.linspace(-12.0, 12.0, 97)
    noise = log_sigma is not None
    ls = log_sigma if noise else np.zeros(1)

    def one(ld, lk, lsig):
        D, k, sig = jnp.exp(ld), jnp.exp(lk), jnp.exp(lsig)
        sd = jnp.sqrt(D / k + (sig**2 if noise else 0.0))

        def at(z):
            p = {"D": D, "k": k, "c": (y0 + sd * z)[None]}
            return model.log_likelihood({**p, **({"sigma": sig} if noise else {})}, track)

        vals = jax.vmap(at)(jnp.asarray(zc)) - 0.5 * jnp.asarray(zc) ** 2
        out = jax_logsumexp(vals + trap_log_weights(zc)) - 0.5 * math.log(2 * math.pi)
        out = out + model.prior("D").log_prob(D) + ld + model.prior("k").log_prob(k) + lk
        if noise:
            out = out + model.prior("sigma").log_prob(sig) + lsig
        return out

    G = np.stack(np.meshgrid(log_d, log_k, ls, indexing="ij"), -1).reshape(-1, 3)
    f = jax.jit(jax.vmap(one))
    vals = np.concatenate(
        [np.asarray(f(*(jnp.asarray(G[i : i + 4096, j]) for j in range(3))))
         for i in range(0, len(G), 4096)]
    ).reshape(len(log_d), len(log_k), len(ls))  # fmt: skip
    total = vals + trap_log_weights(log_d)[:, None, None] + trap_log_weights(log_k)[None, :, None]
    if noise:
        total = total + trap_log_weights(ls)[None, None, :]
    return float(logsumexp(total))


@pytest.fixture(scope="module")
def free_case():
    """A 20-step gapped 1-D track and its brute-force evidence (narrow priors)."""
    model = bd.models.Langevin(priors=NARROW)
    track = simulate(model, np.r_[0:8, 10:20, 22:25], seed=4)[0]
    grid_d = np.linspace(math.log(0.01), math.log(10.0), 90)
    grid_k = np.linspace(math.log(0.05), math.log(50.0), 90)
    return model, track, brute_force_log_z(model, track, grid_d, grid_k)


def test_evidence_against_brute_force(free_case):
    """Noise-free, stationary centre: quadrature vs a 90 x 90 trapezoid grid in
    (log D, log k) over the whole prior box, centre integrated numerically; the
    grid's own error is ~1e-4, the tolerance 0.01."""
    model, track, brute = free_case
    ev = bd.evidence(model, track, method="quadrature")
    assert ev.method == "quadrature" and ev.details["converged"]
    assert abs(ev.log_z - brute) < 0.01, (ev.log_z, brute)


def test_evidence_with_priors_bounded_at_zero(free_case):
    """D ~ Uniform(0, 5), k ~ HalfNormal(10): bounds at zero work (the brute-force
    grid starts where the likelihood has no mass left)."""
    _, track, _ = free_case
    model = bd.models.Langevin(priors=ZERO_BOUND)
    assert quadrature_reason(model, [track]) is None
    ev = bd.evidence(model, track, method="quadrature")
    brute = brute_force_log_z(
        model, track, np.linspace(math.log(1e-4), math.log(5.0), 90),
        np.linspace(math.log(1e-4), math.log(60.0), 90),
    )  # fmt: skip
    assert abs(ev.log_z - brute) < 0.01, (ev.log_z, brute)


def test_negative_controls_miss_the_brute_force(free_case):
    """The evidence under a wrong prior (k's range ten times wider) or of another
    model (Brownian motion by its own quadrature) misses the brute-force value by
    far more than the tolerance: the test above could tell them apart."""
    model, track, brute = free_case
    wrong = bd.models.Langevin(priors={**NARROW, "k": dist.LogUniform(0.05, 500.0)})
    assert abs(bd.evidence(wrong, track, method="quadrature").log_z - brute) > 0.1
    bm = bd.models.Brownian(priors={"D": NARROW["D"]})
    assert abs(bd.evidence(bm, track, method="quadrature").log_z - brute) > 0.1


# -- wiring: reasons, sample/evidence/auto, padding ---------------------------------------------
def test_reasons_name_the_parameter_and_prior():
    track = simulate(bd.models.Langevin(), np.arange(20))[0]
    assert quadrature_reason(bd.models.Langevin(noise=True, drift=True), [track]) is None
    uni = bd.models.Langevin(priors={"c": dist.Uniform(-5.0, 5.0)})
    assert "prior of c, Uniform" in quadrature_reason(uni, [track])
    lap = bd.models.Langevin(drift=True, priors={"v": dist.Laplace(0.0, 1.0)})
    assert "prior of v, Laplace" in quadrature_reason(lap, [track])
    with pytest.raises(MethodError, match=r"prior of c, Uniform.*method='nuts'"):
        bd.sample(uni, track, method="grid")
    with pytest.raises(MethodError, match=r"prior of c, Uniform"):
        bd.evidence(uni, track, method="quadrature")
    assert "Levy" in quadrature_reason(bd.models.LevyWalk(), [track])


def test_grid_sample_and_auto_evidence_end_to_end():
    """bd.sample(method="grid") on a noisy 2-D track: parameter shapes, finite pointwise
    log-likelihoods, the grid's log evidence equal to bd.evidence's ("auto" picks the
    quadrature); padded batches (bucket="pow2", as compare_many uses) give the same."""
    model = bd.models.Langevin(noise=True)
    track = simulate(model, np.arange(51), dim=2, c=[1.0, 2.0])[0]
    idata = bd.sample(model, track, method="grid", draws=300, chains=2, seed=1, progress=False)
    post = idata.posterior
    assert idata.attrs["method"] == "grid" and idata.attrs["grid_converged"]
    assert post["c"].shape == (2, 300, 2) and post["sigma"].shape == (2, 300)
    assert np.all(np.isfinite(idata.log_likelihood["obs"]))
    assert np.all(np.abs(post["c"].mean(("chain", "draw")) - track.positions.mean(0)) < 0.5)
    ev = bd.evidence(model, track)
    assert ev.method == "quadrature"
    assert ev.log_z == pytest.approx(idata.attrs["log_evidence"], abs=1e-9)
    padded = quadrature_evidence(model, [track], bucket="pow2")
    assert padded.log_z == pytest.approx(ev.log_z, abs=1e-8)


# -- slow: noise against brute force, grid posteriors against NUTS ------------------------------
@pytest.mark.slow
def test_noisy_evidence_against_brute_force():
    """Langevin + noise (three outer coordinates): quadrature vs a 56^3 trapezoid grid
    in (log D, log k, log sigma), centre integrated numerically."""
    priors = {**NARROW, "sigma": dist.LogUniform(0.01, 0.5)}
    model = bd.models.Langevin(noise=True, priors=priors)
    track = simulate(model, np.r_[0:8, 10:20, 22:25], seed=5, sigma=0.08)[0]
    ev = bd.evidence(model, track, method="quadrature")
    brute = brute_force_log_z(
        model, track, np.linspace(math.log(0.01), math.log(10.0), 56),
        np.linspace(math.log(0.05), math.log(50.0), 56),
        np.linspace(math.log(0.01), math.log(0.5), 56),
    )  # fmt: skip
    assert abs(ev.log_z - brute) < 0.01, (ev.log_z, brute)


def _moments(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = draws.reshape(-1, *draws.shape[2:])
    return flat.mean(0), flat.std(0)


NUTS_CASES = [
    ("noise", bd.models.Langevin(noise=True), np.arange(201), {"sigma": 0.03}),
    ("drift-gaps", bd.models.Langevin(drift=True), np.r_[0:60, 63:100, 101:150], {}),
]


@pytest.mark.slow
@pytest.mark.parametrize(("label", "model", "frames", "extra"), NUTS_CASES)
def test_grid_posterior_matches_long_nuts(label, model, frames, extra):
    """Posterior means and sds of every parameter (on the log scale for D, k,
    sigma) within 0.1 posterior sd of a long NUTS run (4 x 4000 draws), 8000 grid
    draws; and the grid's log evidence against bridge sampling on those draws."""
    p = {"D": 0.1, "k": 2.0, "c": [1.0, 2.0], "v": [0.1, -0.05], **extra}
    track = simulate(model, frames, dim=2, seed=7, **p)[0]
    grid = bd.sample(model, track, method="grid", draws=4000, chains=2, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nuts = bd.sample(model, track, draws=4000, tune=1500, chains=4, seed=0,
                         progress=False, warn=False, target_accept=0.95)  # fmt: skip
    for name in model.param_names:
        g, n = np.asarray(grid.posterior[name]), np.asarray(nuts.posterior[name])
        if name in ("D", "k", "sigma"):
            g, n = np.log(g), np.log(n)
        (mg, sg), (mn, sn) = _moments(g), _moments(n)
        assert np.all(np.abs(mg - mn) < 0.1 * sn), (label, name, mg, mn, sn)
        assert np.all(np.abs(sg - sn) < 0.1 * sn), (label, name, sg, sn)
    bridge = bd.evidence(model, track, method="bridge", idata=nuts)
    assert abs(bridge.log_z - grid.attrs["log_evidence"]) < 0.1 + 3 * bridge.log_z_err
