"""The sequence networks (Flax linen), float32 throughout.

A network maps one bucket of encoded tracks (:mod:`bayesdiff.neural.features`)
to, per track,

* ``alpha`` given the class, for each class with a variable exponent (FBM and
  Lévy walks by default; ``alpha_heads`` of them): a Gaussian mean and
  variance. Classes with ``alpha = 1`` exactly (Brownian, switching) need no
  head, and Langevin has no exponent; see :func:`bayesdiff.neural.train.alpha_role`,
* ``z = log(D dt^alpha) - log s^2``: a Gaussian mean and variance,
* logits over the model classes,
* the embedding: the penultimate-layer feature vector.

The first layer merges ``patch`` consecutive increments into one vector (a
linear "patch embedding", as in vision transformers), so the encoder runs on
``length / patch`` positions: this is what makes five members evaluate at
thousands of tracks per second on two CPU cores. The encoder is a residual
stack of dilated kernel-3 convolutions (``kind="cnn"``, the default; written
as one matmul over shifted copies, which XLA runs much faster on CPU than its
generic dilated convolution; receptive field ``patch (1 + 2 (2^depth - 1))``
increments) or a GRU (``kind="gru"``), followed by masked mean and max pooling
over time. Next to
the pooled sequence features the head reads a few scale-free summary
statistics computed from the same input: the dimension flag, ``log n``, the
lag-1 correlation of increments, their kurtosis, and the local MSD exponents
``log(MSD(k) / MSD(1)) / log k`` for ``k`` in :data:`MSD_LAGS` (in steps).
Variances are ``softplus + VAR_FLOOR``: the floor keeps the Gaussian NLL from
rewarding a collapsing variance on easy examples.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .features import N_COORDS

__all__ = ["Architecture", "TrackNet", "summary_features", "VAR_FLOOR", "MSD_LAGS"]

#: Lower bound of the predicted variances (alpha and z): sd >= 0.01.
VAR_FLOOR = 1e-4
#: Lags (in steps) of the MSD-exponent summary features.
MSD_LAGS = (2, 4, 8, 16)


@dataclasses.dataclass(frozen=True)
class Architecture:
    """Network hyper-parameters, stored in the manifest of a saved network.

    Attributes
    ----------
    kind : "gru" or "cnn"
        Sequence encoder (GRU by default: measured better and faster here,
        see ``docs/neural.md``).
    channels : int
        Width of the sequence encoder.
    depth : int
        Convolution layers (dilations 1, 2, 4, ...); ignored by the GRU.
    patch : int
        Consecutive increments merged into one input vector by the first
        (linear) layer; the encoder runs on ``length / patch`` positions.
    hidden : int
        Width of the two dense layers after pooling (= the embedding size).
    n_classes : int
        Number of model classes.
    alpha_heads : int
        Number of class-conditional alpha heads: one per class with a
        variable alpha, in class order (2 for the default classes: FBM, Lévy).
    joint : bool
        Joint (alpha, z) head for the class with both a variable alpha and a
        defined D (FBM): a bivariate Gaussian whose covariance has a Cholesky
        factor with one free off-diagonal (see :class:`TrackNet`). Default
        False: independent Gaussians (the shipped ensemble).
    joint_head : int
        Index of the alpha head that is joint with z (set by ``train`` from
        the model classes; -1 when ``joint`` is False).

    Notes
    -----
    ``to_dict`` leaves out ``joint`` and ``joint_head`` when ``joint`` is
    False, so manifests and checkpoints of independent-head networks are the
    same as before the option existed, and old manifests load unchanged.
    """

    kind: str = "gru"
    channels: int = 24
    depth: int = 4
    hidden: int = 64
    n_classes: int = 5
    patch: int = 4
    alpha_heads: int = 2
    joint: bool = False
    joint_head: int = -1

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not self.joint:
            del d["joint"], d["joint_head"]
        return d

    def build(self) -> TrackNet:
        return TrackNet(**self.to_dict())


def _masked_mean(v: jax.Array, m: jax.Array) -> jax.Array:
    """Mean of ``v`` (B, L, ...) over L where ``m`` (B, L) is 1."""
    w = m.reshape(m.shape + (1,) * (v.ndim - 2))
    return jnp.sum(v * w, axis=1) / jnp.maximum(jnp.sum(w, axis=1), 1.0)


def summary_features(x: jax.Array, mask: jax.Array, dim: jax.Array) -> jax.Array:
    """Scale-free summary statistics of encoded tracks, shape (B, 4 + 2 len(MSD_LAGS))."""
    inc = x[..., :N_COORDS]  # (B, L, 2), zero in padding
    n = jnp.maximum(jnp.sum(mask, axis=1), 1.0)
    sq = jnp.sum(inc**2, axis=-1)  # (B, L)
    m2 = jnp.sum(sq, axis=1) / n
    m4 = jnp.sum(sq**2, axis=1) / n
    kurt = jnp.log(m4 / jnp.maximum(m2**2, 1e-12) + 1e-6)
    prod = jnp.sum(inc[:, 1:] * inc[:, :-1], axis=-1) * mask[:, 1:]
    rho = jnp.sum(prod, axis=1) / jnp.maximum(jnp.sum(mask[:, 1:], axis=1), 1.0) / (m2 + 1e-12)
    pos = jnp.concatenate([jnp.zeros_like(inc[:, :1]), jnp.cumsum(inc, axis=1)], axis=1)
    cols = [(dim - 1.5) * 2.0, jnp.log(n) / 6.0 - 0.7, rho, kurt - 1.0]
    L = inc.shape[1]
    for k in MSD_LAGS:
        if k >= L:
            cols += [jnp.zeros_like(n), jnp.zeros_like(n)]
            continue
        d = pos[:, k:] - pos[:, :-k]  # (B, L + 1 - k, 2)
        valid = (jnp.arange(L + 1 - k)[None, :] <= (n[:, None] - k)).astype(x.dtype)
        cnt = jnp.sum(valid, axis=1)
        msd = jnp.sum(jnp.sum(d**2, -1) * valid, axis=1) / jnp.maximum(cnt, 1.0)
        ok = (cnt > 0).astype(x.dtype)
        expo = jnp.log((msd + 1e-12) / (m2 + 1e-12)) / jnp.log(float(k))
        cols += [expo * ok, ok]
    return jnp.stack(cols, axis=-1).astype(x.dtype)


class TrackNet(nn.Module):
    """Encoder + heads; see the module docstring. Call with ``(x, mask, dim)``.

    Returns ``(out, embedding)``: ``out`` is a dict of arrays ``alpha_mean``
    and ``alpha_var`` of shape (B, alpha_heads) (alpha given each class with
    a head), ``z_mean`` and ``z_var`` of shape (B,) and ``logits`` of shape
    (B, n_classes); ``embedding`` has shape (B, hidden).

    With ``joint`` (and ``joint_head = h >= 0``), head ``h`` and ``z`` form a
    bivariate Gaussian with covariance ``Sigma = L L^T``,

        L = [[l_z, 0], [l_21, l_a]],   l_z^2 = z_var,   l_a^2 = softplus + VAR_FLOOR,

    ``l_21`` a free output, so ``Sigma_zz = z_var`` (the z marginal is the
    same for every class), ``Sigma_az = l_z l_21`` and ``alpha_var[:, h] =
    l_a^2 + l_21^2`` (the marginal variance of alpha). ``out`` then also
    holds ``alpha_z_cov`` (B,), the covariance, and ``alpha_var_given_z``
    (B,), ``l_a^2 = var(alpha | z)``, which is never below ``VAR_FLOOR``.
    """

    kind: str = "gru"
    channels: int = 24
    depth: int = 4
    hidden: int = 64
    n_classes: int = 5
    patch: int = 4
    alpha_heads: int = 2
    joint: bool = False
    joint_head: int = -1

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array, dim: jax.Array):
        x = x.astype(jnp.float32)
        mask = mask.astype(jnp.float32)
        B, L, C = x.shape
        P = self.patch
        xp = x.reshape(B, L // P, P * C)  # patches of P consecutive increments
        mask_p = jnp.max(mask.reshape(B, L // P, P), axis=-1)
        m = mask_p[..., None]
        h = nn.Dense(self.channels, name="embed_in")(xp) * m
        if self.kind == "cnn":
            for i in range(self.depth):
                # dilated kernel-3 convolution as one matmul over shifted copies (fast on CPU)
                d = min(2**i, h.shape[1] - 1) if h.shape[1] > 1 else 0
                if d:
                    pad = jnp.zeros_like(h[:, :d])
                    left = jnp.concatenate([pad, h[:, :-d]], axis=1)
                    right = jnp.concatenate([h[:, d:], pad], axis=1)
                else:
                    left = right = jnp.zeros_like(h)
                y = nn.Dense(self.channels, name=f"conv{i}")(
                    jnp.concatenate([left, h, right], axis=-1)
                )
                h = (h + nn.relu(y)) * m
        elif self.kind == "gru":
            lengths = jnp.sum(mask_p, axis=1).astype(jnp.int32)
            h = nn.RNN(nn.GRUCell(self.channels), name="gru")(h, seq_lengths=lengths) * m
        else:
            raise ValueError(f"unknown network kind {self.kind!r}")
        mean = _masked_mean(h, mask_p)
        top = jnp.max(jnp.where(m > 0, h, -1e4), axis=1)
        feats = summary_features(x, mask, dim.astype(jnp.float32))
        e = jnp.concatenate([mean, top, feats], axis=-1)
        e = nn.relu(nn.Dense(self.hidden, name="dense0")(e))
        e = nn.relu(nn.Dense(self.hidden, name="dense1")(e))
        H, K = self.alpha_heads, self.n_classes
        joint = self.joint and 0 <= self.joint_head < H
        if self.joint and not joint:
            raise ValueError(f"joint head {self.joint_head} out of range (alpha_heads={H})")
        raw = nn.Dense(2 + K + 2 * H + int(joint), name="head")(e)
        out = {
            "z_mean": raw[:, 0],
            "z_var": nn.softplus(raw[:, 1] - 2.0) + VAR_FLOOR,
            "logits": raw[:, 2 : 2 + K],
            "alpha_mean": raw[:, 2 + K : 2 + K + H] + 1.0,
            "alpha_var": nn.softplus(raw[:, 2 + K + H : 2 + K + 2 * H] - 2.0) + VAR_FLOOR,
        }
        if joint:  # Cholesky factor of the (z, alpha) covariance of the joint head
            h, l21 = self.joint_head, raw[:, -1]
            la2 = out["alpha_var"][:, h]
            out["alpha_var"] = out["alpha_var"].at[:, h].set(la2 + l21**2)
            out["alpha_z_cov"] = jnp.sqrt(out["z_var"]) * l21
            out["alpha_var_given_z"] = la2
        return out, e
