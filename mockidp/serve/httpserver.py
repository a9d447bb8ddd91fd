"""The in-process HTTP server of the pytest fixture and the Python API: a threaded HTTP/1.1
server on the standard library (`http.server`), serving the provider's WSGI app.

Why not werkzeug's development server: it costs a test that fetches a token and the JWKS
about 0.7 ms more (a richer environ, headers and body written separately, an epoll selector
made after every response to drain the socket), and importing it takes about 20 ms of the
fixture's start.  This server does what the provider needs and no more:

- every method goes to the app (which answers 405 with ``Allow`` itself);
- request bodies by ``Content-Length`` (the app reads at most that) or ``chunked`` (decoded,
  at most `MAX_CHUNKED` bytes); ``Expect: 100-continue`` is answered; what the app left
  unread is drained after the response (bounded), so a client that sent a body too large
  sees the 413 rather than a connection reset;
- one response per connection (``Connection: close``), written in one piece with its
  ``Content-Length``;
- TLS with the handshake in the connection's own thread; a stalled connection is dropped
  after `TIMEOUT` seconds; malformed request lines get the standard library's 400 page;
- nothing is printed: request lines go to the ``mockidp.access`` logger at DEBUG, and
  failures of single connections (resets, TLS errors) too.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import socketserver
import ssl
import sys
from collections.abc import Callable, Iterable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from mockidp.http.wire import MAX_BODY_BYTES

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
TIMEOUT = 30.0  # seconds a connection may stall
# a chunked body is buffered up to one byte past the protocol's limit, so that the app
# answers 413 its own way; what comes after is not read (the connection closes)
MAX_CHUNKED = MAX_BODY_BYTES + 1
DRAIN_LIMIT = 16 * 1024 * 1024  # unread body bytes read and dropped after a response
access = logging.getLogger("mockidp.access")


class _Body(io.RawIOBase):
    """``wsgi.input``: the request body, never past ``Content-Length``; counts what is read,
    so the server can drain the rest after the response."""

    def __init__(self, stream: Any, length: int) -> None:
        super().__init__()
        self._stream = stream
        self.left = length

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.read, size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.readline, size)

    def _take(self, reader: Callable[[int], bytes], size: int | None) -> bytes:
        if self.left <= 0:
            return b""
        data = reader(self.left if size is None or size < 0 else min(size, self.left))
        self.left -= len(data)
        if not data:
            self.left = 0  # the client stopped sending
        return data


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _read_chunked(stream: Any) -> bytes:
    """A ``Transfer-Encoding: chunked`` body (RFC 9112 §7.1), trailers skipped."""
    body = bytearray()
    while True:
        line = stream.readline(1024)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequest(400, "malformed chunked body") from None
        if size < 0:
            raise _BadRequest(400, "malformed chunked body")
        if size == 0:
            while stream.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailer fields
            return bytes(body)
        if len(body) + size > MAX_CHUNKED:  # past the limit: enough for the app to refuse
            body += stream.read(MAX_CHUNKED - len(body))
            return bytes(body)
        chunk = stream.read(size)
        if len(chunk) != size:
            raise _BadRequest(400, "chunked body ended early")
        body += chunk
        stream.readline(1024)  # the CRLF after the chunk


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # refusals of unreadable request lines (HTTP/2.0, a bad version) get a status line too:
    # the standard handler writes none while it still takes the request for HTTP/0.9
    default_request_version = "HTTP/1.0"
    server_version = "mockidp"
    sys_version = ""
    timeout = TIMEOUT
    server: _Server

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # every method goes to the app
            return self._run_wsgi
        raise AttributeError(name)

    def handle(self) -> None:
        try:
            super().handle()
        except (OSError, ValueError) as exc:  # resets, TLS errors, a closed file
            access.debug("connection from %s dropped: %s", self.client_address[0], exc)

    def log_message(self, format: str, *args: Any) -> None:
        access.debug("%s " + format, self.address_string(), *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        access.debug('%s "%s" %s', self.address_string(), self.requestline, code)

    # -- the WSGI call ------------------------------------------------------------------------
    def _abort(self) -> None:
        """Shut the connection down at once (a scripted ``close`` fault)."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _environ(self, body: Any, length: int | None) -> dict[str, Any]:
        target = self.path
        if target.startswith(("http://", "https://")):  # absolute form (RFC 9112 §3.2.2)
            parts = urlsplit(target)
            target = parts.path + ("?" + parts.query if parts.query else "")
        path, _, query = target.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "REQUEST_URI": self.path,
            "RAW_URI": self.path,
            "SERVER_NAME": self.server.server_name,
            "SERVER_PORT": str(self.server.server_port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": self.client_address[1],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if self.server.tls else "http",
            "wsgi.input": body,
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "mockidp.abort": self._abort,
        }
        for name, value in self.headers.items():
            if "_" in name:
                continue  # HTTP_X_Y must not be forgeable with an "X_Y" header
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        if length is not None:
            environ["CONTENT_LENGTH"] = str(length)
        return environ

    def _check_head(self) -> None:
        """RFC 9112 §3.2: HTTP/1.1 needs exactly one ``Host``; §5.2: no obs-fold
        (a header line continued on the next); §6.1: ``chunked`` is the only coding."""
        if self.request_version == "HTTP/1.1" and len(self.headers.get_all("Host") or []) != 1:
            raise _BadRequest(400, "HTTP/1.1 needs exactly one Host header")
        if any("\n" in value or "\r" in value for value in self.headers.values()):
            raise _BadRequest(400, "obsolete line folding in a header")
        codings = self.headers.get_all("Transfer-Encoding") or []
        if codings and [c.strip().lower() for c in ",".join(codings).split(",")] != ["chunked"]:
            raise _BadRequest(501, "only Transfer-Encoding: chunked is supported")

    def _body(self) -> tuple[Any, int | None]:
        self._check_head()
        chunked = bool(self.headers.get_all("Transfer-Encoding"))
        lengths = self.headers.get_all("Content-Length") or []
        if chunked and lengths:
            raise _BadRequest(400, "both Content-Length and Transfer-Encoding")
        if chunked:
            data = _read_chunked(self.rfile)
            return _Body(io.BytesIO(data), len(data)), len(data)
        if not lengths:
            return _Body(self.rfile, 0), None
        digits = lengths[0].strip()
        if len(set(lengths)) != 1 or not (digits.isascii() and digits.isdigit()):
            raise _BadRequest(400, "malformed Content-Length")
        length = int(lengths[0])
        return _Body(self.rfile, length), length

    def _run_wsgi(self) -> None:
        self.close_connection = True
        try:
            body, length = self._body()
        except _BadRequest as exc:
            self.send_error(exc.status, str(exc))
            return
        environ = self._environ(body, length)
        response: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Callable[[bytes], None]:
            if exc_info is not None and response:
                raise exc_info[1].with_traceback(exc_info[2])
            response[:] = [status, headers]
            return written.append

        written: list[bytes] = []
        result = self.server.app(environ, start_response)
        try:
            written.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not response:  # pragma: no cover - every app path calls start_response
            response[:] = ["500 Internal Server Error", []]
        self._send(environ, response[0], response[1], b"".join(written))
        self._drain(body)

    def _send(self, environ: dict[str, Any], status: str, headers: list[tuple[str, str]],
              data: bytes) -> None:
        code = int(status.split(" ", 1)[0])
        head = [f"HTTP/1.1 {status}\r\n"]
        names = set()
        for name, value in headers:
            names.add(name.lower())
            head.append(f"{name}: {value}\r\n")
        no_body = self.command == "HEAD" or code < 200 or code in (204, 304)
        if "content-length" not in names and not no_body:
            head.append(f"Content-Length: {len(data)}\r\n")
        if "date" not in names:
            head.append(f"Date: {formatdate(usegmt=True)}\r\n")
        if "server" not in names:
            head.append("Server: mockidp\r\n")
        head.append("Connection: close\r\n\r\n")
        try:
            self.wfile.write("".join(head).encode("latin-1") + (b"" if no_body else data))
        except OSError:
            return  # the client (or a scripted "close" fault) ended the connection
        self.log_request(code, len(data))

    def _drain(self, body: _Body) -> None:
        """Read what the app left of the body (bounded), so closing does not reset it."""
        left = min(body.left, DRAIN_LIMIT)
        with contextlib.suppress(OSError):
            while left > 0:
                data = self.rfile.read(min(left, 65536))
                if not data:
                    break
                left -= len(data)

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            super().send_error(code, message, explain)


class _Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, sock: socket.socket, app: WSGIApp, host: str,
                 context: ssl.SSLContext | None) -> None:
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()  # the one socketserver made; ours is bound already
        self.server_name = host
        self.server_port = int(sock.getsockname()[1])
        self.socket = sock
        if context is not None:  # the wrapped socket takes over the descriptor
            self.socket = context.wrap_socket(sock, server_side=True,
                                              do_handshake_on_connect=False)
        self.app = app
        self.tls = context is not None

    def handle_error(self, request: Any, client_address: Any) -> None:
        access.debug("connection from %s failed", client_address, exc_info=True)


def make_server(sock: socket.socket, app: WSGIApp, host: str,
                context: ssl.SSLContext | None = None) -> _Server:
    """A threaded server on the listening socket ``sock`` (`serve_forever` to run it)."""
    return _Server(sock, app, host, context)

