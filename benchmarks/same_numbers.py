"""Same seed, same numbers: fixed-seed results of the public API, saved or checked.

Runs ``sample`` (NUTS and grid), ``sample_many``, ``evidence`` (quadrature,
importance, bridge), ``compare``, ``segment``, ``neural`` ``predict`` and the
calibration metrics and a small study on fixed simulated tracks, and either
saves every number to an ``.npz`` file or compares them with a saved file and
prints one table row per result (largest absolute difference, and whether it
is identical).

Run: ``python benchmarks/same_numbers.py --save before.npz`` on one commit,
then ``python benchmarks/same_numbers.py --check before.npz`` on another.
"""

from __future__ import annotations

import math
import sys
import warnings

import _common
import numpy as np
import pandas as pd

import bayesdiff as bd


def _tracks():
    fbm = bd.models.FBM(noise=True)
    ts = fbm.simulate(
        seed=3, params={"alpha": 0.7, "D": 0.3, "sigma": 0.05}, n_steps=60, dt=0.05, dim=2,
        n_tracks=3,
    )  # fmt: skip
    sw = bd.models.Switching(n_states=2)
    sw_ts = sw.simulate(
        seed=4, params={"D": np.array([0.02, 0.5]), "P": np.array([[0.95, 0.05], [0.05, 0.95]])},
        n_steps=80, dt=0.05, dim=2, n_tracks=2,
    )  # fmt: skip
    return ts, sw_ts


def _posterior(idata, names) -> dict[str, np.ndarray]:
    return {f"{k}": np.asarray(idata.posterior[k]) for k in names}


def run() -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    ts, sw_ts = _tracks()
    fbm = bd.models.FBM(noise=True)
    bm = bd.models.Brownian()
    kw = {"draws": 60, "tune": 60, "chains": 2, "seed": 0, "progress": False, "warn": False}

    idata = bd.sample(fbm, ts[0], **kw)
    for k, v in _posterior(idata, fbm.param_names).items():
        out[f"sample.{k}"] = v
    out["sample.loglik"] = np.asarray(idata.log_likelihood["obs"])

    grid = bd.sample(fbm, ts[0], method="grid", draws=50, chains=2, seed=0, warn=False)
    for k, v in _posterior(grid, fbm.param_names).items():
        out[f"grid.{k}"] = v

    many = bd.sample_many(bm, ts, **kw)
    out["sample_many.D"] = np.asarray(many.posterior["D"])

    for method in ("quadrature", "importance", "laplace"):
        ev = bd.evidence(fbm, ts[1], method=method, seed=0)
        out[f"evidence.{method}"] = np.array([ev.log_z, ev.log_z_err])
    ev = bd.evidence(bm, ts[1], method="bridge", seed=0, draws=200, tune=200, chains=2)
    out["evidence.bridge"] = np.array([ev.log_z, ev.log_z_err])
    lv = bd.models.Langevin()
    ev = bd.evidence(lv, ts[2], method="auto", seed=0)
    out["evidence.langevin_auto"] = np.array([ev.log_z, ev.log_z_err])

    table = bd.compare({"bm": bm, "fbm": bd.models.FBM(), "langevin": lv}, ts[2], seed=0)
    for col in table.columns:
        if pd.api.types.is_numeric_dtype(table[col]) and "second" not in col:
            out[f"compare.{col}"] = table[col].to_numpy(float)

    sw = bd.models.Switching(n_states=2)
    sw_idata = bd.sample(sw, sw_ts[0], **kw)
    for k, v in _posterior(sw_idata, sw.param_names).items():
        out[f"switching.{k}"] = v
    seg = bd.segment(sw, sw_ts[0], sw_idata)
    out["segment.state_probs"] = np.asarray(seg.state_probs)
    out["segment.changepoints"] = np.asarray(seg.changepoints, float)

    net = bd.neural.default_ensemble()
    pred = net.predict(ts)
    for col in pred.columns:
        if pd.api.types.is_numeric_dtype(pred[col]):
            out[f"predict.{col}"] = pred[col].to_numpy(float)

    cal = bd.calibration
    rng = np.random.default_rng(0)
    truth = rng.normal(size=40)
    draws = truth[None, :] + rng.normal(size=(200, 40)) * 1.1
    mean, sd = draws.mean(0), draws.std(0)
    out["cal.coverage"] = np.asarray(cal.coverage(draws, truth))
    out["cal.coverage_gaussian"] = np.asarray(cal.coverage_gaussian(mean, sd, truth))
    out["cal.ence"] = np.array([cal.ence(mean, sd, truth).ence])
    out["cal.sbc_ranks"] = np.asarray(cal.sbc_ranks(draws, truth), float)
    out["cal.crps"] = np.asarray(cal.crps_gaussian(mean, sd, truth))
    res = cal.study([cal.MSDFit()], "fbm", lengths=[30], n_tracks=6, seed=1, progress=False)
    for col in ("mae", "rmse", "cov90", "ence"):
        out[f"study.{col}"] = res.table[col].to_numpy(float)
    return out


def main() -> int:
    ap = _common.parser(__doc__)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", help="write the numbers to this .npz file")
    g.add_argument("--check", help="compare the numbers with this .npz file")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    out = run()
    if args.save:
        np.savez(args.save, **out)
        print(f"saved {len(out)} results to {args.save}")
        return 0
    ref = dict(np.load(args.check))
    rows = []
    for k in sorted(set(ref) | set(out)):
        if k not in ref or k not in out:
            rows.append({"result": k, "shape": "missing", "identical": "NO"})
            continue
        a, b = ref[k], out[k]
        same = a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
        diff = float(np.nanmax(np.abs(a - b))) if a.shape == b.shape and a.size else math.nan
        row = {"result": k, "shape": str(a.shape), "max |diff|": diff}
        rows.append(row | {"identical": "yes" if same else "NO"})
    n_bad = sum(r["identical"] == "NO" for r in rows)
    _common.print_table(
        rows, f"same numbers as {args.check}", fmt=".3g", note=f"{len(ref)} results, {n_bad} differ"
    )
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
