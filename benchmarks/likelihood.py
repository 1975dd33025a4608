"""FBM log-likelihood speed: bayesdiff value + gradient vs SciPy's Toeplitz solve.

Prints one table: for n = 100, 1000, 10000 increments of a 1-D FBM track, the
time of bayesdiff's exact log-likelihood value + gradient (alpha, D; JAX, jit;
the samplers' path: Durbin-Levinson for log det and the final predictor, then
Gohberg-Semencul FFTs for the quadratic form and the gradient), of that value
alone, and of the pointwise one-step-ahead terms (PSIS-LOO's path), against
``scipy.linalg.solve_toeplitz`` (Levinson in compiled code) computing only the
quadratic form x^T C^-1 x -- a lower bound on any SciPy evaluation of the value,
which would also need log det C. Run: ``python benchmarks/likelihood.py``.
"""

from __future__ import annotations

from functools import partial

import _common
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

import bayesdiff as bd
from bayesdiff.models.base import as_data
from bayesdiff.models.increments import fgn_autocovariance


def best_of(f):
    """Best of 5 rounds of about 0.2 s, seconds per call, after a warm-up (compiling) call."""
    return _common.best_of(f, repeat=5, number=None)


def main() -> None:
    _common.parser(__doc__).parse_args()  # no options: --help only
    model = bd.models.FBM()
    params = {"alpha": jnp.asarray(0.7), "D": jnp.asarray(0.3)}
    rows = []
    for n in (100, 1000, 10000):
        track = model.simulate(seed=n, params={"alpha": 0.7, "D": 0.3}, n_steps=n, dt=0.05)[0]
        data, regular = as_data(track)
        value = jax.jit(partial(model.fast_loglik, regular=regular))
        pointwise = jax.jit(partial(model.pointwise_from_data, regular=regular))
        vg = jax.jit(jax.value_and_grad(partial(model.fast_loglik, regular=regular)))
        t_vg = best_of(lambda vg=vg, data=data: jax.block_until_ready(vg(params, data)))
        t_v = best_of(lambda value=value, data=data: jax.block_until_ready(value(params, data)))
        t_pw = best_of(lambda pw=pointwise, data=data: jax.block_until_ready(pw(params, data)))
        acov = np.asarray(0.3 * 0.05**0.7 * fgn_autocovariance(0.7, n))
        x = track.increments[:, 0]
        t_sp = best_of(lambda acov=acov, x=x: x @ scipy.linalg.solve_toeplitz(acov, x))
        # the two exact paths agree
        ll, ll_pw = float(value(params, data)), float(jnp.sum(pointwise(params, data)))
        assert abs(ll - ll_pw) <= 1e-9 * abs(ll_pw), (n, ll, ll_pw)
        rows.append(
            {
                "n": n,
                "bayesdiff value+grad (ms)": t_vg * 1e3,
                "bayesdiff value (ms)": t_v * 1e3,
                "pointwise terms (ms)": t_pw * 1e3,
                "SciPy solve_toeplitz, quad. form only (ms)": t_sp * 1e3,
                "ratio vg/SciPy": t_vg / t_sp,
            }
        )
    _common.print_table(
        rows,
        "FBM log-likelihood, 1-D track, float64, CPU (best of 5)",
        fmt=".3f",
        formats={"ratio vg/SciPy": ".2f"},
        note="Target (issue 3): value+gradient no slower than SciPy's value alone at n >= 1000 "
        "(ratio <= 1).",
    )


if __name__ == "__main__":
    main()
