"""Model names, as used on the command line and in tables: the one parser.

A name is a model kind followed by options joined with ``+``: ``bm``,
``bm+drift``, ``fbm+noise``, ``fbm+drift+noise``, ``langevin+noise``, ``levy``,
``switch2`` (a 2-state switching model), ``switch3+noise``... Kinds and their
aliases:

* ``bm`` (``brownian``) -- :class:`~bayesdiff.models.Brownian`;
* ``fbm`` -- :class:`~bayesdiff.models.FBM`;
* ``langevin`` (``ou``) -- :class:`~bayesdiff.models.Langevin`;
* ``levy`` (``levywalk``, ``lw``) -- :class:`~bayesdiff.models.LevyWalk`, no options;
* ``switchK`` (``switchingK``), K = 1..6 states, ``switch`` alone meaning 2 --
  :class:`~bayesdiff.models.Switching`.

The options are ``drift`` and ``noise``, each at most once, in any order.
Names are read case-insensitively, with spaces around the parts ignored.
:func:`from_name` builds one model, :func:`from_spec` a comma-separated list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import ModelError
from .base import Model
from .brownian import Brownian
from .fbm import FBM
from .langevin import Langevin
from .levy import LevyWalk
from .switching import Switching

__all__ = ["from_name", "from_spec", "available", "MODEL_NAMES"]

#: Names understood by :func:`from_name` and :func:`from_spec` (options may be
#: combined and reordered; see the module docstring for the aliases).
MODEL_NAMES = (
    "bm",
    "bm+drift",
    "bm+noise",
    "bm+drift+noise",
    "fbm",
    "fbm+drift",
    "fbm+noise",
    "fbm+drift+noise",
    "langevin",
    "langevin+drift",
    "langevin+noise",
    "levy",
    "switch2",
    "switch3",
)

# kind -> (model class, accepted options)
_KINDS: dict[str, tuple[type[Model], frozenset[str]]] = {
    "bm": (Brownian, frozenset({"drift", "noise"})),
    "fbm": (FBM, frozenset({"drift", "noise"})),
    "langevin": (Langevin, frozenset({"drift", "noise"})),
    "levy": (LevyWalk, frozenset()),
    "switch": (Switching, frozenset({"drift", "noise"})),
}
_ALIASES = {
    "brownian": "bm",
    "ou": "langevin",
    "levywalk": "levy",
    "lw": "levy",
}
_SWITCH = re.compile(r"switch(?:ing)?(\d*)")
_MAX_STATES = 6


def from_name(name: str) -> Model:
    """Build a model with default priors from its name, e.g. ``"fbm+noise"`` or ``"switch2"``.

    Parameters
    ----------
    name : str
        A kind (or alias) followed by ``+drift`` and/or ``+noise``; see the
        module docstring.

    Returns
    -------
    Model

    Raises
    ------
    ModelError
        An unknown kind, an option the kind does not take, an option given
        twice, or a switching model with other than 1 to 6 states; the message
        names the model and the known names.

    Examples
    --------
    >>> from bayesdiff.models.registry import from_name
    >>> from_name("fbm+drift+noise").name
    'fbm+drift+noise'
    >>> from_name("switch3").n_states, from_name("lw").name
    (3, 'levy')
    """
    if not isinstance(name, str):
        raise TypeError(f"a model name is a string, got {type(name).__name__}")
    parts = [p.strip().lower() for p in name.strip().split("+")]
    parts = [p for p in parts if p]
    if not parts:
        raise ModelError(f"empty model name; known: {', '.join(MODEL_NAMES)}")
    head, opts = parts[0], parts[1:]
    head = _ALIASES.get(head, head)
    kwargs: dict[str, object] = {}
    switch = _SWITCH.fullmatch(head)
    if switch:
        n_states = int(switch.group(1)) if switch.group(1) else 2
        if not 1 <= n_states <= _MAX_STATES:
            raise ModelError(
                f"unknown model {name!r}: a switching model has 1 to {_MAX_STATES} states "
                f"(switch1 ... switch{_MAX_STATES}); known: {', '.join(MODEL_NAMES)}"
            )
        head, kwargs["n_states"] = "switch", n_states
    if head not in _KINDS:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")
    cls, allowed = _KINDS[head]
    twice = sorted({o for o in opts if opts.count(o) > 1})
    if twice:
        raise ModelError(f"model {name!r}: option(s) {twice} given twice")
    bad = [o for o in opts if o not in allowed]
    if bad:
        takes = "takes no options" if not allowed else "takes the options 'drift' and/or 'noise'"
        raise ModelError(f"model {name!r}: unknown option(s) {bad}; {cls.__name__} {takes}")
    return cls(**kwargs, **{o: True for o in opts})


def from_spec(spec: str | Sequence[str]) -> dict[str, Model]:
    """Models from a comma-separated list of names (or a list of names).

    Parameters
    ----------
    spec : str or sequence of str
        E.g. ``"bm,fbm,fbm+noise,langevin,levy,switch2"``; each name as in
        :func:`from_name`. Blank entries are skipped.

    Returns
    -------
    dict
        Name (as given, without surrounding spaces) -> model with default
        priors, in the order given.

    Raises
    ------
    ModelError
        No names, a name given twice, or a name :func:`from_name` rejects.

    Examples
    --------
    >>> from bayesdiff.models.registry import from_spec
    >>> models = from_spec("bm, fbm+noise")
    >>> list(models), models["fbm+noise"].name
    (['bm', 'fbm+noise'], 'fbm+noise')
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [s.strip() for s in items if s.strip()]
    if not names:
        raise ModelError(f"no model names given; known: {', '.join(MODEL_NAMES)}")
    out: dict[str, Model] = {}
    for name in names:
        model = from_name(name)
        if name in out:
            raise ModelError(f"model {name!r} given twice")
        out[name] = model
    return out


def available() -> list[str]:
    """The model kinds :func:`from_name` knows (aliases aside).

    Examples
    --------
    >>> from bayesdiff.models.registry import available
    >>> available()
    ['bm', 'fbm', 'langevin', 'levy', 'switch']
    """
    return list(_KINDS)
