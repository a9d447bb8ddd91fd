"""conftest.py of the pytest projects `benchmarks/run.py` generates (copied to a temp folder).

Not collected from here: the harness copies this folder to a temporary project with its own
``pytest.ini`` and renames ``first_use.py``, ``suite_mockidp.py`` and ``suite_static.py`` to
``test_*.py`` there.  The ``mockidp`` fixture comes from the installed ``pytest11`` entry point,
exactly as a user gets it.

Environment (set by the harness):

- ``MOCKIDP_BENCH_OUT``: JSON file written at the end of the session: the
  ``time.perf_counter()`` of every test's start (``pytest_runtest_logstart``), of the session's
  start and finish, and whatever the tests put in the ``bench_record`` fixture.
- ``MOCKIDP_BENCH_STATIC``: folder with ``token.json`` and ``jwks.json`` that the static server
  returns (a token pre-signed by the harness, and the JWKS that verifies it).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

_TIMES: dict[str, Any] = {"test_starts": []}
_RECORD: dict[str, Any] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    _TIMES["session_start"] = time.perf_counter()


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _TIMES["test_starts"].append(time.perf_counter())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _TIMES["session_finish"] = time.perf_counter()
    out = os.environ.get("MOCKIDP_BENCH_OUT")
    if out:
        Path(out).write_text(json.dumps({**_TIMES, "record": _RECORD}))


@pytest.fixture(scope="session")
def bench_record() -> dict[str, Any]:
    """Figures a test wants the harness to see."""
    return _RECORD


# -- what every test of the suites does ------------------------------------------------------


def _fetch_and_verify(base: str) -> dict[str, Any]:
    """POST ``{base}/token`` (client_credentials, Basic auth), GET ``{base}/jwks``, verify the
    access token's signature with PyJWT against the key of its ``kid``."""
    response = requests.post(
        f"{base}/token", data={"grant_type": "client_credentials"},
        auth=("bench-client", "bench-secret"), timeout=10,
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    keys = requests.get(f"{base}/jwks", timeout=10).json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in keys if k.get("kid") == kid)
    claims: dict[str, Any] = jwt.decode(
        token, jwt.PyJWK(jwk).key, algorithms=[jwk.get("alg", "RS256")],
        options={"verify_aud": False},
    )
    assert claims["sub"]
    return claims


@pytest.fixture(scope="session")
def fetch_and_verify() -> Callable[[str], dict[str, Any]]:
    return _fetch_and_verify


# -- the floor: a static server in this same pytest session ----------------------------------


class _StaticHandler(BaseHTTPRequestHandler):
    """``POST .../token`` → the pre-signed token; ``GET .../jwks`` → the JWKS.  HTTP/1.0,
    so one connection per request, like a server that closes every connection."""

    token = b""
    jwks = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(self.token if self.path.endswith("/token") else None)

    def do_GET(self) -> None:
        self._send(self.jwks if self.path.endswith("/jwks") else None)

    def _send(self, body: bytes | None) -> None:
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def static_server() -> Iterator[str]:
    """A tiny ``http.server`` in a thread of this session; yields its issuer base URL."""
    folder = Path(os.environ["MOCKIDP_BENCH_STATIC"])
    handler = type("Handler", (_StaticHandler,), {
        "token": (folder / "token.json").read_bytes(),
        "jwks": (folder / "jwks.json").read_bytes(),
    })
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/default"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def static_idp(static_server: str) -> str:
    """Function scope, like ``mockidp``: the static server's issuer base URL."""
    return static_server
