"""The quadrature's unit-scale statistics on tracks with gaps, against dense Cholesky.

``IncrementProblem.stats`` whitens gapped FBM tracks on their full frame grid
(missing frames integrated out) and Brownian motion with noise by a Kalman
filter; both must reproduce, to 1e-9 relative, the statistics of the observed
increments' dense covariance built here from its definition (numpy only):

    Cov(x_i, x_j) = |t_i - t_{j-1}|^a + |t_{i-1} - t_j|^a - |t_i - t_j|^a
                    - |t_{i-1} - t_{j-1}|^a + r (2 [i = j] - [|i - j| = 1]),

``log det``, ``Q_j = x_j^T Cov^-1 x_j``, ``B_j = tau^T Cov^-1 x_j`` and
``A = tau^T Cov^-1 tau`` summed over the tracks.
"""

from __future__ import annotations

import numpy as np
import pytest

import bayesdiff as bd
from bayesdiff.inference._quadrature_models import GRID_GAPS_MAX, IncrementProblem

RTOL = 1e-9
ALPHAS = np.array([0.3, 0.8, 1.0, 1.6, 1.9])
RATIOS = np.array([0.05, 1.0, 4.0, 0.3, 20.0])


def dense_stats(track: bd.Track, alpha: float, r: float, drift: bool):
    """(log det, Q, B, A) of one track's increments from the dense covariance."""
    t = track.frames - track.frames[0]
    hi, lo = t[1:, None].astype(float), t[:-1, None].astype(float)

    def p(u, v):
        return np.abs(u - v.T) ** alpha

    cov = p(hi, lo) + p(lo, hi) - p(hi, hi) - p(lo, lo)
    n = len(cov)
    cov = cov + r * (2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1))
    L = np.linalg.cholesky(cov)
    x = track.increments
    z = np.linalg.solve(L, x)
    logdet = x.shape[1] * 2 * np.sum(np.log(np.diag(L)))
    Q = np.sum(z * z, axis=0)
    if not drift:
        return logdet, Q, np.zeros_like(Q), 0.0
    f = np.linalg.solve(L, track.time_lags)
    return logdet, Q, f @ z, f @ f


def make_tracks(lag_patterns, dim, seed=0, dt=0.1):
    """Tracks with random positions observed at frames with the given lags."""
    rng = np.random.default_rng(seed)
    out = []
    for i, lags in enumerate(lag_patterns):
        frames = np.concatenate([[5], 5 + np.cumsum(lags)])
        pos = np.cumsum(rng.normal(size=(len(frames), dim)), axis=0) * 0.3 + 0.1
        out.append(bd.Track(pos, dt, frames, id=i))
    return out


def lags_with(n, gaps):
    """``n`` steps of lag 1 except ``{step: lag}``."""
    lags = np.ones(n, int)
    for i, L in gaps.items():
        lags[i] = L
    return lags


# lag-2 gap, lag-3 gap, two gaps (one at the first step), a gap at the last step,
# and a regular track, padded together in one batch
PATTERNS = [
    lags_with(23, {11: 2}),
    lags_with(17, {4: 3}),
    lags_with(30, {0: 2, 20: 3}),
    lags_with(12, {11: 4}),
    lags_with(9, {}),
]


def check_stats(model, tracks, bucket, alphas, ratios):
    problem = IncrementProblem(model, tracks, bucket)
    u = np.log(ratios) if model.noise else np.zeros_like(ratios)
    got = [np.asarray(s) for s in problem.stats(alphas, u)]
    for k, (a, rr) in enumerate(zip(alphas, ratios)):
        parts = [dense_stats(t, a, rr if model.noise else 0.0, model.drift) for t in tracks]
        want = [sum(p[i] for p in parts) for i in range(4)]
        for g, w, what in zip(got, want, ("logdet", "Q", "B", "A")):
            scale = np.max(np.abs(w)) + 1e-300
            err = np.max(np.abs(g[k] - w)) / scale
            assert err < RTOL, f"{what} at alpha={a}, r={rr}: relative error {err:.2e}"
    return problem


@pytest.mark.parametrize(
    "name, dim", [("fbm", 1), ("fbm+noise", 2), ("fbm+drift", 2), ("fbm+drift+noise", 1)]
)
def test_fbm_gapped_stats_equal_dense(name, dim):
    """The full-grid embedding equals the dense covariance, tracks padded in a batch."""
    model = bd.models.from_name(name)
    tracks = make_tracks(PATTERNS, dim, seed=dim)
    problem = check_stats(model, tracks, 16, ALPHAS, RATIOS)
    paths = sorted(path for _, path, _ in problem.plans)
    assert paths == ["grid", "grid", "levinson"]  # buckets (16, gaps), (32, gaps), (16, none)


def test_fbm_gapped_single_track_exact_bucket():
    """One track, one lag-2 gap, no padding (the quadrature's default bucket)."""
    model = bd.models.from_name("fbm+drift+noise")
    tracks = make_tracks([lags_with(40, {25: 2})], 2, seed=3)
    problem = check_stats(model, tracks, "exact", ALPHAS, RATIOS)
    assert [path for _, path, _ in problem.plans] == ["grid"]


def test_fbm_many_missing_frames_fall_back_to_dense():
    """Tracks with more missing frames than GRID_GAPS_MAX (or than steps) are whitened
    densely, next to embedded tracks of the same batch; all equal dense."""
    patterns = [
        lags_with(40, {10: GRID_GAPS_MAX + 2}),
        lags_with(38, {3: 2, 30: 2}),
        lags_with(5, {2: 7}),  # more missing frames than steps
    ]
    model = bd.models.from_name("fbm+noise")
    problem = check_stats(model, make_tracks(patterns, 2, seed=4), 64, ALPHAS, RATIOS)
    sizes = {path: int(data.mask.shape[0]) for data, path, _ in problem.plans}
    assert sizes == {"grid": 1, "dense": 2}


@pytest.mark.parametrize("name", ["bm+noise", "bm+drift+noise"])
@pytest.mark.parametrize("dim", [1, 2])
def test_brownian_noise_kalman_equals_dense(name, dim):
    """Brownian motion with noise by the Kalman filter, gapped and regular tracks padded."""
    model = bd.models.from_name(name)
    tracks = make_tracks(PATTERNS, dim, seed=10 + dim)
    ones = np.ones_like(RATIOS)
    problem = check_stats(model, tracks, 16, ones, RATIOS)
    assert {path for _, path, _ in problem.plans} == {"kalman"}


@pytest.mark.parametrize("name", ["bm", "bm+drift"])
def test_brownian_independent_equals_dense(name):
    model = bd.models.from_name(name)
    check_stats(model, make_tracks(PATTERNS, 2, seed=20), 16, np.ones(2), np.ones(2))


def test_gapped_quadrature_evidence_unchanged():
    """The evidence of a gapped FBM track (simulated with noise) through the full-grid
    statistics equals the one through the dense covariance (the previous path)."""
    frames = np.delete(np.arange(62), [20, 40, 41])
    sim = bd.models.from_name("fbm+noise")
    track = sim.simulate(0, {"alpha": 0.8, "D": 0.2, "sigma": 0.05}, 58, 0.1, frames=frames)[0]
    model = bd.models.from_name("fbm")
    grid = bd.evidence(model, track, method="quadrature")
    from bayesdiff.inference import _quadrature_models as qm

    old = qm.GRID_GAPS_MAX
    qm.GRID_GAPS_MAX = -1  # every gapped track dense
    try:
        dense = bd.evidence(model, track, method="quadrature")
    finally:
        qm.GRID_GAPS_MAX = old
    assert abs(grid.log_z - dense.log_z) < 1e-8
