"""The Flask app: the control API (``/_mockidp/...``), the dashboard and token debugger
(`mockidp.web.ui`) and the OpenAPI documents, with their error rendering.

The protocol endpoints are not here: `mockidp.http.adapter.ProtocolAdapter` answers them in
front of this app (`create_app` puts it there, as the servers run it).  Flask finds the core
in ``app.extensions["mockidp"]``.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from mockidp.core.errors import OAuthError
from mockidp.http.adapter import ProtocolAdapter
from mockidp.http.body import BodyTooLarge, refuse_oversized
from mockidp.http.wire import MAX_BODY_BYTES, SERVER_ERROR_BODY, error_parts
from mockidp.provider import Provider
from mockidp.web.control import create_control_blueprint
from mockidp.web.guard import refusal
from mockidp.web.pages import Pages
from mockidp.web.paths import PAGE_PATHS, FlaskPaths
from mockidp.web.render import error_page, json_response
from mockidp.web.ui import create_ui_blueprint

__all__ = ["MAX_BODY_BYTES", "create_app", "flask_app"]
_STATUS_ERRORS = {404: "not_found", 405: "invalid_request", 413: "invalid_request"}
log = logging.getLogger("mockidp")


def _is_page(endpoint: str | None, path: str) -> bool:
    """Whether an error at ``path`` is for a person in a browser (an HTML page) rather than
    for a program (JSON), also when routing failed (404, 405)."""
    return (endpoint or "").startswith("ui.") or path in PAGE_PATHS


def create_app(idp: Provider) -> Flask:
    """The Flask app for ``idp`` with the protocol adapter in front of it (its ``wsgi_app``
    is the whole server, as the servers run it: for Flask's test client)."""
    app = flask_app(idp)
    app.wsgi_app = ProtocolAdapter(  # type: ignore[method-assign]
        idp, renderer=Pages(), fallback=FlaskPaths(app.wsgi_app))
    return app


def flask_app(idp: Provider) -> Flask:
    """The Flask app alone: control API, pages, OpenAPI documents, error rendering."""
    app = Flask(__name__, template_folder="templates", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["mockidp"] = idp
    pages = Pages()

    if idp.control:
        app.register_blueprint(create_control_blueprint(idp))
        app.register_blueprint(create_ui_blueprint(idp))  # dashboard and token debugger

    @app.errorhandler(OAuthError)
    def on_oauth_error(error: OAuthError) -> Response:
        status, headers, body = error_parts(error)
        return Response(body, status=status, headers=headers)

    @app.before_request
    def limit_body() -> None:
        """Every route: a body over the limit is 413, after reading what was sent."""
        try:
            refuse_oversized(request.environ)
        except BodyTooLarge:
            raise RequestEntityTooLarge() from None

    @app.before_request
    def guard() -> Response | None:
        """Without a control token, no other site or rebinding host may script the provider
        (`mockidp.web.guard`): 403, as JSON for the control API, as a page for people."""
        if idp.control_token is not None or request.routing_exception is not None:
            return None  # the token protects it; a 404 or 405 answers as it is
        refused = refusal(request.method, request.path, dict(request.headers),
                          request.scheme, idp.allowed_hosts, idp.public_url)
        if refused is None:
            return None
        status, error, why = refused
        if _is_page(request.endpoint, request.path):
            return error_page(pages, error, why, status)
        return json_response({"error": error, "error_description": why}, status,
                             no_store=True)

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
        if _is_page(request.endpoint, request.path):
            response = error_page(pages, code, description, status)
        else:
            response = json_response({"error": code, "error_description": description},
                                     status, no_store=True)
        for name, value in error.get_response().headers.items():
            if name.lower() == "allow":
                response.headers["Allow"] = value
        return response

    @app.errorhandler(Exception)
    def on_unexpected(error: Exception) -> Response:
        lost = idp.unavailable(error)  # the shared store: 503 temporarily_unavailable
        if lost is not None:
            return on_oauth_error(lost)
        log.exception("mockidp: unexpected error on %s %s", request.method, request.path)
        response = Response(SERVER_ERROR_BODY, status=500, mimetype="application/json")
        response.headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
        return response

    return app
