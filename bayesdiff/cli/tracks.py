"""``bayesdiff info`` and ``bayesdiff simulate``: look at tracks, make tracks."""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import BayesdiffError
from ..io import describe, write_tracks
from ..models.registry import from_name
from ._common import add_read_options, read_tracks_from_args

__all__ = ["add_info_parser", "add_simulate_parser", "cmd_info", "cmd_simulate"]

#: Parameters that have their own ``simulate`` flag (``--alpha 0.5``); any other
#: parameter is given with ``--param NAME=VALUE``.
PARAM_FLAGS = ("alpha", "D", "sigma", "k", "v", "c", "speed")


def add_info_parser(sub) -> None:
    """Register ``bayesdiff info`` on an argparse sub-parser collection."""
    p = sub.add_parser("info", help="count tracks, lengths, gaps, dimension, time step")
    add_read_options(p)
    p.set_defaults(func=cmd_info)


def add_simulate_parser(sub) -> None:
    """Register ``bayesdiff simulate`` on an argparse sub-parser collection."""
    p = sub.add_parser("simulate", help="simulate tracks from a model and write them to a file")
    p.add_argument("model", help="model name: bm, fbm, fbm+noise, langevin, levy, switch2, ...")
    for name in PARAM_FLAGS:
        p.add_argument(
            f"--{name}",
            dest=f"p_{name}",
            default=None,
            help=f"parameter {name} (comma list for vectors)",
        )
    p.add_argument("--param", action="append", help="any parameter as NAME=VALUE (repeatable)")
    p.add_argument("--n-steps", type=int, default=200)
    p.add_argument("--dt", type=float, default=0.05, help="frame interval (s)")
    p.add_argument("--dim", type=int, default=2)
    p.add_argument("--n-tracks", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    p.set_defaults(func=cmd_simulate)


def cmd_info(args: argparse.Namespace) -> int:
    """Print counts, lengths, gaps, dimension and time step of a tracks file."""
    print(describe(read_tracks_from_args(args)))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Simulate tracks from a named model and write them to ``--out``."""
    model = from_name(args.model)
    params = _simulation_params(args)
    params = {k: v for k, v in params.items() if k in model.param_names}
    ts = model.simulate(
        seed=args.seed,
        params=params,
        n_steps=args.n_steps,
        dt=args.dt,
        dim=args.dim,
        n_tracks=args.n_tracks,
    )
    out = write_tracks(ts, args.out)
    print(f"wrote {len(ts)} {model.name} tracks of {args.n_steps} steps to {out}")
    return 0


def _simulation_params(args: argparse.Namespace) -> dict:
    """Parameter values from the named flags, then from ``--param NAME=VALUE`` (which win)."""
    params = {}
    for name in PARAM_FLAGS:
        val = getattr(args, f"p_{name}", None)
        if val is not None:
            params[name] = parse_value(val)
    for item in args.param or []:
        if "=" not in item:
            raise BayesdiffError(f"--param expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        params[k.strip()] = parse_value(v)
    return params


def parse_value(text: str) -> float | np.ndarray:
    """A number, or a vector from a comma list (``"0.1"`` -> 0.1, ``"0,1"`` -> array)."""
    parts = [float(x) for x in str(text).split(",")]
    return parts[0] if len(parts) == 1 else np.array(parts)
