"""Neural amortized inference: throughput, FBM accuracy against NUTS, per-model quality.

Run ``python benchmarks/neural.py`` (``--network DIR`` for another saved
ensemble, ``--skip bayes`` to leave out the NUTS comparison, ``--quick`` for a
smoke run: 256 tracks for throughput, 16 FBM tracks and 2 chains x 100 draws
against NUTS, 40 tracks per class). Prints three tables:

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

import warnings

import _common
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
    with _common.timer() as t:
        for _ in range(repeats):
            ens.predict(ts)
    e2e = repeats * n_tracks / t.seconds
    (b,) = buckets(ts, max_batch=n_tracks)
    params, network = ens.stacked_params, ens.network
    jax.block_until_ready(network(params, b.x, b.mask, b.dim))
    with _common.timer() as t:
        for _ in range(repeats):
            jax.block_until_ready(network(params, b.x, b.mask, b.dim))
    net = repeats * n_tracks / t.seconds
    return e2e, net


def versus_bayes(ens, n: int = 100, seed: int = 0, draws: int = 500):
    rng = np.random.default_rng(seed)
    alpha = rng.uniform(0.2, 1.8, n)
    D = np.exp(rng.uniform(np.log(0.01), np.log(1.0), n))
    ts = bd.models.FBM().simulate(seed, {"alpha": alpha, "D": D}, 100, 0.05, dim=2, n_tracks=n)
    with _common.timer() as t:
        df = ens.predict(ts)
    t_nn = t.seconds
    dm = ens.members[0].predict(ts)
    with _common.timer() as t, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = bd.sample_many(bd.models.FBM(), ts, draws=draws, tune=draws, chains=2, seed=seed,
                               progress=False)  # fmt: skip
    t_b = t.seconds
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


def _pair(a: float, b: float) -> str:
    return f"{_f(a)} / {_f(b)}"


def main() -> None:
    ap = _common.parser(
        __doc__,
        quick={"batch": 256},
        quick_help="smoke run: --batch 256, 16 tracks against NUTS (2 x 100 draws), 40 per class",
    )
    ap.add_argument("--network", default="default")
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--skip", default="", help="comma list of: throughput,bayes,models")
    args = ap.parse_args()
    skip = set(args.skip.split(","))
    n_bayes, draws, n_per = (16, 100, 40) if args.quick else (100, 500, 400)
    if args.network == "default":
        ens = bd.neural.default_ensemble()
    else:
        ens = bd.neural.load(args.network)
    print(f"network: {ens!r}")
    if "throughput" not in skip:
        e2e, net = throughput(ens, args.batch)
        rows = [
            {"what": "predict() end to end, 100-step 2-D tracks", "tracks/s": e2e},
            {"what": "network only (one bucket, compiled)", "tracks/s": net},
        ]
        for r in rows:
            r.update(tracks=args.batch, members=ens.n_members)
        _common.print_table(
            rows, "throughput", columns=["what", "tracks", "members", "tracks/s"], fmt=",.0f"
        )
    if "bayes" not in skip:
        rows, b_mae, t_b = versus_bayes(ens, n_bayes, draws=draws)
        table = [
            {"what": what, "alpha MAE": mae, "ratio to Bayes": f"{mae / b_mae:.3f}",
             "wall time (s)": None if t is None else f"{t:.3f}"}
            for what, mae, t in rows
        ]  # fmt: skip
        table.append(
            {"what": f"NUTS posterior mean (sample_many, 2 chains x {draws})", "alpha MAE": b_mae,
             "ratio to Bayes": "1", "wall time (s)": f"{t_b:.1f}"}
        )  # fmt: skip
        speed_up = t_b / rows[0][2]
        _common.print_table(
            table,
            f"FBM, {n_bayes} tracks x 100 steps, 2-D, no noise",
            fmt=".4f",
            note=f"(speed-up of the ensemble over NUTS, including compilation: {speed_up:,.0f}x)",
        )
    if "models" not in skip:
        table = []
        for name, res in per_model(ens, n_per):
            e, m = res["ensemble"], res["member"]
            cols = ["alpha MAE", "accuracy", "90% coverage", "conditional alpha MAE",
                    "conditional 90% coverage"]  # fmt: skip
            row = {"model": name}
            row.update({f"{c} (ens / member)": _pair(a, b) for c, a, b in zip(cols, e, m)})
            table.append(row)
        _common.print_table(
            table,
            f"per model class: {n_per} tracks of 100 steps each, split over dim "
            f"{' and '.join(map(str, ens.dims))}",
            note="(alpha is undefined for Langevin tracks: no MAE or coverage there; conditional "
            "columns only for classes with an alpha head)",
        )


if __name__ == "__main__":
    main()
