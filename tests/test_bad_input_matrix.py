"""Every route against every kind of malformed input: a clear 4xx, the server stays up, nothing
stored is lost.

The routes come from `mockidp.core.model.ENDPOINTS` and the generic profile (the protocol) and
from the Flask app's URL map (the control API under ``/_mockidp/``, the pages ``/`` and
``/debugger``, anything added later), so a new route is covered without touching this file.
For each one: a malformed Basic header, bytes that are not UTF-8 in the body and in the query
string, a body over the size limit, JSON where a form is expected and a form where JSON is
expected, invalid JSON, parameters sent twice (RFC 6749 §3.1), 60 KB values, methods the
route does not allow.

What a user must see: never a 5xx, never a traceback; protocol endpoints a browser visits
answer HTML pages, every other API the RFC 6749 §5.2 JSON form with its ``error``.  After each
request the server still answers, a refresh token issued before still introspects as active
and a user added before is still there.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from mockidp import MockIdP
from mockidp.core.model import ENDPOINTS
from mockidp.profiles.generic import GENERIC
from mockidp.web import create_app

from .conftest import REDIRECT, code_for, token_url

TIMEOUT = 10.0
CLOSE_WAIT = 3.0  # how long a client waits for the server to close after a complete answer
ISSUER = "default"
FILLER = "no-such-thing"  # for path variables other than the issuer
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
BIG = 60 * 1024
LIMIT = 64 * 1024  # the documented request body limit (413 above it)
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
ORIGIN = "http://localhost:3000"
BAD_BASIC = "Basic !!!not-base64!!!"
WEB_BASIC = "Basic " + base64.b64encode(b"web-app:web-secret").decode()
# Endpoints that authenticate the client (RFC 6749 §2.3): a broken Basic header is
# invalid_client (401, WWW-Authenticate: Basic, §5.2).
CLIENT_AUTH = frozenset({"token", "introspect", "revoke", "par", "device_authorization"})
# Protocol endpoints that read no parameters at all (metadata documents).
NO_PARAMS = frozenset({"discovery", "oauth_metadata", "jwks", "oauth_metadata_root"})
# The parameter each protocol endpoint reads first: sent twice it is invalid_request.
READS = {"authorize": "client_id", "par": "client_id", "login": "interaction",
         "consent": "interaction", "token": "grant_type", "userinfo": "access_token",
         "introspect": "token", "revoke": "token", "endsession": "state",
         "device_authorization": "scope", "device": "user_code"}
# Control routes that take no body: whatever is sent is ignored.
BODYLESS_CONTROL = frozenset({"control.reset"})


@dataclass(frozen=True)
class Route:
    """One routed path with every method it allows (HEAD and OPTIONS aside)."""

    name: str  # the Flask endpoint name of the first rule on this path
    path: str  # concrete: issuer 'default', other variables filled in
    methods: tuple[str, ...]
    kind: str  # protocol | browser | control | page
    endpoints: tuple[str, ...]  # Flask endpoint names of every rule on the path
    cors: bool = False  # browsers may call it cross-origin (`mockidp.core.model.Endpoint.cors`)

    @property
    def html(self) -> bool:
        """Answers people: errors are HTML pages."""
        return self.kind in ("browser", "page")

    @property
    def json_body(self) -> bool:
        """Takes a JSON request body."""
        return self.kind == "control" or self.name == "register"

    def __str__(self) -> str:
        return self.path


def _concrete(rule: str) -> str:
    path = rule.replace("<issuer>", ISSUER)
    return re.sub(r"<(?:[^<>:]+:)?[^<>]+>", FILLER, path)


def all_routes() -> list[Route]:
    """Protocol endpoints from the model, everything else from the app's URL map."""
    by_path: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        by_path[f"/{ISSUER}{endpoint.path}"] = {
            "name": endpoint.name, "methods": set(endpoint.methods),
            "kind": "browser" if endpoint.browser else "protocol", "endpoints": [endpoint.name],
            "cors": endpoint.cors}
    # RFC 8414 §3: the metadata also at the well-known prefix before the issuer's path
    by_path[f"{GENERIC.metadata_root}/{ISSUER}"] = {
        "name": "oauth_metadata_root", "methods": {"GET"}, "kind": "protocol",
        "endpoints": ["oauth_metadata_root"], "cors": True}
    app = create_app(MockIdP())
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = _concrete(rule.rule)
        entry = by_path.setdefault(path, {
            "name": rule.endpoint, "methods": set(), "endpoints": [],
            "kind": "control" if path.startswith("/_mockidp/")
            else "page" if rule.endpoint.startswith("ui.") else "protocol"})
        if rule.endpoint not in entry["endpoints"]:
            entry["endpoints"].append(rule.endpoint)
    # What the server really routes for the concrete path (``/_mockidp/rules/unfired`` is
    # also ``/_mockidp/rules/<rule_id>``, whose DELETE then applies).
    adapter = app.url_map.bind("localhost")
    routes = []
    for path, e in sorted(by_path.items()):
        allowed = e["methods"] | set(adapter.allowed_methods(path))
        routes.append(Route(e["name"], path, tuple(m for m in METHODS if m in allowed),
                            e["kind"], tuple(e["endpoints"]), e.get("cors", False)))
    return routes


ROUTES = all_routes()


def cases(predicate: Any) -> list[Any]:
    """(route, method) pairs for which ``predicate(route, method)`` holds, with readable ids."""
    return [pytest.param(route, method, id=f"{method} {route.path}")
            for route in ROUTES for method in route.methods if predicate(route, method)]


def both_paths(predicate: Any) -> list[Any]:
    """(route, method, origin): as `cases`, and the protocol endpoints once more with an
    ``Origin`` header.  The hot JSON endpoints answer plain requests on a fast path of their
    own; cross-origin requests go through Flask: both must refuse the same way."""
    return [pytest.param(route, method, origin,
                         id=f"{method} {route.path}" + (" cors" if origin else ""))
            for route in ROUTES for method in route.methods if predicate(route, method)
            for origin in ((None, ORIGIN) if route.kind == "protocol" else (None,))]


# -- what every answer must look like ----------------------------------------------------------

@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        return json.loads(self.body)

    def describe(self) -> str:
        return f"{self.status} {self.content_type} {self.body[:300]!r}"


def from_requests(response: requests.Response) -> Answer:
    return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                  response.content)


def sound(route: Route, answer: Answer) -> None:
    """Never a 5xx nor a traceback; a 4xx has the route's error form."""
    assert answer.status < 500, answer.describe()
    text = answer.body.decode("utf-8", "replace")
    assert "Traceback" not in text and 'File "' not in text, answer.describe()
    if not 400 <= answer.status < 500:
        return
    if route.html:
        assert answer.content_type.startswith("text/html"), answer.describe()
    else:
        assert answer.content_type.startswith(JSON), answer.describe()
        body = answer.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str), answer.describe()


def readable_cross_origin(route: Route, answer: Answer, origin: str | None) -> None:
    """A browser application must be able to read an error of a CORS endpoint."""
    if origin is not None and route.cors:
        assert answer.headers.get("access-control-allow-origin") == origin, answer.describe()


def refused(route: Route, answer: Answer, status: int | tuple[int, ...] = 400,
            error: str | None = "invalid_request", about: str | None = None) -> None:
    """A clear refusal: ``status`` and, in JSON answers, the RFC ``error`` code."""
    sound(route, answer)
    statuses = (status,) if isinstance(status, int) else status
    assert answer.status in statuses, answer.describe()
    if not route.html and error is not None:
        body = answer.json()
        assert body["error"] == error, answer.describe()
        if about is not None:
            assert about.lower() in body.get("error_description", "").lower(), answer.describe()


# -- state that must survive -------------------------------------------------------------------

@dataclass
class Stored:
    refresh_token: str
    user: str


@pytest.fixture
def stored(mockidp: MockIdP) -> Iterator[Stored]:
    """A refresh token issued and a user added before the abuse; checked after it."""
    code = code_for(mockidp)
    tokens = requests.post(token_url(mockidp), auth=("web-app", "web-secret"), timeout=TIMEOUT,
                           data={"grant_type": "authorization_code", "code": code,
                                 "redirect_uri": REDIRECT}).json()
    added = requests.post(mockidp.url + "/_mockidp/users", timeout=TIMEOUT,
                          json={"id": "matrix-user", "claims": {"name": "Matrix"}})
    assert added.status_code == 201
    yield Stored(tokens["refresh_token"], "matrix-user")


def still_fine(idp: MockIdP, stored: Stored, route: Route | None = None) -> None:
    health = requests.get(idp.url + "/_mockidp/health", timeout=TIMEOUT)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    doc = requests.get(f"{idp.issuer_url()}/.well-known/openid-configuration", timeout=TIMEOUT)
    assert doc.status_code == 200 and doc.json()["issuer"] == idp.issuer_url()
    if route is not None and route.name in BODYLESS_CONTROL:
        return  # POST /_mockidp/reset forgets everything, as it says
    check = requests.post(f"{idp.issuer_url()}/introspect", timeout=TIMEOUT,
                          data={"token": stored.refresh_token})
    assert check.status_code == 200 and check.json()["active"] is True, check.text
    assert stored.user in idp.users()


def send(idp: MockIdP, method: str, path: str, *, query: str = "", body: bytes | None = None,
         content_type: str | None = None, headers: dict[str, str] | None = None,
         origin: str | None = None) -> Answer:
    """One request, exactly as given (no re-encoding of the query string or body)."""
    url = idp.url + path + (f"?{query}" if query else "")
    all_headers = dict(headers or {})
    if origin is not None:
        all_headers["Origin"] = origin
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    request = requests.Request(method, url, data=body, headers=all_headers).prepare()
    request.url = url  # keep bytes like %FF exactly as written
    with requests.Session() as session:
        response = session.send(request, allow_redirects=False, timeout=TIMEOUT)
    return from_requests(response)


def raw(idp: MockIdP, payload: bytes) -> tuple[Answer, bool]:
    """Send raw bytes over a socket; the answer (read up to its Content-Length), and whether
    the server then closed the connection as its ``Connection: close`` says."""
    parts = urlsplit(idp.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(payload)  # the server may answer before reading everything
        data = b""
        closed = False
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before a complete answer: {data[:300]!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1."), data[:300]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        while len(body) < int(headers.get("content-length", "0")):
            chunk = sock.recv(65536)
            assert chunk, f"connection closed in the middle of the answer: {data[:300]!r}"
            body += chunk
        sock.settimeout(CLOSE_WAIT)
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            closed = sock.recv(65536) == b""
            if not closed:  # more bytes than Content-Length said: wait for the end
                while sock.recv(65536):
                    pass
                closed = True
    return Answer(int(lines[0].split()[1]), headers, body), closed


def typical_body(route: Route) -> tuple[bytes, str]:
    """A harmless, well-formed body for the route: JSON or a form."""
    if route.json_body:
        return b"{}", JSON
    return b"grant_type=client_credentials&token=x&scope=openid", FORM


# -- the route list covers everything ------------------------------------------------------------

def test_every_routed_path_is_in_the_matrix() -> None:
    app = create_app(MockIdP())
    covered = {name for route in ROUTES for name in route.endpoints}
    routed = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert routed <= covered
    assert {e.name for e in ENDPOINTS} <= covered
    paths = {route.path for route in ROUTES}
    assert {"/", "/debugger", "/_mockidp/health", "/default/token"} <= paths


# -- malformed Basic header ----------------------------------------------------------------------

@pytest.mark.parametrize(("route", "method", "origin"), both_paths(lambda r, m: True))
def test_malformed_basic_header(mockidp: MockIdP, stored: Stored, route: Route, method: str,
                                origin: str | None) -> None:
    body, content_type = typical_body(route) if method in ("POST", "PUT", "PATCH") \
        else (None, None)
    answer = send(mockidp, method, route.path, origin=origin, body=body,
                  content_type=content_type, headers={"Authorization": BAD_BASIC})
    if route.name in CLIENT_AUTH:
        refused(route, answer, 401, "invalid_client")
        assert answer.headers["www-authenticate"].startswith("Basic"), answer.describe()
    elif route.name == "userinfo":
        refused(route, answer, 401, "invalid_token")
    else:
        sound(route, answer)
    readable_cross_origin(route, answer, origin)
    still_fine(mockidp, stored, route)


# -- bytes that are not UTF-8 ----------------------------------------------------------------------

@pytest.mark.parametrize(("route", "method", "origin"), both_paths(lambda r, m: m == "POST"))
def test_non_utf8_body(mockidp: MockIdP, stored: Stored, route: Route, method: str,
                       origin: str | None) -> None:
    if route.json_body:
        answer = send(mockidp, method, route.path, origin=origin, content_type=JSON,
                      body=b'{"id": "\xff\xfe"}')
    else:
        answer = send(mockidp, method, route.path, origin=origin, content_type=FORM,
                      body=b"scope=caf\xe9&x=\xff\xfe")
    if route.kind in ("protocol", "browser"):
        error = "invalid_client_metadata" if route.name == "register" else "invalid_request"
        refused(route, answer, 400, error)
    elif route.kind == "control" and route.name not in BODYLESS_CONTROL:
        refused(route, answer, 400, "invalid_request")
    else:
        sound(route, answer)
    readable_cross_origin(route, answer, origin)
    still_fine(mockidp, stored, route)


@pytest.mark.parametrize(("route", "method", "origin"),
                         both_paths(lambda r, m: m in ("GET", "DELETE")))
def test_non_utf8_query_string(mockidp: MockIdP, stored: Stored, route: Route, method: str,
                               origin: str | None) -> None:
    answer = send(mockidp, method, route.path, origin=origin,
                  query="client_id=%FF%FE&state=caf%E9")
    if route.kind in ("protocol", "browser"):
        refused(route, answer, 400, "invalid_request", about="UTF-8")
    else:
        sound(route, answer)
    readable_cross_origin(route, answer, origin)
    still_fine(mockidp, stored, route)


# -- a body over the limit -------------------------------------------------------------------------

@pytest.mark.parametrize(("route", "method"), cases(lambda r, m: m in ("POST", "PUT", "PATCH")))
def test_body_over_the_limit_is_413(mockidp: MockIdP, stored: Stored, route: Route,
                                    method: str) -> None:
    if route.json_body:
        body, content_type = b'{"pad": "' + b"a" * (LIMIT * 3) + b'"}', JSON
    else:
        body, content_type = b"scope=openid&pad=" + b"a" * (LIMIT * 3), FORM
    answer, closed = raw(
        mockidp, f"{method} {route.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
                 .encode() + body)
    refused(route, answer, 413, "invalid_request")
    still_fine(mockidp, stored, route)
    # The client sent its whole body and waits: the server, having said "Connection: close",
    # must close it (a client reading to the end of the answer would hang otherwise).
    assert answer.headers.get("connection", "").lower() == "close"
    assert closed, "the server kept the connection open after its 413 answer"


# -- the wrong body format -------------------------------------------------------------------------

@pytest.mark.parametrize(("route", "method", "origin"), both_paths(
    lambda r, m: m == "POST" and r.kind in ("protocol", "browser") and not r.json_body))
def test_json_where_a_form_is_expected(mockidp: MockIdP, stored: Stored, route: Route, method: str,
                                       origin: str | None) -> None:
    body = json.dumps({"grant_type": "client_credentials", "token": "x", "client_id": "web-app",
                       "interaction": "x", "user_code": "ABCD-EFGH"}).encode()
    answer = send(mockidp, method, route.path, origin=origin, body=body, content_type=JSON)
    refused(route, answer, 400, "invalid_request", about=FORM)
    readable_cross_origin(route, answer, origin)
    still_fine(mockidp, stored, route)


@pytest.mark.parametrize(("route", "method"), cases(
    lambda r, m: m == "POST" and r.json_body and r.name not in BODYLESS_CONTROL))
def test_a_form_where_json_is_expected(mockidp: MockIdP, stored: Stored, route: Route,
                                       method: str) -> None:
    answer = send(mockidp, method, route.path, body=b"id=someone&issuer=default",
                  content_type=FORM)
    error = "invalid_client_metadata" if route.name == "register" else "invalid_request"
    refused(route, answer, 400, error, about=JSON)
    still_fine(mockidp, stored, route)


@pytest.mark.parametrize("text", [b'{"id": ', b"[1, 2", b"{'id': 'x'}", b"NaN", b"\x00{}",
                                  b'{"id": "x"} trailing', b"[" * 10_000 + b"]" * 10_000])
@pytest.mark.parametrize(("route", "method"), cases(
    lambda r, m: m == "POST" and r.json_body and r.name not in BODYLESS_CONTROL))
def test_invalid_json(mockidp: MockIdP, stored: Stored, route: Route, method: str,
                      text: bytes) -> None:
    answer = send(mockidp, method, route.path, body=text, content_type=JSON)
    error = "invalid_client_metadata" if route.name == "register" else "invalid_request"
    refused(route, answer, 400, error)
    still_fine(mockidp, stored, route)


# -- duplicated and overlong parameters ------------------------------------------------------------

def reads_parameters(route: Route, method: str) -> bool:
    return route.kind in ("protocol", "browser") and route.name not in NO_PARAMS \
        and not route.json_body


@pytest.mark.parametrize(("route", "method", "origin"), both_paths(reads_parameters))
def test_duplicated_parameters_are_invalid_request(mockidp: MockIdP, stored: Stored,
                                                   route: Route, method: str,
                                                   origin: str | None) -> None:
    # RFC 6749 §3.1: parameters MUST NOT be included more than once.
    name = READS.get(route.name, "client_id")
    pairs = f"{name}=one&{name}=two"
    # an authenticated client, so that the repeated parameter is what is wrong
    auth = {"Authorization": WEB_BASIC} if route.name in CLIENT_AUTH else {}
    if method == "POST":
        answer = send(mockidp, method, route.path, origin=origin, body=pairs.encode(),
                      content_type=FORM, headers=auth)
    else:
        answer = send(mockidp, method, route.path, origin=origin, query=pairs, headers=auth)
    if route.name == "userinfo" and method == "GET":
        refused(route, answer, 401, "invalid_request")  # the token goes in the header on GET
    else:
        refused(route, answer, 400, "invalid_request", about="repeated")
    readable_cross_origin(route, answer, origin)
    still_fine(mockidp, stored, route)


# Where a 60 KB value is no error at all: an unknown token is merely inactive (RFC 7662
# §2.2), logging out without a session shows the signed-out page, the device page shows its
# form (an overlong code is not echoed).
OVERLONG_ACCEPTED = frozenset({("introspect", "POST"), ("endsession", "GET"),
                               ("endsession", "POST"), ("device", "GET")})


@pytest.mark.parametrize(("route", "method", "origin"),
                         both_paths(lambda r, m: m in ("GET", "POST")))
def test_overlong_values(mockidp: MockIdP, stored: Stored, route: Route, method: str,
                         origin: str | None) -> None:
    name = READS.get(route.name, "client_id")
    value = "a" * BIG
    if method == "GET":
        answer = send(mockidp, method, route.path, origin=origin, query=f"{name}={value}")
    elif route.json_body:
        answer = send(mockidp, method, route.path, origin=origin, content_type=JSON,
                      body=json.dumps({"client_name" if route.name == "register" else "id":
                                       value}).encode())
    else:
        answer = send(mockidp, method, route.path, origin=origin, content_type=FORM,
                      body=f"{name}={value}".encode())
    if route.name in NO_PARAMS or route.kind in ("control", "page") \
            or (route.name, method) in OVERLONG_ACCEPTED:
        sound(route, answer)
    else:
        refused(route, answer, (400, 401), error=None)
    assert len(answer.body) < 3 * BIG, "the answer repeats the value more than twice"
    readable_cross_origin(route, answer, origin)
    still_fine(mockidp, stored, route)


# -- methods and paths -----------------------------------------------------------------------------

@pytest.mark.parametrize("route", [pytest.param(r, id=r.path) for r in ROUTES])
def test_wrong_methods_are_405_with_allow(mockidp: MockIdP, stored: Stored,
                                          route: Route) -> None:
    for method in METHODS:
        if method in route.methods:
            continue
        answer = send(mockidp, method, route.path)
        refused(route, answer, 405, "invalid_request")
        allowed = {m.strip() for m in answer.headers.get("allow", "").split(",")}
        assert set(route.methods) <= allowed, (method, answer.headers.get("allow"))
        assert not allowed & ({"GET", "POST", "PUT", "PATCH", "DELETE"} - set(route.methods))
    still_fine(mockidp, stored, route)


UNKNOWN = ["/nothing-here", "/default/nope", "/default/token/extra", "/_mockidp/nope",
           "/_mockidp/users/a/b", "/debugger/x", "/default/.well-known/nope",
           "/.well-known/openid-configuration", "/default/authorize/login/x"]


@pytest.mark.parametrize(("method", "path"), [
    *[(m, p) for p in UNKNOWN for m in ("GET", "POST", "DELETE")],
    ("GET", "/bad%20name/jwks"), ("POST", "/%FF/token"), ("GET", "/x" * 30 + "/jwks"),
    ("GET", "/" + "a" * 5000 + "/.well-known/openid-configuration"),
])
def test_unknown_paths_are_404_json(mockidp: MockIdP, stored: Stored, path: str,
                                    method: str) -> None:
    answer = send(mockidp, method, path)
    assert answer.status == 404, answer.describe()
    assert answer.content_type.startswith(JSON), answer.describe()
    assert answer.json()["error"] == "not_found"
    still_fine(mockidp, stored)
