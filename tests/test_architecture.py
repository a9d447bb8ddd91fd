"""The shape agreed in DESIGN.md, enforced on the source: an AST scan of every import
(module level, function level and ``TYPE_CHECKING`` alike).

- Imports point down the layers (`LAYERS`); nothing imports a layer above it or a sibling
  layer, and the package's import graph has no cycle.
- Flask and Jinja only in ``web/``; werkzeug only in ``web/`` and ``serve/``; sockets and server
  threads only in ``serve/``; click only in ``cli.py``; pytest only in ``pytest_plugin.py``.
- Modules stay small (about 400 code lines; a declarative table up to 500); protocol modules
  open their docstring with the RFC sections they implement.
- The core imports cheaply and starts nothing.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

import mockidp

PACKAGE = Path(mockidp.__file__).parent

# rank of each layer, bottom first; a module may import only layers of a lower rank (and its
# own layer).  Layers of one rank are siblings and may not import each other.
LAYERS: dict[str, int] = {
    "mockidp.core": 0,
    "mockidp.tokens": 1,
    "mockidp.scripting": 2,
    "mockidp.profiles": 2,
    "mockidp.protocol": 3,
    "mockidp.shared": 3,
    "mockidp.provider": 4,
    "mockidp.http": 5,
    "mockidp.web": 6,
    "mockidp.serve": 7,
    "mockidp.api": 8,
    "mockidp.cli": 9,
    "mockidp.pytest_plugin": 9,
    "mockidp": 10,  # the package's own __init__: public re-exports only
}
# third-party or standard modules allowed only in some layers
CONFINED: dict[str, tuple[str, ...]] = {
    "flask": ("mockidp.web",),
    "jinja2": ("mockidp.web",),
    "markupsafe": ("mockidp.web",),
    "werkzeug": ("mockidp.web", "mockidp.serve"),
    "socket": ("mockidp.serve",),
    "socketserver": ("mockidp.serve",),
    "http.server": ("mockidp.serve",),
    "granian": ("mockidp.serve",),
    "click": ("mockidp.cli",),
    "redis": ("mockidp.shared",),
    "pytest": ("mockidp.pytest_plugin",),
    "_pytest": ("mockidp.pytest_plugin",),
}
MAX_CODE_LINES = 400
TABLE_MODULES = {  # one declarative table each: may be longer, never over 500
    "mockidp.core.fields",
    "mockidp.web.openapi",
    "mockidp.web.protocol_openapi",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every module ``name`` imports, absolute, with its line: all imports count."""
    tree = ast.parse(path.read_text())
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                stem = ".".join([*base[: len(base) - node.level + 1], node.module or ""])
                stem = stem.rstrip(".")
            else:
                stem = node.module or ""
            yield stem, node.lineno
            for alias in node.names:
                yield f"{stem}.{alias.name}", node.lineno


def layer_of(name: str) -> str:
    """The layer a module of mockidp belongs to: the longest `LAYERS` prefix."""
    best = ""
    for layer in LAYERS:
        if (name == layer or name.startswith(layer + ".")) and len(layer) > len(best):
            best = layer
    return best


def package_edges() -> dict[str, set[str]]:
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for target, _ in imports(name, path):
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if target and target != name and not target.startswith(name + "."):
                edges[name].add(target)
    return edges


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for name, targets in package_edges().items():
        mine = layer_of(name)
        for target in targets:
            theirs = layer_of(target)
            if theirs == mine:
                continue
            if LAYERS[theirs] >= LAYERS[mine]:
                wrong.append(f"{name} imports {target} ({theirs} is not below {mine})")
    assert not wrong, "\n".join(sorted(wrong))


def test_the_import_graph_has_no_cycle() -> None:
    edges = package_edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    assert not found, found


def test_frameworks_sockets_and_servers_stay_in_their_layer() -> None:
    wrong = []
    for name, path in modules().items():
        for target, line in imports(name, path):
            for confined, allowed in CONFINED.items():
                inside = target == confined or target.startswith(confined + ".")
                if inside and not any(name == a or name.startswith(a + ".") for a in allowed):
                    wrong.append(f"{name}:{line} imports {target}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def code_lines(source: str) -> int:
    """Lines holding code: no blank lines, comments or docstrings."""
    tree = ast.parse(source)
    doc: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                doc.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    lines: set[int] = set()
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip:
            lines.update(n for n in range(tok.start[0], tok.end[0] + 1) if n not in doc)
    return len(lines)


def test_modules_stay_small() -> None:
    big = {}
    for name, path in modules().items():
        limit = 500 if name in TABLE_MODULES else MAX_CODE_LINES
        size = code_lines(path.read_text())
        if size > limit:
            big[name] = size
    assert not big, big


PLUMBING = {  # protocol modules that implement no RFC themselves: the shared machinery
    "mockidp.protocol.grants",  # the registry
    "mockidp.protocol.exchange",  # request → rules → journal
    "mockidp.protocol.issuer",  # one issuer's state
    "mockidp.protocol.state",  # the provider-wide state, in memory or shared
    "mockidp.protocol.table",  # the endpoint table
}


@pytest.mark.parametrize("name", sorted(m for m in modules() if m.startswith("mockidp.protocol.")
                                        and m not in PLUMBING))
def test_protocol_modules_open_with_the_sections_they_implement(name: str) -> None:
    docstring = ast.get_docstring(ast.parse(modules()[name].read_text())) or ""
    opening = docstring.split("\n\n")[0]
    assert re.search(r"RFC \d+|OpenID Connect|OIDC Core", opening), (name, opening)


def test_mockidp_derives_from_no_endpoint_class() -> None:
    from mockidp.api import MockIdP
    from mockidp.protocol.exchange import Endpoint

    assert not any(issubclass(base, Endpoint) for base in MockIdP.__mro__)
    assert not any(name.endswith("Endpoints") for name in (b.__name__ for b in MockIdP.__mro__))


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True, timeout=60).stdout.strip()


def test_core_does_not_import_flask() -> None:
    out = run(
        "import sys\n"
        "from mockidp import MockIdP\n"
        "idp = MockIdP({'users': {'a': {'claims': {'x': 1}}}})\n"
        "token = idp.mint('a', audience='api')\n"
        "print(bool(token), sorted(m for m in ('flask', 'werkzeug', 'click', 'pytest') "
        "if m in sys.modules))"
    )
    assert out == "True []"


def test_importing_the_package_starts_nothing() -> None:
    out = run(
        "import threading, mockidp\n"
        "print(threading.active_count())"
    )
    assert out == "1"


def test_web_layer_makes_no_protocol_decisions() -> None:
    # The web layer may not branch on grant types, sign, or build claims: a structural check.
    web = PACKAGE / "web"
    for path in web.glob("*.py"):
        source = path.read_text()
        for forbidden in (r"grant_type\s*(==|!=|in\b)", r"jwt\.encode", r"^import jwt",
                          r"access_token_claims", r"id_token_claims", r"\bsign\("):
            assert not re.search(forbidden, source, flags=re.M), (path.name, forbidden)
