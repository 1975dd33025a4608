"""Model names as used on the command line and in tables.

A name is a model kind followed by options joined with ``+``:
``bm``, ``bm+drift``, ``fbm+noise``, ``fbm+drift+noise``, ``langevin+noise``,
``levy``, ``switch2`` (a 2-state switching model), ``switch3+noise``...
"""

from __future__ import annotations

import importlib

from ..errors import ModelError
from .base import Model

__all__ = ["from_name", "available"]

# kind -> (module, class, accepted options)
_KINDS = {
    "bm": ("brownian", "Brownian", {"drift", "noise"}),
    "fbm": ("fbm", "FBM", {"drift", "noise"}),
    "langevin": ("langevin", "Langevin", {"drift", "noise"}),
    "levy": ("levy", "LevyWalk", set()),
    "switch": ("switching", "Switching", {"drift", "noise"}),
}
_ALIASES = {
    "brownian": "bm",
    "ou": "langevin",
    "levywalk": "levy",
    "lw": "levy",
    "switching": "switch",
}


def _class(kind: str):
    module, cls, _ = _KINDS[kind]
    try:
        mod = importlib.import_module(f"{__package__}.{module}")
    except ModuleNotFoundError as err:  # a model that has not landed yet
        raise ModelError(f"model {kind!r} is not available in this version") from err
    return getattr(mod, cls)


def from_name(spec: str) -> Model:
    """Build a model from its name, e.g. ``"fbm+noise"`` or ``"switch2"``.

    Examples
    --------
    >>> from bayesdiff.models.registry import from_name
    >>> from_name("fbm+drift+noise").name
    'fbm+drift+noise'
    """
    parts = [p.strip().lower() for p in spec.strip().split("+") if p.strip()]
    if not parts:
        raise ModelError("empty model name")
    head, opts = parts[0], set(parts[1:])
    head = _ALIASES.get(head, head)
    kwargs = {}
    if head.startswith("switch") and head != "switch":
        digits = head[len("switch") :]
        if not digits.isdigit() or int(digits) < 1:
            raise ModelError(f"unknown model {spec!r}: use switch2, switch3, ...")
        kwargs["n_states"] = int(digits)
        head = "switch"
    if head not in _KINDS:
        raise ModelError(f"unknown model {spec!r}; known kinds: {', '.join(available())}")
    bad = opts - _KINDS[head][2]
    if bad:
        raise ModelError(f"model {head!r} has no option(s) {sorted(bad)}")
    if head == "switch" and "n_states" not in kwargs:
        kwargs["n_states"] = 2
    return _class(head)(**kwargs, **{o: True for o in opts})


def available() -> list[str]:
    """Kinds whose model classes are present."""
    out = []
    for kind in _KINDS:
        try:
            _class(kind)
        except ModelError:
            continue
        out.append(kind)
    return out
