"""Posterior recovery of D and k for the Langevin (OU) model, with and without noise.

For each configuration, ``--tracks`` tracks are simulated with parameters drawn
from the priors the model is fitted with (D ~ LogUniform(0.05, 0.5) µm²/s,
k ~ LogUniform(0.5, 5) /s, i.e. relaxation times of 4 to 40 frames at
dt = 0.05 s, sigma ~ LogUniform(0.01, 0.05) µm; 2-D, 200 steps; trap centre
with its default stationary prior). In that setting a Bayesian central 90%
interval covers the truth with probability exactly 0.90, so the coverage
measured over the tracks tests the likelihood, the simulator and the sampler
together: target 0.85-0.95 (the binomial standard error with 200 tracks is
0.021). Posteriors come from ``bd.sample_many`` (NUTS).

Run::

    python benchmarks/langevin.py               # 200 tracks, 2 chains x 300 draws
    python benchmarks/langevin.py --tracks 50   # quicker, noisier
    python benchmarks/langevin.py --quick       # smoke run: 4 tracks, 2 chains x 100 draws
"""

from __future__ import annotations

import warnings

import _common
import numpy as np
import numpyro.distributions as dist

import bayesdiff as bd

PRIORS = {
    "D": dist.LogUniform(0.05, 0.5),
    "k": dist.LogUniform(0.5, 5.0),
    "sigma": dist.LogUniform(0.01, 0.05),
}
DT, N_STEPS, DIM = 0.05, 200, 2
QUICK = {"tracks": 4, "draws": 100, "tune": 100}  # --quick: a smoke run


def log_uniform(rng, d, n):
    lo, hi = float(d.base_dist.low), float(d.base_dist.high)
    return np.exp(rng.uniform(lo, hi, n))


def run(noise: bool, n_tracks: int, draws: int, tune: int, chains: int, seed: int) -> list[dict]:
    priors = {p: PRIORS[p] for p in ("D", "k", "sigma") if noise or p != "sigma"}
    model = bd.models.Langevin(noise=noise, priors=priors)
    rng = np.random.default_rng(seed)
    truth = {p: log_uniform(rng, d, n_tracks) for p, d in priors.items()}
    truth["c"] = rng.normal(0.0, 5.0, (n_tracks, DIM))  # anywhere in the field of view
    tracks = model.simulate(seed, truth, N_STEPS, DT, dim=DIM, n_tracks=n_tracks)
    with _common.timer() as t, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = bd.sample_many(model, tracks, draws=draws, tune=tune, chains=chains, seed=seed,
                               progress=False)  # fmt: skip
    post = idata.posterior
    rows = []
    for p in ("D", "k") + (("sigma",) if noise else ()):
        a = post[p].transpose("track", "chain", "draw").values.reshape(n_tracks, -1)
        lo, med, hi = np.quantile(a, [0.05, 0.5, 0.95], axis=1)
        cover = (lo <= truth[p]) & (truth[p] <= hi)
        rows.append({
            "model": model.name, "param": p, "tracks": n_tracks,
            "coverage_90": cover.mean(), "se_at_0.90": np.sqrt(0.09 / n_tracks),
            "median_rel_err": float(np.median(np.abs(med / truth[p] - 1))),
            "rel_width_90": float(np.median((hi - lo) / truth[p])),
            "divergences": int(idata.sample_stats["diverging"].values.sum()),
            "seconds": t.seconds,
        })  # fmt: skip
    return rows


def main() -> None:
    ap = _common.parser(__doc__, tracks=200, draws=300, tune=300, chains=2, seed=0, quick=QUICK)
    a = ap.parse_args()
    rows = []
    for noise in (False, True):
        rows += run(noise, a.tracks, a.draws, a.tune, a.chains, a.seed)
    title = (
        f"Langevin posterior recovery: {DIM}-D, {N_STEPS} steps, dt = {DT} s, {a.chains} "
        f"chains x {a.draws} draws ({a.tune} tune); target coverage 0.85-0.95"
    )
    _common.print_table(rows, title, fmt=".3f")


if __name__ == "__main__":
    main()
