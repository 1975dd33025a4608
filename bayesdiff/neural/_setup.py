"""Training set-up and model-class roles, shared by training and prediction.

:class:`TrainConfig` (what a network is trained on, stored in its manifest),
the roles of the model classes (:func:`alpha_role`, :func:`alpha_heads`,
:func:`joint_head`, :func:`defines_d`) and the models with their training
priors (:func:`training_model`). :mod:`.train` simulates and trains with them;
:mod:`.ensemble` reads them back when it loads and evaluates a network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpyro.distributions as dist

from ..errors import ModelError, ParameterError
from ..models.registry import from_name

#: Model classes of the default ensemble, in ``p_<name>`` order.
DEFAULT_MODELS = ("bm", "fbm", "langevin", "levy", "switch2")

#: Training priors that differ from the models' defaults (frame units, dt = 1).
#: ``sigma`` of the noisy variants is set from the SNR, so its prior is opened up;
#: the Langevin relaxation rate is kept where the trap shows within a track;
#: the Lévy walk's alpha stops short of 2, where its simulator overflows.
TRAINING_PRIORS: dict[str, dict[str, dist.Distribution]] = {
    "langevin": {"k": dist.LogUniform(1e-3, 1.0)},
    "levy": {"alpha": dist.Uniform(1.0, 1.9)},
}
#: Prior of ``sigma`` in a noisy variant's model (its draws are replaced by ``sqrt(D) / SNR``).
WIDE_SIGMA = dist.LogUniform(1e-12, 1e12)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What to simulate and how to train (stored in the manifest).

    Attributes
    ----------
    models : tuple of str
        Model classes (registry names: ``bm``, ``fbm``, ``langevin``, ``levy``,
        ``switch2``, ...; options such as ``+noise`` are added by ``noise_fraction``).
    lengths : (int, int)
        Shortest and longest track, in points.
    dims : tuple of int
        Dimensions (1 and/or 2).
    snr : (float, float)
        Range of ``sqrt(D) / sigma`` (per frame) of noisy tracks.
    noise_fraction : float
        Fraction of tracks (of models with a noise option) with localization noise.
    gap_fraction : float
        Fraction of simulation groups observed with random missing frames.
    n_train : int
        Training tracks (simulated) per member; with ``reuse`` passes over each chunk.
    batch_size, chunk, reuse, lr, val_every, patience, n_val :
        Optimizer batch, tracks simulated at a time, passes over each chunk,
        peak learning rate, steps between validations, validations without
        improvement before stopping, validation tracks.
    """

    models: tuple[str, ...] = DEFAULT_MODELS
    lengths: tuple[int, int] = (20, 500)
    dims: tuple[int, ...] = (1, 2)
    snr: tuple[float, float] = (1.0, 30.0)
    noise_fraction: float = 0.5
    gap_fraction: float = 0.1
    n_train: int = 200_000
    batch_size: int = 128
    chunk: int = 2048
    reuse: int = 3
    lr: float = 2e-3
    val_every: int = 250
    patience: int = 6
    n_val: int = 2000

    def __post_init__(self) -> None:
        lo, hi = self.lengths
        if not 4 <= lo <= hi:
            raise ParameterError(f"lengths must satisfy 4 <= min <= max points, got {self.lengths}")
        if not set(self.dims) <= {1, 2} or not self.dims:
            raise ParameterError(f"dims must be 1 and/or 2, got {self.dims}")
        if not 0 < self.snr[0] <= self.snr[1]:
            raise ParameterError(f"snr must be 0 < low <= high, got {self.snr}")
        for name in self.models:
            from_name(name)  # ModelError for unknown names

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["priors"] = {m: describe_priors(m) for m in self.models}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**kw)


def model_kind(name: str) -> str:
    """The model kind of a registry name (``"fbm+noise"`` -> ``"fbm"``)."""
    return from_name(name).kind


def alpha_role(name: str) -> str:
    """What alpha is for a model class: ``"free"``, ``"one"`` or ``"none"``.

    ``"free"`` (FBM, Lévy walk): a variable exponent with its own Gaussian head;
    ``"one"`` (Brownian, switching diffusion): exactly 1, a point mass in the
    predictive distribution; ``"none"`` (Langevin): no single exponent, the
    MSD saturates.
    """
    kind = model_kind(name)
    if kind in ("fbm", "levy"):
        return "free"
    return "none" if kind == "langevin" else "one"


def defines_d(name: str) -> bool:
    """Whether a model class has a diffusion coefficient target (the Lévy walk has none:
    its flights are ballistic)."""
    return model_kind(name) != "levy"


def alpha_heads(models: Sequence[str]) -> list[int]:
    """Alpha-head index of every class (-1 for classes without a head)."""
    out, h = [], 0
    for name in models:
        out.append(h if alpha_role(name) == "free" else -1)
        h += alpha_role(name) == "free"
    return out


def joint_head(models: Sequence[str]) -> int:
    """Alpha-head index of the first class with a variable alpha *and* a defined D, or -1.

    That class (FBM by default) gets the joint (alpha, z) head of
    ``Architecture(joint=True)``; the Lévy walk has no D target and keeps its
    alpha-only head.
    """
    heads = alpha_heads(models)
    for name, h in zip(models, heads):
        if h >= 0 and defines_d(name):
            return h
    return -1


def training_model(name: str, noisy: bool):
    """The model of a class as training simulates it: its training priors and,
    with ``noisy``, its localization-noise variant (``sigma`` set later from the SNR)."""
    base = from_name(name)
    overrides = dict(TRAINING_PRIORS.get(base.kind, {}))
    noisy = noisy and with_noise(name) != name
    spec = with_noise(name) if noisy else name
    m = from_name(spec)
    if noisy:
        overrides["sigma"] = WIDE_SIGMA
    return dataclasses.replace(m, priors=overrides or None)


def with_noise(name: str) -> str:
    """The registry name of a class's noise variant (``"fbm"`` -> ``"fbm+noise"``), or
    ``name`` itself when it has none or already is one."""
    if "noise" in name.split("+"):
        return name
    try:
        return name + "+noise" if "sigma" in from_name(name + "+noise").param_names else name
    except ModelError:
        return name


def describe_priors(name: str) -> dict[str, str]:
    """The training priors of a class as text (stored in the manifest)."""
    m = training_model(name, noisy=False)
    out = m.config()["priors"]
    if with_noise(name) != name:
        out["sigma"] = "sqrt(D) / SNR, SNR ~ LogUniform(snr)"
    return out
