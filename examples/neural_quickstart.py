"""Amortized estimates for thousands of tracks in seconds, with deep-ensemble uncertainty.

Run: ``python examples/neural_quickstart.py`` (about ten seconds).
"""

import numpy as np

import bayesdiff as bd

ens = bd.neural.default_ensemble()  # five networks shipped with bayesdiff
print(ens)

# 1) simulated FBM tracks with known alpha: estimates, uncertainty, model probabilities
rng = np.random.default_rng(0)
alpha = rng.uniform(0.2, 1.8, 1000)
tracks = bd.models.FBM().simulate(
    seed=0, params={"alpha": alpha, "D": 0.05}, n_steps=100, dt=0.05, dim=2, n_tracks=1000
)
table = ens.predict(tracks)  # pandas DataFrame, one row per track
print(table.head().round(3).to_string())
print(f"alpha MAE {np.abs(table.alpha_mean - alpha).mean():.3f}; "
      f"median D {table.D_mean.median():.3f} (true 0.05 µm²/s^alpha)")  # fmt: skip
inside = np.abs(table.alpha_mean - alpha) < 1.645 * table.alpha_sd
print(f"true alpha inside mean ± 1.645 sd: {inside.mean():.2f} of tracks (nominal 0.90)")
# alpha_mean mixes over the classes (Brownian/switching put a point mass at 1);
# alpha_mean_fbm is the estimate *given* that the track is FBM, as a FBM posterior is
print(f"alpha MAE given FBM {np.abs(table.alpha_mean_fbm - alpha).mean():.3f}")

# 2) the same result as ArviZ draws, like a posterior from bd.sample_many
idata = ens.to_inference_data(tracks[:5], draws=500, seed=0)
print(bd.summary(idata).head())

# 3) real tracks: HaloTag-NLS in U2OS nuclei (pixels of 0.16 µm, 7.48 ms frames)
real = bd.io.example_tracks(min_points=ens.min_length)
pred = ens.predict(real)
print(f"{len(real)} real tracks: median alpha {pred.alpha_mean.median():.2f}, "
      f"median D {pred.D_mean.median():.2f} µm²/s^alpha; most probable classes:")  # fmt: skip
print(pred.model.value_counts().to_string())
