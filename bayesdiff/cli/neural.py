"""``bayesdiff train`` and ``bayesdiff predict``.

``train`` fits a deep ensemble on simulations and saves it (resumable: run it
again with the same ``--out`` to continue). ``predict`` reads tracks, runs a
saved ensemble (``--network default`` is the one shipped with bayesdiff) and
writes ``predictions.csv`` (one row per track), ``skipped.csv`` (tracks the
network cannot read, with the reason) and, with ``--netcdf``, draws from the
predictive mixture as ``predictions.nc``.

``bayesdiff.neural`` (Flax, Optax) is imported when one of these commands runs,
so that the other commands start without it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import BayesdiffError, TrackError
from ..inference import to_netcdf
from ..tracks import Track, TrackSet
from ._common import add_read_options, parse_ints, read_tracks_from_args, split_list, write_csv

if TYPE_CHECKING:
    from ..neural import AmortizedEstimator, DeepEnsemble

__all__ = ["add_train_parser", "add_predict_parser", "cmd_train", "cmd_predict"]


def add_train_parser(sub) -> None:
    """Register ``bayesdiff train`` on an argparse sub-parser collection."""
    p = sub.add_parser("train", help="train a deep ensemble of amortized estimators")
    p.add_argument("--out", required=True, help="output folder (resumes from its checkpoints)")
    p.add_argument(
        "--models", default="bm,fbm,langevin,levy,switch2", help="comma-separated model classes"
    )
    p.add_argument("--lengths", default="20,500", help="shortest,longest track in points")
    p.add_argument("--dims", default="1,2", help="dimensions to train on")
    p.add_argument("--n-train", type=int, default=200_000, help="training tracks per member")
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--minutes", type=float, default=None, help="wall-time budget, all members")
    p.add_argument("--kind", default="gru", choices=["gru", "cnn"], help="sequence encoder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)


def add_predict_parser(sub) -> None:
    """Register ``bayesdiff predict`` on an argparse sub-parser collection."""
    p = sub.add_parser("predict", help="amortized estimates of alpha, D and the model class")
    add_read_options(p)
    p.add_argument(
        "--network", default="default", help="saved network folder, or 'default' (shipped)"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--netcdf", action="store_true", help="also write draws as predictions.nc")
    p.add_argument("--draws", type=int, default=1000, help="draws per track for --netcdf")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_predict)


def cmd_train(args: argparse.Namespace) -> int:
    """Train (or resume training) a deep ensemble and save it to ``--out``."""
    from .. import neural

    lengths = parse_ints(args.lengths, "--lengths")
    if len(lengths) != 2:
        raise BayesdiffError(f"--lengths expects MIN,MAX, got {args.lengths!r}")
    t0 = time.time()
    ens = neural.train(
        models=split_list(args.models),
        lengths=lengths,
        dims=parse_ints(args.dims, "--dims"),
        n_train=args.n_train,
        members=args.members,
        seed=args.seed,
        architecture=neural.Architecture(kind=args.kind),
        minutes=args.minutes,
        out=args.out,
        progress=not args.quiet,
    )
    print(f"trained {ens!r} in {time.time() - t0:.0f} s; saved to {args.out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Amortized estimates for every track the network can read; the others in skipped.csv."""
    from .. import neural

    net = neural.default_ensemble() if args.network == "default" else neural.load(args.network)
    ts = read_tracks_from_args(args)
    keep, skipped = readable_tracks(net, ts)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(pd.DataFrame(skipped, columns=["track", "n_points", "reason"]), out / "skipped.csv")
    if skipped:
        short = sum("points;" in s["reason"] for s in skipped)
        print(
            f"skipped {len(skipped)} of {len(ts)} tracks ({short} shorter than "
            f"{net.min_length} points, the network's minimum); see {out / 'skipped.csv'}",
            file=sys.stderr,
        )
    if not keep:
        raise BayesdiffError(
            f"{args.tracks}: no track can be read by the network "
            f"(needs >= {net.min_length} points and dim in {list(net.dims)})"
        )
    kept = TrackSet(keep)
    table = net.predict(kept)
    write_csv(table, out / "predictions.csv")
    msg = f"wrote {len(table)} predictions to {out / 'predictions.csv'}"
    if args.netcdf:
        idata = net.to_inference_data(kept, draws=args.draws, seed=args.seed)
        to_netcdf(idata, out / "predictions.nc")
        msg += f" and draws to {out / 'predictions.nc'}"
    print(msg)
    return 0


def readable_tracks(
    net: DeepEnsemble | AmortizedEstimator, ts: TrackSet
) -> tuple[list[Track], list[dict]]:
    """The tracks ``net`` can read, and one ``{track, n_points, reason}`` row per other track."""
    from ..neural.features import check_tracks

    keep, skipped = [], []
    for t in ts:
        try:
            check_tracks(TrackSet([t]), net.min_length, net.dims)
        except TrackError as err:
            skipped.append({"track": t.id, "n_points": t.n_points, "reason": str(err)})
            continue
        keep.append(t)
    return keep, skipped
