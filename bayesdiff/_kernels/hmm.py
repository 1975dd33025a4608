"""Hidden Markov model recursions in log space: forward, forward-backward, Viterbi.

A discrete hidden chain ``s_0, s_1, ..., s_{T-1}`` with ``K`` states emits one
observation per step. Everything is given as logarithms:

* ``log_init`` -- array of shape (K,), ``log p(s_0 = k)``;
* ``log_trans`` -- array of shape (K, K) (the same at every step) or
  (T - 1, K, K) (one matrix per step), ``log p(s_{t+1} = j | s_t = i)`` in row
  ``i`` (from), column ``j`` (to); entry ``t`` of a per-step stack is the
  transition from step ``t`` to step ``t + 1``;
* ``log_emit`` -- array of shape (T, K), ``log p(x_t | s_t = k)``;
* ``mask`` -- optional bool array of shape (T,); False marks a step that does
  not exist (padding). A masked step contributes nothing and does not advance
  the chain: the transition *into* a masked step is skipped, so the chain goes
  from the last unmasked step straight to the next unmasked one with the
  transition stored for that next step. For padded tails (the use in bayesdiff)
  this is exactly the likelihood of the unpadded sequence.

The forward recursion is normalized (Rabiner's scaling, in log space): the
carried filter ``log p(s_t | x_0..x_t)`` sums to one, and the normalizer of
step ``t`` is the one-step predictive density ``log p(x_t | x_0..x_{t-1})``.
These pointwise terms sum to the total log-likelihood (PSIS-LOO uses them).
All functions are pure JAX built on ``lax.scan``: ``jit``, ``vmap`` and
``grad`` apply. Probabilities of exactly zero (``-inf`` logs) are allowed.

References
----------
Rabiner, "A tutorial on hidden Markov models and selected applications in
speech recognition", Proc. IEEE 77, 257 (1989).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

__all__ = [
    "forward",
    "forward_backward",
    "viterbi",
    "matrix_power",
    "stationary",
    "renewal_forward",
    "renewal_loglik",
]


def _prepare(log_init, log_trans, log_emit, mask):
    log_init = jnp.asarray(log_init)
    log_trans = jnp.asarray(log_trans)
    log_emit = jnp.asarray(log_emit)
    T, K = log_emit.shape
    if log_init.shape != (K,):
        raise ValueError(f"log_init has shape {log_init.shape}, expected ({K},)")
    if log_trans.ndim == 2:
        if log_trans.shape != (K, K):
            raise ValueError(f"log_trans has shape {log_trans.shape}, expected ({K}, {K})")
        per_step = False
        # index t holds the transition INTO step t (index 0 unused)
        trans_in = None
    else:
        if log_trans.shape != (T - 1, K, K):
            raise ValueError(
                f"log_trans has shape {log_trans.shape}, expected ({K}, {K}) or ({T - 1}, {K}, {K})"
            )
        per_step = True
        trans_in = jnp.concatenate([jnp.zeros((1, K, K), log_trans.dtype), log_trans], axis=0)
    if mask is None:
        mask = jnp.ones(T, dtype=bool)
    else:
        mask = jnp.asarray(mask, dtype=bool)
        if mask.shape != (T,):
            raise ValueError(f"mask has shape {mask.shape}, expected ({T},)")
    # masked emissions may be anything (even nan); never let them into the sums
    log_emit = jnp.where(mask[:, None], log_emit, 0.0)
    return log_init, log_trans, log_emit, mask, per_step, trans_in


def _predict(log_filter, log_A):
    """``log sum_i p(i) A[i, j]`` for every j."""
    return logsumexp(log_filter[:, None] + log_A, axis=0)


def _forward_scan(log_init, log_trans, log_emit, mask, per_step, trans_in):
    """Normalized filters (T, K) and log normalizers (T,) (zero where masked)."""
    K = log_init.shape[0]

    def step(carry, inp):
        log_filter, started = carry
        if per_step:
            e, m, log_A = inp
        else:
            e, m = inp
            log_A = log_trans
        pred = jnp.where(started, _predict(log_filter, log_A), log_init)
        joint = pred + e
        c = logsumexp(joint)
        new_filter = joint - c
        out_filter = jnp.where(m, new_filter, log_filter)
        return (out_filter, started | m), (out_filter, jnp.where(m, c, 0.0))

    xs = (log_emit, mask, trans_in) if per_step else (log_emit, mask)
    init = (jnp.full(K, -jnp.log(K), log_emit.dtype), jnp.asarray(False))
    _, (filters, log_c) = jax.lax.scan(step, init, xs)
    return filters, log_c


def forward(
    log_init: jax.Array,
    log_trans: jax.Array,
    log_emit: jax.Array,
    mask: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Log-likelihood of an HMM by the normalized forward recursion.

    Parameters
    ----------
    log_init : array of shape (K,)
        Log initial state probabilities.
    log_trans : array of shape (K, K) or (T - 1, K, K)
        Log transition probabilities, row = from, column = to.
    log_emit : array of shape (T, K)
        Log emission densities of each observation in each state.
    mask : array of bool, shape (T,), optional
        False for steps that do not exist (they contribute zero).

    Returns
    -------
    loglik : array, shape ()
        ``log p(x_0, ..., x_{T-1})`` with the states summed out.
    pointwise : array of shape (T,)
        ``log p(x_t | x_0..x_{t-1})`` (zero where masked); sums to ``loglik``.

    Notes
    -----
    With filter ``f_t(k) = p(s_t = k | x_{0..t})``,

        c_t = sum_j [sum_i f_{t-1}(i) A_t(i, j)] e_t(j),    f_t(j) = [...] e_t(j) / c_t,

    (``f_{-1} A_0`` replaced by the initial distribution) and
    ``log p(x) = sum_t log c_t``. O(T K^2) time.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> ll, pw = forward(jnp.log(jnp.array([0.5, 0.5])),
    ...                  jnp.log(jnp.array([[0.9, 0.1], [0.2, 0.8]])),
    ...                  jnp.log(jnp.array([[0.3, 0.6], [0.1, 0.4]])))
    >>> round(float(ll), 6) == round(float(pw.sum()), 6)
    True
    """
    args = _prepare(log_init, log_trans, log_emit, mask)
    _, log_c = _forward_scan(*args)
    return jnp.sum(log_c), log_c


def forward_backward(
    log_init: jax.Array,
    log_trans: jax.Array,
    log_emit: jax.Array,
    mask: jax.Array | None = None,
) -> jax.Array:
    """Posterior state probabilities ``p(s_t = k | x_0..x_{T-1})``.

    Parameters
    ----------
    log_init, log_trans, log_emit, mask
        As in :func:`forward`.

    Returns
    -------
    array of shape (T, K)
        Smoothed state probabilities; each unmasked row sums to one. Masked rows
        are zero.

    Notes
    -----
    Scaled backward recursion (Rabiner 1989): with ``b_{T-1} = 1`` and ``u`` the
    next unmasked step after ``t``,
    ``b_t(i) = sum_j A_u(i, j) e_u(j) b_u(j) / c_u``; then
    ``p(s_t | x) = f_t b_t``.
    """
    log_init, log_trans, log_emit, mask, per_step, trans_in = _prepare(
        log_init, log_trans, log_emit, mask
    )
    filters, log_c = _forward_scan(log_init, log_trans, log_emit, mask, per_step, trans_in)
    K = log_init.shape[0]

    def step(msg, inp):
        if per_step:
            f, e, c, m, log_A = inp
        else:
            f, e, c, m = inp
            log_A = log_trans
        # msg = log b_t (message from the future, over states at step t)
        log_post = f + msg
        log_post = log_post - logsumexp(log_post)
        new_msg = logsumexp(log_A + (e + msg - c)[None, :], axis=1)
        out_msg = jnp.where(m, new_msg, msg)
        return out_msg, jnp.where(m, jnp.exp(log_post), 0.0)

    xs = (filters, log_emit, log_c, mask)
    if per_step:
        xs = (*xs, trans_in)
    _, post = jax.lax.scan(step, jnp.zeros(K, log_emit.dtype), xs, reverse=True)
    return post


def viterbi(
    log_init: jax.Array,
    log_trans: jax.Array,
    log_emit: jax.Array,
    mask: jax.Array | None = None,
) -> jax.Array:
    """Most probable hidden path ``argmax_s p(s | x)`` (Viterbi algorithm).

    Parameters
    ----------
    log_init, log_trans, log_emit, mask
        As in :func:`forward`.

    Returns
    -------
    array of int, shape (T,)
        The most probable state at every step; ``-1`` at masked steps. Ties go to
        the lowest state index.

    Notes
    -----
    Max-product recursion ``d_t(j) = max_i [d_{t-1}(i) + log A_t(i, j)] + log e_t(j)``
    with back-pointers, then back-tracking from ``argmax_j d_{T-1}(j)``. The
    running maximum is shifted to zero at each step (it only changes by
    constants), so long chains do not overflow.
    """
    log_init, log_trans, log_emit, mask, per_step, trans_in = _prepare(
        log_init, log_trans, log_emit, mask
    )
    K = log_init.shape[0]
    ident = jnp.arange(K)

    def step(carry, inp):
        delta, started = carry
        if per_step:
            e, m, log_A = inp
        else:
            e, m = inp
            log_A = log_trans
        scores = delta[:, None] + log_A  # (from, to)
        back = jnp.argmax(scores, axis=0)
        best = jnp.max(scores, axis=0)
        new = jnp.where(started, best, log_init) + e
        new = new - jnp.max(new)
        back = jnp.where(started & m, back, ident)
        return (jnp.where(m, new, delta), started | m), back

    xs = (log_emit, mask, trans_in) if per_step else (log_emit, mask)
    init = (jnp.zeros(K, log_emit.dtype), jnp.asarray(False))
    (delta, _), backs = jax.lax.scan(step, init, xs)
    last = jnp.argmax(delta)

    def back_step(state, inp):
        back_t, m = inp
        # state = state at step t (carried through masked steps unchanged)
        return back_t[state], jnp.where(m, state, -1)

    _, path = jax.lax.scan(back_step, last, (backs, mask), reverse=True)
    return path.astype(jnp.int32)


def matrix_power(P: jax.Array, n: jax.Array, max_bits: int = 12) -> jax.Array:
    """``P ** n`` for a square matrix and integer ``0 <= n < 2 ** max_bits``, by squaring.

    Parameters
    ----------
    P : array of shape (K, K)
    n : int array, shape () (may be traced)
        The power. Larger powers are clipped to ``2 ** max_bits - 1``.
    max_bits : int
        Static number of binary digits (12: powers up to 4095).

    Returns
    -------
    array of shape (K, K)

    Notes
    -----
    Binary exponentiation with a static number of squarings, so ``n`` can be a
    traced value (``vmap`` over the lags of a track): ``max_bits`` squarings and
    at most ``max_bits`` products, all differentiable in ``P``.
    """
    K = P.shape[-1]
    n = jnp.clip(jnp.asarray(n).astype(jnp.int32), 0, 2**max_bits - 1)

    def body(carry, b):
        result, power = carry
        bit = (n >> b) & 1
        result = jnp.where(bit == 1, result @ power, result)
        return (result, power @ power), None

    (result, _), _ = jax.lax.scan(body, (jnp.eye(K, dtype=P.dtype), P), jnp.arange(max_bits))
    return result


def stationary(P: jax.Array) -> jax.Array:
    """Stationary distribution ``pi = pi P`` of an irreducible stochastic matrix.

    Parameters
    ----------
    P : array of shape (K, K)
        Row-stochastic transition matrix.

    Returns
    -------
    array of shape (K,)
        Solves ``pi (P - I) = 0``, ``sum(pi) = 1`` as one linear system (the last
        balance equation replaced by the normalization). Differentiable.
    """
    K = P.shape[-1]
    A = (P - jnp.eye(K, dtype=P.dtype)).T
    A = A.at[-1].set(1.0)
    b = jnp.zeros(K, P.dtype).at[-1].set(1.0)
    return jnp.linalg.solve(A, b)


# ---------------------------------------------------------------------------
# labelled renewal chains (added for the Lévy walk; the functions above are unchanged)
# ---------------------------------------------------------------------------
_TINY = 1e-300

#: Loop unrolling of :func:`renewal_forward` (its steps are small: dispatch-bound on CPU).
_RENEWAL_UNROLL = 1


def renewal_forward(
    log_init: jax.Array,
    log_within: jax.Array,
    log_renew: jax.Array,
    log_label: jax.Array,
    log_emit_stay: jax.Array,
    log_emit_renew: jax.Array,
    mask: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Forward algorithm for a labelled renewal chain with transition-dependent emissions.

    The hidden state is a pair ``(phase i, label d)`` with ``R`` phases and
    ``D`` labels (for the Lévy walk: flight phase and flight direction).
    At each step the chain either continues the current *episode* -- the label
    is kept and the phase moves with ``W[i, i']`` -- or a *renewal* starts a new
    episode in one of the ``B`` *entry* phases ``0 .. B-1`` (with probability
    ``M[i, b]``) and a new label ``d'`` drawn with probability ``q[d']``. The
    observation of step ``t`` may depend on both ends of the transition:
    ``e_stay[t, d]`` when the episode continues with label ``d``, and
    ``e_renew[t, b, d, d']`` after a renewal from label ``d`` into entry phase
    ``b`` with label ``d'``. This is an ordinary HMM on ``K = R D`` states (see
    Notes), evaluated in ``O(R^2 D + B D^2)`` per step instead of ``O(K^2)``.

    Parameters
    ----------
    log_init : array of shape (R, D)
        Log probabilities of the state *before* the first step.
    log_within : array of shape (R, R)
        ``log W``, phase moves that continue the episode (row = from, column = to).
    log_renew : array of shape (R, B)
        ``log M``, renewal from phase ``i`` into entry phase ``b``. ``W`` and ``M``
        together must be row-stochastic: ``W.sum(1) + M.sum(1) == 1``.
    log_label : array of shape (D,)
        Log probabilities of the label of a new episode.
    log_emit_stay : array of shape (T, D)
        Log density of observation ``t`` when the episode continues with label ``d``.
    log_emit_renew : array of shape (T, B, D, D)
        Log density of observation ``t`` after a renewal into entry phase ``b``
        from label ``d`` (axis 2) to label ``d'`` (axis 3).
    mask : array of bool, shape (T,), optional
        False for steps that do not exist (padding): they contribute zero and do
        not advance the chain.

    Returns
    -------
    loglik : array, shape ()
    pointwise : array of shape (T,)
        One-step predictive log densities ``log p(x_t | x_0..x_{t-1})``, zero
        where masked; they sum to ``loglik``.

    Notes
    -----
    As a plain HMM over ``s_t = (i, d)`` with the emission folded into the
    transition, step ``t`` multiplies the filter by

        A_t((i, d), (i', d')) = W[i, i'] [d = d'] e_stay[t, d']
                                + [i' < B] M[i, i'] q[d'] e_renew[t, i', d, d'],

    so :func:`forward` with ``log_trans[t] = log A_t``, zero emissions and a
    leading dummy step carrying ``log_init`` gives the same numbers (the test
    suite checks this, and checks both against a brute-force path sum).

    Each step's emissions are exponentiated once, outside the loop, after
    subtracting that step's largest log density (over both kinds); the
    filter is carried as normalized probabilities (Rabiner's scaling), so the
    loop is matrix products only. The scaled predictive density of a step is
    floored at ``1e-300``: only when every reachable explanation of an
    observation is more than ~690 nats below the best unreachable one (far
    from any plausible parameter) is the log-likelihood then a lower bound.
    """
    log_c, _ = _renewal_pass(
        log_init, log_within, log_renew, log_label, log_emit_stay, log_emit_renew, mask
    )
    return jnp.sum(log_c), log_c


def _renewal_pass(*args):
    """The scaled forward pass: pointwise terms and, for the gradient, the inputs as
    probabilities, the filters before each step and the step normalizers."""
    f0, W, M, e_stay, e_renew, shift, mask = _renewal_inputs(*args)
    joint = _renewal_joint(W, M)

    def step(f, inp):
        es, er, m = inp
        j = joint(f, es, er)
        c = jnp.maximum(jnp.sum(j), _TINY)
        return jnp.where(m, j / c, f), (f, jnp.where(m, c, 1.0))

    _, (f_prev, c) = jax.lax.scan(step, f0, (e_stay, e_renew, mask), unroll=_RENEWAL_UNROLL)
    log_c = jnp.where(mask, jnp.log(c) + shift, 0.0)
    return log_c, (f0, W, M, e_stay, e_renew, mask, f_prev, c)


def _renewal_joint(W: jax.Array, M: jax.Array) -> Callable:
    """``(f, e_stay[t], e_renew[t]) -> A_t^T f`` (unnormalized), in few XLA operations:
    one product with ``[W M]`` for both kinds of move, then the renewal emissions as
    an elementwise product and sum (the step is dispatch-bound on CPU: 0.25 ms for
    200 steps against 0.4 ms written as three products)."""
    R, B = M.shape
    WM = jnp.concatenate([W, M], axis=1)  # (R, R + B)

    def joint(f, es, er):
        G = WM.T @ f  # (R + B, D): rows < R continue the episode, rows >= R renew
        ren = jnp.sum(G[R:, :, None] * er, axis=1)  # (B, D'): from label d to d'
        return G[:R] * es[None, :] + jnp.pad(ren, ((0, R - B), (0, 0)))

    return joint


def _renewal_inputs(log_init, log_within, log_renew, log_label, log_emit_stay, log_emit_renew,
                    mask):  # fmt: skip
    """Checked shapes; the chain as probabilities and the emissions scaled per step."""
    log_init = jnp.asarray(log_init)
    log_within = jnp.asarray(log_within)
    log_renew = jnp.asarray(log_renew)
    log_label = jnp.asarray(log_label)
    log_emit_stay = jnp.asarray(log_emit_stay)
    log_emit_renew = jnp.asarray(log_emit_renew)
    T, D = log_emit_stay.shape
    R = log_init.shape[0]
    B = log_renew.shape[-1]
    if (
        log_init.shape != (R, D)
        or log_within.shape != (R, R)
        or log_renew.shape != (R, B)
        or not 1 <= B <= R
        or log_label.shape != (D,)
        or log_emit_renew.shape != (T, B, D, D)
    ):
        raise ValueError(
            f"inconsistent shapes: log_init {log_init.shape}, log_within {log_within.shape}, "
            f"log_renew {log_renew.shape}, log_label {log_label.shape}, "
            f"log_emit_stay {log_emit_stay.shape}, log_emit_renew {log_emit_renew.shape}"
        )
    if mask is None:
        mask = jnp.ones(T, dtype=bool)
    mask = jnp.asarray(mask, dtype=bool)
    if mask.shape != (T,):
        raise ValueError(f"mask has shape {mask.shape}, expected ({T},)")
    log_emit_stay = jnp.where(mask[:, None], log_emit_stay, 0.0)
    log_emit_renew = jnp.where(mask[:, None, None, None], log_emit_renew, 0.0)
    W = jnp.exp(log_within)
    M = jnp.exp(log_renew)
    q = jnp.exp(log_label)
    # scaled emissions: shift every step by its largest log density (both kinds)
    shift = jnp.maximum(jnp.max(log_emit_stay, axis=1), jnp.max(log_emit_renew, axis=(1, 2, 3)))
    shift = jax.lax.stop_gradient(shift)
    e_stay = jnp.exp(log_emit_stay - shift[:, None])
    e_renew = jnp.exp(log_emit_renew - shift[:, None, None, None]) * q
    f0 = jnp.exp(log_init - logsumexp(log_init))
    return f0, W, M, e_stay, e_renew, shift, mask


@jax.custom_vjp
def renewal_loglik(log_init, log_within, log_renew, log_label, log_emit_stay, log_emit_renew,
                   mask):  # fmt: skip
    """The total of :func:`renewal_forward`, with a reverse-mode gradient by forward-backward.

    Same arguments as :func:`renewal_forward` (``mask`` required, bool of shape
    (T,)); returns the log-likelihood only. The gradient with respect to all six
    log arrays comes from the scaled backward recursion
    ``beta_{t-1} = A_t beta_t / c_t`` and ``d L / d A_t(s, s') = f_{t-1}(s) beta_t(s') / c_t``
    contracted with the structure of ``A_t`` (see :func:`renewal_forward`), so
    it costs one backward pass over ``(R, D)`` arrays plus vectorized
    contractions -- less than differentiating the scan automatically. Only
    reverse mode is defined; use :func:`renewal_forward` for anything else.
    """
    return renewal_forward(
        log_init, log_within, log_renew, log_label, log_emit_stay, log_emit_renew, mask
    )[0]


def _renewal_fwd(log_init, log_within, log_renew, log_label, log_emit_stay, log_emit_renew, mask):
    log_c, res = _renewal_pass(
        log_init, log_within, log_renew, log_label, log_emit_stay, log_emit_renew, mask
    )
    return jnp.sum(log_c), res


def _renewal_bwd(res, ct):
    f0, W, M, e_stay, e_renew, mask, f_prev, c = res
    R, B = M.shape
    WM = jnp.concatenate([W, M], axis=1)

    def back(beta, inp):
        es, er, m, ci = inp
        g = beta / ci  # d L / d joint_t
        h = jnp.sum(er * g[:B, None, :], axis=2)  # (B, D)
        prev = WM @ jnp.concatenate([es[None, :] * g, h])  # W (es g) + M h
        return jnp.where(m, prev, beta), jnp.where(m, g, 0.0)

    beta0, g = jax.lax.scan(
        back, jnp.ones_like(f0), (e_stay, e_renew, mask, c), reverse=True, unroll=_RENEWAL_UNROLL
    )
    # g[t] = beta_t / c_t (zero at masked steps); f_prev[t] = f_{t-1}
    G = jnp.einsum("ij,tid->tjd", WM, f_prev)  # [W M]^T f_{t-1}: (T, R + B, D)
    d_log_es = e_stay * jnp.sum(G[:, :R] * g, axis=1)
    d_log_er = e_renew * G[:, R:, :, None] * g[:, :B, None, :]
    d_log_label = jnp.sum(d_log_er, axis=(0, 1, 2))
    hh = jnp.sum(e_renew * g[:, :B, None, :], axis=3)  # (T, B, D)
    d_wm = WM * jnp.einsum("tid,tjd->ij", f_prev, jnp.concatenate([e_stay[:, None, :] * g, hh], 1))
    d_log_w, d_log_m = d_wm[:, :R], d_wm[:, R:]
    d_log_init = f0 * (beta0 - jnp.sum(f0 * beta0))
    grads = (d_log_init, d_log_w, d_log_m, d_log_label, d_log_es, d_log_er)
    return (*(ct * a for a in grads), None)


renewal_loglik.defvjp(_renewal_fwd, _renewal_bwd)
