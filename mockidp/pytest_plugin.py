"""pytest plugin: a mock identity provider per test session, reset for every test.

Registered through the ``pytest11`` entry point, so installing mockidp gives the fixtures:

- ``mockidp_server`` (session scope): one running `MockIdP` per session (per xdist worker).
- ``mockidp`` (function scope): the same server, reset to the config baseline before the test:
  users and clients added at run time, codes, tokens, sessions and the clock are forgotten;
  keys stay.

Options (command line, or ini): ``--mockidp-config`` / ``mockidp_config``,
``--mockidp-host`` / ``mockidp_host``, ``--mockidp-port`` / ``mockidp_port`` (0: any free port;
under xdist a fixed port is offset by the worker number), ``--mockidp-keys-dir`` /
``mockidp_keys_dir``.  The server itself is imported lazily, on first use of a fixture.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .errors import MockIdPError
from .provider import MockIdP

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
        raise MockIdPError(f"mockidp_port: expected a port number, got {value!r}") from None
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


@pytest.fixture
def mockidp(mockidp_server: MockIdP) -> MockIdP:
    """The session's provider, reset to its config baseline for this test."""
    mockidp_server.reset()
    return mockidp_server
