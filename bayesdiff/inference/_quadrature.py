"""Deterministic quadrature over the parameters of the Gaussian increment models.

For FBM and Brownian motion (any of drift, noise and gaps) the evidence and
the posterior are integrals over at most three coordinates: ``alpha``, the
noise-to-diffusion ratio and ``log D``; the drift is integrated analytically.
:class:`IncrementQuadrature` evaluates them by adaptive tensor Gauss-Legendre
rules on closed-form sufficient statistics, and draws from the converged grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.special import logsumexp

from .._kernels.gaussian import dense_innovations, levinson_innovations
from ..errors import InferenceError
from ..models.base import Model, TrackData, as_data, describe_prior
from ..models.increments import (
    IncrementModel,
    fgn_autocovariance,
    increment_covariance,
    noise_band,
    noise_band_matrix,
)
from ..models.priors import support_bounds, support_range
from ..tracks import Track, TrackSet

__all__ = [
    "IncrementQuadrature",
    "quadrature_reason",
    "log_integrand_fn",
]

_LOG2PI = math.log(2.0 * math.pi)


def quadrature_reason(model: Model, tracks: Sequence[Track]) -> str | None:
    """Why quadrature does not apply to ``model`` and ``tracks`` (None if it does).

    It needs an FBM/Brownian model, a scalar ``Normal`` prior on the drift
    (integrated analytically), scalar priors on positive numbers for ``D`` and
    ``sigma``, priors on ``alpha`` and ``sigma`` whose range it can bound
    (bounded support, or quantiles from the prior's ``icdf`` or ``cdf``; a
    bound at zero is fine), and (for a pooled set) one frame interval shared
    by all tracks. The reason names the parameter and its prior.
    """
    if not isinstance(model, IncrementModel):
        return f"{type(model).__name__} is not a Gaussian increment model (FBM/Brownian)"
    if len({float(t.dt) for t in tracks}) > 1:
        return "the pooled tracks have different frame intervals"
    if model.drift:
        pv = model.prior("v")
        if type(pv) is not dist.Normal or jnp.shape(pv.loc) != () or jnp.shape(pv.scale) != ():
            return (
                f"the prior of v, {describe_prior(pv)}, is not a scalar Normal "
                "(the drift is integrated analytically)"
            )
    for p in ("D", "sigma"):
        if p in model.param_names:
            d = model.prior(p)
            if d.event_shape != () or d.batch_shape != () or support_bounds(d)[0] < 0.0:
                return f"the prior of {p}, {describe_prior(d)}, is not a scalar prior on (0, inf)"
    if "alpha" in model.param_names and _alpha_range(model.prior("alpha")) is None:
        return (
            f"the prior of alpha, {describe_prior(model.prior('alpha'))}, has neither a "
            "bounded support nor quantiles (icdf or cdf) in (0, 2)"
        )
    if model.noise and support_range(model.prior("sigma"), positive=True) is None:
        return (
            f"the prior of sigma, {describe_prior(model.prior('sigma'))}, has neither a "
            "bounded support nor quantiles (icdf or cdf)"
        )
    return None


def _alpha_range(d: dist.Distribution) -> tuple[float, float] | None:
    """The range of alpha to integrate: the prior's range within FBM's (0, 2)."""
    r = support_range(d)
    if r is None:
        return None
    lo, hi = max(r[0], 0.0), min(r[1], 2.0)
    return (lo, hi) if hi > lo else None


def _gl(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return x, np.log(w)


@partial(jax.jit, static_argnames=("kind",))
def _node_stats(alpha: jax.Array, r: jax.Array, data: TrackData, kind: tuple) -> tuple:
    """Sufficient statistics of the unit-scale Gaussian likelihood at nodes ``(alpha, r)``.

    With ``s = D dt^alpha`` (variance per frame) and ``r = sigma^2 / s``, the
    increments of one coordinate are ``x ~ N(v tau, s S(alpha, r))``, where
    ``S = C_alpha + r M`` (fGn covariance in frame units plus the noise band).
    Returns, summed over the tracks of the batch: ``d log det S``, the
    quadratic forms ``Q_j = x_j^T S^-1 x_j``, ``B_j = tau^T S^-1 x_j`` and
    ``A = tau^T S^-1 tau`` (zeros without drift); shapes (P,), (P, d), (P, d), (P,).
    """
    independent, regular, noise, drift = kind

    def one_track(a, rr, inc, lags, mask, dt):
        n, d = inc.shape
        x = jnp.where(mask[:, None], inc, 0.0)
        cols = jnp.concatenate([x, (lags * dt)[:, None]], axis=1) if drift else x
        if independent:
            var = 2.0 * lags
            logv, z = jnp.log(var), cols / jnp.sqrt(var)[:, None]
        elif regular:
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
        zx = z[:, :d] * m[:, None]
        logdet = d * jnp.sum(m * logv)
        Q = jnp.sum(zx * zx, axis=0)
        if drift:
            f = z[:, d] * m
            return logdet, Q, jnp.sum(zx * f[:, None], axis=0), jnp.sum(f * f)
        return logdet, Q, jnp.zeros(d), jnp.zeros(())

    def one_node(a, rr):
        out = jax.vmap(one_track, in_axes=(None, None, 0, 0, 0, 0))(
            a, rr, data.increments, data.lags, data.mask, data.dt
        )
        return jax.tree.map(lambda t: jnp.sum(t, axis=0), out)

    return jax.vmap(one_node)(alpha, r)


def log_integrand_fn(noise: bool, drift: bool, priors: dict, consts: dict):
    """The log of the integrand in ``lam = log D`` at one outer node, and its limits."""
    N, logdt = consts["N"], consts["logdt"]

    def f(lam, st, alpha, u):
        logdet, Q, B, A = st
        ell = lam + alpha * logdt  # log s
        s_inv = jnp.exp(-ell)
        out = -0.5 * N * (_LOG2PI + ell) - 0.5 * logdet - 0.5 * jnp.sum(Q) * s_inv
        if drift:
            m, sv2 = priors["v_loc"], priors["v_scale"] ** 2
            a = A * s_inv + 1.0 / sv2
            b = B * s_inv + m / sv2
            out = out + jnp.sum(-0.5 * m * m / sv2 - 0.5 * jnp.log(sv2 * a) + 0.5 * b * b / a)
        out = out + priors["D"].log_prob(jnp.exp(lam)) + lam
        if noise:
            w = 0.5 * (u + ell)  # log sigma
            out = out + priors["sigma"].log_prob(jnp.exp(w)) + w + math.log(0.5)
        return jnp.where(jnp.isnan(out), -jnp.inf, out)

    def limits(alpha, u):
        lo, hi = consts["lam_lo"], consts["lam_hi"]
        if noise:
            shift = u + alpha * logdt
            lo = jnp.maximum(lo, 2.0 * consts["w_lo"] - shift)
            hi = jnp.minimum(hi, 2.0 * consts["w_hi"] - shift)
        return lo, hi

    return f, limits


_N_LAM_MAX = 128


def _gl_padded(n: int) -> tuple[jax.Array, jax.Array]:
    """Gauss-Legendre rule of order ``n`` padded to ``_N_LAM_MAX`` nodes (log weight
    -inf), so that every order shares one compiled :func:`_inner`."""
    x, logw = _gl(n)
    pad = _N_LAM_MAX - n
    return jnp.asarray(np.concatenate([x, np.zeros(pad)])), jnp.asarray(
        np.concatenate([logw, np.full(pad, -np.inf)])
    )


@partial(jax.jit, static_argnames=("noise", "drift", "nodes"))
def _inner(st, alpha, u, priors, consts, rule, noise: bool, drift: bool, nodes: bool = False):
    """``log int exp f(lam) dlam`` at each outer node: Gauss-Legendre ``rule``
    (nodes, log weights) on a window around the conditional mode, found by
    safeguarded Newton steps."""
    f, limits = log_integrand_fn(noise, drift, priors, consts)
    x, logw = rule
    N = consts["N"]

    def one(st1, a, uu):
        lo, hi = limits(a, uu)
        logdet, Q, B, A = st1
        q_eff = jnp.sum(Q) - (jnp.sum(B * B) / jnp.maximum(A, 1e-300) if drift else 0.0)
        lam0 = jnp.log(jnp.maximum(q_eff, 1e-300) / N) - a * consts["logdt"]
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


class IncrementQuadrature:
    """Adaptive tensor Gauss-Legendre quadrature for FBM/Brownian (see :func:`evidence`).

    Coordinates: ``alpha`` (FBM only), ``u = log(sigma^2 / s)`` (with noise)
    and ``lam = log D`` innermost, where ``s = D dt^alpha``. For fixed
    ``(alpha, u)`` the covariance is ``s S(alpha, e^u)``, so one Levinson
    (or Cholesky) pass gives sufficient statistics from which the integrals
    over ``v`` (analytic) and ``lam`` (Gauss-Legendre) cost O(dim) per node.
    The Jacobian of ``(log D, log sigma) -> (lam, u)`` is 1/2.

    Notes
    -----
    With ``s`` the variance per frame and ``x_j`` the increments of
    coordinate ``j``, ``-2 log p(x | s, v, S) = N log(2 pi s) + d log|S|
    + sum_j (x_j - v_j tau)^T S^-1 (x_j - v_j tau) / s``. The prior box of
    ``(log D, log sigma)`` becomes, at fixed ``(alpha, u)``, an interval of
    ``lam``, so prior bounds are integration limits of the inner rule and the
    outer integrand is smooth (where sigma or D piles up against a prior
    bound it falls off as a smooth step in ``u``).

    1. A coarse midpoint scan (16 alpha x 48 u nodes over the prior range and
       the range the data allow) finds the box where the integrand is within
       30 nats of its maximum (the u range grows if the mass touches it).
    2. Tensor Gauss-Legendre rules on that box, (24, 32, 32) nodes in
       (alpha, u, lam), then doubled, until the estimate changes by less than
       ``tol`` (at most 96 x 128 x 128); the last change is the error.
    3. The inner rule sits on ``[mode - 9 sd, mode + 9 sd + 80/N]`` around the
       conditional mode of ``lam`` (16 safeguarded Newton steps), clipped to
       the prior limits.
    """

    CHUNK = 256
    N_COARSE = (16, 48)  # alpha, u
    THRESHOLD = 30.0  # nats below the coarse maximum that still count as mass
    LEVELS = ((24, 32, 32), (48, 64, 64), (96, 128, 128))  # (n_alpha, n_u, n_lam)

    def __init__(self, model: IncrementModel, tracks: Sequence[Track], bucket: str = "exact"):
        self.model = model
        self.fbm = "alpha" in model.param_names
        self.noise, self.drift = bool(model.noise), bool(model.drift)
        self.independent = model.independent_increments and not self.noise
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
        if self.fbm:
            self.alpha_prior = model.prior("alpha")
            self.alpha_range = _alpha_range(self.alpha_prior)
        if self.noise:
            ps = model.prior("sigma")
            self.priors["sigma"] = ps
            lo, hi = support_range(ps, positive=True)
            self.consts["w_lo"], self.consts["w_hi"] = (
                jnp.asarray(math.log(lo)),
                jnp.asarray(math.log(hi)),
            )
            self.w_range = (math.log(lo), math.log(hi))
        if self.drift:
            pv = model.prior("v")
            self.priors["v_loc"], self.priors["v_scale"] = (
                jnp.asarray(pv.loc),
                jnp.asarray(pv.scale),
            )
        self.n_evals = 0
        self._final: dict | None = None

    # -- evaluation ------------------------------------------------------------
    def stats(self, alpha: np.ndarray, u: np.ndarray) -> tuple:
        """Sufficient statistics at nodes (alpha, u), summed over all batches of tracks."""
        r = np.exp(u) if self.noise else np.zeros_like(u)
        total = None
        for data, regular in self.batches:
            kind = (self.independent, bool(regular), self.noise, self.drift)
            out = _node_stats(jnp.asarray(alpha), jnp.asarray(r), data, kind)
            total = out if total is None else jax.tree.map(jnp.add, total, out)
        self.n_evals += int(len(alpha)) * sum(int(d.mask.shape[0]) for d, _ in self.batches)
        return total

    def log_g(self, alpha: np.ndarray, u: np.ndarray, n_lam: int) -> np.ndarray:
        """``log int dlam ...`` at outer nodes (alpha, u) (1-D arrays), chunked."""
        out = np.empty(len(alpha))
        c = self.CHUNK if (self.fbm or self.noise) else 1
        for i in range(0, len(alpha), c):
            a = np.asarray(alpha[i : i + c], float)
            uu = np.asarray(u[i : i + c], float)
            k = len(a)
            if k < c:
                a = np.concatenate([a, np.full(c - k, a[-1])])
                uu = np.concatenate([uu, np.full(c - k, uu[-1])])
            st = self.stats(a, uu)
            self.n_evals -= (c - k) * sum(int(d.mask.shape[0]) for d, _ in self.batches)
            vals = _inner(
                st,
                jnp.asarray(a),
                jnp.asarray(uu),
                self.priors,
                self.consts,
                _gl_padded(n_lam),
                self.noise,
                self.drift,
            )
            out[i : i + k] = np.asarray(vals)[:k]
        return out

    def _log_prior_alpha(self, alpha: np.ndarray) -> np.ndarray:
        if not self.fbm:
            return np.zeros_like(alpha)
        return np.asarray(self.alpha_prior.log_prob(jnp.asarray(alpha)))

    # -- windows -----------------------------------------------------------------
    def _u_range(self) -> tuple[float, float]:
        logdt = math.log(self.dt)
        a_lo, a_hi = self.alpha_range if self.fbm else (1.0, 1.0)
        lam_lo = float(self.consts["lam_lo"])
        if math.isfinite(lam_lo):
            log_s_min = lam_lo + min(a_lo * logdt, a_hi * logdt)
        else:
            log_s_min = math.log(self.var0) - 30.0
        log_s_max = math.log(self.var0 / 2.0)
        w_lo, w_hi = self.w_range
        u_min = 2.0 * w_lo - log_s_max - 4.0
        u_max = min(2.0 * w_hi, log_s_max + 4.0) - log_s_min
        if u_max <= u_min + 1.0:
            u_max = u_min + 1.0
        return u_min, u_max

    def _window(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Coarse scan: the (alpha, u) box holding the posterior mass."""
        na = self.N_COARSE[0] if self.fbm else 1
        nu = self.N_COARSE[1] if self.noise else 1
        a_lo, a_hi = self.alpha_range if self.fbm else (1.0, 1.0)
        u_lo, u_hi = self._u_range() if self.noise else (0.0, 0.0)
        for _ in range(4):
            ha, hu = (a_hi - a_lo) / na, (u_hi - u_lo) / nu
            ag = a_lo + ha * (np.arange(na) + 0.5)
            ug = u_lo + hu * (np.arange(nu) + 0.5)
            A, U = np.meshgrid(ag, ug, indexing="ij")
            lg = self.log_g(A.ravel(), U.ravel(), 16).reshape(na, nu) + self._log_prior_alpha(A)
            if not np.isfinite(lg).any():
                raise InferenceError(
                    f"{self.model.name}: the likelihood is zero on the whole prior range "
                    "(check units and priors)"
                )
            sel = lg > np.max(lg) - self.THRESHOLD
            ia = np.flatnonzero(sel.any(axis=1))
            iu = np.flatnonzero(sel.any(axis=0))
            grow = False
            if self.noise and iu[0] == 0:
                u_lo -= 0.5 * (u_hi - u_lo)
                grow = True
            if self.noise and iu[-1] == nu - 1:
                u_hi += 0.5 * (u_hi - u_lo)
                grow = True
            if not grow:
                break
        aw = (max(a_lo, ag[ia[0]] - ha), min(a_hi, ag[ia[-1]] + ha)) if self.fbm else (1.0, 1.0)
        uw = (ug[iu[0]] - hu, ug[iu[-1]] + hu) if self.noise else (0.0, 0.0)
        return aw, uw

    def _nodes(self, aw, uw, n_a: int, n_u: int):
        if self.fbm:
            xa, lwa = _gl(n_a)
            ha = 0.5 * (aw[1] - aw[0])
            a, lwa = 0.5 * (aw[0] + aw[1]) + ha * xa, lwa + math.log(ha)
        else:
            a, lwa = np.ones(1), np.zeros(1)
        if self.noise:
            xu, lwu = _gl(n_u)
            hu = 0.5 * (uw[1] - uw[0])
            u, lwu = 0.5 * (uw[0] + uw[1]) + hu * xu, lwu + math.log(hu)
        else:
            u, lwu = np.zeros(1), np.zeros(1)
        A, U = np.meshgrid(a, u, indexing="ij")
        LW = lwa[:, None] + lwu[None, :] + self._log_prior_alpha(A)
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
                    "n_alpha": n_a if self.fbm else 1,
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
            "alpha_window": aw if self.fbm else None,
            "u_window": uw if self.noise else None,
            "converged": bool(err < tol),
        }
        return levels[-1]["log_z"], max(err, 1e-12), self.n_evals, details

    # -- posterior draws from the grid ---------------------------------------------
    def draws(self, n: int, seed: int, jitter: bool = False) -> dict[str, np.ndarray]:
        """``n`` posterior draws resampled from the final grid, shape (1, n, ...).

        Outer nodes and ``log D`` nodes are drawn with probability proportional
        to their quadrature weight times the integrand; the drift, given
        them, from its exact Gaussian conditional. With ``jitter``, each
        ``alpha``, ``u`` and ``log D`` draw is then spread uniformly over its
        node's cell (between the midpoints to the neighbouring nodes), so the
        draws follow the piecewise-constant density of the grid instead of
        sitting on the nodes.
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
            aa, uu = a[i : i + self.CHUNK], u[i : i + self.CHUNK]
            k = len(aa)
            pad = self.CHUNK - k if (self.fbm or self.noise) else 0
            ap, up = (
                np.concatenate([aa, np.full(pad, aa[-1])]),
                np.concatenate([uu, np.full(pad, uu[-1])]),
            )
            st = self.stats(ap, up)
            _, lam, vals = _inner(
                st,
                jnp.asarray(ap),
                jnp.asarray(up),
                self.priors,
                self.consts,
                _gl_padded(fin["n_lam"]),
                self.noise,
                self.drift,
                nodes=True,
            )
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
            for coord, arr in (("alpha", alpha), ("u", uu)):
                if (coord == "alpha" and self.fbm) or (coord == "u" and self.noise):
                    nodes = np.unique(fin["A"] if coord == "alpha" else fin["U"])
                    box = fin["aw"] if coord == "alpha" else fin["uw"]
                    pos = np.searchsorted(nodes, arr)
                    arr[:] = [_spread(nodes, int(i), rng, box) for i in pos]
        ell = out_lam + alpha * math.log(self.dt)
        res: dict[str, np.ndarray] = {}
        if self.fbm:
            res["alpha"] = alpha
        res["D"] = np.exp(out_lam)
        if self.drift:
            _, _, B, A = stats
            s_inv = np.exp(-ell)
            m, sv2 = float(self.priors["v_loc"]), float(self.priors["v_scale"]) ** 2
            prec = A[inv] * s_inv + 1.0 / sv2
            mean = (B[inv] * s_inv[:, None] + m / sv2) / prec[:, None]
            res["v"] = mean + rng.standard_normal(mean.shape) / np.sqrt(prec)[:, None]
        if self.noise:
            res["sigma"] = np.exp(0.5 * (uu + ell))
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
