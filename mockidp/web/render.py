"""The Flask side's answers: JSON bodies (the control API) and error pages.  The protocol's
wire formats live in `mockidp.http.wire`; the cookie names are re-exported from there."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from mockidp.core.model import ErrorPage
from mockidp.http.wire import HTML, NO_STORE, RECENT_COOKIE, SESSION_COOKIE
from mockidp.web.pages import Pages

__all__ = ["RECENT_COOKIE", "SESSION_COOKIE", "error_page", "json_response"]


def json_response(body: Any, status: int = 200, *, no_store: bool = False) -> Response:
    """A JSON response; ``no_store`` adds the RFC 6749 §5.1 cache headers."""
    response = Response(
        json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json"
    )
    if no_store:
        response.headers.update(NO_STORE)
    return response


def error_page(pages: Pages, error: str, description: str, status: int) -> Response:
    """An HTML error page (the dashboard's paths)."""
    html = pages.render(ErrorPage(status, error, description), "")
    return Response(html, status=status, headers=NO_STORE, content_type=HTML)
