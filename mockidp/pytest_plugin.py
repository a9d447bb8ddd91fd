"""pytest plugin: a mock identity provider per test session, reset for every test.

Registered through the ``pytest11`` entry point, so installing mockidp gives the fixtures:

- ``mockidp_server`` (session scope): one running `MockIdP` per session (per xdist worker).
- ``mockidp`` (function scope): the same server, reset to the config baseline before the test:
  users, clients and rules added at run time, codes, tokens, sessions, the journal and the
  clock are forgotten; keys stay.  After the test, every rule added during it that was
  expected to fire and did not fails the test, with the reason each did not match.
- ``@pytest.mark.mockidp(users=..., clients=..., rules=[...], clock={...})`` sets those up for
  one test (same shapes as the config file and the control API).
- ``mockidp_bad_token_kind``: a test that takes it runs once per bad-token kind.

Options (command line, or ini): ``--mockidp-config`` / ``mockidp_config``,
``--mockidp-host`` / ``mockidp_host``, ``--mockidp-port`` / ``mockidp_port`` (0: any free port;
under xdist a fixed port is offset by the worker number), ``--mockidp-keys-dir`` /
``mockidp_keys_dir``.  The server itself is imported lazily, on first use of a fixture.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from mockidp.api import MAX_PORT, MockIdP
from mockidp.core.errors import MockIdPError
from mockidp.tokens.badtokens import BAD_TOKEN_KINDS

_OPTIONS = (
    ("config", "config file (TOML or JSON) for the mock identity provider"),
    ("host", "address the mock identity provider binds (default 127.0.0.1)"),
    ("port", "port of the mock identity provider (default 0: any free port)"),
    ("keys_dir", "directory that keeps the provider's signing keys between runs"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockidp", "mock OAuth 2.0 / OpenID Connect provider")
    for name, help_text in _OPTIONS:
        group.addoption(f"--mockidp-{name.replace('_', '-')}", dest=f"mockidp_{name}",
                        default=None, help=help_text)
        parser.addini(f"mockidp_{name}", help_text, default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "mockidp(users=None, clients=None, rules=None, clock=None, issuer='default'): set up "
        "the mock identity provider for one test (same shapes as its config file)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test taking ``mockidp_bad_token_kind`` once per kind of the bad-token catalogue."""
    if "mockidp_bad_token_kind" in metafunc.fixturenames:
        metafunc.parametrize("mockidp_bad_token_kind", list(BAD_TOKEN_KINDS), ids=str)


def _option(config: pytest.Config, name: str) -> tuple[str | None, Path]:
    """The option's value and the folder a relative path in it is relative to."""
    value = config.getoption(f"mockidp_{name}")
    if value is not None:
        return str(value), config.invocation_params.dir
    ini = config.getini(f"mockidp_{name}")
    if ini:
        return str(ini), config.rootpath
    return None, config.rootpath


def _path(config: pytest.Config, name: str) -> Path | None:
    value, base = _option(config, name)
    return (base / value) if value else None


def _port(config: pytest.Config) -> int:
    value, _ = _option(config, "port")
    try:
        port = int(value) if value else 0
    except ValueError:
        port = -1
    if not 0 <= port <= MAX_PORT:
        raise MockIdPError(f"mockidp_port (--mockidp-port): expected a port number from 0 to "
                           f"{MAX_PORT} (0: any free port), got {value!r}")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if port and worker.startswith("gw"):
        port += int(worker[2:] or 0)
    return port


@pytest.fixture(scope="session")
def mockidp_server(pytestconfig: pytest.Config) -> Iterator[MockIdP]:
    """One running mock identity provider for the whole session (one per xdist worker)."""
    host, _ = _option(pytestconfig, "host")
    idp = MockIdP(
        config=_path(pytestconfig, "config"),
        host=host or "127.0.0.1",
        port=_port(pytestconfig),
        keys_dir=_path(pytestconfig, "keys_dir"),
    )
    idp.start()
    try:
        yield idp
    finally:
        idp.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember whether the test body failed, so the unfired-rule check stays quiet then."""
    report: pytest.TestReport = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


_FAILED = pytest.StashKey[bool]()


def _apply_marker(idp: MockIdP, marker: pytest.Mark) -> None:
    if marker.args:
        raise MockIdPError("@pytest.mark.mockidp takes keyword arguments only: users, clients, "
                           "rules, clock, issuer")
    allowed = ("users", "clients", "rules", "clock", "issuer")
    for key in marker.kwargs:
        if key not in allowed:
            raise MockIdPError(f"@pytest.mark.mockidp: {key}: unknown argument; expected one "
                               "of: " + ", ".join(allowed))
    issuer = marker.kwargs.get("issuer", "default")
    for user_id, spec in (marker.kwargs.get("users") or {}).items():
        spec = spec or {}
        idp.add_user(user_id, spec.get("claims"), password=spec.get("password"), issuer=issuer)
    for client_id, spec in (marker.kwargs.get("clients") or {}).items():
        spec = dict(spec or {})
        idp.add_client(client_id, spec.pop("secret", None), issuer=issuer, **spec)
    for rule in marker.kwargs.get("rules") or ():
        idp.add_rule(rule)
    clock = marker.kwargs.get("clock")
    if clock:
        idp.set_clock(**clock)


@pytest.fixture
def mockidp(mockidp_server: MockIdP, request: pytest.FixtureRequest) -> Iterator[MockIdP]:
    """The session's provider, reset to its config baseline for this test; after the test,
    fails it if a rule expected to fire never did."""
    mockidp_server.reset()
    baseline = {id(rule) for rule in mockidp_server.list_rules()}
    for marker in reversed(list(request.node.iter_markers("mockidp"))):
        _apply_marker(mockidp_server, marker)
    yield mockidp_server
    if request.node.stash.get(_FAILED, False):
        return
    added = [r for r in mockidp_server.list_rules() if id(r) not in baseline]
    mockidp_server.check_rules(added)
