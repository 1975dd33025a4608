"""Pieces every command shares: the track-reading options, list parsing, CSV output.

A private helper module of the command line: its names are its API inside
``bayesdiff.cli``.
"""

from __future__ import annotations

import argparse

from .._files import write_csv
from ..errors import BayesdiffError
from ..io import read_tracks
from ..tracks import TrackSet

__all__ = [
    "add_read_options",
    "read_tracks_from_args",
    "split_list",
    "parse_ints",
    "write_csv",
]


def add_read_options(parser: argparse.ArgumentParser) -> None:
    """Add the positional ``tracks`` file and the ``--dt``/``--pixel-size`` options."""
    parser.add_argument("tracks", help="tracks file: CSV, Parquet or TrackMate XML")
    parser.add_argument(
        "--dt", type=float, default=None, help="frame interval in seconds (if not in the file)"
    )
    parser.add_argument(
        "--pixel-size", type=float, default=None, help="µm per pixel, when coordinates are pixels"
    )


def read_tracks_from_args(args: argparse.Namespace) -> TrackSet:
    """Read the tracks named by :func:`add_read_options` (and ``--skip-bad`` where present)."""
    return read_tracks(
        args.tracks,
        dt=args.dt,
        pixel_size=args.pixel_size,
        on_error="skip" if getattr(args, "skip_bad", False) else "raise",
    )


def split_list(text: str) -> list[str]:
    """The non-empty, stripped items of a comma-separated list."""
    return [x.strip() for x in text.split(",") if x.strip()]


def parse_ints(text: str, what: str) -> tuple[int, ...]:
    """A comma-separated list of integers; ``what`` names the option in the error."""
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise BayesdiffError(f"{what} expects comma-separated integers, got {text!r}") from None
