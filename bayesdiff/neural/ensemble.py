"""Amortized estimators and deep ensembles: prediction, saving and loading.

A :class:`DeepEnsemble` of ``M`` members evaluates all members together: their
parameters are stacked along a leading axis and the network is ``vmap``-ed
over it, compiled once per (bucket length, padded batch size).

One member's predictive distribution of alpha is a mixture over the classes
that define alpha, weighted by its class probabilities renormalized over
those classes: a point mass at 1 for classes with alpha = 1 exactly
(Brownian, switching) and the class's own Gaussian head for classes with a
variable alpha (FBM, Lévy walk), which estimates ``alpha`` given the track
*and* the class. The ensemble's predictive distribution is the equally
weighted mixture of its members' (Lakshminarayanan, Pritzel & Blundell 2017),
so its mean and variance are

    mean = mean_i mu_i,    var = mean_i sigma_i^2 + var_i mu_i,

with ``mu_i``, ``sigma_i^2`` the mean and variance of member ``i``'s mixture;
the class probabilities are averaged (the class marginal of that mixture).
The class-conditional estimates (``alpha_mean_<class>``, ``alpha_sd_<class>``)
combine the members' Gaussians of that class by the same formula.

Saved networks are a folder with ``manifest.json`` (format version, bayesdiff
version, architecture, training set-up and priors, model names, per-member
training record and the SHA-256 of every weights file) and one
``member<i>.msgpack`` per member (Flax serialization of the parameters). No
pickle is involved; a missing, corrupted or incompatible file raises
:class:`~bayesdiff.errors.NetworkFileError`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .._version import __version__
from ..errors import NetworkFileError
from ..tracks import Track, TrackSet, next_power_of_two
from ._setup import TrainConfig, alpha_heads, alpha_role, joint_head
from .features import as_trackset, buckets, check_tracks, physical_log_d
from .networks import Architecture

__all__ = ["AmortizedEstimator", "DeepEnsemble", "load", "default_ensemble", "FORMAT"]

#: Version of the saved-network layout; files of another format are refused.
#: 2: class-conditional alpha heads (format 1 had one alpha head for all classes).
FORMAT = 2
_DEFAULT_DIR = Path(__file__).resolve().parent.parent / "data" / "neural" / "default"
_MIN_PAD = 64


def _pad_size(n: int, max_batch: int) -> int:
    return min(max_batch, max(_MIN_PAD, next_power_of_two(n)))


@functools.lru_cache(maxsize=16)
def _apply_fn(arch: Architecture):
    """The network vmapped over stacked member parameters, jitted (one per architecture)."""
    net = arch.build()
    return jax.jit(jax.vmap(net.apply, in_axes=(0, None, None, None)))


class _Predictor:
    """Shared machinery: stacked member parameters, compiled evaluation per bucket."""

    arch: Architecture
    config: TrainConfig
    max_batch: int = 4096

    # -- what the network accepts -------------------------------------------------------
    @property
    def model_names(self) -> list[str]:
        """Class names, in the order of the ``p_<name>`` columns."""
        return list(self.config.models)

    @property
    def min_length(self) -> int:
        """Shortest track (points) the network accepts."""
        return int(self.config.lengths[0])

    @property
    def dims(self) -> tuple[int, ...]:
        """Track dimensions the network accepts."""
        return tuple(int(d) for d in self.config.dims)

    @property
    def stacked_params(self) -> Any:
        """The members' Flax parameters stacked along a leading member axis (float32)."""
        raise NotImplementedError

    @property
    def network(self):
        """The network evaluated for every member at once, jit-compiled.

        ``network(stacked_params, x, mask, dim)`` takes a batch of encoded tracks
        (:func:`bayesdiff.neural.features.buckets`) and returns the raw head
        outputs and the penultimate-layer features, each with a leading member
        axis. It is compiled once per architecture and input shape.
        """
        return _apply_fn(self.arch)

    def fingerprint(self) -> str:
        """SHA-1 (hex) of the members' weights: equal for equal networks.

        Hashes the bytes of every leaf of :attr:`stacked_params` in tree order,
        so a retrained network gets another fingerprint.
        """
        h = hashlib.sha1()
        for leaf in jax.tree.leaves(self.stacked_params):
            h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
        return h.hexdigest()

    @property
    def alpha_classes(self) -> list[str]:
        """Classes with a learned alpha head, in the order of the heads."""
        return [m for m in self.model_names if alpha_role(m) == "free"]

    def _alpha_components(self, prob: np.ndarray, mu: np.ndarray, var: np.ndarray):
        """Per-member alpha mixture: weights, means, variances of shape (M, N, C).

        ``C`` counts the classes that define alpha (heads and point masses at 1);
        weights are the class probabilities renormalized over them.
        """
        heads = alpha_heads(self.model_names)
        cls = self._alpha_defined
        if not cls:
            nan = np.full((*prob.shape[:2], 1), np.nan)
            return nan, nan, nan
        w = prob[..., cls]
        w = w / np.sum(w, axis=-1, keepdims=True)  # nan if no class defines alpha
        ones = np.ones(prob.shape[:2])
        m = np.stack([mu[..., heads[k]] if heads[k] >= 0 else ones for k in cls], axis=-1)
        v = np.stack([var[..., heads[k]] if heads[k] >= 0 else 0 * ones for k in cls], axis=-1)
        return w, m, v

    # -- raw outputs -----------------------------------------------------------------------
    def _raw(self, tracks) -> tuple[TrackSet, dict[str, np.ndarray]]:
        """Per-member outputs: arrays of shape (M, n_tracks, ...), physical units."""
        ts = as_trackset(tracks)
        check_tracks(ts, self.min_length, self.dims)
        params = self.stacked_params
        M, N, K, H = self.n_members, len(ts), len(self.model_names), self.arch.alpha_heads
        shapes = {"alpha_mean": (H,), "alpha_var": (H,), "z_mean": (), "z_var": (), "logits": (K,)}
        if self._joint_head >= 0:
            shapes["alpha_z_cov"] = ()
        out = {k: np.empty((M, N, *s), np.float32) for k, s in shapes.items()}
        emb = np.empty((M, N, self.arch.hidden), np.float32)
        log_scale = np.empty(N)
        for b in buckets(ts, self.max_batch):
            n = len(b.index)
            size = _pad_size(n, self.max_batch)
            x = np.zeros((size, *b.x.shape[1:]), np.float32)
            mask = np.zeros((size, b.x.shape[1]), np.float32)
            dim = np.ones(size, np.float32)
            x[:n], mask[:n], dim[:n] = b.x, b.mask, b.dim
            mask[n:, 0] = 1.0  # padding rows: one dummy step keeps them finite
            o, e = self.network(params, x, mask, dim)
            for k in out:
                out[k][:, b.index] = np.asarray(o[k])[:, :n]
            emb[:, b.index] = np.asarray(e)[:, :n]
            log_scale[b.index] = b.log_scale
        dt = np.array([t.dt for t in ts])
        f64 = {k: v.astype(np.float64) for k, v in out.items()}
        prob = np.asarray(jax.nn.softmax(jnp.asarray(out["logits"]), axis=-1), np.float64)
        w, m, v = self._alpha_components(prob, f64["alpha_mean"], f64["alpha_var"])
        a_mu = np.sum(w * m, axis=-1)  # each member's mixture mean and variance
        a_var = np.sum(w * (v + (m - a_mu[..., None]) ** 2), axis=-1)
        logdt = np.log(dt)
        # cov(alpha, z) of the member's mixture: only the joint class's component has one
        # (z does not depend on the class), weighted by its renormalized probability
        az_cov = np.zeros_like(a_mu)
        jh = self._joint_head
        if jh >= 0:
            kj = self._alpha_defined.index(alpha_heads(self.model_names).index(jh))
            az_cov = np.nan_to_num(w[..., kj]) * f64["alpha_z_cov"]
        raw = {
            "alpha_mean": a_mu,
            "alpha_var": a_var,
            "alpha_cond_mean": f64["alpha_mean"],
            "alpha_cond_var": f64["alpha_var"],
            "mix_weight": w,
            "mix_mean": m,
            "mix_var": v,
            "logD_mean": physical_log_d(f64["z_mean"], log_scale, np.nan_to_num(a_mu, nan=1.0), dt),
            "logD_var": f64["z_var"]
            + logdt**2 * np.nan_to_num(a_var, nan=0.0)
            - 2 * logdt * az_cov,
            "prob": prob,
            "embedding": emb,
        }
        if jh >= 0:  # (alpha, log D) given the joint class, per member
            raw["joint_component"] = kj
            va, c = f64["alpha_var"][..., jh], f64["alpha_z_cov"]
            raw["joint_mean"] = np.stack(
                [f64["alpha_mean"][..., jh],
                 physical_log_d(f64["z_mean"], log_scale, f64["alpha_mean"][..., jh], dt)], -1
            )  # fmt: skip
            raw["joint_cov"] = np.stack(
                [np.stack([va, c - logdt * va], -1),
                 np.stack([c - logdt * va, f64["z_var"] + logdt**2 * va - 2 * logdt * c], -1)],
                -2,
            )  # fmt: skip
        return ts, raw

    @property
    def _alpha_defined(self) -> list[int]:
        """Indices of the classes that define alpha (a head or a point mass at 1)."""
        return [k for k, m in enumerate(self.model_names) if alpha_role(m) != "none"]

    @property
    def _joint_head(self) -> int:
        return self.arch.joint_head if self.arch.joint else -1

    # -- public face ---------------------------------------------------------------------
    def predict(self, tracks: Track | TrackSet | Iterable[Track]) -> pd.DataFrame:
        """Estimates for every track.

        Parameters
        ----------
        tracks : Track, TrackSet or iterable of Track
            Tracks of at least :attr:`min_length` points and a dimension in
            :attr:`dims`; otherwise a :class:`~bayesdiff.errors.TrackTooShortError`
            or :class:`~bayesdiff.errors.DimensionError` names the first bad track.

        Returns
        -------
        pandas.DataFrame
            One row per track, in input order: ``track`` (id), ``n_points``,
            ``alpha_mean``, ``alpha_sd`` (mean and sd of the predictive
            mixture over classes and members), ``logD_mean``, ``logD_sd``
            (natural log of D in length^2/s^alpha), ``D_mean``, ``D_sd``
            (moments of the log-normal mixture), ``p_<model>`` (class
            probabilities), ``model`` (the most probable class) and, for each
            class with a variable alpha (:attr:`alpha_classes`),
            ``alpha_mean_<class>`` and ``alpha_sd_<class>``: alpha if the track
            is of that class. See the module docstring for how classes and
            members are mixed. Where no class defines alpha (Langevin only),
            the alpha columns are nan. A network with a joint head
            (``Architecture(joint=True)``) adds ``alpha_logD_corr_<class>``
            (``alpha_logD_corr_fbm``): the correlation of alpha and log D
            given that class, from the members' bivariate Gaussians mixed
            like the other columns; its ``logD_sd`` includes the covariance.
        """
        ts, raw = self._raw(tracks)
        a_m, a_v = raw["alpha_mean"], raw["alpha_var"]
        l_m, l_v = raw["logD_mean"], raw["logD_var"]
        alpha_mean = a_m.mean(0)
        alpha_var = a_v.mean(0) + a_m.var(0)
        logd_mean = l_m.mean(0)
        logd_var = l_v.mean(0) + l_m.var(0)
        # moments of the mixture of log-normals
        d1 = np.exp(l_m + l_v / 2).mean(0)
        d2 = np.exp(2 * l_m + 2 * l_v).mean(0)
        prob = raw["prob"].mean(0)
        df = pd.DataFrame(
            {
                "track": ts.ids,
                "n_points": ts.lengths,
                "alpha_mean": alpha_mean,
                "alpha_sd": np.sqrt(alpha_var),
                "logD_mean": logd_mean,
                "logD_sd": np.sqrt(logd_var),
                "D_mean": d1,
                "D_sd": np.sqrt(np.maximum(d2 - d1**2, 0.0)),
            }
        )
        for k, name in enumerate(self.model_names):
            df[f"p_{name}"] = prob[:, k]
        df["model"] = np.asarray(self.model_names)[prob.argmax(1)]
        c_m, c_v = raw["alpha_cond_mean"], raw["alpha_cond_var"]
        for h, name in enumerate(self.alpha_classes):
            df[f"alpha_mean_{name}"] = c_m[..., h].mean(0)
            df[f"alpha_sd_{name}"] = np.sqrt(c_v[..., h].mean(0) + c_m[..., h].var(0))
        if "joint_mean" in raw:
            mu, cov = raw["joint_mean"], raw["joint_cov"]  # (M, N, 2), (M, N, 2, 2)
            d = mu - mu.mean(0)
            tot = cov.mean(0) + np.einsum("mni,mnj->nij", d, d) / len(mu)
            name = self.alpha_classes[self._joint_head]
            df[f"alpha_logD_corr_{name}"] = tot[:, 0, 1] / np.sqrt(tot[:, 0, 0] * tot[:, 1, 1])
        return df

    def embed(self, tracks: Track | TrackSet | Iterable[Track]) -> np.ndarray:
        """Penultimate-layer features, shape (n_tracks, n_members * hidden).

        Members' features are concatenated (their coordinates are not aligned
        across members); for one member the shape is (n_tracks, hidden).
        """
        _, raw = self._raw(tracks)
        e = raw["embedding"]
        return np.concatenate(list(e), axis=1)

    def to_inference_data(
        self, tracks: Track | TrackSet | Iterable[Track], draws: int = 1000, seed: int = 0
    ):
        """Draws from the predictive mixture as ArviZ InferenceData.

        The ``posterior`` group holds ``alpha``, ``logD`` and ``D`` with dims
        ``(chain=1, draw, track)``: each draw picks a member uniformly, then
        samples alpha from that member's mixture (a class that defines alpha
        by its renormalized probability; alpha = 1 for a point-mass class,
        else a draw from the class's Gaussian) and log D from its Gaussian
        (independently of alpha given the member; with a joint head, from the
        bivariate Gaussian's log D given the alpha draw when the joint class
        was drawn). ``constant_data`` holds the
        class probabilities ``model_probability`` (track, model).
        """
        from ..inference._arviz import neural_inference_data

        ts, raw = self._raw(tracks)
        M, N = raw["alpha_mean"].shape
        rng = np.random.default_rng(seed)
        pick = rng.integers(M, size=(draws, N))
        cols = np.arange(N)[None, :]
        w = raw["mix_weight"][pick, cols]  # (draws, N, C)
        u = rng.random((draws, N, 1))
        c = np.minimum(np.sum(u > np.cumsum(w, axis=-1), axis=-1), w.shape[-1] - 1)[..., None]
        mu = np.take_along_axis(raw["mix_mean"][pick, cols], c, axis=-1)[..., 0]
        sd = np.sqrt(np.take_along_axis(raw["mix_var"][pick, cols], c, axis=-1)[..., 0])
        a = mu + sd * rng.standard_normal((draws, N))
        a = np.where(np.isfinite(w[..., 0]), a, np.nan)  # no class defines alpha
        eps = rng.standard_normal((draws, N))
        ld = raw["logD_mean"][pick, cols] + np.sqrt(raw["logD_var"][pick, cols]) * eps
        if "joint_mean" in raw:  # joint class drawn: log D given its alpha draw
            jm, jc = raw["joint_mean"][pick, cols], raw["joint_cov"][pick, cols]
            slope = jc[..., 0, 1] / jc[..., 0, 0]
            cond_var = np.maximum(jc[..., 1, 1] - slope * jc[..., 0, 1], 0.0)
            cond = jm[..., 1] + slope * (a - jm[..., 0]) + np.sqrt(cond_var) * eps
            ld = np.where(c[..., 0] == raw["joint_component"], cond, ld)
        return neural_inference_data(
            {"alpha": a, "logD": ld, "D": np.exp(ld)},
            track_ids=ts.ids,
            model_probability=raw["prob"].mean(0),
            model_names=self.model_names,
            attrs={
                "inference": "neural deep ensemble",
                "n_members": M,
                "network": self.arch.to_dict(),
                "bayesdiff_version": __version__,
            },
        )


class AmortizedEstimator(_Predictor):
    """One trained network.

    Parameters
    ----------
    arch : Architecture
    params : pytree
        Flax parameters (float32).
    config : TrainConfig
        The training set-up (models, lengths, dims, ...).
    info : dict, optional
        Training record (seed, steps, validation loss, seconds).

    Examples
    --------
    >>> import bayesdiff as bd
    >>> net = bd.neural.default_ensemble().members[0]
    >>> ts = bd.models.FBM().simulate(0, {"alpha": 0.5, "D": 0.1}, 100, 0.05, dim=2, n_tracks=3)
    >>> net.predict(ts).shape[0]
    3
    """

    n_members = 1

    def __init__(self, arch: Architecture, params: Any, config: TrainConfig, info=None):
        self.arch = arch
        self.params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
        self.config = config
        self.info = dict(info or {})

    @property
    def stacked_params(self) -> Any:
        """The parameters with a leading member axis of length 1."""
        return jax.tree.map(lambda a: a[None], self.params)

    @property
    def members(self) -> list[AmortizedEstimator]:
        return [self]

    def save(self, path: str | Path) -> Path:
        """Save as a one-member ensemble folder (see :class:`DeepEnsemble`)."""
        return DeepEnsemble([self]).save(path)

    def __repr__(self) -> str:
        return f"AmortizedEstimator({self.arch.kind}, classes={self.model_names})"


class DeepEnsemble(_Predictor):
    """A deep ensemble of :class:`AmortizedEstimator` members (same architecture).

    Attributes
    ----------
    members : list of AmortizedEstimator
    model_names, min_length, dims :
        What the networks classify and accept.

    Examples
    --------
    >>> import bayesdiff as bd
    >>> ens = bd.neural.default_ensemble()
    >>> ts = bd.models.FBM().simulate(0, {"alpha": 0.5, "D": 0.1}, 100, 0.05, dim=2, n_tracks=4)
    >>> df = ens.predict(ts)
    >>> list(df.columns[:8])
    ['track', 'n_points', 'alpha_mean', 'alpha_sd', 'logD_mean', 'logD_sd', 'D_mean', 'D_sd']
    """

    def __init__(self, members: Sequence[AmortizedEstimator], info: dict | None = None):
        members = list(members)
        if not members:
            raise ValueError("a DeepEnsemble needs at least one member")
        self.members = members
        self.arch = members[0].arch
        self.config = members[0].config
        self.info = dict(info or {})
        for m in members[1:]:
            if m.arch != self.arch or m.config.models != self.config.models:
                raise ValueError("ensemble members must share architecture and model classes")

    @property
    def n_members(self) -> int:
        return len(self.members)

    @cached_property
    def stacked_params(self) -> Any:
        """The members' parameters stacked along a leading axis (computed once)."""
        return jax.tree.map(lambda *a: jnp.stack(a), *[m.params for m in self.members])

    # -- files ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``manifest.json`` and ``member<i>.msgpack`` into folder ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        files = []
        for i, m in enumerate(self.members):
            data = flax.serialization.to_bytes(jax.tree.map(np.asarray, m.params))
            name = f"member{i}.msgpack"
            (path / name).write_bytes(data)
            files.append(
                {
                    "file": name,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "train": _jsonable(m.info),
                }
            )
        manifest = {
            "format": FORMAT,
            "bayesdiff_version": __version__,
            "architecture": self.arch.to_dict(),
            "training": self.config.to_dict(),
            "model_names": self.model_names,
            "min_length": self.min_length,
            "dims": list(self.dims),
            "members": files,
            "info": _jsonable(self.info),
        }
        tmp = path / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=1))
        tmp.replace(path / "manifest.json")
        return path

    def __repr__(self) -> str:
        return (
            f"DeepEnsemble({self.n_members} members, {self.arch.kind}, classes={self.model_names}, "
            f"min_length={self.min_length}, dims={list(self.dims)})"
        )


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: np.asarray(o).tolist()))


def _compatible(file_version: str, ours: str = __version__) -> bool:
    """Same major.minor (0.x releases may change networks)."""
    return file_version.split(".")[:2] == ours.split(".")[:2]


def load(path: str | Path, *, check_version: bool = True) -> DeepEnsemble:
    """Load a saved network folder (``manifest.json`` + ``member<i>.msgpack``).

    Parameters
    ----------
    path : path
        The folder written by ``save`` (or ``bayesdiff train --out``).
    check_version : bool
        Refuse networks saved by another bayesdiff major.minor version
        (default); the file-format version is always checked.

    Raises
    ------
    NetworkFileError
        Missing or unreadable manifest or weights, checksum mismatch (a
        corrupted file), another format or version, or weights that do not
        fit the architecture.
    """
    path = Path(path)
    mpath = path / "manifest.json"
    if not mpath.is_file():
        raise NetworkFileError(f"{path}: no manifest.json (not a saved bayesdiff network folder)")
    try:
        manifest = json.loads(mpath.read_text())
        fmt = manifest["format"]
        version = str(manifest["bayesdiff_version"])
        arch = Architecture(**manifest["architecture"])
        cfg = TrainConfig.from_dict(manifest["training"])
        entries = manifest["members"]
    except (ValueError, KeyError, TypeError) as err:
        raise NetworkFileError(f"{mpath}: unreadable or incomplete manifest ({err})") from None
    except Exception as err:  # a ModelError from unknown model names, for example
        raise NetworkFileError(f"{mpath}: invalid manifest ({err})") from None
    if fmt != FORMAT:
        raise NetworkFileError(
            f"{mpath}: network file format {fmt}; this bayesdiff reads {FORMAT} "
            "(format 2: class-conditional alpha heads); retrain (`bayesdiff train`, "
            "`make train` for the default)"
        )
    n_free = sum(h >= 0 for h in alpha_heads(cfg.models))
    want_joint = joint_head(cfg.models) if arch.joint else -1
    if arch.joint and arch.joint_head != want_joint:
        raise NetworkFileError(
            f"{mpath}: joint head {arch.joint_head} does not fit the model classes "
            f"{list(cfg.models)} (expected {want_joint})"
        )
    if arch.n_classes != len(cfg.models) or arch.alpha_heads != n_free:
        raise NetworkFileError(
            f"{mpath}: architecture ({arch.n_classes} classes, {arch.alpha_heads} alpha heads) "
            f"does not fit the model classes {list(cfg.models)} ({n_free} with a variable alpha)"
        )
    if check_version and not _compatible(version):
        raise NetworkFileError(
            f"{mpath}: saved by bayesdiff {version}, this is {__version__}; retrain "
            "(`bayesdiff train`, `make train` for the default) or pass check_version=False"
        )
    # the parameters' structure and shapes only: nothing is computed or compiled
    template = jax.eval_shape(
        arch.build().init,
        jax.random.PRNGKey(0),
        jnp.zeros((1, 32, 4), jnp.float32),
        jnp.ones((1, 32), jnp.float32),
        jnp.ones((1,), jnp.float32),
    )
    members = []
    for e in entries:
        wpath = path / str(e.get("file", ""))
        if not wpath.is_file():
            raise NetworkFileError(f"{wpath}: weights file listed in the manifest is missing")
        data = wpath.read_bytes()
        if hashlib.sha256(data).hexdigest() != e.get("sha256"):
            raise NetworkFileError(f"{wpath}: checksum mismatch (corrupted or replaced file)")
        try:
            params = flax.serialization.from_bytes(template, data)
        except Exception as err:  # noqa: BLE001 - msgpack raises many kinds
            raise NetworkFileError(f"{wpath}: cannot read weights ({err})") from None
        shapes_ok = jax.tree.all(
            jax.tree.map(lambda a, b: np.shape(a) == b.shape, params, template)
        )
        if not shapes_ok:
            raise NetworkFileError(f"{wpath}: weights do not fit the architecture in the manifest")
        members.append(AmortizedEstimator(arch, params, cfg, e.get("train")))
    if not members:
        raise NetworkFileError(f"{mpath}: lists no members")
    return DeepEnsemble(members, info=manifest.get("info"))


_DEFAULT: list[DeepEnsemble] = []


def default_ensemble() -> DeepEnsemble:
    """The pre-trained ensemble shipped with bayesdiff (``make train`` reproduces it).

    Five members trained on Brownian motion, FBM, Langevin, Lévy walk and
    2-state switching tracks of 20-500 points in 1D and 2D; see
    ``docs/neural.md`` for its training set-up and measured accuracy.
    Loaded once per process.
    """
    if not _DEFAULT:
        _DEFAULT.append(load(_DEFAULT_DIR))
    return _DEFAULT[0]
