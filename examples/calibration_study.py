"""The shipped calibration study: FBM and Lévy walks, n = 50, 100, 200, 500.

Test tracks are drawn from the study priors of ``bd.calibration.study_models``
(2-D, dt = 0.05 s; FBM: alpha ~ U(0.1, 1.9), D ~ LogUniform(0.01, 1) µm²/s^alpha;
Lévy walk: alpha ~ U(1.1, 1.9), v ~ LogUniform(0.5, 5) µm/s, sigma ~
LogUniform(0.01, 0.1) µm) and analysed by

* ``bayes``: NUTS posteriors from ``bd.sample_many`` with the generating
  model and the same priors (2 chains, 300 warm-up + 300 draws, every 2nd
  draw kept: 300 draws per track),
* ``ensemble`` and ``member``: the neural deep ensemble and its first member,
  when ``bd.neural.default_ensemble()`` is available,
* ``msd``: the time-averaged MSD power-law fit with its regression standard errors,

and scored by coverage, ENCE, SBC, CRPS and MAE (``docs/calibration.md``).
NUTS dominates the cost, and Lévy-walk NUTS (a hidden Markov model with
hundreds of hidden states) much more than FBM, so the number of test tracks
per cell is sized from measured per-track costs to fit about 30 minutes on
two shared cores (see ``N_TRACKS``). The study is resumable: rerunning skips
finished cells in ``OUT``.

Run from the repository root::

    python examples/calibration_study.py            # writes docs/figures/calibration_*.png
    python examples/calibration_study.py --quick    # a 1-minute smoke run into /tmp
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import bayesdiff as bd
from bayesdiff import calibration as cal

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out-calibration"  # resumable cells (git-ignored)
FIGURES = ROOT / "docs" / "figures"
LENGTHS = (50, 100, 200, 500)

#: Test tracks per (model, length) cell, sized from the measured NUTS cost per track.
N_TRACKS = {
    ("fbm", 50): 100,
    ("fbm", 100): 100,
    ("fbm", 200): 60,
    ("fbm", 500): 30,
    ("levy", 50): 40,
    ("levy", 100): 30,
    ("levy", 200): 20,
    ("levy", 500): 10,
}


def estimators() -> list:
    ests = [cal.Bayes(draws=300, tune=300, chains=2, thin=2)]
    if cal.neural_available():
        ests += [cal.Neural(), cal.Neural(member=0)]
    else:
        print("bd.neural.default_ensemble() is not available: the study runs without it")
    ests.append(cal.MSDFit())
    return ests


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny smoke run into /tmp")
    ap.add_argument("--out", default=None, help="results folder (default out-calibration/)")
    args = ap.parse_args()
    models = cal.study_models()
    specs = {"fbm": models["fbm"], "levy": models["levy"]}
    if args.quick:
        out = Path(args.out or "/tmp/bayesdiff-calibration-quick")
        lengths, n_tracks = (50,), 8
    else:
        out = Path(args.out) if args.out else OUT
        lengths, n_tracks = LENGTHS, N_TRACKS
    t0 = time.perf_counter()
    res = cal.study(estimators(), specs, lengths=lengths, n_tracks=n_tracks, seed=2026, out=out)
    seconds = time.perf_counter() - t0
    report = cal.markdown_report(res.table, res.figures, "python examples/calibration_study.py",
                                 seconds)  # fmt: skip
    (out / "report.md").write_text(report)
    print(cal._markdown_table(res.table))
    print(f"\nwall time {seconds:.0f} s; results in {out}")
    if not args.quick:
        for p in res.figures:
            shutil.copy(p, FIGURES / Path(p).name)
        print(f"figures copied to {FIGURES}")


if __name__ == "__main__":
    bd.calibration  # noqa: B018  (import check)
    main()
