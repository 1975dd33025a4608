"""Segmentation under a fitted switching model (bayesdiff.inference.segment): state
probabilities, the changepoint rule, segments and dwell times, the number of states;
with negative controls (one-state tracks must come out without changepoints).

Most posteriors here are known-parameter "posteriors", independent of the sampler.
"""

import arviz as az
import numpy as np
import pytest

import bayesdiff as bd
from bayesdiff.errors import ModelError


def _fake_posterior(D, P, n_draws=4, jitter=0.0, seed=0, dt=0.01):
    rng = np.random.default_rng(seed)
    Ds = np.sort(D * np.exp(jitter * rng.normal(size=(1, n_draws, len(D)))), axis=-1)
    Ps = np.broadcast_to(P, (1, n_draws, *P.shape))
    return az.from_dict(posterior={"D": Ds, "P": Ps}, constant_data={"dt": np.array(dt)})


def test_segment_finds_true_changepoints():
    m = bd.models.Switching(n_states=2)
    D = np.array([0.02, 0.4])
    P = np.array([[0.98, 0.02], [0.02, 0.98]])
    ts, states = m.simulate_with_states(11, {"D": D, "P": P}, 400, 0.01, dim=2, n_tracks=3)
    idata = _fake_posterior(D, P, jitter=0.05)
    segs = bd.segment(m, ts, idata)
    assert isinstance(segs, bd.inference.Segmentations) and len(segs) == 3
    for seg, true in zip(segs, states):
        assert seg.state_probs.shape == (400, 2)
        np.testing.assert_allclose(seg.state_probs.sum(1), 1, atol=1e-12)
        assert np.mean(seg.states == true) > 0.95
        true_cp = np.flatnonzero(np.diff(true)) + 1
        edges = np.r_[0, true_cp, len(true)]
        for i, c in enumerate(true_cp):  # every switch between runs of >= 10 steps is found
            if min(c - edges[i], edges[i + 2] - c) >= 10:
                assert np.min(np.abs(seg.changepoints - c)) <= 5
        table = seg.segments
        assert list(table["start"][1:]) == list(seg.changepoints)
        assert table["n_steps"].sum() == 400 and np.all(table["duration_s"] > 0)
    # dwell times from P: 1 / (1 - 0.98) = 50 frames = 0.5 s
    np.testing.assert_allclose(segs[0].dwell_times["dwell_frames"], 50, rtol=1e-9)
    # one track in, one Segmentation out
    one = bd.segment(m, ts[1], idata)
    np.testing.assert_allclose(one.state_probs, segs[1].state_probs, atol=1e-12)


def test_segment_gapped_track_and_errors():
    m = bd.models.Switching(n_states=2)
    D = np.array([0.02, 0.4])
    P = np.array([[0.98, 0.02], [0.02, 0.98]])
    frames = np.r_[0:50, 52:100, 103:160]
    ts = m.simulate(seed=12, params={"D": D, "P": P}, n_steps=len(frames) - 1, dt=0.01, dim=2,
                    frames=frames)  # fmt: skip
    assert ts[0].has_gaps
    seg = bd.segment(m, ts[0], _fake_posterior(D, P))
    np.testing.assert_allclose(seg.state_probs.sum(1), 1, atol=1e-12)
    assert seg.segments["duration_frames"].sum() == 159  # frames, gaps included
    with pytest.raises(ModelError):  # a posterior without the model's parameters
        bd.segment(bd.models.Switching(n_states=2, noise=True), ts[0], _fake_posterior(D, P))
    with pytest.raises(ModelError):  # no hidden states
        bd.segment(bd.models.Brownian(), ts[0], _fake_posterior(D, P))


def _independent_steps_track(p_state1, D, dt=0.01):
    """A 1-D track whose steps have the probabilities ``p_state1`` of state 1 under a
    2-state model with equal rows of P (the states are independent from step to step,
    each with probability 1/2): the log-odds of state 1 at a step x are
    log N(x; 0, v1) - log N(x; 0, v0) with v_k = 2 D_k dt, solved here for |x|."""
    v0, v1 = 2 * np.asarray(D) * dt
    logit = np.log(p_state1) - np.log1p(-p_state1)
    x = np.sqrt((logit + 0.5 * np.log(v1 / v0)) / (0.5 * (1 / v0 - 1 / v1)))
    x = x * (-1.0) ** np.arange(len(x))
    return bd.Track(np.r_[0.0, np.cumsum(x)][:, None], dt)


def test_changepoint_rule():
    """min_prob = 0.8, min_run = 3: a short run of uncertain steps gives no changepoint;
    with nothing confident the track is one segment in its most probable state."""
    m = bd.models.Switching(n_states=2)
    D, P = np.array([0.001, 1.0]), np.full((2, 2), 0.5)
    p1 = np.r_[[0.95] * 10, [0.6] * 2, [0.3] * 2, [0.05] * 10, [0.7] * 2, [0.02] * 6]
    seg = bd.segment(m, _independent_steps_track(1 - p1, D), _fake_posterior(D, P))
    np.testing.assert_allclose(seg.state_probs[:, 0], p1, rtol=1e-9)  # the construction
    # the 2 uncertain state-1 steps (p = 0.7) are too short: no changepoint back
    assert list(seg.changepoints) == [12]
    assert seg.states[0] == 0 and seg.states[-1] == 1
    # nothing confident at all: one segment in the most probable state
    flat = np.full(20, 0.5) + 0.01
    seg = bd.segment(m, _independent_steps_track(1 - flat, D), _fake_posterior(D, P))
    np.testing.assert_allclose(seg.state_probs[:, 0], flat, rtol=1e-9)
    assert np.all(seg.states == 0) and len(seg.changepoints) == 0


def test_segment_negative_control_fast():
    """2-state model, pooled fit to 1-state tracks: >= 95 % of (other) 1-state tracks
    segmented without a changepoint. The posterior from 4 short tracks is broad (the
    second state's D reaches far above the truth), which makes this harder, not easier,
    than segmenting the fitted tracks. The check has power: a rule that keeps every
    flicker (min_prob 0.5, min_run 1) puts changepoints into most of the same tracks."""
    sw = bd.models.Switching(n_states=2)
    bm = bd.models.Brownian()
    fit_on = bm.simulate(seed=21, params={"D": 0.2}, n_steps=100, dt=0.01, dim=2, n_tracks=4)
    # the posterior by importance sampling (Pareto k ~0.55 here; NUTS takes 5x longer
    # and the -m slow variant below runs it)
    idata = bd.sample(sw, fit_on, method="importance", seed=1, progress=False, warn=False)
    assert idata.attrs["pareto_k"] < 0.7
    test_on = bm.simulate(seed=22, params={"D": 0.2}, n_steps=200, dt=0.01, dim=2, n_tracks=60)
    segs = bd.segment(sw, test_on, idata)
    clean = np.mean([len(s.changepoints) == 0 for s in segs])
    assert clean >= 0.95, clean
    lax = bd.segment(sw, test_on, idata, min_prob=0.5, min_run=1)
    assert np.mean([len(s.changepoints) == 0 for s in lax]) < 0.5


@pytest.mark.slow
def test_segment_negative_control_ten_tracks(optimized):
    """2-state model, pooled fit to 1-state tracks: >= 95 % of (other) 1-state tracks
    segmented without a changepoint. The posterior from 10 short tracks is broad,
    which makes this harder, not easier, than segmenting the fitted tracks."""
    sw = bd.models.Switching(n_states=2)
    bm = bd.models.Brownian()
    fit_on = bm.simulate(seed=21, params={"D": 0.2}, n_steps=100, dt=0.01, dim=2, n_tracks=10)
    with optimized():  # a long run: optimized code repays its compile time
        idata = bd.sample(
            sw, fit_on, draws=150, tune=200, chains=2, seed=1, progress=False, warn=False
        )
    test_on = bm.simulate(seed=22, params={"D": 0.2}, n_steps=200, dt=0.01, dim=2, n_tracks=60)
    segs = bd.segment(sw, test_on, idata)
    clean = np.mean([len(s.changepoints) == 0 for s in segs])
    assert clean >= 0.95, clean


@pytest.mark.slow
def test_segment_negative_control_per_track(optimized):
    """Per-track 2-state fits of 100 one-state tracks: >= 95 % without a changepoint."""
    sw = bd.models.Switching(n_states=2)
    ts = bd.models.Brownian().simulate(seed=31, params={"D": 0.2}, n_steps=200, dt=0.01, dim=2,
                                       n_tracks=100)  # fmt: skip
    with optimized():  # a long run: optimized code repays its compile time
        idata = bd.sample_many(
            sw, ts, draws=300, tune=300, chains=2, seed=2, progress=False, warn=False
        )
    segs = bd.segment(sw, ts, idata)
    clean = np.mean([len(s.changepoints) == 0 for s in segs])
    assert clean >= 0.95, clean


def test_loo_n_states_helper():
    """Leave-one-track-out: NaN padding is skipped; a constant shift of every
    log-likelihood leaves the PSIS weights alone and moves elpd by the shift times the
    number of terms (6 tracks x 10 steps x 0.5 = 30)."""
    rng = np.random.default_rng(0)
    ll1 = rng.normal(-1.0, 0.1, size=(2, 50, 6, 10))
    ll2 = ll1 + 0.5
    ll2[..., -1, 5:] = np.nan  # padded tail of the last track
    post = {"D": rng.normal(size=(2, 50))}
    dims = {"obs": ["track", "step"]}
    fits = {
        k: az.from_dict(posterior=post, log_likelihood={"obs": a}, dims=dims)
        for k, a in ((1, ll1), (2, ll2), (3, ll1 + 0.5))
    }
    table = bd.inference.loo_n_states(fits)
    assert list(table.index) == ["2", "3", "1"]
    assert table.loc["3", "elpd_loo"] - table.loc["1", "elpd_loo"] == pytest.approx(30.0)
    with pytest.raises(ValueError):
        bd.inference.loo_n_states(fits, by="draw")
    one_track = {1: az.from_dict(posterior=post, log_likelihood={"obs": ll1[:, :, 0]})}
    with pytest.raises(ModelError, match="by='step'"):
        bd.inference.loo_n_states(one_track)
