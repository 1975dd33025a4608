"""Reports of a calibration study: figures and Markdown."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._columns import TABLE_KEYS, TABLE_METRICS

__all__ = ["write_figures", "markdown_report", "markdown_table"]


def write_figures(per_track: pd.DataFrame, table: pd.DataFrame, out: str | os.PathLike) -> list:
    """Reliability diagrams, coverage curves, SBC ECDF differences and MAE vs length.

    Parameters
    ----------
    per_track, table : pandas.DataFrame
        :attr:`StudyResult.per_track` and :attr:`StudyResult.table`.
    out : path
        Folder for the PNGs.

    Returns
    -------
    list of pathlib.Path
        ``out/calibration_<kind>_<model>.png`` for each generating model (kinds
        ``reliability``, ``coverage``, ``sbc``) and ``out/calibration_mae_vs_length.png``;
        figures with nothing to draw are left out.
    """
    from .. import plots

    out = Path(out)
    paths = []
    pt = per_track[per_track["parameter"] != "model"]
    for model, g in pt.groupby("model", sort=True):
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", str(model))
        for kind, fn in (
            ("reliability", plots.plot_reliability),
            ("coverage", plots.plot_coverage_curves),
            ("sbc", plots.plot_sbc_ecdf),
        ):
            fig = fn(g)
            if fig is not None:
                paths.append(plots.save_figure(fig, out / f"calibration_{kind}_{tag}.png"))
    fig = plots.plot_error_vs_length(table)
    if fig is not None:
        paths.append(plots.save_figure(fig, out / "calibration_mae_vs_length.png"))
    return paths


def markdown_report(
    table: pd.DataFrame, figures: Sequence, command: str = "", seconds: float | None = None
) -> str:
    """A short Markdown report: the command, the table, the figures.

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`StudyResult.table` (see :func:`markdown_table`).
    figures : sequence of paths
        Linked by file name (the report is meant to sit next to them).
    command : str
        The command that ran the study, shown in a code block.
    seconds : float, optional
        Wall time of the study.

    Returns
    -------
    str
        Markdown text starting with ``# Calibration study``.
    """
    lines = ["# Calibration study", ""]
    if command:
        lines += ["```", command, "```", ""]
    if seconds is not None:
        lines += [f"Wall time: {seconds:.0f} s.", ""]
    lines += [markdown_table(table), ""]
    lines += [f"![{Path(p).stem}]({Path(p).name})" for p in figures]
    return "\n".join(lines) + "\n"


def markdown_table(table: pd.DataFrame) -> str:
    """The study table as a Markdown table (keys and metrics, ``bias`` left out; 3 digits).

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`StudyResult.table`.

    Returns
    -------
    str
        Header, separator and one line per row; nan prints as an empty cell.
    """
    cols = [c for c in [*TABLE_KEYS, *TABLE_METRICS] if c in table.columns and c != "bias"]
    t = table[cols].copy()

    def fmt(v):
        if isinstance(v, (float, np.floating)):
            if not np.isfinite(v):
                return "" if np.isnan(v) else "inf"
            return f"{v:.3g}"
        return str(v)

    head = "| " + " | ".join(cols) + " |"
    sep = "|" + "|".join("---" for _ in cols) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in t.itertuples(index=False)]
    return "\n".join([head, sep, *body])
