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
    python benchmarks/model_check.py --quick      # smoke run: 4 tracks, 2 chains x 100 draws
"""

from __future__ import annotations

import warnings

import _common
import numpy as np
import numpyro.distributions as dist
import pandas as pd

import bayesdiff as bd

DT, N_STEPS, DIM = 0.05, 200, 2
QUICK = {"tracks": 4, "draws": 100, "tune": 100}  # --quick: a smoke run
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
        with _common.timer() as t_fit:
            tracks = model.simulate(a.seed, truth, N_STEPS, DT, dim=DIM, n_tracks=n)
            idata = fit(model, tracks, a)
        _common.progress(f"  [{name}: fitted {n} tracks in {t_fit.seconds:.0f} s]")
        for method in ("sampled", "posterior"):
            with _common.timer() as t_check:
                df = checks(model, tracks, idata, method, a.seed)
            for tail, label in (("p_value", "lower"), ("p_value_upper", "upper")):
                frac = df.groupby("scale")[tail].apply(lambda p: float(np.mean(p < 0.05)))
                row = {"model": name, "method": method, "tail": label}
                row.update({f"n={s}": frac.get(s, np.nan) for s in SCALES})
                row.update(
                    {"tracks": n, "fit_s": round(t_fit.seconds), "check_s": round(t_check.seconds)}
                )
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
    ap = _common.parser(__doc__, tracks=200, draws=300, tune=300, chains=2, seed=0, quick=QUICK)
    ap.add_argument("--only", choices=["uniformity", "power"], default=None)
    ap.add_argument("--models", default="bm,fbm,langevin", help="uniformity: which models")
    a = ap.parse_args()
    print(f"model check: {DIM}-D tracks, {N_STEPS} steps, dt = {DT} s, 100 replicates, "
          f"{a.chains} chains x {a.draws} draws ({a.tune} tune)")  # fmt: skip
    if a.only in (None, "uniformity"):
        title = "fraction of tracks with p < 0.05 (correct model; target 0.02-0.09)"
        _common.print_table(uniformity(a), title, fmt=".3f")
    if a.only in (None, "power"):
        title = "power: fraction of tracks with p < 0.05 at some scale n >= 2 (target >= 0.80)"
        _common.print_table(power(a), title, fmt=".3f")


if __name__ == "__main__":
    main()
