"""Lévy walk through a hidden Markov model: approximation error, accuracy and speed.

Run from the repository root::

    python benchmarks/levy_walk.py                 # everything (~20 min on 2 cores)
    python benchmarks/levy_walk.py --quick         # a smoke run with few tracks
    python benchmarks/levy_walk.py --sections speed,approx

Sections (each prints one table):

approx    Flight-time approximation: the chain's survival and its equilibrium
          no-turn probability against the exact Pareto values, per number of rates.
settings  What the discretization options cost: maximum-likelihood alpha on the
          same 2D tracks (n = 200, SNR 10) for several (n_directions, turn_bins,
          direction_blur, n_rates), with the time of one log-density gradient.
accuracy  Posterior mean of alpha (NUTS) on exact continuous-time Lévy walks,
          1D and 2D, n = 100/200/500 increments, SNR 10 and 2, alpha drawn
          uniformly in [1.1, 1.9] per track: MAE, coverage and width of central
          90% intervals, and the MAE of a time-averaged-MSD power-law fit on the
          same tracks.
oracle    The best MAE of alpha any estimator could reach if it saw every flight
          duration exactly (Bayes posterior mean and median; not run by default).
speed     Log-likelihood + gradient of a 1000-step 1D track against hmmlearn's
          forward pass (value only) on the equivalent HMM; 100 such tracks batched
          against hmmlearn looping; the posterior (4 chains x 1000 draws) of one
          200-step 2D track (in a child process with JAX's default threading;
          `--sections posterior` runs it alone).

Definitions. The walk has flight speed ``v`` and step noise ``sigma`` per
coordinate per frame (see ``bayesdiff.models.LevyWalk``); SNR = v dt / sigma,
the flight displacement in one frame over the noise of one increment. Flight
durations are Pareto with minimum tau0 = dt, simulated exactly in continuous
time (not from the HMM), in equilibrium, and sampled at the frames.

TA-MSD fit: for each track the time-averaged MSD (all coordinates) at lags
1..max(4, n // 10) is fitted by least squares in log-log
(``bayesdiff.calibration.msd_exponent``); the slope, clipped to [1, 2] (the
prior range the Bayesian fit also knows), is the estimate.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
import warnings
from functools import partial

import _common

# one thread per JAX CPU device, so that CPU times compare with single-threaded hmmlearn
# (the posterior's wall time is measured in a child process with JAX's defaults)
if "XLA_FLAGS" not in os.environ and "LEVY_BENCH_DEFAULTS" not in os.environ:
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"

import bayesdiff as bd  # before JAX: bayesdiff sets the host devices (parallel chains)

# isort: split
import jax
import jax.numpy as jnp
import numpy as np

from bayesdiff.calibration import msd_exponent
from bayesdiff.models.base import as_data
from bayesdiff.models.levy import chain_survival, flight_chain, survival_exact

DT, V = 0.1, 1.0
_SINGLE_THREAD = os.environ.get("XLA_FLAGS") == "--xla_cpu_multi_thread_eigen=false"
GAMMAS = (1.1, 1.3, 1.5, 1.7, 1.9)


def _cpu_ms(f, *args, n=10):
    """Best-of-n process CPU time of a jitted call, ms (robust to other load on the machine)."""
    return 1e3 * _common.best_of(
        lambda: jax.block_until_ready(f(*args)), repeat=n, clock=time.process_time
    )


# -----------------------------------------------------------------------------
def section_approx():
    rows = []
    m = np.arange(0, 1001)
    for n_rates in (6, 8, 10, 12, 16):
        surv, phi = 0.0, 0.0
        for g in GAMMAS:
            ch = flight_chain(g, n_rates=n_rates, tau0=1, tau_max=1e4)
            S = np.asarray(chain_survival(ch, 1000))
            surv = max(surv, np.max(np.abs(S / survival_exact(m, g) - 1)))
            W, pi = np.asarray(ch.within), np.asarray(ch.init)
            p, got = pi.copy(), []
            for _ in range(100):
                p = p @ W
                got.append(p.sum())
            lag = np.arange(1, 101)
            phi = max(phi, np.max(np.abs(np.array(got) / (lag ** (1 - g) / g) - 1)))
        rows.append((n_rates, f"{surv:.2%}", f"{phi:.2%}"))
    _common.print_table(
        rows,
        "Flight-time approximation (tau0 = 1 frame, tau_max = 1e4 frames, gamma in 1.1..1.9)",
        columns=[
            "n_rates",
            "max rel. error of survival S(m), m = 0..1000",
            "max rel. error of equilibrium P(no turn in l frames), l = 1..100",
        ],
    )


# -----------------------------------------------------------------------------
def _unpack(fn, data):
    return lambda z: tuple(np.asarray(u) for u in fn(z, data))


def _mle_alpha(model, tracks, v, sigma):
    from scipy.optimize import minimize

    def nll(z, data):
        p = {"alpha": 1 + jax.nn.sigmoid(z[0]), "v": jnp.exp(z[1]), "sigma": jnp.exp(z[2])}
        return -model.loglik_from_data(p, data, True)

    vg = jax.jit(jax.value_and_grad(nll))
    out = []
    for tr in tracks:
        data, _ = as_data(tr)
        best = None
        for a0 in (1.25, 1.75):
            z0 = np.array([math.log((a0 - 1) / (2 - a0)), math.log(v), math.log(sigma)])
            r = minimize(_unpack(vg, data), z0, jac=True, method="L-BFGS-B")
            if best is None or r.fun < best.fun:
                best = r
        out.append((1 + 1 / (1 + math.exp(-best.x[0])), math.exp(best.x[2])))
    return np.array(out)


def _grad_ms(model, track):
    data, _ = as_data(track)
    g = jax.jit(jax.value_and_grad(partial(model.fast_loglik, regular=True)))
    p = {"alpha": jnp.asarray(1.5), "v": jnp.asarray(V), "sigma": jnp.asarray(0.01)}
    return _cpu_ms(g, p, data)


def section_settings(n_tracks):
    sim = bd.models.LevyWalk()
    snr, n = 10.0, 200
    sigma = V * DT / snr
    alphas = (1.2, 1.5, 1.8)
    tracks = {
        a: sim.simulate(
            seed=int(a * 100) + 7,
            params={"alpha": a, "v": V, "sigma": sigma},
            n_steps=n,
            dt=DT,
            dim=2,
            n_tracks=n_tracks,
        )
        for a in alphas
    }
    settings = [
        dict(n_directions=8, turn_bins=2, direction_blur=True),
        dict(n_directions=8, turn_bins=2, direction_blur=False),
        dict(n_directions=8, turn_bins=1, direction_blur=True),
        dict(n_directions=8, turn_bins=3, direction_blur=True),
        dict(n_directions=12, turn_bins=2, direction_blur=True),
        dict(n_directions=16, turn_bins=2, direction_blur=True),
        dict(n_directions=16, turn_bins=2, direction_blur=False),
        dict(n_directions=8, turn_bins=2, direction_blur=True, n_rates=8),
        dict(n_directions=8, turn_bins=2, direction_blur=True, n_rates=16),
    ]
    rows = []
    for s in settings:
        m = bd.models.LevyWalk(**s)
        est = {a: _mle_alpha(m, tracks[a], V, sigma) for a in alphas}
        mae = np.mean([np.mean(np.abs(est[a][:, 0] - a)) for a in alphas])
        bias = " / ".join(f"{np.mean(est[a][:, 0]) - a:+.2f}" for a in alphas)
        sig = np.mean([np.mean(est[a][:, 1]) for a in alphas]) / sigma
        rows.append(
            (
                s.get("n_directions"),
                s.get("turn_bins"),
                "yes" if s["direction_blur"] else "no",
                s.get("n_rates", 12),
                f"{mae:.3f}",
                bias,
                f"{sig:.2f}",
                f"{_grad_ms(m, tracks[1.5][0]):.2f}",
            )
        )
    _common.print_table(
        rows,
        f"2D settings: maximum-likelihood alpha, n = {n}, SNR 10, "
        f"{n_tracks} tracks at each alpha = 1.2, 1.5, 1.8",
        columns=[
            "n_directions",
            "turn_bins",
            "direction_blur",
            "n_rates",
            "MAE alpha",
            "bias at 1.2 / 1.5 / 1.8",
            "sigma_hat / sigma",
            "value+grad ms (CPU)",
        ],
    )


# -----------------------------------------------------------------------------
def section_oracle(n_tracks=4000, seed=0):
    """Best attainable MAE of alpha when every flight duration is seen exactly.

    An oracle observes the flights of a walk over ``n`` frames in continuous
    time (no noise, no frame grid; the first flight starts at 0, the last is
    censored), with tau0 = 1 frame known, and reports the exact Bayesian
    posterior mean and median of alpha under alpha ~ U(1.1, 1.9). Frame data
    carry less information than this, so no estimator from the frames has a
    lower expected error on such tracks than the Bayes estimator here.
    """
    rng = np.random.default_rng(seed)
    grid = np.linspace(1.1, 1.9, 801)  # gamma = 3 - alpha has the same uniform range
    rows = []
    for n in (100, 200, 500):
        err_mean, err_med = [], []
        for _ in range(n_tracks):
            g = rng.uniform(1.1, 1.9)
            t, log_sum, count = 0.0, 0.0, 0
            while True:
                d = (1.0 - rng.random()) ** (-1.0 / g)  # Pareto, tau0 = 1
                if t + d > n:
                    break
                t, log_sum, count = t + d, log_sum + math.log(d), count + 1
            ll = count * np.log(grid) - (grid + 1.0) * log_sum
            if n - t > 1.0:  # censored last flight: survival (1 / c)^gamma
                ll -= grid * math.log(n - t)
            w = np.exp(ll - ll.max())
            w /= w.sum()
            err_mean.append(abs(np.sum(w * grid) - g))
            err_med.append(abs(grid[np.searchsorted(np.cumsum(w), 0.5)] - g))
        rows.append((n, n_tracks, f"{np.mean(err_mean):.3f}", f"{np.mean(err_med):.3f}"))
    _common.print_table(
        rows,
        "Oracle: MAE of alpha from exactly observed flight durations (Bayes estimators, "
        "alpha ~ U(1.1, 1.9), tau0 = 1 frame)",
        columns=["n frames", "walks", "MAE posterior mean", "MAE posterior median"],
    )


def section_accuracy(cells, draws, tune, chains, seed=0):
    model = bd.models.LevyWalk()
    rows = []
    for dim, n, snr, n_tracks in cells:
        rng = np.random.default_rng(1000 * dim + n + int(snr))
        alphas = rng.uniform(1.1, 1.9, n_tracks)
        sigma = V * DT / snr
        ts = model.simulate(
            seed=int(rng.integers(1 << 30)),
            params={"alpha": alphas, "v": V, "sigma": sigma},
            n_steps=n,
            dt=DT,
            dim=dim,
            n_tracks=n_tracks,
        )
        post = []
        with _common.timer() as clock, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for tr in ts:  # one track at a time: its chains run side by side on the cores
                idata = bd.sample(
                    model, tr, draws=draws, tune=tune, chains=chains, seed=seed, progress=False
                )
                post.append(idata.posterior["alpha"].values.reshape(-1))
        secs = clock.seconds
        post = np.stack(post, axis=1)  # (draws, tracks)
        mean = post.mean(0)
        lo, hi = np.quantile(post, [0.05, 0.95], axis=0)
        mae = np.mean(np.abs(mean - alphas))
        cover = np.mean((lo <= alphas) & (alphas <= hi))
        ta = np.clip([msd_exponent(t) for t in ts], 1.0, 2.0)  # lags 1..max(4, n // 10)
        ta_mae = np.mean(np.abs(ta - alphas))
        rows.append(
            (
                dim,
                n,
                int(snr),
                n_tracks,
                f"{mae:.3f}",
                f"{cover:.2f}",
                f"{np.mean(hi - lo):.2f}",
                f"{ta_mae:.3f}",
                f"{mae / ta_mae:.2f}",
                f"{secs / n_tracks:.1f}",
            )
        )
        _common.progress(f"   {rows[-1]}")
    _common.print_table(
        rows,
        f"Accuracy on exact Lévy walks (alpha ~ U(1.1, 1.9) per track; NUTS {chains} chains "
        f"x {draws} draws, {tune} tuning; default LevyWalk())",
        columns=[
            "dim",
            "n",
            "SNR",
            "tracks",
            "MAE posterior mean",
            "90% coverage",
            "mean 90% width",
            "MAE TA-MSD fit",
            "ratio",
            "s / track (wall)",
        ],
    )


# -----------------------------------------------------------------------------
def _equivalent_hmmlearn(model, params, dim):
    """hmmlearn GaussianHMM with the same states and transitions (emissions: flight step only)."""
    from hmmlearn import hmm

    ch = model.chain(params["alpha"])
    W, M, pi = (np.asarray(a) for a in (ch.within, ch.renew, ch.init))
    R, B = M.shape
    D = 2 if dim == 1 else model.n_directions
    A = np.einsum("ij,de->idje", W, np.eye(D))
    A[:, :, :B, :] += M[:, None, :, None] / D
    A = A.reshape(R * D, R * D)
    A /= A.sum(1, keepdims=True)
    dirs = np.array([[1.0], [-1.0]]) if dim == 1 else None
    h = hmm.GaussianHMM(n_components=R * D, covariance_type="spherical", init_params="", params="")
    h.startprob_ = np.repeat(pi, D) / D
    h.transmat_ = A
    h.means_ = np.tile(params["v"] * DT * dirs, (R, 1))
    h.covars_ = np.full(R * D, params["sigma"] ** 2)
    return h


def section_speed(posterior: bool = True):
    model = bd.models.LevyWalk()
    params = {"alpha": 1.5, "v": V, "sigma": V * DT / 10}
    p = {k: jnp.asarray(v) for k, v in params.items()}
    ts = model.simulate(seed=3, params=params, n_steps=1000, dt=DT, dim=1, n_tracks=100)
    data, _ = as_data(ts[0])
    value = jax.jit(partial(model.loglik_from_data, regular=True))
    fast = partial(model.fast_loglik, regular=True)  # the samplers' path
    vg = jax.jit(jax.value_and_grad(fast))
    h = _equivalent_hmmlearn(model, params, 1)
    x = ts[0].increments
    h.score(x)

    def hl_score():
        return h.score(x)

    def hl_ms(fn, n=10):
        return 1e3 * _common.best_of(fn, repeat=n, clock=time.process_time)

    batch = jax.tree.map(lambda *a: jnp.stack(a), *[as_data(t)[0] for t in ts])
    vg_batch = jax.jit(jax.vmap(jax.value_and_grad(fast), in_axes=(None, 0)))
    K = h.n_components
    rows = [
        (
            "1 track x 1000 steps (1D)",
            f"{_cpu_ms(value, p, data):.2f}",
            f"{_cpu_ms(vg, p, data):.2f}",
            f"{hl_ms(hl_score):.2f}",
            K,
        ),
        (
            "100 tracks x 1000 steps (1D)",
            "",
            f"{_cpu_ms(vg_batch, p, batch, n=3):.1f}",
            f"{hl_ms(lambda: [h.score(t.increments) for t in ts], n=3):.1f}",
            K,
        ),
    ]
    _common.print_table(
        rows,
        "Speed: log-likelihood (+ gradient) vs hmmlearn's forward pass (score, value only), "
        "ms of CPU time",
        columns=[
            "what",
            "bayesdiff value",
            "bayesdiff value + gradient",
            "hmmlearn score",
            "states K",
        ],
    )
    if posterior:
        section_posterior()


def section_posterior():
    """Wall time of one 200-step 2D posterior, with JAX's default threading."""
    if _SINGLE_THREAD:  # this process limits XLA's threads: measure in a fresh one
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        env["LEVY_BENCH_DEFAULTS"] = "1"
        out = subprocess.run(
            [sys.executable, __file__, "--sections", "posterior", "--no-header"],
            env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        print(out.stdout, end="")
        return
    model = bd.models.LevyWalk()
    params = {"alpha": 1.5, "v": V, "sigma": V * DT / 10}
    tr = model.simulate(seed=4, params=params, n_steps=200, dt=DT, dim=2)[0]
    rows = []
    with _common.timer() as t, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bd.sample(model, tr, draws=20, tune=20, chains=4, seed=0, progress=False)  # compile
    print(f"first call (compilation, mode search, 4 x 40 iterations): {t.seconds:.1f} s")
    for tune in (1000, 500):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _common.timer() as t:
                idata = bd.sample(
                    model, tr, draws=1000, tune=tune, chains=4, seed=0, progress=False
                )
            secs = t.seconds
        steps = float(idata.sample_stats["n_steps"].mean())
        rows.append(
            (
                f"4 chains x 1000 draws, {tune} tuning",
                f"{secs:.1f}",
                f"{steps:.1f}",
                f"{float(idata.posterior['alpha'].mean()):.3f}",
            )
        )
    _common.print_table(
        rows,
        "Posterior of one 200-step 2D track (alpha 1.5, SNR 10), wall time after compilation",
        columns=["run", "seconds", "mean leapfrog steps / draw", "posterior mean alpha"],
    )


# -----------------------------------------------------------------------------
def main(argv=None):
    ap = _common.parser(__doc__, quick="few tracks and draws (smoke run)")
    ap.add_argument("--sections", default="approx,settings,accuracy,speed")
    ap.add_argument(
        "--cells",
        default=None,
        help="accuracy cells as dim:n:snr:tracks, comma-separated (default: the full table)",
    )
    ap.add_argument("--no-header", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sections = args.sections.split(",")
    clock = _common.timer()
    if not args.no_header:
        print(f"bayesdiff {bd.__version__}, jax {jax.__version__}, "
              f"{jax.device_count()} CPU devices")  # fmt: skip
    if sections == ["posterior"]:
        section_posterior()
        return
    if "approx" in sections:
        section_approx()
    if "speed" in sections:
        section_speed(posterior=not args.quick)
    if "oracle" in sections:
        section_oracle(n_tracks=200 if args.quick else 4000)
    if "accuracy" in sections:
        if args.quick:
            cells = [(1, 100, 10.0, 2), (2, 100, 10.0, 2)]
            section_accuracy(cells, draws=100, tune=100, chains=2)
        elif args.cells:
            cells = [
                (int(d), int(n), float(snr), int(k))
                for d, n, snr, k in (c.split(":") for c in args.cells.split(","))
            ]
            section_accuracy(cells, draws=300, tune=300, chains=2)
        else:
            main_n = 12
            cells = [(dim, 200, 10.0, main_n) for dim in (1, 2)] + [
                (dim, n, snr, 6)
                for dim in (1, 2)
                for snr in (10.0, 2.0)
                for n in (100, 200, 500)
                if (n, snr) != (200, 10.0)
            ]
            section_accuracy(cells, draws=300, tune=300, chains=2)
    if "settings" in sections:
        section_settings(n_tracks=2 if args.quick else 6)
    print(f"\ntotal {clock.seconds:.0f} s")


if __name__ == "__main__":
    main()
