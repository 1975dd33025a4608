"""Switching diffusion: segmentation accuracy, D_k coverage, noise bias and pooled-fit speed.

Prints one table. Rows:

* ``A`` -- 2-state 2D tracks, D ratio 10, mean dwell 50 frames, n = 500 steps,
  SNR 10; per-track NUTS fits (``bd.sample_many``) + ``bd.segment``; the
  hmmlearn maximum-likelihood fit with Viterbi; a sliding-window MSD threshold.
* ``B`` -- the same with D ratio 3 and mean dwell 20 frames.
* ``A, SNR 2`` -- the noise approximation: the fit without noise (``D_k`` absorbs
  ``sigma^2 / dt``) and with ``noise=True`` and ``sigma`` known to 10 %.
* ``pooled`` -- one fit of 1000 tracks x 20 frames (2 states): wall time and
  whether D_k and the switching rates lie in their 90 % intervals.

Definitions. ``SNR = sqrt(D_1 dt) / sigma`` (slowest state). A predicted
changepoint within 5 frames of a true one is a hit (one-to-one matching by
``scipy.optimize.linear_sum_assignment``); ``Jaccard = hits / (hits + false +
missed)`` over all tracks; ``RMSE`` over hits, in frames. ``state F1`` is the
macro F1 of the per-step state labels. ``D cov90``: fraction of (track, state)
pairs whose 90 % central interval of ``D_k`` contains the truth. ``D bias``:
median over tracks of (posterior median / truth) - 1, per state.

Run: ``python benchmarks/switching.py`` (``--n-tracks``, ``--draws``, ``--only A B noise pooled``,
``--quick``).
"""

from __future__ import annotations

import _common
import numpy as np
import numpyro.distributions as dist
from scipy.optimize import linear_sum_assignment

import bayesdiff as bd
from bayesdiff.models.switching import fit_ml

DT = 0.01
D1 = 0.1


def match_changepoints(pred, true, tol=5):
    """One-to-one hits within ``tol`` frames: (n_hits, squared errors, n_pred, n_true)."""
    pred, true = np.asarray(pred), np.asarray(true)
    if len(pred) == 0 or len(true) == 0:
        return 0, [], len(pred), len(true)
    gap = np.abs(pred[:, None] - true[None, :]).astype(float)
    cost = np.where(gap <= tol, gap, 1e6)
    r, c = linear_sum_assignment(cost)
    hits = gap[r, c] <= tol
    return int(hits.sum()), list(gap[r, c][hits] ** 2), len(pred), len(true)


def cp_metrics(preds, trues):
    h = fp = fn = 0
    sq = []
    for p, t in zip(preds, trues):
        n_hit, s, n_p, n_t = match_changepoints(p, t)
        h += n_hit
        fp += n_p - n_hit
        fn += n_t - n_hit
        sq += s
    jac = h / max(h + fp + fn, 1)
    rmse = float(np.sqrt(np.mean(sq))) if sq else float("nan")
    return jac, rmse


def macro_f1(pred, true, K=2):
    pred, true = np.concatenate(pred), np.concatenate(true)
    f1 = []
    for k in range(K):
        tp = np.sum((pred == k) & (true == k))
        fp = np.sum((pred == k) & (true != k))
        fn = np.sum((pred != k) & (true == k))
        f1.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f1))


def changepoints(path):
    return np.flatnonzero(np.diff(path)) + 1


def drop_short_runs(path, min_run=3):
    """Merge runs shorter than ``min_run`` into the preceding run."""
    path = path.copy()
    cps = np.r_[0, changepoints(path), len(path)]
    for a, b in zip(cps[:-1], cps[1:]):
        if b - a < min_run and a > 0:
            path[a:b] = path[a - 1]
    return path


def msd_window_baseline(tracks, w=10):
    """Local D from a centred window of squared steps; threshold by 2-means on log D."""
    local = []
    for t in tracks:
        r = np.sum(t.increments**2, 1) / (2 * t.dim * t.dt)
        local.append(np.convolve(r, np.ones(w) / w, mode="same"))
    logd = np.log(np.concatenate(local))
    c = np.quantile(logd, [0.2, 0.8])
    for _ in range(50):
        lab = np.abs(logd[:, None] - c[None]).argmin(1)
        c = np.array([logd[lab == k].mean() for k in range(2)])
    thr = np.exp(c.mean())
    return [drop_short_runs((d > thr).astype(int)) for d in local]


def hmmlearn_baseline(model, tracks):
    paths, Ds = [], []
    for t in tracks:
        est = fit_ml(model, t)
        X = t.increments / np.sqrt(t.lags)[:, None]
        raw = est["hmm"].predict(X)
        inv = np.argsort(est["order"])  # hmmlearn label -> D-ordered state
        paths.append(inv[raw])
        Ds.append(est["D"])
    return paths, np.array(Ds)


def coverage_and_bias(idata, D_true, prob=0.9):
    D = idata.posterior["D"].values  # (chain, draw, track, K)
    D = D.reshape(-1, *D.shape[2:])
    lo, hi = np.quantile(D, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    cov = np.mean((D_true >= lo) & (D_true <= hi))
    bias = np.median(np.median(D, 0) / D_true, 0) - 1
    return float(cov), bias


def scenario(
    label, ratio, dwell, n_tracks, n_steps, snr, seed, rows, noise_fit=(False,), draws=500
):
    m = bd.models.Switching(n_states=2)
    D = np.array([D1, D1 * ratio])
    stay = 1 - 1 / dwell
    P = np.array([[stay, 1 - stay], [1 - stay, stay]])
    sigma = np.sqrt(D1 * DT) / snr
    sim = bd.models.Switching(n_states=2, noise=True)
    tracks, states = sim.simulate_with_states(
        seed, {"D": D, "P": P, "sigma": sigma}, n_steps, DT, dim=2, n_tracks=n_tracks
    )
    true_cp = [changepoints(s) for s in states]
    for noise in noise_fit:
        if noise:
            prior = {"sigma": dist.LogNormal(np.log(sigma), 0.1)}
            fit_model = bd.models.Switching(n_states=2, noise=True, priors=prior)
        else:
            fit_model = m
        with _common.timer() as t:
            idata = bd.sample_many(fit_model, tracks, draws=draws, tune=draws, chains=2,
                                   seed=seed, progress=False, warn=False)  # fmt: skip
            segs = bd.segment(fit_model, tracks, idata)
        jac, rmse = cp_metrics([s.changepoints for s in segs], true_cp)
        f1 = macro_f1([s.states for s in segs], states)
        cov, bias = coverage_and_bias(idata, D)
        name = "bayes (noise, sigma known)" if noise else "bayes"
        rows.append(_row(label, name, jac, rmse, f1, cov, bias, t.seconds))
    if noise_fit == (False,):
        with _common.timer() as t:
            paths, Ds = hmmlearn_baseline(m, tracks)
        jac, rmse = cp_metrics([changepoints(p) for p in paths], true_cp)
        bias = np.median(Ds / D, 0) - 1
        rows.append(_row(label, "hmmlearn ML + Viterbi", jac, rmse, macro_f1(paths, states),
                         np.nan, bias, t.seconds))  # fmt: skip
        with _common.timer() as t:
            paths = msd_window_baseline(tracks)
        jac, rmse = cp_metrics([changepoints(p) for p in paths], true_cp)
        rows.append(_row(label, "MSD window (w=10)", jac, rmse, macro_f1(paths, states), np.nan,
                         np.array([np.nan, np.nan]), t.seconds))  # fmt: skip


def pooled(n_tracks, n_points, seed, rows_pooled, draws=500):
    m = bd.models.Switching(n_states=2)
    D = np.array([D1, D1 * 10])
    P = np.array([[0.9, 0.1], [0.05, 0.95]])
    tracks = m.simulate(seed, {"D": D, "P": P}, n_points - 1, DT, dim=2, n_tracks=n_tracks)
    with _common.timer() as t:
        idata = bd.sample(m, tracks, draws=draws, tune=draws, chains=2, seed=seed,
                          progress=False, warn=False)  # fmt: skip
    post_D = idata.posterior["D"].values.reshape(-1, 2)
    post_P = idata.posterior["P"].values.reshape(-1, 2, 2)
    rates = np.stack([post_P[:, 0, 1], post_P[:, 1, 0]], 1) / DT
    true_rates = np.array([P[0, 1], P[1, 0]]) / DT
    for name, a, truth in [("D_1", post_D[:, 0], D[0]), ("D_2", post_D[:, 1], D[1]),
                           ("k_12 (1/s)", rates[:, 0], true_rates[0]),
                           ("k_21 (1/s)", rates[:, 1], true_rates[1])]:  # fmt: skip
        lo, med, hi = np.quantile(a, [0.05, 0.5, 0.95])
        rows_pooled.append(
            {"parameter": name, "truth": truth, "median": med, "5%": lo, "95%": hi,
             "inside": bool(lo <= truth <= hi)}
        )  # fmt: skip
    return t.seconds


def _row(label, name, jac, rmse, f1, cov, bias, secs) -> dict:
    return {
        "scenario": label, "method": name, "cp Jaccard": jac, "cp RMSE": rmse, "state F1": f1,
        "D cov90": cov, "D1 bias": bias[0], "D2 bias": bias[1], "time s": secs,
    }  # fmt: skip


FORMATS = {"cp RMSE": ".2f", "D1 bias": "+.3f", "D2 bias": "+.3f", "time s": ".1f"}

SCENARIOS = {
    "A": dict(label="A: ratio 10, dwell 50, SNR 10", ratio=10, dwell=50, snr=10, seed=1),
    "B": dict(label="B: ratio 3, dwell 20, SNR 10", ratio=3, dwell=20, snr=10, seed=2),
    "noise": dict(label="A at SNR 2", ratio=10, dwell=50, snr=2, seed=3, noise_fit=(False, True)),
}


def main(argv=None):
    ap = _common.parser(
        __doc__,
        draws=500,
        draws_help="NUTS draws (= tuning steps) per chain",
        quick={"n_tracks": 8, "n_pooled": 200},
    )
    ap.add_argument("--n-tracks", type=int, default=40, help="tracks per segmentation scenario")
    ap.add_argument("--n-pooled", type=int, default=1000, help="tracks in the pooled fit")
    ap.add_argument("--only", nargs="+", choices=[*SCENARIOS, "pooled"],
                    default=[*SCENARIOS, "pooled"], help="which parts to run")  # fmt: skip
    args = ap.parse_args(argv)
    n, n_pool = args.n_tracks, args.n_pooled
    clock = _common.timer()
    rows: list = []
    for key in args.only:
        if key == "pooled":
            continue
        sc = dict(SCENARIOS[key])
        n_sc = max(n // 2, 4) if key == "noise" else n
        scenario(sc.pop("label"), sc.pop("ratio"), sc.pop("dwell"), n_sc, 500, sc.pop("snr"),
                 sc.pop("seed"), rows, draws=args.draws, **sc)  # fmt: skip
        _common.progress(f"  [{key}: done, {clock.seconds:.0f} s]")
    if rows:
        _common.print_table(
            rows,
            f"Switching diffusion benchmark: 2-state 2D tracks, dt = {DT} s, D_1 = {D1} µm²/s, "
            f"{n} tracks x 500 steps per scenario ({max(n // 2, 4)} at SNR 2), per-track NUTS "
            f"(2 chains x {args.draws} draws)",
            fmt=".3f",
            formats=FORMATS,
            note="targets (A, bayes): Jaccard >= 0.75, RMSE <= 2 frames, F1 >= 0.9, "
            "D cov90 in [0.85, 0.95]",
        )
    if "pooled" in args.only:
        rows_pooled: list = []
        secs_pooled = pooled(n_pool, 20, 4, rows_pooled, draws=args.draws)
        _common.print_table(
            rows_pooled,
            f"Pooled fit: {n_pool} tracks x 20 frames, 2 states, D = [{D1}, {10 * D1}], "
            f"P = [[0.9, 0.1], [0.05, 0.95]]; wall time {secs_pooled:.1f} s (target <= 300 s)",
            fmt=".3f",
        )
    print(f"\ntotal wall time {clock.seconds:.0f} s")


if __name__ == "__main__":
    main()
