"""The Flask app factory: protocol routes, error rendering and CORS.

Thin by design: each view parses the request into a `mockidp.model` request object, makes one
`MockIdP` call and serialises the result.  Flask finds the core in
``app.extensions["mockidp"]``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from mockidp.core.errors import OAuthError, ScriptedFault
from mockidp.core.model import (
    ENDPOINTS,
    ENDPOINTS_BY_NAME,
    AuthorizeRequest,
    ConsentRequest,
    DeviceAuthorizationRequest,
    DeviceRequest,
    DiscoveryRequest,
    EndpointRequest,
    EndSessionRequest,
    IntrospectRequest,
    JwksRequest,
    LoginRequest,
    PushedAuthorizationRequest,
    RegistrationRequest,
    RevokeRequest,
    TokenRequest,
    UserinfoRequest,
)
from mockidp.http.adapter import ProtocolFront
from mockidp.http.wire import (
    MAX_BODY_BYTES,
    MAX_FIELDS,
    fault_parts,
)
from mockidp.provider import MockIdP
from mockidp.web.control import create_control_blueprint
from mockidp.web.parsing import (
    json_body,
    refuse_oversized,
    request_params,
    string_members,
)
from mockidp.web.render import (
    RECENT_COOKIE,
    SESSION_COOKIE,
    browser_response,
    device_response,
    error_page,
    json_response,
    oauth_error_response,
    read_recent,
)
from mockidp.web.ui import create_ui_blueprint

CORS_ENDPOINTS = frozenset(e.name for e in ENDPOINTS if e.cors) | {"oauth_metadata_root"}
BROWSER_ENDPOINTS = frozenset(e.name for e in ENDPOINTS if e.browser)
CORS_ALLOW_HEADERS = "Authorization, Content-Type, DPoP, X-Requested-With"
CORS_EXPOSE_HEADERS = "WWW-Authenticate, DPoP-Nonce"
_STATUS_ERRORS = {404: "not_found", 405: "invalid_request", 413: "invalid_request"}
log = logging.getLogger("mockidp")


def _base_url() -> str:
    return request.host_url.rstrip("/")


def _build(kind: type[EndpointRequest], issuer: str) -> Any:
    params = request_params(request)
    request._mockidp_seen = True  # type: ignore[attr-defined]  # the core journals it now
    return kind(
        issuer=issuer,
        base_url=_base_url(),
        method=request.method,
        params=params,
        path=request.path,
        authorization=request.headers.get("Authorization"),
        session_id=request.cookies.get(SESSION_COOKIE),
        dpop=request.headers.get("DPoP"),
        recent=read_recent(request.cookies.get(RECENT_COOKIE)),
    )


BROWSER_SUFFIXES = frozenset(e.path for e in ENDPOINTS if e.browser)
PAGE_PATHS = frozenset({"/", "/debugger", "/unlock"})


def _is_page(endpoint: str | None, path: str) -> bool:
    """Whether an error at ``path`` is for a person in a browser (an HTML page) rather than
    for a program (RFC JSON), also when routing failed (404, 405)."""
    if endpoint in BROWSER_ENDPOINTS or (endpoint or "").startswith("ui."):
        return True
    if path in PAGE_PATHS:
        return True
    slash = path.find("/", 1)
    return slash > 1 and path[slash:] in BROWSER_SUFFIXES


def create_app(idp: MockIdP) -> Flask:
    """A Flask app serving ``idp``'s issuers at ``/{issuer}/...``, the hot JSON endpoints
    answered by `fast.ProtocolFront` in front of it (as the servers run it)."""
    app = flask_app(idp)
    app.wsgi_app = ProtocolFront(  # type: ignore[method-assign]
        idp, app.wsgi_app, MAX_BODY_BYTES, MAX_FIELDS
    )
    return app


def flask_app(idp: MockIdP) -> Flask:
    """The Flask app alone: every route, error rendering and CORS."""
    app = Flask(__name__, template_folder="templates", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["mockidp"] = idp

    def discovery(issuer: str) -> Response:
        return json_response(idp.discovery(_build(DiscoveryRequest, issuer)))

    def oauth_metadata(issuer: str) -> Response:
        return json_response(idp.oauth_metadata(_build(DiscoveryRequest, issuer)))

    def jwks(issuer: str) -> Response:
        response = json_response(idp.jwks_document(_build(JwksRequest, issuer)))
        response.headers["Content-Type"] = "application/jwk-set+json"
        return response

    def authorize(issuer: str) -> Response:
        outcome = idp.authorize(_build(AuthorizeRequest, issuer))
        return browser_response(outcome, issuer, after_post=request.method == "POST")

    def par(issuer: str) -> Response:
        answer = idp.pushed_authorization(_build(PushedAuthorizationRequest, issuer))
        return json_response(answer, 201, no_store=True)  # RFC 9126 §2.2: 201 Created

    def login(issuer: str) -> Response:
        return browser_response(idp.login(_build(LoginRequest, issuer)), issuer, True)

    def consent(issuer: str) -> Response:
        return browser_response(idp.consent(_build(ConsentRequest, issuer)), issuer, True)

    def token(issuer: str) -> Response:
        return json_response(idp.token(_build(TokenRequest, issuer)), no_store=True)

    def userinfo(issuer: str) -> Response:
        return json_response(idp.userinfo(_build(UserinfoRequest, issuer)), no_store=True)

    def introspect(issuer: str) -> Response:
        return json_response(idp.introspect(_build(IntrospectRequest, issuer)), no_store=True)

    def revoke(issuer: str) -> Response:
        idp.revoke(_build(RevokeRequest, issuer))
        return json_response({}, no_store=True)

    def endsession(issuer: str) -> Response:
        outcome = idp.end_session(_build(EndSessionRequest, issuer))
        return browser_response(outcome, issuer, after_post=request.method == "POST")

    def device_authorization(issuer: str) -> Response:
        answer = idp.device_authorization(_build(DeviceAuthorizationRequest, issuer))
        return json_response(answer, no_store=True)

    def device(issuer: str) -> Response:
        return device_response(idp.device_verification(_build(DeviceRequest, issuer)), issuer)

    def register(issuer: str) -> Response:
        metadata, problem = json_body(request)
        request._mockidp_seen = True  # type: ignore[attr-defined]  # the core journals it now
        registration = RegistrationRequest(
            issuer=issuer, base_url=_base_url(), method=request.method,
            params=string_members(metadata), path=request.path,
            authorization=request.headers.get("Authorization"), metadata=metadata,
            body_error=problem,
        )
        return json_response(idp.register(registration), 201, no_store=True)  # RFC 7591 §3.2.1

    views: dict[str, Callable[[str], Response]] = {
        "discovery": discovery,
        "oauth_metadata": oauth_metadata,
        "jwks": jwks,
        "authorize": authorize,
        "par": par,
        "login": login,
        "consent": consent,
        "token": token,
        "userinfo": userinfo,
        "introspect": introspect,
        "revoke": revoke,
        "endsession": endsession,
        "device_authorization": device_authorization,
        "device": device,
        "register": register,
    }
    for endpoint in ENDPOINTS:
        app.add_url_rule(
            f"/<issuer>{endpoint.path}",
            endpoint=endpoint.name,
            view_func=views[endpoint.name],
            methods=list(endpoint.methods),
        )
    # RFC 8414 §3: the well-known path is inserted between host and issuer path.
    app.add_url_rule(
        "/.well-known/oauth-authorization-server/<issuer>",
        endpoint="oauth_metadata_root",
        view_func=oauth_metadata,
        methods=["GET"],
    )

    if idp.control:
        app.register_blueprint(create_control_blueprint(idp))
        app.register_blueprint(create_ui_blueprint(idp))  # dashboard and token debugger

    def journal_rejection(status: int, error: str) -> None:
        """Requests the HTTP layer refused before the core saw them still go in the journal."""
        issuer = (request.view_args or {}).get("issuer")
        endpoint = request.endpoint or ""
        if issuer and endpoint in ENDPOINTS_BY_NAME and not getattr(request, "_mockidp_seen",
                                                                     False):
            with contextlib.suppress(OAuthError):
                idp.record_rejection(
                    EndpointRequest(issuer=issuer, base_url=_base_url(), method=request.method,
                                    path=request.path),
                    endpoint, status, error,
                )

    @app.errorhandler(ScriptedFault)
    def on_fault(fault: ScriptedFault) -> Response:
        status, headers, body = fault_parts(fault, request.environ)
        return Response(body, status=status, headers=headers)

    @app.errorhandler(OAuthError)
    def on_oauth_error(error: OAuthError) -> Response:
        journal_rejection(error.status, error.error)
        if request.endpoint in BROWSER_ENDPOINTS:
            return error_page(error.error, error.description, error.status)
        return oauth_error_response(error)

    @app.before_request
    def limit_body() -> None:
        """Every route: a body over the limit is 413, after reading what was sent."""
        refuse_oversized(request)

    @app.errorhandler(HTTPException)
    def on_http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _STATUS_ERRORS.get(status, "invalid_request" if status < 500 else "server_error")
        description = error.description or ""
        if status == 413:
            description = f"request body is larger than {MAX_BODY_BYTES} bytes"
        elif status == 405:
            allowed = error.get_response().headers.get("Allow", "")
            description = f"method {request.method} is not allowed here; allowed: {allowed}"
        elif status == 404:
            description = f"no such endpoint: {request.path}"
        journal_rejection(status, code)
        if _is_page(request.endpoint, request.path):
            response = error_page(code, description, status)
        else:
            response = json_response({"error": code, "error_description": description},
                                     status, no_store=True)
        for name, value in error.get_response().headers.items():
            if name.lower() == "allow":
                response.headers["Allow"] = value
        return response

    @app.errorhandler(Exception)
    def on_unexpected(error: Exception) -> Response:
        log.exception("mockidp: unexpected error on %s %s", request.method, request.path)
        return json_response(
            {"error": "server_error", "error_description": "unexpected error; see the mockidp log"},
            500,
            no_store=True,
        )

    @app.after_request
    def cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin and request.endpoint in CORS_ENDPOINTS:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
            response.vary.add("Origin")
            if request.method == "OPTIONS":
                endpoint = ENDPOINTS_BY_NAME.get(request.endpoint or "")
                methods = endpoint.methods if endpoint else ("GET",)
                response.headers["Access-Control-Allow-Methods"] = ", ".join(
                    (*methods, "OPTIONS")
                )
                response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                    "Access-Control-Request-Headers", CORS_ALLOW_HEADERS
                )
                response.headers["Access-Control-Max-Age"] = "600"
                response.status_code = 204
                response.set_data(b"")
        return response

    return app
