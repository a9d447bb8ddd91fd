"""Exposure: the control token guards every control route and page, and mockidp listens on
127.0.0.1 only, unless told otherwise.

- With a control token, every route of the control API (every method, taken from the app's URL
  map) and the dashboard pages refuse a request that does not carry the token as ``Authorization:
  Bearer``, and nothing changes: no user, client, rule, key, clock or journal change happens.
  ``/_mockidp/health`` and the unlock form are the documented exceptions.
- The Python API, the ``serve`` command and the pytest plugin all default to 127.0.0.1, and the
  listening socket really is bound there: another loopback address (127.0.0.2) is refused.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mockidp import MockIdP
from mockidp.web import create_app

from .local_server import assert_local_only, mockidp_serve

TIMEOUT = 10.0
TOKEN = "s3cret-control-token"
PREFIX = "/_mockidp"
OPEN = frozenset({"control.health", "ui.unlock"})  # documented: need no token
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Bodies that would change something, were the request let through.
BODIES: dict[str, Any] = {
    "control.add_user": {"id": "intruder"},
    "control.add_client": {"id": "intruder", "secret": "x"},
    "control.add_rule": {"endpoint": "token", "error": "invalid_grant"},
    "control.set_clock": {"advance": 3600},
    "control.rotate_keys": {"alg": "RS256"},
    "control.retire_keys": {},
    "control.approve_device": {"user": "intruder"},
    "control.deny_device": {},
    "control.mint": {"sub": "intruder"},
    "control.mint_bad": {"kind": "expired"},
    "control.inspect": {"token": "x"},
}
CONFIG = {"clients": {"web-app": {"secret": "web-secret"}}, "users": {"alice": {}}}


def refusals() -> list[tuple[str, dict[str, str]]]:
    """Ways of not presenting the control token: (query string, headers)."""
    basic = base64.b64encode(f"admin:{TOKEN}".encode()).decode()
    return [
        ("", {}),
        ("", {"Authorization": "Bearer wrong"}),
        ("", {"Authorization": "Bearer "}),
        ("", {"Authorization": f"Bearer {TOKEN}x"}),
        ("", {"Authorization": f"Bearer {TOKEN[:-1]}"}),
        ("", {"Authorization": f"Basic {basic}"}),
        ("", {"Authorization": TOKEN}),
        ("", {"Authorization": f"Token {TOKEN}"}),
        ("", {"X-Control-Token": TOKEN}),
        (f"access_token={TOKEN}", {}),
        (f"token={TOKEN}", {}),
    ]


def guarded_routes(idp: MockIdP) -> list[tuple[str, str, str]]:
    """(endpoint name, rule, concrete path) of every control route and page."""
    routes = []
    for rule in create_app(idp).url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/") or rule.endpoint.startswith("ui."):
            routes.append((rule.endpoint, rule.rule, rule.rule))
    return routes


@pytest.fixture
def guarded() -> Iterator[MockIdP]:
    idp = MockIdP(CONFIG, control_token=TOKEN)
    idp.start()
    try:
        yield idp
    finally:
        idp.stop()


def snapshot(idp: MockIdP) -> dict[str, Any]:
    return {
        "users": sorted(idp.users()), "clients": sorted(idp.clients()),
        "rules": [r.id for r in idp.list_rules()],
        "clock": {k: v for k, v in idp.clock_state().items() if k != "offset"},  # frozen
        "keys": idp.keys(), "journal": len(idp.calls()),
    }


def test_every_control_route_and_method_needs_the_token(guarded: MockIdP) -> None:
    # Something to lose: a user, a client, a rule, a frozen clock, keys, journal entries.
    guarded.add_user("guarded-user")
    guarded.add_client("guarded-client", "secret")
    rule = guarded.add_rule(endpoint="userinfo", error="invalid_token", expect=False)
    guarded.set_clock(freeze=True)
    tokens = requests.post(guarded.issuer_url() + "/token", auth=("web-app", "web-secret"),
                           data={"grant_type": "password", "username": "alice",
                                 "password": "x"}, timeout=TIMEOUT).json()
    before = snapshot(guarded)
    fill = {"<user_id>": "guarded-user", "<client_id>": "guarded-client",
            "<rule_id>": rule.id}
    checked = 0
    for name, rule_text, path in guarded_routes(guarded):
        for placeholder, value in fill.items():
            path = path.replace(placeholder, value)
        assert "<" not in path, f"a new path variable in {rule_text}: give it a value here"
        for method in ALL_METHODS:
            body = BODIES.get(name, {})
            for query, headers in refusals():
                url = guarded.url + path + (f"?{query}" if query else "")
                response = requests.request(method, url, headers=headers, timeout=TIMEOUT,
                                            json=body if method in ("POST", "PUT", "PATCH")
                                            else None, allow_redirects=False)
                where = (method, path, query, headers)
                if name in OPEN:
                    assert response.status_code != 500, where
                    continue
                if response.status_code == 405:
                    continue  # not routed for this method: nothing ran, nothing was revealed
                assert response.status_code == 401, (*where, response.status_code,
                                                      response.text[:200])
                assert response.headers["WWW-Authenticate"].startswith("Bearer"), where
                if path.startswith(PREFIX) and method != "HEAD":
                    assert response.json()["error"] == "invalid_token", where
                checked += 1
            if path.startswith(PREFIX) and name not in OPEN:
                # the dashboard's cookie opens the pages, not the control API
                cookie = requests.request(method, guarded.url + path, timeout=TIMEOUT,
                                          cookies={"mockidp_control": TOKEN},
                                          json=body if method == "POST" else None)
                assert cookie.status_code in (401, 405), (method, path, cookie.status_code)
    assert checked > 100
    assert snapshot(guarded) == before, "a refused request changed the provider's state"
    active = requests.post(guarded.issuer_url() + "/introspect", timeout=TIMEOUT,
                           data={"token": tokens["refresh_token"]}).json()["active"]
    assert active is True
    # and the token itself works
    allowed = requests.get(guarded.url + PREFIX + "/users", timeout=TIMEOUT,
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200
    assert "guarded-user" in {u["id"] for u in allowed.json()["users"]}


def test_every_guarded_route_is_routed_for_some_method(guarded: MockIdP) -> None:
    """The 405s skipped above are methods a route lacks, never a route left unguarded."""
    for name, _, path in guarded_routes(guarded):
        if name in OPEN:
            continue
        path = path.replace("<user_id>", "x").replace("<client_id>", "x")
        path = path.replace("<rule_id>", "x")
        answers = {requests.request(m, guarded.url + path, timeout=TIMEOUT).status_code
                   for m in ("GET", "POST", "DELETE")}
        assert 401 in answers, (path, answers)


# -- binding -------------------------------------------------------------------------------------

def test_the_python_api_listens_on_127_0_0_1_only() -> None:
    idp = MockIdP()
    assert idp.host == "127.0.0.1"
    assert idp.url.startswith("http://127.0.0.1:")
    with idp:
        port = int(idp.url.rsplit(":", 1)[1])
        assert idp.url == f"http://127.0.0.1:{port}"
        assert idp.issuer_url().startswith(f"http://127.0.0.1:{port}/")
        assert_local_only(port)
        assert requests.get(idp.issuer_url() + "/jwks", timeout=TIMEOUT).status_code == 200


def test_the_serve_command_listens_on_127_0_0_1_only() -> None:
    from mockidp import cli

    (host,) = [p for p in cli.serve.params if p.name == "host"]
    assert host.default == "127.0.0.1"
    with mockidp_serve("--port", "0") as served:
        issuer = served.issuer()
        assert issuer is not None and issuer.startswith("http://127.0.0.1:"), served.output
        port = int(issuer.split(":")[2].split("/")[0])
        answered = False
        for _ in range(300):  # the banner may come a moment before the socket listens
            with contextlib.suppress(requests.ConnectionError):
                answered = requests.get(issuer + "/jwks", timeout=TIMEOUT).status_code == 200
                break
            time.sleep(0.05)
        assert answered
        assert_local_only(port)


@pytest.fixture
def _own_pytest_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner pytest is a user's own run, even when this session runs under xdist."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                 "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
                 "MOCKIDP_HOST"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("_own_pytest_run")
def test_the_pytest_plugin_listens_on_127_0_0_1_only(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest="[pytest]\n")
    pytester.makepyfile(test_bind=f"""
import sys

sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
from tests.local_server import assert_local_only


def test_bind(mockidp):
    assert mockidp.host == "127.0.0.1"
    assert mockidp.url.startswith("http://127.0.0.1:")
    assert_local_only(int(mockidp.url.rsplit(":", 1)[1]))
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1)
