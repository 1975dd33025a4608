"""Diffusive states of HaloTag-NLS in U2OS nuclei: pooled switching fits with K = 1, 2, 3.

Real tracks from the saspt example data (Heckert et al., eLife 2022; see
``examples/data/README.md``): 0.16 µm per pixel, 7.48 ms per frame. Most tracks
are very short, so the states are fitted jointly to all tracks (a pooled fit,
as vbSPT and saspt do). Localization error is modelled with ``noise=True`` and
a prior centred on the median fitted localization error of the detections (with
regular frames the switching model cannot learn ``sigma`` from the data; see
docs/switching.md). The number of states is compared by PSIS-LOO over tracks.

Run from the repository root:

    python examples/switching_real_data.py

Prints D_k, occupancies and dwell times per K, the LOO comparison, and saves
``docs/figures/switching_real.png``.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import numpyro.distributions as dist  # noqa: E402

import bayesdiff as bd  # noqa: E402

tracks = bd.io.example_tracks(min_points=2)  # positions in µm, dt = 7.48 ms
dt = tracks.dt
loc_err = np.concatenate([np.atleast_1d(t.localization_error) for t in tracks])
sigma0 = float(np.nanmedian(loc_err))
n_inc = int(sum(t.n_steps for t in tracks))
print(f"{len(tracks)} tracks with >= 2 points, {n_inc} increments, dt = {dt * 1e3:.2f} ms, "
      f"median localization error {sigma0 * 1e3:.0f} nm")  # fmt: skip

priors = {"sigma": dist.LogNormal(np.log(sigma0), 0.3)}
fits, tables = {}, {}
for K in (1, 2, 3):
    model = bd.models.Switching(n_states=K, noise=True, priors=priors)
    idata = bd.sample(model, tracks, draws=500, tune=500, chains=2, seed=K, progress=False)
    fits[K] = idata
    tables[K] = bd.inference.state_summary(idata)
    print(f"\nK = {K}  ({idata.posterior.attrs['sampling_seconds']:.0f} s, max R-hat "
          f"{idata.posterior.attrs['max_r_hat']:.3f})")  # fmt: skip
    cols = ["state", "D", "D_low", "D_high", "occupancy", "occupancy_low", "occupancy_high"]
    if K > 1:
        cols += ["dwell_s", "dwell_s_low", "dwell_s_high"]
    print(tables[K][cols].round(3).to_string(index=False))
    s = idata.posterior["sigma"].values.ravel()
    print(f"sigma: median {np.median(s) * 1e3:.0f} nm (prior median {sigma0 * 1e3:.0f} nm)")

print("\nPSIS-LOO, leave one track out (higher elpd is better):")
print(bd.inference.loo_n_states(fits, by="track")[["rank", "elpd_loo", "se", "elpd_diff", "dse",
                                                   "weight"]].round(2))  # fmt: skip

# -- figure: displacement histogram with the fitted mixtures, and D_k posteriors ----------------
r = np.concatenate([np.linalg.norm(t.increments, axis=1) for t in tracks])
grid = np.linspace(0, r.max() * 1.02, 400)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
ax = axes[0]
ax.hist(r, bins=60, density=True, color="0.8", label=f"data ({len(r)} steps)")
for K, ls in zip((1, 2, 3), (":", "--", "-")):
    post = fits[K].posterior
    D = np.median(post["D"].values.reshape(-1, K), 0)
    sig = np.median(post["sigma"].values)
    occ = tables[K]["occupancy"].to_numpy()
    s2 = 2 * D * dt + 2 * sig**2  # per-coordinate variance of each state
    dens = sum(w * grid / v * np.exp(-(grid**2) / (2 * v)) for w, v in zip(occ / occ.sum(), s2))
    ax.plot(grid, dens, ls=ls, color="k", label=f"K = {K}")
ax.set_xlabel("step length per frame (µm)")
ax.set_ylabel("density")
ax.legend()
ax.set_title("HaloTag-NLS displacements and fitted mixtures")

ax = axes[1]
colors = ["tab:blue", "tab:orange", "tab:red"]
for k in range(3):
    d = np.log10(fits[3].posterior["D"].values.reshape(-1, 3)[:, k])
    occ = tables[3]["occupancy"][k]
    ax.hist(d, bins=30, density=True, alpha=0.6, color=colors[k],
            label=f"state {k + 1}: occupancy {occ:.2f}")  # fmt: skip
ax.set_xlabel("log10 D (D in µm²/s)")
ax.set_ylabel("posterior density")
ax.legend(fontsize=8)
ax.set_title("K = 3: posterior of each state's D")
fig.tight_layout()
out = Path("docs/figures/switching_real.png")
out.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(out, dpi=120)
print(f"\nsaved {out}")
