"""Alpha accuracy of the shipped neural ensemble on 1-D AnDi-2020-style tracks.

Run ``python benchmarks/andi_eval.py`` (``--data FILE``, ``--network DIR``)
after generating the tracks with ``benchmarks/andi_generate.py`` in a separate
environment with andi-datasets (see that script's docstring). Every track is
read with ``dt = 1`` as a 1-D ``bd.Track`` of ``T`` points.

For each set of positions in the file (``positions``: with the challenge's
noise; ``positions_clean``: normalized, without noise) prints a markdown table
per AnDi model and pooled: the MAE of ``alpha_mean`` (the ensemble's
predictive mixture over its classes), the coverage of ``alpha_mean +- 1.645 alpha_sd``
(nominal 90%), the bayesdiff class chosen most often, and, as a baseline, the
MAE of a power-law fit to the time-averaged MSD (least squares of log TA-MSD
on log lag, lags 1-10). The network was trained on bayesdiff's own
simulators (BM, FBM, Langevin, Lévy walk, 2-state switching), not on the AnDi
models: nothing here is tuned to these data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import _common
import numpy as np
import pandas as pd

import bayesdiff as bd
from bayesdiff.calibration import msd_exponent

Z90 = 1.6448536269514722  # standard-normal 95% quantile: central 90% interval
DEFAULT = "benchmarks/_out/andi/andi_1d_T100.npz"
MODELS = ["attm", "ctrw", "fbm", "lw", "sbm"]


def tamsd_alpha(x: np.ndarray) -> np.ndarray:
    """TA-MSD exponent over lags 1-10 of every row of x (n, T), as a 1-D track with dt = 1."""
    lags = np.arange(1, 11)
    return np.array([msd_exponent(bd.Track(row[:, None], dt=1.0), lags) for row in x])


def print_accuracy(
    pred: pd.DataFrame, alpha: np.ndarray, model: np.ndarray, msd: np.ndarray, title: str
) -> None:
    """One table: per AnDi model and pooled, the network's alpha error and coverage, the
    class it chooses most often, and the TA-MSD fit's alpha error."""
    err = np.abs(pred["alpha_mean"].to_numpy() - alpha)
    cover = np.abs(pred["alpha_mean"].to_numpy() - alpha) <= Z90 * pred["alpha_sd"].to_numpy()
    msd_err = np.abs(msd - alpha)
    rows = []
    for name in [*MODELS, "all"]:
        s = np.ones(alpha.size, bool) if name == "all" else model == name
        s &= ~np.isnan(err)
        top = pred["model"][s].value_counts(normalize=True)
        rows.append(
            {
                "AnDi model": name.upper() if name != "all" else "all five",
                "n": int(s.sum()),
                "alpha range": f"{alpha[s].min():.2f}-{alpha[s].max():.2f}",
                "MAE alpha_mean": np.nanmean(err[s]),
                "90% coverage": np.nanmean(cover[s]),
                "most-chosen class (share)": f"{top.index[0]} ({top.iloc[0]:.0%})",
                "MAE TA-MSD fit": np.nanmean(msd_err[s]),
            }
        )
    notes = []
    if np.isnan(err).any():
        notes.append(
            f"{np.isnan(err).sum()} tracks without a network estimate (they never move; left out)"
        )
    if np.isnan(msd[~np.isnan(err)]).any():
        notes.append(f"{np.isnan(msd).sum()} tracks without a TA-MSD fit (left out of its MAE)")
    note = "; ".join(notes) + "." if notes else None
    _common.print_table(rows, title, fmt=".3f", note=note)


def extras(pred: pd.DataFrame, alpha: np.ndarray, model: np.ndarray) -> str:
    """MAE by true alpha, the class-conditional heads on their own AnDi model."""
    err = np.abs(pred["alpha_mean"].to_numpy() - alpha)
    ok = ~np.isnan(err)
    bins = [(0.0, 0.5), (0.5, 1.0), (1.0, 1.5), (1.5, 2.0)]
    parts = []
    for lo, hi in bins:
        s = ok & (alpha >= lo) & ((alpha < hi) if hi < 2 else (alpha <= hi))
        parts.append(f"[{lo:.1f}, {hi:.1f}{')' if hi < 2 else ']'} {np.mean(err[s]):.3f}")
    lines = ["- alpha_mean MAE by true alpha: " + ", ".join(parts)]
    for andi, head in [("fbm", "fbm"), ("lw", "levy")]:
        s = ok & (model == andi)
        e = np.abs(pred[f"alpha_mean_{head}"].to_numpy()[s] - alpha[s])
        c = np.mean(e <= Z90 * pred[f"alpha_sd_{head}"].to_numpy()[s])
        lines.append(
            f"- {andi.upper()} tracks, alpha_mean_{head}: MAE {e.mean():.3f}, 90% coverage {c:.3f}"
        )
    s = ok & (model == "lw")
    le, hi_ = s & (alpha <= 1.9), s & (alpha > 1.9)
    lines.append(
        f"- LW alpha_mean MAE for alpha <= 1.9 (levy training prior 1-1.9): "
        f"{np.mean(err[le]):.3f}; for alpha > 1.9: {np.mean(err[hi_]):.3f}"
    )
    return "\n".join(lines)


def main() -> None:
    p = _common.parser(__doc__)
    p.add_argument("--data", default=DEFAULT)
    p.add_argument("--network", default=None, help="saved ensemble (default: the shipped one)")
    args = p.parse_args()

    path = Path(args.data)
    if not path.exists():
        sys.exit(
            f"{path} not found. Generate it first in a separate environment with "
            "andi-datasets (it needs numpy <= 1.26.4):\n"
            "    python3 -m venv /tmp/andi-venv\n"
            "    /tmp/andi-venv/bin/pip install andi-datasets 'stochastic<0.7' ipython\n"
            f"    /tmp/andi-venv/bin/python benchmarks/andi_generate.py --out {path}\n"
            "(see the docstring of benchmarks/andi_generate.py)."
        )
    d = np.load(path)
    alpha, model = d["alpha"], d["model"].astype(str)
    versions = json.loads(str(d["versions"]))
    ens = bd.neural.load(args.network) if args.network else bd.neural.default_ensemble()
    print(
        f"{path}: {alpha.size} tracks of T = {d['positions'].shape[1]}, seed {int(d['seed'])}, "
        f"generated with {versions}\n"
    )
    for key, title in [
        ("positions", "with the AnDi-2020 noise (localization error 0.1/0.5/1, random D)"),
        ("positions_clean", "without noise (normalized only)"),
    ]:
        x = d[key]
        # the network refuses a track that never moves (a CTRW whose first wait outlasts it)
        moving = np.flatnonzero(np.any(np.diff(x, axis=1) != 0, axis=1))
        ts = bd.TrackSet([bd.Track(x[i][:, None], dt=1.0, id=i) for i in moving])
        with _common.timer() as t:
            pred = ens.predict(ts).set_index("track").reindex(np.arange(x.shape[0]))
        print_accuracy(pred, alpha, model, tamsd_alpha(x), title)
        print()
        print(extras(pred, alpha, model))
        print(f"\n(predict: {t.seconds:.1f} s for {len(ts)} tracks)")


if __name__ == "__main__":
    main()
