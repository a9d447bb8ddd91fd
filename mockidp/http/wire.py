"""Every wire format of the protocol endpoints, decided here and nowhere else: status lines,
content types, the no-store headers, 302 or 303 (303 after a POST), 201, the session and
recent-logins cookies, CORS headers, RFC 6749 §5.2 error bodies, refusals (404, 405, 413),
scripted faults and pages.

Answers are ``(status, headers, body)`` triples.  Pages are HTML from a `PageRenderer` that
the caller hands in (``mockidp.web.pages``): this module imports no framework.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, Protocol

from mockidp.core.errors import OAuthError, ScriptedFault
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
    outcome_status,
)
from mockidp.tokens.jose import b64url_decode, b64url_encode, compact_json

MAX_BODY_BYTES = 64 * 1024  # a request body over this is refused with 413
MAX_FIELDS = 100  # form or query parameters in one request
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
HTML = "text/html; charset=utf-8"
SESSION_COOKIE = "mockidp_session"
RECENT_COOKIE = "mockidp_recent"  # usernames this browser logged in as lately, per issuer
RECENT_COOKIE_MAX = 2048
RECENT_MAX_AGE = 400 * 86400
CORS_ALLOW_HEADERS = "Authorization, Content-Type, DPoP, X-Requested-With"
CORS_EXPOSE_HEADERS = "WWW-Authenticate, DPoP-Nonce"
CORS_MAX_AGE = "600"
SERVER_ERROR_BODY = (b'{"error":"server_error","error_description":'
                     b'"unexpected error; see the mockidp log"}')

Headers = list[tuple[str, str]]
Answer = tuple[int, Headers, bytes]
Page = LoginPage | ConsentPage | ErrorPage | SignedOutPage | DevicePage | FormPost


class PageRenderer(Protocol):
    """Renders a page outcome as HTML; ``action`` is where its form posts ("" if none)."""

    def render(self, page: Page, action: str) -> str: ...


def status_line(code: int) -> str:
    """``200 OK``: the WSGI status of ``code``."""
    if code == 200:
        return "200 OK"
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


def json_parts(body: bytes, status: int = 200, content_type: str = "application/json",
               no_store: bool = True) -> Answer:
    """A JSON answer; ``no_store`` adds the RFC 6749 §5.1 cache headers."""
    headers = [("Content-Type", content_type)]
    if no_store:
        headers.extend(NO_STORE.items())
    return status, headers, body


def error_parts(error: OAuthError, body: Mapping[str, Any] | None = None) -> Answer:
    """RFC 6749 §5.2 error JSON (or ``body``, a profile's shape of it) with no-store headers
    and any ``WWW-Authenticate`` (and other headers the error needs), as status, headers and
    body."""
    headers = [("Content-Type", "application/json"), *NO_STORE.items()]
    if error.www_authenticate:
        headers.append(("WWW-Authenticate", error.www_authenticate))
    headers.extend(error.headers.items())
    return error.status, headers, compact_json(error.body() if body is None else body).encode()


def fault_parts(fault: ScriptedFault, environ: Mapping[str, Any]) -> Answer:
    """A scripted raw fault as status, headers and body; for ``close``, the connection is
    shut down first through the server's ``mockidp.abort`` hook (`mockidp.serve` sets it;
    where no server does, the client gets an empty 500)."""
    if fault.close:
        abort = environ.get("mockidp.abort")
        if abort is not None:
            abort()
        return 500, [], b""
    return fault.status, [("Content-Type", fault.content_type)], fault.body


def server_error_parts() -> Answer:
    """The answer to a bug (the traceback goes to the log, never to the client)."""
    return json_parts(SERVER_ERROR_BODY, 500)


# Pages where a click decides something (log in as, allow, approve a device) are never shown
# in a frame of another site: RFC 7034 and CSP Level 2 frame-ancestors, against clickjacking
# (OIDC Core §3.1.2.1 leaves framing to the provider).  Silent renew is unaffected: with a
# session, ``prompt=none`` answers a redirect, not a page.
NO_FRAMING = (("X-Frame-Options", "DENY"), ("Content-Security-Policy", "frame-ancestors 'none'"))


def page_parts(html: str, status: int = 200, cookies: Headers | None = None,
               framing: bool = True) -> Answer:
    """An HTML page, never cached; with ``framing`` false, never framed (`NO_FRAMING`)."""
    headers = [("Content-Type", HTML), *NO_STORE.items(), *(cookies or ())]
    if not framing:
        headers.extend(NO_FRAMING)
    return status, headers, html.encode("utf-8")


def error_page_parts(renderer: PageRenderer, status: int, error: str,
                     description: str) -> Answer:
    """An error shown to a person (browser-facing endpoints, RFC 6749 §4.1.2.1)."""
    return page_parts(renderer.render(ErrorPage(status, error, description), ""), status)


def refusal_parts(renderer: PageRenderer, page: bool, status: int, error: str,
                  description: str) -> Answer:
    """A refusal of the HTTP layer: an error page for people, else RFC 6749 §5.2 JSON."""
    if page:
        return error_page_parts(renderer, status, error, description)
    return json_parts(compact_json({"error": error, "error_description": description})
                      .encode(), status)


def not_found_parts(path: str) -> Answer:
    """404 for a path no route knows (always JSON: people's pages are not protocol paths)."""
    return json_parts(compact_json({"error": "not_found",
                                    "error_description": f"no such endpoint: {path}"})
                      .encode(), 404)


def method_not_allowed_parts(renderer: PageRenderer, page: bool, method: str,
                             allow: str) -> Answer:
    """405 with ``Allow`` (RFC 9110 §15.5.6)."""
    status, headers, body = refusal_parts(
        renderer, page, 405, "invalid_request",
        f"method {method} is not allowed here; allowed: {allow}")
    headers.append(("Allow", allow))
    return status, headers, body


def too_large_parts(renderer: PageRenderer, page: bool) -> Answer:
    """413 for a body over `MAX_BODY_BYTES`."""
    return refusal_parts(renderer, page, 413, "invalid_request",
                         f"request body is larger than {MAX_BODY_BYTES} bytes")


def options_parts(allow: str) -> Answer:
    """The answer to ``OPTIONS`` that is no CORS preflight: the allowed methods."""
    return 200, [("Content-Type", HTML), ("Allow", allow)], b""


def add_cors(answer: Answer, origin: str, preflight: bool, methods: tuple[str, ...],
             request_headers: str | None) -> Answer:
    """The CORS headers for a request from ``origin`` (any origin may read these endpoints,
    credentials included); a preflight becomes 204 with the allowed methods and headers."""
    status, headers, body = answer
    headers.extend((("Access-Control-Allow-Origin", origin),
                    ("Access-Control-Allow-Credentials", "true"),
                    ("Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS),
                    ("Vary", "Origin")))
    if preflight:
        headers = [h for h in headers if h[0] != "Content-Type"]
        headers.extend((("Access-Control-Allow-Methods", ", ".join((*methods, "OPTIONS"))),
                        ("Access-Control-Allow-Headers", request_headers or CORS_ALLOW_HEADERS),
                        ("Access-Control-Max-Age", CORS_MAX_AGE)))
        return 204, headers, b""
    return status, headers, body


# -- cookies -----------------------------------------------------------------------------------

def read_cookies(header: str | None) -> dict[str, str]:
    """The ``Cookie`` header as name -> value (the first of a name wins; quotes removed)."""
    cookies: dict[str, str] = {}
    for piece in (header or "").split(";"):
        name, sep, value = piece.partition("=")
        name = name.strip()
        if not sep or not name or name in cookies:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = value
    return cookies


def read_recent(value: str | None) -> tuple[str, ...]:
    """The recent-logins cookie as the list it stores (base64url of a JSON list); anything
    else reads as empty.  The core checks the entries again."""
    if not value or len(value) > RECENT_COOKIE_MAX:
        return ()
    try:
        items = json.loads(b64url_decode(value, "cookie"))
    except (ValueError, RecursionError):  # MalformedJose and JSONDecodeError are ValueErrors
        return ()
    if not isinstance(items, list):
        return ()
    return tuple(item for item in items if isinstance(item, str))


def write_recent(items: tuple[str, ...]) -> str:
    """The cookie value for a list of recent logins (`read_recent` reads it back)."""
    return b64url_encode(json.dumps(list(items), separators=(",", ":")).encode())


def _cookie(name: str, value: str, path: str, max_age: int | None) -> tuple[str, str]:
    parts = [f"{name}={value}"]
    if max_age is not None:
        from email.utils import formatdate  # only for cookies: kept off the start-up path

        expires = formatdate(time.time() + max_age, usegmt=True) if max_age else \
            "Thu, 01 Jan 1970 00:00:00 GMT"
        parts += [f"Expires={expires}", f"Max-Age={max_age}"]
    parts += ["HttpOnly", f"Path={path}", "SameSite=Lax"]
    return "Set-Cookie", "; ".join(parts)


def session_cookies(change: SessionChange | None, path: str) -> Headers:
    """``Set-Cookie`` headers for a session change: the login session (set, or cleared) and
    the recent-logins list, both for the issuer's ``path`` only."""
    if change is None:
        return []
    cookies = []
    if change.recent is not None:
        value = write_recent(change.recent)
        if len(value) <= RECENT_COOKIE_MAX:
            cookies.append(_cookie(RECENT_COOKIE, value, path, RECENT_MAX_AGE))
    if change.session_id is None:
        cookies.append(_cookie(SESSION_COOKIE, "", path, 0))
    else:
        cookies.append(_cookie(SESSION_COOKIE, change.session_id, path,
                               change.max_age or None))
    return cookies


# -- browser outcomes --------------------------------------------------------------------------

def browser_parts(outcome: BrowserOutcome | DevicePage, renderer: PageRenderer,
                  method: str, cookie_path: str, action_of: Callable[[str], str]
                  ) -> Answer:
    """A browser outcome as HTTP: a redirect or a page (login, consent, device, form post,
    signed out, error) with its cookies, with the status `outcome_status` decides for the
    journal too (302; 303 after a POST, RFC 9110 §15.4.4).  ``action_of(endpoint)`` is the
    path a page's form posts to."""
    status = outcome_status(outcome, method)
    if isinstance(outcome, Redirect):
        headers = [("Content-Type", HTML), *NO_STORE.items(), ("Location", outcome.location),
                   *session_cookies(outcome.session, cookie_path)]
        return status, headers, b""
    if isinstance(outcome, ErrorPage):
        return page_parts(renderer.render(outcome, ""), status)
    if isinstance(outcome, LoginPage):
        return page_parts(renderer.render(outcome, action_of("login")), status, framing=False)
    if isinstance(outcome, ConsentPage):
        return page_parts(renderer.render(outcome, action_of("consent")), status,
                          session_cookies(outcome.session, cookie_path), framing=False)
    if isinstance(outcome, DevicePage):
        return page_parts(renderer.render(outcome, action_of("device")), status,
                          framing=False)
    return page_parts(renderer.render(outcome, ""), status,  # FormPost, SignedOutPage
                      session_cookies(outcome.session, cookie_path))
