"""Neural amortized inference: throughput, FBM accuracy against NUTS, per-model quality.

Run ``python benchmarks/neural.py`` (``--network DIR`` for another saved
ensemble, ``--skip bayes`` to leave out the NUTS comparison). Prints three
tables:

1. throughput of the ensemble (all members evaluated together) on 100-step
   2-D tracks, in tracks per second, end to end (``predict``) and network only;
2. FBM alpha MAE against the posterior mean of
   ``bd.sample_many(bd.models.FBM(), ...)`` on the same 100 tracks
   (100 steps, no noise), with the wall times and the ratio to the Bayesian
   MAE: for the ensemble's (and its first member's) predictive-mixture mean
   ``alpha_mean`` (over all classes) and FBM-conditional mean
   ``alpha_mean_fbm`` (alpha if the track is FBM, what NUTS with the FBM
   model assumes);
3. per model class at 100 steps (training distribution, 1-D and 2-D), and
   pooled over the classes that define alpha: alpha MAE of ``alpha_mean``,
   classification accuracy and the coverage of the central 90% interval of
   alpha (from 1000 draws of the predictive mixture), for the ensemble and
   for its first member alone; for classes with an alpha head also the MAE
   and 90% coverage (mean +- 1.645 sd) of the class-conditional Gaussian
   ``alpha_mean_<class>``, ``alpha_sd_<class>``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import jax
import numpy as np

import bayesdiff as bd
from bayesdiff.neural.features import buckets
from bayesdiff.neural.train import alpha_role, simulate_labelled

Z90 = 1.6448536269514722  # standard-normal 95% quantile: central 90% interval


def throughput(ens, n_tracks: int, repeats: int = 3) -> tuple[float, float]:
    ts = bd.models.FBM().simulate(0, {"alpha": 0.7, "D": 0.1}, 100, 0.05, dim=2,
                                  n_tracks=n_tracks)  # fmt: skip
    ens.predict(ts)  # compile
    t = time.perf_counter()
    for _ in range(repeats):
        ens.predict(ts)
    e2e = repeats * n_tracks / (time.perf_counter() - t)
    (b,) = buckets(ts, max_batch=n_tracks)
    params, network = ens.stacked_params, ens.network
    jax.block_until_ready(network(params, b.x, b.mask, b.dim))
    t = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(network(params, b.x, b.mask, b.dim))
    net = repeats * n_tracks / (time.perf_counter() - t)
    return e2e, net


def versus_bayes(ens, n: int = 100, seed: int = 0):
    rng = np.random.default_rng(seed)
    alpha = rng.uniform(0.2, 1.8, n)
    D = np.exp(rng.uniform(np.log(0.01), np.log(1.0), n))
    ts = bd.models.FBM().simulate(seed, {"alpha": alpha, "D": D}, 100, 0.05, dim=2, n_tracks=n)
    t = time.perf_counter()
    df = ens.predict(ts)
    t_nn = time.perf_counter() - t
    dm = ens.members[0].predict(ts)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = bd.sample_many(bd.models.FBM(), ts, draws=500, tune=500, chains=2, seed=seed,
                               progress=False)  # fmt: skip
    t_b = time.perf_counter() - t
    post = idata.posterior["alpha"].mean(("chain", "draw")).values
    rows = [
        ("deep ensemble, mixture mean `alpha_mean`", df["alpha_mean"].values, t_nn),
        ("deep ensemble, FBM-conditional `alpha_mean_fbm`", df["alpha_mean_fbm"].values, t_nn),
        ("member 0, mixture mean `alpha_mean`", dm["alpha_mean"].values, None),
        ("member 0, FBM-conditional `alpha_mean_fbm`", dm["alpha_mean_fbm"].values, None),
    ]
    b_mae = float(np.abs(post - alpha).mean())
    return [(what, float(np.abs(est - alpha).mean()), t) for what, est, t in rows], b_mae, t_b


def per_model(ens, n_per: int = 400, seed: int = 1):
    """Per class and pooled over the classes that define alpha.

    Returns rows ``(name, {"ensemble": r, "member": r})`` with ``r`` the tuple
    (alpha MAE, accuracy, 90% coverage, conditional MAE, conditional coverage),
    nan where undefined (alpha of Langevin; conditional columns of classes
    without an alpha head).
    """
    rows = []
    names = ens.model_names
    member = ens.members[0]
    pooled = {"ensemble": [], "member": []}
    for k, name in enumerate(names):
        res = {}
        for who, net in (("ensemble", ens), ("member", member)):
            err, hit, cov, c_err, c_cov = [], [], [], [], []
            for dim in ens.dims:
                ts, alpha, _ = simulate_labelled(ens.config, name, n_per // len(ens.dims), 100,
                                                 dim, seed + 10 * k + dim)  # fmt: skip
                df = net.predict(ts)
                draws = net.to_inference_data(ts, draws=1000, seed=seed).posterior["alpha"]
                lo = draws.quantile(0.05, ("chain", "draw")).values
                hi = draws.quantile(0.95, ("chain", "draw")).values
                err.append(np.abs(df["alpha_mean"].values - alpha))
                hit.append(df["model"].values == name)
                inside = ((alpha >= lo) & (alpha <= hi)).astype(float)
                cov.append(np.where(np.isfinite(alpha), inside, np.nan))
                if name in net.alpha_classes:
                    m, sd = df[f"alpha_mean_{name}"].values, df[f"alpha_sd_{name}"].values
                    c_err.append(np.abs(m - alpha))
                    c_cov.append((np.abs(alpha - m) <= Z90 * sd).astype(float))
                else:
                    c_err.append(np.full(len(alpha), np.nan))
                    c_cov.append(np.full(len(alpha), np.nan))
            # alpha is undefined (nan) for Langevin tracks: MAE and coverage are then nan
            cols = [np.concatenate(v) for v in (err, hit, cov, c_err, c_cov)]
            res[who] = tuple(float(np.mean(c)) for c in cols)
            if alpha_role(name) != "none":
                pooled[who].append(cols)
        rows.append((name, res))
    res = {}
    for who, parts in pooled.items():
        cols = [np.concatenate([p[i] for p in parts]) for i in range(3)]
        res[who] = tuple(float(np.mean(c)) for c in cols) + (np.nan, np.nan)
    rows.append(("pooled (" + ", ".join(n for n in names if alpha_role(n) != "none") + ")", res))
    return rows


def _f(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="default")
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--skip", default="", help="comma list of: throughput,bayes,models")
    args = ap.parse_args()
    skip = set(args.skip.split(","))
    if args.network == "default":
        ens = bd.neural.default_ensemble()
    else:
        ens = bd.neural.load(args.network)
    print(f"network: {ens!r}")
    if "throughput" not in skip:
        e2e, net = throughput(ens, args.batch)
        print("\n| what | tracks | members | tracks/s |\n|---|---|---|---|")
        print(f"| predict() end to end, 100-step 2-D tracks | {args.batch} | {ens.n_members} "
              f"| {e2e:,.0f} |")  # fmt: skip
        print(f"| network only (one bucket, compiled) | {args.batch} | {ens.n_members} "
              f"| {net:,.0f} |")  # fmt: skip
    if "bayes" not in skip:
        rows, b_mae, t_b = versus_bayes(ens)
        print("\n| FBM, 100 tracks x 100 steps, 2-D, no noise | alpha MAE | ratio to Bayes "
              "| wall time (s) |")  # fmt: skip
        print("|---|---|---|---|")
        for what, mae, t in rows:
            wall = "" if t is None else f"{t:.3f}"
            print(f"| {what} | {mae:.4f} | {mae / b_mae:.3f} | {wall} |")
        print(f"| NUTS posterior mean (sample_many, 2 chains x 500) | {b_mae:.4f} | 1 "
              f"| {t_b:.1f} |")  # fmt: skip
        speed_up = t_b / rows[0][2]
        print(f"(speed-up of the ensemble over NUTS, including compilation: {speed_up:,.0f}x)")
    if "models" not in skip:
        print("\n| model | alpha MAE (ens / member) | accuracy (ens / member) "
              "| 90% coverage (ens / member) | conditional alpha MAE (ens / member) "
              "| conditional 90% coverage (ens / member) |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for name, res in per_model(ens):
            e, m = res["ensemble"], res["member"]
            print(f"| {name} | {_f(e[0])} / {_f(m[0])} | {_f(e[1])} / {_f(m[1])} "
                  f"| {_f(e[2])} / {_f(m[2])} | {_f(e[3])} / {_f(m[3])} "
                  f"| {_f(e[4])} / {_f(m[4])} |")  # fmt: skip
        print("(alpha is undefined for Langevin tracks: no MAE or coverage there; conditional "
              "columns only for classes with an alpha head)")  # fmt: skip


if __name__ == "__main__":
    main()
