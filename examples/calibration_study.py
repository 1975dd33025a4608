"""The shipped calibration study: FBM and Lévy walks, n = 50, 100, 200, 500.

Test tracks are drawn from the study priors of ``bd.calibration.study_models``
(2-D, dt = 0.05 s; FBM: alpha ~ U(0.1, 1.9), D ~ LogUniform(0.01, 1) µm²/s^alpha;
Lévy walk: alpha ~ U(1.1, 1.9), v ~ LogUniform(0.5, 5) µm/s, sigma ~
LogUniform(0.01, 0.1) µm) and analysed by

* ``bayes``: NUTS posteriors from ``bd.sample_many`` with the generating
  model and the same priors (2 chains, 200 warm-up + 200 draws, every 2nd
  draw kept: 200 draws per track) on the first ``BAYES_TRACKS`` tracks of a cell,
* ``bayes-grid``: the same posterior by exact quadrature (``bd.sample(...,
  method="grid")``, 200 independent draws; FBM only) on ``GRID_TRACKS`` tracks,
* ``ensemble`` and ``member``: the neural deep ensemble and its first member,
  when ``bd.neural.default_ensemble()`` is available,
* ``msd``: the time-averaged MSD power-law fit with its regression standard errors,

and scored by coverage, ENCE, SBC, CRPS and MAE (``docs/calibration.md``).
NUTS dominates the cost, and Lévy-walk NUTS (a hidden Markov model with
hundreds of hidden states) much more than FBM, so the number of test tracks
NUTS analyses per cell is sized from measured per-track costs to fit about
30 minutes on two shared cores (``BAYES_TRACKS``; the cheap estimators see all
``N_TRACKS``). The study is resumable: rerunning skips
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

#: Test tracks per cell (every estimator but NUTS sees them all).
N_TRACKS = 200
#: Tracks per cell analysed by NUTS, sized from its measured cost per track on
#: two shared cores at load average ~10 (FBM: 1.4 s at n = 50, 2.9 s at 100,
#: 7.3 s at 200, 21 s at 500; Lévy walk: 37 s at n = 50, 75 s at 100, so none
#: beyond); 0 skips the cell.
BAYES_TRACKS = {
    ("fbm", 50): 40,
    ("fbm", 100): 20,
    ("fbm", 200): 10,
    ("fbm", 500): 4,
    ("levy", 50): 5,
    ("levy", 100): 2,
    ("levy", 200): 0,
    ("levy", 500): 0,
}
#: Tracks per cell for the exact quadrature posterior (FBM only; ~1.5-4 s per track).
GRID_TRACKS = {"fbm": 30, "levy": 0}


def estimators(quick: bool = False) -> list:
    nuts_caps = 4 if quick else BAYES_TRACKS
    grid_caps = {"fbm": 4, "levy": 0} if quick else GRID_TRACKS
    ests = [
        cal.Bayes(draws=200, tune=200, chains=2, thin=2, max_tracks=nuts_caps),
        cal.Bayes(draws=100, chains=2, method="grid", max_tracks=grid_caps, name="bayes-grid"),
    ]
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
        lengths, n_tracks = (50,), 16
    else:
        out = Path(args.out) if args.out else OUT
        lengths, n_tracks = LENGTHS, N_TRACKS
    t0 = time.perf_counter()
    res = cal.study(
        estimators(args.quick), specs, lengths=lengths, n_tracks=n_tracks, seed=2026, out=out
    )
    seconds = time.perf_counter() - t0
    report = cal.markdown_report(res.table, res.figures, "python examples/calibration_study.py",
                                 seconds)  # fmt: skip
    (out / "report.md").write_text(report)
    print(cal.markdown_table(res.table))
    print(f"\nwall time {seconds:.0f} s; results in {out}")
    if not args.quick:
        for p in res.figures:
            shutil.copy(p, FIGURES / Path(p).name)
        print(f"figures copied to {FIGURES}")


if __name__ == "__main__":
    bd.calibration  # noqa: B018  (import check)
    main()
