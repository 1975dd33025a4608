"""Joint (alpha, log D) head against independent Gaussians (issue 8): train and measure.

Run ``python benchmarks/neural_joint.py`` (``--n-train``, ``--out``; ``--only
independent`` or ``--only joint`` trains one variant and stops, so that the
two can train side by side; a rerun loads finished networks from ``--out``).

Trains ONE member of each variant, ``Architecture()`` (independent Gaussians
for alpha given the class and for ``z``) and ``Architecture(joint=True)`` (a
bivariate Gaussian over ``(alpha, z)`` for FBM tracks), on the default five
classes with the same seed, the same ``n_train`` and a patience larger than
the run, so that both take exactly the same number of optimizer steps (a
budget in steps, not wall time, which other jobs on the machine would bias).
Then, on FBM test tracks of 100 steps from the training distribution without
localization noise (half 1-D, half 2-D, ``dt = 1``, a seed not used in
training), prints one markdown table per variant row:

* alpha MAE of the FBM-conditional mean ``alpha_mean_fbm``, log D MAE of ``logD_mean``;
* marginal 90% coverage of ``mean +- 1.645 sd`` for alpha (FBM-conditional) and log D;
* coverage of the joint 90% ellipse, Mahalanobis^2 <= 4.605 under the
  bivariate Gaussian with the predicted sds and correlation
  (``alpha_logD_corr_fbm``; 0 for the independent variant);
* the empirical correlation of the alpha and log D errors (truth - mean)
  against the mean predicted correlation;
* the mean negative log density of the true ``(alpha, log D)`` under that
  bivariate Gaussian (natural log, with the ``log 2 pi`` constant).

A line below the table gives the paired difference of the NLLs with its
standard error, and a second table splits the tracks by true alpha: the
correlation of the errors and the predicted correlation (mean over tracks),
the joint-ellipse coverage and the mean NLL of both variants per bin.
``--noise-fraction 0.5`` tests on tracks with localization noise as in
training instead.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import _common
import numpy as np
import pandas as pd

import bayesdiff as bd
from bayesdiff.neural import Architecture
from bayesdiff.neural.train import simulate_labelled

CHI2_90 = 4.605170185988091  # chi-square(2) 90% quantile: the joint 90% ellipse
Z90 = 1.6448536269514722  # standard-normal 95% quantile: central 90% interval
VARIANTS = {"independent": Architecture(), "joint": Architecture(joint=True)}


def train_variant(name: str, out: Path, n_train: int, seed: int):
    with _common.timer() as t:
        ens = bd.neural.train(
            n_train=n_train,
            members=1,
            seed=seed,
            architecture=VARIANTS[name],
            out=out / name,
            progress=False,
            patience=10**6,  # stop at n_train only: equal step budgets
        )
    return ens, t.seconds


BINS = (0.0, 0.5, 1.0, 1.5, 2.0)


def fbm_test_tracks(ens, n: int, seed: int, noise_fraction: float = 0.0):
    """``n`` FBM tracks of 100 steps: ``(tracks, alpha, log D)`` for 1-D and for 2-D."""
    cfg = dataclasses.replace(ens.config, noise_fraction=noise_fraction)
    return [simulate_labelled(cfg, "fbm", n // 2, 100, dim, seed + dim) for dim in (1, 2)]


def measure(ens, parts) -> dict[str, np.ndarray | float]:
    df = pd.concat([ens.predict(ts) for ts, _, _ in parts], ignore_index=True)
    alpha = np.concatenate([p[1] for p in parts])
    log_d = np.concatenate([p[2] for p in parts])
    ma, sa = df["alpha_mean_fbm"].to_numpy(), df["alpha_sd_fbm"].to_numpy()
    ml, sl = df["logD_mean"].to_numpy(), df["logD_sd"].to_numpy()
    rho = df["alpha_logD_corr_fbm"].to_numpy() if "alpha_logD_corr_fbm" in df else 0.0 * ma
    ea, el = (alpha - ma) / sa, (log_d - ml) / sl  # standardized errors
    maha = (ea**2 - 2 * rho * ea * el + el**2) / (1 - rho**2)
    nll = np.log(2 * np.pi * sa * sl) + 0.5 * np.log(1 - rho**2) + 0.5 * maha
    return {
        "alpha_mae": float(np.mean(np.abs(alpha - ma))),
        "logd_mae": float(np.mean(np.abs(log_d - ml))),
        "cov_alpha": float(np.mean(np.abs(ea) <= Z90)),
        "cov_logd": float(np.mean(np.abs(el) <= Z90)),
        "cov_joint": float(np.mean(maha <= CHI2_90)),
        "corr_emp": float(np.corrcoef(alpha - ma, log_d - ml)[0, 1]),
        "corr_pred": float(np.mean(rho)),
        "nll": nll,
        "alpha": alpha,
        "err": np.stack([alpha - ma, log_d - ml]),
        "rho": rho,
        "inside": maha <= CHI2_90,
    }


def main() -> None:
    ap = _common.parser(__doc__, seed=0)
    ap.add_argument("--n-train", type=int, default=200_000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--test-seed", type=int, default=2026)
    ap.add_argument("--noise-fraction", type=float, default=0.0)
    ap.add_argument("--out", default="build/neural-joint")
    ap.add_argument("--only", choices=sorted(VARIANTS))
    args = ap.parse_args()
    out = Path(args.out)
    if args.only:
        ens, secs = train_variant(args.only, out, args.n_train, args.seed)
        info = ens.members[0].info
        print(f"{args.only}: {info['steps']} steps, best validation loss "
              f"{info['best_val']:.4f}, {secs:.0f} s")  # fmt: skip
        return
    rows, res = [], {}
    for name in VARIANTS:
        ens, _ = train_variant(name, out, args.n_train, args.seed)
        tracks = fbm_test_tracks(ens, args.n_test, args.test_seed, args.noise_fraction)
        res[name] = r = measure(ens, tracks)
        rows.append((name, ens.members[0].info, r))
    nlls = {k: r["nll"] for k, r in res.items()}
    noise = "no noise" if args.noise_fraction == 0 else f"noise on {args.noise_fraction:.0%}"
    table = [
        {
            "head": name, "steps": info["steps"], "best validation loss": info["best_val"],
            "train s": info["seconds"], "alpha MAE (FBM-cond.)": r["alpha_mae"],
            "logD MAE": r["logd_mae"], "90% cov. alpha": r["cov_alpha"],
            "90% cov. logD": r["cov_logd"], "90% joint ellipse": r["cov_joint"],
            "error corr. (empirical)": r["corr_emp"], "predicted corr. (mean)": r["corr_pred"],
            "mean NLL": np.mean(r["nll"]),
        }
        for name, info, r in rows
    ]  # fmt: skip
    diff = nlls["joint"] - nlls["independent"]
    se = np.std(diff, ddof=1) / np.sqrt(len(diff))
    _common.print_table(
        table,
        f"FBM, {len(nlls['joint'])} tracks x 100 steps (half 1-D, half 2-D), {noise}, dt = 1; "
        f"one member each, n_train = {args.n_train:,}, seed {args.seed}",
        fmt=".3f",
        formats={"best validation loss": ".4f", "train s": ".0f", "alpha MAE (FBM-cond.)": ".4f",
                 "logD MAE": ".4f", "error corr. (empirical)": "+.3f",
                 "predicted corr. (mean)": "+.3f", "mean NLL": ".4f"},
        note=f"NLL joint - independent (paired, same tracks): {np.mean(diff):+.4f} +- {se:.4f} "
        f"(1 s.e.); s.e. of a coverage: {np.sqrt(0.09 / len(diff)):.3f}",
    )  # fmt: skip
    ind, jnt = res["independent"], res["joint"]
    table = []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        b = (ind["alpha"] >= lo) & (ind["alpha"] < hi)
        corr = [np.corrcoef(*r["err"][:, b])[0, 1] for r in (ind, jnt)]
        table.append({
            "true alpha": f"{lo:.1f}-{hi:.1f}", "tracks": int(b.sum()),
            "error corr. (indep. / joint)": f"{corr[0]:+.2f} / {corr[1]:+.2f}",
            "predicted corr. (joint, mean)": f"{np.mean(jnt['rho'][b]):+.2f}",
            "90% joint ellipse (indep. / joint)":
                f"{np.mean(ind['inside'][b]):.3f} / {np.mean(jnt['inside'][b]):.3f}",
            "mean NLL (indep. / joint)":
                f"{np.mean(ind['nll'][b]):.3f} / {np.mean(jnt['nll'][b]):.3f}",
        })  # fmt: skip
    _common.print_table(table, "by true alpha")


if __name__ == "__main__":
    main()
