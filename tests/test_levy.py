"""The Lévy-walk model: flight-time approximation, exact simulator, HMM likelihood.

Tolerances are stated where they are used. The brute-force likelihood check
sums over every hidden path with emissions computed by numerical quadrature
over the turn time, independently of the closed-form segment densities.
"""

import itertools
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

import bayesdiff as bd
from bayesdiff._kernels import hmm
from bayesdiff.errors import ModelError, ParameterError
from bayesdiff.models.base import as_data
from bayesdiff.models.levy import (
    LevyWalk,
    chain_survival,
    directions,
    emissions,
    flight_chain,
    msd_exact,
    simulate_levy_walk,
    survival_exact,
)

PARAMS = {"alpha": 1.5, "v": 2.0, "sigma": 0.05}


@partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _chain(gamma, n_rates=12, tau0=1, tau_max=1e4, turn_bins=3):
    return flight_chain(gamma, n_rates, tau0, tau_max, turn_bins)


@partial(jax.jit, static_argnums=(1, 2))
def _survival(gamma, n_rates, tau0):
    return chain_survival(flight_chain(gamma, n_rates, tau0, 1e4, 3), 1000)


# -----------------------------------------------------------------------------
# flight times: mixture of exponentials vs the power law
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("tau0", [1, 2])
@pytest.mark.parametrize("gamma", [1.05, 1.3, 1.5, 1.7, 1.95])
def test_survival_matches_power_law(gamma, tau0):
    """Default chain (12 rates, tau_max = 1e4 frames): survival within 1.5% on [0, 1000] frames."""
    S = np.asarray(_survival(gamma, 12, tau0))
    m = np.arange(1001)
    exact = survival_exact(m, gamma, tau0)
    np.testing.assert_allclose(S, exact, rtol=0.015)
    # the exact frame survival is the power law: S(m) (m + 1/2)^gamma / tau0^gamma -> 1
    tail = exact[100:] * (m[100:] + 0.5) ** gamma / tau0**gamma
    np.testing.assert_allclose(tail, 1.0, rtol=2e-4)


def test_survival_negative_control():
    """Too few rates over the same range miss the power law by far more than 1.5%."""
    S = np.asarray(_survival(1.5, 5, 1))
    err = np.max(np.abs(S / survival_exact(np.arange(1001), 1.5) - 1))
    assert err > 0.05


@pytest.mark.parametrize("turn_bins", [1, 3])
@pytest.mark.parametrize("alpha", [1.2, 1.5, 1.8])
def test_chain_rows_and_equilibrium(alpha, turn_bins):
    """Rows are stochastic; from the equilibrium state the chain reproduces the exact
    probability of no turn in a window of l frames (forward recurrence), within 1% up
    to 100 frames (the slowest flights are lumped into one component)."""
    g = 3 - alpha
    ch = _chain(g, 12, 1, 1e4, turn_bins)
    W, M, pi = (np.asarray(a) for a in (ch.within, ch.renew, ch.init))
    np.testing.assert_allclose(W.sum(1) + M.sum(1), 1.0, atol=1e-12)
    assert np.all(W >= 0) and np.all(M >= 0) and abs(pi.sum() - 1) < 1e-12
    p, got = pi.copy(), []
    for _ in range(100):
        p = p @ W
        got.append(p.sum())
    lag = np.arange(1, 101)
    exact = lag ** (1 - g) / g  # no turn in (0, l]: tau0 = 1 frame
    np.testing.assert_allclose(got, exact, rtol=0.01)


# -----------------------------------------------------------------------------
# exact simulator
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("alpha", [1.3, 1.7])
def test_simulated_msd(alpha, dim):
    """MSD of 2000 exact equilibrium walks of 600 frames, time-averaged within each track
    (unbiased for stationary increments), against the closed form: within 4 standard
    errors (between tracks) + 1% and within 8% at lags 1-300. The ratio estimate is
    skewed low at long lags (rare long flights carry much of the MSD), hence lags <= n/2.
    The log-slope over lags 30-300 is within 0.05 of the closed form's and within 0.1 of
    alpha; negative control: it is far from the other alpha."""
    rng = np.random.default_rng(7)
    n, N, v, tau0 = 600, 2000, 1.5, 1.0
    pos = simulate_levy_walk(
        rng, np.full(N, alpha), np.full(N, v), tau0, np.arange(n + 1.0), dim, N
    )
    lags = np.array([1, 3, 10, 30, 100, 300])
    per_track = np.array(
        [np.mean(np.sum((pos[:, lag:] - pos[:, :-lag]) ** 2, -1), axis=1) for lag in lags]
    )
    msd = per_track.mean(1)
    se = per_track.std(1) / np.sqrt(N)
    ref = msd_exact(lags, alpha, v, tau0)
    assert np.all(np.abs(msd - ref) < 4 * se + 0.01 * ref), (msd / ref, se / ref)
    np.testing.assert_allclose(msd, ref, rtol=0.08)
    slope = np.log(msd[-1] / msd[-3]) / np.log(10)
    ref_slope = np.log(ref[-1] / ref[-3]) / np.log(10)
    assert abs(slope - ref_slope) < 0.05
    assert abs(slope - alpha) < 0.1
    assert abs(slope - (3.0 - alpha)) > 0.25


def test_simulate_noise_and_shapes():
    """Step noise adds L sigma^2 per coordinate to the MSD; frames with gaps are honoured."""
    m = LevyWalk()
    frames = np.concatenate([np.arange(50), np.arange(52, 103)])
    ts = m.simulate(
        seed=1,
        params={"alpha": 1.5, "v": 1e-3, "sigma": 0.3},
        n_steps=100,
        dt=0.1,
        dim=2,
        n_tracks=400,
        frames=frames,
    )
    assert len(ts) == 400 and ts[0].positions.shape == (101, 2)
    assert np.array_equal(ts[0].frames, frames)
    inc = np.concatenate([t.increments for t in ts])
    lags = np.concatenate([t.lags for t in ts])
    # v ~ 0: increments are the noise alone, variance L sigma^2 (4000 per lag value -> 5%)
    for lag in (1, 3):
        np.testing.assert_allclose(inc[lags == lag].var(0), lag * 0.09, rtol=0.1)
    a = m.simulate(seed=3, params=PARAMS, n_steps=20, dt=0.1)
    b = m.simulate(seed=3, params=PARAMS, n_steps=20, dt=0.1)
    np.testing.assert_array_equal(a[0].positions, b[0].positions)


# -----------------------------------------------------------------------------
# likelihood
# -----------------------------------------------------------------------------
def _quad_renew(x, e_old, e_new, u0, u1, step, sigma):
    """Turn-frame density by quadrature over the new flight's coverage u, uniform in [u0, u1]."""

    def f(u):
        mean = step * ((1 - u) * e_old + u * e_new)
        return np.prod(norm.pdf(x, mean, sigma))

    return integrate.quad(f, u0, u1, epsabs=0, epsrel=1e-11, limit=200)[0] / (u1 - u0)


@pytest.mark.parametrize("dim,n0", [(1, 1), (2, 1), (1, 2)])
def test_likelihood_brute_force(dim, n0):
    """Sum over every hidden path (phase x direction), emissions by quadrature: 1e-9."""
    m = LevyWalk(
        n_rates=2, n_directions=4, duration_range=(n0, 200.0), turn_bins=2, direction_blur=False
    )
    p = {"alpha": 1.4, "v": 1.3, "sigma": 0.25}
    dt = 0.2
    tr = m.simulate(seed=5, params=p, n_steps=3, dt=dt, dim=dim)[0]
    x = tr.increments
    ch = m.chain(p["alpha"])
    W, M, pi = (np.asarray(a) for a in (ch.within, ch.renew, ch.init))
    R, B = M.shape
    dirs = directions(dim, m.n_directions)
    D = len(dirs)
    step = p["v"] * dt
    states = [(i, d) for i in range(R) for d in range(D)]

    def trans(s0, s1, xt):
        (i, d), (j, e) = s0, s1
        total = 0.0
        if d == e:
            total += W[i, j] * np.prod(norm.pdf(xt, step * dirs[e], p["sigma"]))
        if j < B:
            lo, hi = ch.edges[j], ch.edges[j + 1]
            total += M[i, j] / D * _quad_renew(xt, dirs[d], dirs[e], lo, hi, step, p["sigma"])
        return total

    T = len(x)
    A = np.array([[[trans(s0, s1, x[t]) for s1 in states] for s0 in states] for t in range(T)])
    init = np.array([pi[i] / D for i, _ in states])
    total = 0.0
    for path in itertools.product(range(len(states)), repeat=T + 1):
        pr = init[path[0]]
        for t in range(T):
            pr *= A[t, path[t], path[t + 1]]
        total += pr
    ll = m.log_likelihood(p, tr)
    np.testing.assert_allclose(ll, np.log(total), rtol=1e-9)
    # and the one-step predictive terms are the successive ratios
    pw = np.asarray(m.pointwise_log_likelihood(p, tr))
    f = init.copy()
    for t in range(T):
        f = f @ A[t]
        np.testing.assert_allclose(pw[t], np.log(f.sum()), rtol=1e-9, atol=1e-9)
        f = f / f.sum()


def _random_renewal(seed, R, B, D, T):
    rng = np.random.default_rng(seed)
    full = rng.dirichlet(np.ones(R + B), size=R)
    W, M = full[:, :R], full[:, R:]
    return (
        np.log(rng.dirichlet(np.ones(R * D)).reshape(R, D)),
        np.log(W),
        np.log(M),
        np.log(rng.dirichlet(np.ones(D))),
        rng.normal(size=(T, D)),
        rng.normal(size=(T, B, D, D)),
    )


def _dense(parts):
    """The renewal chain as an ordinary HMM for hmm.forward (emissions folded into transitions)."""
    log_init, log_W, log_M, log_q, es, er = (np.asarray(a) for a in parts)
    R, D = log_init.shape
    T, B = er.shape[:2]
    A = np.zeros((T, R, D, R, D))
    for t in range(T):
        A[t] += (
            np.einsum("ij,de->idje", np.exp(log_W), np.eye(D)) * np.exp(es[t])[None, None, None, :]
        )
        A[t, :, :, :B, :] += (
            np.exp(log_M)[:, None, :, None]
            * np.exp(log_q)[None, None, None, :]
            * np.moveaxis(np.exp(er[t]), 0, 1)[None]
        )
    with np.errstate(divide="ignore"):
        return log_init.reshape(-1), np.log(A.reshape(T, R * D, R * D))


@pytest.mark.parametrize("mask", [None, [1, 1, 1, 1, 1, 0, 0]])
def test_renewal_forward_equals_dense_forward(mask):
    """The structured kernel equals the generic forward algorithm on K = R D states: 1e-12."""
    parts = _random_renewal(0, R=4, B=2, D=3, T=7)
    m = None if mask is None else np.array(mask, bool)
    ll, pw = hmm.renewal_forward(*parts, mask=m)
    log_init, log_trans = _dense(parts)
    K = log_init.size
    mm = np.ones(8, bool) if m is None else np.concatenate([[True], m])
    ll_ref, pw_ref = hmm.forward(log_init, log_trans, np.zeros((8, K)), mm)
    np.testing.assert_allclose(pw, pw_ref[1:], atol=1e-12)
    np.testing.assert_allclose(ll, ll_ref, atol=1e-12)


@pytest.mark.parametrize("dim", [1, 2])
def test_renewal_loglik_gradient_equals_autodiff(dim):
    """The forward-backward gradient of renewal_loglik equals automatic differentiation
    of renewal_forward, for all six log arrays (padded track) and through the model's
    parameters, also under vmap: relative 1e-12 for the arrays, 1e-10 through the
    parameters (sums that partly cancel)."""
    m = LevyWalk()
    tr = m.simulate(seed=1, params=PARAMS, n_steps=40, dt=0.05, dim=dim)[0]
    data, _ = as_data(tr, pad_to=45)
    p = {"alpha": jnp.asarray(1.4), "v": jnp.asarray(2.1), "sigma": jnp.asarray(0.06)}
    parts = jax.jit(m.hmm_parts)(p, data)  # one program, not hundreds of eager ones
    args = tuple(range(6))
    v_ref, g_ref = jax.jit(
        jax.value_and_grad(lambda *a: hmm.renewal_forward(*a, mask=data.mask)[0], argnums=args)
    )(*parts)
    v, g = jax.jit(jax.value_and_grad(lambda *a: hmm.renewal_loglik(*a, data.mask), argnums=args))(
        *parts
    )
    assert float(v) == pytest.approx(float(v_ref), rel=1e-14)
    for a, b in zip(g, g_ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * float(jnp.max(jnp.abs(b))))
    slow = jax.jit(jax.grad(lambda q: m.loglik_from_data(q, data, True)))
    fast = jax.jit(jax.vmap(jax.grad(lambda q: m.fast_loglik(q, data, True))))
    batch = {k: jnp.stack([v, v * 1.05]) for k, v in p.items()}
    got = fast(batch)
    for j in range(2):
        ref = slow({k: v[j] for k, v in batch.items()})
        for k in p:
            np.testing.assert_allclose(got[k][j], ref[k], rtol=1e-10)


def test_renewal_forward_equals_hmmlearn():
    """With emissions that depend only on the new label, the chain is a Gaussian HMM:
    equal to hmmlearn's score (which also emits the first observation) to 1e-10."""
    hmmlearn = pytest.importorskip("hmmlearn.hmm")
    rng = np.random.default_rng(2)
    R, B, D, T = 5, 2, 3, 30
    log_init, log_W, log_M, log_q, _, _ = _random_renewal(1, R, B, D, T)
    means = rng.normal(size=D)
    x = rng.normal(size=T)
    es = norm.logpdf(x[:, None], means[None, :], 0.7)
    er = np.broadcast_to(es[:, None, None, :], (T, B, D, D))
    ll, _ = hmm.renewal_forward(log_init, log_W, log_M, log_q, es, er)
    A = np.einsum("ij,de->idje", np.exp(log_W), np.eye(D))
    A[:, :, :B, :] += np.exp(log_M)[:, None, :, None] * np.exp(log_q)[None, None, None, :]
    A = A.reshape(R * D, R * D)
    model = hmmlearn.GaussianHMM(
        n_components=R * D, covariance_type="spherical", init_params="", params=""
    )
    model.startprob_ = np.exp(log_init).reshape(-1) @ A
    model.transmat_ = A
    model.means_ = np.tile(means, R)[:, None]
    model.covars_ = np.full(R * D, 0.49)
    np.testing.assert_allclose(ll, model.score(x[:, None]), rtol=1e-10)


def test_emission_segment_density():
    """Closed-form turn densities equal quadrature over the turn time (2D, 3 bins): 1e-8."""
    rng = np.random.default_rng(4)
    dirs = directions(2, 8)
    edges = np.linspace(0, 1, 4)
    x = rng.normal(size=(5, 2)) * 0.8
    v, dt, sigma = 1.1, 0.7, 0.2
    stay, renew = emissions(jnp.asarray(x), jnp.ones(5), dt, v, sigma, dirs, edges)
    for t, b, d, e in [(0, 0, 0, 3), (1, 2, 5, 1), (2, 1, 7, 7), (3, 0, 2, 6), (4, 2, 1, 2)]:
        ref = _quad_renew(x[t], dirs[d], dirs[e], edges[b], edges[b + 1], v * dt, sigma)
        np.testing.assert_allclose(np.exp(renew[t, b, d, e]), ref, rtol=1e-8)
    np.testing.assert_allclose(
        stay[0, 3], norm.logpdf(x[0], v * dt * dirs[3], sigma).sum(), rtol=1e-12
    )


@pytest.mark.parametrize("dim,n_dir", [(1, 2), (2, 8), (2, 6)])
def test_emission_mirror_symmetry(dim, n_dir):
    """Equal-width turn bins: bins past the middle are transposes of the first ones
    (u -> 1 - u); they equal each bin computed on its own (no symmetry used), to 1e-12
    (log densities)."""
    rng = np.random.default_rng(5)
    dirs = directions(dim, n_dir)
    x = jnp.asarray(rng.normal(size=(30, dim)) * 0.05)
    lags, blur = jnp.ones(30), (0.02 if dim == 2 else 0.0)
    for n_bins in (2, 3, 4):
        edges = np.linspace(0, 1, n_bins + 1)
        _, renew = emissions(x, lags, 0.05, 1.0, 0.01, dirs, edges, blur=blur)
        alone = [emissions(x, lags, 0.05, 1.0, 0.01, dirs, edges[b : b + 2], blur=blur)[1]
                 for b in range(n_bins)]  # fmt: skip
        np.testing.assert_allclose(renew, jnp.concatenate(alone, axis=1), rtol=1e-12, atol=1e-12)


def test_padding_and_gaps():
    """Padded steps are exact zeros; a track without gaps gives the same values through the
    dense gapped path; a gap of L frames uses the L-step chain (finite, differentiable)."""
    m = LevyWalk(n_rates=4, n_directions=4, turn_bins=2)
    tr = m.simulate(seed=2, params=PARAMS, n_steps=12, dt=0.1, dim=2)[0]
    d0, _ = as_data(tr)
    d1, _ = as_data(tr, pad_to=16)
    p = {k: jnp.asarray(v) for k, v in PARAMS.items()}
    pw = jax.jit(m.pointwise_from_data, static_argnums=2)
    a = pw(p, d0, True)
    b = pw(p, d1, True)
    c = pw(p, d1, False)
    np.testing.assert_allclose(b[:12], a, atol=1e-12)
    assert np.all(np.asarray(b[12:]) == 0)
    np.testing.assert_allclose(c, b, atol=1e-10)
    frames = np.array([0, 1, 2, 5, 6, 7, 9, 10, 11, 12])
    gap = m.simulate(seed=2, params=PARAMS, n_steps=9, dt=0.1, dim=2, frames=frames)[0]
    assert gap.has_gaps
    dg, regular = as_data(gap)
    assert not regular
    ll, g = jax.jit(jax.value_and_grad(lambda q: m.loglik_from_data(q, dg, False)))(p)
    assert np.isfinite(ll) and all(np.isfinite(float(v)) for v in g.values())


# -----------------------------------------------------------------------------
# protocol: shapes, jit, vmap, grad, errors
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [1, 2])
def test_jit_vmap_grad(dim):
    m = LevyWalk(n_rates=6, n_directions=6, turn_bins=2)
    ts = m.simulate(seed=0, params=PARAMS, n_steps=20, dt=0.05, dim=dim, n_tracks=3)
    data, regular = as_data(ts[0])
    p = {k: jnp.asarray(v) for k, v in PARAMS.items()}
    pw = jax.jit(m.pointwise_from_data, static_argnums=2)(p, data, regular)
    assert pw.shape == (20,) and np.all(np.isfinite(pw))
    f = jax.jit(lambda q, d: m.loglik_from_data(q, d, True))
    np.testing.assert_allclose(f(p, data), pw.sum(), rtol=1e-12)
    batch = jax.tree.map(lambda *a: jnp.stack(a), *[as_data(t)[0] for t in ts])
    vals = jax.vmap(f, in_axes=(None, 0))(p, batch)
    np.testing.assert_allclose(vals[0], pw.sum(), rtol=1e-12)
    g = jax.jit(jax.grad(f))(p, data)
    assert all(np.isfinite(float(v)) for v in g.values())
    # gradient against central differences (relative 1e-5)
    for k in PARAMS:
        h = 1e-6 * PARAMS[k]
        up = dict(p, **{k: p[k] + h})
        dn = dict(p, **{k: p[k] - h})
        fd = (f(up, data) - f(dn, data)) / (2 * h)
        np.testing.assert_allclose(g[k], fd, rtol=1e-5)


def test_likelihood_prefers_truth():
    """On a 400-step 1D walk the likelihood at the true speed and noise beats a factor 2 off
    (by > 10 nats), and alpha = 1.8 beats alpha = 1.1 for a walk simulated at 1.8."""
    m = LevyWalk()
    p = {"alpha": 1.8, "v": 1.0, "sigma": 0.01}
    data, _ = as_data(m.simulate(seed=11, params=p, n_steps=400, dt=0.1)[0])
    f = jax.jit(lambda q: m.loglik_from_data(q, data, True))
    ll = float(f(p))
    for k in ("v", "sigma"):
        for fac in (0.5, 2.0):
            assert ll > float(f(dict(p, **{k: p[k] * fac}))) + 10
    assert ll > float(f(dict(p, alpha=1.1)))


def test_init_values():
    m = LevyWalk()
    tr = m.simulate(seed=3, params={"alpha": 1.5, "v": 3.0, "sigma": 0.03}, n_steps=200, dt=0.1)[0]
    data, _ = as_data(tr, pad_to=256)
    init = jax.jit(m.init_values)(data)
    assert abs(float(init["v"]) / 3.0 - 1) < 0.1
    assert 0.01 < float(init["sigma"]) < 0.1
    assert np.isfinite(float(jax.jit(m.loglik_from_data, static_argnums=2)(init, data, True)))


def test_errors():
    m = LevyWalk()
    tr = m.simulate(seed=0, params=PARAMS, n_steps=10, dt=0.1)[0]
    for bad in ({"alpha": 2.3}, {"alpha": 0.9}, {"v": -1.0}, {"sigma": 0.0}, {"v": np.nan}):
        with pytest.raises(ParameterError):
            m.log_likelihood(dict(PARAMS, **bad), tr)
    with pytest.raises(ParameterError):
        m.log_likelihood({"alpha": 1.5, "v": 1.0}, tr)
    with pytest.raises(ParameterError):
        m.simulate(seed=0, params=dict(PARAMS, alpha=2.5), n_steps=10, dt=0.1)
    for kwargs in (
        {"n_directions": 5},
        {"n_directions": 2},
        {"n_rates": 1},
        {"turn_bins": 0},
        {"duration_range": (0.5, 1e4)},
        {"duration_range": (1.5, 1e4)},
        {"duration_range": (1, 10)},
        {"duration_range": "x"},
    ):
        with pytest.raises(ModelError):
            LevyWalk(**kwargs)
    with pytest.raises(ModelError):
        m.simulate(seed=0, params=PARAMS, n_steps=10, dt=0.1, dim=3)
    with pytest.raises(ModelError):
        LevyWalk(priors={"D": None}).prior("alpha")


def test_public_face():
    m = bd.models.LevyWalk()
    assert m.name == "levy" and m.param_names == ("alpha", "v", "sigma")
    cfg = m.config()
    assert cfg["n_directions"] == 8 and cfg["duration_range"] == (1, 1e4) and cfg["direction_blur"]
    assert "LevyWalk" in bd.models.__all__


@pytest.mark.slow
def test_posterior_recovery():
    """NUTS on six 2D walks (n = 300, SNR 10): |posterior mean - alpha| < 0.3 on each and the
    90% intervals cover at least 4 of 6."""
    m = LevyWalk()
    rng = np.random.default_rng(0)
    alphas = rng.uniform(1.1, 1.9, 6)
    ts = m.simulate(
        seed=1,
        params={"alpha": alphas, "v": 1.0, "sigma": 0.01},
        n_steps=300,
        dt=0.1,
        dim=2,
        n_tracks=6,
    )
    idata = bd.sample_many(m, ts, draws=300, tune=300, chains=2, seed=0, progress=False)
    post = idata.posterior["alpha"].values  # (chain, draw, track)
    post = post.reshape(-1, post.shape[-1])
    mean = post.mean(0)
    lo, hi = np.quantile(post, [0.05, 0.95], axis=0)
    assert np.all(np.abs(mean - alphas) < 0.3)
    assert np.sum((lo <= alphas) & (alphas <= hi)) >= 4


def test_blurred_emissions_against_dense_gaussians():
    """2D direction blur: stay = MVN with extra variance across e_d; turns by quadrature (1e-8)."""
    from scipy.stats import multivariate_normal as mvn

    from bayesdiff.models.levy import emissions

    rng = np.random.default_rng(4)
    dirs = directions(2, 4)
    x = rng.normal(size=(3, 2))
    lags = np.array([1.0, 2.0, 1.0])
    dt, v, sigma, blur = 0.2, 1.3, 0.4, 0.1
    edges = (0.0, 0.5, 1.0)
    stay, renew = (np.asarray(a) for a in emissions(x, lags, dt, v, sigma, dirs, edges, blur))
    for t in range(3):
        s2, disp = lags[t] * sigma**2, v * lags[t] * dt
        for d, e in enumerate(dirs):
            n = np.array([-e[1], e[0]])
            cov = s2 * np.eye(2) + blur * disp**2 * np.outer(n, n)
            np.testing.assert_allclose(stay[t, d], mvn.logpdf(x[t], disp * e, cov), rtol=1e-10)
        for b in range(2):
            lo, hi = edges[b], edges[b + 1]
            for d in range(4):
                for e in range(4):
                    if d == e:
                        continue
                    seg = dirs[e] - dirs[d]
                    n = np.array([-seg[1], seg[0]]) / np.linalg.norm(seg)
                    cov = s2 * np.eye(2) + blur * disp**2 * np.outer(n, n)

                    def f(u, t=t, d=d, e=e, cov=cov, disp=disp):
                        mean = disp * ((1 - u) * dirs[d] + u * dirs[e])
                        return mvn.pdf(x[t], mean, cov)

                    ref = integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]
                    ref /= hi - lo
                    np.testing.assert_allclose(renew[t, b, d, e], np.log(ref), rtol=1e-8)


@pytest.mark.parametrize("alpha", [2.0, 1.0])
def test_simulate_rejects_alpha_outside_open_range(alpha):
    m = bd.models.LevyWalk()
    with pytest.raises(ParameterError, match="strictly between 1 and 2"):
        m.simulate(0, {"alpha": alpha, "v": 1.0, "sigma": 0.01}, 20, 0.05, dim=2)
