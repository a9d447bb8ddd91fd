"""Serialise core results: JSON bodies, RFC error bodies, browser outcomes as HTTP."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from flask import Response, render_template

from mockidp.core.errors import OAuthError
from mockidp.core.model import (
    BrowserOutcome,
    ConsentPage,
    DevicePage,
    ErrorPage,
    FormPost,
    LoginPage,
    Redirect,
    SessionChange,
    SignedOutPage,
)
from mockidp.http.wire import NO_STORE, error_parts

SESSION_COOKIE = "mockidp_session"
RECENT_COOKIE = "mockidp_recent"  # usernames this browser logged in as lately, per issuer
RECENT_COOKIE_MAX = 2048


def json_response(body: Any, status: int = 200, *, no_store: bool = False) -> Response:
    """A JSON response; ``no_store`` adds the RFC 6749 §5.1 cache headers."""
    response = Response(
        json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json"
    )
    if no_store:
        response.headers.update(NO_STORE)
    return response


def oauth_error_response(error: OAuthError) -> Response:
    """`error_parts` as a Flask response."""
    status, headers, body = error_parts(error)
    return Response(body, status=status, headers=headers)


def error_page(error: str, description: str, status: int) -> Response:
    """An HTML error page (browser-facing endpoints)."""
    page = ErrorPage(status, error, description)
    return Response(render_template("error.html", page=page), status=status, headers=NO_STORE)


def read_recent(value: str | None) -> tuple[str, ...]:
    """The recent-logins cookie as the list it stores (base64url of a JSON list); anything
    else reads as empty.  The core checks the entries again."""
    if not value or len(value) > RECENT_COOKIE_MAX:
        return ()
    try:
        items = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return ()
    if not isinstance(items, list):
        return ()
    return tuple(item for item in items if isinstance(item, str))


def write_recent(items: tuple[str, ...]) -> str:
    """The cookie value for a list of recent logins (`read_recent` reads it back)."""
    raw = json.dumps(list(items), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _apply_session(response: Response, change: SessionChange | None) -> None:
    if change is None:
        return
    path = f"/{change.issuer}/"
    if change.recent is not None:
        value = write_recent(change.recent)
        if len(value) <= RECENT_COOKIE_MAX:
            response.set_cookie(RECENT_COOKIE, value, max_age=400 * 86400, path=path,
                                httponly=True, samesite="Lax")
    if change.session_id is None:
        response.delete_cookie(SESSION_COOKIE, path=path, httponly=True, samesite="Lax")
    else:
        response.set_cookie(
            SESSION_COOKIE, change.session_id, max_age=change.max_age or None, path=path,
            httponly=True, samesite="Lax",
        )


def browser_response(outcome: BrowserOutcome, issuer: str, after_post: bool) -> Response:
    """Render a browser outcome: redirect, form post, login page, error or signed-out page."""
    response: Response
    if isinstance(outcome, Redirect):
        response = Response("", status=303 if after_post else 302, headers=NO_STORE)
        response.headers["Location"] = outcome.location
        _apply_session(response, outcome.session)
    elif isinstance(outcome, FormPost):
        response = Response(render_template("form_post.html", page=outcome), headers=NO_STORE)
        _apply_session(response, outcome.session)
    elif isinstance(outcome, LoginPage):
        response = Response(
            render_template(
                "login.html", page=outcome, action=f"/{issuer}/authorize/login"
            ),
            status=outcome.status,
            headers=NO_STORE,
        )
    elif isinstance(outcome, ConsentPage):
        response = Response(
            render_template("consent.html", page=outcome,
                            action=f"/{issuer}/authorize/consent"),
            status=outcome.status,
            headers=NO_STORE,
        )
        _apply_session(response, outcome.session)
    elif isinstance(outcome, SignedOutPage):
        response = Response(render_template("signed_out.html", page=outcome), headers=NO_STORE)
        _apply_session(response, outcome.session)
    else:
        response = error_page(outcome.error, outcome.description, outcome.status)
    return response


def device_response(page: DevicePage | ErrorPage, issuer: str) -> Response:
    """The device verification page (RFC 8628 §3.3) at its step, or an error page."""
    if isinstance(page, ErrorPage):
        return error_page(page.error, page.description, page.status)
    return Response(render_template("device.html", page=page, action=f"/{issuer}/device"),
                    status=page.status, headers=NO_STORE)
