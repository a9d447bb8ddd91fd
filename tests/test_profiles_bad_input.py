"""Every path of every provider profile against malformed input: never a 5xx nor a traceback;
a JSON error body in the profile's shape (an ``error`` string), an HTML page for people, or
a plain message (a provider's own small endpoints); the server stays up, its state whole.

The paths come from the server's own route table (`mockidp.http.adapter.provider_routes`),
so a path a profile adds later is covered without touching this file.  Each profile's own
tests check its exact error shape; this file checks that no path of any of them breaks.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from mockidp import MockIdP
from mockidp.http.adapter import provider_routes
from mockidp.http.routes import Route

TIMEOUT = 10.0
TENANT = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
POOL = "us-east-1_Example"
CONFIG = {
    "users": {"alice": {"password": "pw", "claims": {"roles": ["admin"]}}},
    "clients": {"app": {"secret": "app-secret"}},
    "issuers": {
        "myrealm": {"profile": "keycloak"},
        "contoso": {"profile": "entra", "tenant_id": TENANT},
        "shop": {"profile": "auth0"},
        "okta": {"profile": "okta"},
        "pool": {"profile": "cognito", "user_pool_id": POOL},
    },
}
FORM = "application/x-www-form-urlencoded"
BIG = "x" * (60 * 1024)
# (name, query, body, content type, headers)
ABUSES: list[tuple[str, str, bytes | None, str | None, dict[str, str]]] = [
    ("nothing", "", None, None, {}),
    ("empty form", "", b"", FORM, {}),
    ("non-UTF-8 body", "", b"grant_type=%FF%FE&token=\xff\xfe", FORM, {}),
    ("non-UTF-8 query", "client_id=%FF%FE&redirect_uri=%C3", None, None, {}),
    ("invalid JSON", "", b'{"grant_type": ', "application/json", {}),
    ("JSON array", "", b"[1, 2]", "application/json", {}),
    ("JSON of wrong types", "", b'{"grant_type": 3, "client_id": {"a": 1}, "scope": [1]}',
     "application/json", {}),
    ("malformed Basic", "", b"grant_type=client_credentials", FORM,
     {"Authorization": "Basic !!!not-base64!!!"}),
    ("Basic of no colon", "", b"grant_type=client_credentials", FORM,
     {"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()}),
    ("garbage bearer", "", None, None, {"Authorization": "Bearer a.b.c"}),
    ("parameters twice", "", b"grant_type=password&grant_type=client_credentials&client_id=a"
     b"&client_id=b", FORM, {}),
    ("overlong values", "", f"grant_type={BIG}&client_id={BIG}&token={BIG}".encode(), FORM, {}),
    ("every grant of nothing", "", b"grant_type=authorization_code&code=nope&redirect_uri=x"
     b"&client_id=app&client_secret=app-secret&refresh_token=nope", FORM, {}),
]


def profiled_paths(idp: MockIdP) -> list[tuple[str, Route]]:
    """Every concrete path of the profiled issuers (template paths are the generic issuers')."""
    return sorted((path, route) for path, route in provider_routes(idp).listing()
                  if "{" not in path and not path.startswith("/_mockidp"))


@pytest.fixture(scope="module")
def idp() -> Iterator[MockIdP]:
    with MockIdP(config=CONFIG) as server:
        yield server


def problem(method: str, path: str, name: str, response: requests.Response) -> str | None:
    """What is wrong with the answer, or None."""
    text = response.content.decode("utf-8", "replace")
    where = f"{method} {path} ({name}): {response.status_code} {text[:200]!r}"
    if response.status_code >= 500 or "Traceback" in text or 'File "' in text:
        return where
    if not 400 <= response.status_code < 500:
        return None
    kind = response.headers.get("Content-Type", "")
    if kind.startswith("application/json"):
        body: Any = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("error"), str):
            return where + " (a JSON error without an 'error' string)"
    elif kind.startswith("text/plain"):  # what a provider's own small endpoints answer
        if not text.strip():
            return where + " (a plain refusal saying nothing)"
    elif not kind.startswith("text/html") and response.content:
        return where + f" (neither a JSON error, a message nor a page: {kind})"
    return None


def still_whole(idp: MockIdP, refresh_token: str) -> None:
    assert requests.get(idp.url + "/_mockidp/health", timeout=TIMEOUT).json()["status"] == "ok"
    answer = requests.post(f"{idp.url}/realms/myrealm/protocol/openid-connect/token/introspect",
                           auth=("app", "app-secret"), data={"token": refresh_token},
                           timeout=TIMEOUT)
    assert answer.status_code == 200 and answer.json()["active"] is True, answer.text


def test_the_matrix_covers_every_profile(idp: MockIdP) -> None:
    paths = {path for path, _ in profiled_paths(idp)}
    for expected in ("/realms/myrealm/protocol/openid-connect/token",
                     "/auth/realms/myrealm/protocol/openid-connect/logout",
                     f"/{TENANT}/oauth2/v2.0/token", "/common/discovery/instance",
                     "/oauth/token", "/v2/logout", "/oauth2/default/v1/introspect",
                     "/oauth2/token", "/oauth2/userInfo", f"/{POOL}/.well-known/jwks.json"):
        assert expected in paths, sorted(paths)


@pytest.mark.parametrize("abuse", [a[0] for a in ABUSES])
def test_no_profile_path_breaks_on_malformed_input(idp: MockIdP, abuse: str) -> None:
    name, query, body, content_type, headers = next(a for a in ABUSES if a[0] == abuse)
    refresh = requests.post(f"{idp.url}/realms/myrealm/protocol/openid-connect/token", data={
        "grant_type": "password", "username": "alice", "password": "pw", "client_id": "app",
        "client_secret": "app-secret", "scope": "openid"}, timeout=TIMEOUT).json()
    problems = []
    with requests.Session() as session:
        for path, route in profiled_paths(idp):
            for method in (*route.methods, "PUT"):
                all_headers = dict(headers)
                if content_type is not None:
                    all_headers["Content-Type"] = content_type
                url = idp.url + path + (f"?{query}" if query else "")
                prepared = requests.Request(method, url, data=body,
                                            headers=all_headers).prepare()
                prepared.url = url  # the bytes of the query exactly as written
                response = session.send(prepared, allow_redirects=False, timeout=TIMEOUT)
                found = problem(method, path, name, response)
                if found is not None:
                    problems.append(found)
    assert not problems, "\n".join(problems)
    still_whole(idp, refresh["refresh_token"])
