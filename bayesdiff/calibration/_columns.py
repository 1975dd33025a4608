"""Parameter names and table columns shared by the estimators, the study and the report.

Positive scale parameters (``D``, ``v``, ``sigma``, ``k``) are compared on the
natural-log scale and named ``logD``, ``logv``, ... in every table; vector
parameters get one column per entry (``logD[0]``, ``logD[1]``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: Parameters compared on the natural-log scale (``D`` -> ``logD``).
LOG_PARAMS = ("D", "v", "sigma", "k")

#: Columns that name a row of the study table (a cell and one parameter).
TABLE_KEYS = ["estimator", "model", "fit_model", "length", "snr", "parameter"]
#: The metrics of the study table, in column order (see ``summarize``).
TABLE_METRICS = ("n", "mae", "rmse", "bias", "cov50", "cov90", "cov95", "ence", "sbc_p",
                 "pit_ks_p", "sharpness", "crps", "accuracy", "ece", "sec_per_track")  # fmt: skip


def log_name(p: str) -> str:
    """The table name of parameter ``p``: ``"D"`` -> ``"logD"``, ``"alpha"`` unchanged."""
    base = p.split("[")[0]
    return f"log{p}" if base in LOG_PARAMS else p


def flatten_params(values: Mapping[str, np.ndarray], n: int, axis: int = 0) -> dict:
    """{'D': (.., n, K)} -> {'logD[0]': (.., n), 'logD[1]': ...}; scale parameters logged."""
    out = {}
    for p, a in values.items():
        a = np.asarray(a, dtype=float)
        if p.split("[")[0] in LOG_PARAMS:
            with np.errstate(divide="ignore", invalid="ignore"):
                a = np.log(a)
        trailing = a.shape[axis + 1 :]
        if not trailing:
            out[log_name(p)] = a
        else:
            flat = a.reshape(*a.shape[: axis + 1], -1)
            for j, idx in enumerate(np.ndindex(*trailing)):
                out[log_name(p) + "[" + ",".join(map(str, idx)) + "]"] = flat[..., j]
    return out
