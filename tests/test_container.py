"""The container contract, checked without a Docker engine (none runs here).

1. The Dockerfile, parsed: a pinned slim Python base, an unprivileged user, ``EXPOSE 8080``, the
   ``/keys`` volume, a health check in Python (no curl), exactly the documented command line,
   nothing fetched with ``ADD``; ``.dockerignore`` sends only what the ``COPY`` lines need.
2. The image's behaviour, reproduced: the ``COPY`` lines are carried out into a temporary
   folder (honouring ``.dockerignore``), the ``RUN pip install --no-cache-dir .`` line installs
   that tree into a FRESH virtual environment, and the image's exact ``ENTRYPOINT`` + ``CMD``
   runs from it with the image's ``ENV`` plus the ``MOCKIDP_*`` variables a user sets.  Then each
   variable is checked to take effect, the ``HEALTHCHECK`` command is run against the server
   (exit 0) and against nothing (non-zero), and ``STOPSIGNAL`` stops it cleanly.
3. examples/compose/: docker-compose.yml parsed (a small YAML subset parser below; PyYAML is
   not a dependency and is used to cross-check only when installed), every file it mounts or
   builds from exists and agrees with the others, and the two-names flow it sets up works.

Substitutions, and why (everything else runs as written in the Dockerfile):

- ``--host 0.0.0.0`` → ``127.0.0.1``: a container has its own network namespace; on this
  machine the tests bind the loopback address only.
- ``--port 8080`` → ``--port 0``, and ``127.0.0.1:8080`` → ``127.0.0.1:<the port it got>`` in
  the health check: 8080 may be busy here and parallel tests must not collide.
- ``MOCKIDP_KEYS_DIR=/keys`` → a temporary folder: the volume's mount point in the image.
- ``pip install`` gets ``--no-deps --no-build-isolation --no-index`` so it runs offline and in a
  few seconds: the fresh environment borrows this environment's installed packages (links to
  everything in its site-packages except mockidp itself), setuptools included.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from examples.resource_server.app import create_app
from mockidp import MockIdP
from mockidp.core.settings import load_settings

from .conftest import ROOT, pkce_pair, query_of
from .local_server import free_port
from .redis_server import RedisServer

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_DIR = ROOT / "examples" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
DOCUMENTED_COMMAND = ["mockidp", "serve", "--host", "0.0.0.0", "--port", "8080"]
START_TIMEOUT = 30.0
HTTP_TIMEOUT = 10.0
CONTROL_TOKEN = "ct-8d1f0c2b7a"  # test-only


# -- the Dockerfile, parsed -----------------------------------------------------------------------

@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON array form (``["a", "b"]``); a shell-form instruction fails the test."""
        assert self.args.startswith("["), f"line {self.line}: {self.keyword} not in exec form"
        value = json.loads(self.args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value)
        return value


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with line continuations joined and comments dropped (Dockerfile syntax)."""
    out: list[Instruction] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # also inside a continuation, as Docker does
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1].rstrip() + " "
            continue
        keyword, _, args = (buffer + line).partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buffer = ""
    assert not buffer, "the Dockerfile ends inside a line continuation"
    return out


INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text())


def only(keyword: str, instructions: list[Instruction] = INSTRUCTIONS) -> Instruction:
    found = [i for i in instructions if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


def image_env(instructions: list[Instruction] = INSTRUCTIONS) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            for item in shlex.split(instruction.args):
                name, sep, value = item.partition("=")
                assert sep, f"line {instruction.line}: use ENV NAME=value"
                env[name] = value
    return env


def image_command() -> list[str]:
    return only("ENTRYPOINT").exec_form() + only("CMD").exec_form()


@dataclass(frozen=True)
class HealthCheck:
    options: dict[str, str]
    argv: list[str]


def health_check() -> HealthCheck:
    args = only("HEALTHCHECK").args
    options_part, sep, command = args.partition("CMD ")
    assert sep, "HEALTHCHECK needs a CMD"
    options = dict(opt.lstrip("-").split("=", 1) for opt in options_part.split())
    argv = Instruction("CMD", command.strip(), only("HEALTHCHECK").line).exec_form()
    return HealthCheck(options, argv)


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)", duration)
    assert match, duration
    return int(match[1]) * {"ms": 0.001, "s": 1, "m": 60}[match[2]]


def test_base_image_is_a_pinned_slim_python() -> None:
    base = only("FROM").args
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", base), base
    assert "latest" not in base


def test_runs_as_an_unprivileged_user_from_then_on() -> None:
    users = [i for i in INSTRUCTIONS if i.keyword == "USER"]
    assert users, "no USER: the server would run as root"
    user = users[-1]
    assert user.args.split(":")[0] not in ("root", "0"), user.args
    for keyword in ("ENTRYPOINT", "CMD", "HEALTHCHECK"):
        assert user.line < only(keyword).line, f"USER must come before {keyword}"


def test_exposes_8080_and_keeps_keys_in_a_volume() -> None:
    assert only("EXPOSE").args.split() == ["8080"]
    assert only("VOLUME").exec_form() == ["/keys"]
    assert image_env()["MOCKIDP_KEYS_DIR"] == "/keys"


def test_command_line_is_exactly_the_documented_one() -> None:
    assert image_command() == DOCUMENTED_COMMAND
    docs = (ROOT / "docs" / "docker.md").read_text()
    assert " ".join(DOCUMENTED_COMMAND) in docs


def test_health_check_is_python_not_curl() -> None:
    check = health_check()
    assert check.argv[:2] == ["python", "-c"], check.argv
    assert "urllib" in check.argv[2]
    assert "127.0.0.1:8080/default/.well-known/openid-configuration" in check.argv[2]
    assert seconds(check.options["timeout"]) <= 10
    # No curl or wget: not in the health check, and not installed for it either.
    commands = "\n".join(i.args for i in INSTRUCTIONS if i.keyword in ("RUN", "HEALTHCHECK"))
    assert not re.search(r"\b(curl|wget)\b", commands)


def test_installs_the_source_tree_and_fetches_nothing_with_add() -> None:
    runs = [i.args for i in INSTRUCTIONS if i.keyword == "RUN"]
    assert any("pip install --no-cache-dir .[server,redis]" in run for run in runs), runs
    for instruction in INSTRUCTIONS:
        assert instruction.keyword != "ADD" or "://" not in instruction.args, instruction
    assert only("STOPSIGNAL").args == "SIGINT"


# -- .dockerignore and the COPY lines -------------------------------------------------------------

def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus ``**``) as a regex."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out, i = out[:-2] + "(?:.*/)?", i + 1
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        rules.append((negate, _glob_regex(line.lstrip("!").strip("/"))))
    return rules


def in_context(relative: str) -> bool:
    """Whether the build context holds ``relative`` (a path from the repository root): the
    last pattern matching it or one of its parent folders decides, as in Docker."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for negate, regex in ignore_rules():
        if any(regex.match(p) for p in prefixes):
            included = negate
    return included


def test_dockerignore_sends_the_package_only() -> None:
    for wanted in ("pyproject.toml", "README.md", "mockidp/cli.py", "mockidp/web/app.py",
                   "mockidp/web/templates/login.html", "mockidp/py.typed"):
        assert in_context(wanted), wanted
    for unwanted in (".venv/bin/python", ".git/HEAD", "tests/test_cli.py", "Dockerfile",
                     "examples/compose/mockidp.toml", "tests/node/node_modules/x/index.js",
                     "mockidp/__pycache__/cli.cpython-311.pyc", "mockidp.egg-info/PKG-INFO",
                     "fixtures/config.toml"):
        assert not in_context(unwanted), unwanted


def carry_out_copies(target: Path) -> Path:
    """Do the Dockerfile's COPY lines into ``target`` (standing for the image's root), from
    the build context as .dockerignore leaves it; the folder ``RUN pip install`` runs in."""
    workdir = "/"
    install_dir: str | None = None
    for instruction in INSTRUCTIONS:
        if instruction.keyword == "WORKDIR":
            workdir = instruction.args
        elif instruction.keyword == "COPY":
            parts = shlex.split(instruction.args)
            assert not any(p.startswith("--") for p in parts), instruction
            *sources, dest = parts
            dest_path = target / (dest if dest.startswith("/") else f"{workdir}/{dest}").lstrip("/")
            for source in sources:
                origin = ROOT / source
                assert in_context(source), f"COPY {source}: excluded by .dockerignore"
                if origin.is_dir():
                    for path in sorted(origin.rglob("*")):
                        relative = path.relative_to(ROOT).as_posix()
                        if path.is_file() and in_context(relative):
                            copy = dest_path / path.relative_to(origin)
                            copy.parent.mkdir(parents=True, exist_ok=True)
                            shutil.copy2(path, copy)
                else:
                    dest_path.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, dest_path / origin.name)
        elif instruction.keyword == "RUN" and "pip install" in instruction.args:
            install_dir = workdir
    assert install_dir is not None
    return target / install_dir.lstrip("/")


# -- a fresh virtual environment with the image's install --------------------------------------

@dataclass(frozen=True)
class FreshVenv:
    root: Path
    bin: Path
    site_packages: Path


def _borrow_installed_packages(site_packages: Path) -> None:
    """Link every distribution of this environment into the fresh one, mockidp excepted."""
    here = Path(sysconfig.get_paths()["purelib"])
    for entry in here.iterdir():
        name = entry.name.lower()
        if name.startswith(("mockidp", "__editable__", "__pycache__")):
            continue
        (site_packages / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> FreshVenv:
    base = tmp_path_factory.mktemp("image")
    source = carry_out_copies(base / "rootfs")
    root = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=60)
    bindir = root / "bin"
    site = Path(subprocess.run(
        [str(bindir / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, timeout=60).stdout.strip())
    _borrow_installed_packages(site)
    run = next(i.args for i in INSTRUCTIONS if i.keyword == "RUN" and "pip install" in i.args)
    pip_args = shlex.split(run.split("&&")[0])
    # the source tree, with the "server" extra (granian) for the faster HTTP server and the
    # "redis" extra (redis-py) for replicas on one shared store
    assert pip_args == ["pip", "install", "--no-cache-dir", ".[server,redis]"], pip_args
    done = subprocess.run(
        [str(bindir / "python"), "-m", *pip_args[:2], "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", *pip_args[2:]],
        cwd=source, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return FreshVenv(root, bindir, site)


def test_the_fresh_install_is_the_source_tree(fresh_venv: FreshVenv) -> None:
    where = subprocess.run(
        [str(fresh_venv.bin / "python"), "-c",
         "import mockidp, importlib.metadata as m; print(mockidp.__file__); "
         "print(m.version('mockidp'))"],
        capture_output=True, text=True, timeout=60, cwd=fresh_venv.root,
    ).stdout.split()
    assert Path(where[0]).is_relative_to(fresh_venv.site_packages), where
    assert (Path(where[0]).parent / "web" / "templates" / "login.html").is_file()
    assert (fresh_venv.bin / "mockidp").is_file()


# -- the image's command line, run ------------------------------------------------------------

@dataclass
class Container:
    """``mockidp serve`` started as the image starts it."""

    process: subprocess.Popen[str]
    base: str  # where it listens, e.g. http://127.0.0.1:41234
    env: dict[str, str]
    lines: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])


def container_env(venv: FreshVenv, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOCKIDP_", "VIRTUAL_ENV"))}
    env.update(image_env())
    env.update(extra)
    env["PATH"] = f"{venv.bin}{os.pathsep}{env.get('PATH', '')}"
    return env


def localised_command() -> list[str]:
    """The image's command line, with the two documented substitutions."""
    argv = image_command()
    host, port = argv.index("--host"), argv.index("--port")
    assert argv[host + 1] == "0.0.0.0" and argv[port + 1] == "8080"
    argv[host + 1], argv[port + 1] = "127.0.0.1", "0"
    return argv


def _pump(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


@contextmanager
def run_image(venv: FreshVenv, extra_env: dict[str, str]) -> Iterator[Container]:
    env = container_env(venv, extra_env)
    argv = localised_command()
    executable = shutil.which(argv[0], path=env["PATH"])
    assert executable is not None and Path(executable).parent == venv.bin, executable
    process = subprocess.Popen([executable, *argv[1:]], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                               env=env, cwd=venv.root)
    try:
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
        seen: list[str] = []
        base = None
        while base is None:
            try:
                line = lines.get(timeout=START_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no start-up lines within {START_TIMEOUT}s: {seen}")
            if line is None:
                pytest.fail(f"the server exited ({process.wait(5)}) before serving: {seen}")
            seen.append(line)
            prefix = "Any other issuer is created on first use: "
            if line.startswith(prefix):
                base = line[len(prefix):].removesuffix("/{name}")
        while True:  # the control line follows, when there is one
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
        yield Container(process, base, env, seen)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def run_health_check(container: Container) -> subprocess.CompletedProcess[str]:
    """The Dockerfile's HEALTHCHECK, aimed at the port the server got, in its environment."""
    check = health_check()
    argv = list(check.argv)
    assert argv[2].count("127.0.0.1:8080") == 1
    argv[2] = argv[2].replace("127.0.0.1:8080", f"127.0.0.1:{container.port}")
    executable = shutil.which(argv[0], path=container.env["PATH"])
    assert executable is not None and Path(executable).parent == Path(container.env["PATH"]
                                                                       .split(os.pathsep)[0])
    started = time.monotonic()
    done = subprocess.run([executable, *argv[1:]], capture_output=True, text=True,
                          env=container.env, timeout=seconds(check.options["timeout"]) + 30)
    assert time.monotonic() - started < seconds(check.options["timeout"]) + 5
    return done


AUTHORIZE = {"response_type": "code", "client_id": "any-client",
             "redirect_uri": "http://localhost:3000/cb", "scope": "openid"}


def test_image_command_and_environment(fresh_venv: FreshVenv, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    config = tmp_path / "mockidp.toml"
    config.write_text('[users.dana]\nclaims = { email = "dana@example.com" }\n')
    env = {
        "MOCKIDP_CONFIG": str(config),
        "MOCKIDP_KEYS_DIR": str(keys),  # the image's /keys volume
        "MOCKIDP_PUBLIC_URL": "http://localhost:8080",
        "MOCKIDP_CONTROL_TOKEN": CONTROL_TOKEN,
        "MOCKIDP_INTERACTIVE_LOGIN": "false",
    }
    with run_image(fresh_venv, env) as box:
        output = "\n".join(box.lines)
        assert "MOCK" in output and "for tests" in output  # says it is a test double
        assert "Issuer:    http://localhost:8080/default" in box.lines
        assert CONTROL_TOKEN not in output  # never printed
        assert run_health_check(box).returncode == 0

        # MOCKIDP_PUBLIC_URL: the issuer is the public URL, whatever address was used.
        doc = requests.get(f"{box.base}/default/.well-known/openid-configuration",
                           timeout=HTTP_TIMEOUT).json()
        assert doc["issuer"] == "http://localhost:8080/default"
        assert doc["jwks_uri"] == "http://localhost:8080/default/jwks"

        # MOCKIDP_KEYS_DIR: the signing keys are written there, and they are the served ones.
        jwks = requests.get(f"{box.base}/default/jwks", timeout=HTTP_TIMEOUT).json()
        assert (keys / "default" / "rsa.pem").is_file()

        # MOCKIDP_CONTROL_TOKEN: the control API refuses without it.
        users = f"{box.base}/_mockidp/users"
        refused = requests.get(users, timeout=HTTP_TIMEOUT)
        assert refused.status_code == 401
        allowed = requests.get(users, headers={"Authorization": f"Bearer {CONTROL_TOKEN}"},
                               timeout=HTTP_TIMEOUT)
        assert allowed.status_code == 200

        # MOCKIDP_CONFIG: the mounted file's users exist.
        assert [u["id"] for u in allowed.json()["users"]] == ["dana"]

        # MOCKIDP_INTERACTIVE_LOGIN=false: /authorize redirects at once, no login page.
        response = requests.get(f"{box.base}/default/authorize", params=AUTHORIZE,
                                allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert response.status_code == 302, response.text
        code = query_of(response.headers["Location"])["code"]
        token = requests.post(f"{box.base}/default/token", timeout=HTTP_TIMEOUT, data={
            "grant_type": "authorization_code", "code": code, "client_id": "any-client",
            "redirect_uri": AUTHORIZE["redirect_uri"]}).json()
        header = jwt.get_unverified_header(token["access_token"])
        assert header["kid"] in {k["kid"] for k in jwks["keys"]}

        # STOPSIGNAL: the image stops the server with it; it exits at once, cleanly.
        box.process.send_signal(signal.Signals[only("STOPSIGNAL").args])
        assert box.process.wait(timeout=10) == 0
        assert run_health_check(box).returncode != 0  # nothing listens any more


def test_health_check_without_control_api_and_over_tls(fresh_venv: FreshVenv,
                                                       tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    env = {"MOCKIDP_KEYS_DIR": str(keys), "MOCKIDP_CONTROL": "false", "MOCKIDP_TLS": "true",
           "MOCKIDP_PUBLIC_URL": "https://localhost:8443"}
    with run_image(fresh_venv, env) as box:
        assert box.base.startswith("https://127.0.0.1:")
        cert = keys / "_tls" / "cert.pem"
        assert any(str(cert) in line for line in box.lines), box.lines
        health = requests.get(f"{box.base}/_mockidp/health", verify=str(cert),
                              timeout=HTTP_TIMEOUT)
        assert health.status_code == 404  # no control API: the check must not need it
        doc = requests.get(f"{box.base}/default/.well-known/openid-configuration",
                           verify=str(cert), timeout=HTTP_TIMEOUT).json()
        assert doc["issuer"] == "https://localhost:8443/default"
        assert run_health_check(box).returncode == 0
        box.process.kill()
        box.process.wait(timeout=10)
        assert run_health_check(box).returncode != 0


# -- examples/compose -------------------------------------------------------------------------

_MAPPING_ITEM = re.compile(r"^[^'\"\s][^:]*:(\s|$)")


def _scalar(text: str) -> str:
    if text[0] == '"':
        assert text.endswith('"') and len(text) > 1, text
        value: str = json.loads(text)
        return value
    if text[0] == "'":
        assert text.endswith("'") and len(text) > 1, text
        return text[1:-1].replace("''", "'")
    assert text[0] not in "[{&*!|>%@`", f"outside the YAML subset this test reads: {text!r}"
    return text


def _strip_comment(line: str) -> str:
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def parse_yaml_subset(text: str) -> Any:
    """Block mappings, block sequences of scalars, plain and quoted scalars, comments: the YAML
    docker-compose.yml is kept to.  Anything else fails loudly rather than parse wrongly."""
    lines: list[tuple[int, str]] = []
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if not line.strip():
            continue
        assert "\t" not in line, f"tab in {raw!r}"
        lines.append((len(line) - len(line.lstrip(" ")), line.strip()))

    def block(pos: int, indent: int) -> tuple[Any, int]:
        if lines[pos][1].startswith("- "):
            items = []
            while pos < len(lines) and lines[pos][0] == indent and lines[pos][1][:2] == "- ":
                item = lines[pos][1][2:].strip()
                assert not _MAPPING_ITEM.match(item), f"sequence of mappings: {item!r}"
                items.append(_scalar(item))
                pos += 1
            return items, pos
        mapping: dict[str, Any] = {}
        while pos < len(lines) and lines[pos][0] == indent:
            key, sep, rest = lines[pos][1].partition(":")
            assert sep and (not rest or rest[0] == " "), f"not 'key: value': {lines[pos][1]!r}"
            assert key not in mapping, f"duplicate key {key!r}"
            pos += 1
            if rest.strip():
                mapping[key] = _scalar(rest.strip())
            elif pos < len(lines) and lines[pos][0] > indent:
                mapping[key], pos = block(pos, lines[pos][0])
            else:
                mapping[key] = None
        assert pos == len(lines) or lines[pos][0] < indent, f"bad indentation: {lines[pos]}"
        return mapping, pos

    value, end = block(0, lines[0][0])
    assert end == len(lines)
    return value


COMPOSE: dict[str, Any] = parse_yaml_subset(COMPOSE_FILE.read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def test_compose_file_parses_the_same_with_pyyaml_when_available() -> None:
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(COMPOSE_FILE.read_text()) == COMPOSE


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path → host source of a service's volumes."""
    out = {}
    for spec in service.get("volumes", []):
        source, target, *_ = spec.split(":")
        out[target] = source
    return out


def published(service: dict[str, Any]) -> dict[str, str]:
    """Container port → the host address:port publishing it."""
    out = {}
    for spec in service.get("ports", []):
        address, host_port, container_port = spec.split(":")
        out[container_port] = f"{address}:{host_port}"
    return out


def test_compose_has_the_three_services_on_loopback_ports() -> None:
    assert set(SERVICES) == {"mockidp", "api", "spa"}
    for name, service in SERVICES.items():
        for address in published(service).values():
            assert address.startswith("127.0.0.1:"), (name, address)


def test_compose_mockidp_service_is_the_image_configured_by_file_and_env() -> None:
    idp = SERVICES["mockidp"]
    assert (COMPOSE_DIR / idp["build"]["context"]).resolve() == ROOT
    assert published(idp) == {only("EXPOSE").args: "127.0.0.1:8080"}
    env = idp["environment"]
    assert env["MOCKIDP_PUBLIC_URL"] == "http://localhost:8080"
    config = mounts(idp)[env["MOCKIDP_CONFIG"]]
    settings = load_settings(COMPOSE_DIR / config)  # the mounted file is valid
    assert set(settings.users) == {"alice", "bob"}
    assert "spa" in settings.clients
    keys_volume = mounts(idp)[only("VOLUME").exec_form()[0]]
    assert keys_volume in COMPOSE["volumes"], "the keys go to a named volume"


def test_compose_api_expects_the_public_issuer_and_reaches_the_internal_one() -> None:
    api = SERVICES["api"]
    context = (COMPOSE_DIR / api["build"]["context"]).resolve()
    dockerfile = parse_dockerfile((context / api["build"]["dockerfile"]).read_text())
    base = only("FROM", dockerfile).args
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim(-[a-z]+)?", base), base
    assert only("USER", dockerfile).args not in ("root", "0")
    copied = shlex.split(only("COPY", dockerfile).args)[0]
    assert (context / copied).resolve() == ROOT / "examples" / "resource_server" / "app.py"
    entry = only("ENTRYPOINT", dockerfile).exec_form()
    assert entry[entry.index("--host") + 1] == "0.0.0.0"
    port = entry[entry.index("--port") + 1]

    args = api["command"]
    options = dict(zip(args[::2], args[1::2], strict=True))
    public = SERVICES["mockidp"]["environment"]["MOCKIDP_PUBLIC_URL"]
    assert options["--issuer"] == f"{public}/default"
    assert options["--internal-url"] == f"http://mockidp:{only('EXPOSE').args}"
    assert api["depends_on"] == {"mockidp": {"condition": "service_healthy"}}
    nginx = (COMPOSE_DIR / mounts(SERVICES["spa"])["/etc/nginx/conf.d/default.conf"]).read_text()
    assert re.search(rf"location /api/ {{\s*proxy_pass http://api:{port};", nginx), nginx


def test_compose_spa_is_served_with_its_vendored_library() -> None:
    spa = SERVICES["spa"]
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+-alpine", spa["image"]), spa["image"]
    folder = COMPOSE_DIR / mounts(spa)["/usr/share/nginx/html"]
    page = (folder / "index.html").read_text()
    scripts = re.findall(r'<script[^>]*\ssrc="([^"]+)"', page)
    assert "vendor/oidc-client-ts.min.js" in scripts
    for src in [*scripts, *re.findall(r'<link[^>]*\shref="([^"]+)"', page)]:
        assert src.startswith("data:") or (folder / src).is_file(), src  # nothing from a CDN
    assert (folder / "vendor" / "oidc-client-ts.LICENSE").read_text().startswith(
        " " * 33 + "Apache License")
    # The app's issuer is the URL the browser uses; its redirect URI is where nginx serves it.
    config = (folder / "config.js").read_text()
    public = SERVICES["mockidp"]["environment"]["MOCKIDP_PUBLIC_URL"]
    assert f'issuer: "{public}/default"' in config
    settings = load_settings(COMPOSE_DIR / "mockidp.toml")
    client = settings.clients["spa"]
    origin = f"http://localhost:{published(spa)['80'].split(':')[1]}"
    assert list(client.redirect_uris) == [f"{origin}/"]
    assert 'client_id: "spa"' in config


def _spa_login(issuer_seen_by_browser: str) -> str:
    """The SPA's code flow as a browser runs it (PKCE, nonce, public client): an access token."""
    verifier, challenge = pkce_pair()
    redirect = "http://localhost:8081/"
    with requests.Session() as browser:
        response = browser.get(f"{issuer_seen_by_browser}/authorize", allow_redirects=False,
                               timeout=HTTP_TIMEOUT, params={
                                   "response_type": "code", "client_id": "spa",
                                   "redirect_uri": redirect, "scope": "openid profile email",
                                   "state": "s1", "nonce": "n1", "code_challenge": challenge,
                                   "code_challenge_method": "S256", "login_hint": "alice"})
        assert response.status_code == 302, response.text
        params = query_of(response.headers["Location"])
        assert params["state"] == "s1", params
        tokens = browser.post(f"{issuer_seen_by_browser}/token", timeout=HTTP_TIMEOUT, data={
            "grant_type": "authorization_code", "code": params["code"], "client_id": "spa",
            "redirect_uri": redirect, "code_verifier": verifier})
        assert tokens.status_code == 200, tokens.text
        access: str = tokens.json()["access_token"]
        return access


def test_compose_two_names_flow_works_with_the_public_url() -> None:
    # The browser calls the provider "localhost", the API calls it "127.0.0.1": two names for
    # one server, as http://localhost:8080 and http://mockidp:8080 are in docker-compose.
    port = free_port()
    public = f"http://localhost:{port}"
    with MockIdP(COMPOSE_DIR / "mockidp.toml", port=port, public_url=public):
        token = _spa_login(f"{public}/default")
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["iss"] == f"{public}/default"
        assert claims["aud"] == "orders-api"
        api = create_app(f"{public}/default", "orders-api",
                         internal_url=f"http://127.0.0.1:{port}").test_client()
        answer = api.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["sub"] == "alice"


def test_compose_two_names_flow_fails_without_the_public_url() -> None:
    port = free_port()
    with MockIdP(COMPOSE_DIR / "mockidp.toml", port=port):
        token = _spa_login(f"http://localhost:{port}/default")
        api = create_app(f"http://localhost:{port}/default", "orders-api",
                         internal_url=f"http://127.0.0.1:{port}")
        answer = api.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"})
        # The provider, asked as 127.0.0.1, names another issuer: the API cannot judge tokens.
        assert answer.status_code == 503



def test_two_images_share_one_store(fresh_venv: FreshVenv, tmp_path: Path,
                                    redis_server: RedisServer) -> None:
    # examples/replicas: the image's command with MOCKIDP_STORE, twice, on one Redis
    env = {"MOCKIDP_STORE": redis_server.url, "MOCKIDP_INTERACTIVE_LOGIN": "false"}
    with run_image(fresh_venv, {**env, "MOCKIDP_KEYS_DIR": str(tmp_path / "a")}) as first, \
            run_image(fresh_venv, {**env, "MOCKIDP_KEYS_DIR": str(tmp_path / "b")}) as second:
        assert any(line.startswith("Store:") for line in first.lines), first.lines
        response = requests.get(f"{first.base}/default/authorize", params=AUTHORIZE,
                                allow_redirects=False, timeout=HTTP_TIMEOUT)
        code = query_of(response.headers["Location"])["code"]
        redeem = {"grant_type": "authorization_code", "code": code, "client_id": "any-client",
                  "redirect_uri": AUTHORIZE["redirect_uri"]}
        token = requests.post(f"{second.base}/default/token", data=redeem,
                              timeout=HTTP_TIMEOUT)  # issued by one, redeemed at the other
        assert token.status_code == 200, token.text
        again = requests.post(f"{first.base}/default/token", data=redeem, timeout=HTTP_TIMEOUT)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
