"""Brownian and FBM: exact likelihoods against dense computations, simulators against theory."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

import bayesdiff as bd
from bayesdiff._kernels.gaussian import toeplitz_loglik
from bayesdiff.errors import ParameterError, TrackTooShortError
from bayesdiff.models.fbm import fgn_autocovariance, increment_covariance

GAPPED = np.array([0, 1, 2, 4, 5, 6, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19, 23, 24, 25, 26, 27])
PARAMS = {"alpha": 0.6, "D": 0.3, "v": np.array([0.5, -0.2]), "sigma": 0.1}
CASES = [
    (cls, drift, noise, gaps)
    for cls, drift, noise, gaps in itertools.product(
        [bd.models.FBM, bd.models.Brownian], [False, True], [False, True], [False, True]
    )
]


def _params(m, **over):
    p = {**PARAMS, **over}
    return {k: v for k, v in p.items() if k in m.param_names}


def _dense_loglik(m, params, track):
    """Independent reference: scipy's multivariate normal on the dense covariance."""
    a = params.get("alpha", 1.0)
    C = params["D"] * np.asarray(increment_covariance(a, jnp.asarray(track.times)))
    n = track.n_steps
    if "sigma" in params:
        C = C + params["sigma"] ** 2 * (2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1))
    total = 0.0
    for d in range(track.dim):
        mu = params["v"][d] * track.time_lags if "v" in params else np.zeros(n)
        total += multivariate_normal(mu, C).logpdf(track.increments[:, d])
    return total


@pytest.mark.parametrize("cls,drift,noise,gaps", CASES)
def test_loglik_matches_dense(cls, drift, noise, gaps):
    m = cls(drift=drift, noise=noise)
    p = _params(m)
    for seed, n in [(1, 20), (2, 60)]:
        frames = (
            GAPPED
            if gaps and n == 20
            else (np.cumsum(np.r_[0, 1 + (np.arange(n) % 7 == 3)]) if gaps else None)
        )
        track = m.simulate(seed, p, n_steps=n, dt=0.1, dim=2, frames=frames)[0]
        assert track.has_gaps == gaps
        # both public methods, compiled as one program (quicker than op by op)
        ll, pw = jax.jit(
            lambda q, t=track: (m.log_likelihood(q, t), m.pointwise_log_likelihood(q, t))
        )(p)
        ll = float(ll)
        ref = _dense_loglik(m, p, track)
        assert ll == pytest.approx(ref, rel=1e-8, abs=1e-8)
        assert pw.shape == (track.n_steps,)
        assert float(pw.sum()) == pytest.approx(ll, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize(
    "cls,noise,gaps",
    [
        (bd.models.FBM, True, False),
        (bd.models.FBM, True, True),
        (bd.models.Brownian, True, False),
        (bd.models.FBM, False, False),
    ],
)
def test_gradients_match_finite_differences(cls, noise, gaps):
    m = cls(drift=True, noise=noise)
    p = {k: jnp.asarray(v, jnp.float64) for k, v in _params(m).items()}
    track = (
        m.simulate(3, p, n_steps=30, dt=0.1, dim=2, frames=GAPPED[:31] if gaps else None)[0]
        if not gaps
        else m.simulate(3, p, n_steps=20, dt=0.1, dim=2, frames=GAPPED)[0]
    )
    f = jax.jit(lambda q: m.log_likelihood(q, track))  # compiled once for all the differences
    g = jax.jit(jax.grad(f))(p)
    eps = 1e-6
    for k, v in p.items():
        for idx in np.ndindex(v.shape):
            e = np.zeros(v.shape)
            e[idx] = eps
            fd = (f({**p, k: v + e}) - f({**p, k: v - e})) / (2 * eps)
            assert float(np.asarray(g[k])[idx]) == pytest.approx(float(fd), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("gaps", [False, True])
@pytest.mark.parametrize("pad", [0, 7])
def test_fast_gradient_equals_autodiff(gaps, pad):
    """The samplers' gradient (Gohberg-Semencul / forward mode) equals autodiff, with padding."""
    from bayesdiff.models.base import as_data

    m = bd.models.FBM(noise=True, drift=True)
    p = {k: jnp.asarray(v, jnp.float64) for k, v in _params(m).items()}
    tr = m.simulate(0, p, n_steps=20, dt=0.1, dim=2, frames=GAPPED if gaps else None)[0]
    data, reg = as_data(tr, pad_to=tr.n_steps + pad)
    slow_v, slow = jax.jit(jax.value_and_grad(lambda q: m.loglik_from_data(q, data, reg)))(p)
    fast_v, fast = jax.jit(jax.value_and_grad(lambda q: m.fast_loglik(q, data, reg)))(p)
    assert float(fast_v) == pytest.approx(float(slow_v), rel=1e-12)
    ll = jax.jit(lambda q: m.log_likelihood(q, tr))(p)
    assert float(slow_v) == pytest.approx(float(ll), rel=1e-12)
    for k in p:
        np.testing.assert_allclose(fast[k], slow[k], rtol=1e-8, atol=1e-10)


def test_toeplitz_gradient_wrt_autocovariance():
    """Gohberg-Semencul gradient in the raw autocovariance and data vs autodiff of Levinson."""
    from bayesdiff._kernels.gaussian import levinson_pointwise

    rng = np.random.default_rng(0)
    n = 30
    acov = jnp.asarray(np.r_[2.0, -0.6, 0.3, -0.1, np.zeros(n - 4)] + 0.0)
    # the first L terms of the pointwise log densities; each gradient compiled once for all L
    levinson = jax.jit(
        jax.grad(
            lambda a, x, L: jnp.sum(jnp.where(jnp.arange(n) < L, levinson_pointwise(a, x), 0.0)),
            argnums=(0, 1),
        )
    )
    toeplitz = jax.jit(jax.grad(toeplitz_loglik, argnums=(0, 1)))
    for L in (30, 17, 1):
        x = jnp.asarray(np.where(np.arange(n)[:, None] < L, rng.standard_normal((n, 3)), 0.0))
        ref = levinson(acov, x, jnp.asarray(L))
        got = toeplitz(acov, x, jnp.asarray(L))
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got[1][:L], ref[1][:L], rtol=1e-9, atol=1e-12)


_toeplitz_loglik = jax.jit(toeplitz_loglik)  # compiled once for every alpha below
_toeplitz_loglik_batch = jax.jit(jax.vmap(toeplitz_loglik, in_axes=(None, 0, 0)))


@pytest.mark.parametrize("alpha", [0.05, 1.0, 1.9, 1.98])
def test_toeplitz_loglik_ill_conditioned_long(alpha):
    """The samplers' path (log det from Levinson, quadratic form from Gohberg-Semencul)
    equals the dense density for n = 300 (segmented recursion) up to condition number
    ~2e4 (alpha = 1.98), and vmap over series of different observed lengths (a traced
    trip count) equals each one alone."""
    import scipy.linalg

    rng = np.random.default_rng(3)
    n = 300
    acov = np.asarray(fgn_autocovariance(alpha, n))
    cov = scipy.linalg.toeplitz(acov)
    x = np.linalg.cholesky(cov) @ rng.standard_normal((n, 2))
    dense = sum(multivariate_normal(np.zeros(n), cov).logpdf(x[:, j]) for j in range(2))
    got = _toeplitz_loglik(jnp.asarray(acov), jnp.asarray(x), jnp.asarray(n))
    assert float(got) == pytest.approx(dense, rel=1e-11)
    lengths = np.array([n, 271, 64])
    xs = np.stack([np.where(np.arange(n)[:, None] < L, x, 0.0) for L in lengths])
    batched = _toeplitz_loglik_batch(jnp.asarray(acov), jnp.asarray(xs), jnp.asarray(lengths))
    for L, b in zip(lengths, batched, strict=True):
        ref = sum(multivariate_normal(np.zeros(L), cov[:L, :L]).logpdf(x[:L, j]) for j in range(2))
        assert float(b) == pytest.approx(ref, rel=1e-11)


@pytest.mark.parametrize("cls", [bd.models.FBM, bd.models.Brownian])
def test_jit_vmap_and_padding(cls):
    """jit(f) == f; vmap over a padded batch equals per-track values (padding is exact)."""
    from bayesdiff.models.base import as_data

    m = cls(noise=True)
    p = {k: jnp.asarray(v) for k, v in _params(m).items()}
    ts = bd.TrackSet(
        [m.simulate(s, p, n_steps=n, dt=0.05, dim=2)[0] for s, n in [(0, 9), (1, 13), (2, 16)]]
    )
    jitted = [jax.jit(lambda q, t=t: m.log_likelihood(q, t)) for t in ts]
    ref = [float(f(p)) for f in jitted]
    assert float(m.log_likelihood(p, ts[0])) == pytest.approx(ref[0], rel=1e-12)
    (batch,) = ts.batches(bucket=16)
    data, reg = as_data(batch)
    vals = jax.jit(jax.vmap(lambda d: m.loglik_from_data(p, d, reg)))(data)
    np.testing.assert_allclose(np.asarray(vals), ref, rtol=1e-10)


def test_brownian_is_fbm_with_alpha_one():
    tr = bd.models.Brownian(noise=True).simulate(0, {"D": 0.2, "sigma": 0.05}, 40, 0.1, dim=2)[0]
    a = jax.jit(lambda q: bd.models.Brownian(noise=True).log_likelihood(q, tr))(
        {"D": 0.2, "sigma": 0.05}
    )
    b = jax.jit(lambda q: bd.models.FBM(noise=True).log_likelihood(q, tr))(
        {"alpha": 1.0, "D": 0.2, "sigma": 0.05}
    )
    assert float(a) == pytest.approx(float(b), rel=1e-10)


@pytest.mark.parametrize("alpha", [0.4, 1.0, 1.6])
def test_simulated_msd_and_autocovariance(alpha):
    """Ensemble MSD = 2 D t^alpha (per dimension) and increment autocovariance = theory.

    Tolerance: 5 standard errors of the ensemble estimates (2000 tracks).
    """
    D, dt, n = 0.5, 0.1, 64
    ts = bd.models.FBM().simulate(
        7, {"alpha": alpha, "D": D}, n_steps=n, dt=dt, dim=2, n_tracks=2000
    )
    pos = np.stack([t.positions for t in ts])  # (tracks, n+1, 2)
    for lag in (1, 4, 16, 64):
        disp2 = (pos[:, lag] - pos[:, 0]) ** 2  # (tracks, 2)
        msd = disp2.mean()
        se = disp2.std() / np.sqrt(disp2.size)
        assert abs(msd - 2 * D * (lag * dt) ** alpha) < 5 * se
    inc = np.diff(pos, axis=1)
    for k in (1, 2, 5):
        prod = inc[:, :-k] * inc[:, k:]
        theory = D * dt**alpha * ((k + 1) ** alpha + abs(k - 1) ** alpha - 2 * k**alpha)
        assert abs(prod.mean() - theory) < 5 * prod.std() / np.sqrt(prod.size / (n / k))


def test_simulator_noise_and_drift_moments():
    m = bd.models.Brownian(drift=True, noise=True)
    p = {"D": 0.1, "v": np.array([1.0, -2.0]), "sigma": 0.05}
    ts = m.simulate(1, p, n_steps=50, dt=0.02, dim=2, n_tracks=2000)
    inc = np.stack([t.increments for t in ts])
    np.testing.assert_allclose(inc.mean(axis=(0, 1)) / 0.02, p["v"], atol=0.1)
    var = inc.var(axis=(0, 1)).mean()
    assert var == pytest.approx(2 * 0.1 * 0.02 + 2 * 0.05**2, rel=0.03)
    cov1 = ((inc[:, 1:] - inc.mean((0, 1))) * (inc[:, :-1] - inc.mean((0, 1)))).mean()
    assert cov1 == pytest.approx(-(0.05**2), rel=0.15)


def test_simulate_seed_and_gaps():
    m = bd.models.FBM()
    a = m.simulate(5, {"alpha": 0.7, "D": 1.0}, 20, 0.1, frames=GAPPED)
    b = m.simulate(5, {"alpha": 0.7, "D": 1.0}, 20, 0.1, frames=GAPPED)
    np.testing.assert_array_equal(a[0].positions, b[0].positions)
    assert a[0].has_gaps and list(a[0].frames) == list(GAPPED)
    per_track = m.simulate(0, {"alpha": np.array([0.3, 1.5]), "D": 1.0}, 10, 0.1, n_tracks=2)
    assert len(per_track) == 2


def test_bad_parameters_and_tracks():
    m = bd.models.FBM(noise=True)
    tr = m.simulate(0, {"alpha": 0.5, "D": 1.0, "sigma": 0.1}, 10, 0.1)[0]
    with pytest.raises(ParameterError, match="missing"):
        m.log_likelihood({"alpha": 0.5, "D": 1.0}, tr)
    with pytest.raises(ParameterError, match="outside"):
        m.log_likelihood({"alpha": 2.5, "D": 1.0, "sigma": 0.1}, tr)
    with pytest.raises(ParameterError, match="outside"):
        m.log_likelihood({"alpha": 0.5, "D": -1.0, "sigma": 0.1}, tr)
    with pytest.raises(ParameterError):
        m.simulate(0, {"alpha": 0.5, "D": np.nan, "sigma": 0.1}, 10, 0.1)
    short = bd.Track(np.zeros((2, 2)), dt=0.1, id="s")
    with pytest.raises(TrackTooShortError, match="'s'"):
        m.log_likelihood({"alpha": 0.5, "D": 1.0, "sigma": 0.1}, short)
    with pytest.raises(bd.errors.ModelError, match="unknown"):
        bd.models.FBM(priors={"beta": None}).prior("alpha")


def test_priors_configurable_and_documented():
    import numpyro.distributions as dist

    m = bd.models.FBM(priors={"alpha": dist.Uniform(0.2, 1.0)})
    assert float(m.prior("alpha").low) == 0.2
    cfg = m.config()
    assert cfg["priors"]["alpha"].startswith("Uniform") and "D" in cfg["priors"]
    assert bd.models.from_name("fbm+noise+drift").param_names == ("alpha", "D", "v", "sigma")


def test_levinson_segments_equal_dense_and_one_scan(monkeypatch):
    """Long series run the recursion in segments of growing vector length, and series
    longer than _STACK_MAX compute innovations inside the loop: same values as the dense
    covariance, and the same values and gradients as one stacked scan, also when the
    observed length ends inside a segment."""
    import scipy.linalg
    import scipy.stats

    import bayesdiff._kernels.gaussian as G

    rng = np.random.default_rng(8)
    n, L = 150, 97
    k = np.arange(n)
    acov_np = 0.5 * (np.abs(k + 1) ** 0.7 - 2 * k**0.7 + np.abs(k - 1) ** 0.7)
    acov = jnp.asarray(acov_np)
    x_np = np.where(np.arange(n)[:, None] < L, rng.standard_normal((n, 2)), 0.0)
    x = jnp.asarray(x_np)

    def run():  # a new program each time: the module's settings are read when tracing
        return jax.jit(
            lambda a, y: (
                G.levinson_pointwise(a, y),
                G.levinson_innovations(a, y),
                jax.value_and_grad(G.toeplitz_loglik, argnums=(0, 1))(a, y, jnp.asarray(L)),
            )
        )(acov, x)

    monkeypatch.setattr(G, "_SEGMENT_MIN", 16)
    got = run()
    cov = scipy.linalg.toeplitz(acov_np)
    np.testing.assert_allclose(got[0], G.dense_pointwise(jnp.asarray(cov), x), rtol=1e-9)
    dense_l = sum(
        scipy.stats.multivariate_normal(np.zeros(L), cov[:L, :L]).logpdf(x_np[:L, j])
        for j in range(2)
    )
    np.testing.assert_allclose(got[2][0], dense_l, rtol=1e-10)
    monkeypatch.setattr(G, "_STACK_MAX", 16)
    streaming = run()
    monkeypatch.setattr(G, "_SEGMENTS", 1)
    one_scan = run()
    monkeypatch.setattr(G, "_STACK_MAX", 2048)
    ref = run()
    for other in (got, streaming, one_scan):
        for a, b in zip(jax.tree.leaves(other), jax.tree.leaves(ref), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
