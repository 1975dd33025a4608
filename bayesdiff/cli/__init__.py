"""The ``bayesdiff`` command line.

Every command reads the same track formats (``bayesdiff.read_tracks``), writes
its results into an output folder (netCDF for posteriors, CSV for tables, PNG
for figures) and shows progress on long work. Bad input ends with a one-line
message naming the file, track and row, and exit status 2.

One module per command group registers its sub-commands: :mod:`.tracks`
(``info``, ``simulate``), :mod:`.fit` (``fit``, ``demo``), :mod:`.compare`,
:mod:`.neural` (``train``, ``predict``) and :mod:`.calibrate`; the options they
share are in :mod:`._common`.
"""

from __future__ import annotations

import argparse
import os
import sys

import matplotlib

from .._version import __version__
from ..errors import BayesdiffError
from .calibrate import add_calibrate_parser
from .compare import add_compare_parser
from .fit import add_demo_parser, add_fit_parser
from .neural import add_predict_parser, add_train_parser
from .tracks import add_info_parser, add_simulate_parser

__all__ = ["main"]

#: Sub-commands in the order ``bayesdiff --help`` lists them.
_COMMANDS = (
    add_info_parser,
    add_demo_parser,
    add_simulate_parser,
    add_fit_parser,
    add_compare_parser,
    add_train_parser,
    add_predict_parser,
    add_calibrate_parser,
)


def _build_parser() -> argparse.ArgumentParser:
    """The ``bayesdiff`` argument parser with every sub-command."""
    p = argparse.ArgumentParser(
        prog="bayesdiff",
        description="Bayesian inference for single-particle trajectories with anomalous diffusion.",
    )
    p.add_argument("--version", action="version", version=f"bayesdiff {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return p


def _use_file_backend() -> None:
    """Draw figures with the non-interactive Agg backend unless ``MPLBACKEND`` names one.

    The command line only writes figures to files; a library import leaves the
    user's backend alone.
    """
    if not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")


def main(argv: list[str] | None = None) -> int:
    """Run ``bayesdiff`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    Errors of bayesdiff (bad input, unknown model) and missing files print
    ``bayesdiff COMMAND: error: MESSAGE`` on stderr and return 2.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    _use_file_backend()
    try:
        return int(args.func(args) or 0)
    except (BayesdiffError, FileNotFoundError) as err:
        print(f"bayesdiff {args.command}: error: {err}", file=sys.stderr)
        return 2
