"""The package's import graph flows one way: no import circles, no private name taken
from another module, no module over 900 lines.

Every import counts, at module level and inside functions (read with ``ast``, nothing
is imported). A private name is ``_x`` (not a dunder). A private helper module
(``bayesdiff/_files.py``, ``inference/_quadrature.py``) may be imported: its public
names are its API, so only ``from <public module> import _x`` (or ``module._x`` on a
public module bound by an import) counts as taking a private name. The implicit
import of a parent package (``bayesdiff/__init__.py`` runs before any submodule) is
not counted; ``from bayesdiff.inference import x`` is an edge to the package's
``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 900


def modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of ``root/bayesdiff``."""
    out = {}
    for path in sorted((root / "bayesdiff").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def imports(name: str, mods: dict[str, Path]) -> tuple[set[str], list[str]]:
    """The package modules that module ``name`` imports, and the private names it takes
    from public ones (``"target._x"``)."""
    path = mods[name]

    def owner(dotted: str) -> str | None:  # the package module that ``dotted`` names or lies in
        while dotted and dotted not in mods:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    edges, private, bound = set(), [], {}  # bound: local name -> module it names
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if (t := owner(a.name)) is not None:
                    edges.add(t)
                    if a.asname:
                        bound[a.asname] = t
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in mods:  # a submodule
                    edges.add(sub)
                    bound[a.asname or a.name] = sub
                elif (t := owner(base)) is not None:
                    edges.add(t)
                    if _is_private(a.name) and not _is_private(t.rpartition(".")[2]):
                        private.append(f"{t}.{a.name}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
            and _is_private(node.attr)
            and not _is_private(bound[node.value.id].rpartition(".")[2])
        ):
            private.append(f"{bound[node.value.id]}.{node.attr}")
    edges.discard(name)
    return edges, sorted(set(private))


def graph(root: Path) -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    mods = modules(root)
    edges, private = {}, {}
    for name in mods:
        edges[name], taken = imports(name, mods)
        if taken:
            private[name] = taken
    return edges, private


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other (directly or through others)."""

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for t in edges[todo.pop()] - seen:
                seen.add(t)
                todo.append(t)
        return seen

    reach = {m: reachable(m) for m in edges}
    groups = {tuple(sorted(o for o in reach[m] if m in reach[o])) for m in edges if m in reach[m]}
    return sorted(list(g) for g in groups)


@pytest.fixture(scope="module")
def package():
    return graph(ROOT)


def test_no_import_circles(package):
    edges, _ = package
    assert len(edges) > 50  # the whole package was read
    assert "bayesdiff.inference.sampling" in edges["bayesdiff.inference"]
    assert circles(edges) == []


def test_no_private_name_taken_across_modules(package):
    _, private = package
    assert private == {}


def test_no_module_over_900_lines():
    long = {
        name: n
        for name, path in modules(ROOT).items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_check_finds_planted_circles_and_private_imports(tmp_path):
    """Negative control: a small package with a circle through a function-level import,
    a private name imported from a public module, and one read as an attribute."""
    pkg = tmp_path / "bayesdiff"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from .a import f\n",
        "a.py": "def f():\n    from .sub.b import g\n    return g()\n",
        "_helper.py": "def _ok():\n    pass\n",
        "sub/__init__.py": "",
        "sub/b.py": "from .. import a\n\ndef g():\n    return a._secret\n",
        "sub/c.py": "from ..a import _hidden\nfrom .._helper import _ok\nfrom . import b\n",
        "sub/d.py": "import bayesdiff.sub.c as c\nimport bayesdiff._helper as h\nx = c._y, h._z\n",
    }
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    edges, private = graph(tmp_path)
    assert edges["bayesdiff.sub.c"] == {"bayesdiff.a", "bayesdiff._helper", "bayesdiff.sub.b"}
    assert circles(edges) == [["bayesdiff.a", "bayesdiff.sub.b"]]
    assert private == {
        "bayesdiff.sub.b": ["bayesdiff.a._secret"],
        "bayesdiff.sub.c": ["bayesdiff.a._hidden"],
        "bayesdiff.sub.d": ["bayesdiff.sub.c._y"],
    }
