"""Is the fitted model any good? The information-content model check on a confined track.

A particle in a harmonic trap (relaxation time 1/k = 20 frames, 1000 frames
observed) is fitted with Brownian motion and with the Langevin
(Ornstein-Uhlenbeck) model, and each fit is checked with ``bd.model_check``.
Brownian motion describes the one-frame steps well but predicts far too large
displacements over many frames: its check fails at the coarse scales
(``p_value_upper`` ~ 0: the observed track is more probable there than the
tracks Brownian motion generates, because it stays put). The Langevin fit
passes at every scale.

Run from the repository root::

    python examples/model_check.py      # writes docs/figures/model_check.png

It takes a minute or two on a laptop (two NUTS fits and two checks).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import bayesdiff as bd  # noqa: E402
from bayesdiff.plots import plot_model_check  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "figures" / "model_check.png"


def main() -> None:
    dt = 0.05  # s
    truth = {"D": 0.1, "k": 1.0 / (20 * dt), "c": [3.0, -2.0]}  # µm²/s, 1/s, µm
    track = bd.models.Langevin().simulate(seed=7, params=truth, n_steps=1000, dt=dt, dim=2)[0]

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True, layout="constrained")
    for model, ax in zip((bd.models.Brownian(), bd.models.Langevin()), axes):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bd.errors.DiagnosticsWarning)
            idata = bd.sample(model, track, draws=500, tune=500, chains=2, seed=0, progress=False)
        check = bd.model_check(model, track, idata, n_replicates=200, seed=0)
        print(f"\n{model.name}: posterior means", {
            p: idata.posterior[p].mean(("chain", "draw")).values.round(3).tolist()
            for p in model.param_names
        })  # fmt: skip
        print(check[["scale", "n_points", "p_value", "p_value_upper"]].to_string(index=False))
        plot_model_check(check, ax=ax)
        ax.set_title(f"{model.name} fitted to a confined track", fontsize="medium")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
