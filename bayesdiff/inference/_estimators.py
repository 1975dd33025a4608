"""Estimators of the log evidence from posterior draws or the mode of a :class:`~._target.Target`.

Bridge sampling on posterior draws (Meng & Wong 1996, with the optimal bridge
and a normal proposal as in Gronau et al. 2017 and the error of
Frühwirth-Schnatter 2004) and the Laplace approximation. Each returns plain
numbers and a details dict; :mod:`.evidence` turns them into ``Evidence``.
Importance sampling lives in :mod:`._importance`.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from ..errors import InferenceError
from . import _arviz
from ._target import Target

__all__ = ["bridge_sampling", "laplace"]

_LOG2PI = math.log(2.0 * math.pi)


def _mvn_logpdf(x: np.ndarray, mean: np.ndarray, chol: np.ndarray) -> np.ndarray:
    z = np.linalg.solve(chol, (x - mean).T).T
    p = x.shape[1]
    return -0.5 * np.sum(z * z, axis=1) - np.sum(np.log(np.diag(chol))) - 0.5 * p * _LOG2PI


def bridge_sampling(target: Target, theta: np.ndarray, seed: int, tol: float = 1e-10) -> tuple:
    """Bridge sampling estimate of ``log Z`` from posterior draws ``theta``
    (chain, draw, size) in unconstrained space.

    The first half of every chain fits a multivariate normal proposal ``g``;
    the second half (``N1`` draws) and ``N2 = N1`` draws from ``g`` enter the
    iterative estimator of Meng & Wong (1996), eq. 4.1, with ``s1`` based on
    the effective sample size as in Gronau et al. (2017). The error is the
    square root of the relative mean-square error of Frühwirth-Schnatter (2004),
    with the autocorrelation of the posterior term through its ESS.
    """
    C, S, p = theta.shape
    if S < 4:
        raise InferenceError("bridge sampling needs at least 4 draws per chain")
    fit = theta[:, : S // 2].reshape(-1, p)
    post = theta[:, S // 2 :]
    n1 = post.shape[0] * post.shape[1]
    mean = fit.mean(axis=0)
    cov = np.cov(fit, rowvar=False).reshape(p, p) + 1e-10 * np.eye(p)
    chol = np.linalg.cholesky(cov)
    rng = np.random.default_rng(seed)
    n2 = n1
    prop = mean + rng.standard_normal((n2, p)) @ chol.T
    q11 = target.logq(post.reshape(-1, p))
    q12 = _mvn_logpdf(post.reshape(-1, p), mean, chol)
    q21 = target.logq(prop)
    q22 = _mvn_logpdf(prop, mean, chol)
    l1 = q11 - q12
    l2 = q21 - q22
    if not np.all(np.isfinite(l1)):
        raise InferenceError(f"{target.model.name}: non-finite log density at posterior draws")
    ess = _arviz.ess_array(post)
    neff = float(np.clip(np.median(ess), 1.0, n1))
    s1, s2 = neff / (neff + n2), n2 / (neff + n2)
    lstar = float(np.median(l1))
    e1, e2 = l1 - lstar, l2 - lstar
    log_r = 0.0
    iters = 0
    for iters in range(1, 1001):  # noqa: B007
        # r_{t+1} = [mean_g e^l2 / (s1 e^l2 + s2 r)] / [mean_p 1 / (s1 e^l1 + s2 r)], in logs
        num = logsumexp(
            jnp.asarray(e2 - np.logaddexp(math.log(s1) + e2, math.log(s2) + log_r))
        ) - math.log(n2)
        den = logsumexp(
            jnp.asarray(-np.logaddexp(math.log(s1) + e1, math.log(s2) + log_r))
        ) - math.log(n1)
        new = float(num - den)
        if abs(new - log_r) < tol:
            log_r = new
            break
        log_r = new
    log_z = log_r + lstar
    # relative mean-square error (Frühwirth-Schnatter 2004, eq. 13; N1, N2 as counts)
    t1, t2 = n1 / (n1 + n2), n2 / (n1 + n2)
    lp_g = q21 - log_z  # normalized posterior at proposal draws
    lp_p = q11 - log_z
    f1 = np.exp(lp_g - np.logaddexp(math.log(t1) + lp_g, math.log(t2) + q22))
    f2 = np.exp(q12 - np.logaddexp(math.log(t1) + lp_p, math.log(t2) + q12))
    ess_f2 = float(_arviz.ess_array(f2.reshape(post.shape[0], post.shape[1], 1))[0])
    re2 = np.var(f1) / (n2 * np.mean(f1) ** 2) + np.var(f2) / (max(ess_f2, 1.0) * np.mean(f2) ** 2)
    err = float(math.sqrt(re2))
    details = {
        "n_post": n1,
        "n_proposal": n2,
        "iterations": iters,
        "ess_median": neff,
        "ess_f2": ess_f2,
        "dim": p,
        "proposal": "normal",
    }
    return log_z, err, n1 + n2, details


# =============================================================================
# Laplace and importance sampling
# =============================================================================
def laplace(target: Target, mode: np.ndarray, hess: np.ndarray) -> tuple[float, dict]:
    sign, logdet = np.linalg.slogdet(hess)
    if sign <= 0:
        raise InferenceError(
            f"{target.model.name}: the Hessian at the mode is not positive definite"
        )
    lq = float(target.logq1(jnp.asarray(mode)))
    p = target.size
    return lq + 0.5 * p * _LOG2PI - 0.5 * logdet, {"log_q_mode": lq, "dim": p}
