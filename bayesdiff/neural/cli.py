"""``bayesdiff train`` and ``bayesdiff predict``.

``train`` fits a deep ensemble on simulations and saves it (resumable: run it
again with the same ``--out`` to continue). ``predict`` reads tracks, runs a
saved ensemble (``--network default`` is the one shipped with bayesdiff) and
writes ``predictions.csv`` (one row per track), ``skipped.csv`` (tracks the
network cannot read, with the reason) and, with ``--netcdf``, draws from the
predictive mixture as ``predictions.nc``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import BayesdiffError

__all__ = ["add_neural_parsers"]


def add_neural_parsers(sub) -> None:
    """Register ``train`` and ``predict`` on an argparse sub-parser collection."""
    from ..cli import _add_read_opts

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

    q = sub.add_parser("predict", help="amortized estimates of alpha, D and the model class")
    _add_read_opts(q)
    q.add_argument(
        "--network", default="default", help="saved network folder, or 'default' (shipped)"
    )
    q.add_argument("--out", required=True, help="output folder")
    q.add_argument("--netcdf", action="store_true", help="also write draws as predictions.nc")
    q.add_argument("--draws", type=int, default=1000, help="draws per track for --netcdf")
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=cmd_predict)


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise BayesdiffError(f"{what} expects comma-separated integers, got {text!r}") from None


def cmd_train(args) -> int:
    import time

    from .networks import Architecture
    from .train import train

    lengths = _ints(args.lengths, "--lengths")
    if len(lengths) != 2:
        raise BayesdiffError(f"--lengths expects MIN,MAX, got {args.lengths!r}")
    t0 = time.time()
    ens = train(
        models=[m.strip() for m in args.models.split(",") if m.strip()],
        lengths=lengths,
        dims=_ints(args.dims, "--dims"),
        n_train=args.n_train,
        members=args.members,
        seed=args.seed,
        architecture=Architecture(kind=args.kind),
        minutes=args.minutes,
        out=args.out,
        progress=not args.quiet,
    )
    print(f"trained {ens!r} in {time.time() - t0:.0f} s; saved to {args.out}")
    return 0


def cmd_predict(args) -> int:
    import pandas as pd

    from ..cli import _read, _write_csv
    from ..errors import TrackError
    from ..inference import _arviz
    from ..tracks import TrackSet
    from .ensemble import default_ensemble, load
    from .features import check_tracks

    net = default_ensemble() if args.network == "default" else load(args.network)
    ts = _read(args)
    keep, skipped = [], []
    for t in ts:
        try:
            check_tracks(TrackSet([t]), net.min_length, net.dims)
        except TrackError as err:
            skipped.append({"track": t.id, "n_points": t.n_points, "reason": str(err)})
            continue
        keep.append(t)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(pd.DataFrame(skipped, columns=["track", "n_points", "reason"]), out / "skipped.csv")
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
    _write_csv(table, out / "predictions.csv")
    msg = f"wrote {len(table)} predictions to {out / 'predictions.csv'}"
    if args.netcdf:
        idata = net.to_inference_data(kept, draws=args.draws, seed=args.seed)
        _arviz.to_netcdf(idata, out / "predictions.nc")
        msg += f" and draws to {out / 'predictions.nc'}"
    print(msg)
    return 0
