"""Segment a simulated two-state track: fit, state probabilities, changepoints, dwell times.

Run from the repository root:

    python examples/switching_segment.py

Saves ``docs/figures/segmented_track.png``.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import bayesdiff as bd  # noqa: E402

DT = 0.01  # s
TRUE = {"D": np.array([0.05, 0.5]), "P": np.array([[0.98, 0.02], [0.03, 0.97]])}

model = bd.models.Switching(n_states=2)
tracks, states = model.simulate_with_states(seed=3, params=TRUE, n_steps=400, dt=DT, dim=2)
track, true_states = tracks[0], states[0]

idata = bd.sample(model, track, draws=500, tune=500, chains=2, seed=0, progress=False)
print(bd.summary(idata))

seg = bd.segment(model, track, idata)
print("\nchangepoints (step index):", seg.changepoints.tolist())
print("true changepoints:        ", (np.flatnonzero(np.diff(true_states)) + 1).tolist())
print(f"steps labelled correctly: {np.mean(seg.states == true_states):.3f}")
print("\nsegments:\n", seg.segments.to_string(index=False))
print("\nper-state summary (90 % intervals):\n", seg.dwell_times.round(4).to_string(index=False))

# -- figure ---------------------------------------------------------------------
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.6]})
colors = np.array(["tab:blue", "tab:red"])
pos = track.positions
ax = axes[0]
for a, b, k in seg.segments[["start", "end", "state"]].itertuples(index=False):
    ax.plot(pos[a : b + 1, 0], pos[a : b + 1, 1], color=colors[k], lw=1)
ax.plot(*pos[0], "ko", ms=4)
ax.set_aspect("equal")
ax.set_xlabel("x (µm)")
ax.set_ylabel("y (µm)")
ax.set_title("track coloured by segmented state\n(blue: slow, red: fast)")

ax = axes[1]
t = np.arange(track.n_steps)
ax.fill_between(t, 0, seg.state_probs[:, 1], step="mid", color="tab:red", alpha=0.3,
                label="p(fast state | data)")  # fmt: skip
ax.step(t, true_states * 1.0, where="mid", color="k", lw=1, label="true state")
for c in seg.changepoints:
    ax.axvline(c, color="tab:green", lw=1, ls="--")
ax.plot([], [], color="tab:green", ls="--", label="changepoints")
ax.set_xlabel("step")
ax.set_ylabel("probability / state")
ax.set_ylim(-0.05, 1.05)
ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
ax.set_title("posterior state probability (averaged over draws)")
fig.tight_layout()
out = Path("docs/figures/segmented_track.png")
out.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(out, dpi=120)
print(f"\nsaved {out}")
