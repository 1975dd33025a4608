"""Generate 1-D AnDi-2020-style tracks (ATTM, CTRW, FBM, LW, SBM) for ``andi_eval.py``.

This script runs ONLY in a separate virtual environment with ``andi-datasets``
(its releases pin ``numpy <= 1.26.4``, which cannot share bayesdiff's
environment). Set-up used for ``docs/neural.md``::

    python3 -m venv /tmp/andi-venv
    /tmp/andi-venv/bin/pip install andi-datasets 'stochastic<0.7' ipython
    /tmp/andi-venv/bin/python benchmarks/andi_generate.py

(``stochastic`` 0.7 moved a module that andi-datasets imports; ``ipython`` is
needed by ``andi_datasets.datasets_challenge``). Measured with
andi-datasets 2.1.13, stochastic 0.6.0, numpy 1.26.4. Of this repository it uses
only ``benchmarks/_common.py`` (standard library; it does not import bayesdiff).

What is generated, following the AnDi 2020 challenge, task 1 (``challenge_theory_dataset``
of andi-datasets, which this reproduces without its random cutting of lengths):

* ``N`` tracks per model (``--n-per-model``, default 1000), 1-D, ``T`` positions
  (``--T``, default 100), made by ``datasets_theory().create_dataset``;
* alpha spread evenly over each model's allowed part of the challenge grid
  0.05, 0.10, ..., 2.00: ATTM and CTRW 0.05-1.00, FBM 0.05-1.95, LW 1.05-2.00,
  SBM 0.05-2.00;
* every track normalized as in the challenge (``utils_trajectories.normalize``:
  displacements divided by their standard deviation, starting at 0):
  ``positions_clean``;
* the challenge's noise on top (``positions``): Gaussian localization error of
  standard deviation 0.1, 0.5 or 1 (chosen at random per track, in units of the
  normalized step), then all displacements multiplied by a standard-normal draw
  per track (the challenge's random "diffusion coefficient").

Output: an ``.npz`` (``--out``, default ``benchmarks/_out/andi/andi_1d_T100.npz``) with
``positions`` and ``positions_clean`` (n, T), and per track ``alpha``, ``model`` (str),
``loc_noise`` and ``diff_coef``; ``seed`` and ``versions`` (a JSON string). Everything is
seeded (``--seed``, default 0): andi-datasets draws from the global ``np.random`` (seeded),
``stochastic`` is switched to it, and the noise comes from ``np.random.default_rng(seed)``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import _common  # benchmarks/_common.py: standard library only, no bayesdiff
import numpy as np

MODELS = ["attm", "ctrw", "fbm", "lw", "sbm"]  # andi-datasets' label order (alphabetical)
EXPONENTS = np.round(np.arange(0.05, 2.01, 0.05), 2)
ALLOWED = {
    "attm": EXPONENTS <= 1.0,
    "ctrw": EXPONENTS <= 1.0,
    "fbm": EXPONENTS < 2.0,
    "lw": EXPONENTS > 1.0,
    "sbm": np.ones(EXPONENTS.size, dtype=bool),
}


def counts(n_per_model: int) -> np.ndarray:
    """Tracks per (model, exponent): n_per_model spread as evenly as possible."""
    out = np.zeros((len(MODELS), EXPONENTS.size), dtype=int)
    for i, m in enumerate(MODELS):
        idx = np.flatnonzero(ALLOWED[m])
        base, extra = divmod(n_per_model, idx.size)
        out[i, idx] = base
        out[i, idx[:extra]] += 1
    return out


def main() -> None:
    p = _common.parser(__doc__, seed=0)
    p.add_argument("--n-per-model", type=int, default=1000)
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--out", default="benchmarks/_out/andi/andi_1d_T100.npz")
    args = p.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "you will need Deeptrack" (videos only)
        import andi_datasets
        import stochastic
        from andi_datasets.datasets_theory import datasets_theory
        from andi_datasets.utils_trajectories import normalize
        from stochastic import random as st_random

    np.random.seed(args.seed)  # noqa: NPY002 (andi-datasets draws from the legacy global state)
    st_random.use_randomstate()  # FBM (stochastic) draws from the seeded np.random too

    clock = _common.timer()
    gen = datasets_theory()
    assert gen.avail_models_name == MODELS, gen.avail_models_name
    data = gen.create_dataset(
        T=args.T,
        N_models=counts(args.n_per_model),
        exponents=EXPONENTS,
        models=list(range(len(MODELS))),
        dimension=1,
    )
    labels = data[:, 0].astype(int)
    alpha = np.round(data[:, 1], 2)
    clean = normalize(data[:, 2:])

    # the challenge's noise (challenge_theory_dataset): localization error, then a random
    # per-track factor on the displacements
    rng = np.random.default_rng(args.seed)
    n = clean.shape[0]
    loc = rng.choice(np.array([0.1, 0.5, 1.0]), size=n)
    noisy = clean + rng.standard_normal((n, args.T)) * loc[:, None]
    diff_coef = rng.standard_normal(n)
    steps = np.diff(noisy, axis=1) * diff_coef[:, None]
    noisy = np.concatenate([np.zeros((n, 1)), np.cumsum(steps, axis=1)], axis=1)
    elapsed = clock.seconds

    versions = {
        "andi_datasets": getattr(andi_datasets, "__version__", "?"),
        "stochastic": getattr(stochastic, "__version__", "?"),
        "numpy": np.__version__,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        positions=noisy,
        positions_clean=clean,
        alpha=alpha,
        model=np.asarray(MODELS)[labels],
        loc_noise=loc,
        diff_coef=diff_coef,
        seed=args.seed,
        versions=json.dumps(versions),
    )
    per = ", ".join(f"{m}: {(labels == i).sum()}" for i, m in enumerate(MODELS))
    print(f"{n} tracks of T = {args.T} ({per}) in {elapsed:.1f} s -> {out}")
    print(f"versions: {versions}")


if __name__ == "__main__":
    main()
