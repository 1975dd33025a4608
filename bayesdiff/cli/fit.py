"""``bayesdiff fit`` (posteriors of one model) and ``bayesdiff demo`` (the shipped example)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

from .. import plots
from ..errors import BayesdiffError
from ..inference import model_check, sample, sample_many, summary, to_netcdf
from ..io import example_tracks
from ..models import FBM, Brownian
from ..models.base import Model
from ..models.registry import from_name
from ..tracks import TrackSet
from ._common import add_read_options, read_tracks_from_args, write_csv

__all__ = ["add_fit_parser", "add_demo_parser", "cmd_fit", "cmd_demo"]


def add_fit_parser(sub) -> None:
    """Register ``bayesdiff fit`` on an argparse sub-parser collection."""
    p = sub.add_parser("fit", help="posteriors of a model for every track (or pooled)")
    add_read_options(p)
    p.add_argument("--model", default="fbm", help="bm, fbm, langevin, levy, switch2, ...")
    p.add_argument("--noise", action="store_true", help="include localization noise sigma")
    p.add_argument("--drift", action="store_true", help="include a drift velocity v")
    p.add_argument("--pooled", action="store_true", help="one parameter set shared by all tracks")
    p.add_argument(
        "--method",
        choices=["nuts", "grid", "importance", "auto"],
        default="nuts",
        help=(
            "nuts (default); grid (exact quadrature: bm, fbm, langevin); importance "
            "(checked importance sampling); auto (grid or importance where its check "
            "passes, else nuts; the method of each track is in posterior.nc)"
        ),
    )
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-points", type=int, default=3, help="skip shorter tracks")
    p.add_argument(
        "--skip-bad", action="store_true", help="skip invalid tracks (counted) instead of stopping"
    )
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_fit)


def add_demo_parser(sub) -> None:
    """Register ``bayesdiff demo`` on an argparse sub-parser collection."""
    p = sub.add_parser("demo", help="fit FBM and Brownian motion to the shipped example data")
    p.add_argument("--out", default="demo-output", help="output folder")
    p.add_argument("--draws", type=int, default=300, help="draws (and warm-up) per chain")
    p.add_argument("--n-sim", type=int, default=8, help="number of simulated tracks")
    p.add_argument("--min-points", type=int, default=10, help="shortest real track used")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)


# -- fit -----------------------------------------------------------------------------
def cmd_fit(args: argparse.Namespace) -> int:
    """Fit a model to every track (or pooled) and write posterior, summary and figures.

    Writes ``posterior.nc``, ``summary.csv``; for a single posterior (one track
    or ``--pooled``) ``trace.png`` and ``posterior.png``; for a single track
    ``model_check.csv``.
    """
    spec = args.model.strip()
    for flag in ("drift", "noise"):  # --drift/--noise add what the name does not already say
        if getattr(args, flag) and flag not in spec.lower().split("+"):
            spec += f"+{flag}"
    model = from_name(spec)
    min_points = max(args.min_points, model.min_points)
    ts = read_tracks_from_args(args).filter(min_points=min_points)
    if len(ts) == 0:
        raise BayesdiffError(f"{args.tracks}: no track has at least {min_points} points")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    idata = _fit_posterior(model, ts, args)
    to_netcdf(idata, out / "posterior.nc")
    table = summary(idata)
    write_csv(table, out / "summary.csv")
    if "track" not in idata.posterior.dims:
        plots.save_figure(plots.plot_trace(idata), out / "trace.png")
        plots.save_figure(plots.plot_posterior(idata), out / "posterior.png")
    check = None
    if len(ts) == 1 and not args.pooled:
        check = model_check(model, ts[0], idata, seed=args.seed)
        write_csv(check, out / "model_check.csv")
    print(table.to_string(index=False, max_rows=40))
    print(
        f"\nresults in {out}/: posterior.nc, summary.csv"
        + (", model_check.csv" if check is not None else "")
    )
    return 0


def _fit_posterior(model: Model, ts: TrackSet, args: argparse.Namespace):
    """Sample the posterior(s) as the options ask; the sampler's warnings go to stderr."""
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
        else:
            idata = sample_many(model, ts, method=args.method, **kw)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return idata


# -- demo ----------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    """Fit FBM to simulated tracks, then Brownian motion and FBM to the shipped real tracks."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _demo_simulated(args, out)
    _demo_real(args, out)
    print(f"\nresults written to {out}/")
    return 0


def _demo_simulated(args: argparse.Namespace, out: Path) -> None:
    """Part 1: per-track NUTS fits of FBM to simulated FBM tracks."""
    print("1) Simulated FBM tracks (alpha = 0.5, D = 0.1 µm²/s^alpha, dt = 0.05 s, 100 steps, 2-D)")
    fbm = FBM()
    sim = fbm.simulate(
        seed=0, params={"alpha": 0.5, "D": 0.1}, n_steps=100, dt=0.05, dim=2, n_tracks=args.n_sim
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = sample_many(
            fbm, sim, draws=args.draws, tune=args.draws, chains=2, seed=0, progress=not args.quiet
        )
    tab = summary(idata)
    write_csv(tab, out / "simulated_fbm_summary.csv")
    for p in ("alpha", "D"):
        rows = tab[tab.parameter == p]
        mean, sd = rows["mean"], rows["sd"]
        print(f"   {p:5s}: posterior means {mean.mean():.3f} ± {mean.std():.3f} over "
              f"{len(rows)} tracks; median posterior sd {sd.median():.3f}")  # fmt: skip


def _demo_real(args: argparse.Namespace, out: Path) -> None:
    """Part 2: pooled exact-quadrature fits of bm+noise and fbm+noise to the HaloTag tracks."""
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
        write_csv(tab, out / f"halotag_{model.name.replace('+', '_')}_pooled.csv")
        print(f"   {model.name}: log evidence {log_z[model.name]:.2f}")
        print("   " + _format_table(tab).replace("\n", "\n   "))
    print(
        f"   log Bayes factor fbm+noise vs bm+noise: {log_z['fbm+noise'] - log_z['bm+noise']:.2f}"
    )
    plots.save_figure(plots.plot_tracks(real, max_tracks=100), out / "halotag_tracks.png")


def _format_table(tab: pd.DataFrame) -> str:
    return tab.to_string(index=False, float_format=lambda v: f"{v:.4g}")
