"""A WSGI front for the hot JSON protocol endpoints: token, JWKS, discovery, userinfo,
introspection and revocation.

It sits in front of the Flask app and answers the plain, well-formed requests to those
endpoints with one core call and a prepared response, skipping Flask's request machinery.
The servers run it with `FlaskOnDemand` behind it (`serving_app`), so Flask is imported only
when a request needs it.  Everything else goes to Flask unchanged: other paths, preflights
and cross-origin requests (CORS lives in one place), and any request whose body or query is
not plain UTF-8 form data within the size limit (so every refusal keeps one implementation).
The answers are the same either way; tests run both paths.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from mockidp.core.errors import OAuthError, ScriptedFault
from mockidp.core.model import (
    ENDPOINTS_BY_NAME,
    DiscoveryRequest,
    EndpointRequest,
    IntrospectRequest,
    JwksRequest,
    Params,
    RevokeRequest,
    TokenRequest,
    UserinfoRequest,
)
from mockidp.http.wire import (
    MAX_BODY_BYTES,
    MAX_FIELDS,
    error_parts,
    fault_parts,
)
from mockidp.tokens.signer import compact_json

if TYPE_CHECKING:
    from mockidp.provider import MockIdP

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
FORM = "application/x-www-form-urlencoded"
log = logging.getLogger("mockidp")
_NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]


def _status(code: int) -> str:
    if code == 200:
        return "200 OK"
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


def _form_pairs(text: str, max_fields: int) -> list[tuple[str, str]]:
    """``parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=...)``,
    split by hand when nothing in it is escaped (the usual token request)."""
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True, errors="strict",
                         max_num_fields=max_fields)
    if text.count("&") >= max_fields:
        raise ValueError("Max number of fields exceeded")
    return [(name, value) for name, _, value in
            (piece.partition("=") for piece in text.split("&") if piece)]


class FlaskOnDemand:
    """The Flask app (pages, control API, CORS, every refusal), made on the first request
    the front passes on: a server that only answers the hot endpoints never imports Flask,
    so it starts sooner and stays smaller."""

    def __init__(self, idp: MockIdP) -> None:
        self.idp = idp
        self._app: WSGIApp | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        return (self._app or self.make())(environ, start_response)

    def make(self) -> WSGIApp:
        """The Flask app's WSGI callable, made once (also callable ahead of need)."""
        with self._lock:
            if self._app is None:
                from mockidp.web.app import flask_app

                self._app = flask_app(self.idp).wsgi_app
            return self._app


def serving_app(idp: MockIdP) -> ProtocolFront:
    """The WSGI app the servers run: the front, with Flask made when first needed."""
    return ProtocolFront(idp, FlaskOnDemand(idp), MAX_BODY_BYTES, MAX_FIELDS)


class ProtocolFront:
    """WSGI middleware: fast answers for hot protocol endpoints, Flask for the rest."""

    def __init__(self, idp: MockIdP, app: WSGIApp, max_body: int, max_fields: int) -> None:
        self.idp = idp
        self.app = app
        self.max_body = max_body
        self.max_fields = max_fields
        self._jwks_source: object = None
        self._jwks_bytes = b""
        self._prepared: dict[int, tuple[object, bytes]] = {}  # discovery documents
        hot: dict[tuple[str, str], tuple[str, type[EndpointRequest], bool]] = {}
        for name, kind, no_store in (
            ("token", TokenRequest, True),
            ("jwks", JwksRequest, False),
            ("discovery", DiscoveryRequest, False),
            ("oauth_metadata", DiscoveryRequest, False),
            ("userinfo", UserinfoRequest, True),
            ("introspect", IntrospectRequest, True),
            ("revoke", RevokeRequest, True),
        ):
            endpoint = ENDPOINTS_BY_NAME[name]
            for method in endpoint.methods:
                hot[(method, endpoint.path)] = (name, kind, no_store)
        self.hot = hot

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or ""
        method = environ.get("REQUEST_METHOD") or ""
        slash = path.find("/", 1)
        route = self.hot.get((method, path[slash:])) if slash > 1 else None
        if route is None or "HTTP_ORIGIN" in environ:
            return self.app(environ, start_response)
        params = self._params(environ, method)
        if params is None:
            return self.app(environ, start_response)
        name, kind, no_store = route
        req = kind(
            issuer=path[1:slash],
            base_url=f"{environ.get('wsgi.url_scheme', 'http')}://"
                     f"{environ.get('HTTP_HOST') or environ.get('SERVER_NAME', '')}",
            method=method,
            params=params,
            authorization=environ.get("HTTP_AUTHORIZATION"),
            path=path,
            dpop=environ.get("HTTP_DPOP"),
        )
        try:
            body, content_type = self._answer(name, req)
        except OAuthError as error:
            return self._send(start_response, *error_parts(error))
        except ScriptedFault as fault:
            return self._send(start_response, *fault_parts(fault, environ))
        except Exception:
            log.exception("mockidp: unexpected error on %s %s", method, path)
            return self._send(start_response, 500, [("Content-Type", "application/json"),
                                                    *_NO_STORE],
                              b'{"error":"server_error","error_description":'
                              b'"unexpected error; see the mockidp log"}')
        headers = [("Content-Type", content_type)]
        if no_store:
            headers.extend(_NO_STORE)
        return self._send(start_response, 200, headers, body)

    def _answer(self, name: str, req: Any) -> tuple[bytes, str]:
        idp = self.idp
        if name == "token":
            return compact_json(idp.token(req)).encode(), "application/json"
        if name == "jwks":
            document = idp.jwks_document(req)
            if document is not self._jwks_source:  # prepared bytes until the keys change
                self._jwks_bytes = compact_json(document).encode()
                self._jwks_source = document
            return self._jwks_bytes, "application/jwk-set+json"
        if name == "discovery":
            document = idp.discovery(req)
            body = self._prepared.get(id(document))
            if body is None or body[0] is not document:
                body = (document, compact_json(document).encode())
                if len(self._prepared) < 64:
                    self._prepared[id(document)] = body
            return body[1], "application/json"
        if name == "oauth_metadata":
            return compact_json(idp.oauth_metadata(req)).encode(), "application/json"
        if name == "userinfo":
            return compact_json(idp.userinfo(req)).encode(), "application/json"
        if name == "introspect":
            return compact_json(idp.introspect(req)).encode(), "application/json"
        idp.revoke(req)
        return b"{}", "application/json"

    def _params(self, environ: dict[str, Any], method: str) -> Params | None:
        """Plain UTF-8 form parameters, or None to let Flask handle (and refuse) it."""
        try:
            if method != "POST":
                query = environ.get("QUERY_STRING") or ""
                if isinstance(query, bytes):
                    query = query.decode("utf-8")
                else:
                    query = query.encode("latin-1").decode("utf-8")
                return Params(_form_pairs(query, self.max_fields))
            length_text = environ.get("CONTENT_LENGTH") or "0"
            length = int(length_text)
            if length > self.max_body or length < 0:
                return None
            mimetype = (environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
            if length and mimetype != FORM:
                return None
            raw = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(raw)  # Flask can still read it if we decline
            if len(raw) != length:
                return None
            return Params(_form_pairs(raw.decode("utf-8"), self.max_fields))
        except (UnicodeError, ValueError):
            return None

    @staticmethod
    def _send(start_response: Callable[..., Any], status: int,
              headers: list[tuple[str, str]], body: bytes) -> list[bytes]:
        headers.append(("Content-Length", str(len(body))))
        start_response(_status(status), headers)
        return [body]
