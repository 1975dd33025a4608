"""The HMM kernel against brute-force enumeration of hidden paths and hmmlearn."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

import bayesdiff  # noqa: F401  (float64)
from bayesdiff._kernels import hmm


def _random_hmm(seed, K, T, per_step=True):
    rng = np.random.default_rng(seed)
    init = rng.dirichlet(np.ones(K))
    trans = rng.dirichlet(np.ones(K), size=(T - 1, K) if per_step else (K,))
    emit = rng.uniform(0.05, 2.0, (T, K))
    return init, trans, emit


def _brute(init, trans, emit, mask):
    """Sum / argmax over all K^T' hidden paths of the unmasked steps."""
    T, K = emit.shape
    idx = [t for t in range(T) if mask[t]]
    A = trans if trans.ndim == 3 else np.broadcast_to(trans, (T - 1, K, K))
    total, post, best, best_p = 0.0, np.zeros((T, K)), None, -1.0
    for path in itertools.product(range(K), repeat=len(idx)):
        p = init[path[0]] * emit[idx[0], path[0]]
        for a in range(1, len(idx)):
            p *= A[idx[a] - 1, path[a - 1], path[a]] * emit[idx[a], path[a]]
        total += p
        for a, t in enumerate(idx):
            post[t, path[a]] += p
        if p > best_p:
            best_p, best = p, path
    path = -np.ones(T, int)
    path[idx] = best
    return np.log(total), post / total, path


MASKS = {
    "full": [1, 1, 1, 1, 1, 1],
    "padded": [1, 1, 1, 1, 0, 0],
    "holes": [0, 1, 0, 1, 1, 0],
}


@pytest.mark.parametrize("K", [2, 3])
@pytest.mark.parametrize("mask_name", list(MASKS))
@pytest.mark.parametrize("per_step", [True, False])
def test_against_brute_force(K, mask_name, per_step):
    mask = np.array(MASKS[mask_name], bool)
    init, trans, emit = _random_hmm(K * 10 + len(mask_name), K, len(mask), per_step)
    args = (jnp.log(init), jnp.log(trans), jnp.log(emit), jnp.asarray(mask))
    ll_ref, post_ref, path_ref = _brute(init, trans, emit, mask)

    ll, pw = hmm.forward(*args)
    np.testing.assert_allclose(ll, ll_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pw.sum(), ll, rtol=1e-12, atol=1e-12)
    assert np.all(np.asarray(pw)[~mask] == 0)
    np.testing.assert_allclose(hmm.forward_backward(*args), post_ref, atol=1e-12)
    np.testing.assert_array_equal(hmm.viterbi(*args), path_ref)


def test_pointwise_are_one_step_predictives():
    """Truncating the sequence at t gives the partial sums of the pointwise terms."""
    init, trans, emit = _random_hmm(3, 3, 6)
    _, pw = hmm.forward(jnp.log(init), jnp.log(trans), jnp.log(emit))
    for t in range(1, 7):
        ll_t, _, _ = _brute(init, trans[: t - 1], emit[:t], np.ones(t, bool))
        np.testing.assert_allclose(np.cumsum(pw)[t - 1], ll_t, rtol=1e-12)


def test_zero_probabilities():
    """-inf log probabilities (forbidden transitions) are handled."""
    init = np.array([1.0, 0.0])
    trans = np.array([[0.5, 0.5], [0.0, 1.0]])  # state 1 absorbing
    emit = np.random.default_rng(0).uniform(0.1, 1, (5, 2))
    args = (jnp.log(init), jnp.log(trans), jnp.log(emit))
    ll_ref, post_ref, path_ref = _brute(init, trans, emit, np.ones(5, bool))
    np.testing.assert_allclose(hmm.forward(*args)[0], ll_ref, rtol=1e-12)
    np.testing.assert_allclose(hmm.forward_backward(*args), post_ref, atol=1e-12)
    np.testing.assert_array_equal(hmm.viterbi(*args), path_ref)


def test_against_hmmlearn():
    hmmlearn = pytest.importorskip("hmmlearn.hmm")
    K, d, T = 3, 2, 200
    rng = np.random.default_rng(1)
    start = rng.dirichlet(np.ones(K))
    trans = rng.dirichlet(np.ones(K) + 5 * np.eye(K)[0], size=K)
    means = rng.normal(size=(K, d))
    var = rng.uniform(0.2, 2.0, (K, d))
    model = hmmlearn.GaussianHMM(n_components=K, covariance_type="diag")
    model.startprob_, model.transmat_, model.means_, model.covars_ = start, trans, means, var
    X, _ = model.sample(T, random_state=2)
    log_emit = norm.logpdf(X[:, None, :], means[None], np.sqrt(var)[None]).sum(-1)
    ll, _ = hmm.forward(jnp.log(start), jnp.log(trans), jnp.asarray(log_emit))
    np.testing.assert_allclose(ll, model.score(X), rtol=1e-10)
    post = hmm.forward_backward(jnp.log(start), jnp.log(trans), jnp.asarray(log_emit))
    np.testing.assert_allclose(post, model.predict_proba(X), atol=1e-8)
    path = hmm.viterbi(jnp.log(start), jnp.log(trans), jnp.asarray(log_emit))
    np.testing.assert_array_equal(path, model.predict(X))


def test_jit_vmap_grad():
    init, trans, emit = _random_hmm(5, 2, 6)
    args = (jnp.log(init), jnp.log(trans), jnp.log(emit))
    ll = hmm.forward(*args)[0]
    np.testing.assert_allclose(jax.jit(hmm.forward)(*args)[0], ll, rtol=1e-13)
    np.testing.assert_array_equal(jax.jit(hmm.viterbi)(*args), hmm.viterbi(*args))

    # vmap over a batch of emission tables with padded tails
    emits = jnp.stack([jnp.log(emit), jnp.log(emit[::-1])])
    masks = jnp.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], bool)
    lls = jax.jit(jax.vmap(lambda e, m: hmm.forward(args[0], args[1], e, m)[0]))(emits, masks)
    np.testing.assert_allclose(lls[0], ll, rtol=1e-13)
    np.testing.assert_allclose(
        lls[1], hmm.forward(args[0], args[1][:2], emits[1][:3])[0], rtol=1e-13
    )
    posts = jax.jit(jax.vmap(lambda e, m: hmm.forward_backward(args[0], args[1], e, m)))(
        emits, masks
    )
    assert posts.shape == (2, 6, 2)

    # gradients: finite and equal to finite differences
    def f(theta):
        P = jax.nn.softmax(theta[:4].reshape(2, 2), axis=1)
        return hmm.forward(jnp.log(hmm.stationary(P)), jnp.log(P), args[2] * theta[4])[0]

    theta = jnp.array([0.3, -0.2, 0.1, 0.5, 1.1])
    g = jax.jit(jax.grad(f))(theta)
    assert np.all(np.isfinite(g))
    eps = 1e-6
    f = jax.jit(f)  # one program for all the differences
    fd = [(f(theta.at[i].add(eps)) - f(theta.at[i].add(-eps))) / (2 * eps) for i in range(5)]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    gb = jax.jit(jax.grad(lambda t: hmm.forward_backward(args[0], args[1], args[2] * t).sum()))(1.2)
    assert np.isfinite(gb)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 17, 100])
def test_matrix_power_and_stationary(n):
    rng = np.random.default_rng(n)
    P = rng.dirichlet(np.ones(3), size=3)
    np.testing.assert_allclose(
        hmm.matrix_power(jnp.asarray(P), n), np.linalg.matrix_power(P, n), atol=1e-13
    )
    pi = np.asarray(hmm.stationary(jnp.asarray(P)))
    np.testing.assert_allclose(pi @ P, pi, atol=1e-13)
    np.testing.assert_allclose(pi.sum(), 1, atol=1e-13)
