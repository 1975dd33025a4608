"""``bayesdiff compare``: evidence, Bayes factors and model probabilities for every track."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ..errors import InferenceError
from ..inference import compare, compare_many
from ..inference.compare import comparison_summary
from ..models.registry import MODEL_NAMES, from_spec
from ..plots import plot_comparison, save_figure
from ._common import add_read_options, read_tracks_from_args, write_csv

__all__ = ["add_compare_parser", "compare_command"]


def add_compare_parser(sub) -> None:
    """Register ``bayesdiff compare`` on an argparse sub-parser collection."""
    p = sub.add_parser(
        "compare", help="evidence, Bayes factors and model probabilities for every track"
    )
    add_read_options(p)
    p.add_argument(
        "--models",
        default="bm,fbm,fbm+noise,langevin,levy,switch2",
        help=f"comma-separated model names (known: {', '.join(MODEL_NAMES)})",
    )
    p.add_argument(
        "--out", required=True, help="output folder (resumes if it holds earlier results)"
    )
    p.add_argument(
        "--method",
        default="auto",
        choices=["auto", "quadrature", "bridge", "importance", "laplace"],
    )
    p.add_argument("--pooled", action="store_true", help="one comparison for all tracks together")
    p.add_argument("--no-loo", action="store_true", help="skip PSIS-LOO")
    p.add_argument("--draws", type=int, default=1000, help="NUTS draws per chain (bridge sampling)")
    p.add_argument("--tune", type=int, default=1000, help="NUTS warm-up per chain")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-points", type=int, default=3, help="skip tracks with fewer points")
    p.add_argument(
        "--verbose", action="store_true", help="say which evidence method each model used"
    )
    p.set_defaults(func=compare_command)


def compare_command(args: argparse.Namespace) -> int:
    """``bayesdiff compare TRACKS --models ... --out DIR``.

    Writes ``comparison.csv`` (one row per track and model), ``per_track.csv``
    (one row per track: chosen model, probabilities and log evidences),
    ``summary.csv`` (wins per model), ``tracks/<id>.csv`` (restart points) and
    ``comparison.png`` (probabilities per track; counts).
    """
    tracks = read_tracks_from_args(args)
    tracks = tracks.filter(min_points=args.min_points)
    if len(tracks) == 0:
        raise InferenceError(f"no track has {args.min_points} or more points")
    models = from_spec(args.models)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    common = {
        "method": args.method,
        "seed": args.seed,
        "loo": not args.no_loo,
        "draws": args.draws,
        "tune": args.tune,
        "chains": args.chains,
    }
    if args.pooled:
        table = compare(models, tracks, **common)
        table.insert(0, "track", "pooled")
        table.insert(1, "n_steps", int(sum(t.n_steps for t in tracks)))
        summary = comparison_summary(table, list(models))
        write_csv(table, out / "comparison.csv")
        write_csv(summary, out / "summary.csv")
    else:
        table, summary = compare_many(models, tracks, out, **common)
    write_csv(per_track_table(table, list(models)), out / "per_track.csv")
    save_figure(plot_comparison(table, summary), out / "comparison.png")
    print(summary.to_string(index=False))
    if args.verbose:
        print(methods_used(table, list(models)))
    print(f"wrote {out / 'comparison.csv'}, per_track.csv, summary.csv, comparison.png")
    return 0


def methods_used(table: pd.DataFrame, names: list[str]) -> str:
    """One line per model (in the order asked): how many tracks each evidence method
    served (``failed`` included)."""
    lines = ["evidence methods (tracks):"]
    for name in names:
        counts = table.loc[table["model"] == name, "method"].value_counts()
        lines.append(f"  {name}: " + ", ".join(f"{m} {n}" for m, n in counts.items()))
    return "\n".join(lines)


def per_track_table(table: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """One row per track: ``track``, ``chosen``, ``p_<model>``, ``log_z_<model>``."""
    wide = table.pivot_table(index="track", columns="model", values="probability", sort=False)
    wide = wide.reindex(columns=names).add_prefix("p_")
    lz = table.pivot_table(index="track", columns="model", values="log_z", sort=False)
    lz = lz.reindex(columns=names).add_prefix("log_z_")
    chosen = table[table["chosen"].astype(bool)].set_index("track")["model"].rename("chosen")
    return pd.concat([chosen, wide, lz], axis=1).reset_index().rename(columns={"index": "track"})
