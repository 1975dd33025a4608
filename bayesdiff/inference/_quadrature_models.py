"""What the exact quadrature needs from each model: coordinates, priors and statistics.

The driver (:mod:`._quadrature`) integrates, for every model it knows, over
at most two outer coordinates ``(x, u)`` and an inner ``lam = log D``. Here
each model supplies its side of that contract as a *problem*:

* the outer coordinate ``x`` (FBM's ``alpha``; ``log k`` for Langevin;
  Brownian motion has none) with its range and log prior density,
* ``u``, the log noise-to-diffusion ratio (with noise),
* the *unit-scale sufficient statistics* at outer nodes: for fixed ``(x, u)``
  the observations' covariance is ``s`` times a unit-scale covariance, so one
  whitening pass gives ``log det``, the quadratic forms ``Q`` and the terms
  ``B``, ``A`` of the coefficients that enter the mean linearly, from which
  the driver integrates those coefficients (Gaussian priors) and ``lam``,
* the map from grid nodes back to the model's parameters (posterior draws).

:class:`IncrementProblem` covers FBM and Brownian motion,
:class:`LangevinProblem` the Ornstein-Uhlenbeck model of
:class:`~bayesdiff.models.Langevin`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from .._kernels.gaussian import dense_innovations, levinson_innovations
from .._kernels.kalman import kalman_innovations
from ..models.base import Model, TrackData, as_data, describe_prior
from ..models.increments import (
    IncrementModel,
    fgn_autocovariance,
    increment_covariance,
    noise_band,
    noise_band_matrix,
)
from ..models.langevin import Langevin, StationaryCentre
from ..models.priors import support_bounds, support_range
from ..tracks import Track, TrackSet

__all__ = [
    "problem_reason",
    "make_problem",
    "block_window",
    "block_log_density",
    "IncrementProblem",
    "LangevinProblem",
    "Problem",
]


#: half-width of its window around the likelihood's mode, in likelihood sds
BLOCK_HALF_WIDTH = 10.0


def block_window(B, A, s_inv, consts, block_rule: str):
    """Window of the integral over one coefficient per coordinate: the coefficient's
    Gaussian likelihood (mean ``B / A``, precision ``A s_inv``) within
    :data:`BLOCK_HALF_WIDTH` sds, clipped to the prior's range ``[b_lo, b_hi]``;
    with ``block_rule`` "log" the window of the logarithm (a prior on a
    positive range spanning decades). Returns the window's ends, the mean and
    the precision."""
    prec = A * s_inv
    mu = B / A
    half = BLOCK_HALF_WIDTH / jnp.sqrt(prec)
    lo = jnp.maximum(consts["b_lo"], mu - half)
    hi = jnp.minimum(consts["b_hi"], mu + half)
    if block_rule == "log":
        lo, hi = jnp.log(lo), jnp.log(jnp.maximum(hi, lo))
    return lo, hi, mu, prec


def block_log_density(t, mu, prec, prior, block_rule: str):
    """Log of (coefficient likelihood x prior x Jacobian) at ``t`` (the coefficient, or
    its logarithm), without the constant ``B^2 s_inv / (2 A)`` of the likelihood."""
    v = jnp.exp(t) if block_rule == "log" else t
    out = -0.5 * prec * (v - mu) ** 2 + prior.log_prob(v)
    return out + t if block_rule == "log" else out


# -- which models and priors ------------------------------------------------------------
def problem_reason(model: Model, tracks: Sequence[Track]) -> str | None:
    """Why the quadrature does not apply (None if it does); see ``quadrature_reason``."""
    if not isinstance(model, (IncrementModel, Langevin)):
        return (
            f"{type(model).__name__} is not a Gaussian increment model (FBM/Brownian) "
            "or the Langevin model"
        )
    if len({float(t.dt) for t in tracks}) > 1:
        return "the pooled tracks have different frame intervals"
    if model.drift and isinstance(model, Langevin):
        reason = _normal_reason(model, "v", "the drift is integrated analytically")
        if reason:
            return reason
    if model.drift and isinstance(model, IncrementModel):
        d = model.prior("v")
        if d.event_shape != () or d.batch_shape != ():
            return (
                f"the prior of v, {describe_prior(d)}, is not a scalar prior "
                "(one applies to each coordinate)"
            )
    for p in ("D", "k", "sigma"):
        if p in model.param_names:
            d = model.prior(p)
            if d.event_shape != () or d.batch_shape != () or support_bounds(d)[0] < 0.0:
                return f"the prior of {p}, {describe_prior(d)}, is not a scalar prior on (0, inf)"
    if "alpha" in model.param_names and alpha_range(model.prior("alpha")) is None:
        return (
            f"the prior of alpha, {describe_prior(model.prior('alpha'))}, has neither a "
            "bounded support nor quantiles (icdf or cdf) in (0, 2)"
        )
    if "k" in model.param_names and support_range(model.prior("k"), positive=True) is None:
        return (
            f"the prior of k, {describe_prior(model.prior('k'))}, has neither a "
            "bounded support nor quantiles (icdf or cdf)"
        )
    if model.noise and support_range(model.prior("sigma"), positive=True) is None:
        return (
            f"the prior of sigma, {describe_prior(model.prior('sigma'))}, has neither a "
            "bounded support nor quantiles (icdf or cdf)"
        )
    if isinstance(model, Langevin):
        return _normal_reason(
            model,
            "c",
            "the trap centre is integrated analytically: use StationaryCentre or a Normal",
        )
    return None


def _normal_reason(model: Model, p: str, why: str) -> str | None:
    d = model.prior(p)
    if type(d) not in (dist.Normal, StationaryCentre):
        return f"the prior of {p}, {describe_prior(d)}, is not a scalar Normal ({why})"
    if jnp.shape(d.loc) != () or jnp.shape(d.scale) != ():
        return f"the prior of {p}, {describe_prior(d)}, is not a scalar Normal ({why})"
    return None


def alpha_range(d: dist.Distribution) -> tuple[float, float] | None:
    """The range of alpha to integrate: the prior's range within FBM's (0, 2)."""
    r = support_range(d)
    if r is None:
        return None
    lo, hi = max(r[0], 0.0), min(r[1], 2.0)
    return (lo, hi) if hi > lo else None


def make_problem(
    model: Model, tracks: Sequence[Track], bucket: str = "exact", pooled: bool | None = None
) -> Problem:
    """The problem of ``model`` given ``tracks`` (call :func:`problem_reason` first).

    ``pooled``: whether the tracks share one set of parameters as a pooled
    set (the Langevin centre then has its absolute prior, as in
    ``numpyro_model_pooled``); default: more than one track.
    """
    if isinstance(model, Langevin):
        return LangevinProblem(model, tracks, bucket, len(tracks) > 1 if pooled is None else pooled)
    return IncrementProblem(model, tracks, bucket)


# -- the shared part ----------------------------------------------------------------------
class Problem:
    """A model's side of the quadrature (see the module docstring).

    Attributes read by the driver: ``name``, ``has_x`` (an outer coordinate besides
    ``u``), ``x_name`` (its name in the details), ``x_range``, ``x_fixed`` (its value
    without one), ``n_coarse_x`` (nodes of the coarse scan), ``noise``, ``block``
    (number of Gaussian coefficients per coordinate integrated at each ``lam`` node: 0,
    1 or 2), ``scale`` ("increments" or "langevin": how ``log s`` and ``log sigma``
    follow from ``lam`` and the outer coordinates, see ``log_integrand_fn``), ``zoom``
    (how the driver finds the box holding the mass: see ``Quadrature._window``),
    ``dim``, ``dt``, ``N`` (number of scalar observations), ``var0`` (mean squared
    increment per frame), ``batches``, ``priors`` and ``consts`` (pytrees for the
    compiled integrand).
    """

    has_x: bool
    x_name: str = "alpha"
    x_range: tuple[float, float]
    x_fixed: float = 1.0
    n_coarse_x: int = 16
    block: int = 0
    block_rule: str = "normal"
    scale: str = "increments"
    zoom: bool = False

    def __init__(self, model: Model, tracks: Sequence[Track], bucket: str):
        self.model = model
        self.name = model.name
        self.noise = bool(model.noise)
        ts = TrackSet(tracks)
        self.dim = ts.dim
        self.batches = [as_data(b) for b in ts.batches(bucket=bucket, min_steps=1)]
        self.dt = float(tracks[0].dt)
        self.N = float(sum(t.n_steps for t in tracks) * self.dim)
        var0 = sum(float(np.sum(t.increments**2 / t.lags[:, None])) for t in tracks) / self.N
        self.var0 = max(var0, 1e-300)
        pD = model.prior("D")
        d_lo, d_hi = support_bounds(pD)
        lam_lo = math.log(d_lo) if d_lo > 0.0 else -math.inf
        lam_hi = math.log(d_hi) if math.isfinite(d_hi) else math.inf
        self.priors: dict[str, Any] = {"D": pD}
        self.consts: dict[str, Any] = {
            "N": jnp.asarray(self.N),
            "logdt": jnp.asarray(math.log(self.dt)),
            "lam_lo": jnp.asarray(lam_lo),
            "lam_hi": jnp.asarray(lam_hi),
        }
        if self.noise:
            ps = model.prior("sigma")
            self.priors["sigma"] = ps
            lo, hi = support_range(ps, positive=True)
            self.consts["w_lo"], self.consts["w_hi"] = (
                jnp.asarray(math.log(lo)),
                jnp.asarray(math.log(hi)),
            )
            self.w_range = (math.log(lo), math.log(hi))

    @property
    def n_tracks(self) -> int:
        """Padded tracks over all batches (the unit of ``n_evals``)."""
        return sum(int(d.mask.shape[0]) for d, _ in self.batches)

    def _set_block(self, names: Sequence[str]) -> None:
        """Priors of the coefficients integrated at each ``lam`` node: scalar Normals
        (analytically), or for one coefficient any scalar prior (numerically, in the
        coefficient or, for a prior on a positive range, in its logarithm)."""
        self.block = len(names)
        if not names:
            return
        if len(names) == 1 and type(self.model.prior(names[0])) not in (
            dist.Normal,
            StationaryCentre,
        ):
            prior = self.model.prior(names[0])
            lo, hi = support_range(prior) or support_bounds(prior)
            self.block_rule = "log" if support_bounds(prior)[0] > 0.0 else "linear"
            self.priors["b_prior"] = prior
            self.consts["b_lo"], self.consts["b_hi"] = jnp.asarray(lo), jnp.asarray(hi)
            return
        locs = [jnp.asarray(self.model.prior(p).loc) for p in names]
        scales = [jnp.asarray(self.model.prior(p).scale) for p in names]
        if len(names) == 1:
            self.priors["b_loc"], self.priors["b_scale"] = locs[0], scales[0]
        else:
            self.priors["b_loc"], self.priors["b_scale"] = jnp.stack(locs), jnp.stack(scales)

    def _block_draw(self, B, A, s_inv, rng) -> np.ndarray:
        """Draws of the block coefficients from their conditional, shape (n, d[, 2]):
        exact Gaussian draws under Normal priors, else inverse-cdf draws on a fine
        grid of the window the evidence integrates over."""
        if self.block_rule != "normal":
            return self._block_draw_numeric(B, A, s_inv, rng)
        m, sd = np.asarray(self.priors["b_loc"]), np.asarray(self.priors["b_scale"])
        sv2 = sd**2
        if self.block == 1:
            prec = A * s_inv + 1.0 / sv2
            mean = (B * s_inv[:, None] + m / sv2) / prec[:, None]
            return mean + rng.standard_normal(mean.shape) / np.sqrt(prec)[:, None]
        prec = A * s_inv[:, None, None] + np.diag(1.0 / sv2)  # (n, 2, 2)
        rhs = B * s_inv[:, None, None] + (m / sv2)[None, :, None]  # (n, 2, d)
        mean = np.linalg.solve(prec, rhs)  # (n, 2, d)
        L = np.linalg.cholesky(prec)  # prec = L L^T: x = mean + L^-T z
        z = rng.standard_normal(mean.shape)
        dev = np.linalg.solve(np.swapaxes(L, -1, -2), z)
        return np.swapaxes(mean + dev, -1, -2)  # (n, d, 2)

    #: cells of the grid that draws a coefficient with a non-Normal prior
    N_BLOCK_DRAW = 512

    def _block_draw_numeric(self, B, A, s_inv, rng, chunk: int = 2048) -> np.ndarray:
        """One coefficient per coordinate with a non-Normal prior: a cell of a uniform
        grid over the window (in the coefficient or its log) with probability
        proportional to the density at its midpoint, then a uniform draw in it."""
        B = np.asarray(B)
        A = np.broadcast_to(np.asarray(A).reshape(-1), B.shape[:1])
        rule, prior, out = self.block_rule, self.priors["b_prior"], np.empty(B.shape)
        h = (np.arange(self.N_BLOCK_DRAW) + 0.5) / self.N_BLOCK_DRAW
        for i in range(0, B.shape[0], chunk):
            b, a, si = B[i : i + chunk], A[i : i + chunk, None], s_inv[i : i + chunk, None]
            lo, hi, mu, prec = (np.asarray(z) for z in block_window(b, a, si, self.consts, rule))
            t = lo[..., None] + (hi - lo)[..., None] * h
            logp = block_log_density(jnp.asarray(t), mu[..., None], prec[..., None], prior, rule)
            logp = np.where(np.isnan(logp), -np.inf, np.asarray(logp))
            p = np.exp(logp - np.max(logp, axis=-1, keepdims=True))
            cum = np.cumsum(p, axis=-1)
            r = rng.uniform(size=cum.shape[:-1]) * cum[..., -1]
            k = np.minimum((cum < r[..., None]).sum(-1), self.N_BLOCK_DRAW - 1)
            tt = lo + (hi - lo) * (k + rng.uniform(size=k.shape)) / self.N_BLOCK_DRAW
            out[i : i + chunk] = np.exp(tt) if rule == "log" else tt
        return out

    # interface -------------------------------------------------------------------------
    def stats(self, x: np.ndarray, u: np.ndarray) -> tuple:
        """Unit-scale sufficient statistics at outer nodes, summed over the tracks."""
        raise NotImplementedError

    def log_prior_x(self, x: np.ndarray) -> np.ndarray:
        """Log prior density of the outer coordinate ``x`` (0 without one)."""
        return np.zeros_like(x)

    def u_offset_min(self) -> float:
        """Smallest ``log(s_u / D)`` over the ``x`` range, where ``u = log(sigma^2 / s_u)``."""
        raise NotImplementedError

    def params(self, x, lam, u, stats, rng) -> dict[str, np.ndarray]:
        """Parameter draws at grid nodes ``(x, lam, u)`` with their statistics."""
        raise NotImplementedError


# -- FBM and Brownian motion ------------------------------------------------------------
class IncrementProblem(Problem):
    """FBM/Brownian: ``x = alpha`` (FBM), ``u = log(sigma^2 / s)`` with
    ``s = D dt^alpha`` the variance per frame, the drift ``v`` in the block.

    Each batch of tracks gets the cheapest exact whitening (:func:`_node_stats`):
    independent increments (Brownian motion without noise), a Kalman filter
    (Brownian motion with noise, gaps or not), Durbin-Levinson (FBM without
    gaps), Durbin-Levinson on the full frame grid with the missing frames
    integrated out (FBM with gaps, :func:`_grid_layout`) or, for tracks with
    more than :data:`GRID_GAPS_MAX` missing frames or more missing frames than
    steps, the dense Cholesky factor.
    """

    def __init__(self, model: IncrementModel, tracks: Sequence[Track], bucket: str = "exact"):
        super().__init__(model, tracks, bucket)
        self.has_x = "alpha" in model.param_names
        self.drift = bool(model.drift)
        if self.has_x:
            self.alpha_prior = model.prior("alpha")
            self.x_range = alpha_range(self.alpha_prior)
        self._set_block(["v"] if self.drift else [])
        self.plans: list[tuple[TrackData, str, GridLayout | None]] = []
        for data, regular in self.batches:
            if model.independent_increments:
                self.plans.append((data, "kalman" if self.noise else "independent", None))
            elif regular:
                self.plans.append((data, "levinson", None))
            else:
                self.plans.extend(_gapped_plans(data))

    def stats(self, x, u):
        r = np.exp(u) if self.noise else np.zeros_like(u)
        total = None
        for data, path, grid in self.plans:
            kind = (path, self.noise, self.drift)
            out = _node_stats(jnp.asarray(x), jnp.asarray(r), data, kind, grid)
            total = out if total is None else jax.tree.map(jnp.add, total, out)
        return total

    def log_prior_x(self, x):
        if not self.has_x:
            return np.zeros_like(x)
        return np.asarray(self.alpha_prior.log_prob(jnp.asarray(x)))

    def u_offset_min(self):
        logdt = math.log(self.dt)
        a_lo, a_hi = self.x_range if self.has_x else (1.0, 1.0)
        return min(a_lo * logdt, a_hi * logdt)

    def params(self, x, lam, u, stats, rng):
        ell = lam + x * math.log(self.dt)
        res: dict[str, np.ndarray] = {}
        if self.has_x:
            res["alpha"] = x
        res["D"] = np.exp(lam)
        if self.drift:
            _, _, B, A = stats
            res["v"] = self._block_draw(B, A, np.exp(-ell), rng)
        if self.noise:
            res["sigma"] = np.exp(0.5 * (u + ell))
        return res


#: Most missing frames a gapped FBM track may have for the full-grid whitening
#: (one extra column each); tracks with more, or with more missing frames than
#: steps, use the dense Cholesky factor.
GRID_GAPS_MAX = 32


class GridLayout(NamedTuple):
    """Where the steps of a batch of gapped tracks lie on their full frame grids.

    The grid of a track has one increment per frame, ``T`` in all (the sum of
    the lags), then padding; ``G`` (static) is the batch's grid length and ``M``
    (static) its largest number of missing frames.

    Attributes
    ----------
    steps : array of int, shape (B, n)
        Grid increment of each observed step: the last frame of its span
        (padded steps continue after ``T``).
    plus, minus : arrays of int, shape (B, M)
        For each missing frame (one gap column each): the grid increment ending
        at it (+1) and the last increment of its gap (-1); 0 for padded columns.
    valid : array of bool, shape (B, M)
        True for real gap columns.
    frames : array of bool, shape (B, G)
        True for the ``T`` real grid increments.
    """

    steps: jax.Array
    plus: jax.Array
    minus: jax.Array
    valid: jax.Array
    frames: jax.Array


def _gapped_plans(data: TrackData) -> list[tuple[TrackData, str, GridLayout | None]]:
    """Split a batch of gapped FBM tracks into those whitened on the full frame grid
    ("grid") and those with too many missing frames for it ("dense")."""
    lags = np.asarray(data.lags).astype(np.int64)
    mask = np.asarray(data.mask)
    missing = np.sum(np.where(mask, lags - 1, 0), axis=1)
    n_steps = np.sum(mask, axis=1)
    on_grid = (missing <= GRID_GAPS_MAX) & (missing <= n_steps)
    plans: list[tuple[TrackData, str, GridLayout | None]] = []
    for take, path in ((on_grid, "grid"), (~on_grid, "dense")):
        if not take.any():
            continue
        idx = np.flatnonzero(take)
        sub = TrackData(*(jnp.asarray(np.asarray(a)[idx]) for a in data))
        grid = _grid_layout(lags[idx], mask[idx]) if path == "grid" else None
        plans.append((sub, path, grid))
    return plans


def _grid_layout(lags: np.ndarray, mask: np.ndarray) -> GridLayout:
    """The :class:`GridLayout` of a batch from its lags and masks, shape (B, n)."""
    B, n = lags.shape
    lags = np.where(mask, lags, 1)
    missing = np.sum(lags - 1, axis=1)
    M = max(int(missing.max()), 1)
    steps = np.cumsum(lags, axis=1) - 1  # padded steps (lag 1) continue after T
    plus = np.zeros((B, M), np.int64)
    minus = np.zeros((B, M), np.int64)
    valid = np.zeros((B, M), bool)
    for b in range(B):
        k = 0
        for i in np.flatnonzero(lags[b] > 1):
            last = steps[b, i]
            for j in range(last - lags[b, i] + 1, last):
                plus[b, k], minus[b, k], valid[b, k] = j, last, True
                k += 1
    T = np.sum(np.where(mask, lags, 0), axis=1)
    frames = np.arange(n + M)[None, :] < T[:, None]
    return GridLayout(*(jnp.asarray(a) for a in (steps, plus, minus, valid, frames)))


@partial(jax.jit, static_argnames=("kind",))
def _node_stats(
    alpha: jax.Array, r: jax.Array, data: TrackData, kind: tuple, grid: GridLayout | None = None
) -> tuple:
    """Sufficient statistics of the unit-scale Gaussian likelihood at nodes ``(alpha, r)``.

    With ``s = D dt^alpha`` (variance per frame) and ``r = sigma^2 / s``, the
    increments of one coordinate are ``x ~ N(v tau, s S(alpha, r))``, where
    ``S = C_alpha + r M`` (fGn covariance in frame units plus the noise band).
    Returns, summed over the tracks of the batch: ``d log det S``, the
    quadratic forms ``Q_j = x_j^T S^-1 x_j``, ``B_j = tau^T S^-1 x_j`` and
    ``A = tau^T S^-1 tau`` (zeros without drift); shapes (P,), (P, d), (P, d), (P,).

    ``kind = (path, noise, drift)``; the path whitens the data columns ``x_j``
    and the regressor ``tau`` (lags times dt):

    * ``"independent"`` (Brownian motion without noise): ``S = diag(2 lags)``.
    * ``"kalman"`` (Brownian motion with noise, gaps or not): the positions
      ``y_k = x_1 + ... + x_k`` relative to ``y_0`` are a random walk observed
      with noise: state variance ``p_0 = r`` at step 0 (the flat prior on the
      true start, updated by ``y_0``), steps of variance ``q_k = 2 lags_k``,
      observation variance ``r``. The cumulative sum is unit lower triangular,
      so the Kalman innovations of the cumulated columns are the Cholesky
      innovations of the increments, step by step: O(n).
    * ``"levinson"`` (FBM without gaps): Durbin-Levinson on the Toeplitz ``S``.
    * ``"grid"`` (FBM with gaps): the increments ``D y~`` of the noisy
      positions at *every* frame (``T`` of them, ``y~_j = x(j) + e_j``) have the
      Toeplitz covariance ``S_T = C_alpha + r M`` of size ``T``, and each
      observed increment is the sum of the grid increments of its span (the
      noise of unobserved frames telescopes), so ``d = A D y~`` exactly. Write
      ``D y~ = E d + G z`` with ``z`` the first ``L - 1`` grid increments of
      each gap of lag ``L`` (``E`` puts each step on the last frame of its
      span; each column of ``G`` is +1 at a gap frame and -1 at the gap's last
      frame; ``(d, z) -> D y~`` has determinant 1). Integrating ``z`` out with
      ``X~ = L^-1 E X``, ``G~ = L^-1 G`` (``L L^T = S_T``, one Levinson pass
      over all columns):
      ``X^T Cov_d^-1 X = X~^T (I - G~ (G~^T G~)^-1 G~^T) X~`` and
      ``log det Cov_d = log det S_T + log det G~^T G~``. The mean ``v tau``
      maps to ``E tau`` (the rest is absorbed by ``z``). Padded gap columns
      are zero, with 1 on the diagonal of ``G~^T G~``; padded grid frames lie
      after the real ones and are masked.
    * ``"dense"`` (FBM with gaps, fallback): Cholesky of the dense covariance.
    """
    path, noise, drift = kind

    def one_track(a, rr, inc, lags, mask, dt, layout):
        n, d = inc.shape
        x = jnp.where(mask[:, None], inc, 0.0)
        cols = jnp.concatenate([x, (lags * dt)[:, None]], axis=1) if drift else x
        if path == "grid":
            return _grid_stats(a, rr, cols, layout, d, noise, drift)
        if path == "independent":
            var = 2.0 * lags
            logv, z = jnp.log(var), cols / jnp.sqrt(var)[:, None]
        elif path == "kalman":
            y = jnp.cumsum(cols, axis=0)
            logv, z = kalman_innovations(jnp.ones_like(lags), 2.0 * lags, rr, rr, y)
        elif path == "levinson":
            acov = fgn_autocovariance(a, n)
            if noise:
                acov = acov + rr * noise_band(n)
            logv, z = levinson_innovations(acov, cols)
        else:
            times = jnp.concatenate([jnp.zeros(1), jnp.cumsum(lags)])
            cov = increment_covariance(a, times)
            if noise:
                cov = cov + rr * noise_band_matrix(n)
            logv, z = dense_innovations(cov, cols)
        m = mask.astype(x.dtype)
        z = z * m[:, None]
        return _reduce(d * jnp.sum(m * logv), z.T @ z, d, drift)

    def one_node(a, rr):
        out = jax.vmap(one_track, in_axes=(None, None, 0, 0, 0, 0, 0))(
            a, rr, data.increments, data.lags, data.mask, data.dt, grid
        )
        return jax.tree.map(lambda t: jnp.sum(t, axis=0), out)

    return jax.vmap(one_node)(alpha, r)


def _reduce(logdet: jax.Array, gram: jax.Array, d: int, drift: bool) -> tuple:
    """``(logdet, Q, B, A)`` from the Gram matrix ``[X, tau]^T S^-1 [X, tau]``."""
    Q = jnp.diagonal(gram)[:d]
    if drift:
        return logdet, Q, gram[d, :d], gram[d, d]
    return logdet, Q, jnp.zeros(d), jnp.zeros(())


def _grid_stats(a, rr, cols, layout: GridLayout, d: int, noise: bool, drift: bool) -> tuple:
    """One gapped track's statistics on its full frame grid (``"grid"`` in :func:`_node_stats`)."""
    G, M = layout.frames.shape[0], layout.valid.shape[0]
    acov = fgn_autocovariance(a, G)
    if noise:
        acov = acov + rr * noise_band(G)
    X = jnp.zeros((G, cols.shape[1]), cols.dtype).at[layout.steps].set(cols)
    on = layout.valid.astype(cols.dtype)
    k = jnp.arange(M)
    gaps = jnp.zeros((G, M), cols.dtype).at[layout.plus, k].add(on).at[layout.minus, k].add(-on)
    logv, z = levinson_innovations(acov, jnp.concatenate([X, gaps], axis=1))
    f = layout.frames.astype(cols.dtype)
    z = z * f[:, None]
    zx, zg = z[:, : X.shape[1]], z[:, X.shape[1] :]
    K = zg.T @ zg + jnp.diag(1.0 - on)  # G~^T G~, padded columns inert
    chol = jnp.linalg.cholesky(K)
    w = jax.scipy.linalg.solve_triangular(chol, zg.T @ zx, lower=True)
    gram = zx.T @ zx - w.T @ w
    logdet = jnp.sum(f * logv) + 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    return _reduce(d * logdet, gram, d, drift)


# -- Langevin (Ornstein-Uhlenbeck in a harmonic trap) -----------------------------------
class LangevinProblem(Problem):
    """Langevin: ``x = log k``, ``u = log(sigma^2 / (s (1 - e^{-k dt})))`` (with
    noise), the centre ``c`` and drift ``v`` integrated analytically.

    With ``s = D/k`` (the stationary variance) and ``r = sigma^2 / s =
    e^u (1 - e^{-k dt})``, the positions ``y_1..y_n`` given ``y_0`` are
    Gaussian with covariance ``s S(k, r)`` and a mean linear in the centre and
    the drift (:func:`_langevin_stats`). ``u`` compares ``sigma^2`` with the
    variance one frame's step adds, ``s (1 - e^{-k dt})`` (``D dt`` as
    ``k -> 0``, ``s`` for a stiff trap), so the noise is located in ``u`` at
    every ``k``: the posterior is no diagonal ridge in ``(x, u)`` in either
    limit.

    The centre's default prior :class:`~bayesdiff.models.StationaryCentre`,
    ``c = y_0 + v/k + c'`` with ``c' ~ N(0, s (1 + r))``, scales with ``s``:
    ``c'`` is integrated out of the statistics once per outer node (the
    result does not depend on ``s``), leaving FBM's form with ``v`` in the
    block. A Normal prior on ``c`` (a user's, or in a pooled fit, where the
    centre is absolute) has a fixed scale: ``c`` (and ``v``) then go in the block.
    """

    scale = "langevin"
    x_name = "log_k"
    n_coarse_x = 32
    zoom = True

    def __init__(self, model: Langevin, tracks: Sequence[Track], bucket: str, pooled: bool):
        super().__init__(model, tracks, bucket)
        self.has_x = True
        self.drift = bool(model.drift)
        self.k_prior = model.prior("k")
        lo, hi = support_range(self.k_prior, positive=True)
        self.x_range = (math.log(lo), math.log(hi))
        self.stationary = isinstance(model.prior("c"), StationaryCentre) and not pooled
        self.start = np.asarray(tracks[0].positions[0], dtype=np.float64)
        if self.stationary:
            self._set_block(["v"] if self.drift else [])
        else:
            self._set_block(["c", "v"] if self.drift else ["c"])

    def _frame(self, x) -> np.ndarray:
        """``1 - e^{-k dt}`` at ``x = log k``."""
        return -np.expm1(-np.exp(x + math.log(self.dt)))

    def _ratio(self, x, u) -> np.ndarray:
        """``r = sigma^2 / s`` at outer nodes (0 without noise)."""
        return np.exp(u) * self._frame(x) if self.noise else np.zeros_like(u)

    def stats(self, x, u):
        r = self._ratio(x, u)
        kind = (self.noise, self.drift, self.stationary)
        total = None
        for data, _ in self.batches:
            out = _langevin_stats(jnp.asarray(x), jnp.asarray(r), data, kind)
            total = out if total is None else jax.tree.map(jnp.add, total, out)
        return _langevin_reduce(total, jnp.asarray(r), (self.drift, self.stationary))

    def log_prior_x(self, x):
        """``log p_k(e^x) + x``, evaluated on the distinct values of ``x`` in blocks of
        128 (one compiled program for every grid, not one per grid shape)."""
        uniq, inv = np.unique(np.asarray(x, float), return_inverse=True)
        out = np.empty(len(uniq))
        for i in range(0, len(uniq), 128):
            chunk = uniq[i : i + 128]
            padded = np.concatenate([chunk, np.full(128 - len(chunk), chunk[-1])])
            out[i : i + len(chunk)] = np.asarray(_log_prior_log(self.k_prior, padded))[: len(chunk)]
        return out[inv].reshape(np.shape(x))

    def u_offset_min(self):  # log(s (1 - e^{-k dt}) / D) decreases with k
        return float(np.log(self._frame(self.x_range[1]))) - self.x_range[1]

    def params(self, x, lam, u, stats, rng):
        k, D = np.exp(x), np.exp(lam)
        s_inv = np.exp(x - lam)
        res: dict[str, np.ndarray] = {"D": D, "k": k}
        v = np.zeros((len(x), self.dim))
        if self.stationary:
            _, _, B, A, Bc, Acc, Acv = stats
            if self.drift:
                v = self._block_draw(B, A, s_inv, rng)
            a_t = Acc + 1.0 / (1.0 + self._ratio(x, u))
            mean = (Bc - Acv[:, None] * v) / a_t[:, None]
            dev = rng.standard_normal(mean.shape) / np.sqrt(a_t * s_inv)[:, None]
            c = self.start + mean + dev + v / k[:, None]
        elif self.drift:
            cv = self._block_draw(stats[2], stats[3], s_inv, rng)
            c, v = cv[..., 0], cv[..., 1]
        else:
            c = self._block_draw(stats[2], stats[3], s_inv, rng)
        res["c"] = c
        if self.drift:
            res["v"] = v
        if self.noise:
            res["sigma"] = np.exp(0.5 * (u + lam - x + np.log(self._frame(x))))
        return res


@jax.jit
def _log_prior_log(prior: dist.Distribution, x: jax.Array) -> jax.Array:
    """Log density of ``x = log k`` for a prior on ``k``."""
    return prior.log_prob(jnp.exp(x)) + x


def _phi2(x: jax.Array) -> jax.Array:
    """``1 - (1 - e^-x) / x`` for x >= 0, accurate near 0 (as ``models.langevin``)."""
    small = x < 1e-2
    xs = jnp.where(small, 1.0, x)
    series = x / 2 - x**2 / 6 + x**3 / 24 - x**4 / 120 + x**5 / 720
    return jnp.where(small, series, (xs + jnp.expm1(-xs)) / xs)


@partial(jax.jit, static_argnames=("kind",))
def _langevin_stats(logk: jax.Array, r: jax.Array, data: TrackData, kind: tuple) -> tuple:
    """Unit-scale statistics of the Langevin likelihood at nodes ``(log k, r)``.

    Per coordinate the positions ``y`` (relative to ``y_0``) are
    ``N(c mu_c + v mu_v, s S)``: exact OU transitions over each lag (gaps
    included) with variances ``s (1 - e^{-2 k tau})``, plus, with noise, the
    observation variance ``s r`` and the first true position ``N(c - v/k,
    s)`` updated by ``y_0`` (variance ``s r/(1+r)``). The regressors are
    ``mu_c = 1 - (1 - rho) e^{-k t}`` (``rho = r/(1+r)``; 0 without noise) and
    ``mu_v = t`` for the centre offset ``c' = c - y_0 - v/k``
    (``stationary``), or ``mu_v = t phi2(k t) - (rho/k) e^{-k t}`` for the
    centre ``c`` itself, when the data column carries ``y + y_0 mu_c``.
    Without noise the innovations are the transition residuals; with noise
    :func:`~bayesdiff._kernels.kalman.kalman_innovations` whitens all columns.

    Returns, summed over the batch: ``d log det S`` (P,), ``Q`` (P, d),
    ``B`` (P, p, d) and ``A`` (P, p, p) for the ``p`` regressors (centre,
    then drift).
    """
    noise, drift, stationary = kind

    def one_track(x1, rr, inc, lags, mask, dt, start):
        n, d = inc.shape
        k = jnp.exp(x1)
        x = jnp.where(mask[:, None], inc, 0.0)
        tau = lags * dt
        t = jnp.cumsum(tau)
        t_prev = jnp.concatenate([jnp.zeros(1, tau.dtype), t[:-1]])
        kt = k * tau
        g = -jnp.expm1(-kt)
        qt = -jnp.expm1(-2.0 * kt)  # transition variance / s
        y = jnp.cumsum(x, axis=0)
        if not noise:  # y_i - e^{-k tau} y_{i-1} = g c_rel + (g t_prev + tau h) v + N(0, s qt)
            col_c = g
            col_v = g * t_prev + (tau if stationary else tau * _phi2(kt))
            data_col = x + g[:, None] * (y - x)
            if not stationary:
                data_col = data_col + g[:, None] * start
            cols = [data_col, col_c[:, None]] + ([col_v[:, None]] if drift else [])
            cols = jnp.concatenate(cols, axis=1)
            logv, z = jnp.log(qt), cols / jnp.sqrt(qt)[:, None]
        else:
            rho = rr / (1.0 + rr)
            decay = jnp.exp(-k * t)
            mu_c = 1.0 - (1.0 - rho) * decay
            if stationary:
                mu_v = t
            else:  # rho / k = sigma^2 / (D (1 + r)) stays finite as k -> 0
                mu_v = t * _phi2(k * t) - rho * decay / k
            data_col = y if stationary else y + mu_c[:, None] * start
            cols = [data_col, mu_c[:, None]] + ([mu_v[:, None]] if drift else [])
            cols = jnp.concatenate(cols, axis=1)
            logv, z = kalman_innovations(1.0 - g, qt, rr, rho, cols)
        m = mask.astype(x.dtype)
        z = z * m[:, None]
        zx, zb = z[:, :d], z[:, d:]
        return d * jnp.sum(m * logv), jnp.sum(zx * zx, axis=0), zb.T @ zx, zb.T @ zb

    def one_node(x1, rr):
        out = jax.vmap(one_track, in_axes=(None, None, 0, 0, 0, 0, 0))(
            x1, rr, data.increments, data.lags, data.mask, data.dt, data.start
        )
        return jax.tree.map(lambda t: jnp.sum(t, axis=0), out)

    return jax.vmap(one_node)(logk, r)


@partial(jax.jit, static_argnames=("kind",))
def _langevin_reduce(st: tuple, r: jax.Array, kind: tuple) -> tuple:
    """The statistics in the driver's form: ``(logdet, Q, B, A[, Bc, Acc, Acv])``.

    With the stationary centre prior, ``c' ~ N(0, s (1 + r))`` is integrated
    out here (per coordinate ``-0.5 log(1 + (1 + r) A_cc)`` and the Schur
    complement ``Q - B_c^2 / A~``, ``A~ = A_cc + 1/(1 + r)``, with the drift's
    terms reduced alike; none depends on ``s``); ``B_c, A_cc, A_cv`` are kept
    for drawing ``c'``. Otherwise the block is the centre alone (``B`` (P, d),
    ``A`` (P,)) or centre and drift (``B`` (P, 2, d), ``A`` (P, 2, 2)).
    """
    drift, stationary = kind
    logdet, Q, B, A = st
    if not stationary:
        if drift:
            return logdet, Q, B, A
        return logdet, Q, B[:, 0], A[:, 0, 0]
    d = Q.shape[-1]
    Bc, Acc = B[:, 0], A[:, 0, 0]
    a_t = Acc + 1.0 / (1.0 + r)
    logdet = logdet + d * jnp.log1p((1.0 + r) * Acc)
    Q = Q - Bc * Bc / a_t[:, None]
    if drift:
        Acv = A[:, 0, 1]
        Bv = B[:, 1] - Acv[:, None] * Bc / a_t[:, None]
        Avv = A[:, 1, 1] - Acv * Acv / a_t
    else:
        Acv = jnp.zeros_like(Acc)
        Bv, Avv = jnp.zeros_like(Bc), jnp.zeros_like(Acc)
    return logdet, Q, Bv, Avv, Bc, Acc, Acv
