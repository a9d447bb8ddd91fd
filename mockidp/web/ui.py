"""Pages for people: the dashboard (``GET /``) and the token debugger (``GET/POST /debugger``).

Plain server-rendered HTML that works with JavaScript off and loads nothing from elsewhere.
Each page is one `MockIdP` call (`MockIdP.dashboard`, `MockIdP.inspect_token`) rendered by a
template.  They show the provider's state, so they follow the control API: not served with
``control=False`` (``--no-control``), and with a control token they need it, either as
``Authorization: Bearer <token>`` or as the ``mockidp_control`` cookie that the unlock form
(``POST /unlock``) sets.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from flask import Blueprint, Response, render_template, request

from mockidp.http.wire import NO_STORE
from mockidp.provider import MockIdP

CONTROL_COOKIE = "mockidp_control"
PAGES = ("/", "/debugger")  # where the unlock form may send the browser back to
MAX_REFRESH = 60


def pretty(value: Any) -> str:
    """JSON for people: indented, non-ASCII kept, anything odd as text."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def compact(value: Any) -> str:
    """JSON on one line, for table cells."""
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False, default=str)


def _base_url() -> str:
    return request.host_url.rstrip("/")


def _see_other(target: str) -> Response:
    return Response("", status=303, headers={"Location": target, **NO_STORE})


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=status, headers=NO_STORE)


def create_ui_blueprint(idp: MockIdP) -> Blueprint:
    """The dashboard and token debugger of ``idp`` (registered only when ``idp.control``)."""
    bp = Blueprint("ui", __name__)
    bp.add_app_template_filter(pretty, "pretty")
    bp.add_app_template_filter(compact, "compact")

    def presented(token: str) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        candidates = [request.cookies.get(CONTROL_COOKIE, "")]
        if scheme.lower() == "bearer":
            candidates.append(value.strip())
        return any(hmac.compare_digest(c.encode(), token.encode()) for c in candidates if c)

    def locked(error: str | None = None) -> Response:
        target = request.path if request.path in PAGES else "/"
        response = _page("unlock.html", 401, next=target, error=error)
        response.headers["WWW-Authenticate"] = 'Bearer realm="mockidp-control"'
        return response

    @bp.before_request
    def require_token() -> Response | None:
        token = idp.control_token
        if token is None or request.endpoint == "ui.unlock" or presented(token):
            return None
        return locked()

    @bp.post("/unlock")
    def unlock() -> Response:
        token = idp.control_token
        target = request.form.get("next", "/")
        target = target if target in PAGES else "/"
        if token is None:
            return _see_other(target)
        given = request.form.get("control_token", "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return locked("That is not the control token.")
        response = _see_other(target)
        response.set_cookie(CONTROL_COOKIE, token, path="/", httponly=True, samesite="Strict",
                            secure=request.is_secure)
        return response

    @bp.get("/")
    def dashboard() -> Response:
        refresh = request.args.get("refresh", "")
        seconds = int(refresh) if refresh.isdigit() and len(refresh) <= 2 else None
        seconds = seconds if seconds and seconds <= MAX_REFRESH else None
        return _page("dashboard.html", data=idp.dashboard(_base_url()), refresh=seconds)

    @bp.route("/debugger", methods=["GET", "POST"])
    def debugger() -> Response:
        token = request.form.get("token", "") if request.method == "POST" else ""
        result = idp.inspect_token(token, _base_url()) if request.method == "POST" else None
        return _page("debugger.html", token=token, result=result)

    return bp
