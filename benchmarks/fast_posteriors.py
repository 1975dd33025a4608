"""Fast posteriors and evidence beyond FBM (issue 16): accuracy against long NUTS, speed.

Prints two tables:

(accuracy) for each model, ``--tracks`` simulated 200-step 2-D tracks: the fast
    path (``bd.sample(method="auto")``: exact grid or checked importance
    sampling, NUTS where neither check passes) against a long NUTS run
    (``--draws`` x ``--chains`` after ``--tune``): for every scalar parameter
    (log scale for positive ones) the difference of posterior means and of
    posterior sds in units of the NUTS posterior sd (target: < 0.1), and the
    fast path's log evidence against bridge sampling on the long NUTS draws
    (target: within 0.1 nats); also the 5 % and 95 % quantiles, and the
    reference's own Monte Carlo error of its sd (a posterior with a thin far
    tail -- the Langevin ``k -> 0`` plateau -- has an sd that a NUTS run
    estimates poorly). Per-track rows go to ``--out`` as they finish,
    so an interrupted run resumes.
(speed) the posterior of one 200-step 2-D track per model (first call, which
    compiles, and the median of the next ``--repeat`` tracks), ``sample_many``
    with ``method="auto"`` on ``--many`` tracks (seconds per track, and per
    1,000 tracks), and the seven-model ``bd.compare`` of a 200-step track.

Usage::

    python benchmarks/fast_posteriors.py --part speed
    python benchmarks/fast_posteriors.py --part accuracy --tracks 50
    python benchmarks/fast_posteriors.py --quick   # smoke run of both

Simulation priors (narrower than the models' defaults, so that tracks move
and are not pure noise; dt = 0.05 s): Langevin + noise D ~ LogUniform(0.01, 1)
µm²/s, k ~ LogUniform(0.5, 20) 1/s, c = 0, sigma ~ LogUniform(0.01, 0.1) µm;
Lévy walk alpha ~ Uniform(1.1, 1.9), v ~ LogUniform(0.5, 5) µm/s, sigma ~
LogUniform(0.005, 0.05) µm; two-state switching D_1 ~ LogUniform(0.005,
0.05), D_2 ~ LogUniform(0.1, 1) µm²/s, stay probabilities ~ Uniform(0.9,
0.99); FBM + noise alpha ~ Uniform(0.2, 1.8), D ~ LogUniform(0.01, 1),
sigma ~ LogUniform(0.01, 0.1). The analysis uses each model's default priors.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

import _common
import numpy as np
import pandas as pd

import bayesdiff as bd

DT = 0.05
N_STEPS = 200
MODELS = ("langevin+noise", "levy", "switch2", "fbm+noise")
CANDIDATES = "bm,bm+drift,bm+noise,fbm,fbm+noise,langevin,levy"


def log_uniform(rng, lo, hi):
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def simulation_params(name: str, rng: np.random.Generator) -> dict:
    """One parameter set from the simulation prior of the module docstring."""
    if name == "langevin+noise":
        return {
            "D": log_uniform(rng, 0.01, 1.0),
            "k": log_uniform(rng, 0.5, 20.0),
            "c": np.zeros(2),
            "sigma": log_uniform(rng, 0.01, 0.1),
        }
    if name == "levy":
        return {
            "alpha": float(rng.uniform(1.1, 1.9)),
            "v": log_uniform(rng, 0.5, 5.0),
            "sigma": log_uniform(rng, 0.005, 0.05),
        }
    if name == "switch2":
        stay = rng.uniform(0.9, 0.99, 2)
        return {
            "D": np.array([log_uniform(rng, 0.005, 0.05), log_uniform(rng, 0.1, 1.0)]),
            "P": np.array([[stay[0], 1 - stay[0]], [1 - stay[1], stay[1]]]),
        }
    return {
        "alpha": float(rng.uniform(0.2, 1.8)),
        "D": log_uniform(rng, 0.01, 1.0),
        "sigma": log_uniform(rng, 0.01, 0.1),
    }


def simulate(name: str, seed: int, n: int = 1) -> bd.TrackSet:
    """``n`` tracks of ``name``, each from its own simulation-prior draw."""
    model = bd.models.from_name(name)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = simulation_params(name, rng)
        t = model.simulate(seed=seed * 1000 + i, params=p, n_steps=N_STEPS, dt=DT, dim=2)[0]
        out.append(dataclasses.replace(t, id=i))
    return bd.TrackSet(out)


def flat_draws(idata, model) -> dict[str, np.ndarray]:
    """Draws (chain, draw) of every scalar parameter: log scale for the positive ones
    (D, k, sigma, v of the Lévy walk), the stay probabilities ``P[i,i]`` of a
    transition matrix."""
    out = {}
    for name in model.param_names:
        x = np.asarray(idata.posterior[name].values, float)
        if name == "P":
            cols = {f"P[{i},{i}]": x[:, :, i, i] for i in range(x.shape[2])}
        elif x.ndim == 2:
            cols = {name: x}
        else:
            cols = {f"{name}[{j}]": x[:, :, j] for j in range(x.shape[2])}
        for label, col in cols.items():
            if name != "P" and name != "c" and np.all(col > 0):
                label, col = f"log {label}", np.log(col)
            out[label] = col
    return out


def compare_draws(fast: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """The fast path's posterior mean, sd and 5 % / 95 % quantiles against the
    reference's, in units of the reference's sd; and the reference's own Monte
    Carlo error of its sd (ArviZ ``mcse(method="sd")``), relative to that sd."""
    import arviz as az

    f, r = fast.ravel(), ref.ravel()
    s = r.std()
    qf, qr = np.quantile(f, [0.05, 0.95]), np.quantile(r, [0.05, 0.95])
    return {
        "mean_err_sd": abs(f.mean() - r.mean()) / s,
        "sd_err_sd": abs(f.std() - s) / s,
        "q05_err_sd": abs(qf[0] - qr[0]) / s,
        "q95_err_sd": abs(qf[1] - qr[1]) / s,
        "ref_mcse_sd_rel": float(az.mcse(ref, method="sd")) / s,
    }


def part_accuracy(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.models.split(","):
        model = bd.models.from_name(name)
        path = out / f"accuracy_{name.replace('+', '_')}.csv"
        done = pd.read_csv(path) if path.exists() else pd.DataFrame()
        have = set(done["track"]) if len(done) else set()
        tracks = simulate(name, args.seed + 11, args.tracks)
        new = []
        for i, t in enumerate(tracks):
            if i in have:
                continue
            _common.progress(f"{name}: track {i + 1}/{len(tracks)}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with _common.timer() as tf:
                    fast = bd.sample(model, t, method="auto", draws=2000, chains=2, seed=i,
                                     progress=False, warn=False)  # fmt: skip
                nuts = bd.sample(model, t, draws=args.draws, tune=args.tune, chains=args.chains,
                                 seed=i, progress=False, warn=False)  # fmt: skip
                ref = bd.evidence(model, t, method="bridge", idata=nuts)
            df, dn = flat_draws(fast, model), flat_draws(nuts, model)
            fast_z = fast.attrs.get("log_evidence", math.nan)
            if not np.isfinite(fast_z):  # the NUTS fallback ran: its evidence is bridge's
                fast_z = bd.evidence(model, t, method="bridge", idata=fast).log_z
            for p, ref_draws in dn.items():
                new.append(
                    {
                        "track": i,
                        "parameter": p,
                        "method": fast.attrs["method"],
                        "fast_seconds": tf.seconds,
                        **compare_draws(df[p], ref_draws),
                        "log_z_fast": fast_z,
                        "log_z_ref": ref.log_z,
                        "log_z_ref_err": ref.log_z_err,
                        "nuts_min_ess": float(bd.diagnostics(nuts)["ess_bulk"].min()),
                    }
                )
            pd.concat([done, pd.DataFrame(new)], ignore_index=True).to_csv(path, index=False)
        table = pd.concat([done, pd.DataFrame(new)], ignore_index=True)
        per_track = table.groupby("track").first()
        dz = (per_track["log_z_fast"] - per_track["log_z_ref"]).abs()
        counts = per_track["method"].value_counts()
        rows.append(
            {
                "model": name,
                "tracks": len(per_track),
                "methods": ", ".join(f"{m} {n}" for m, n in counts.items()),
                "mean within 0.1 sd": f"{np.mean(table['mean_err_sd'] < 0.1):.0%}",
                "max mean err (sd)": table["mean_err_sd"].max(),
                "sd within 0.1 sd": f"{np.mean(table['sd_err_sd'] < 0.1):.0%}",
                "max sd err (sd)": table["sd_err_sd"].max(),
                "5/95% quantiles within 0.1 sd": (
                    f"{np.mean(np.maximum(table['q05_err_sd'], table['q95_err_sd']) < 0.1):.0%}"
                ),
                "ref sd mcse (median)": table["ref_mcse_sd_rel"].median(),
                "log Z within 0.1": f"{np.mean(dz < 0.1):.0%}",
                "max |dlog Z|": dz.max(),
                "median ref err": per_track["log_z_ref_err"].median(),
            }
        )
    _common.print_table(
        rows,
        "(accuracy) fast path against long NUTS, 200-step 2-D tracks",
        note=(
            f"NUTS reference: {args.chains} x {args.draws} draws after {args.tune} warm-up; "
            "log Z reference: bridge sampling on those draws (its own error in the last column)"
        ),
    )


def part_speed(args) -> None:
    rows = []
    for name in args.models.split(","):
        model = bd.models.from_name(name)
        tracks = simulate(name, args.seed + 5, args.repeat + 1)
        times, used = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for t in tracks:
                with _common.timer() as tm:
                    idata = bd.sample(model, t, method="auto", progress=False, warn=False)
                times.append(tm.seconds)
                used.append(idata.attrs["method"])
            many = simulate(name, args.seed + 6, args.many)
            bd.sample_many(
                model, bd.TrackSet(list(many)[:2]), method="auto", progress=False, warn=False
            )
            with _common.timer() as tm:
                res = bd.sample_many(model, many, method="auto", progress=False, warn=False)
        per = tm.seconds / len(many)
        rows.append(
            {
                "model": name,
                "first call s (compiles)": times[0],
                f"posterior s (median of {args.repeat})": float(np.median(times[1:])),
                "methods": ", ".join(sorted(set(used[1:]))),
                f"sample_many s/track ({len(many)})": per,
                "per 1000 tracks (min)": per * 1000 / 60,
                "sample_many methods": str(res.attrs.get("methods")),
            }
        )
        _common.progress(str(rows[-1]))
    _common.print_table(
        rows, "(speed) posteriors of 200-step 2-D tracks, method='auto' (4 chains x 1000 draws)"
    )
    crow = []
    tracks = simulate("fbm+noise", args.seed + 7, 2)
    for label, t in zip(("first call (compiles)", "second track"), tracks, strict=True):
        with _common.timer() as tm, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = bd.compare(CANDIDATES, t, loo=False, progress=False)
        used = ", ".join(f"{m}:{meth}" for m, meth in zip(table["model"], table["method"]))
        crow.append({"bd.compare, 7 models, 200 steps 2-D": label, "seconds": tm.seconds,
                     "methods": used})  # fmt: skip
    _common.print_table(crow, "(speed) the seven-model comparison (no LOO)")


def main() -> None:
    ap = _common.parser(
        __doc__,
        draws=2000,
        tune=1000,
        chains=4,
        seed=0,
        tracks=50,
        quick={"tracks": 2, "draws": 300, "tune": 300, "many": 4, "repeat": 2},
    )
    ap.add_argument("--part", choices=["accuracy", "speed", "all"], default="all")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--many", type=int, default=50, help="tracks of the sample_many timing")
    ap.add_argument("--repeat", type=int, default=5, help="timed single-track posteriors")
    ap.add_argument("--out", default="benchmarks/_out/fast_posteriors")
    args = ap.parse_args()
    if args.part in ("speed", "all"):
        part_speed(args)
    if args.part in ("accuracy", "all"):
        part_accuracy(args)


if __name__ == "__main__":
    main()
