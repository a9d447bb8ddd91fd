"""The one JOSE codec: base64url, compact JSON and the segments of a compact JWS or JWT.

- RFC 7515 §2 and Appendix C: base64url without padding is the encoding of every JWS segment.
  Decoding is strict: only the URL-safe alphabet, no ``=`` padding, no impossible length.
- RFC 7515 §7.1 (compact serialization, ``header.payload.signature``) and RFC 7519 §7.2 steps
  2-10: the header and the claims set are UTF-8 encoded JSON objects (RFC 8259, which has no
  NaN or Infinity).
- The JSON mockidp writes in its tokens and answers (`compact_json`) has no whitespace, is
  ASCII only and keeps the keys in insertion order.

Everything here is a pure function, safe from any thread.  Decoding failures raise
`MalformedJose`, whose message names the part that is wrong ("the header is not base64url:
..."); `header_segment` and `jose_header` answer None instead.
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class MalformedJose(ValueError):
    """A segment or a token cannot be decoded; the message says why, naming the part."""


# -- base64url (RFC 7515 §2, Appendix C) --------------------------------------------------------

def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2, Appendix C)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str, what: str = "segment") -> bytes:
    """Strict base64url without padding (RFC 7515 §2); `MalformedJose` naming ``what``."""
    if not _BASE64URL.fullmatch(segment):
        raise MalformedJose(f"the {what} is not base64url: it has characters other than "
                            "A-Z a-z 0-9 - _")
    if len(segment) % 4 == 1:
        raise MalformedJose(f"the {what} is not base64url: no encoding is {len(segment)} "
                            "characters long")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# -- JSON (RFC 8259) -----------------------------------------------------------------------------

def compact_json(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"))``: no whitespace, ASCII only (``\\uXXXX``
    escapes), keys in insertion order.  Raises `TypeError` for a value that is not JSON and
    `ValueError` for a cycle."""
    return json.dumps(value, separators=(",", ":"))


def json_segment(value: Any) -> str:
    """``value`` as a JWS segment (RFC 7515 §7.1): compact JSON, then base64url."""
    return b64url_encode(compact_json(value).encode("ascii"))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large a number")
    return value


def json_value(data: bytes, what: str, *, finite: bool = True) -> Any:
    """JSON in UTF-8; `MalformedJose` naming ``what``.

    With ``finite`` (RFC 8259) NaN, Infinity and numbers too large for a float are refused;
    without, they are read as Python floats, for a caller that refuses them claim by claim,
    naming the claim."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJose(f"the {what} is not UTF-8 text") from None
    try:
        if not finite:
            return json.loads(text)
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise MalformedJose(f"the {what} is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise MalformedJose(f"the {what} is not JSON ({exc.msg} at character {exc.pos})") \
            from None
    except ValueError as exc:
        raise MalformedJose(f"the {what} is not usable JSON ({exc})") from None


def json_object(data: bytes, what: str) -> dict[str, Any]:
    """A strict JSON object (see `json_value`); `MalformedJose` naming ``what``."""
    value = json_value(data, what)
    if not isinstance(value, dict):
        raise MalformedJose(f"the {what} is JSON but not an object")
    return value


# -- JWS segments (RFC 7515 §7.1, RFC 7519 §7.2) --------------------------------------------------

def decode_segment(segment: str, what: str) -> dict[str, Any]:
    """A base64url segment holding a JSON object (a JOSE header, a JWT claims set), decoded;
    `MalformedJose` naming ``what``."""
    return json_object(b64url_decode(segment, what), what)


def header_segment(segment: str) -> dict[str, Any] | None:
    """A JWS header segment decoded (RFC 7515 §4), or None when it is not a base64url JSON
    object."""
    try:
        return decode_segment(segment, "header")
    except MalformedJose:
        return None


def jose_header(token: str) -> dict[str, Any] | None:
    """The decoded header of a compact JWS (three parts), or None: an opaque token, five
    parts (a JWE), or a header that is not a base64url JSON object."""
    if token.count(".") != 2:
        return None
    return header_segment(token[: token.index(".")])
