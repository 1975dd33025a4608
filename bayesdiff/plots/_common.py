"""Shared figure helpers: the figure of an axes array, panel grids, atomic PNG files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._files import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def figure_of(axes) -> Figure:
    """The figure holding an Axes or an array of them (as ArviZ returns)."""
    a = np.asarray(axes).ravel()[0]
    return a.get_figure()


def panel_grid(keys: list, ncols: int = 4, size: float = 3.0):
    """A figure with one panel per key (at most ``ncols`` a row), unused panels hidden.

    Returns
    -------
    (Figure, array of Axes)
        The axes flattened, in row order.
    """
    import matplotlib.pyplot as plt

    n = len(keys)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 0.9),
                             squeeze=False, layout="constrained")  # fmt: skip
    for a in axes.ravel()[n:]:
        a.set_visible(False)
    return fig, axes.ravel()


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save as PNG atomically (temporary file, then rename) and close the figure.

    Parameters
    ----------
    fig : matplotlib Figure
    path : path
        The PNG to write (its folder is created if missing).
    dpi : int
        Resolution; the image is cropped to the drawn content (``bbox_inches="tight"``).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
