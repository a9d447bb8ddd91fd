"""Session start of the ``mockidp`` fixture: first use → a ready server, keys included.

Copied by the harness as ``test_first_use.py``; the only test of its pytest session, so this is
the session's first use of the fixture.
"""

from __future__ import annotations

import http.client
import time
from typing import Any
from urllib.parse import urlsplit

import pytest


def _get(host: str, port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, (path, response.status, body)
        return body
    finally:
        conn.close()


def test_first_use(request: pytest.FixtureRequest, bench_record: dict[str, Any]) -> None:
    began = time.perf_counter()
    idp = request.getfixturevalue("mockidp")
    fixture_done = time.perf_counter()
    url = urlsplit(idp.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    assert b'"jwks_uri"' in _get(host, port, "/default/.well-known/openid-configuration")
    discovery_done = time.perf_counter()
    assert b'"keys"' in _get(host, port, "/default/jwks")  # the keys are made here
    jwks_done = time.perf_counter()
    bench_record.update({
        "fixture_ms": (fixture_done - began) * 1000,
        "discovery_ms": (discovery_done - began) * 1000,
        "ready_ms": (jwks_done - began) * 1000,
    })
