"""Deterministic quadrature over the parameters of the Gaussian models.

For FBM and Brownian motion (any of drift, noise and gaps) the evidence and
the posterior are integrals over at most three coordinates: ``alpha``, the
noise-to-diffusion ratio and ``log D``; the drift is integrated at each node
(analytically under a Normal prior, by a 1-D rule per coordinate under any other).
For the Langevin model they are ``log k``, the noise ratio and ``log D``, with
the trap centre and the drift integrated analytically. :class:`Quadrature`
evaluates them by adaptive tensor Gauss-Legendre rules on closed-form
sufficient statistics, and draws from the converged grid; what each model
supplies (coordinates, priors, statistics) is in :mod:`._quadrature_models`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from ..errors import InferenceError
from ..models.base import Model
from ..tracks import Track
from ._quadrature_models import block_log_density, block_window, make_problem, problem_reason

__all__ = [
    "Quadrature",
    "quadrature_reason",
    "log_integrand_fn",
]

_LOG2PI = math.log(2.0 * math.pi)


def quadrature_reason(model: Model, tracks: Sequence[Track]) -> str | None:
    """Why quadrature does not apply to ``model`` and ``tracks`` (None if it does).

    It needs an FBM/Brownian or Langevin model; a scalar prior on the drift
    (any for FBM/Brownian; a ``Normal`` for Langevin) and, for Langevin, on
    the trap centre (:class:`~bayesdiff.models.StationaryCentre` or a
    ``Normal``); scalar
    priors on positive numbers for ``D``, ``k`` and ``sigma``; priors on
    ``alpha``, ``k`` and ``sigma`` whose range it can bound (bounded support,
    or quantiles from the prior's ``icdf`` or ``cdf``; a bound at zero is
    fine); and (for a pooled set) one frame interval shared by all tracks.
    The reason names the parameter and its prior.
    """
    return problem_reason(model, tracks)


@functools.cache
def _gl(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and log weights on [-1, 1] (cached, read-only)."""
    x, w = np.polynomial.legendre.leggauss(n)
    logw = np.log(w)
    x.flags.writeable = logw.flags.writeable = False
    return x, logw


def log_integrand_fn(
    noise: bool,
    drift: int,
    priors: dict,
    consts: dict,
    scale: str = "increments",
    block_rule: str = "normal",
):
    """The log of the integrand in ``lam = log D`` at one outer node ``(x, u)``, and its limits.

    ``drift`` is the number of coefficients per coordinate integrated at each
    node: 0, 1 (FBM's drift, or a Langevin centre) or 2 (a Langevin centre
    and drift). With ``block_rule`` "normal" their priors are fixed-scale
    Normals (``priors["b_loc"]``, ``priors["b_scale"]``), integrated
    analytically; with "linear" or "log" (one coefficient only) the prior is
    any scalar density ``priors["b_prior"]``, integrated per coordinate by
    Gauss-Legendre against the coefficient's Gaussian likelihood (see
    :func:`block_window`) in the coefficient itself or in its logarithm.
    ``scale`` says how the variance scale
    ``s`` and ``sigma`` follow from ``lam``: ``"increments"`` (FBM/Brownian,
    ``x = alpha``): ``log s = lam + alpha log dt``, ``log sigma = (u + log s)/2``;
    ``"langevin"`` (``x = log k``): ``log s = lam - log k``,
    ``log sigma = (u + log s + log(1 - e^{-k dt}))/2``.
    """
    N, logdt = consts["N"], consts["logdt"]
    increments = scale == "increments"

    def f(lam, st, alpha, u):
        logdet, Q, B, A = st[:4]
        ell = lam + alpha * logdt if increments else lam - alpha  # log s
        s_inv = jnp.exp(-ell)
        out = -0.5 * N * (_LOG2PI + ell) - 0.5 * logdet - 0.5 * jnp.sum(Q) * s_inv
        if drift == 1 and block_rule != "normal":
            out = out + _block_numeric(B, A, s_inv, priors["b_prior"], consts, block_rule)
        elif drift == 1:
            m, sv2 = priors["b_loc"], priors["b_scale"] ** 2
            a = A * s_inv + 1.0 / sv2
            b = B * s_inv + m / sv2
            out = out + jnp.sum(-0.5 * m * m / sv2 - 0.5 * jnp.log(sv2 * a) + 0.5 * b * b / a)
        elif drift == 2:  # per coordinate j: b_j^T a^-1 b_j with a 2x2 precision a
            m, sv2 = priors["b_loc"], priors["b_scale"] ** 2
            a = A * s_inv + jnp.diag(1.0 / sv2)
            b = B * s_inv + (m / sv2)[:, None]  # (2, d)
            det = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
            quad = (a[1, 1] * b[0] ** 2 - 2.0 * a[0, 1] * b[0] * b[1] + a[0, 0] * b[1] ** 2) / det
            d = Q.shape[-1]
            out = out + 0.5 * jnp.sum(quad)
            out = out - 0.5 * d * (jnp.sum(m * m / sv2) + jnp.log(sv2[0] * sv2[1] * det))
        out = out + priors["D"].log_prob(jnp.exp(lam)) + lam
        if noise:
            w = 0.5 * (u + ell) if increments else 0.5 * (u + ell + _log_frame(alpha, logdt))
            out = out + priors["sigma"].log_prob(jnp.exp(w)) + w + math.log(0.5)
        return jnp.where(jnp.isnan(out), -jnp.inf, out)

    def limits(alpha, u):
        lo, hi = consts["lam_lo"], consts["lam_hi"]
        if noise:
            shift = u + alpha * logdt if increments else u - alpha + _log_frame(alpha, logdt)
            lo = jnp.maximum(lo, 2.0 * consts["w_lo"] - shift)
            hi = jnp.minimum(hi, 2.0 * consts["w_hi"] - shift)
        return lo, hi

    return f, limits


#: Gauss-Legendre nodes of the numerical integral over a coefficient with a non-Normal prior
N_BLOCK = 64


def _block_numeric(B, A, s_inv, prior, consts, block_rule: str) -> jax.Array:
    """``sum_j log int exp(-s_inv (A b^2 - 2 B_j b) / 2) p(b) db`` by Gauss-Legendre."""
    lo, hi, mu, prec = block_window(B, A, s_inv, consts, block_rule)
    x, logw = _gl(N_BLOCK)
    half = 0.5 * (hi - lo)
    t = 0.5 * (lo + hi)[..., None] + half[..., None] * x
    vals = block_log_density(t, mu[..., None], prec, prior, block_rule) + logw
    vals = jnp.where(jnp.isnan(vals), -jnp.inf, vals)
    log_int = jnp.where(half > 0, logsumexp(vals, axis=-1) + jnp.log(half), -jnp.inf)
    return jnp.sum(0.5 * B * B * s_inv / A + log_int)


def _log_frame(logk: jax.Array, logdt: jax.Array) -> jax.Array:
    """``log(1 - e^{-k dt})``: the part of the stationary variance an OU step renews."""
    return jnp.log(-jnp.expm1(-jnp.exp(logk + logdt)))


def _residual(st, drift: int) -> jax.Array:
    """The residual sum of squares at unit scale (the coefficients of the block fitted)."""
    logdet, Q, B, A = st[:4]
    if drift == 1:
        return jnp.sum(Q) - jnp.sum(B * B) / jnp.maximum(A, 1e-300)
    if drift == 2:
        det = jnp.maximum(A[0, 0] * A[1, 1] - A[0, 1] * A[1, 0], 1e-300)
        fit = A[1, 1] * B[0] ** 2 - 2.0 * A[0, 1] * B[0] * B[1] + A[0, 0] * B[1] ** 2
        return jnp.maximum(jnp.sum(Q) - jnp.sum(fit) / det, 1e-12 * jnp.sum(Q))
    return jnp.sum(Q)


_N_LAM_MAX = 128


@functools.cache
def _gl_padded(n: int) -> tuple[jax.Array, jax.Array]:
    """Gauss-Legendre rule of order ``n`` padded to ``_N_LAM_MAX`` nodes (log weight
    -inf), so that every order shares one compiled :func:`_inner`."""
    x, logw = _gl(n)
    pad = _N_LAM_MAX - n
    return jnp.asarray(np.concatenate([x, np.zeros(pad)])), jnp.asarray(
        np.concatenate([logw, np.full(pad, -np.inf)])
    )


@partial(jax.jit, static_argnames=("noise", "drift", "nodes", "scale", "block_rule"))
def _inner(
    st,
    alpha,
    u,
    priors,
    consts,
    rule,
    noise: bool,
    drift: int,
    nodes: bool = False,
    scale: str = "increments",
    block_rule: str = "normal",
):
    """``log int exp f(lam) dlam`` at each outer node: Gauss-Legendre ``rule``
    (nodes, log weights) on a window around the conditional mode, found by
    safeguarded Newton steps."""
    f, limits = log_integrand_fn(noise, drift, priors, consts, scale, block_rule)
    x, logw = rule
    N = consts["N"]

    def one(st1, a, uu):
        lo, hi = limits(a, uu)
        q_eff = _residual(st1, drift)
        log_s0 = jnp.log(jnp.maximum(q_eff, 1e-300) / N)
        lam0 = log_s0 - a * consts["logdt"] if scale == "increments" else log_s0 + a
        lam0 = jnp.clip(lam0, lo, hi)
        lam0 = jnp.where(jnp.isfinite(lam0), lam0, jnp.where(jnp.isfinite(lo), lo, hi))
        g1 = jax.grad(f)
        g2 = jax.grad(g1)

        def newton(_, lam):
            g, h = g1(lam, st1, a, uu), g2(lam, st1, a, uu)
            step = jnp.where(h < 0, -g / h, jnp.sign(g))
            step = jnp.clip(jnp.nan_to_num(step), -2.0, 2.0)
            return jnp.clip(lam + step, lo, hi)

        lam_m = jax.lax.fori_loop(0, 16, newton, lam0)
        h = g2(lam_m, st1, a, uu)
        sd = jnp.where(h < 0, 1.0 / jnp.sqrt(jnp.maximum(-h, 1e-12)), jnp.sqrt(2.0 / N))
        sd = jnp.minimum(sd, 5.0)
        a_w = jnp.maximum(lo, lam_m - 9.0 * sd)
        b_w = jnp.minimum(hi, lam_m + 9.0 * sd + 80.0 / N)
        ok = (b_w > a_w) & jnp.isfinite(a_w) & jnp.isfinite(b_w)
        half = jnp.where(ok, 0.5 * (b_w - a_w), 1.0)
        lam = 0.5 * (a_w + b_w) + half * x
        vals = jax.vmap(lambda ll: f(ll, st1, a, uu))(lam) + logw + jnp.log(half)
        vals = jnp.where(jnp.isfinite(logw), vals, -jnp.inf)
        total = jnp.where(ok, logsumexp(vals), -jnp.inf)
        if nodes:
            return total, lam, jnp.where(ok, vals, -jnp.inf)
        return total

    return jax.vmap(one)(st, alpha, u)


class Quadrature:
    """Adaptive tensor Gauss-Legendre quadrature (see :func:`evidence`).

    FBM/Brownian: coordinates ``alpha`` (FBM only), ``u = log(sigma^2 / s)``
    (with noise) and ``lam = log D`` innermost, where ``s = D dt^alpha``. For
    fixed ``(alpha, u)`` the covariance is ``s S(alpha, e^u)``, so one
    Levinson (or Cholesky) pass gives sufficient statistics from which the
    integrals over ``v`` (analytic) and ``lam`` (Gauss-Legendre) cost O(dim)
    per node. The Jacobian of ``(log D, log sigma) -> (lam, u)`` is 1/2.

    Langevin: ``x = log k``, ``u = log(sigma^2 / (s (1 - e^{-k dt})))`` and
    ``lam = log D``; with ``s = D/k`` the covariance is ``s S(k, r)``,
    ``r = e^u (1 - e^{-k dt})``, and one
    Kalman (or, without noise, transition) pass gives the statistics; the
    trap centre and the drift are integrated analytically (see
    :class:`~._quadrature_models.LangevinProblem`). The Jacobian of
    ``(log D, log k, log sigma) -> (lam, x, u)`` is 1/2.

    Parameters
    ----------
    model : Model
        FBM, Brownian or Langevin (see :func:`quadrature_reason`).
    tracks : sequence of Track
        One track, or the tracks of a pooled set.
    bucket : str
        How track lengths are padded into batches (``TrackSet.batches``).
    pooled : bool, optional
        Whether the tracks are a pooled set (Langevin: the centre's prior is
        then absolute, as in ``numpyro_model_pooled``); default: more than one track.

    Notes
    -----
    With ``s`` the variance scale and ``x_j`` the data of coordinate ``j``,
    ``-2 log p(x | s, v, S) = N log(2 pi s) + d log|S| + sum_j (x_j - F_j
    b_j)^T S^-1 (x_j - F_j b_j) / s`` for the coefficients ``b_j`` (drift,
    centre) that enter the mean linearly. The prior box of ``(log D,
    log sigma)`` becomes, at fixed ``(x, u)``, an interval of ``lam``, so prior
    bounds are integration limits of the inner rule and the outer integrand
    is smooth (where sigma or D piles up against a prior bound it falls off
    as a smooth step in ``u``).

    1. A coarse midpoint scan (16 alpha or 32 log k x 48 u nodes over the
       prior range and the range the data allow) finds the box where the
       integrand is within 30 nats of its maximum (the u range grows if the
       mass touches it).
    2. Tensor Gauss-Legendre rules on that box, (24, 32, 32) nodes in
       (x, u, lam), then doubled, until the estimate changes by less than
       ``tol`` (at most 96 x 128 x 128); the last change is the error.
    3. The inner rule sits on ``[mode - 9 sd, mode + 9 sd + 80/N]`` around the
       conditional mode of ``lam`` (16 safeguarded Newton steps), clipped to
       the prior limits.
    """

    CHUNK = 256
    N_COARSE_U = 48
    THRESHOLD = 30.0  # nats below the coarse maximum that still count as mass
    MASS_TAIL = 1e-6  # with zoom: the share of the scanned mass that may be left out
    LEVELS = ((24, 32, 32), (48, 64, 64), (96, 128, 128))  # (n_x, n_u, n_lam)

    def __init__(
        self,
        model: Model,
        tracks: Sequence[Track],
        bucket: str = "exact",
        pooled: bool | None = None,
    ):
        self.model = model
        self.problem = make_problem(model, tracks, bucket, pooled)
        pb = self.problem
        self.has_x, self.noise = pb.has_x, pb.noise
        self.dt = pb.dt
        self.priors, self.consts = pb.priors, pb.consts
        self.x_range = pb.x_range if self.has_x else None
        self.n_evals = 0
        self._final: dict | None = None

    # -- evaluation ------------------------------------------------------------
    def stats(self, x: np.ndarray, u: np.ndarray) -> tuple:
        """Sufficient statistics at nodes (x, u), summed over all batches of tracks."""
        out = self.problem.stats(x, u)
        self.n_evals += int(len(x)) * self.problem.n_tracks
        return out

    def _inner(self, st, x, u, n_lam: int, nodes: bool = False):
        pb = self.problem
        return _inner(
            st,
            jnp.asarray(x),
            jnp.asarray(u),
            self.priors,
            self.consts,
            _gl_padded(n_lam),
            self.noise,
            pb.block,
            nodes=nodes,
            scale=pb.scale,
            block_rule=pb.block_rule,
        )

    def _padded(self, x, u, i: int, size: int):
        """Nodes ``i .. i + size`` padded to ``size`` (one compiled shape) where there is
        more than one outer node; their number before padding."""
        a = np.asarray(x[i : i + size], float)
        uu = np.asarray(u[i : i + size], float)
        k = len(a)
        if k < size and (self.has_x or self.noise):
            a = np.concatenate([a, np.full(size - k, a[-1])])
            uu = np.concatenate([uu, np.full(size - k, uu[-1])])
        return a, uu, k

    def log_g(self, x: np.ndarray, u: np.ndarray, n_lam: int) -> np.ndarray:
        """``log int dlam ...`` at outer nodes (x, u) (1-D arrays), chunked."""
        out = np.empty(len(x))
        c = self.CHUNK if (self.has_x or self.noise) else 1
        for i in range(0, len(x), c):
            a, uu, k = self._padded(x, u, i, c)
            st = self.stats(a, uu)
            self.n_evals -= (len(a) - k) * self.problem.n_tracks
            out[i : i + k] = np.asarray(self._inner(st, a, uu, n_lam))[:k]
        return out

    def _log_prior_x(self, x: np.ndarray) -> np.ndarray:
        return self.problem.log_prior_x(x)

    # -- windows -----------------------------------------------------------------
    def _u_range(self) -> tuple[float, float]:
        pb = self.problem
        lam_lo = float(self.consts["lam_lo"])
        if math.isfinite(lam_lo):
            log_s_min = lam_lo + pb.u_offset_min()
        else:
            log_s_min = math.log(pb.var0) - 30.0
        log_s_max = math.log(pb.var0 / 2.0)
        w_lo, w_hi = pb.w_range
        u_min = 2.0 * w_lo - log_s_max - 4.0
        u_max = min(2.0 * w_hi, log_s_max + 4.0) - log_s_min
        if u_max <= u_min + 1.0:
            u_max = u_min + 1.0
        return u_min, u_max

    def _window(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Coarse scan: the (x, u) box holding the posterior mass.

        Problems with ``zoom`` (Langevin) keep the cells that hold all but
        ``MASS_TAIL`` of the scanned mass, and scan the box found once more:
        their integrand has far plateaus (the Brownian limit ``k -> 0``, i.i.d.
        positions for a stiff trap or a large noise) that can be within
        ``THRESHOLD`` of the peak and yet hold no mass.
        """
        pb = self.problem
        a_lo, a_hi = self.x_range if self.has_x else (pb.x_fixed, pb.x_fixed)
        u_lo, u_hi = self._u_range() if self.noise else (0.0, 0.0)
        aw, uw = self._scan((a_lo, a_hi), (u_lo, u_hi), grow=True)
        if pb.zoom:
            aw2, uw2 = self._scan(aw, uw, grow=False)
            aw = (max(aw[0], aw2[0]), min(aw[1], aw2[1]))
            uw = (max(uw[0], uw2[0]), min(uw[1], uw2[1]))
        return aw, uw

    def _scan(self, xr, ur, grow: bool) -> tuple[tuple[float, float], tuple[float, float]]:
        """Midpoint scan of the box ``xr`` x ``ur``: the box of the cells that count as
        mass (the u range grows, with ``grow``, if they touch it)."""
        pb = self.problem
        na = pb.n_coarse_x if self.has_x else 1
        nu = self.N_COARSE_U if self.noise else 1
        (a_lo, a_hi), (u_lo, u_hi) = xr, ur
        for _ in range(4):
            ha, hu = (a_hi - a_lo) / na, (u_hi - u_lo) / nu
            ag = a_lo + ha * (np.arange(na) + 0.5)
            ug = u_lo + hu * (np.arange(nu) + 0.5)
            A, U = np.meshgrid(ag, ug, indexing="ij")
            lg = self.log_g(A.ravel(), U.ravel(), 16).reshape(na, nu) + self._log_prior_x(A)
            if not np.isfinite(lg).any():
                raise InferenceError(
                    f"{self.model.name}: the likelihood is zero on the whole prior range "
                    "(check units and priors)"
                )
            if pb.zoom:  # drop the lightest cells while they hold < MASS_TAIL in all
                w = np.exp(lg - np.max(lg))
                order = np.argsort(w, axis=None)
                light = np.cumsum(w.ravel()[order]) < self.MASS_TAIL * np.sum(w)
                sel = np.ones(w.size, bool)
                sel[order[light]] = False
                sel = sel.reshape(w.shape)
            else:
                sel = lg > np.max(lg) - self.THRESHOLD
            ia = np.flatnonzero(sel.any(axis=1))
            iu = np.flatnonzero(sel.any(axis=0))
            grown = False
            if grow and self.noise and iu[0] == 0:
                u_lo -= 0.5 * (u_hi - u_lo)
                grown = True
            if grow and self.noise and iu[-1] == nu - 1:
                u_hi += 0.5 * (u_hi - u_lo)
                grown = True
            if not grown:
                break
        if self.has_x:
            aw = (max(a_lo, ag[ia[0]] - ha), min(a_hi, ag[ia[-1]] + ha))
        else:
            aw = (pb.x_fixed, pb.x_fixed)
        uw = (ug[iu[0]] - hu, ug[iu[-1]] + hu) if self.noise else (0.0, 0.0)
        return aw, uw

    def _nodes(self, aw, uw, n_a: int, n_u: int):
        if self.has_x:
            xa, lwa = _gl(n_a)
            ha = 0.5 * (aw[1] - aw[0])
            a, lwa = 0.5 * (aw[0] + aw[1]) + ha * xa, lwa + math.log(ha)
        else:
            a, lwa = np.full(1, self.problem.x_fixed), np.zeros(1)
        if self.noise:
            xu, lwu = _gl(n_u)
            hu = 0.5 * (uw[1] - uw[0])
            u, lwu = 0.5 * (uw[0] + uw[1]) + hu * xu, lwu + math.log(hu)
        else:
            u, lwu = np.zeros(1), np.zeros(1)
        A, U = np.meshgrid(a, u, indexing="ij")
        LW = lwa[:, None] + lwu[None, :] + self._log_prior_x(A)
        return A.ravel(), U.ravel(), LW.ravel()

    # -- driver ------------------------------------------------------------------
    def run(self, tol: float = 0.01) -> tuple[float, float, int, dict]:
        aw, uw = self._window()
        levels = []
        prev = None
        err = math.inf
        for n_a, n_u, n_lam in self.LEVELS:
            A, U, LW = self._nodes(aw, uw, n_a, n_u)
            lg = self.log_g(A, U, n_lam)
            logz = float(logsumexp(jnp.asarray(lg + LW)))
            levels.append(
                {
                    "n_" + self.problem.x_name: n_a if self.has_x else 1,
                    "n_u": n_u if self.noise else 1,
                    "n_lam": n_lam,
                    "log_z": logz,
                }
            )
            self._final = {"A": A, "U": U, "LW": LW + lg, "n_lam": n_lam, "aw": aw, "uw": uw}
            if prev is not None:
                err = abs(logz - prev)
                if err < tol:
                    break
            prev = logz
        if not math.isfinite(levels[-1]["log_z"]):
            raise InferenceError(f"{self.model.name}: quadrature gave a non-finite log evidence")
        details = {
            "levels": levels,
            self.problem.x_name + "_window": aw if self.has_x else None,
            "u_window": uw if self.noise else None,
            "converged": bool(err < tol),
        }
        return levels[-1]["log_z"], max(err, 1e-12), self.n_evals, details

    # -- posterior draws from the grid ---------------------------------------------
    def draws(self, n: int, seed: int, jitter: bool = False) -> dict[str, np.ndarray]:
        """``n`` posterior draws resampled from the final grid, shape (1, n, ...).

        Outer nodes and ``log D`` nodes are drawn with probability proportional
        to their quadrature weight times the integrand; the coefficients
        integrated analytically (drift, trap centre), given them, from their
        exact Gaussian conditional. With ``jitter``, each outer coordinate and
        ``log D`` draw is then spread uniformly over its node's cell (between
        the midpoints to the neighbouring nodes), so the draws follow the
        piecewise-constant density of the grid instead of sitting on the nodes.
        """
        if self._final is None:
            self.run()
        fin = self._final
        rng = np.random.default_rng(seed)
        p = np.exp(fin["LW"] - np.max(fin["LW"]))
        idx = rng.choice(p.size, size=n, p=p / p.sum())
        uniq, inv = np.unique(idx, return_inverse=True)
        a, u = fin["A"][uniq], fin["U"][uniq]
        out_lam = np.empty(n)
        lam_all, vals_all, stats_all = [], [], []
        for i in range(0, len(uniq), self.CHUNK):
            ap, up, k = self._padded(a, u, i, self.CHUNK)
            st = self.stats(ap, up)
            _, lam, vals = self._inner(st, ap, up, fin["n_lam"], nodes=True)
            lam_all.append(np.asarray(lam)[:k])
            vals_all.append(np.asarray(vals)[:k])
            stats_all.append(jax.tree.map(lambda t, k=k: np.asarray(t)[:k], st))
        lam_nodes = np.concatenate(lam_all)
        vals = np.concatenate(vals_all)
        stats = jax.tree.map(lambda *t: np.concatenate(t), *stats_all)
        for j in range(n):
            row = vals[inv[j]]
            q = np.exp(row - np.max(row))
            k = rng.choice(q.size, p=q / q.sum())
            out_lam[j] = lam_nodes[inv[j], k]
            if jitter:  # the padded nodes (zero weight) sit after the real, ascending ones
                out_lam[j] = _spread(lam_nodes[inv[j]][np.isfinite(row)], k, rng)
        alpha = a[inv]
        uu = u[inv]
        if jitter:
            for coord, arr in (("x", alpha), ("u", uu)):
                if (coord == "x" and self.has_x) or (coord == "u" and self.noise):
                    nodes = np.unique(fin["A"] if coord == "x" else fin["U"])
                    box = fin["aw"] if coord == "x" else fin["uw"]
                    pos = np.searchsorted(nodes, arr)
                    arr[:] = [_spread(nodes, int(i), rng, box) for i in pos]
        node_stats = jax.tree.map(lambda t: t[inv], stats)
        res = self.problem.params(alpha, out_lam, uu, node_stats, rng)
        return {k: v[None] for k, v in res.items()}


def _spread(nodes: np.ndarray, k: int, rng: np.random.Generator, box=None) -> float:
    """A uniform draw over the cell of ``nodes[k]`` (sorted nodes; cells end at midpoints,
    the outer cells as far out as the inner half-width, or at the ``box`` edges)."""
    lo = 0.5 * (nodes[k - 1] + nodes[k]) if k > 0 else None
    hi = 0.5 * (nodes[k] + nodes[k + 1]) if k < len(nodes) - 1 else None
    if lo is None and hi is None:
        return float(nodes[k])
    lo = lo if lo is not None else (box[0] if box else nodes[k] - (hi - nodes[k]))
    hi = hi if hi is not None else (box[1] if box else nodes[k] + (nodes[k] - lo))
    return float(rng.uniform(lo, hi))
