"""Evidence and model selection benchmarks (issue 7).

Prints three tables:

(a) agreement between evidence methods on FBM + noise + drift, Langevin,
    Lévy walk and 2-state switching tracks;
(b) model-selection confusion matrices: tracks simulated from Brownian,
    Brownian + drift, Brownian + noise, FBM, FBM + noise, Langevin and Lévy
    walk (2D), every track compared across the same seven models with their
    default priors; one matrix per track length;
(c) speed: ``bd.evidence`` for FBM + noise on a 200-step 2D track, the full
    seven-model ``bd.compare`` of such a track, and log Z error against time
    for every method on a track with a known (closed-form) evidence.

Usage::

    python benchmarks/evidence.py --part a
    python benchmarks/evidence.py --part b --n-tracks 20 --lengths 50,100,200,500
    python benchmarks/evidence.py --part c
    python benchmarks/evidence.py --part b --tracks 200:200 --generators bm,fbm  # one share
    python benchmarks/evidence.py --part b --tracks 200:200 --report  # print what is done
    python benchmarks/evidence.py --part b --tracks 200:20 --priors simulation  # Bayes classifier
    python benchmarks/evidence.py --part b --tracks 200:200 --report --limit 20  # same tracks
    python benchmarks/evidence.py --quick  # smoke run: small bridge sampling, few tracks

Part (b) writes its per-track results under ``--out`` (default
``benchmarks/_out/evidence``) through ``bd.compare_many``, so an interrupted
run resumes where it stopped; the matrices are built from those per-track
files (the ``comparison.csv`` and ``summary.csv`` next to them describe only
the last round that ran).

Simulation prior of part (b). The analysis uses every model's default priors,
as a user would. The tracks are drawn from a narrower "simulation prior",
because the default priors span ranges (D over 7 decades, sigma up to 1 µm,
trap stiffness over 7 decades) where most tracks are pure noise or hardly
move, and a confusion matrix over those would measure nothing:
dt = 0.05 s; D ~ LogUniform(0.01, 1) µm²/s^alpha; alpha ~ Uniform(0, 2) (the
default); v ~ Normal(0, 1) µm/s per coordinate (the default); sigma ~
LogUniform(0.01, 0.1) µm; Langevin k ~ LogUniform(0.5, 20) 1/s with the
default stationary-centre prior; Lévy walk alpha ~ Uniform(1, 2) (default),
speed v ~ LogUniform(0.5, 5) µm/s, step noise sigma ~ LogUniform(0.005, 0.05) µm.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from pathlib import Path

import _common
import numpy as np
import numpyro.distributions as dist
import pandas as pd

import bayesdiff as bd
from bayesdiff.models import from_spec

DT = 0.05
CANDIDATES = "bm,bm+drift,bm+noise,fbm,fbm+noise,langevin,levy"
# pairs (true, chosen) where one model contains the other (a limit or a sub-model)
NESTED = {
    ("bm", "bm+drift"),
    ("bm", "bm+noise"),
    ("bm", "fbm"),
    ("bm", "fbm+noise"),
    ("bm", "langevin"),
    ("bm", "levy"),
    ("bm+noise", "fbm+noise"),
    ("bm+noise", "levy"),
    ("fbm", "fbm+noise"),
    ("bm+drift", "levy"),
    ("langevin", "fbm"),
    ("langevin", "fbm+noise"),
}
NESTED = NESTED | {(b, a) for a, b in NESTED}
# bridge sampling's NUTS settings: the measured ones, and those of a --quick smoke run
BRIDGE = {"draws": 1000, "tune": 1000, "chains": 4}
BRIDGE_QUICK = {"draws": 100, "tune": 100, "chains": 2}


def _sim_params(name: str, rng: np.random.Generator, k: int, dim: int = 2) -> dict:
    def logu(lo, hi):
        return np.exp(rng.uniform(math.log(lo), math.log(hi), k))

    p: dict = {"D": logu(0.01, 1.0)}
    if name.startswith("fbm"):
        p["alpha"] = rng.uniform(0.0, 2.0, k)
    if "drift" in name:
        p["v"] = rng.normal(0.0, 1.0, (k, dim))
    if "noise" in name:
        p["sigma"] = logu(0.01, 0.1)
    if name == "langevin":
        p["k"] = logu(0.5, 20.0)
        p["c"] = np.zeros(
            (k, dim)
        )  # start in the stationary state around c (the simulator's default)
    if name == "levy":
        p = {"alpha": rng.uniform(1.0, 2.0, k), "v": logu(0.5, 5.0), "sigma": logu(0.005, 0.05)}
    return p


def simulation_prior_models() -> dict:
    """The seven candidates with the simulation prior as their prior: with these, picking
    the most probable model is the Bayes classifier for the simulated tracks, so its
    accuracy is the highest any method can reach on them (up to log Z errors)."""
    D, v, sigma = dist.LogUniform(0.01, 1.0), dist.Normal(0.0, 1.0), dist.LogUniform(0.01, 0.1)
    m = bd.models
    return {
        "bm": m.Brownian(priors={"D": D}),
        "bm+drift": m.Brownian(drift=True, priors={"D": D, "v": v}),
        "bm+noise": m.Brownian(noise=True, priors={"D": D, "sigma": sigma}),
        "fbm": m.FBM(priors={"D": D}),
        "fbm+noise": m.FBM(noise=True, priors={"D": D, "sigma": sigma}),
        "langevin": m.Langevin(priors={"D": D, "k": dist.LogUniform(0.5, 20.0)}),
        "levy": m.LevyWalk(
            priors={"v": dist.LogUniform(0.5, 5.0), "sigma": dist.LogUniform(0.005, 0.05)}
        ),
    }


def simulate(name: str, n_steps: int, n_tracks: int, seed: int) -> bd.TrackSet:
    model = from_spec(name)[name]
    rng = np.random.default_rng(seed)
    params = _sim_params(name, rng, n_tracks)
    return model.simulate(
        seed=seed, params=params, n_steps=n_steps, dt=DT, dim=2, n_tracks=n_tracks
    )


# -----------------------------------------------------------------------------
# the prior example of docs/evidence.md
# -----------------------------------------------------------------------------
def prior_example(seed: int = 0) -> pd.DataFrame:
    """How the evidence of one Brownian track moves when priors widen."""
    track = bd.models.Brownian().simulate(
        seed=seed + 11, params={"D": 0.1}, n_steps=200, dt=DT, dim=2
    )[0]
    cases = [
        ("Brownian(), D ~ LogUniform(1e-4, 1e3)", bd.models.Brownian()),
        ("D ~ LogUniform(1e-6, 1e5)", bd.models.Brownian(priors={"D": dist.LogUniform(1e-6, 1e5)})),
        ("Brownian(drift=True), v ~ Normal(0, 1)", bd.models.Brownian(drift=True)),
        (
            "Brownian(drift=True), v ~ Normal(0, 10)",
            bd.models.Brownian(drift=True, priors={"v": dist.Normal(0.0, 10.0)}),
        ),
        ("FBM(), alpha ~ Uniform(0, 2)", bd.models.FBM()),
        (
            "FBM(), alpha ~ Uniform(0.5, 1.5)",
            bd.models.FBM(priors={"alpha": dist.Uniform(0.5, 1.5)}),
        ),
    ]
    rows = []
    for label, m in cases:
        ev = bd.evidence(m, track)
        rows.append({"model and prior": label, "log_z": ev.log_z, "log_z_err": ev.log_z_err})
    df = pd.DataFrame(rows)
    df["change"] = df["log_z"] - df["log_z"].iloc[0]
    _common.print_table(
        df, "prior dependence: one Brownian track, 200 steps, 2D, D = 0.1, dt = 0.05"
    )
    return df


# -----------------------------------------------------------------------------
# (a) agreement between methods
# -----------------------------------------------------------------------------
def part_a(seed: int = 0, quick: bool = False) -> pd.DataFrame:
    cases = [
        (
            "fbm+drift+noise",
            bd.models.FBM(noise=True, drift=True),
            {"alpha": 0.7, "D": 0.1, "sigma": 0.03, "v": [0.2, -0.1]},
            200,
            ["quadrature", "bridge", "importance"],
        ),
        (
            "langevin",
            bd.models.Langevin(),
            {"D": 0.1, "k": 3.0, "c": [0.0, 0.0]},
            200,
            ["bridge", "importance"],
        ),
        (
            "levy",
            bd.models.LevyWalk(),
            {"alpha": 1.5, "v": 2.0, "sigma": 0.02},
            100,
            ["bridge", "importance"],
        ),
        (
            "switching2",
            bd.models.Switching(n_states=2),
            {"D": [0.03, 0.3], "P": [[0.95, 0.05], [0.05, 0.95]]},
            200,
            ["bridge", "importance"],
        ),
    ]
    rows = []
    for name, model, params, n, methods in cases:
        track = model.simulate(seed=seed + 1, params=params, n_steps=n, dt=DT, dim=2)[0]
        evs = {}
        for meth in methods:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kw = (BRIDGE_QUICK if quick else BRIDGE) if meth == "bridge" else {}
                if meth == "bridge" and name == "levy" and not quick:
                    kw = {"draws": 500, "tune": 500, "chains": 2}
                evs[meth] = bd.evidence(model, track, method=meth, seed=seed, **kw)
            e = evs[meth]
            print(
                f"  {name:16s} {meth:10s} log Z = {e.log_z:10.4f} ± {e.log_z_err:.3g}"
                f"  ({e.seconds:.1f} s)",
                flush=True,
            )
        ref = methods[0]
        for meth in methods[1:]:
            a, b = evs[ref], evs[meth]
            comb = math.hypot(a.log_z_err, b.log_z_err)
            diff = b.log_z - a.log_z
            rows.append(
                {
                    "model": name,
                    "n_steps": n,
                    "method_1": ref,
                    "log_z_1": a.log_z,
                    "err_1": a.log_z_err,
                    "s_1": a.seconds,
                    "method_2": meth,
                    "log_z_2": b.log_z,
                    "err_2": b.log_z_err,
                    "s_2": b.seconds,
                    "diff": diff,
                    "combined_err": comb,
                    "agree": abs(diff) <= max(0.3, 2 * comb),
                }
            )
    df = pd.DataFrame(rows)
    _common.print_table(
        df, "(a) agreement between evidence methods (agree: |diff| <= max(0.3, 2 x combined error))"
    )
    return df


# -----------------------------------------------------------------------------
# (b) confusion matrices
# -----------------------------------------------------------------------------
def part_b(
    counts: dict[int, int],
    out: Path,
    seed: int = 0,
    n_draws: int = 300,
    only: str | None = None,
    round_size: int = 25,
    report_only: bool = False,
    priors: str = "default",
    limit: int | None = None,
) -> dict:
    """``counts``: track length -> tracks per generating model. Langevin and
    Lévy-walk evidences by importance sampling (``n_draws`` draws, adapted if
    needed, no fallback to NUTS: the Lévy walk's HMM makes NUTS minutes per
    track).

    The tracks are compared in rounds of ``round_size`` tracks per generating
    model, so that a run stopped early still has every model equally
    represented; each finished track is on disk (``bd.compare_many``), a rerun
    resumes, and the matrices are printed from every finished track.
    ``only``: comma-separated generating models (to split the work between
    processes). ``report_only``: print the matrices of what is finished and
    compute nothing. ``priors="simulation"``: analyse with the simulation prior
    (:func:`simulation_prior_models`; results under ``out/simulation-priors``).
    ``limit``: report only the tracks numbered below it."""
    models = from_spec(CANDIDATES)
    if priors == "simulation":
        models, out = simulation_prior_models(), out / "simulation-priors"
    names = [g for g in models if not only or g in only.split(",")]
    method = {"langevin": "importance", "levy": "importance"}
    for n, n_tracks in counts.items():
        if report_only:
            break
        clock = _common.timer()
        sets = {
            g: simulate(g, n, n_tracks, seed=seed + 1000 * list(models).index(g) + n) for g in names
        }  # the seed does not depend on --generators
        for start in range(0, n_tracks, round_size):
            for g in names:
                bd.compare_many(
                    models,
                    sets[g][start : start + round_size],
                    out / f"n{n}" / g,
                    method=method,
                    loo=False,
                    seed=seed,
                    progress=False,
                    evidence_kw={"n_draws": n_draws},
                )
            print(
                f"  n={n}: {min(start + round_size, n_tracks)} of {n_tracks} tracks per model "
                f"done ({clock.seconds:.0f} s)",
                flush=True,
            )
    return report_b(counts, out, list(models), limit)


def report_b(counts: dict[int, int], out: Path, names: list[str], limit=None) -> dict:
    """Confusion matrices from the per-track results under ``out`` (tracks numbered
    below ``limit`` only, if given)."""
    results = {}
    for n in counts:
        files = sorted((out / f"n{n}").glob("*/tracks/*.csv"))
        if limit is not None:
            files = [f for f in files if int(f.stem) < limit]
        if not files:
            continue
        table = pd.concat(
            [pd.read_csv(f).assign(true=f.parent.parent.name) for f in files], ignore_index=True
        )
        chosen = table[table["chosen"].astype(bool)]
        cm = pd.crosstab(chosen["true"], chosen["model"]).reindex(
            index=names, columns=names, fill_value=0
        )
        acc = float(np.mean(chosen["true"] == chosen["model"]))
        wrong = chosen[chosen["true"] != chosen["model"]]
        pairs = zip(wrong["true"], wrong["model"], strict=True)
        nested = float(np.mean([p in NESTED for p in pairs])) if len(wrong) else float("nan")
        per_model = cm.sum(axis=1)
        cm_print = cm.copy()
        cm_print.insert(0, "true \\ chosen", cm.index)
        cm_print["tracks"] = per_model
        cm_print["correct"] = [cm.loc[g, g] / max(per_model[g], 1) for g in names]
        _common.print_table(
            cm_print,
            f"(b) confusion matrix, n = {n} steps, 2D, {per_model.min()}-{per_model.max()} "
            f"tracks per model: accuracy {acc:.1%}, {nested:.0%} of the errors between "
            "nested models",
        )
        secs = table.groupby(["true", "track"])["seconds"].sum()
        results[n] = {
            "n_steps": n,
            "tracks": int(per_model.sum()),
            "accuracy": acc,
            "accuracy_se": math.sqrt(acc * (1 - acc) / max(len(chosen), 1)),
            "errors_nested": nested,
            "s_per_track": float(secs.mean()),
        }
    _common.print_table(list(results.values()), "(b) model-selection accuracy by track length")
    return results


# -----------------------------------------------------------------------------
# (c) speed, and error against time
# -----------------------------------------------------------------------------
def _reference_bm_log_z(track, prior) -> float:
    """log Z of the Brownian model by adaptive 1-D quadrature over log D (SciPy)."""
    from scipy.integrate import quad
    from scipy.stats import norm

    x = track.increments
    tau = track.time_lags[:, None] * np.ones_like(x)

    def log_f(u):  # log [p(x | D) p(D) D] at D = e^u
        d = math.exp(u)
        ll = float(np.sum(norm.logpdf(x, scale=np.sqrt(2 * d * tau))))
        return ll + float(prior.log_prob(d)) + u

    grid = np.linspace(-12.0, 6.0, 2001)
    vals = np.array([log_f(u) for u in grid])
    peak, top = float(grid[np.argmax(vals)]), float(vals.max())
    val, _ = quad(lambda u: math.exp(log_f(u) - top), peak - 3, peak + 3, epsabs=0, epsrel=1e-12,
                  points=[peak], limit=200)  # fmt: skip
    return top + math.log(val)


def part_c(seed: int = 0, quick: bool = False) -> None:
    rows = []
    m = bd.models.FBM(noise=True)
    track = m.simulate(
        seed=seed + 7, params={"alpha": 0.6, "D": 0.1, "sigma": 0.03}, n_steps=200, dt=DT, dim=2
    )[0]
    for label in ("first call (compiles)", "second call"):
        with _common.timer() as t:
            ev = bd.evidence(m, track)
        rows.append(
            {
                "what": f"bd.evidence fbm+noise, 200 steps 2D, {label}",
                "seconds": t.seconds,
                "target_s": 5.0,
                "log_z": ev.log_z,
                "log_z_err": ev.log_z_err,
                "method": ev.method,
            }
        )
        print(rows[-1], flush=True)
    for loo in (False, True):
        with _common.timer() as t, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = bd.compare(CANDIDATES, track, loo=loo, progress=False)
        used = ", ".join(
            f"{m}:{meth} {sec:.0f}s"
            for m, meth, sec in zip(table["model"], table["method"], table["seconds"])
        )
        rows.append(
            {
                "what": f"bd.compare 7 models (auto), 200 steps 2D, loo={loo}",
                "seconds": t.seconds,
                "target_s": 60.0,
                "log_z": float(table["log_z"].iloc[0]),
                "log_z_err": float(table["log_z_err"].iloc[0]),
                "method": f"chosen {table.attrs['chosen']}; {used}",
            }
        )
        print(rows[-1], flush=True)
    _common.print_table(rows, "(c) speed (seconds include compilation)")

    # error against time: Brownian, inverse-gamma prior on D (exact), 200 steps 2D
    a0, b0 = 3.0, 0.2
    mb = bd.models.Brownian(priors={"D": dist.InverseGamma(a0, b0)})
    tb = mb.simulate(seed=seed + 8, params={"D": 0.08}, n_steps=200, dt=DT, dim=2)[0]
    exact = _reference_bm_log_z(tb, dist.InverseGamma(a0, b0))
    # FBM (alpha and D), 200 steps 2D: reference = quadrature at tol 1e-8 (largest grid)
    mf = bd.models.FBM()
    tf = mf.simulate(seed=seed + 9, params={"alpha": 0.6, "D": 0.1}, n_steps=200, dt=DT, dim=2)[0]
    ref_f = bd.evidence(mf, tf, tol=1e-8).log_z
    bridge = [BRIDGE_QUICK] if quick else [{"draws": 500, "tune": 500, "chains": 2}, BRIDGE]
    rows = []
    for case, model, tr, ref in (
        ("bm, IG prior (exact)", mb, tb, exact),
        ("fbm (fine grid)", mf, tf, ref_f),
    ):
        settings = [
            ("quadrature", {"tol": 0.01}),
            ("laplace", {}),
            ("importance", {"n_draws": 1000}),
            ("importance", {"n_draws": 4000}),
        ] + [("bridge", kw) for kw in bridge]
        for meth, kw in settings:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ev = bd.evidence(model, tr, method=meth, seed=seed, **kw)
            rows.append(
                {
                    "case": case,
                    "method": meth,
                    "setting": ",".join(f"{k}={v}" for k, v in kw.items()),
                    "abs_error": abs(ev.log_z - ref),
                    "stated_err": ev.log_z_err,
                    "seconds": ev.seconds,
                    "n_evals": ev.n_likelihood_evals,
                }
            )
            print(rows[-1], flush=True)
    _common.print_table(
        rows, "(c) log Z error against time (seconds include compilation on first use)"
    )


def main() -> None:
    ap = _common.parser(
        __doc__,
        seed=0,
        quick={"tracks": "50:1"},
        quick_help="smoke run: bridge sampling with 2 chains x 100 draws; (b) --tracks 50:1",
    )
    ap.add_argument("--part", default="all", choices=["a", "b", "c", "prior", "all"])
    ap.add_argument(
        "--tracks",
        default="50:5,100:5,200:10,500:3",
        help="(b) length:tracks per generating model, comma-separated",
    )
    ap.add_argument(
        "--n-draws", type=int, default=300, help="(b) importance draws (Langevin, Lévy)"
    )
    ap.add_argument("--generators", default=None, help="(b) only these generating models")
    ap.add_argument("--round-size", type=int, default=25, help="(b) tracks per model per round")
    ap.add_argument("--report", action="store_true", help="(b) only print what is finished")
    ap.add_argument(
        "--priors",
        default="default",
        choices=["default", "simulation"],
        help="(b) analyse with the default priors or with the simulation prior (Bayes classifier)",
    )
    ap.add_argument("--limit", type=int, default=None, help="(b) report tracks numbered below")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "_out" / "evidence"))
    args = ap.parse_args()
    print(f"bayesdiff {bd.__version__}, {os.cpu_count()} CPUs; python {' '.join(sys.argv)}")
    if args.part in ("prior", "all"):
        prior_example(args.seed)
    if args.part in ("a", "all"):
        part_a(args.seed, args.quick)
    if args.part in ("c", "all"):
        part_c(args.seed, args.quick)
    if args.part in ("b", "all"):
        counts = {int(a): int(b) for a, b in (x.split(":") for x in args.tracks.split(","))}
        part_b(
            counts,
            Path(args.out),
            args.seed,
            args.n_draws,
            args.generators,
            args.round_size,
            args.report,
            args.priors,
            args.limit,
        )


if __name__ == "__main__":
    main()
