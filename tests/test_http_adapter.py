"""The one protocol adapter (`mockidp.http.adapter`) and its route table (`mockidp.http.routes`).

Requests with and without ``Origin`` take the same code path and get the same answer (CORS
headers aside); a server answering protocol requests (cross-origin ones and preflights
included) never imports Flask; the route table resolves the longest mount and never reads a
profile's path as a generic issuer; chunked bodies are read like sized ones.
"""

from __future__ import annotations

import base64
import io
import re
import socket
import subprocess
import sys
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.test import Client

from mockidp import MockIdP
from mockidp.core.model import ENDPOINTS
from mockidp.http.adapter import ProtocolAdapter
from mockidp.http.routes import METADATA_ROOT, RouteTable
from mockidp.http.wire import MAX_BODY_BYTES
from mockidp.profiles import Profile
from mockidp.profiles.generic import GENERIC
from mockidp.serve.app import serving_app
from mockidp.web import create_app
from mockidp.web.paths import flask_serves

ORIGIN = "http://localhost:5173"
FORM = "application/x-www-form-urlencoded"
BASIC = "Basic " + base64.b64encode(b"svc:s3cret").decode()
CORS_HEADERS = {"access-control-allow-origin", "access-control-allow-credentials",
                "access-control-expose-headers", "vary"}


class Counting:
    """The served app, counting the requests that reach the adapter's one answer path and
    refusing to pass anything to the Flask fallback."""

    def __init__(self, idp: MockIdP) -> None:
        self.adapter = serving_app(idp)
        self.answered = 0
        answer = self.adapter._answer

        def counted(*args: Any) -> Any:
            self.answered += 1
            return answer(*args)

        self.adapter._answer = counted  # type: ignore[method-assign]
        self.adapter.fallback = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self.adapter(environ, start_response)


def _answer(client: Client, method: str, path: str, origin: str | None, **kwargs: Any
            ) -> tuple[int, bytes, dict[str, str]]:
    headers = dict(kwargs.pop("headers", {}))
    if origin:
        headers["Origin"] = origin
    response = client.open(path, method=method, headers=headers, **kwargs)
    return response.status_code, response.get_data(), {
        k.lower(): v for k, v in response.headers.items()}


CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("token error", "POST", {"path": "/default/token", "data": {"grant_type": "nope"},
                             "headers": {"Authorization": BASIC}}),
    ("jwks", "GET", {"path": "/default/jwks"}),
    ("authorize error page", "GET", {"path": "/default/authorize",
                                     "query_string": {"response_type": "code"}}),
    ("405", "PUT", {"path": "/default/token"}),
    ("413", "POST", {"path": "/default/token", "data": b"a=" + b"b" * MAX_BODY_BYTES,
                     "content_type": FORM}),
    ("json where a form is expected", "POST", {
        "path": "/default/token", "data": b'{"grant_type": "client_credentials"}',
        "content_type": "application/json"}),
]


@pytest.mark.parametrize(("what", "method", "request_args"), CASES, ids=[c[0] for c in CASES])
def test_with_and_without_origin_one_path_one_answer(what: str, method: str,
                                                     request_args: dict[str, Any]) -> None:
    idp = MockIdP()
    app = Counting(idp)
    client = Client(app)
    args = dict(request_args)
    path = args.pop("path")
    plain = _answer(client, method, path, None, **args)
    cross = _answer(client, method, path, ORIGIN, **args)
    assert app.answered == 2  # both through `ProtocolAdapter._answer`, none to Flask
    assert plain[0] == cross[0] and plain[1] == cross[1], (plain, cross)
    assert plain[0] != 200 or what == "jwks"
    cors = not what.startswith("authorize")  # authorize is no CORS endpoint: a browser goes there
    assert cross[2].get("access-control-allow-origin") == (ORIGIN if cors else None)
    assert {k: v for k, v in cross[2].items() if k not in CORS_HEADERS} == \
        {k: v for k, v in plain[2].items() if k not in CORS_HEADERS | {"date"}}


def test_successful_token_and_login_page_with_and_without_origin() -> None:
    idp = MockIdP()
    app = Counting(idp)
    client = Client(app)
    answers = []
    for origin in (None, ORIGIN):
        status, body, _ = _answer(client, "POST", "/default/token", origin,
                                  data={"grant_type": "client_credentials"},
                                  headers={"Authorization": BASIC})
        assert status == 200 and b'"access_token"' in body
        status, page, _ = _answer(client, "GET", "/default/authorize", origin, query_string={
            "client_id": "app", "redirect_uri": "http://127.0.0.1/cb",
            "response_type": "code"})
        assert status == 200 and b"<form" in page
        answers.append(re.sub(rb'value="[^"]*"', b"", page))
    assert answers[0] == answers[1]
    assert app.answered == 4


def test_preflight_and_cross_origin_token_never_import_flask() -> None:
    script = """
import sys, requests
from mockidp import MockIdP
origin = {"Origin": "http://localhost:5173"}
with MockIdP() as idp:
    token = idp.url + "/default/token"
    pre = requests.options(token, timeout=10, headers={
        **origin, "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204, pre.status_code
    assert pre.headers["Access-Control-Allow-Origin"] == origin["Origin"]
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    answer = requests.post(token, data={"grant_type": "client_credentials"},
                           auth=("svc", "s"), headers=origin, timeout=10)
    assert answer.status_code == 200 and "access_token" in answer.json(), answer.text
    assert answer.headers["Access-Control-Allow-Origin"] == origin["Origin"]
    print(sorted(m for m in ("flask", "werkzeug", "jinja2") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]", out


def test_create_app_is_the_adapter_in_front_of_flask() -> None:
    app = create_app(MockIdP())
    assert isinstance(app.wsgi_app, ProtocolAdapter)
    client = app.test_client()
    assert client.get("/_mockidp/health").status_code == 200
    assert client.get("/default/jwks").status_code == 200


def test_the_adapter_passes_every_flask_route_to_flask() -> None:
    app = create_app(MockIdP())
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<[^>]+>", "x", rule.rule)
        assert flask_serves(path), rule.rule
    assert not flask_serves("/default/token") and not flask_serves("/_mockidpx")


# -- the route table ---------------------------------------------------------------------------

INNER = Profile("inner", "/{issuer}", MappingProxyType({"token": "/token", "jwks": "/jwks"}))
OUTER = Profile("outer", "/{issuer}", MappingProxyType({"token": "/token",
                                                       "jwks": "/v2/jwks"}),
                metadata_root="/.well-known/oauth-authorization-server")


def test_the_longest_mount_wins() -> None:
    table = RouteTable().mount(GENERIC).mount(OUTER, "/t/acme", issuer="outer") \
        .mount(INNER, "/t/acme/v2", issuer="inner")
    # "/t/acme" + "/v2/jwks" and "/t/acme/v2" + "/jwks" are the same path: the deeper mount
    match = table.resolve("/t/acme/v2/jwks")
    assert match is not None and (match.issuer, match.route.name, match.mount) == \
        ("inner", "jwks", "/t/acme/v2")
    match = table.resolve("/t/acme/token")
    assert match is not None and (match.issuer, match.route.endpoint) == ("outer", "token")
    assert match.route.methods == ("POST",) and "OPTIONS" in match.route.allow
    assert match.path_of("jwks") == "/t/acme/v2/jwks"
    match = table.resolve("/.well-known/oauth-authorization-server/t/acme")
    assert match is not None and match.issuer == "outer" and match.route.name == METADATA_ROOT
    # the same order of mounting the other way round changes nothing
    other = RouteTable().mount(INNER, "/t/acme/v2", issuer="inner") \
        .mount(OUTER, "/t/acme", issuer="outer")
    found = other.resolve("/t/acme/v2/jwks")
    assert found is not None and found.issuer == "inner"
    assert table.mount_of("inner") == "/t/acme/v2" and table.mount_of("zed") == "/zed"


def test_a_longer_template_beats_a_shorter_one() -> None:
    table = RouteTable().mount(GENERIC).mount(INNER, "/realms/{issuer}")
    match = table.resolve("/realms/acme/token")
    assert match is not None and (match.issuer, match.profile.name) == ("acme", "inner")
    match = table.resolve("/acme/token")
    assert match is not None and (match.issuer, match.profile.name) == ("acme", "generic")


def test_unknown_paths_resolve_to_nothing() -> None:
    table = RouteTable().mount(GENERIC)
    for path in ("/", "/default", "/default/nope", "/default/token/extra", "//token",
                 "/a/b/token", "/.well-known/openid-configuration", "/token",
                 "/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-"
                 "server/a/b", "/default/authorize/login/x"):
        assert table.resolve(path) is None, path


def test_every_generic_endpoint_resolves() -> None:
    table = RouteTable().mount(GENERIC)
    for endpoint in ENDPOINTS:
        match = table.resolve(f"/some-issuer{endpoint.path}")
        assert match is not None and match.issuer == "some-issuer", endpoint.name
        assert match.route.endpoint == endpoint.name
        assert match.route.methods == endpoint.methods
        assert (match.route.cors, match.route.browser) == (endpoint.cors, endpoint.browser)
    root = table.resolve("/.well-known/oauth-authorization-server/some-issuer")
    assert root is not None and root.issuer == "some-issuer"
    assert (root.route.endpoint, root.route.cors, root.route.journaled) == \
        ("oauth_metadata", True, False)


def test_a_profile_path_is_never_a_generic_issuer_name() -> None:
    table = RouteTable().mount(GENERIC).mount(OUTER, "/tenants/acme", issuer="acme") \
        .mount(INNER, "/solo", issuer="solo")
    # "/tenants" and "/solo" belong to those mounts: not generic issuers called so
    assert table.resolve("/tenants/token") is None
    assert table.resolve("/solo/jwks") is not None
    assert table.resolve("/solo/userinfo") is None  # not in that profile; not generic either
    assert table.resolve("/tenants/acme/jwks") is None  # OUTER has /v2/jwks
    match = table.resolve("/tenants/acme/v2/jwks")
    assert match is not None and match.issuer == "acme"
    match = table.resolve("/elsewhere/userinfo")
    assert match is not None and match.issuer == "elsewhere"


# -- chunked bodies ----------------------------------------------------------------------------

def _chunked(data: bytes, size: int = 7) -> bytes:
    pieces = [data[i:i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def test_a_chunked_token_body_through_the_in_process_server() -> None:
    body = b"grant_type=client_credentials&scope=openid"
    with MockIdP() as idp:
        parts = urlsplit(idp.url)
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.sendall(b"POST /default/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         b"Content-Type: " + FORM.encode() + b"\r\nAuthorization: "
                         + BASIC.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + _chunked(body))
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        (call,) = idp.calls(endpoint="token")
    assert data.startswith(b"HTTP/1.1 200"), data[:300]
    assert b'"access_token"' in data
    assert call.params["scope"] == "openid" and call.client_id == "svc"


def _environ(body: bytes, **extra: Any) -> dict[str, Any]:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/default/token", "QUERY_STRING": "",
            "CONTENT_TYPE": FORM, "HTTP_AUTHORIZATION": BASIC, "HTTP_HOST": "localhost",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), **extra}


def _call(app: Any, environ: dict[str, Any]) -> tuple[str, bytes]:
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h: status.append(s)))
    return status[0], body


def test_a_body_without_length_is_read_to_its_end_within_the_limit() -> None:
    """What granian hands over for ``Transfer-Encoding: chunked``: no ``Content-Length``, a
    stream that ends with the body."""
    app = serving_app(MockIdP())
    status, body = _call(app, _environ(b"grant_type=client_credentials",
                                       HTTP_TRANSFER_ENCODING="chunked"))
    assert status == "200 OK" and b'"access_token"' in body
    status, body = _call(app, _environ(b"a=" + b"b" * MAX_BODY_BYTES,
                                       HTTP_TRANSFER_ENCODING="chunked"))
    assert status == "413 Request Entity Too Large", body
    # neither a length nor chunked: no body at all (the token endpoint then misses its grant)
    status, body = _call(app, _environ(b"grant_type=client_credentials"))
    assert status == "400 Bad Request" and b"grant_type" in body
