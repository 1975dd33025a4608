"""The model protocol shared by every generative model.

A model is a small immutable object (a frozen dataclass) holding its
configuration (noise, drift, ...) and its priors. It hands pure JAX functions
to the samplers:

* ``pointwise_from_data(params, data, regular)`` -- the exact one-step-ahead
  log densities of a track's increments, shape (n_steps,), padded steps
  masked to zero. Everything else is built on this.
* ``fast_loglik(params, data, regular)`` -- the same total with the cheapest
  gradient for the samplers (default: the sum of the pointwise terms).
* ``numpyro_model(data, regular)`` -- priors plus ``fast_loglik`` as a NumPyro
  model (used by NUTS, evidence and checks).
* ``numpyro_model_pooled(batches)`` -- one set of parameters for several
  padded batches of tracks (pooled fits and evidence).
* ``simulate(seed, params, n_steps, dt, ...)`` -- a TrackSet drawn from the model.

Optional hooks, declared here with their defaults: ``param_dims`` (ArviZ
dimension names), ``nuts_start`` (how NUTS starts), and, for models with
hidden states (``supports_segmentation``), ``state_probs_from_data`` and
``viterbi_from_data`` (used by :func:`bayesdiff.segment`).

Track data travel as :class:`TrackData`, a NamedTuple of arrays, so that a
batch of equal-shape tracks is the same structure with a leading axis and
``jax.vmap`` applies directly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer.reparam import TransformReparam

from ..errors import ModelError, ParameterError
from ..tracks import Batch, Track, TrackSet
from .priors import mass_outside

__all__ = ["TrackData", "Model", "as_data", "describe_prior", "PRIOR_MASS_OUTSIDE_MAX"]

#: Largest prior mass a user's prior may put outside a parameter's domain.
PRIOR_MASS_OUTSIDE_MAX = 1e-9


class TrackData(NamedTuple):
    """A track (or, with a leading axis, a batch of tracks) as JAX arrays.

    Attributes
    ----------
    increments : array of shape (n, dim)
        Displacements between observed points; zero in padding.
    lags : array of shape (n,)
        Frame lag of each increment (float; 1 where no frame is missing).
    mask : array of bool, shape (n,)
        True for real increments.
    dt : array, shape ()
        Frame interval in seconds.
    start : array of shape (dim,)
        First observed position.
    """

    increments: jax.Array
    lags: jax.Array
    mask: jax.Array
    dt: jax.Array
    start: jax.Array

    @property
    def dim(self) -> int:
        return int(self.increments.shape[-1])


def as_data(obj: Track | Batch, pad_to: int | None = None) -> tuple[TrackData, bool]:
    """Convert a Track (optionally padded) or a Batch to ``(TrackData, regular)``.

    ``regular`` is True when no increment spans a gap, so stationary
    (Toeplitz) fast paths apply.
    """
    if isinstance(obj, Batch):
        return (
            TrackData(
                _on_device(obj.increments, np.float64),
                _on_device(obj.lags, np.float64),
                _on_device(obj.mask, bool),
                _on_device(obj.dt, np.float64),
                _on_device(obj.start, np.float64),
            ),
            bool(obj.regular),
        )
    if not isinstance(obj, Track):
        raise TypeError(f"expected a Track or Batch, got {type(obj).__name__}")
    n = obj.n_steps
    size = n if pad_to is None else max(pad_to, n)
    inc = np.zeros((size, obj.dim))
    inc[:n] = obj.increments
    lags = np.ones(size)
    lags[:n] = obj.lags
    mask = np.arange(size) < n
    data = TrackData(
        _on_device(inc, np.float64),
        _on_device(lags, np.float64),
        _on_device(mask, bool),
        _on_device(obj.dt, np.float64),
        _on_device(obj.positions[0], np.float64),
    )
    return data, not obj.has_gaps


def take_rows(tree, idx: np.ndarray):
    """Rows ``idx`` of every array in a pytree (a TrackData, a dict of start values), cut
    on the host and put on the device: NumPy indexing compiles nothing, where indexing
    a JAX array compiles a program for every new shape."""
    return jax.tree.map(lambda a: jax.device_put(np.asarray(a)[idx]), tree)


def _on_device(x, dtype) -> jax.Array:
    """A host value as a JAX array of ``dtype``. ``jax.device_put`` of a NumPy array
    compiles nothing; ``jnp.asarray`` compiles a small program for every new shape."""
    return jax.device_put(np.asarray(x, dtype))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Model:
    """Base class of bayesdiff's generative models.

    Subclasses set ``kind`` (short name), list their parameters in
    ``param_names`` (depending on configuration), give ``default_priors`` and
    implement ``pointwise_from_data`` and ``_simulate``.

    Parameters
    ----------
    priors : mapping of str to numpyro Distribution, optional
        Replaces any default prior. Vector parameters (drift ``v``, trap centre
        ``c``) take a scalar distribution applied to every coordinate.
    """

    priors: Mapping[str, dist.Distribution] | None = None

    kind: ClassVar[str] = "model"
    min_points: ClassVar[int] = 3
    vector_params: ClassVar[tuple[str, ...]] = ("v", "c")
    #: Where each parameter is defined, ``(low, high)``, when the model restricts it
    #: (FBM's ``alpha`` in (0, 2), scales positive); a user's prior must put all but
    #: a negligible part (:data:`PRIOR_MASS_OUTSIDE_MAX`) of its mass there.
    param_domains: ClassVar[Mapping[str, tuple[float, float]]] = {}
    #: How ``bd.sample(start="auto")`` starts NUTS: ``"data"`` (``init_values``,
    #: jittered) or ``"mode"`` (the posterior mode, with the inverse Hessian as the
    #: initial mass matrix) for models whose parameters differ widely in scale.
    nuts_start: ClassVar[str] = "data"
    #: Whether the model has hidden states that :func:`bayesdiff.segment` decodes
    #: (:meth:`state_probs_from_data` and :meth:`viterbi_from_data` are implemented).
    supports_segmentation: ClassVar[bool] = False

    # -- configuration ---------------------------------------------------------
    @property
    def name(self) -> str:
        """Short name with options, e.g. ``"fbm+noise"``."""
        opts = [f for f in ("drift", "noise") if getattr(self, f, False)]
        return "+".join([self.kind, *opts])

    @property
    def param_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    def default_priors(self) -> dict[str, dist.Distribution]:
        raise NotImplementedError

    def __post_init__(self) -> None:
        self.check_priors()

    def check_priors(self) -> None:
        """Check the user's priors: known parameters, NumPyro distributions, and (where
        the model restricts a parameter) no prior mass outside its domain.

        Raises
        ------
        ModelError
            Naming the parameter, the prior and what is wrong.
        """
        user = dict(self.priors or {})
        unknown = set(user) - set(self.param_names)
        if unknown:
            raise ModelError(
                f"{self.name}: priors given for unknown parameters {sorted(unknown)}; "
                f"parameters are {list(self.param_names)}"
            )
        for p, d in user.items():
            if not isinstance(d, dist.Distribution):
                raise ModelError(
                    f"{self.name}: the prior of {p} must be a NumPyro distribution, "
                    f"got {type(d).__name__}"
                )
            domain = self.param_domains.get(p)
            if domain is None or d.event_shape != () or d.batch_shape != ():
                continue
            outside = mass_outside(d, *domain)
            if outside is not None and outside > PRIOR_MASS_OUTSIDE_MAX:
                low, high = domain
                bounds = ", ".join(
                    f"{k}={v:g}" for k, v in (("low", low), ("high", high)) if math.isfinite(v)
                )
                raise ModelError(
                    f"{self.name}: the prior of {p}, {describe_prior(d)}, puts "
                    f"{outside:.3g} of its mass outside ({low:g}, {high:g}), where the model "
                    f"defines {p}; restrict it, e.g. "
                    f"dist.TruncatedDistribution({describe_prior(d)}, {bounds})"
                )

    def prior(self, name: str) -> dist.Distribution:
        """The prior of parameter ``name`` (user's if given, else the default)."""
        user = dict(self.priors or {})
        unknown = set(user) - set(self.param_names)
        if unknown:
            raise ModelError(
                f"{self.name}: priors given for unknown parameters {sorted(unknown)}; "
                f"parameters are {list(self.param_names)}"
            )
        return user.get(name, self.default_priors()[name])

    def param_shape(self, name: str, dim: int) -> tuple[int, ...]:
        return (dim,) if name in self.vector_params else ()

    def param_dims(self, name: str) -> tuple[str, ...] | None:
        """ArviZ dimension names of parameter ``name``'s trailing axes.

        None (the default) leaves the naming to the sampler: ``coord`` for a
        vector parameter, ``<name>_dim_<i>`` otherwise.
        """
        return None

    def config(self) -> dict[str, Any]:
        """JSON-able description: name, options and priors (for result attrs)."""
        out: dict[str, Any] = {"model": self.name, "class": type(self).__name__}
        for f in dataclasses.fields(self):
            if f.name != "priors":
                out[f.name] = getattr(self, f.name)
        out["priors"] = {p: describe_prior(self.prior(p)) for p in self.param_names}
        return out

    # -- likelihood ------------------------------------------------------------
    def pointwise_from_data(self, params: Mapping, data: TrackData, regular: bool) -> jax.Array:
        """One-step-ahead log densities, shape (n,), zero where ``data.mask`` is False."""
        raise NotImplementedError

    def loglik_from_data(self, params: Mapping, data: TrackData, regular: bool) -> jax.Array:
        """Total log-likelihood of ``data`` (sum of the pointwise terms)."""
        return jnp.sum(self.pointwise_from_data(params, data, regular))

    def log_likelihood(self, params: Mapping, track: Track) -> jax.Array:
        """Exact log-likelihood of a track's increments given its first position.

        Pure JAX in ``params``: ``jit``, ``vmap`` and ``grad`` apply. Float64.
        """
        data, regular = self._data(track)
        return self.loglik_from_data(self._check_params(params, track.dim), data, regular)

    def pointwise_log_likelihood(self, params: Mapping, track: Track) -> jax.Array:
        """One-step-ahead conditional log densities of each increment, shape (n_steps,).

        They sum to :meth:`log_likelihood`; PSIS-LOO uses them.
        """
        data, regular = self._data(track)
        return self.pointwise_from_data(self._check_params(params, track.dim), data, regular)

    def _data(self, track: Track) -> tuple[TrackData, bool]:
        if not isinstance(track, Track):
            raise TypeError(f"expected a Track, got {type(track).__name__}")
        track.require(self.min_points, f"the {self.name} model")
        return as_data(track)

    def _check_params(self, params: Mapping, dim: int) -> dict:
        if not isinstance(params, Mapping):
            raise ParameterError(
                f"params must be a mapping of parameter names, got {type(params).__name__}"
            )
        missing = [p for p in self.param_names if p not in params]
        if missing:
            raise ParameterError(
                f"{self.name}: missing parameters {missing} (needs {list(self.param_names)})"
            )
        out = {}
        for p in self.param_names:
            val = jnp.asarray(params[p], jnp.float64)
            shape = self.param_shape(p, dim)
            if val.shape != shape:
                if shape and val.shape == ():
                    val = jnp.broadcast_to(val, shape)
                else:
                    raise ParameterError(
                        f"{self.name}: parameter {p} has shape {val.shape}, expected {shape}"
                    )
            if not isinstance(val, jax.core.Tracer):
                support = self.prior(p).support
                if not bool(np.all(np.isfinite(np.asarray(val)))) or not bool(
                    np.all(np.asarray(support(val)))
                ):
                    raise ParameterError(
                        f"{self.name}: parameter {p}={np.asarray(val)} is outside its prior support"
                    )
            out[p] = val
        return out

    # -- NumPyro -----------------------------------------------------------------
    def sample_params(self, dim: int) -> dict[str, jax.Array]:
        """Inside a NumPyro model: draw every parameter from its prior."""
        params = {}
        for p in self.param_names:
            prior = self.prior(p)
            shape = self.param_shape(p, dim)
            if shape:
                prior = prior.expand(shape).to_event(len(shape))
            if isinstance(prior, dist.TransformedDistribution) and not shape:
                # sample log-uniform scales on the log scale (better geometry for NUTS)
                with numpyro.handlers.reparam(config={p: TransformReparam()}):
                    params[p] = numpyro.sample(p, prior)
            else:
                params[p] = numpyro.sample(p, prior)
        return params

    def fast_loglik(self, params: Mapping, data: TrackData, regular: bool) -> jax.Array:
        """The log-likelihood the samplers differentiate: by default
        :meth:`loglik_from_data`; models override it with the same value and a
        cheaper gradient (which may then be reverse-mode only)."""
        return self.loglik_from_data(params, data, regular)

    def numpyro_model(self, data: TrackData, regular: bool) -> None:
        """NumPyro model: priors, then the exact likelihood (:meth:`fast_loglik`) as a factor."""
        params = self.sample_params(data.dim)
        numpyro.factor("loglik", self.fast_loglik(params, data, regular))

    def numpyro_model_pooled(self, batches: Sequence[tuple[TrackData, bool]]) -> None:
        """NumPyro model for a pooled fit: one set of parameters for every track.

        Parameters
        ----------
        batches : sequence of (TrackData, bool)
            Padded batches of tracks (``TrackData`` with a leading track axis, as
            :func:`as_data` gives for a :class:`~bayesdiff.tracks.Batch`) and
            whether each batch is regular (no gaps). The parameters are drawn
            once (:meth:`sample_params`, with the dimension of the first batch);
            the factor ``"loglik"`` is the sum over all tracks of
            :meth:`loglik_from_data`.
        """
        params = self.sample_params(batches[0][0].dim)
        total = 0.0
        for data, regular in batches:
            per_track = jax.vmap(lambda d, r=regular: self.loglik_from_data(params, d, r))(data)
            total = total + jnp.sum(per_track)
        numpyro.factor("loglik", total)

    def init_values(self, data: TrackData) -> dict[str, jax.Array]:
        """Starting values near the data (constrained space); default: prior medians."""
        return {}

    def _bounds(self, p: str) -> tuple[float, float]:
        """The support of ``p``'s prior, shrunk by a relative 1e-6 (for clipping start values)."""
        sup = self.prior(p).support
        lo = float(getattr(sup, "lower_bound", 1e-12))
        hi = float(getattr(sup, "upper_bound", 1e12))
        pad = (hi - lo) * 1e-6
        return lo + pad, hi - pad

    # -- hidden states -------------------------------------------------------------
    def state_probs_from_data(self, params: Mapping, data: TrackData, regular: bool) -> jax.Array:
        """Posterior state probabilities ``p(s_t = k | x, params)``, shape (n, K).

        Only models with ``supports_segmentation`` implement it; the others
        raise :class:`~bayesdiff.errors.ModelError`.
        """
        raise ModelError(f"{self.name} has no hidden states to segment")

    def viterbi_from_data(self, params: Mapping, data: TrackData, regular: bool) -> jax.Array:
        """Most probable hidden-state path given ``params``, shape (n,), -1 where masked.

        Only models with ``supports_segmentation`` implement it; the others
        raise :class:`~bayesdiff.errors.ModelError`.
        """
        raise ModelError(f"{self.name} has no hidden states to segment")

    # -- simulation --------------------------------------------------------------
    def simulate(
        self,
        seed: int,
        params: Mapping,
        n_steps: int,
        dt: float,
        dim: int = 1,
        n_tracks: int = 1,
        frames: np.ndarray | None = None,
        start: np.ndarray | None = None,
    ) -> TrackSet:
        """Draw tracks from the model.

        Parameters
        ----------
        seed : int
            Random seed (same seed, same tracks).
        params : mapping
            Parameter values. Each value is a scalar (or, for vector parameters,
            shape (dim,)), or an array with a leading axis of length ``n_tracks``
            giving one value per track.
        n_steps : int
            Number of increments per track (``n_steps + 1`` points).
        dt : float
            Frame interval in seconds.
        dim : int
            Number of coordinates (1-3).
        n_tracks : int
            Number of tracks.
        frames : array of int, optional
            Frame numbers to observe (length ``n_steps + 1``, increasing, may
            skip). The process is simulated on every frame in between and
            observed only at these.
        start : array of shape (dim,), optional
            First position (default zero; models with a trap start from their
            stationary distribution unless given).

        Returns
        -------
        TrackSet
            Tracks with ids ``0 .. n_tracks - 1``.
        """
        if not 1 <= dim <= 3:
            raise ParameterError(f"dim must be 1, 2 or 3, got {dim}")
        if n_steps < 1 or n_tracks < 1:
            raise ParameterError("n_steps and n_tracks must be >= 1")
        if frames is None:
            frames = np.arange(n_steps + 1)
        frames = np.asarray(frames, dtype=np.int64)
        if frames.shape != (n_steps + 1,) or np.any(np.diff(frames) <= 0):
            raise ParameterError(f"frames must be {n_steps + 1} increasing integers")
        per_track = self._per_track_params(params, dim, n_tracks)
        rng = np.random.default_rng(seed)
        pos = self._simulate(rng, per_track, frames - frames[0], float(dt), dim, n_tracks, start)
        return TrackSet(Track(pos[i], dt, frames, id=i) for i in range(n_tracks))

    def _per_track_params(self, params: Mapping, dim: int, n_tracks: int) -> dict[str, np.ndarray]:
        missing = [p for p in self.param_names if p not in params]
        if missing:
            raise ParameterError(f"{self.name}: missing parameters {missing}")
        out = {}
        for p in self.param_names:
            v = np.asarray(params[p], dtype=np.float64)
            shape = self.param_shape(p, dim)
            if v.shape == shape or (shape and v.shape == ()):
                v = np.broadcast_to(v, (n_tracks, *shape))
            elif v.shape[:1] == (n_tracks,):
                v = np.broadcast_to(v.reshape(n_tracks, *v.shape[1:]), (n_tracks, *shape))
            else:
                raise ParameterError(f"{self.name}: parameter {p} has shape {v.shape}")
            ok = np.asarray(self.prior(p).support(v))  # NumPy in, NumPy out: nothing compiled
            if not np.all(np.isfinite(v)) or not np.all(ok):
                raise ParameterError(f"{self.name}: parameter {p} is outside its prior support")
            out[p] = v
        return out

    def _simulate(self, rng, params, frames, dt, dim, n_tracks, start) -> np.ndarray:
        raise NotImplementedError


def describe_prior(d: dist.Distribution) -> str:
    """A prior as text, e.g. ``"Uniform(low=0, high=1)"``."""
    name = type(d).__name__
    args = []
    for k in getattr(d, "arg_constraints", {}):
        v = getattr(d, k, None)
        if v is not None:
            a = np.asarray(v)
            args.append(f"{k}={a.item():.6g}" if a.size == 1 else f"{k}={a.tolist()}")
    return f"{name}({', '.join(args)})"
