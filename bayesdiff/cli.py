"""The ``bayesdiff`` command line.

Every command reads the same track formats (``bayesdiff.read_tracks``), writes
its results into an output folder (netCDF for posteriors, CSV for tables, PNG
for figures) and shows progress on long work. Bad input ends with a one-line
message naming the file, track and row, and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from ._version import __version__
from .errors import BayesdiffError

__all__ = ["main"]


def _read(args):
    from .io import read_tracks

    return read_tracks(
        args.tracks,
        dt=args.dt,
        pixel_size=args.pixel_size,
        on_error="skip" if getattr(args, "skip_bad", False) else "raise",
    )


def _add_read_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("tracks", help="tracks file: CSV, Parquet or TrackMate XML")
    p.add_argument(
        "--dt", type=float, default=None, help="frame interval in seconds (if not in the file)"
    )
    p.add_argument(
        "--pixel-size", type=float, default=None, help="µm per pixel, when coordinates are pixels"
    )


# -- info ----------------------------------------------------------------------
def cmd_info(args) -> int:
    from .io import describe

    ts = _read(args)
    print(describe(ts))
    return 0


# -- simulate ----------------------------------------------------------------------
_PARAM_FLAGS = ("alpha", "D", "sigma", "k", "v", "c", "speed")


def cmd_simulate(args) -> int:
    from .io import write_tracks
    from .models.registry import from_name

    model = from_name(args.model)
    params = {}
    for name in _PARAM_FLAGS:
        val = getattr(args, f"p_{name}", None)
        if val is not None:
            params[name] = _parse_value(val)
    for item in args.param or []:
        if "=" not in item:
            raise BayesdiffError(f"--param expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        params[k.strip()] = _parse_value(v)
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


def _parse_value(text: str):
    parts = [float(x) for x in str(text).split(",")]
    return parts[0] if len(parts) == 1 else np.array(parts)


# -- fit -----------------------------------------------------------------------------
def cmd_fit(args) -> int:
    from . import plots
    from .inference import _arviz, sample, sample_many, summary
    from .models.registry import from_name

    spec = args.model + ("+drift" if args.drift else "") + ("+noise" if args.noise else "")
    model = from_name(spec)
    ts = _read(args).filter(min_points=max(args.min_points, model.min_points))
    if len(ts) == 0:
        raise BayesdiffError(f"{args.tracks}: no track has at least {model.min_points} points")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kw = dict(
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        seed=args.seed,
        progress=not args.quiet,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.pooled:
            idata = sample(model, ts, method=args.method, **kw)
        elif len(ts) == 1:
            idata = sample(model, ts[0], method=args.method, **kw)
        elif args.method == "grid":
            raise BayesdiffError(
                "--method grid fits one track or a pooled set (--pooled); "
                "per-track fits of several tracks use NUTS"
            )
        else:
            idata = sample_many(model, ts, **kw)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    _arviz.to_netcdf(idata, out / "posterior.nc")
    table = summary(idata)
    _write_csv(table, out / "summary.csv")
    if "track" not in idata.posterior.dims:
        plots.save_figure(plots.plot_trace(idata), out / "trace.png")
        plots.save_figure(plots.plot_posterior(idata), out / "posterior.png")
    check = _model_check(model, ts, idata, args)
    if check is not None:
        _write_csv(check, out / "model_check.csv")
    print(table.to_string(index=False, max_rows=40))
    print(
        f"\nresults in {out}/: posterior.nc, summary.csv"
        + (", model_check.csv" if check is not None else "")
    )
    return 0


def _model_check(model, ts, idata, args):
    """Information-content model check of a single-track fit (when available)."""
    if len(ts) != 1 or args.pooled:
        return None
    try:
        from .inference.checks import model_check
    except ImportError:
        return None
    return model_check(model, ts[0], idata, seed=args.seed)


def _write_csv(df, path: Path) -> None:
    from ._files import atomic_path

    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


# -- demo ----------------------------------------------------------------------------
def cmd_demo(args) -> int:
    from . import plots
    from .inference import sample, sample_many, summary
    from .io import example_tracks
    from .models import FBM, Brownian

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.quiet
    kw = dict(draws=args.draws, tune=args.draws, chains=2, seed=0, progress=progress)

    print("1) Simulated FBM tracks (alpha = 0.5, D = 0.1 µm²/s^alpha, dt = 0.05 s, 100 steps, 2-D)")
    fbm = FBM()
    sim = fbm.simulate(
        seed=0, params={"alpha": 0.5, "D": 0.1}, n_steps=100, dt=0.05, dim=2, n_tracks=args.n_sim
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = sample_many(fbm, sim, **kw)
    tab = summary(idata)
    _write_csv(tab, out / "simulated_fbm_summary.csv")
    for p in ("alpha", "D"):
        rows = tab[tab.parameter == p]
        mean, sd = rows["mean"], rows["sd"]
        print(f"   {p:5s}: posterior means {mean.mean():.3f} ± {mean.std():.3f} over "
              f"{len(rows)} tracks; median posterior sd {sd.median():.3f}")  # fmt: skip

    real = example_tracks(min_points=args.min_points)
    print(f"\n2) Real HaloTag-NLS tracks (U2OS nuclei, dt = 7.48 ms): {len(real)} tracks "
          f"with >= {args.min_points} points")  # fmt: skip
    print("   pooled fits (one parameter set for all tracks), exact quadrature (method='grid')")
    log_z = {}
    for model in (Brownian(noise=True), FBM(noise=True)):
        # pooled: one set of parameters for all tracks; the grid also gives the log evidence
        idata = sample(model, real, method="grid", draws=2000, chains=2, seed=0)
        log_z[model.name] = idata.attrs["log_evidence"]
        tab = summary(idata)
        _write_csv(tab, out / f"halotag_{model.name.replace('+', '_')}_pooled.csv")
        print(f"   {model.name}: log evidence {log_z[model.name]:.2f}")
        print(
            "   "
            + tab.to_string(index=False, float_format=lambda v: f"{v:.4g}").replace("\n", "\n   ")
        )
    print(
        f"   log Bayes factor fbm+noise vs bm+noise: {log_z['fbm+noise'] - log_z['bm+noise']:.2f}"
    )
    plots.save_figure(plots.plot_tracks(real, max_tracks=100), out / "halotag_tracks.png")
    print(f"\nresults written to {out}/")
    return 0


# -- main ------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bayesdiff",
        description="Bayesian inference for single-particle trajectories with anomalous diffusion.",
    )
    p.add_argument("--version", action="version", version=f"bayesdiff {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    q = sub.add_parser("info", help="count tracks, lengths, gaps, dimension, time step")
    _add_read_opts(q)
    q.set_defaults(func=cmd_info)

    q = sub.add_parser("demo", help="fit FBM and Brownian motion to the shipped example data")
    q.add_argument("--out", default="demo-output", help="output folder")
    q.add_argument("--draws", type=int, default=300, help="draws (and warm-up) per chain")
    q.add_argument("--n-sim", type=int, default=8, help="number of simulated tracks")
    q.add_argument("--min-points", type=int, default=10, help="shortest real track used")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=cmd_demo)

    q = sub.add_parser("simulate", help="simulate tracks from a model and write them to a file")
    q.add_argument("model", help="model name: bm, fbm, fbm+noise, langevin, levy, switch2, ...")
    for name in _PARAM_FLAGS:
        q.add_argument(
            f"--{name}",
            dest=f"p_{name}",
            default=None,
            help=f"parameter {name} (comma list for vectors)",
        )
    q.add_argument("--param", action="append", help="any parameter as NAME=VALUE (repeatable)")
    q.add_argument("--n-steps", type=int, default=200)
    q.add_argument("--dt", type=float, default=0.05, help="frame interval (s)")
    q.add_argument("--dim", type=int, default=2)
    q.add_argument("--n-tracks", type=int, default=1)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    q.set_defaults(func=cmd_simulate)

    q = sub.add_parser("fit", help="NUTS posteriors of a model for every track (or pooled)")
    _add_read_opts(q)
    q.add_argument("--model", default="fbm", help="bm, fbm, langevin, levy, switch2, ...")
    q.add_argument("--noise", action="store_true", help="include localization noise sigma")
    q.add_argument("--drift", action="store_true", help="include a drift velocity v")
    q.add_argument("--pooled", action="store_true", help="one parameter set shared by all tracks")
    q.add_argument(
        "--method",
        choices=["nuts", "grid", "auto"],
        default="nuts",
        help="nuts (default), grid (exact quadrature: fbm/bm), auto (grid where it applies)",
    )
    q.add_argument("--draws", type=int, default=1000)
    q.add_argument("--tune", type=int, default=1000)
    q.add_argument("--chains", type=int, default=4)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--min-points", type=int, default=3, help="skip shorter tracks")
    q.add_argument(
        "--skip-bad", action="store_true", help="skip invalid tracks (counted) instead of stopping"
    )
    q.add_argument("--quiet", action="store_true")
    q.add_argument("--out", required=True, help="output folder")
    q.set_defaults(func=cmd_fit)

    for extra in _EXTRA_COMMANDS:
        extra(sub)
    return p


def _compare_command(sub) -> None:
    from .inference.compare import add_compare_parser

    add_compare_parser(sub)


def _neural_commands(sub) -> None:
    """``train`` and ``predict`` (``bayesdiff/neural/cli.py``, imported when present)."""
    try:
        from .neural.cli import add_neural_parsers
    except ImportError:
        return
    add_neural_parsers(sub)


def _calibrate_command(sub) -> None:
    """``calibrate`` (``bayesdiff/calibration.py``, imported when present)."""
    try:
        from .calibration import add_calibrate_parser
    except ImportError:
        return
    add_calibrate_parser(sub)


_EXTRA_COMMANDS = [_compare_command, _neural_commands, _calibrate_command]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except BayesdiffError as err:
        print(f"bayesdiff {args.command}: error: {err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"bayesdiff {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
