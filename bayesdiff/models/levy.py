"""Lévy walk (flights of constant speed with power-law durations) through a hidden Markov model."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from functools import partial
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.special import erfc, gammaln

from .._kernels.gaussian import forward_mode_vjp
from .._kernels.hmm import forward, matrix_power, renewal_forward, renewal_loglik, stationary
from ..errors import ModelError, ParameterError
from .base import Model, TrackData
from .priors import LEVY_ALPHA_RANGE, LEVY_SIGMA_RANGE, LEVY_V_RANGE

__all__ = [
    "LevyWalk",
    "FlightChain",
    "flight_chain",
    "chain_survival",
    "survival_exact",
    "emissions",
    "simulate_levy_walk",
    "msd_exact",
]

_LOG2PI = float(np.log(2 * np.pi))
_SQRT_HALF = float(np.sqrt(0.5))
#: Fastest mixture rate, per frame, times the minimum flight duration in frames.
_K_HI = 20.0


# -----------------------------------------------------------------------------
# flight-time distribution and its phase-type (mixture of exponentials) approximation
# -----------------------------------------------------------------------------
def survival_exact(m, gamma, tau0: float = 1.0):
    """Frame-level survival of a Pareto flight: probability of at least ``m`` full frames.

    A flight of duration ``tau`` (frames) with ``P(tau > t) = min(1, (tau0 / t)^gamma)``
    starts at a uniform position inside a frame (the *turn frame*, which it
    shares with the previous flight) and then covers whole frames. The
    probability that it covers at least ``m`` whole frames after its turn
    frame is

        S(m) = int_0^1 P(tau > m + u) du,

    which is 1 for ``m + 1 <= tau0`` and
    ``tau0^gamma (m^(1-gamma) - (m+1)^(1-gamma)) / (gamma - 1)`` for ``m >= tau0``.

    Parameters
    ----------
    m : array of int or float
        Numbers of whole frames (>= 0).
    gamma : float or array
        Tail exponent, ``1 < gamma < 2``.
    tau0 : float
        Minimum flight duration in frames.

    Returns
    -------
    array like ``m``
    """
    xp = jnp if isinstance(m, jax.Array) or isinstance(gamma, jax.Array) else np
    m = xp.asarray(m, dtype=float)
    g = gamma
    lo = xp.maximum(m, tau0)  # the integral over u starts where the power law starts
    tail = tau0**g * (lo ** (1 - g) - xp.maximum(m + 1, tau0) ** (1 - g)) / (g - 1)
    flat = xp.clip(tau0 - m, 0.0, 1.0)  # part of [m, m + 1] below tau0 (survival 1)
    return flat + tail


class FlightChain(NamedTuple):
    """Phase-type description of Pareto flight times on the frame grid.

    Phase order: the ``B`` entry phases (turn frame of a new flight, one per
    turn-time bin), then ``B (n0 - 1)`` further young phases (frames inside
    the minimum duration; none for ``tau0 = 1`` frame), then the ``n_rates``
    exponential components, fastest first. All arrays are probabilities.

    Attributes
    ----------
    within : array of shape (R, R)
        One-frame phase moves that continue the flight (row = from, column = to).
    renew : array of shape (R, B)
        Probability that the flight ends in the next frame and the new flight
        covers a fraction of that frame in turn-time bin ``b``;
        ``within.sum(1) + renew.sum(1) == 1``.
    init : array of shape (R,)
        Phase distribution of the flight in progress when a track starts
        (equilibrium; includes the flights slower than the slowest rate).
    rates : array of shape (n_rates,)
        Rates ``k_j`` of the exponential components, per frame.
    weights : array of shape (n_rates,)
        Mixture weights ``w_j`` of the Lomax part (sum 1).
    edges : numpy array of shape (B + 1,)
        Turn-time bins: a new flight entering phase ``b`` covers a fraction
        ``u`` in ``[edges[b], edges[b + 1]]`` of its turn frame.
    """

    within: jax.Array
    renew: jax.Array
    init: jax.Array
    rates: jax.Array
    weights: jax.Array
    edges: np.ndarray


def rate_grid(n_rates: int, tau0: int, tau_max: float) -> np.ndarray:
    """Log-spaced mixture rates per frame, from ``20 / tau0`` down to ``1 / tau_max``."""
    return np.geomspace(_K_HI / tau0, 1.0 / tau_max, n_rates)


def flight_chain(
    gamma: jax.Array, n_rates: int = 12, tau0: int = 1, tau_max: float = 1e4, turn_bins: int = 2
) -> FlightChain:
    """The phase-type chain of Pareto flight times observed on a frame grid.

    Parameters
    ----------
    gamma : scalar (may be traced)
        Tail exponent of the flight-time density ``psi(tau) ~ tau^(-1-gamma)``.
    n_rates : int
        Number of exponential components.
    tau0 : int
        Minimum flight duration, in frames (>= 1).
    tau_max : float
        Slowest component ``1 / tau_max`` (per frame). The survival is
        reproduced within 1% for durations up to ``tau_max / 10`` with the
        default 12 components.
    turn_bins : int
        Number of equal bins of the turn time inside a frame.

    Returns
    -------
    FlightChain

    Notes
    -----
    A Pareto flight, ``P(tau > t) = (tau0 / t)^gamma`` for ``t >= tau0``, is a
    fixed part ``tau0`` followed by a Lomax part, and the Lomax part is exactly
    a continuous mixture of exponentials with a gamma-distributed rate:

        (1 + t / tau0)^(-gamma) = int_0^inf Gamma(k; gamma, tau0) e^(-k t) dk.

    On the log-spaced grid ``k_j`` (ratio ``b``) the trapezoid rule in ``ln k``
    gives the weights ``w_j = ln(b) (tau0 k_j)^gamma e^(-tau0 k_j) / Gamma(gamma)``
    (Goychuk's construction, PRE 80, 046125, 2009; the rule converges
    exponentially in ``1 / ln b``). The mass below the slowest rate goes to
    the slowest component, and the weights are normalized.

    On the frame grid a new flight starts inside its *turn frame*, covering a
    fraction ``u`` of it (``u`` is uniform in equilibrium). The hidden phase
    remembers the bin of ``u`` through the fixed part: the next ``tau0 - 1``
    frames are covered for sure; in frame ``tau0`` the fixed part ends at
    ``1 - u`` and the exponential part, of rate ``k``, runs for the remaining
    ``u``. Averaged over ``u`` in bin ``[u0, u1]`` (width ``h``) it survives the
    frame into component ``j`` with probability
    ``w_j (e^(-k_j u0) - e^(-k_j u1)) / (k_j h)``, or ends inside it, which
    makes that frame the turn frame of the next flight with coverage
    ``u' = u - e`` (``e`` the exponential time used). A flight in component
    ``j`` continues each frame with probability ``e^(-k_j)`` or ends at a time
    with density ``k_j e^(-k_j s)`` in the frame, giving the next flight the
    coverage ``1 - s``. These bin-averaged probabilities are closed-form.

    The equilibrium phase distribution is the stationary distribution of
    this chain, plus the frames of flights slower than the grid (which the
    slowest component stands for), weighted by their true mean duration:
    for ``gamma -> 1`` these dominate.
    """
    g = jnp.asarray(gamma, jnp.float64)
    n0 = int(tau0)
    B = int(turn_bins)
    k_np = rate_grid(n_rates, n0, tau_max)
    h = float(np.log(k_np[0] / k_np[1]))
    k = jnp.asarray(k_np)
    log_pref = g * math.log(n0) - gammaln(g)
    w = h * jnp.exp(log_pref + g * jnp.log(k) - n0 * k)
    edge = float(k_np[-1]) * math.exp(-h / 2)
    # rates below the grid (small-k forms): their mass, and their mean frames per flight
    tail_w = jnp.exp(log_pref + g * math.log(edge)) / g  # int_0^edge Gamma(k) dk
    tail_frames = jnp.exp(log_pref + (g - 1) * math.log(edge)) / (g - 1)  # int Gamma(k) / k dk
    w = w.at[-1].add(tail_w)
    z = jnp.sum(w)
    w = w / z
    edges = np.linspace(0.0, 1.0, B + 1)
    lo, hi = edges[:-1], edges[1:]
    width = hi - lo
    kk = k[:, None]
    # last young frame, coverage bin b -> survives into component j          (B, n_rates)
    surv = (w[:, None] * jnp.exp(-kk * lo) * -jnp.expm1(-kk * width) / (kk * width)).T
    # last young frame, bin b -> ends, next flight's coverage in bin b' <= b   (B, B)
    ek = (
        jnp.exp(-kk[..., None] * (lo[None, :, None] - lo[None, None, :]))
        * jnp.expm1(kk[..., None] * width[None, None, :])
        * -jnp.expm1(-kk[..., None] * width[None, :, None])
        / (kk[..., None] * width[None, :, None])
    )  # (n_rates, b, b') for b' < b
    same = 1.0 + jnp.expm1(-kk * width) / (kk * width)  # b' == b           (n_rates, B)
    bb = np.arange(B)
    young_end = jnp.where((bb[None, :, None] > bb[None, None, :]), ek, 0.0)
    young_end = young_end + jnp.where(bb[None, :, None] == bb[None, None, :], same[:, :, None], 0.0)
    young_end = jnp.einsum("j,jab->ab", w, young_end)
    # component j -> ends at time s in the frame, next coverage 1 - s in bin b'  (n_rates, B)
    comp_end = jnp.exp(-kk * (1.0 - hi)) * -jnp.expm1(-kk * width)
    n_young = B * n0
    R = n_young + n_rates
    within = jnp.zeros((R, R))
    renew = jnp.zeros((R, B))
    last = np.arange(B) if n0 == 1 else B + np.arange(B) * (n0 - 1) + (n0 - 2)
    for b in range(B):
        chain_b = [b] + [B + b * (n0 - 1) + a for a in range(n0 - 1)]
        for a in range(n0 - 1):
            within = within.at[chain_b[a], chain_b[a + 1]].set(1.0)
    within = within.at[last[:, None], n_young + np.arange(n_rates)[None, :]].set(surv)
    renew = renew.at[last].set(young_end)
    comp = n_young + np.arange(n_rates)
    within = within.at[comp, comp].set(jnp.exp(-k))
    renew = renew.at[comp].set(comp_end)
    # equilibrium: stationary distribution, then the flights slower than the grid
    full = within.at[:, :B].add(renew)
    pi = stationary(full)
    per_flight = pi / jnp.sum(pi[:B])  # expected frames per flight in each phase
    extra = (tail_frames - tail_w / -jnp.expm1(-k[-1])) / z
    per_flight = per_flight.at[-1].add(jnp.maximum(extra, 0.0))
    init = per_flight / jnp.sum(per_flight)
    return FlightChain(within, renew, init, k, w, edges)


def chain_survival(chain: FlightChain, m_max: int) -> jax.Array:
    """``S(m)``, m = 0..m_max, of a :class:`FlightChain`: whole frames after the turn frame.

    The turn-time bins are entered with their widths (uniform coverage), as
    in :func:`survival_exact`.
    """
    B = chain.renew.shape[1]
    start = jnp.zeros(chain.within.shape[0]).at[:B].set(jnp.asarray(np.diff(chain.edges)))

    def step(p, _):
        return p @ chain.within, jnp.sum(p)

    _, S = jax.lax.scan(step, start, None, length=m_max + 1)
    return S


# -----------------------------------------------------------------------------
# emissions
# -----------------------------------------------------------------------------
def directions(dim: int, n_directions: int) -> np.ndarray:
    """Unit flight directions, shape (D, dim): ``+-1`` in 1D, ``n_directions`` angles in 2D."""
    if dim == 1:
        return np.array([[1.0], [-1.0]])
    theta = 2 * np.pi * np.arange(n_directions) / n_directions
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def _log_ndtr_diff(lo: jax.Array, hi: jax.Array) -> jax.Array:
    """``log(Phi(hi) - Phi(lo))`` for ``hi > lo``, by ``erfc`` on the accurate side.

    Relative accuracy holds to about 26 standard deviations into either tail;
    beyond, the value is floored at ``log(1e-300)`` (such terms never carry
    the likelihood).
    """
    upper = lo >= 0
    a = jnp.where(upper, lo, -hi) * _SQRT_HALF
    b = jnp.where(upper, hi, -lo) * _SQRT_HALF  # Phi(hi) - Phi(lo) = (erfc(a) - erfc(b)) / 2
    return jnp.log(jnp.maximum(0.5 * (erfc(a) - erfc(b)), 1e-300))


def emissions(x, lags, dt, v, sigma, dirs, edges=(0.0, 1.0), blur=0.0):
    """Log emission densities of the increments for flights and for turns.

    Parameters
    ----------
    x : array of shape (T, dim)
        Increments.
    lags : array of shape (T,)
        Frame lags ``L`` of the increments.
    dt, v, sigma : scalars
    dirs : numpy array of shape (D, dim)
        Unit directions (constants).
    edges : sequence of float, length B + 1
        Turn-time bins (fractions of the interval covered by the new flight).
    blur : float
        2D only: extra variance ``blur (v L dt)^2`` across the flight direction
        (and across turn segments), for the spread of the true angle around
        its grid direction (:meth:`LevyWalk` uses ``(pi / D)^2 / 3``).

    Returns
    -------
    stay : array of shape (T, D)
        ``log N(x; v L dt e_d, L sigma^2 I)`` (plus the blur across ``e_d``): the
        interval inside one flight.
    renew : array of shape (T, B, D, D)
        A turn from direction ``d`` (axis 2) to ``d'`` (axis 3) with the new
        flight covering a fraction ``u`` of the interval, uniform in bin ``b``:
        the flight displacement ``v L dt ((1 - u) e_d + u e_d')`` is uniform on a
        segment of length ``l = v L dt (u1 - u0) |e_d' - e_d|``, so the density
        is ``N(q; 0, s_q^2) [Phi((l - p) / s) - Phi(-p / s)] / l`` with ``p, q`` the
        coordinates of ``x`` from the segment's start along and across it,
        ``s^2 = L sigma^2`` and ``s_q^2 = s^2 + blur (v L dt)^2``. Equal directions
        give ``stay`` (whose variance across ``e_d`` is ``s_q^2`` too).
    """
    dim = x.shape[-1]
    dirs = np.asarray(dirs, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    lo, width = edges[:-1], np.diff(edges)
    var = lags * sigma**2  # (T,)
    s = jnp.sqrt(var)
    disp = v * lags * dt  # (T,) flight displacement over the interval
    resid = x[:, None, :] - disp[:, None, None] * dirs[None]
    if dim == 2 and blur > 0:
        vperp = var + blur * disp**2
        par = jnp.sum(resid * dirs[None], -1)
        perp2 = jnp.sum(resid**2, -1) - par**2
        stay = -0.5 * (
            2 * _LOG2PI
            + jnp.log(var)[:, None]
            + jnp.log(vperp)[:, None]
            + par**2 / var[:, None]
            + perp2 / vperp[:, None]
        )
    else:
        stay = -0.5 * (
            dim * (_LOG2PI + jnp.log(var))[:, None] + jnp.sum(resid**2, -1) / var[:, None]
        )
    diff = dirs[None, :, :] - dirs[:, None, :]  # [d, d'] = e_d' - e_d
    dist = np.linalg.norm(diff, axis=-1)
    same = dist < 1e-12
    unit = diff / np.where(same, 1.0, dist)[..., None]
    # Mirror symmetry: with u -> 1 - u, bin b from d to d' is the same segment as bin
    # B-1-b from d' to d, so for symmetric edges only the first ceil(B/2) bins are
    # computed (half the cost of this function) and the rest are their transposes.
    n_bins = lo.shape[0]
    mirror = np.allclose(edges, 1.0 - edges[::-1])
    if mirror:
        lo, width = lo[: (n_bins + 1) // 2], width[: (n_bins + 1) // 2]
    start = (1 - lo)[:, None, None, None] * dirs[None, :, None, :] + lo[:, None, None, None] * dirs[
        None, None, :, :
    ]
    xs = jnp.einsum("tk,dek->tde", x, unit)[:, None]  # (T, 1, D, D)
    p = xs - disp[:, None, None, None] * np.einsum("bdek,dek->bde", start, unit)[None]
    seg_unit = width[:, None, None] * np.where(same, 1.0, dist)[None]  # (B, D, D) segment / disp
    seg = disp[:, None, None, None] * seg_unit[None]
    sc = s[:, None, None, None]
    # segment lengths below ~1e-7 s lose relative accuracy in the difference (SNR < 1e-6)
    along = (
        _log_ndtr_diff(-p / sc, (seg - p) / sc)
        - jnp.log(disp)[:, None, None, None]
        - np.log(seg_unit)[None]
    )
    if dim == 2:
        perp = np.stack([-unit[..., 1], unit[..., 0]], axis=-1)
        q = (
            jnp.einsum("tk,dek->tde", x, perp)[:, None]
            - disp[:, None, None, None] * np.einsum("bdek,dek->bde", start, perp)[None]
        )
        vq = (var + blur * disp**2)[:, None, None, None]
        along = along - 0.5 * (_LOG2PI + jnp.log(vq) + q**2 / vq)
    if mirror:
        # the mirror as a product with a constant permutation matrix: a plain
        # transpose would be fused into the output and evaluated twice (finite
        # values only: 0 * inf would be nan)
        nd, k_src = dirs.shape[0], n_bins - along.shape[1]
        half = jnp.maximum(along, -1e300).reshape(along.shape[0], -1)
        b, d, e = np.meshgrid(np.arange(k_src), np.arange(nd), np.arange(nd), indexing="ij")
        perm = np.zeros((half.shape[1], k_src * nd * nd))
        perm[((k_src - 1 - b) * nd + e) * nd + d, (b * nd + d) * nd + e] = 1.0
        rest = (half @ perm).reshape(along.shape[0], k_src, nd, nd)
        along = jnp.concatenate([along, rest], axis=1)
    renew = jnp.where(same[None, None], stay[:, None, None, :], along)
    return stay, renew


# -----------------------------------------------------------------------------
# the model
# -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class LevyWalk(Model):
    """Lévy walk with Gaussian step noise, by a hidden Markov model (flight phase x direction).

    Parameters
    ----------
    n_rates : int
        Number of exponential components approximating the power-law flight
        times (default 12: survival within 1% up to ``tau_max / 10``).
    n_directions : int
        Flight directions on the grid in 2D (equal angles, even, >= 4; default 8).
        1D walks always use the two directions ``+-1``.
    duration_range : (int, float)
        ``(tau0, tau_max)`` in frames: ``tau0`` (integer >= 1, default 1) is the
        minimum flight duration of the Pareto flight times; the slowest mixture
        rate is ``1 / tau_max`` (default 1e4 frames).
    turn_bins : int
        Bins of the turn time inside a frame (default 2); the hidden phase
        remembers the bin through the flight's first frames.
    direction_blur : bool
        2D: add the variance ``(v dt)^2 (pi / D)^2 / 3`` of a uniform angle
        around its grid direction across the flight direction (default True).
    priors : mapping, optional
        Replaces default priors: ``alpha ~ Uniform(1, 2)``,
        ``v ~ LogUniform(1e-3, 1e3)`` (µm/s), ``sigma ~ LogUniform(1e-4, 1e2)`` (µm).

    Notes
    -----
    **Process.** The particle moves in straight flights at constant speed
    ``v`` (a scalar: the flight *speed*, not the drift velocity that ``v``
    means in the other models). Each flight has a uniformly random direction
    (``+-1`` in 1D, a uniform angle in 2D) and an independent duration with
    the Pareto density

        psi(tau) = gamma tau0^gamma tau^(-1-gamma),  tau >= tau0,   1 < gamma < 2,

    with ``tau0 = duration_range[0] * dt``. The mean flight time
    ``gamma tau0 / (gamma - 1)`` is finite but its variance is not, so the
    walk is superdiffusive, ``MSD(t) ~ t^alpha`` with ``alpha = 3 - gamma`` in
    ``(1, 2)`` (ballistic as ``alpha -> 2``, diffusive as ``alpha -> 1``); the
    exact equilibrium MSD is :func:`msd_exact`. The walk is observed in
    equilibrium (it has run long before the first frame). Every increment
    carries independent Gaussian noise of standard deviation ``sigma`` per
    coordinate per frame (``L sigma^2`` over a gap of ``L`` frames): step noise,
    i.e. a superposed Brownian motion with ``D = sigma^2 / (2 dt)``. Static
    localization error ``s`` on the positions instead gives increments of
    variance ``2 s^2`` correlated ``-s^2`` with their neighbours; this model then
    fits ``sigma ~ sqrt(2) s`` and ignores the correlation.

    **Hidden Markov model.** The hidden state of a frame is (flight phase,
    direction). The phases form the chain of :func:`flight_chain`: entry
    phases (the turn frame, by turn-time bin), the frames inside the minimum
    duration, then ``n_rates`` geometric components whose weights come from
    writing the Pareto tail as a gamma mixture of exponentials (Goychuk 2009;
    Park et al. 2021). A frame either continues the flight, emitting
    ``N(v dt e_d, sigma^2 I)``, or contains a turn to a new uniformly random
    direction ``d'``, emitting the segment density of :func:`emissions`. The
    structured forward algorithm
    (:func:`bayesdiff._kernels.hmm.renewal_forward`) gives the likelihood and
    its one-step predictive terms. Tracks with gaps use the generic
    :func:`~bayesdiff._kernels.hmm.forward` on the ``R D`` states with the
    ``L``-step chain (:meth:`dense_hmm`; slower), assuming at most one turn
    inside a gap.

    The approximations and what they cost are measured in
    ``benchmarks/levy_walk.py`` and listed in ``docs/models.md``: the finite
    mixture (survival within 1%), 2D directions on a grid, the turn time
    within a bin, at most one turn per frame (exact for ``tau0 >= 1`` frame),
    and consecutive flights coupled only through the turn-time bin.

    References
    ----------
    Zaburdaev, Denisov & Klafter, Rev. Mod. Phys. 87, 483 (2015) (Lévy walks).
    Goychuk, PRE 80, 046125 (2009) (power laws as sums of exponentials).
    Park, Thapa, Kim, Lomholt & Jeon, J. Phys. A 54, 484001 (2021) (Bayesian
    Lévy walks through an HMM).

    Examples
    --------
    >>> import bayesdiff as bd
    >>> m = bd.models.LevyWalk()
    >>> m.param_names
    ('alpha', 'v', 'sigma')
    >>> ts = m.simulate(seed=0, params={"alpha": 1.5, "v": 2.0, "sigma": 0.01},
    ...                 n_steps=50, dt=0.05, dim=2, n_tracks=3)
    >>> len(ts), ts[0].positions.shape
    (3, (51, 2))
    """

    n_rates: int = 12
    n_directions: int = 8
    duration_range: tuple[float, float] = (1, 1e4)
    turn_bins: int = 2
    direction_blur: bool = True

    kind: ClassVar[str] = "levy"
    min_points: ClassVar[int] = 3
    vector_params: ClassVar[tuple[str, ...]] = ()
    nuts_start: ClassVar[str] = "mode"
    param_domains: ClassVar[Mapping[str, tuple[float, float]]] = {
        "alpha": (1.0, 2.0), "v": (0.0, math.inf), "sigma": (0.0, math.inf),
    }  # fmt: skip

    def __post_init__(self) -> None:
        for f, low in (("n_rates", 2), ("turn_bins", 1)):
            val = getattr(self, f)
            if not isinstance(val, int | np.integer) or val < low:
                raise ModelError(f"levy: {f} must be an integer >= {low}, got {val!r}")
        if (
            not isinstance(self.n_directions, int | np.integer)
            or self.n_directions < 4
            or self.n_directions % 2
        ):
            raise ModelError(
                f"levy: n_directions must be an even integer >= 4, got {self.n_directions!r}"
            )
        try:
            tau0, tau_max = (float(a) for a in self.duration_range)
        except (TypeError, ValueError):
            raise ModelError(
                f"levy: duration_range must be two numbers, got {self.duration_range!r}"
            ) from None
        if not (
            tau0 >= 1 and tau0 == int(tau0) and math.isfinite(tau_max) and tau_max >= 100 * tau0
        ):
            raise ModelError(
                "levy: duration_range=(tau0, tau_max) needs an integer tau0 >= 1 and "
                f"tau_max >= 100 tau0 (frames), got {self.duration_range!r}"
            )
        object.__setattr__(self, "duration_range", (int(tau0), tau_max))
        super().__post_init__()

    @property
    def name(self) -> str:
        return self.kind

    @property
    def param_names(self) -> tuple[str, ...]:
        return ("alpha", "v", "sigma")

    def default_priors(self) -> dict[str, dist.Distribution]:
        return {
            "alpha": dist.Uniform(*LEVY_ALPHA_RANGE),
            "v": dist.LogUniform(*LEVY_V_RANGE),
            "sigma": dist.LogUniform(*LEVY_SIGMA_RANGE),
        }

    def chain(self, alpha) -> FlightChain:
        """The :func:`flight_chain` of this model at ``alpha`` (``gamma = 3 - alpha``)."""
        tau0, tau_max = self.duration_range
        return flight_chain(3.0 - jnp.asarray(alpha), self.n_rates, tau0, tau_max, self.turn_bins)

    def _blur(self, dim: int) -> float:
        """Angular variance of a uniform angle around its grid direction, ``(pi / D)^2 / 3``."""
        return (math.pi / self.n_directions) ** 2 / 3 if (dim == 2 and self.direction_blur) else 0.0

    def fast_loglik(self, params: Mapping, data: TrackData, regular: bool) -> jax.Array:
        """The log-likelihood with the cheapest exact gradient (reverse mode only).

        Regular tracks: :func:`~bayesdiff._kernels.hmm.renewal_loglik` (the
        gradient by forward-backward, the emissions differentiated in reverse
        mode); tracks with gaps: forward-mode derivatives (three tangents).
        Used by the samplers; ``log_likelihood`` stays differentiable to any order.
        """
        if regular:
            return renewal_loglik(*self.hmm_parts(params, data), data.mask)
        return forward_mode_vjp(partial(self.loglik_from_data, regular=regular))(params, data)

    def _dirs(self, dim: int) -> np.ndarray:
        if dim not in (1, 2):
            raise ModelError(
                f"levy: the Lévy-walk likelihood is implemented for 1D and 2D tracks, got dim={dim}"
            )
        return directions(dim, self.n_directions)

    def hmm_parts(self, params: Mapping, data: TrackData) -> tuple:
        """Arguments of :func:`~bayesdiff._kernels.hmm.renewal_forward` for a track without gaps.

        Returns ``(log_init, log_within, log_renew, log_label, log_emit_stay, log_emit_renew)``
        with shapes (R, D), (R, R), (R, B), (D,), (T, D), (T, B, D, D).
        """
        dirs = self._dirs(data.dim)
        D = dirs.shape[0]
        ch = self.chain(params["alpha"])
        x = jnp.where(data.mask[:, None], data.increments, 0.0)
        lags = jnp.ones_like(data.lags)
        stay, renew = emissions(
            x, lags, data.dt, params["v"], params["sigma"], dirs, ch.edges, self._blur(data.dim)
        )
        log_label = jnp.full(D, -math.log(D))
        log_init = _log(ch.init)[:, None] + log_label[None, :]
        return log_init, _log(ch.within), _log(ch.renew), log_label, stay, renew

    def dense_hmm(self, params: Mapping, data: TrackData) -> tuple[jax.Array, jax.Array]:
        """The same chain as one HMM on ``K = R D`` states, one transition matrix per increment.

        Used for tracks with gaps. Returns ``(log_init, log_trans)`` of shapes
        (K,) and (T, K, K) (state ``(i, d)`` at index ``i D + d``); the emissions
        are folded into the transitions. An increment over ``L > 1`` frames
        uses the ``L``-step phase chain; if a turn happened inside it, its
        emission assumes a single turn at a uniform time (the segment density
        of :func:`emissions` with one bin).
        """
        log_init, log_within, log_renew, log_label, stay1, renew1 = self.hmm_parts(params, data)
        dirs = self._dirs(data.dim)
        D = dirs.shape[0]
        ch = self.chain(params["alpha"])
        R, B = ch.renew.shape
        T = data.lags.shape[0]
        x = jnp.where(data.mask[:, None], data.increments, 0.0)
        lags = jnp.where(data.mask, data.lags, 1.0)
        stayL, renewL = emissions(
            x, lags, data.dt, params["v"], params["sigma"], dirs, blur=self._blur(data.dim)
        )
        eye = jnp.eye(D, dtype=bool)
        # one frame: within (label kept) + renewal into entry phase b
        one_w = (
            log_within[None, :, None, :, None]
            + jnp.where(eye, 0.0, -jnp.inf)[None, None, :, None, :]
        )
        one_w = one_w + stay1[:, None, None, None, :]
        one_r = jnp.full((T, R, D, R, D), -jnp.inf)
        one_r = one_r.at[:, :, :, :B, :].set(
            log_renew[None, :, None, :, None]
            + jnp.moveaxis(renew1, 1, 2)[:, None]  # (T, 1, d, b, d')
            + log_label[None, None, None, None, :]
        )
        one = _logaddexp(one_w, one_r)
        # L frames: L-step chain, renewal part = all paths with at least one renewal
        full = ch.within.at[:, :B].add(ch.renew)
        n = lags.astype(jnp.int32)
        wL = jax.vmap(lambda L: matrix_power(ch.within, L, max_bits=16))(n)
        rL = jnp.maximum(jax.vmap(lambda L: matrix_power(full, L, max_bits=16))(n) - wL, 0.0)
        many_w = (
            _log(wL)[:, :, None, :, None] + jnp.where(eye, 0.0, -jnp.inf)[None, None, :, None, :]
        )
        many_w = many_w + stayL[:, None, None, None, :]
        many_r = _log(rL)[:, :, None, :, None] + renewL[:, 0][:, None, :, None, :] + log_label
        many = _logaddexp(many_w, many_r)
        log_trans = jnp.where((lags > 1)[:, None, None, None, None], many, one)
        return log_init.reshape(R * D), log_trans.reshape(T, R * D, R * D)

    def pointwise_from_data(self, params: Mapping, data: TrackData, regular: bool) -> jax.Array:
        if regular:
            _, pw = renewal_forward(*self.hmm_parts(params, data), mask=data.mask)
        else:
            log_init, log_trans = self.dense_hmm(params, data)
            K = log_init.shape[0]
            mask = jnp.concatenate([jnp.ones(1, bool), data.mask])
            _, pw = forward(log_init, log_trans, jnp.zeros((mask.shape[0], K)), mask)
            pw = pw[1:]
        return jnp.where(data.mask, pw, 0.0)

    def init_values(self, data: TrackData) -> dict[str, jax.Array]:
        m = data.mask
        n = jnp.maximum(jnp.sum(m), 1)
        speed = jnp.linalg.norm(data.increments, axis=-1) / (data.lags * data.dt)
        big = jnp.where(m, speed, -jnp.inf)
        # median of the per-frame speeds (masked entries sorted to the front)
        srt = jnp.sort(big)
        med = srt[data.mask.shape[0] - n + (n - 1) // 2]
        v0 = jnp.clip(med, *self._bounds("v"))
        dev = jnp.where(m, jnp.abs(speed - v0), jnp.inf)
        mad = jnp.sort(dev)[(n - 1) // 2]
        sigma0 = jnp.clip(
            jnp.maximum(1.4826 * mad * data.dt, 0.05 * v0 * data.dt), *self._bounds("sigma")
        )
        return {"alpha": jnp.asarray(1.5), "v": v0, "sigma": sigma0}

    # -- simulation ----------------------------------------------------------------
    def _simulate(self, rng, params, frames, dt, dim, n_tracks, start) -> np.ndarray:
        self._dirs(dim)
        alpha = np.asarray(params["alpha"], dtype=np.float64)
        outside = ~((alpha > 1.0) & (alpha < 2.0))
        if np.any(outside):
            bad = float(alpha[outside][0])
            raise ParameterError(
                f"levy: alpha must lie strictly between 1 and 2 to simulate (alpha = 3 - gamma "
                f"with 1 < gamma < 2; at alpha = 2 the mean flight time diverges), got {bad}"
            )
        tau0 = self.duration_range[0] * dt
        t_obs = frames * dt
        pos = simulate_levy_walk(rng, params["alpha"], params["v"], tau0, t_obs, dim, n_tracks)
        # step noise: a Brownian motion with variance sigma^2 per frame and coordinate
        n_frames = int(frames[-1])
        noise = rng.standard_normal((n_tracks, n_frames, dim)) * params["sigma"][:, None, None]
        walk = np.concatenate([np.zeros((n_tracks, 1, dim)), np.cumsum(noise, axis=1)], axis=1)
        pos = pos + walk[:, frames]
        if start is not None:
            pos = pos + np.asarray(start, dtype=np.float64)
        return pos


def _log(p: jax.Array) -> jax.Array:
    """``log p`` with ``log 0 = -inf`` and no nan gradients."""
    pos = p > 0
    return jnp.where(pos, jnp.log(jnp.where(pos, p, 1.0)), -jnp.inf)


def _logaddexp(a: jax.Array, b: jax.Array) -> jax.Array:
    """``log(e^a + e^b)`` whose gradient stays finite where both are ``-inf``."""
    top = jnp.maximum(a, b)
    top = jax.lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0.0))
    return top + _log(jnp.exp(a - top) + jnp.exp(b - top))


def simulate_levy_walk(
    rng: np.random.Generator,
    alpha: np.ndarray,
    v: np.ndarray,
    tau0: float,
    times: np.ndarray,
    dim: int,
    n_tracks: int,
) -> np.ndarray:
    """Exact continuous-time equilibrium Lévy walk sampled at given times (no noise).

    Parameters
    ----------
    rng : numpy Generator
    alpha, v : arrays of shape (n_tracks,)
        ``alpha = 3 - gamma`` and flight speed of each track.
    tau0 : float
        Minimum flight duration (s); durations are Pareto,
        ``P(tau > t) = (tau0 / t)^gamma`` for ``t >= tau0``.
    times : array of shape (n_points,)
        Observation times (s), starting at 0, increasing.
    dim : int
        1 (directions +-1), 2 (uniform angle) or 3 (uniform on the sphere).

    Returns
    -------
    array of shape (n_tracks, n_points, dim)
        Positions, starting at the origin.

    Notes
    -----
    The first flight is the one in progress at ``t = 0`` in equilibrium: its
    remaining duration has the forward-recurrence distribution
    ``P(r <= t) = t / mu`` for ``t < tau0`` and ``1 - (tau0 / t)^(gamma-1) / gamma``
    beyond (``mu = gamma tau0 / (gamma - 1)``), sampled by inversion. Later
    flights are drawn as ``tau0 U^(-1/gamma)``.
    """
    g = 3.0 - np.asarray(alpha, dtype=np.float64).reshape(n_tracks, 1)
    v = np.asarray(v, dtype=np.float64).reshape(n_tracks, 1, 1)
    t_end = float(times[-1])
    n_fl = int(math.ceil(t_end / tau0)) + 2  # every flight after the first lasts >= tau0
    u = rng.random((n_tracks, n_fl))
    tau = tau0 * (1.0 - u) ** (-1.0 / g)
    mu = g * tau0 / (g - 1)
    u0 = u[:, :1]
    first = np.where(
        u0 < (g - 1) / g,
        u0 * mu,
        tau0 * np.maximum(g * (1.0 - u0), 1e-300) ** (-1.0 / (g - 1)),
    )
    tau[:, :1] = first
    if dim == 1:
        e = rng.choice(np.array([-1.0, 1.0]), size=(n_tracks, n_fl, 1))
    elif dim == 2:
        th = rng.uniform(0, 2 * np.pi, (n_tracks, n_fl))
        e = np.stack([np.cos(th), np.sin(th)], -1)
    else:
        z = rng.standard_normal((n_tracks, n_fl, 3))
        e = z / np.linalg.norm(z, axis=-1, keepdims=True)
    ends = np.cumsum(tau, axis=1)  # (n_tracks, n_fl) end time of each flight
    starts = ends - tau
    disp = v * tau[..., None] * e  # displacement of each whole flight
    at_start = np.cumsum(disp, axis=1) - disp  # position at the start of each flight
    # flight containing each observation time: first flight with end > t
    idx = np.empty((n_tracks, times.size), dtype=np.int64)
    for i in range(n_tracks):
        idx[i] = np.searchsorted(ends[i], times, side="right")
    rows = np.arange(n_tracks)[:, None]
    dt_in = times[None, :] - starts[rows, idx]
    return at_start[rows, idx] + v * dt_in[..., None] * e[rows, idx]


def msd_exact(t, alpha: float, v: float, tau0: float):
    """Ensemble MSD (all coordinates together) of the equilibrium Lévy walk, without noise.

    ``MSD(t) = 2 v^2 int_0^t (t - s) Phi(s) ds`` with ``Phi`` the probability
    that no turn happens in a window of length ``s`` (``1 - s / mu`` below
    ``tau0``, ``(tau0 / s)^(gamma-1) / gamma`` beyond). Per coordinate, divide by
    the dimension. For large ``t`` it grows as
    ``2 v^2 tau0^(gamma-1) t^(3-gamma) / (gamma (2-gamma) (3-gamma))``.
    """
    t = np.asarray(t, dtype=np.float64)
    g = 3.0 - alpha
    mu = g * tau0 / (g - 1)
    short = t**2 / 2 - t**3 / (6 * mu)
    tt = np.maximum(t, tau0)
    p1 = tt * tau0 - tau0**2 / 2 - (tt * tau0**2 / 2 - tau0**3 / 3) / mu
    p2 = (tau0 ** (g - 1) / g) * (
        tt * (tt ** (2 - g) - tau0 ** (2 - g)) / (2 - g)
        - (tt ** (3 - g) - tau0 ** (3 - g)) / (3 - g)
    )
    return 2 * v**2 * np.where(t <= tau0, short, p1 + p2)
