"""The provider's own HTTP requests, bounded: fetching a client's ``jwks_uri`` (RFC 7523 §3,
OIDC Core §10.1.1) and delivering back-channel logout tokens (OpenID Connect Back-Channel
Logout 1.0 §2.5).

A registered URL is a stranger's URL: each request has a wall-clock deadline (every read
waits at most what is left of it, so a receiver that drips one byte at a time cannot hold a
thread longer), a size cap on the answer, no redirects (RFC 9110 §15.4 answers are failures),
and at most `MAX_IN_FLIGHT` run at once per provider (more are refused at once rather than
queued behind request threads).  Failures are one generic `OutboundFailed`: the text never
tells a closed port from an HTTP error, so the provider cannot be used as a port scanner.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from mockidp.core import blocking

DEADLINE = 3.0  # seconds for one whole request: connect, send, every read
MAX_BYTES = 512 * 1024  # the largest answer read (a JWK Set of many keys fits)
MAX_IN_FLIGHT = 4  # outbound requests at once, per provider


class OutboundFailed(Exception):
    """The request did not give a usable answer (for whatever reason: deliberately vague)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class Outbound:
    """Makes the provider's outbound requests, `MAX_IN_FLIGHT` at most at once.  Thread-safe."""

    def __init__(self, in_flight: int = MAX_IN_FLIGHT, deadline: float = DEADLINE,
                 max_bytes: int = MAX_BYTES) -> None:
        self._slots = threading.BoundedSemaphore(in_flight)
        self.deadline = deadline
        self.max_bytes = max_bytes

    def request(self, method: str, url: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> Answer:
        """One request; a 2xx answer within the deadline and the size cap, or
        `OutboundFailed`.  Never follows a redirect."""
        if not self._slots.acquire(blocking=False):
            raise OutboundFailed("too many outbound requests in flight")
        try:
            with blocking.waiting():  # a network wait: other requests run meanwhile
                return self._request(method, url, body, dict(headers or {}))
        except OutboundFailed:
            raise
        except (OSError, ValueError) as exc:  # refused, reset, timed out, bad URL, TLS
            raise OutboundFailed(type(exc).__name__) from None
        finally:
            self._slots.release()

    def _request(self, method: str, url: str, body: bytes | None,
                 headers: dict[str, str]) -> Answer:
        import http.client  # loaded with the first outbound request

        end = time.monotonic() + self.deadline

        def left() -> float:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise OutboundFailed("deadline")
            return remaining

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutboundFailed("not an http(s) URL")
        kind = http.client.HTTPSConnection if parts.scheme == "https" else \
            http.client.HTTPConnection
        connection = kind(parts.hostname, parts.port, timeout=left())
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request(method, target, body=body, headers=headers)
            # kept: after a response that closes the connection, http.client lets go of it
            sock = connection.sock
            if sock is not None:
                sock.settimeout(left())
            response = connection.getresponse()
            if not 200 <= response.status < 300:
                raise OutboundFailed(f"status {response.status}")  # redirects included
            data = bytearray()
            while len(data) <= self.max_bytes:
                remaining = left()  # every read waits at most what is left of the deadline
                if sock is not None:
                    sock.settimeout(remaining)
                chunk = response.read1(16384)
                if not chunk:
                    break
                data += chunk
            if len(data) > self.max_bytes:
                raise OutboundFailed("too large")
            return Answer(response.status, bytes(data))
        finally:
            connection.close()
