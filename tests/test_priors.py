"""Users' own priors through every method: finite results that agree, or a named error.

The default suite checks the prior helpers against SciPy, the domain check of
the models, the issue's uniform-from-zero prior through quadrature, grid and
importance sampling (with a negative control), and the named errors. The full
table of priors x parameters x methods (NUTS and bridge sampling included) is
``-m slow``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest
from numpyro.distributions.transforms import AffineTransform
from scipy import stats

import bayesdiff as bd
from bayesdiff.errors import MethodError, ModelError
from bayesdiff.inference.evidence import importance_reliable
from bayesdiff.models.priors import mass_outside, quantile, support_range


def scaled_beta(a: float, b: float, low: float, high: float) -> dist.Distribution:
    """A Beta(a, b) rescaled to (low, high) (NumPyro does not narrow its support)."""
    return dist.TransformedDistribution(dist.Beta(a, b), AffineTransform(low, high - low))


# -----------------------------------------------------------------------------
# the helpers, against SciPy
# -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prior", "ref"),
    [
        (dist.HalfNormal(0.5), stats.halfnorm(scale=0.5)),
        (dist.Exponential(4.0), stats.expon(scale=0.25)),
        (dist.LogNormal(-1.0, 0.7), stats.lognorm(s=0.7, scale=math.exp(-1.0))),
        (dist.HalfCauchy(2.0), stats.halfcauchy(scale=2.0)),
        (dist.Gamma(2.0, 5.0), stats.gamma(a=2.0, scale=0.2)),  # no icdf: the cdf is inverted
        (dist.Beta(2.0, 3.0), stats.beta(2.0, 3.0)),  # no icdf either
        (scaled_beta(2.0, 2.0, 0.0, 2.0), stats.beta(2.0, 2.0, loc=0.0, scale=2.0)),
    ],
)
def test_quantiles_and_mass_outside_match_scipy(prior, ref):
    for p in (1e-9, 0.3, 0.97, 1 - 1e-9):
        assert quantile(prior, p) == pytest.approx(ref.ppf(p), rel=1e-7)
    lo, hi = support_range(prior, q=1e-9, positive=True)
    assert lo == pytest.approx(ref.ppf(1e-9), rel=1e-7) and lo > 0
    top = ref.support()[1]  # a finite bound is kept; an open end is the 1 - q quantile
    assert hi == pytest.approx(top if np.isfinite(top) else ref.ppf(1 - 1e-9), rel=1e-7)
    assert mass_outside(prior, 0.1, 1.5) == pytest.approx(ref.cdf(0.1) + ref.sf(1.5), rel=1e-7)


def test_support_range_uses_bounds_and_refuses_what_it_cannot_bound():
    assert support_range(dist.Uniform(0.0, 2.0)) == (0.0, 2.0)
    lo, hi = support_range(dist.Uniform(0.0, 2.0), q=1e-12, positive=True)
    assert lo == pytest.approx(2e-12) and hi == 2.0  # a bound at zero, on the log scale
    assert support_range(dist.LogUniform(1e-3, 1.0)) == pytest.approx((1e-3, 1.0))
    assert support_range(dist.Delta(0.5)) is None  # a point mass: nothing to integrate
    assert support_range(dist.Normal(np.zeros(2), 1.0)) is None  # not scalar


# -----------------------------------------------------------------------------
# models refuse priors outside their parameters' domains
# -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "priors", "words"),
    [
        (bd.models.FBM, {"alpha": dist.HalfNormal(1.0)}, ["alpha", "HalfNormal", "(0, 2)"]),
        (bd.models.FBM, {"D": dist.Normal(0.0, 1.0)}, ["D", "Normal", "0.5"]),
        (bd.models.Langevin, {"k": dist.Normal(1.0, 1.0)}, ["prior of k"]),
        (bd.models.LevyWalk, {"alpha": dist.Uniform(0.5, 2.0)}, ["alpha", "(1, 2)"]),
        (bd.models.FBM, {"nosuch": dist.Normal(0.0, 1.0)}, ["unknown parameters"]),
        (bd.models.FBM, {"D": 0.1}, ["must be a NumPyro distribution"]),
    ],
)
def test_models_refuse_priors_outside_their_domain(model, priors, words):
    with pytest.raises(ModelError) as err:
        model(priors=priors)
    for w in words:
        assert w in str(err.value)


def test_models_accept_priors_inside_their_domain():
    # negative control of the test above: the same families, restricted
    bd.models.FBM(priors={"alpha": dist.TruncatedNormal(1.0, 1.0, low=0.0, high=2.0)})
    bd.models.FBM(priors={"alpha": scaled_beta(2.0, 2.0, 0.0, 2.0)})
    bd.models.FBM(noise=True, priors={"D": dist.HalfNormal(1.0), "sigma": dist.Uniform(0, 1)})
    bd.models.LevyWalk(priors={"alpha": dist.Uniform(1.0, 2.0)})


# -----------------------------------------------------------------------------
# the prior: sigma ~ Uniform(0, b)
# -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def noisy_track():
    m = bd.models.FBM(noise=True)
    params = {"alpha": 0.7, "D": 0.1, "sigma": 0.03}
    return m.simulate(seed=5, params=params, n_steps=48, dt=0.05, dim=1)[0]


def evidences_agree(a: bd.Evidence, b: bd.Evidence, k: float = 4.0) -> bool:
    """Within ``k`` combined standard errors (quadrature's at least its tolerance)."""
    ea = max(a.log_z_err, 0.01) if a.method == "quadrature" else a.log_z_err
    eb = max(b.log_z_err, 0.01) if b.method == "quadrature" else b.log_z_err
    return abs(a.log_z - b.log_z) <= k * math.hypot(ea, eb)


#: scale parameters, compared on the log scale
LOG_SCALE = ("D", "k", "sigma")


def means_agree(x: dict, y: dict, names, tol: float = 0.1) -> bool:
    """Posterior means within ``tol`` posterior sds (the sd of ``x``); the scale
    parameters ``D``, ``k`` and ``sigma`` on the log scale.

    On the linear scale the mean of ``D`` hangs on a thin far tail: in the
    FBM + noise posteriors of the table, the 0.2 % of the mass at alpha > 1.5
    (where D = s / dt^alpha is ten times larger) moves E[D] by about 0.1
    posterior sd. Quadrature, importance sampling and NUTS + bridge sampling
    agree on that mass on a prior truncated to alpha > 1.5 (0.00213, 0.00212,
    0.00212), but a 4 x 1000-draw NUTS run holds a handful of such draws, so its
    linear-scale mean is off by that much while its diagnostics pass. On the
    log scale the tail moves the mean by < 0.02 sd.
    """

    def t(p, v):
        return np.log(v) if p in LOG_SCALE else np.asarray(v)

    return all(
        abs(np.mean(t(p, x[p])) - np.mean(t(p, y[p]))) <= tol * np.std(t(p, x[p])) for p in names
    )


def diagnostics_pass(idata) -> bool:
    """The thresholds of bd.sample's DiagnosticsWarning: R-hat <= 1.01, bulk and tail
    ESS >= 400, no divergences."""
    d = bd.diagnostics(idata)
    ok = (d["r_hat"] <= 1.01) & (d["ess_bulk"] >= 400) & (d["ess_tail"] >= 400)
    return bool(ok.all() and d.get("divergences", pd.Series([0])).sum() == 0)


def grid_draws(m, track, n=2000):
    idata = bd.sample(m, track, method="grid", draws=n, chains=2, seed=0)
    return {p: np.asarray(idata.posterior[p]).ravel() for p in m.param_names}


def test_uniform_from_zero_prior_on_sigma(noisy_track):
    """The issue's snippet: a finite log Z and posterior; quadrature, grid and
    importance sampling agree; the same check catches a prior twice as wide."""
    m = bd.models.FBM(noise=True, priors={"sigma": dist.Uniform(0.0, 0.5)})
    quad = bd.evidence(m, noisy_track)
    assert quad.method == "quadrature" and np.isfinite(quad.log_z)
    imp = bd.evidence(m, noisy_track, method="importance", keep_draws=True, n_draws=4000)
    assert importance_reliable(imp)[0]
    assert evidences_agree(quad, imp)
    grid = grid_draws(m, noisy_track)
    assert all(np.all(np.isfinite(v)) for v in grid.values())
    assert means_agree(grid, {p: v.ravel() for p, v in imp.draws.items()}, m.param_names)
    # negative control: the prior of sigma twice as wide moves log Z by about log 2
    wide = bd.models.FBM(noise=True, priors={"sigma": dist.Uniform(0.0, 1.0)})
    assert not evidences_agree(quad, bd.evidence(wide, noisy_track))


def test_drift_prior_that_is_not_normal(noisy_track):
    """A Laplace prior on the drift: the quadrature integrates it numerically and
    agrees with importance sampling (evidence and posterior means); the same check
    catches a prior twice as wide."""
    m = bd.models.FBM(drift=True, priors={"v": dist.Laplace(0.0, 1.0)})
    quad = bd.evidence(m, noisy_track, method="quadrature")
    imp = bd.evidence(m, noisy_track, method="importance", keep_draws=True, n_draws=4096)
    assert importance_reliable(imp)[0] and evidences_agree(quad, imp)
    grid = grid_draws(m, noisy_track)
    assert means_agree(grid, {p: v.ravel() for p, v in imp.draws.items()}, m.param_names)
    wide = bd.models.FBM(drift=True, priors={"v": dist.Laplace(0.0, 2.0)})
    assert not evidences_agree(quad, bd.evidence(wide, noisy_track, method="quadrature"))


def test_named_errors_where_quadrature_cannot(noisy_track):
    """A prior on sigma with neither bounds nor quantiles (a folded Normal: no cdf, no
    icdf): grid and quadrature say so, naming the parameter, prior and the method to
    use; "auto" picks one that works. (A Langevin drift prior that is not Normal is
    refused alike: tests/test_langevin_quadrature.py.)"""
    m = bd.models.FBM(noise=True, priors={"sigma": dist.FoldedDistribution(dist.Normal(0, 0.1))})
    with pytest.raises(MethodError, match=r"prior of sigma, FoldedDistribution.*method='nuts'"):
        bd.sample(m, noisy_track, method="grid")
    with pytest.raises(MethodError, match=r"prior of sigma, Folded.*'importance' or 'bridge'"):
        bd.evidence(m, noisy_track, method="quadrature")
    ev = bd.evidence(m, noisy_track, n_draws=1000)
    assert ev.method in ("importance", "bridge") and np.isfinite(ev.log_z)


# -----------------------------------------------------------------------------
# the full table (slow): every prior x parameter x method
# -----------------------------------------------------------------------------
def prior_table() -> list[tuple[str, str, dist.Distribution]]:
    """(parameter, family, prior) with scales that suit the parameter."""
    rows = []
    for p, (b, s) in {"D": (5.0, 1.0), "sigma": (0.5, 0.1), "v": (2.0, 1.0)}.items():
        rows += [
            (p, "uniform-from-zero", dist.Uniform(0.0, b)),
            (p, "uniform", dist.Uniform(b / 500, b)),
            (p, "half-normal", dist.HalfNormal(s)),
            (p, "exponential", dist.Exponential(1.0 / s)),
            (p, "log-normal", dist.LogNormal(math.log(s / 3), 1.0)),
            (p, "half-cauchy", dist.HalfCauchy(s)),
            (p, "log-uniform", dist.LogUniform(b / 1000, b)),
            (p, "scaled-beta", scaled_beta(2.0, 5.0, 0.0, b)),
        ]
    rows += [
        ("alpha", "uniform-from-zero", dist.Uniform(0.0, 2.0)),
        ("alpha", "uniform", dist.Uniform(0.2, 1.8)),
        ("alpha", "half-normal", dist.HalfNormal(1.0)),  # mass above 2: refused
        ("alpha", "exponential", dist.Exponential(1.0)),  # refused
        ("alpha", "log-normal", dist.LogNormal(0.0, 0.3)),  # refused
        ("alpha", "half-cauchy", dist.HalfCauchy(0.5)),  # refused
        ("alpha", "log-uniform", dist.LogUniform(0.05, 2.0)),
        ("alpha", "scaled-beta", scaled_beta(2.0, 2.0, 0.0, 2.0)),
    ]
    return rows


@pytest.mark.slow
@pytest.mark.parametrize(
    ("param", "family", "prior"), prior_table(), ids=[f"{p}-{f}" for p, f, _ in prior_table()]
)
def test_prior_table_all_methods(param, family, prior):
    """Every method either gives finite results that agree (evidence within the
    combined errors, posterior means within 0.1 posterior sd) or a named error."""
    drift = param == "v"
    try:
        m = bd.models.FBM(noise=True, drift=drift, priors={param: prior})
    except ModelError as err:  # a prior outside the parameter's domain, named
        assert param in str(err) and "outside" in str(err)
        return
    truth = {"alpha": 0.7, "D": 0.1, "sigma": 0.03, **({"v": 0.5} if drift else {})}
    track = m.simulate(seed=11, params=truth, n_steps=100, dt=0.05, dim=1)[0]
    # every prior of the table that the model accepts, every method accepts
    grid = grid_draws(m, track, 4000)
    quad = bd.evidence(m, track, method="quadrature")
    # 4096 points: means to 0.1 posterior sd need an ESS in the thousands
    imp = bd.evidence(m, track, method="importance", keep_draws=True, n_draws=4096)
    # NUTS as a reference: 8 x 5000 draws after 2000 warm-up steps at target acceptance
    # 0.95. Shorter runs pass their diagnostics and still miss by more than 0.1 sd:
    # - 4 x 1000 at 0.8, sigma ~ LogNormal or HalfCauchy: alpha and log sigma 0.10-0.17
    #   sd off (the posterior narrows into a funnel at small sigma);
    # - 4 x 2000, D ~ Uniform(0, 5): alpha 0.02-0.12 sd off over six seeds. 1.3 % of
    #   the mass lies at alpha > 1.5, a noise-dominated lobe (sigma ~ 0.11 against
    #   0.007 in the bulk) that few chains enter: 0.0005-0.008 of their draws against
    #   0.0130 by quadrature, importance and bridge sampling on the prior truncated to
    #   alpha > 1.5. Eight chains of 5000: 0.001, 0.04 and 0.06 sd over three seeds.
    nuts = bd.sample(m, track, draws=5000, tune=2000, chains=8, seed=1, target_accept=0.95,
                     progress=False, warn=False)  # fmt: skip
    post = {p: np.asarray(nuts.posterior[p]).ravel() for p in m.param_names}
    assert all(np.all(np.isfinite(v)) for v in post.values())
    bridge = bd.evidence(m, track, method="bridge", idata=nuts)
    assert np.isfinite(quad.log_z) and np.isfinite(bridge.log_z) and np.isfinite(imp.log_z)
    # Each method is held to the exact quadrature (and to each other) where it vouches
    # for itself: NUTS (and bridge sampling on its draws) where its diagnostics pass --
    # where they fail, the warning that bd.sample gives is the named signal --
    # importance sampling where its weights pass.
    nuts_ok = diagnostics_pass(nuts)
    imp_ok = importance_reliable(imp)[0]
    imp_draws = {p: v.ravel() for p, v in imp.draws.items()}
    if nuts_ok:
        assert evidences_agree(quad, bridge)
        assert means_agree(post, grid, m.param_names)
    if imp_ok:
        assert evidences_agree(quad, imp)
        assert means_agree(grid, imp_draws, m.param_names)
    if nuts_ok and imp_ok:
        assert evidences_agree(imp, bridge)
        assert means_agree(post, imp_draws, m.param_names)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "priors"),
    [
        (
            bd.models.Langevin(noise=True),
            {"D": dist.HalfNormal(1.0), "sigma": dist.Uniform(0.0, 0.5)},
        ),
        (bd.models.Langevin(), {"k": dist.LogNormal(0.0, 2.0), "D": dist.Gamma(2.0, 10.0)}),
        (bd.models.LevyWalk(), {"v": dist.HalfCauchy(1.0), "sigma": dist.Uniform(0.0, 0.5)}),
        (bd.models.LevyWalk(), {"alpha": scaled_beta(2.0, 2.0, 1.0, 2.0)}),
        (bd.models.Switching(n_states=2, noise=True), {"sigma": dist.Uniform(0.0, 0.5)}),
    ],
)
def test_other_models_accept_users_priors(model, priors):
    """Langevin, Lévy walk and switching models with users' priors: NUTS and
    importance/bridge evidence give finite results that agree, or named errors."""
    import dataclasses

    m = dataclasses.replace(model, priors=priors)
    truth = {
        "langevin": {"D": 0.1, "k": 2.0, "c": np.zeros(2), "sigma": 0.03},
        "levy": {"alpha": 1.5, "v": 1.0, "sigma": 0.03},
        "switching": {
            "D": np.array([0.02, 0.4]),
            "P": np.array([[0.95, 0.05], [0.05, 0.95]]),
            "sigma": 0.03,
        },
    }[m.kind]
    truth = {k: v for k, v in truth.items() if k in m.param_names}
    track = m.simulate(seed=3, params=truth, n_steps=100, dt=0.05, dim=2)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = bd.sample(m, track, draws=1000, tune=1000, chains=4, seed=1, progress=False)
    for p in m.param_names:
        assert np.all(np.isfinite(np.asarray(idata.posterior[p])))
    bridge = bd.evidence(m, track, method="bridge", idata=idata)
    imp = bd.evidence(m, track, method="importance")
    assert np.isfinite(bridge.log_z) and np.isfinite(imp.log_z)
    if importance_reliable(imp)[0]:
        assert evidences_agree(imp, bridge)
    if m.kind == "langevin":  # the exact quadrature takes these priors too
        quad = bd.evidence(m, track, method="quadrature")
        assert evidences_agree(quad, bridge)
        post = {p: np.asarray(idata.posterior[p]) for p in m.param_names}
        post = {p: v.reshape(-1, *v.shape[2:]) for p, v in post.items()}
        assert means_agree(post, grid_draws(m, track, 4000), m.param_names)


def test_nuts_starts_inside_a_bounded_prior(noisy_track):
    """A data-based start outside the user's prior (D ~ Beta(2, 2) on (0, 0.05), below
    the track's crude estimate) falls back to the prior medians instead of failing."""
    m = bd.models.Brownian(noise=True, priors={"D": scaled_beta(2.0, 2.0, 0.0, 0.05)})
    idata = bd.sample(m, noisy_track, draws=30, tune=30, chains=2, seed=0, progress=False,
                      warn=False)  # fmt: skip
    d = np.asarray(idata.posterior["D"])
    assert np.all((d > 0.0) & (d < 0.05))
