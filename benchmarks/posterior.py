"""Posterior speed and accuracy for FBM (issue 3 targets). Prints three tables.

1. One 2-D FBM track of 200 steps, NUTS 4 chains x 1000 draws after 1000 warm-up:
   wall time including compilation (first call in the process).
2. ``sample_many`` on many 1-D FBM tracks of 100 steps (2 chains x 500 draws
   after 1000 warm-up): amortized seconds per track.
3. Accuracy: tracks with alpha ~ Uniform(0.3, 1.7), D = 1, dt = 1: RMSE of the
   posterior mean of alpha divided by the Cramer-Rao bound (square root of the
   mean over tracks of the bound on the variance of alpha, exact Fisher
   information with D -- and sigma -- unknown), and the coverage of central 90%
   credible intervals; n = 50, 100, 500 without noise and n = 100 with noise at
   SNR 2 (sigma = sqrt(D dt^alpha) / 2).

Run: ``python benchmarks/posterior.py [--quick] [--n-tracks 500] [--many 1000]``.
"""

from __future__ import annotations

import warnings

import _common
import jax
import jax.numpy as jnp
import numpy as np

import bayesdiff as bd
from bayesdiff.models.increments import fgn_autocovariance, noise_band


def fisher_bound_alpha(alpha: float, n: int, noise_sigma: float | None, D: float = 1.0) -> float:
    """Cramer-Rao bound on var(alpha) for one 1-D track, nuisance D (and sigma) unknown."""
    k = jnp.arange(n)
    idx = jnp.abs(k[:, None] - k[None, :])

    def cov(theta):
        a, logD = theta[0], theta[1]
        g = jnp.exp(logD) * fgn_autocovariance(a, n)
        if noise_sigma is not None:
            g = g + jnp.exp(2 * theta[2]) * noise_band(n)
        return g[idx]

    theta = jnp.array(
        [alpha, np.log(D)] + ([np.log(noise_sigma)] if noise_sigma is not None else [])
    )
    C = cov(theta)
    dC = jax.jacfwd(cov)(theta)  # (n, n, p)
    Ci = jnp.linalg.inv(C)
    M = jnp.einsum("ij,jkp->ikp", Ci, dC)
    info = 0.5 * jnp.einsum("ijp,jiq->pq", M, M)
    return float(jnp.linalg.inv(info)[0, 0])


def time_single() -> float:
    m = bd.models.FBM()
    tr = m.simulate(seed=1, params={"alpha": 0.5, "D": 0.2}, n_steps=200, dt=0.05, dim=2)[0]
    with _common.timer() as t:
        idata = bd.sample(m, tr, draws=1000, tune=1000, chains=4, seed=0, progress=False)
    attrs = idata.posterior.attrs
    row = {
        "wall s (incl. compilation)": t.seconds,
        "target s": 10,
        "max R-hat": attrs["max_r_hat"],
        "min bulk ESS": attrs["min_ess_bulk"],
        "divergences": attrs["divergences"],
    }
    _common.print_table(
        [row],
        "Table 1: one 2-D FBM track, 200 steps, NUTS 4 chains x 1000 draws + 1000 warm-up",
        formats={"wall s (incl. compilation)": ".2f", "max R-hat": ".3f", "min bulk ESS": ".0f"},
    )
    return t.seconds


def time_many(n_tracks: int) -> float:
    m = bd.models.FBM()
    rng = np.random.default_rng(2)
    alphas = rng.uniform(0.3, 1.7, n_tracks)
    ts = m.simulate(
        seed=2, params={"alpha": alphas, "D": 0.5}, n_steps=100, dt=0.05, n_tracks=n_tracks
    )
    with _common.timer() as t, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = bd.sample_many(m, ts, draws=500, tune=1000, chains=2, seed=0, progress=False)
    rh = bd.diagnostics(idata)
    row = {
        "tracks": n_tracks,
        "wall s": t.seconds,
        "s / track": t.seconds / n_tracks,
        "target s / track": 1,
        "tracks with R-hat > 1.01": int(rh.groupby("track").r_hat.max().gt(1.01).sum()),
    }
    _common.print_table(
        [row],
        f"Table 2: sample_many, {n_tracks} 1-D FBM tracks of 100 steps, "
        "2 chains x 500 draws + 1000 warm-up",
        formats={"wall s": ".1f", "s / track": ".3f"},
    )
    return t.seconds


def accuracy(n_tracks: int, settings) -> None:
    rows = []
    for n, snr in settings:
        noise = snr is not None
        m = bd.models.FBM(noise=noise)
        rng = np.random.default_rng(100 + n)
        alphas = rng.uniform(0.3, 1.7, n_tracks)
        sig = 0.5 if noise else None  # sqrt(D dt^alpha) / SNR with D = dt = 1, SNR = 2
        params = {"alpha": alphas, "D": 1.0} | ({"sigma": sig} if noise else {})
        ts = m.simulate(seed=n, params=params, n_steps=n, dt=1.0, n_tracks=n_tracks)
        with _common.timer() as t, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = bd.sample_many(m, ts, draws=500, tune=500, chains=2, seed=1, progress=False)
        post = idata.posterior.alpha.values.reshape(-1, n_tracks)
        mean = post.mean(0)
        lo, hi = np.quantile(post, [0.05, 0.95], axis=0)
        cover = np.mean((alphas >= lo) & (alphas <= hi))
        rmse = np.sqrt(np.mean((mean - alphas) ** 2))
        crb = np.sqrt(np.mean([fisher_bound_alpha(a, n, sig) for a in alphas]))
        rows.append(
            {
                "n": n,
                "noise": "SNR 2" if noise else "none",
                "RMSE": rmse,
                "CRB sd": crb,
                "RMSE/CRB": rmse / crb,
                "90% coverage": cover,
                "sec/track": t.seconds / n_tracks,
            }
        )
        _common.progress(f"  n = {n}, noise {rows[-1]['noise']}: done")
    _common.print_table(
        rows,
        f"Table 3: accuracy of the posterior mean of alpha ({n_tracks} 1-D tracks per row, "
        "alpha ~ U(0.3, 1.7), D = 1, dt = 1)",
        fmt=".3f",
        formats={"RMSE": ".4f", "CRB sd": ".4f"},
        note="Targets (n = 100, no noise): RMSE/CRB <= 1.10; 90% coverage in 0.87-0.93.",
    )


def main() -> None:
    ap = _common.parser(__doc__, quick={"n_tracks": 20, "many": 20})
    ap.add_argument("--n-tracks", type=int, default=500)
    ap.add_argument("--many", type=int, default=1000)
    ap.add_argument(
        "--settings",
        default="100,50,500,100n",
        help="accuracy rows: track lengths, suffix n for localization noise at SNR 2",
    )
    ap.add_argument("--skip", default="", help="comma list of tables to skip: single,many,accuracy")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    if "single" not in skip:
        time_single()
    if "many" not in skip:
        time_many(a.many)
    if "accuracy" not in skip:
        settings = [(int(x.rstrip("n")), 2 if x.endswith("n") else None)
                    for x in a.settings.split(",")]  # fmt: skip
        accuracy(a.n_tracks, settings)


if __name__ == "__main__":
    main()
