"""Shared helpers.  The ``mockidp`` fixture itself comes from the installed plugin, configured
with fixtures/config.toml through ``mockidp_config`` in pyproject.toml."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from mockidp import MockIdP

from .redis_server import RedisServer, running_redis

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONFIG = ROOT / "fixtures" / "config.toml"
REDIRECT = "http://localhost:3000/callback"


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    """Single-valued query parameters of a redirect Location."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def fragment_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}


def authorize(idp: MockIdP, issuer: str = "default", session: requests.Session | None = None,
              **params: str) -> requests.Response:
    """GET the authorization endpoint without following the redirect."""
    http = session or requests
    return http.get(f"{idp.issuer_url(issuer)}/authorize", params=params,
                    allow_redirects=False)


def code_for(idp: MockIdP, client_id: str = "web-app", redirect_uri: str = REDIRECT,
             user: str = "alice", issuer: str = "default", **params: str) -> str:
    """An authorization code, approved at once through login_hint."""
    response = authorize(idp, issuer, client_id=client_id, redirect_uri=redirect_uri,
                         response_type="code", login_hint=user, **params)
    assert response.status_code == 302, response.text
    return query_of(response.headers["Location"])["code"]


def token_url(idp: MockIdP, issuer: str = "default") -> str:
    return f"{idp.issuer_url(issuer)}/token"


NODE_DIR = ROOT / "tests" / "node"


def run_node(script: str, *args: str, timeout: float = 60,
             env: dict[str, str] | None = None) -> dict:
    """Run ``tests/node/<script>`` with Node.js and return the JSON it prints last.

    The scripts drive real npm clients (openid-client); ``npm ci --prefix tests/node`` (part
    of README's test command) installs them.  ``env`` adds variables to the environment
    (``NODE_EXTRA_CA_CERTS`` for an HTTPS mockidp).
    """
    import json
    import subprocess

    result = subprocess.run(["node", str(NODE_DIR / script), *args], capture_output=True,
                            text=True, timeout=timeout, cwd=NODE_DIR,
                            env={**os.environ, **env} if env else None)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert result.returncode == 0 and lines, (result.returncode, result.stdout, result.stderr)
    return json.loads(lines[-1])


@pytest.fixture
def no_mockidp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start from no ``MOCKIDP_*`` variables: each test sets the ones it means."""
    for name in list(os.environ):
        if name.startswith("MOCKIDP_"):
            monkeypatch.delenv(name)


@pytest.fixture
def http() -> requests.Session:
    with requests.Session() as session:
        yield session


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real Redis server of this test's own (tests/redis_server.py), stopped after it."""
    with running_redis() as server:
        yield server


@pytest.fixture(scope="module")
def shared_redis() -> Iterator[RedisServer]:
    """One real Redis server for a whole test module (each test keeps to a namespace of its
    own)."""
    with running_redis() as server:
        yield server
