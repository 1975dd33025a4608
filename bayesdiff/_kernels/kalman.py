"""Exact Kalman filter for linear-Gaussian state-space models, in innovations form.

The model, for ``d`` independent coordinates that share their coefficients
(the coordinates of an isotropic track), is

    x_k = a_k x_{k-1} + b_k + w_k,      w_k ~ N(0, q_k)      (state, k = 1..n)
    y_k = x_k + e_k,                    e_k ~ N(0, r_k)      (observation)

with the state at step 0 known in distribution, ``x_0 | (what is conditioned
on) ~ N(m_0, p_0)``. The coefficients may change from step to step (a
time-varying transition, e.g. the exact discretization of a linear SDE over
unequal time lags). The filter returns the one-step-ahead (innovation) log
densities ``log p(y_k | y_1..y_{k-1})``, whose sum is the exact log-likelihood
and whose terms are the pointwise log-likelihoods used by PSIS-LOO. As for the
other kernels, truncating the sum at any k gives the exact density of the
first k observations, so padded tails are handled by masking their terms.

Because the coefficients are shared by the coordinates, the variance
recursion (Riccati equation) is scalar and computed once; only the means
carry the coordinate axis. The loop is a ``lax.scan``: ``jit``, ``vmap`` and
``grad`` apply.

:func:`kalman_innovations` is the same filter for zero-mean series, returning
its whitened innovations instead of their log densities, for callers that
need quadratic forms of several series under one covariance (the Langevin
evidence quadrature: ``y^T C^-1 y``, ``mu^T C^-1 y``, ``log det C``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["kalman_pointwise", "kalman_innovations"]

_LOG2PI = float(np.log(2 * np.pi))


def kalman_pointwise(
    y: jax.Array,
    a: jax.Array,
    b: jax.Array,
    q: jax.Array,
    r: jax.Array,
    m0: jax.Array,
    p0: jax.Array,
) -> jax.Array:
    """One-step-ahead log densities of a scalar-state linear-Gaussian model.

    Parameters
    ----------
    y : array of shape (n, d)
        Observations ``y_1 .. y_n`` of ``d`` independent coordinates.
    a : array of shape (n,)
        Transition coefficients: ``E[x_k | x_{k-1}] = a_k x_{k-1} + b_k``.
    b : array of shape (n, d) or (n, 1)
        Transition offsets (per coordinate, or shared).
    q : array of shape (n,)
        Transition (process) noise variances ``Var[x_k | x_{k-1}]``.
    r : scalar or array of shape (n,)
        Observation noise variances (static or per step). May be zero only
        where ``q_k + a_k^2 p_{k-1} > 0``.
    m0 : array of shape (d,)
        Mean of the state at step 0, given what is conditioned on.
    p0 : scalar
        Variance of the state at step 0 (shared by the coordinates).

    Returns
    -------
    array of shape (n,)
        ``log p(y_k | y_1..y_{k-1})`` (and whatever fixed ``m0, p0`` condition
        on), summed over the ``d`` coordinates.

    Notes
    -----
    Predict ``m^- = a_k m + b_k``, ``p^- = a_k^2 p + q_k``; the innovation
    ``e_k = y_k - m^-`` has variance ``s_k = p^- + r_k`` and contributes
    ``-0.5 (d log(2 pi s_k) + |e_k|^2 / s_k)``; update ``m = m^- + (p^- / s_k) e_k``,
    ``p = p^- r_k / s_k`` (the scalar form of the Joseph update, positive by
    construction).

    References
    ----------
    Kalman, J. Basic Eng. 82, 35 (1960). Harvey, *Forecasting, Structural Time
    Series Models and the Kalman Filter* (1989), ch. 3 (prediction-error
    decomposition of the likelihood).

    Examples
    --------
    A random walk observed with noise (``a = 1, b = 0``):

    >>> import jax.numpy as jnp
    >>> from bayesdiff._kernels.kalman import kalman_pointwise
    >>> y = jnp.array([[0.1], [0.3], [0.2]])
    >>> pw = kalman_pointwise(y, jnp.ones(3), jnp.zeros((3, 1)), jnp.ones(3), 0.5,
    ...                       jnp.zeros(1), 0.0)
    >>> pw.shape
    (3,)
    """
    y = jnp.asarray(y)
    n, d = y.shape
    dtype = y.dtype
    a = jnp.asarray(a, dtype)
    b = jnp.broadcast_to(jnp.asarray(b, dtype), (n, d))
    q = jnp.asarray(q, dtype)
    r = jnp.broadcast_to(jnp.asarray(r, dtype), (n,))

    def step(carry, inp):
        m, p = carry
        yk, ak, bk, qk, rk = inp
        m_pred = ak * m + bk
        p_pred = ak * ak * p + qk
        s = p_pred + rk
        e = yk - m_pred
        ll = -0.5 * (d * (_LOG2PI + jnp.log(s)) + jnp.sum(e * e) / s)
        gain = p_pred / s
        return (m_pred + gain * e, p_pred * rk / s), ll

    init = (jnp.asarray(m0, dtype) * jnp.ones(d, dtype), jnp.asarray(p0, dtype))
    _, ll = jax.lax.scan(step, init, (y, a, b, q, r))
    return ll


def kalman_innovations(
    a: jax.Array, q: jax.Array, r: jax.Array, p0: jax.Array, x: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Whitened one-step-ahead innovations of zero-mean scalar-state series.

    The filter of :func:`kalman_pointwise` with ``b = 0`` and ``m_0 = 0``, run on
    the columns of ``x`` at once (they share the variance recursion). It
    applies the inverse Cholesky factor of the observations' covariance: for
    ``x_j = y_j - E[y_j]`` (a column of observations minus their mean), the
    columns of ``z`` are ``L^-1 x_j`` with ``L L^T = Cov[y]``, so quadratic forms
    ``x_i^T Cov^-1 x_j = z_i^T z_j`` of any columns (data, or the mean's
    regressors) cost one pass.

    Parameters
    ----------
    a : array of shape (n,)
        Transition coefficients.
    q : array of shape (n,)
        Transition (process) noise variances.
    r : scalar or array of shape (n,)
        Observation noise variances.
    p0 : scalar
        Variance of the state at step 0.
    x : array of shape (n, m)
        Columns sharing the covariance (data minus mean, or regressors).

    Returns
    -------
    log_v : array of shape (n,)
        Log innovation variances ``log s_k``; ``sum(log_v) = log det Cov``.
    z : array of shape (n, m)
        Whitened innovations ``e_k / sqrt(s_k)``.

    Examples
    --------
    A random walk observed with noise, against a dense Cholesky factor:

    >>> import numpy as np, jax.numpy as jnp
    >>> from bayesdiff._kernels.kalman import kalman_innovations
    >>> x = np.array([[0.1], [0.3], [0.2]])
    >>> log_v, z = kalman_innovations(jnp.ones(3), jnp.ones(3), 0.5, 0.0, jnp.asarray(x))
    >>> cov = np.minimum.outer(np.arange(1, 4), np.arange(1, 4)) + 0.5 * np.eye(3)
    >>> bool(np.allclose(z, np.linalg.solve(np.linalg.cholesky(cov), x)))
    True
    """
    x = jnp.asarray(x)
    n, m = x.shape
    dtype = x.dtype
    a = jnp.asarray(a, dtype)
    q = jnp.asarray(q, dtype)
    r = jnp.broadcast_to(jnp.asarray(r, dtype), (n,))

    def step(carry, inp):
        mean, p = carry
        xk, ak, qk, rk = inp
        m_pred = ak * mean
        p_pred = ak * ak * p + qk
        s = p_pred + rk
        e = xk - m_pred
        return (m_pred + (p_pred / s) * e, p_pred * rk / s), (jnp.log(s), e / jnp.sqrt(s))

    init = (jnp.zeros(m, dtype), jnp.asarray(p0, dtype))
    _, (log_v, z) = jax.lax.scan(step, init, (x, a, q, r))
    return log_v, z
