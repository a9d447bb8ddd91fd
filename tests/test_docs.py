"""README.md and the pages of docs/: the README opens with the two commands CI runs, every code
block of every page runs or is checked, every page is linked from the README, every link
resolves, and the reference tables list what the code has.

How each fenced block is tested, by its language:

- ``python`` with a ``def test_`` function: every such block of a page is a test file of one
  pytest run of its own (``pytester``), with the installed plugin and this repository's
  fixtures/config.toml, as a user's suite would run it; every test in it must pass;
- other ``python``: executed from the repository root;
- ``toml`` and ``json``: a config file, run through ``mockidp check-config`` (a ``toml`` block
  with ``[tool.pytest.ini_options]`` is a pyproject.toml: its ``mockidp_*`` ini options must be
  the plugin's and this project's own);
- ``sh``: the README's first two are the install and test commands (CI runs the second);
  in the others, every ``mockidp`` line is parsed with the CLI's own options (a synopsis line,
  with ``[...]`` or ``a|b``, names only options and choices the CLI has), every ``curl`` line
  is sent to a running provider, every ``docker`` line names real variables, mounts and ports;
- ``yaml``: a docker-compose file; its ``mockidp`` service is examples/compose/'s, which
  tests/test_container.py checks;
- ``text``: output or a listing, not run.  Any other language, or none, fails
  `test_every_code_block_is_run_or_checked`.
"""

from __future__ import annotations

import inspect
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import requests
from click.testing import CliRunner

from mockidp import MockIdP
from mockidp.cli import main
from mockidp.core.fields import CLIENT_FIELDS, ISSUER_FIELDS, PROTECTED_CLAIMS, USER_FIELDS
from mockidp.core.model import ENDPOINTS
from mockidp.profiles.catalog import BAD_KIND_OWNERS
from mockidp.protocol.dpop import NONCE_KEY_ALG, NONCE_LIFETIME
from mockidp.tokens.badtokens import BAD_TOKEN_KINDS
from mockidp.web import create_app

from .conftest import ROOT
from .test_container import SERVICES as COMPOSE_EXAMPLE
from .test_container import parse_yaml_subset

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
PYTEST_TIMEOUT = 180.0


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# -- reading the pages ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """One fenced code block: the page, the line of its opening fence, its language, its code."""

    page: Path
    line: int
    lang: str
    code: str

    @property
    def id(self) -> str:
        return f"{rel(self.page)}:{self.line}"


FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>[^`\s]*)")


def blocks_of(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page (indented ones in lists too, dedented)."""
    found: list[Block] = []
    opened: tuple[int, str, str, int] | None = None  # line, fence, language, indent
    body: list[str] = []
    for number, line in enumerate(page.read_text().splitlines(), start=1):
        match = FENCE.match(line)
        if opened is None:
            if match:
                opened = (number, match["fence"], match["info"], len(match["indent"]))
                body = []
        elif match and match["fence"].startswith(opened[1]) and not match["info"]:
            start, _, lang, indent = opened
            code = "\n".join(text[indent:] if text[:indent].strip() == "" else text
                             for text in body)
            found.append(Block(page, start, lang, code + "\n"))
            opened = None
        else:
            body.append(line)
    assert opened is None, f"{rel(page)}:{opened[0]}: a code block is never closed"
    return found


BLOCKS = [block for page in PAGES for block in blocks_of(page)]
TWO_COMMANDS = [b for b in BLOCKS if b.page == README and b.lang == "sh"][:2]


def kind(block: Block) -> str | None:
    """Which test runs or checks ``block`` (None: none does)."""
    if block.lang == "python":
        return "pytest" if re.search(r"^def test_", block.code, flags=re.M) else "python"
    if block.lang == "toml":
        return "pyproject" if "[tool." in block.code else "config"
    if block.lang == "json":
        return "config"
    if block.lang in ("sh", "yaml", "text"):
        return block.lang
    return None


def blocks(of_kind: str) -> list[Any]:
    return [pytest.param(b, id=b.id) for b in BLOCKS if kind(b) == of_kind]


def prose(page: Path) -> str:
    """The page without its code blocks and inline code (blank lines keep the numbers)."""
    out, fenced = [], None
    for line in page.read_text().splitlines():
        match = FENCE.match(line)
        if fenced is None and match:
            fenced = match["fence"]
            out.append("")
        elif fenced is not None:
            if match and match["fence"].startswith(fenced) and not match["info"]:
                fenced = None
            out.append("")
        else:
            out.append(re.sub(r"`[^`\n]*`", "``", line))
    return "".join(f"{line}\n" for line in out)


def table_rows(page: Path, heading: str) -> list[list[str]]:
    """The rows of the first table after ``heading`` (cells stripped, header rows skipped)."""
    lines = page.read_text().splitlines()
    start = lines.index(heading)
    rows: list[list[str]] = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
        elif rows or line.startswith("#"):
            break
    assert len(rows) > 2, f"no table under {heading!r} in {rel(page)}"
    return rows[2:]


def code_names(text: str) -> list[str]:
    """The names in inline code of ``text``."""
    return re.findall(r"`([^`]+)`", text)


# -- the two commands -----------------------------------------------------------------------------

def test_readme_opens_with_the_install_and_test_commands() -> None:
    text = README.read_text()
    serve, test = (b.code.strip() for b in TWO_COMMANDS)
    assert serve.endswith("mockidp serve") and "pip install" in serve
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines(), ".ci/run must run exactly README's test command"
    assert text.index(serve) < text.index("## ")


# -- every block ----------------------------------------------------------------------------------

@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in BLOCKS])
def test_every_code_block_is_run_or_checked(block: Block) -> None:
    assert kind(block) is not None, (
        f"{block.id}: no test runs or checks a ```{block.lang} block; use a language this "
        "module handles (see its docstring), or ```text for output")


@pytest.mark.parametrize("block", blocks("python"))
def test_python_example_runs(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    exec(compile(block.code, block.id, "exec"), {"__name__": "__docs__"})


@pytest.fixture
def own_pytest_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner pytest is a user's own run, even when this session runs under xdist."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                 "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(name, raising=False)


PYTEST_PAGES = sorted({b.page for b in BLOCKS if kind(b) == "pytest"})


@pytest.mark.parametrize("page", [pytest.param(p, id=rel(p)) for p in PYTEST_PAGES])
@pytest.mark.usefixtures("own_pytest_run")
def test_pytest_examples_pass(page: Path, pytester: pytest.Pytester) -> None:
    """The page's test blocks, each a test file, in one pytest run with the plugin."""
    pytester.makefile(".ini", pytest="\n".join(
        ["[pytest]", f"mockidp_config = {ROOT / 'fixtures' / 'config.toml'}"]))
    expected: dict[str, str] = {}
    for block in (b for b in BLOCKS if b.page == page and kind(b) == "pytest"):
        module = f"test_{page.stem.replace('-', '_')}_{block.line}"
        pytester.makepyfile(**{module: block.code})
        for name in re.findall(r"^def (test_\w+)", block.code, flags=re.M):
            expected[f"{module}.py::{name}"] = block.id
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", "-rA",
                                           timeout=PYTEST_TIMEOUT)
    output = "\n".join(result.outlines + result.errlines)
    assert result.ret == 0, output
    outcomes = result.parseoutcomes()
    assert set(outcomes) <= {"passed", "warnings"}, output
    for test, where in expected.items():
        assert re.search(rf"^{re.escape(test)}(\[[^\]]*\])? PASSED", output, flags=re.M), \
            f"{where}: {test} did not pass\n{output}"


@pytest.mark.parametrize("block", blocks("config"))
def test_config_example_passes_check_config(block: Block, tmp_path: Path) -> None:
    path = tmp_path / f"example.{block.lang}"
    path.write_text(block.code)
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 0, f"{block.id}: {result.output}"


@pytest.mark.parametrize("block", blocks("pyproject"))
def test_pyproject_example_is_this_project_s(block: Block, pytestconfig: pytest.Config) -> None:
    ini = tomllib.loads(block.code)["tool"]["pytest"]["ini_options"]
    ours = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    for name, value in ini.items():
        assert name.startswith("mockidp_"), name
        pytestconfig.getini(name)  # ValueError for an ini option the plugin does not have
        assert ours.get(name) == value, f"{block.id}: {name} is not this project's setting"
    assert (ROOT / ini["mockidp_config"]).is_file()


# -- shell blocks ---------------------------------------------------------------------------------

def commands(code: str) -> list[list[str]]:
    """The simple commands of a shell block: continuations joined, comments dropped, split
    at ``&&``, ``||`` and ``;``."""
    out: list[list[str]] = []
    for line in code.replace("\\\n", " ").splitlines():
        current: list[str] = []
        for word in shlex.split(line, comments=True):
            if word in ("&&", "||", ";"):
                out.append(current)
                current = []
            else:
                current.append(word)
        out.append(current)
    return [c for c in out if c]


def cli_commands(group: click.Group = main, prefix: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], click.Command]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from cli_commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


ENVVARS: dict[str, list[tuple[tuple[str, ...], click.Parameter]]] = {}
for _path, _command in cli_commands():
    for _param in _command.params:
        if isinstance(_param.envvar, str):
            ENVVARS.setdefault(_param.envvar, []).append((_path, _param))
SERVE_ENVVARS = {name for name, uses in ENVVARS.items() if any(p == ("serve",) for p, _ in uses)}


def option_names(command: click.Command) -> set[str]:
    return {name for p in command.params for name in (*p.opts, *p.secondary_opts)
            if name.startswith("-")}


def check_mockidp(words: list[str], where: str) -> None:
    """A ``mockidp`` command line: the CLI parses it; a synopsis line (``[...]``, ``a|b``)
    names only commands, options and choices the CLI has."""
    rest = list(words[1:])
    command: click.Command = main
    path = ["mockidp"]
    while isinstance(command, click.Group):
        name = rest.pop(0)
        assert name in command.commands, f"{where}: no command {' '.join([*path, name])}"
        command = command.commands[name]
        path.append(name)
    if not any(mark in word for word in rest for mark in "[]|"):
        command.make_context(" ".join(path), rest)  # raises on anything click refuses
        return
    by_name = {name: p for p in command.params for name in (*p.opts, *p.secondary_opts)}
    for i, word in enumerate(rest):
        for option in re.findall(r"--[\w-]+", word):
            assert option in by_name, f"{where}: {' '.join(path)} has no option {option}"
        bare = word.strip("[]")
        if bare in by_name and isinstance(by_name[bare].type, click.Choice) and i + 1 < len(rest):
            for choice in rest[i + 1].strip("[]").split("|"):
                assert choice in by_name[bare].type.choices, f"{where}: {bare} {choice}"


def check_docker(words: list[str], where: str) -> None:
    """``docker build``/``run``/``compose``: a build context that exists; for ``run``, the
    image's port, its volumes, real ``MOCKIDP_*`` variables, and a command the CLI parses."""
    if words[1] == "build":
        assert (ROOT / words[-1]).is_dir(), f"{where}: no build context {words[-1]}"
        return
    if words[1] in ("compose", "stop"):
        return
    assert words[1] == "run", f"{where}: no check for docker {words[1]}"
    rest = iter(words[2:])
    for word in rest:
        if word in ("--rm", "-d", "-it", "-i", "-t"):
            continue
        if word in ("-p", "--publish"):
            assert next(rest).rsplit(":", 1)[-1] == "8080", f"{where}: the image listens on 8080"
        elif word in ("-v", "--volume"):
            target = next(rest).split(":")[1]
            assert target == "/keys" or target.startswith("/config/"), f"{where}: {target}"
        elif word in ("-e", "--env"):
            name = next(rest).partition("=")[0]
            assert name in SERVE_ENVVARS, f"{where}: {name} is no variable of mockidp serve"
        elif word in ("--user", "--name", "--network"):
            next(rest)
        else:
            assert not word.startswith("-"), f"{where}: docker run {word} not understood here"
            assert word == "mockidp", f"{where}: the image is called mockidp here"
            arguments = list(rest)
            if arguments:
                check_mockidp(["mockidp", *arguments], where)
            return
    raise AssertionError(f"{where}: docker run without an image")


def curl_request(words: list[str], base: str, where: str) -> requests.Response:
    """Send what a ``curl`` line sends, to ``base`` in place of ``localhost:8080``."""
    method, url, data = None, None, None
    headers: dict[str, str] = {}
    rest = iter(words[1:])
    for word in rest:
        if word in ("-s", "--silent", "-S", "-f", "--fail", "-i"):
            continue
        if word in ("-X", "--request"):
            method = next(rest)
        elif word in ("-H", "--header"):
            name, _, value = next(rest).partition(":")
            headers[name.strip()] = value.strip()
        elif word in ("-d", "--data", "--data-raw"):
            data = next(rest)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        else:
            assert not word.startswith("-"), f"{where}: curl {word} not understood here"
            url = word
    assert url is not None and url.startswith("localhost:8080/"), f"{where}: {url}"
    return requests.request(method or ("POST" if data is not None else "GET"),
                            "http://" + url.replace("localhost:8080", base, 1),
                            headers=headers, data=data, timeout=10)


SH_BLOCKS = [pytest.param(b, id=b.id) for b in BLOCKS if kind(b) == "sh"
             and b not in TWO_COMMANDS]


@pytest.mark.parametrize("block", SH_BLOCKS)
def test_command_lines_are_the_cli_s(block: Block) -> None:
    curls = []
    for words in commands(block.code):
        while re.fullmatch(r"[A-Z_]+=.*", words[0]):
            name = words.pop(0).partition("=")[0]
            assert not name.startswith("MOCKIDP_") or name in ENVVARS, f"{block.id}: {name}"
        if words[0] == "mockidp":
            check_mockidp(words, block.id)
        elif words[0] == "docker":
            check_docker(words, block.id)
        elif words[0] == "curl":
            curls.append(words)
        elif words[0] == "cd":
            assert (ROOT / words[1]).is_dir(), f"{block.id}: no folder {words[1]}"
        else:
            raise AssertionError(f"{block.id}: no check for the command {words[0]!r}")
    if curls:
        with MockIdP() as idp:
            base = f"localhost:{idp.url.rsplit(':', 1)[1]}"
            for words in curls:
                answer = curl_request(words, base, block.id)
                assert answer.status_code < 400, f"{block.id}: {answer.status_code} {answer.text}"


# -- docker-compose -------------------------------------------------------------------------------

@pytest.mark.parametrize("block", blocks("yaml"))
def test_compose_service_is_the_example_s(block: Block) -> None:
    compose = parse_yaml_subset(block.code)
    try:
        import yaml
    except ImportError:  # PyYAML is not a dependency: it only cross-checks the subset parser
        pass
    else:
        assert yaml.safe_load(block.code) == compose
    services = compose["services"]
    assert "mockidp" in services, f"{block.id}: no mockidp service"
    ours = {k: v for k, v in services["mockidp"].items() if k != "build"}
    example = {k: v for k, v in COMPOSE_EXAMPLE["mockidp"].items() if k != "build"}
    assert ours == example, f"{block.id}: not examples/compose/docker-compose.yml's service"
    for name in services["mockidp"].get("environment", {}):
        assert name in SERVE_ENVVARS, f"{block.id}: {name} is no variable of mockidp serve"
    for spec in services["mockidp"].get("volumes", []):
        source = spec.split(":")[0]
        if not source.startswith((".", "/")):
            assert source in (compose.get("volumes") or {}), f"{block.id}: volume {source}"


# -- links ----------------------------------------------------------------------------------------

LINK = re.compile(r"\]\((?P<md>[^)\s]+)\)|<(?:img|a)\b[^>]*?\b(?:src|href)=\"(?P<html>[^\"]+)\"")


def links(page: Path) -> list[tuple[int, str]]:
    return [(number, m["md"] or m["html"])
            for number, line in enumerate(prose(page).splitlines(), start=1)
            for m in LINK.finditer(line)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"<[^>]+>", "", heading).replace("`", "")
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page: its headings' (``-1``, ``-2`` for repeats) and ``<a id>``."""
    found: set[str] = set()
    counts: dict[str, int] = {}
    text = page.read_text()
    for outside, line in zip(prose(page).splitlines(), text.splitlines(), strict=True):
        if re.match(r"#{1,6} ", outside):
            base = slug(line.lstrip("#"))
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    found.update(re.findall(r"<a\s[^>]*\b(?:id|name)=\"([^\"]+)\"", text))
    return found


def broken(page: Path, target: str) -> str | None:
    """Why the relative link ``target`` of ``page`` does not resolve (None: it does)."""
    path, _, anchor = target.partition("#")
    file = (page.parent / path).resolve() if path else page
    if not file.exists():
        return f"no file {path}"
    if anchor:
        if file.suffix != ".md":
            return f"an anchor into {path}, which is not a Markdown page"
        if anchor not in anchors(file):
            return f"no heading or anchor #{anchor} in {rel(file)}"
    return None


def is_external(target: str) -> bool:
    return re.match(r"[a-z][a-z0-9+.-]*:", target) is not None


@pytest.mark.parametrize("page", [pytest.param(p, id=rel(p)) for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    problems = [f"{rel(page)}:{number}: {target}: {why}"
                for number, target in links(page) if not is_external(target)
                for why in [broken(page, target)] if why]
    assert not problems, "\n".join(problems)


def test_links_from_elsewhere_into_the_pages_resolve() -> None:
    others = [p for p in ROOT.rglob("*.md") if p not in PAGES
              and not {"node_modules", ".venv", ".git"} & set(p.relative_to(ROOT).parts)]
    problems = []
    for page in others:
        for number, target in links(page):
            if is_external(target):
                continue
            file = (page.parent / target.partition("#")[0]).resolve()
            if file in PAGES or DOCS in file.parents:
                why = broken(page, target)
                if why:
                    problems.append(f"{rel(page)}:{number}: {target}: {why}")
    assert not problems, "\n".join(problems)


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / target.partition("#")[0]).resolve() for _, target in links(README)
              if not is_external(target)}
    assert not [rel(p) for p in PAGES[1:] if p not in linked]


def test_images_are_local() -> None:
    for page in PAGES:
        for src in re.findall(r"<img\b[^>]*\bsrc=\"([^\"]+)\"|!\[[^\]]*\]\(([^)\s]+)\)",
                              prose(page)):
            for target in filter(None, src):
                assert not is_external(target), f"{rel(page)}: {target} is fetched when read"


# -- the reference tables list what the code has --------------------------------------------------

def test_environment_variables_named_anywhere_exist() -> None:
    for page in PAGES:
        for name in re.findall(r"\bMOCKIDP_[A-Z0-9_]*[A-Z0-9]\b", page.read_text()):
            assert name in ENVVARS, f"{rel(page)}: {name} is no option's variable"


def test_configuration_lists_every_environment_variable() -> None:
    rows = {code_names(row[0])[0]: row for row in
            table_rows(DOCS / "configuration.md", "### Environment variables")}
    assert set(rows) == set(ENVVARS), "docs/configuration.md: the variables differ"
    for name, uses in ENVVARS.items():
        for path, param in uses:
            assert f"`{param.opts[0]}`" in rows[name][1], f"{name}: {param.opts[0]}"
            assert f"`{path[0]}`" in rows[name][2], f"{name}: mockidp {' '.join(path)}"


def test_configuration_synopsis_names_every_option() -> None:
    [synopsis] = [b for b in BLOCKS if b.page == DOCS / "configuration.md" and b.lang == "sh"]
    lines = [" ".join(words) for words in commands(synopsis.code)]
    for path, command in cli_commands():
        mine = [line for line in lines if line.startswith(" ".join(("mockidp", *path)))]
        assert mine, f"no synopsis line for mockidp {' '.join(path)}"
        for param in command.params:
            if isinstance(param, click.Option):
                assert any(param.opts[0] in line for line in mine), (path, param.opts[0])


def test_configuration_table_lists_every_key() -> None:
    rows = table_rows(DOCS / "configuration.md", "## The config file")
    keys = {name.split(".")[0]: row for row in rows for name in code_names(row[0])}
    top = {f.name for f in ISSUER_FIELDS} | {"users", "clients", "issuers", "rules", "clock",
                                            "journal_size", "store_limit", "public_url",
                                            "allowed_hosts"}
    assert top <= set(keys), sorted(top - set(keys))
    clients_row = keys["clients"][2]
    for field in CLIENT_FIELDS:
        on_client = field.name in keys and "client" in keys[field.name][1]
        assert on_client or f"`{field.name}`" in clients_row, field.name
    for field in USER_FIELDS:
        assert f"`{field.name}`" in keys["users"][2], field.name


def test_endpoint_table_is_the_endpoint_table() -> None:
    rows = table_rows(DOCS / "flows.md", "## Endpoints")
    documented = {code_names(r[0])[0]: (code_names(r[1])[0], r[2].split(", ")) for r in rows}
    assert documented == {e.name: (e.path, list(e.methods)) for e in ENDPOINTS}
    scripting = (DOCS / "scripting.md").read_text()
    for endpoint in ENDPOINTS:  # the names a rule's endpoint matches
        assert f"`{endpoint.name}`" in scripting, endpoint.name


def test_bad_token_kinds_and_protected_claims_are_all_listed() -> None:
    scripting = (DOCS / "scripting.md").read_text()
    for kind_name in BAD_TOKEN_KINDS:
        assert f"`{kind_name}`" in scripting, kind_name
    tokens = (DOCS / "keys-and-tokens.md").read_text()
    sentence = tokens[tokens.index("Claims named"):tokens.index("are refused")]
    assert set(code_names(sentence)) == set(PROTECTED_CLAIMS)
    # the kinds the profiles add: the reference table of docs/providers.md, with their provider
    rows = table_rows(DOCS / "providers.md", "## Bad tokens of the profiles")
    listed = {code_names(row[0])[0]: row[1] for row in rows}
    assert listed == {kind_name: owner.title for kind_name, owner in BAD_KIND_OWNERS.items()}


def test_dpop_nonce_paragraph_says_what_the_nonces_are() -> None:
    tokens = (DOCS / "keys-and-tokens.md").read_text()
    paragraph = " ".join(tokens[tokens.index("## DPoP"):].split("\n\n")[1].split())
    minutes = NONCE_LIFETIME // 60
    assert f"good for {minutes} to {2 * minutes} minutes" in paragraph
    assert f"the current {minutes}-minute window's and the previous one's" in paragraph
    assert NONCE_KEY_ALG == "EdDSA" and "Ed25519 signing key" in paragraph


def test_doors_table_names_real_methods_and_routes() -> None:
    rows = table_rows(README, "## One core, four doors")
    parameters = inspect.signature(MockIdP.__init__).parameters
    app = create_app(MockIdP())
    routes = [(method, re.sub(r"<\w+>", "[^/]+", re.escape(rule.rule)))
              for rule in app.url_map.iter_rules() for method in rule.methods or ()]
    for core, plugin, control, *_ in rows:
        for name in re.findall(r"`([a-z_]+)[(`]", core):
            assert callable(getattr(MockIdP, name, None)), name
        for name in re.findall(r"`([a-z_]+)=", core):
            assert name in parameters, name
        for name in re.findall(r"`mockidp\.([a-z_]+)\(", plugin):
            assert callable(getattr(MockIdP, name, None)), name
        for prefix, methods, path in re.findall(
                r"(\(?`)((?:GET|POST|DELETE)(?:/(?:GET|POST|DELETE))*) (/[\w/{}.-]*)", control):
            if prefix.startswith("("):
                continue  # a protocol path or a page, not the control API
            for method in methods.split("/"):
                assert any(m == method and re.fullmatch(pattern, "/_mockidp" + path)
                           for m, pattern in routes), f"no control route {method} {path}"


def said(page: Path) -> str:
    """The page's text with every run of white space one space, for phrases across lines."""
    return re.sub(r"\s+", " ", page.read_text())


def test_the_figures_the_pages_promise_are_the_code_s() -> None:
    """Each figure a page states, next to the constant that makes it true."""
    from mockidp.core import device_codes, journal, stores
    from mockidp.http import wire
    from mockidp.protocol import assertions, loginpage, outbound
    from mockidp.provider import MAX_ISSUERS
    from mockidp.scripting.effects import MAX_DELAY
    from mockidp.serve import httpserver, thread

    security, flows = said(DOCS / "security.md"), said(DOCS / "flows.md")
    scripting, configuration = said(DOCS / "scripting.md"), said(DOCS / "configuration.md")
    figures = [
        (security, "deadline of 3 seconds", outbound.DEADLINE, 3),
        (security, "at most 512 KiB", outbound.MAX_BYTES, 512 * 1024),
        (security, "at most 4 in flight", outbound.MAX_IN_FLIGHT, 4),
        (security, "reused for 5 minutes", assertions.JWKS_TTL, 300),
        (security, "at most twice in 10 seconds", (assertions.REFETCH_BURST,
                                                   assertions.JWKS_REFETCH), (2, 10)),
        (security, "at most 64 URLs", assertions.JWKS_CACHE_SIZE, 64),
        (flows, "60 s of leeway", assertions.LEEWAY, 60),
        (security, "body over 64 KiB (413)", wire.MAX_BODY_BYTES, 64 * 1024),
        (security, "more than 100 form or query parameters", wire.MAX_FIELDS, 100),
        (security, "stalls for 30 seconds", (httpserver.TIMEOUT,
                                             thread._quiet_handler().timeout), (30, 30)),
        (security, "at most 1000 issuers", MAX_ISSUERS, 1000),
        (security, "capped at 10,000 too", device_codes.MAX_RECORDS, 10_000),
        (security, "`store_limit` (default 10,000)", stores.STORE_LIMIT, 10_000),
        (configuration, "each replay cache (default 10,000)", stores.STORE_LIMIT, 10_000),
        (configuration, "(default 8388608, 8 MiB; at least 1024)", journal.DEFAULT_BYTES,
         8 * 1024 * 1024),
        (security, "about `journal_bytes` (default 8 MiB)", journal.DEFAULT_BYTES,
         8 * 1024 * 1024),
        (security, "over 4,096 characters", journal.VALUE_CAP, 4096),
        (scripting, "first and last 2,000 characters", journal.VALUE_KEPT, 2000),
        (security, "at most 8 requests run Python code", thread.RUNNERS, 8),
        (security, "on up to 512 threads", thread.THREADS, 512),
        (security, "default 60, as nginx", thread.IDLE_TIMEOUT, 60),
        (security, "Up to 16,384 connections", thread.CONNECTIONS, 16_384),
        (security, "listen queue of 4,096", thread.BACKLOG, 4096),
        (security, "add up to at most 300 s", MAX_DELAY, 300),
        (security, "exchanges (default 1000)", journal.DEFAULT_SIZE, 1000),
        (security, "first and last four characters", journal.KEPT, 4),
        (scripting, "at most 300 s", MAX_DELAY, 300),
        (flows, "(the last five, per issuer)", loginpage.RECENT_MAX, 5),
    ]
    for text, phrase, actual, documented in figures:
        assert phrase in text, f"the pages no longer say {phrase!r}"
        assert actual == documented, f"{phrase!r}: the code has {actual}"
    masking = security[security.index("masks request parameters"):security.index("enough to")]
    names = set(code_names(masking)) - {journal.MASK, "abcd\u2026wxyz"}
    assert names == set(journal.SECRET_PARAMS) | set(journal.CREDENTIAL_PARAMS), names


# -- the code -------------------------------------------------------------------------------------

def test_ruff_and_mypy_are_clean() -> None:
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command in (["ruff", "check", "."], ["mypy"]):
        result = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
