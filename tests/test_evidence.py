"""Model evidence: closed forms, the quadrature integrand, cross-checks of every method.

Tolerances: every method's log Z must be within 0.1 nats of the exact value
and (methods with an error bar) within 3x its stated error. Exact values are
computed here independently of the package (numpy/scipy: dense Cholesky and
incomplete gamma functions).
"""

from __future__ import annotations

import importlib
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from scipy import integrate
from scipy.special import gammainc, gammaln, logsumexp

import bayesdiff as bd
from bayesdiff._kernels.gaussian import dense_innovations, levinson_innovations
from bayesdiff.errors import ModelError
from bayesdiff.inference._quadrature import Quadrature, log_integrand_fn
from bayesdiff.inference._target import Target

# the package re-exports the function ``evidence``, which shadows the module name
E = importlib.import_module("bayesdiff.inference.evidence")

TOL = 0.1


# -----------------------------------------------------------------------------
# exact references (independent of the package)
# -----------------------------------------------------------------------------
def exact_brownian_invgamma(track: bd.Track, a0: float, b0: float) -> float:
    """log p(x) for x_k ~ N(0, 2 D tau_k) per coordinate, D ~ InverseGamma(a0, b0)."""
    x = track.increments
    tau = track.time_lags[:, None] * np.ones_like(x)
    N = x.size
    S = float(np.sum(x**2 / (2 * tau)))
    return (
        -0.5 * N * math.log(2 * math.pi)
        - 0.5 * float(np.sum(np.log(2 * tau)))
        + a0 * math.log(b0)
        - gammaln(a0)
        + gammaln(a0 + N / 2)
        - (a0 + N / 2) * math.log(b0 + S / 2)
    )


def _fgn_cov(alpha: float, n: int) -> np.ndarray:
    k = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :]).astype(float)
    return np.abs(k + 1) ** alpha + np.abs(k - 1) ** alpha - 2 * k**alpha


def exact_fbm_loguniform_D(tracks, alpha: float, lo: float, hi: float) -> float:
    """log p(x | alpha) with D ~ LogUniform(lo, hi) integrated in closed form
    (increments N(0, D dt^alpha C_alpha), tracks pooled, no gaps)."""
    Q, N, logdet = 0.0, 0, 0.0
    dt = tracks[0].dt
    for t in tracks:
        x = t.increments
        C = _fgn_cov(alpha, len(x))
        L = np.linalg.cholesky(C)
        z = np.linalg.solve(L, x)
        Q += float(np.sum(z**2))
        N += x.size
        logdet += x.shape[1] * 2 * float(np.sum(np.log(np.diag(L))))
    beta = Q / dt**alpha / 2
    m = N / 2
    log_int = (
        -m * math.log(beta) + gammaln(m) + math.log(gammainc(m, beta / lo) - gammainc(m, beta / hi))
    )
    return (
        -0.5 * N * math.log(2 * math.pi)
        - 0.5 * logdet
        - 0.5 * N * alpha * math.log(dt)
        - math.log(math.log(hi / lo))
        + log_int
    )


def exact_fbm_narrow_alpha(track, a_lo, a_hi, lo, hi) -> float:
    """The same, averaged over alpha ~ Uniform(a_lo, a_hi) by adaptive quadrature."""
    ref = exact_fbm_loguniform_D([track], 0.5 * (a_lo + a_hi), lo, hi)
    val, _ = integrate.quad(
        lambda a: math.exp(exact_fbm_loguniform_D([track], a, lo, hi) - ref),
        a_lo,
        a_hi,
        epsabs=0,
        epsrel=1e-10,
    )
    return ref + math.log(val / (a_hi - a_lo))


def check(ev: bd.Evidence, exact: float, tol: float = TOL, k_err: float = 3.0) -> None:
    diff = abs(ev.log_z - exact)
    assert diff < tol, (
        f"{ev.method}: log Z {ev.log_z:.4f} vs exact {exact:.4f} (|diff| = {diff:.3g})"
    )
    if math.isfinite(ev.log_z_err):
        assert diff <= k_err * ev.log_z_err + 1e-6, (
            f"{ev.method}: |diff| = {diff:.3g} > {k_err} x stated error {ev.log_z_err:.3g}"
        )


# -----------------------------------------------------------------------------
# fixtures
# -----------------------------------------------------------------------------
A0, B0 = 3.0, 0.2  # inverse-gamma prior of D (mean 0.1 µm²/s)


@pytest.fixture(scope="module")
def bm_case():
    model = bd.models.Brownian(priors={"D": dist.InverseGamma(A0, B0)})
    track = model.simulate(seed=3, params={"D": 0.08}, n_steps=60, dt=0.05, dim=2)[0]
    return model, track, exact_brownian_invgamma(track, A0, B0)


ALPHA_WIN = (0.695, 0.705)


@pytest.fixture(scope="module")
def fbm_case():
    model = bd.models.FBM(priors={"alpha": dist.Uniform(*ALPHA_WIN)})
    track = model.simulate(seed=4, params={"alpha": 0.7, "D": 0.3}, n_steps=50, dt=0.1, dim=1)[0]
    return model, track, exact_fbm_narrow_alpha(track, *ALPHA_WIN, 1e-4, 1e3)


@pytest.fixture(scope="module")
def bm_idata(bm_case):
    model, track, _ = bm_case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bd.sample(
            model,
            track,
            draws=1000,
            tune=400,
            chains=2,
            seed=1,
            progress=False,
            warn=False,
            target_accept=0.9,
        )


# -----------------------------------------------------------------------------
# kernels and integrand
# -----------------------------------------------------------------------------
def test_innovations_whiten_like_cholesky():
    rng = np.random.default_rng(0)
    n = 12
    acov = jnp.asarray(_fgn_cov(0.6, n)[0] + 0.3 * np.r_[2.0, -1.0, np.zeros(n - 2)])
    x = rng.standard_normal((n, 3))
    C = np.asarray(acov)[np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])]
    L = np.linalg.cholesky(C)
    for logv, z in (
        levinson_innovations(acov, jnp.asarray(x)),
        dense_innovations(jnp.asarray(C), jnp.asarray(x)),
    ):
        np.testing.assert_allclose(np.asarray(z), np.linalg.solve(L, x), rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(float(jnp.sum(logv)), 2 * np.sum(np.log(np.diag(L))), rtol=1e-10)


def test_quadrature_integrand_is_model_likelihood_times_prior():
    """The integrand in (alpha, u, log D), drift integrated analytically, equals
    the model's own likelihood times the priors integrated over v numerically
    (a gapped, noisy, drifting 1D track: dense covariance path)."""
    model = bd.models.FBM(noise=True, drift=True)
    frames = np.r_[0:10, 12:20, 21:30]
    track = model.simulate(
        seed=2,
        params={"alpha": 0.8, "D": 0.2, "sigma": 0.05, "v": 0.3},
        n_steps=len(frames) - 1,
        dt=0.1,
        dim=1,
        frames=frames,
    )[0]
    assert track.has_gaps
    q = Quadrature(model, [track])
    f, _ = log_integrand_fn(True, True, q.priors, q.consts)
    lik = jax.jit(
        jax.vmap(lambda v, p: model.log_likelihood({**p, "v": v}, track), in_axes=(0, None))
    )
    for a, D, s in [(0.8, 0.2, 0.05), (1.3, 0.05, 0.2)]:
        ell = math.log(D) + a * math.log(0.1)
        u = 2 * math.log(s) - ell
        st = jax.tree.map(lambda t: t[0], q.stats(np.array([a]), np.array([u])))
        mine = float(f(jnp.log(D), st, a, u))
        w = 0.5 * (u + ell)
        log_prior = float(
            model.prior("D").log_prob(D)
            + math.log(D)
            + model.prior("sigma").log_prob(s)
            + w
            + math.log(0.5)
        )
        p = {"alpha": a, "D": D, "sigma": s}
        top = float(lik(jnp.full((1, 1), 0.3), p)[0])
        val, _ = integrate.quad(
            lambda v, p=p, top=top: (
                math.exp(float(lik(jnp.full((1, 1), v), p)[0]) - top)
                * math.exp(-0.5 * v * v)
                / math.sqrt(2 * math.pi)
            ),
            -10,
            10,
            epsabs=0,
            epsrel=1e-12,
            limit=200,
        )
        assert abs(mine - log_prior - (top + math.log(val))) < 1e-9


def test_quadrature_fbm_noise_against_brute_force_grid():
    """FBM + noise (3 parameters): adaptive quadrature vs a fine fixed grid in
    (alpha, log D, log sigma), both on the model's exact likelihood."""
    model = bd.models.FBM(noise=True)
    track = model.simulate(
        seed=5, params={"alpha": 0.7, "D": 0.3, "sigma": 0.15}, n_steps=25, dt=0.1
    )[0]
    ev = bd.evidence(model, track, method="quadrature")
    lik = jax.jit(
        jax.vmap(
            lambda a, lD, ls: model.log_likelihood(
                {"alpha": a, "D": jnp.exp(lD), "sigma": jnp.exp(ls)}, track
            )
        )
    )
    A = (np.arange(60) + 0.5) / 60 * 2.0  # midpoints on [0, 2]
    LD = np.linspace(math.log(1e-3), math.log(1e2), 70)
    LS = np.linspace(math.log(1e-3), 0.0, 70)
    G = np.stack(np.meshgrid(A, LD, LS, indexing="ij"), -1).reshape(-1, 3)
    v = np.asarray(lik(*(jnp.asarray(G[:, i]) for i in range(3)))).reshape(len(A), len(LD), len(LS))

    def trap(x):
        w = np.full(len(x), x[1] - x[0])
        w[[0, -1]] *= 0.5
        return np.log(w)

    total = v + trap(LD)[None, :, None] + trap(LS)[None, None, :] + math.log(2.0 / len(A))
    brute = logsumexp(total) - math.log(2.0) - math.log(math.log(1e7)) - math.log(math.log(1e3))
    # the D grid is cut at [1e-3, 1e2] (no likelihood mass outside); grid error ~1e-3
    assert abs(ev.log_z - brute) < 0.01, (ev.log_z, brute)


# -----------------------------------------------------------------------------
# closed forms
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["quadrature", "importance", "laplace"])
def test_brownian_conjugate(bm_case, method):
    model, track, exact = bm_case
    ev = bd.evidence(model, track, method=method, seed=0)
    check(ev, exact)
    assert ev.method == method and ev.n_likelihood_evals > 0 and ev.seconds > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_brownian_conjugate_bridge(bm_case, bm_idata, seed):
    model, track, exact = bm_case
    ev = bd.evidence(model, track, method="bridge", seed=seed, idata=bm_idata)
    check(ev, exact)
    assert 0 < ev.log_z_err < 0.05


@pytest.mark.parametrize("method", ["quadrature", "importance"])
def test_fbm_fixed_alpha(fbm_case, method):
    model, track, exact = fbm_case
    check(bd.evidence(model, track, method=method, seed=0), exact)


ALPHA_WIDE = (0.55, 1.05)  # contains FBM's NUTS starting value alpha = 1


@pytest.fixture(scope="module")
def fbm_wide_case():
    model = bd.models.FBM(priors={"alpha": dist.Uniform(*ALPHA_WIDE)})
    track = model.simulate(seed=4, params={"alpha": 0.7, "D": 0.3}, n_steps=50, dt=0.1, dim=1)[0]
    return model, track, exact_fbm_narrow_alpha(track, *ALPHA_WIDE, 1e-4, 1e3)


@pytest.mark.parametrize("method", ["quadrature", "bridge"])
def test_fbm_alpha_integrated(fbm_wide_case, method):
    """alpha ~ Uniform(0.55, 1.05): exact = scipy's adaptive quadrature over
    alpha of the closed-form integral over D."""
    model, track, exact = fbm_wide_case
    if method == "quadrature":
        check(bd.evidence(model, track, method=method), exact)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = bd.sample(
            model,
            track,
            draws=1000,
            tune=400,
            chains=2,
            seed=0,
            progress=False,
            warn=False,
            target_accept=0.9,
        )
    for seed in (0, 1):
        check(bd.evidence(model, track, method="bridge", seed=seed, idata=idata), exact)


def test_pooled_quadrature_closed_form():
    model = bd.models.FBM(priors={"alpha": dist.Uniform(0.6999, 0.7001)})
    ts = model.simulate(
        seed=6, params={"alpha": 0.7, "D": 0.2}, n_steps=30, dt=0.1, dim=2, n_tracks=3
    )
    ts = bd.TrackSet([ts[0], ts[1], bd.Track(ts[2].positions[:20], 0.1, id=2)])  # unequal lengths
    ev = bd.evidence(model, ts, method="quadrature")
    exact = exact_fbm_loguniform_D(list(ts), 0.7, 1e-4, 1e3)
    assert abs(ev.log_z - exact) < 1e-3


def test_negative_control_wrong_prior_misses(bm_case):
    """A method that used a wrong prior (here: three times the prior scale of
    D), or no prior at all (the maximum likelihood), must miss the exact value by more
    than the tolerance: the tests above could tell it apart."""
    model, track, exact = bm_case
    wrong = bd.models.Brownian(priors={"D": dist.InverseGamma(A0, 3 * B0)})
    ev = bd.evidence(wrong, track, method="quadrature")
    assert abs(ev.log_z - exact) > TOL
    # the maximum likelihood ("no prior") is no evidence either
    ll_max = max(float(model.log_likelihood({"D": d}, track)) for d in np.geomspace(0.01, 1, 400))
    assert abs(ll_max - exact) > TOL


def test_auto_picks_quadrature_or_bridge(bm_case):
    model, track, _ = bm_case
    assert bd.evidence(model, track).method == "quadrature"
    assert E.quadrature_reason(bd.models.Langevin(), [track]) is None
    assert E.quadrature_reason(bd.models.LevyWalk(), [track]) is not None
    with pytest.raises(ModelError):
        bd.evidence(bd.models.LevyWalk(), track, method="quadrature")
    with pytest.raises(ValueError):
        bd.evidence(model, track, method="harmonic")


def test_evidence_fields(bm_case):
    model, track, _ = bm_case
    ev = bd.evidence(model, track, keep_draws=True, n_draws=500)
    assert math.isclose(ev.log10_z, ev.log_z / math.log(10))
    assert ev.draws["D"].shape == (1, 500)
    assert "quadrature" in str(ev)


def test_latent_recovery_non_centred_langevin():
    """Langevin's centre is sampled non-centred (site c_z): posterior values of
    c map back to c_z by Newton's method, and constraining gives them back."""
    from numpyro.infer.util import constrain_fn

    model = bd.models.Langevin()
    track = model.simulate(
        seed=1, params={"D": 0.1, "k": 2.0, "c": [0.5, -0.2]}, n_steps=200, dt=0.05, dim=2
    )[0]
    target = Target(model, track)
    params = {
        "D": np.array([0.1, 0.2]),
        "k": np.array([2.0, 1.0]),
        "c": np.array([[0.5, -0.2], [0.4, 0.1]]),
    }
    theta = target.unconstrained(params)
    # importance sampling through the latent map agrees with the exact quadrature
    ev = bd.evidence(model, track, method="importance")
    exact = bd.evidence(model, track)
    assert exact.method == "quadrature"
    assert abs(ev.log_z - exact.log_z) < 0.05 + 3 * ev.log_z_err, (ev, exact)
    for i in range(2):
        back = constrain_fn(
            target.model_fn,
            target.args,
            {},
            target.unravel(jnp.asarray(theta[i])),
            return_deterministic=True,
        )
        for p, v in params.items():
            np.testing.assert_allclose(np.asarray(back[p]), v[i], rtol=1e-8)


@pytest.mark.slow
@pytest.mark.parametrize("nuts_seed", [3, 4])
def test_brownian_conjugate_bridge_more_nuts_seeds(bm_case, nuts_seed):
    model, track, exact = bm_case
    ev = bd.evidence(model, track, method="bridge", seed=nuts_seed, draws=1000, tune=500, chains=2)
    check(ev, exact)


@pytest.mark.slow
def test_langevin_bridge_vs_importance():
    model = bd.models.Langevin()
    track = model.simulate(
        seed=1, params={"D": 0.1, "k": 2.0, "c": [0.0, 0.0]}, n_steps=100, dt=0.05, dim=2
    )[0]
    a = bd.evidence(model, track, method="bridge", draws=1000, tune=500, chains=2)
    b = bd.evidence(model, track, method="importance")
    assert abs(a.log_z - b.log_z) < max(0.1, 3 * math.hypot(a.log_z_err, b.log_z_err))
