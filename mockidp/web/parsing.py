"""Turn a Flask request into plain request parameters (nothing Flask-shaped travels on).

Strict where the RFCs are: bodies must be ``application/x-www-form-urlencoded`` UTF-8
(RFC 6749 §3.2, Appendix B), sizes are capped (413), field counts are capped.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

from mockidp.core.errors import InvalidRequest
from mockidp.core.model import Params
from mockidp.http.wire import MAX_FIELDS

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
DRAIN_LIMIT = 16 * 1024 * 1024


def refuse_oversized(request: Request) -> None:
    """Answer 413 for a body over the limit, after reading (and discarding) what was sent.

    Reading the declared body first lets the client see the 413 instead of a stalled or
    reset connection (werkzeug's server would otherwise wait for bytes that never come).
    """
    length = request.content_length
    limit = request.max_content_length
    if length is None or limit is None or length <= limit:
        return
    stream = request.environ.get("wsgi.input")
    remaining = min(length, DRAIN_LIMIT)
    while stream is not None and remaining > 0:
        chunk = stream.read(min(remaining, 65536))
        if not chunk:
            break
        remaining -= len(chunk)
    raise RequestEntityTooLarge()


def _pairs(raw: bytes, where: str) -> list[tuple[str, str]]:
    try:
        text = raw.decode("utf-8")
        return parse_qsl(
            text, keep_blank_values=True, encoding="utf-8", errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise InvalidRequest(f"{where} is not valid UTF-8") from None
    except ValueError:
        raise InvalidRequest(f"{where} has more than {MAX_FIELDS} parameters") from None


def request_params(request: Request) -> Params:
    """GET: the query string.  POST: the form body (the query string is ignored)."""
    if request.method != "POST":
        return Params(_pairs(request.query_string, "query string"))
    refuse_oversized(request)
    body = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    if not body:
        return Params()
    if request.mimetype != FORM:
        got = request.mimetype or "no Content-Type"
        raise InvalidRequest(f"expected Content-Type {FORM}, got {got}")
    return Params(_pairs(body, "request body"))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_body(request: Request) -> tuple[Any, str | None]:
    """A JSON request body (RFC 7591 §3.1): ``(value, None)``, or ``(None, why not)`` for the
    core to answer.  Capped in size like forms (413); NaN and Infinity are not JSON."""
    refuse_oversized(request)
    body = request.get_data(cache=True)
    if request.mimetype != JSON:
        return None, (f"expected Content-Type {JSON}, got "
                      f"{request.mimetype or 'no Content-Type'}")
    if not body.strip():
        return None, "body: empty; expected a JSON object"
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constant), None
    except UnicodeDecodeError:
        return None, "body: not UTF-8"
    except json.JSONDecodeError as exc:
        return None, f"body: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, "body: JSON nested too deeply"
    except ValueError as exc:  # NaN, Infinity, integers beyond Python's digit limit
        return None, f"body: unusable JSON: {exc}"


def string_members(value: Any) -> Params:
    """The top-level string members of a JSON object, as parameters (for rules and the
    journal); nothing for any other value."""
    if not isinstance(value, dict):
        return Params()
    return Params((k, v) for k, v in value.items() if isinstance(v, str))
