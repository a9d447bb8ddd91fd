"""What the HTTP layer puts on the wire without Flask: the body limits, the no-store headers,
RFC 6749 §5.2 error answers and scripted faults as status, headers and body.

Shared by the Flask app and the WSGI front (`fast.ProtocolFront`), so an answer looks the same
whichever path gives it, and the front needs no Flask import to answer.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping
from typing import Any

from mockidp.core.errors import OAuthError, ScriptedFault
from mockidp.tokens.signer import compact_json

MAX_BODY_BYTES = 64 * 1024  # a request body over this is refused with 413
MAX_FIELDS = 100  # form or query parameters in one request
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def error_parts(error: OAuthError) -> tuple[int, list[tuple[str, str]], bytes]:
    """RFC 6749 §5.2 error JSON with no-store headers and any ``WWW-Authenticate`` (and
    other headers the error needs), as status, headers and body."""
    headers = [("Content-Type", "application/json"), *NO_STORE.items()]
    if error.www_authenticate:
        headers.append(("WWW-Authenticate", error.www_authenticate))
    headers.extend(error.headers.items())
    return error.status, headers, compact_json(error.body()).encode()


def fault_parts(fault: ScriptedFault, environ: Mapping[str, Any]
                ) -> tuple[int, list[tuple[str, str]], bytes]:
    """A scripted raw fault as status, headers and body; for ``close``, the connection is
    shut down first (werkzeug's server; elsewhere the client gets an empty 500)."""
    if fault.close:
        connection = environ.get("mockidp.socket") or environ.get("werkzeug.socket")
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        return 500, [], b""
    return fault.status, [("Content-Type", fault.content_type)], fault.body
