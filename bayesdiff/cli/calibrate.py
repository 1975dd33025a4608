"""``bayesdiff calibrate``: a calibration study of estimators on simulated tracks."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .._files import atomic_path
from ..calibration import (
    Bayes,
    HMMFit,
    MSDFit,
    Neural,
    SimSpec,
    markdown_report,
    markdown_table,
    study,
    study_models,
)
from ..errors import BayesdiffError, ModelError
from ..models.base import Model
from ._common import split_list

__all__ = [
    "add_calibrate_parser",
    "cmd_calibrate",
    "estimators_from_names",
    "study_plan",
    "StudyPlan",
]

#: The estimator names ``--estimators`` accepts (``hmm-ml`` is an alias of ``hmm``).
ESTIMATOR_NAMES = ("bayes", "ensemble", "member", "msd", "hmm")


def add_calibrate_parser(sub) -> None:
    """Register ``bayesdiff calibrate`` on an argparse sub-parser collection."""
    p = sub.add_parser(
        "calibrate",
        help="calibration study: coverage, SBC, ENCE of each estimator on simulated tracks",
        description="Simulate test tracks from the study priors, run each estimator and write "
        "calibration_table.csv, figures (PNG) and report.md to --out.",
    )
    p.add_argument(
        "--models",
        default="fbm",
        help="generating models, comma-separated (fbm, levy, langevin, bm, switch2)",
    )
    p.add_argument("--lengths", default="50,100,200", help="track lengths (increments)")
    p.add_argument("--n-tracks", type=int, default=200, help="test tracks per cell")
    p.add_argument("--snr", default="inf", help="signal-to-noise ratios, e.g. inf,5,2")
    p.add_argument(
        "--estimators",
        default="bayes,msd",
        help="bayes, ensemble, member, msd, hmm (comma-separated)",
    )
    p.add_argument(
        "--misspecified",
        default="",
        help="generating models analysed with the first --models model, e.g. langevin",
    )
    p.add_argument("--draws", type=int, default=400, help="NUTS draws per chain")
    p.add_argument("--tune", type=int, default=400, help="NUTS warm-up per chain")
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--thin", type=int, default=2, help="keep every THIN-th draw")
    p.add_argument(
        "--bayes-method",
        choices=["nuts", "grid", "importance", "auto"],
        default="nuts",
        help="posterior method of the bayes estimator (auto: grid or checked importance "
        "sampling per track, NUTS where neither passes)",
    )
    p.add_argument("--dt", type=float, default=0.05, help="frame interval (s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder (resumable)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_calibrate)


@dataclasses.dataclass(frozen=True)
class StudyPlan:
    """What ``bayesdiff calibrate`` runs, read and checked from its options.

    Attributes
    ----------
    estimators : list
        The estimators (``--estimators``).
    specs : dict of str to SimSpec
        The generating models (``--models``).
    misspecified : dict of str to Model
        Generating model name -> the model it is analysed with (``--misspecified``).
    lengths : list of int
        Track lengths in increments (``--lengths``).
    snrs : list of float
        Signal-to-noise ratios (``--snr``).
    """

    estimators: list
    specs: dict[str, SimSpec]
    misspecified: dict[str, Model]
    lengths: list[int]
    snrs: list[float]


def study_plan(args: argparse.Namespace) -> StudyPlan:
    """Read and check the options of ``bayesdiff calibrate``.

    Raises
    ------
    BayesdiffError
        Naming the option at fault.
    """
    try:
        lengths = [int(x) for x in split_list(args.lengths)]
        snrs = [float(x) for x in split_list(args.snr)]
    except ValueError as err:
        raise BayesdiffError(f"--lengths/--snr: {err}") from err
    if not lengths or min(lengths) < 3:
        raise BayesdiffError("--lengths: give track lengths >= 3, e.g. 50,100,200")
    if args.n_tracks < 1:
        raise BayesdiffError("--n-tracks must be >= 1")
    known = study_models(args.dt)
    models = split_list(args.models)
    for m in models + split_list(args.misspecified):
        if m not in known:
            raise BayesdiffError(f"--models: unknown model {m!r} (known: {', '.join(known)})")
    if not models:
        raise BayesdiffError("--models: give at least one model")
    estimators = estimators_from_names(split_list(args.estimators), args)
    return StudyPlan(
        estimators=estimators,
        specs={m: known[m] for m in models},
        misspecified={m: known[models[0]].model for m in split_list(args.misspecified)},
        lengths=lengths,
        snrs=snrs,
    )


def estimators_from_names(names: Sequence[str], args: argparse.Namespace) -> list:
    """The estimators named by ``--estimators``, with the NUTS settings of ``args``."""
    out = []
    for n in names:
        if n == "bayes":
            method = getattr(args, "bayes_method", "nuts")
            # cells are stored by estimator name: another method gets cells of its own
            name = "bayes" if method == "nuts" else f"bayes-{method}"
            out.append(
                Bayes(
                    draws=args.draws,
                    tune=args.tune,
                    chains=args.chains,
                    thin=args.thin,
                    method=method,
                    name=name,
                )
            )
        elif n == "msd":
            out.append(MSDFit())
        elif n in ("ensemble", "member"):
            from .. import neural  # Flax and Optax only when a neural estimator is asked for

            neural.default_ensemble()  # a clear error now rather than mid-study
            out.append(Neural() if n == "ensemble" else Neural(member=0))
        elif n in ("hmm", "hmm-ml"):
            out.append(HMMFit())
        else:
            raise BayesdiffError(
                f"--estimators: unknown estimator {n!r} ({', '.join(ESTIMATOR_NAMES)})"
            )
    return out


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Run the study and write ``calibration_table.csv``, the figures and ``report.md``."""
    plan = study_plan(args)
    t0 = time.perf_counter()
    try:
        res = study(
            plan.estimators,
            plan.specs,
            lengths=plan.lengths,
            snr=plan.snrs,
            n_tracks=args.n_tracks,
            seed=args.seed,
            out=args.out,
            misspecified=plan.misspecified,
            progress=not args.no_progress,
        )
    except ModelError as err:
        raise BayesdiffError(str(err)) from err
    seconds = time.perf_counter() - t0
    command = "bayesdiff " + " ".join(sys.argv[1:]) if sys.argv[1:] else "bayesdiff calibrate"
    report = markdown_report(res.table, res.figures, command=command, seconds=seconds)
    with atomic_path(Path(args.out) / "report.md") as tmp:
        tmp.write_text(report)
    print(markdown_table(res.table))
    print(f"wrote {args.out}/calibration_table.csv, report.md and {len(res.figures)} figures")
    return 0
