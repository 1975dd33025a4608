"""What the benchmark scripts share: their command line, a timer and one table printer.

A script imports it as ``import _common`` (``python benchmarks/x.py`` puts the
script's folder on ``sys.path``). It imports neither bayesdiff nor pandas nor
numpy, so ``andi_generate.py`` can use it in its own environment.

* :func:`parser` -- an argument parser described by the script's docstring, with
  the sampler arguments (``--draws``, ``--tune``, ``--chains``, ``--seed``,
  ``--tracks``) each script asks for, at that script's defaults, and ``--quick``
  (a smoke run: smaller values for some options);
* :class:`timer` -- wall time of a block (``time.perf_counter``);
  :func:`best_of` -- the best time of repeated calls;
* :func:`print_table` -- every table the benchmarks print: an aligned markdown
  table under a title, from dict rows, tuples with column names, or a DataFrame;
* :func:`progress` -- a line on stderr while a long run goes on.
"""

from __future__ import annotations

import argparse
import math
import numbers
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_SAMPLER_HELP = {
    "draws": "NUTS draws per chain",
    "tune": "NUTS warm-up (tuning) steps per chain",
    "chains": "NUTS chains",
    "seed": "random seed",
    "tracks": "simulated tracks per configuration",
}


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose ``--quick`` replaces the defaults of some options."""

    quick_values: Mapping[str, Any] = {}

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        ns, rest = super().parse_known_args(args, namespace)
        if getattr(ns, "quick", False):
            for name, value in self.quick_values.items():
                if getattr(ns, name) == self.get_default(name):  # not set on the command line
                    setattr(ns, name, value)
        return ns, rest


def parser(
    doc: str | None,
    *,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    seed: int | None = None,
    tracks: int | None = None,
    quick: str | Mapping[str, Any] | None = None,
    **help_: str,
) -> argparse.ArgumentParser:
    """An argument parser whose description is the first line of ``doc``.

    Each of ``draws``, ``tune``, ``chains``, ``seed`` and ``tracks`` that is
    given adds the integer option of that name (``--draws`` ...) with it as the
    default; ``draws_help="..."`` (and so on, and ``quick_help``) replaces an
    option's help text.

    ``quick`` adds a ``--quick`` flag (a smoke run): a string is its help text
    (the script decides what it does); a mapping ``{option: value}`` gives the
    values ``--quick`` puts in place of those options' defaults (an option set on
    the command line keeps its value), including options added later.

    Examples
    --------
    >>> ap = parser("Demo.\\n\\nMore.", draws=300, seed=0, quick={"draws": 50})
    >>> a = ap.parse_args([])
    >>> (a.draws, a.seed, a.quick)
    (300, 0, False)
    >>> ap.parse_args(["--quick"]).draws, ap.parse_args(["--quick", "--draws", "10"]).draws
    (50, 10)
    """
    ap = _Parser(description=doc.splitlines()[0] if doc else None)
    given = {"draws": draws, "tune": tune, "chains": chains, "seed": seed, "tracks": tracks}
    for name, default in given.items():
        if default is not None:
            text = help_.pop(f"{name}_help", _SAMPLER_HELP[name])
            ap.add_argument(f"--{name}", type=int, default=default, help=f"{text} ({default})")
    if isinstance(quick, Mapping):
        ap.quick_values = dict(quick)
        opts = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in quick.items())
        quick = help_.pop("quick_help", f"smoke run: {opts}")
    if quick is not None:
        ap.add_argument("--quick", action="store_true", help=quick)
    if help_:
        raise TypeError(f"unknown arguments {sorted(help_)}")
    return ap


class timer:
    """Wall time of a ``with`` block, by ``time.perf_counter``.

    ``seconds`` is the time so far inside the block and the block's time after it.

    Examples
    --------
    >>> with timer() as t:
    ...     pass
    >>> t.seconds < 1.0
    True
    """

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._stop: float | None = None

    def __enter__(self) -> timer:
        self._start, self._stop = time.perf_counter(), None
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = time.perf_counter()

    @property
    def seconds(self) -> float:
        end = time.perf_counter() if self._stop is None else self._stop
        return end - self._start


def best_of(
    f: Callable[[], Any],
    repeat: int = 5,
    number: int | None = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Best seconds per call of ``f`` over ``repeat`` rounds of ``number`` calls.

    ``f`` runs once first (warm-up, compilation). ``number=None`` picks it so that
    one round takes about 0.2 s. ``clock=time.process_time`` measures CPU time,
    which other jobs on the machine disturb less than wall time.
    """
    f()
    if number is None:
        t0 = clock()
        f()
        number = max(1, int(0.2 / max(clock() - t0, 1e-6)))
    best = math.inf
    for _ in range(repeat):
        t0 = clock()
        for _ in range(number):
            f()
        best = min(best, (clock() - t0) / number)
    return best


def progress(message: str) -> None:
    """One line on stderr, at once: where a long run has got to (the tables go to stdout)."""
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# the table printer
# ------------------------------------------------------------------------------------------
_NUMERIC = re.compile(r"[-+]?(\d[\d,]*\.?\d*(e[-+]?\d+)?|\.\d+|nan|inf|n/a)(%| ms| s|x)?", re.I)

Format = str | Callable[[Any], str]


def _cell(value: Any, fmt: Format) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if callable(fmt):
        return fmt(value)
    if isinstance(value, bool | numbers.Integral):
        return str(value)
    if isinstance(value, numbers.Real):
        return format(float(value), fmt)
    return str(value)


def _records(rows: Any, columns: Sequence[str] | None) -> tuple[list[str], list[Mapping]]:
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a pandas DataFrame
        return [str(c) for c in rows.columns], rows.to_dict("records")
    rows = list(rows)
    if columns is not None:
        return list(columns), [r if isinstance(r, Mapping) else dict(zip(columns, r)) for r in rows]
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    return list(names), rows


def print_table(
    rows: Any,
    title: str | None = None,
    *,
    columns: Sequence[str] | None = None,
    fmt: str = ".4g",
    formats: Mapping[str, Format] | None = None,
    note: str | None = None,
) -> None:
    """Print an aligned markdown table, under ``## title`` if one is given.

    Parameters
    ----------
    rows : list of dicts, list of tuples (with ``columns``) or pandas DataFrame
        One row each; a dict row may leave out columns (an empty cell).
    columns : list of str, optional
        The column order (default: the DataFrame's, or the keys as first seen).
    fmt : str
        Format spec of a real number (``format(x, fmt)``); integers, booleans
        and strings print as they are, ``None`` as an empty cell.
    formats : dict, optional
        Per-column format spec or function of the value, replacing ``fmt``.
    note : str, optional
        A line printed under the table.

    Examples
    --------
    >>> print_table([{"n": 100, "ms": 0.1234}, {"n": 1000, "ms": 1.5}], fmt=".2f")
    |    n |   ms |
    |-----:|-----:|
    |  100 | 0.12 |
    | 1000 | 1.50 |
    """
    out = [] if title is None else ["", f"## {title}", ""]
    names, records = _records(rows, columns)
    if not names:
        print("\n".join([*out, "(no rows)"]), flush=True)
        return
    formats = formats or {}
    cells = [[_cell(r.get(c), formats.get(c, fmt)) for c in names] for r in records]
    right = [
        all(not row[j] or _NUMERIC.fullmatch(row[j]) for row in cells) and bool(cells)
        for j in range(len(names))
    ]
    width = [max([len(c), 3, *(len(row[j]) for row in cells)]) for j, c in enumerate(names)]

    def line(values: Sequence[str]) -> str:
        padded = (v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, width, right))
        return "| " + " | ".join(padded) + " |"

    rule = ("-" * (w + 1) + (":" if r else "-") for w, r in zip(width, right))
    out += [line(names), "|" + "|".join(rule) + "|", *(line(row) for row in cells)]
    if note:
        out += ["", note]
    print("\n".join(out), flush=True)
