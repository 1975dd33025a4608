"""Calibration and power of the information-content model check (``bd.model_check``).

Uniformity: for each correctly specified model (Brownian, FBM, Langevin),
``--tracks`` tracks are simulated with parameters drawn from the priors the
model is fitted with, fitted with ``bd.sample_many`` and checked at scales
1..32 (scales leaving fewer than 8 coarse increments are skipped: with 200
steps, 32 is). Printed: the fraction of tracks with p < 0.05 at each scale, for
the lower tail (``p_value``), the upper tail (``p_value_upper``), and both
methods (``sampled``, the default, and ``posterior``, the posterior predictive
p-value of Krog & Lomholt). Target for a calibrated check: 0.02-0.09 (binomial
standard error at 0.05 with 200 tracks: 0.015).

Power: FBM tracks with alpha = 0.5 (200 steps) and Langevin tracks with a
relaxation time 1/k of 20 frames (200 and 1000 steps), all checked with the
Brownian model. Printed: the fraction of tracks with p < 0.05 at some coarse
scale (n >= 2), per tail and two-sided (target >= 0.80).

Run::

    python benchmarks/model_check.py              # 200 tracks per model
    python benchmarks/model_check.py --tracks 50  # quicker, noisier
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import numpyro.distributions as dist
import pandas as pd

import bayesdiff as bd

DT, N_STEPS, DIM = 0.05, 200, 2
SCALES = (1, 2, 4, 8, 16, 32)


def fit(model, tracks, a):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bd.sample_many(model, tracks, draws=a.draws, tune=a.tune, chains=a.chains,
                              seed=a.seed, progress=False)  # fmt: skip


def checks(model, tracks, idata, method, seed):
    out = []
    for i, t in enumerate(tracks):
        df = bd.model_check(model, t, idata, scales=SCALES, n_replicates=100, seed=seed + i,
                            method=method)  # fmt: skip
        out.append(df.assign(track=i))
    return pd.concat(out, ignore_index=True)


def uniformity(a) -> pd.DataFrame:
    rng = np.random.default_rng(a.seed)
    n = a.tracks
    D = np.exp(rng.uniform(np.log(0.05), np.log(0.5), n))
    prior_D = dist.LogUniform(0.05, 0.5)
    cases = {
        "bm": (bd.models.Brownian(priors={"D": prior_D}), {"D": D}),
        "fbm": (
            bd.models.FBM(priors={"D": prior_D, "alpha": dist.Uniform(0.3, 1.5)}),
            {"D": D, "alpha": rng.uniform(0.3, 1.5, n)},
        ),
        "langevin": (
            bd.models.Langevin(priors={"D": prior_D, "k": dist.LogUniform(0.5, 5.0)}),
            {"D": D, "k": np.exp(rng.uniform(np.log(0.5), np.log(5.0), n)),
             "c": rng.normal(0, 5, (n, DIM))},
        ),
    }  # fmt: skip
    rows = []
    for name, (model, truth) in cases.items():
        if name not in a.models.split(","):
            continue
        t0 = time.perf_counter()
        tracks = model.simulate(a.seed, truth, N_STEPS, DT, dim=DIM, n_tracks=n)
        idata = fit(model, tracks, a)
        t_fit = time.perf_counter() - t0
        print(f"  [{name}: fitted {n} tracks in {t_fit:.0f} s]", file=sys.stderr, flush=True)
        for method in ("sampled", "posterior"):
            t1 = time.perf_counter()
            df = checks(model, tracks, idata, method, a.seed)
            t_check = time.perf_counter() - t1
            for tail, label in (("p_value", "lower"), ("p_value_upper", "upper")):
                frac = df.groupby("scale")[tail].apply(lambda p: float(np.mean(p < 0.05)))
                row = {"model": name, "method": method, "tail": label}
                row.update({f"n={s}": frac.get(s, np.nan) for s in SCALES})
                row.update({"tracks": n, "fit_s": round(t_fit), "check_s": round(t_check)})
                rows.append(row)
    return pd.DataFrame(rows)


def power(a) -> pd.DataFrame:
    n = a.tracks
    bm = bd.models.Brownian()
    fbm, lv = bd.models.FBM(), bd.models.Langevin()
    k = 1.0 / (20 * DT)  # relaxation time 20 frames
    cases = [
        ("fbm alpha=0.5", fbm, {"alpha": 0.5, "D": 0.1}, N_STEPS),
        ("langevin 1/k=20 frames", lv, {"D": 0.1, "k": k, "c": [0.0, 0.0]}, N_STEPS),
        ("langevin 1/k=20 frames", lv, {"D": 0.1, "k": k, "c": [0.0, 0.0]}, 1000),
    ]
    rows = []
    for i, (name, model, truth, n_steps) in enumerate(cases):
        tracks = model.simulate(a.seed + 1 + i, truth, n_steps, DT, dim=DIM, n_tracks=n)
        idata = fit(bm, tracks, a)
        df = checks(bm, tracks, idata, "sampled", a.seed)
        coarse = df[df["scale"] >= 2].groupby("track")
        row = {"truth": name, "steps": n_steps, "checked with": "bm", "tracks": n}
        for tail in ("p_value", "p_value_upper", "p_value_two_sided"):
            row[f"{tail} < 0.05"] = float((coarse[tail].min() < 0.05).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=200)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--tune", type=int, default=300)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=["uniformity", "power"], default=None)
    ap.add_argument("--models", default="bm,fbm,langevin", help="uniformity: which models")
    a = ap.parse_args()
    fmt = {"float_format": lambda x: f"{x:.3f}", "index": False}
    print(f"model check: {DIM}-D tracks, {N_STEPS} steps, dt = {DT} s, 100 replicates, "
          f"{a.chains} chains x {a.draws} draws ({a.tune} tune)")  # fmt: skip
    if a.only in (None, "uniformity"):
        print("\nfraction of tracks with p < 0.05 (correct model; target 0.02-0.09)")
        print(uniformity(a).to_string(**fmt))
    if a.only in (None, "power"):
        print("\npower: fraction of tracks with p < 0.05 at some scale n >= 2 (target >= 0.80)")
        print(power(a).to_string(**fmt))


if __name__ == "__main__":
    main()
