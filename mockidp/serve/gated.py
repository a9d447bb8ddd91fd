"""What `mockidp serve` puts around the app on granian: slow clients hold only themselves.

Granian (Rust) handles connections: thousands of idle ones cost a few KiB each, and it closes
a connection that sends no complete request head within the idle timeout (between requests
too).  The WSGI app runs on its blocking threads, and granian has no timeout for a request
*body*: a client that sends its headers and then stalls keeps a thread reading.  So:

- `GatedApp` lets at most ``runners`` threads run the app at once (`mockidp.core.blocking`),
  with many more threads available: a request waiting for its body, for a scripted delay or
  for an outbound call steps out of the gate, and the others go on at full speed.
- `StallWatch` (Linux) closes the connection of a body read that has received nothing for
  the idle timeout: it finds the connection's socket among the process's file descriptors
  (peer address, local port, and the kernel's time since data last came in) and shuts it
  down, which ends the read; the request is answered 400 and journaled.  It never touches
  a connection whose client has a request in progress that is not reading its body.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mockidp.core.blocking import Gate, waiting

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
log = logging.getLogger("mockidp")
TCP_INFO_LAST_DATA_RECV = 52  # struct tcp_info: 8 one-byte fields, then u32s; this is the 12th


class StallWatch:
    """Body reads in progress, and the closing of those that stalled (see the module docs).
    Thread-safe; its thread wakes once a second only while a body read is in progress."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self._lock = threading.Lock()
        self._reads: dict[int, tuple[str, float]] = {}  # read → (client address, start)
        self._busy: Counter[str] = Counter()  # requests in progress by client address
        self._reading: Counter[str] = Counter()  # ... of which reading their body
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mockidp-stalls", daemon=True)
        self._thread.start()

    @staticmethod
    def available() -> bool:
        return sys.platform.startswith("linux") and hasattr(socket, "TCP_INFO")

    @contextlib.contextmanager
    def request(self, client: str) -> Iterator[None]:
        with self._lock:
            self._busy[client] += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy[client] -= 1
                if not self._busy[client]:
                    del self._busy[client]

    @contextlib.contextmanager
    def reading(self, client: str) -> Iterator[None]:
        key = threading.get_ident()
        with self._lock:
            self._reads[key] = (client, time.monotonic())
            self._reading[client] += 1
        self._wake.set()
        try:
            yield
        finally:
            with self._lock:
                del self._reads[key]
                self._reading[client] -= 1
                if not self._reading[client]:
                    del self._reading[client]

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(1.0)
            with self._lock:
                if not self._reads:
                    self._wake.clear()
                    continue
                now = time.monotonic()
                stalled = {client for client, start in self._reads.values()
                           if now - start >= self.timeout
                           and self._busy[client] == self._reading[client]}
            if stalled:
                try:
                    self.close_silent(stalled)
                except Exception:  # never let the watch die
                    log.exception("mockidp: closing stalled connections failed")

    def close_silent(self, clients: set[str]) -> int:
        """Shut down this server's connections from ``clients`` that received nothing for
        the timeout; how many."""
        closed = 0
        limit_ms = int(self.timeout * 1000)
        for name in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                    continue
                sock = socket.socket(fileno=os.dup(int(name)))
                try:
                    if sock.family not in (socket.AF_INET, socket.AF_INET6) \
                            or sock.type != socket.SOCK_STREAM \
                            or sock.getsockname()[1] != self.port:
                        continue
                    peer = str(sock.getpeername()[0]).removeprefix("::ffff:")
                    if peer not in clients:
                        continue
                    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
                    (silent_ms,) = struct.unpack_from("I", info, TCP_INFO_LAST_DATA_RECV)
                    if silent_ms >= limit_ms:
                        sock.shutdown(socket.SHUT_RDWR)
                        closed += 1
                finally:
                    sock.close()  # the duplicate only
        if closed:
            log.warning("mockidp: closed %d connection(s) stalled in a request body for "
                        "%ss", closed, self.timeout)
        return closed


class _WatchedInput:
    """``wsgi.input`` whose reads wait outside the gate, under the watch."""

    def __init__(self, stream: Any, watch: StallWatch | None, client: str) -> None:
        self._stream = stream
        self._watch = watch
        self._client = client

    def _wait(self, read: Callable[[], bytes]) -> bytes:
        with waiting():
            if self._watch is None:
                return read()
            with self._watch.reading(self._client):
                return read()

    def read(self, size: int | None = None) -> bytes:
        return self._wait(lambda: self._stream.read(size) if size is not None
                          else self._stream.read())

    def readline(self, size: int | None = None) -> bytes:
        return self._wait(lambda: self._stream.readline())

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class GatedApp:
    """The WSGI app behind the gate, its body reads watched (see the module docs)."""

    def __init__(self, app: WSGIApp, gate: Gate, watch: StallWatch | None) -> None:
        self.app = app
        self.gate = gate
        self.watch = watch

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        has_body = environ.get("CONTENT_LENGTH") not in (None, "", "0") \
            or "HTTP_TRANSFER_ENCODING" in environ
        client = environ.get("REMOTE_ADDR") or ""
        if has_body:
            environ["wsgi.input"] = _WatchedInput(environ.get("wsgi.input"), self.watch, client)
        with self.gate.inside():
            if self.watch is None:
                return self.app(environ, start_response)
            with self.watch.request(client):
                return self.app(environ, start_response)
