"""Serve the provider's WSGI app (`serve.app.serving_app`: the protocol adapter, Flask made
on first need): in a background thread on the lean threaded server of `httpserver` (the
fixture, the Python API), or for `mockidp serve` on granian or werkzeug's threaded server.

Port 0 picks a free port; `ServerThread.url` tells which.  `stop()` shuts the server down and
joins the thread.  A port already in use raises `MockIdPError`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mockidp.core.errors import MockIdPError
from mockidp.serve.app import serving_app

if TYPE_CHECKING:
    import ssl

    from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

    from mockidp.provider import Provider

log = logging.getLogger("mockidp")
STOP_POLL_S = 0.02


def _quiet_handler(idle_timeout: float = 30.0) -> type[WSGIRequestHandler]:
    """werkzeug's request handler, quiet (werkzeug is imported when a server is bound)."""
    from werkzeug.serving import WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        """Request lines go to the ``mockidp.access`` logger at DEBUG, nowhere else.

        An idle or stalled connection is dropped after ``timeout`` seconds, so a client that
        stops sending cannot hold a thread forever.
        """

        timeout = idle_timeout

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            logging.getLogger("mockidp.access").debug(
                '%s "%s" %s', self.address_string(), self.requestline, code
            )

        def log(self, type: str, message: str, *args: Any) -> None:
            logging.getLogger("mockidp.access").debug(message, *args)

    return QuietHandler


def _listen(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A listening socket; port in use → `MockIdPError` (werkzeug would exit the process).
    ``reuse_port``: with ``SO_REUSEPORT``, sharing the port with the other workers
    (`mockidp.serve.workers`)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise MockIdPError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise MockIdPError(
                f"port {port} on {host} is already in use; choose another port "
                "(--port / MOCKIDP_PORT) or 0 for any free port"
            ) from None
        raise MockIdPError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _shutdown(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


def _with_abort(app: Callable[..., Any]) -> Callable[..., Any]:
    """werkzeug's server hands the app its socket: give the adapter its ``mockidp.abort``
    hook (a scripted ``close`` fault) from it."""
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        connection = environ.get("werkzeug.socket")
        if connection is not None:
            environ["mockidp.abort"] = partial(_shutdown, connection)
        return app(environ, start_response)

    return wsgi


def bind(idp: Provider, host: str, port: int, context: ssl.SSLContext | None = None,
         idle_timeout: float = 30.0, reuse_port: bool = False) -> BaseWSGIServer:
    """Bind a threaded werkzeug server for ``idp``; port in use → `MockIdPError`.

    With a TLS ``context`` the server speaks HTTPS.  The TLS handshake happens in the request's own
    thread (under the handler's timeout), not in the accepting loop, so a client that connects
    and says nothing cannot stall everyone else; a connection that sends nothing for
    ``idle_timeout`` seconds (idle, or stalled in a request) is closed.  ``reuse_port``: one
    of several workers on the port (`mockidp.serve.workers`).
    """
    sock = _listen(host, port, reuse_port)
    try:
        from werkzeug.serving import make_server

        server = make_server(
            host, sock.getsockname()[1], _with_abort(serving_app(idp)), threaded=True,
            request_handler=_quiet_handler(idle_timeout), fd=sock.fileno(),
        )
    finally:
        sock.close()  # werkzeug holds its own duplicate of the descriptor
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True,
                                            do_handshake_on_connect=False)
        server.ssl_context = context  # werkzeug then tells the app the scheme is https
    return server


class ServerThread:
    """A running server for one `Provider`, serving from a daemon thread: the lean threaded
    server of `httpserver` (the pytest fixture and the Python API)."""

    def __init__(self, idp: Provider, host: str, port: int,
                 context: ssl.SSLContext | None = None) -> None:
        from mockidp.serve.httpserver import make_server

        self._server = make_server(_listen(host, port), serving_app(idp), host, context)
        self.host = host
        self.port = self._server.server_port
        # The loop checks for `stop()` every 20 ms (socketserver's default is 0.5 s, which
        # every `with MockIdP()` block and pytest session would wait at its end).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": STOP_POLL_S},
            name=f"mockidp:{self.port}", daemon=True,
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self._server.tls else "http"
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# -- granian: the faster server for `mockidp serve` ------------------------------------------

def granian_available() -> bool:
    """Whether the optional granian server is installed (``pip install 'mockidp[server]'``)."""
    import importlib.util

    return importlib.util.find_spec("granian") is not None


def free_port(host: str, port: int) -> int:
    """Check ``port`` is free (0: pick one) and return it; in use → `MockIdPError`."""
    sock = _listen(host, port)
    try:
        return int(sock.getsockname()[1])
    finally:
        sock.close()


RUNNERS = 8  # requests running Python code at once under granian (more only fight for the GIL)
THREADS = 512  # granian's blocking threads: made when needed, gone after 30 s idle
IDLE_TIMEOUT = 60.0  # seconds: a connection idle or stalled this long is closed (as nginx)
CONNECTIONS = 16_384  # connections granian takes at once (each costs a few KiB while idle)
BACKLOG = 4096  # connections waiting to be taken


def run_granian(idp: Provider, host: str, port: int, banner: list[str] | None = None,
                idle_timeout: float = IDLE_TIMEOUT, worker: bool = False) -> None:
    """Serve ``idp`` with granian until interrupted, in THIS process.

    Granian's HTTP runtime (Rust) runs in a thread of this process and calls the WSGI app
    here, so all the provider's state lives in one place (scripted state stays consistent),
    nothing is imported twice and there is no second process: it starts faster and takes
    about half the memory of granian's usual worker process.

    Slow clients hold only themselves (`mockidp.serve.gated`): `RUNNERS` requests run at once
    on up to `THREADS` threads, a request waiting for its body, a scripted delay or an
    outbound call giving its place up meanwhile; HTTP/1.1 only, so that a connection that
    sends no request head within ``idle_timeout`` (new, or idle between requests) is closed
    (granian's HTTP/2 detection waits for the first bytes without a timeout); a body stalled
    that long is closed by the `StallWatch` (Linux).  Up to `CONNECTIONS` connections are
    taken at once (the file limit raised to allow them), the next wait in the listen queue.

    ``worker``: one of several on the port (`mockidp.serve.workers`; granian's listener has
    ``SO_REUSEPORT``): the banner is printed once THIS process's own socket listens.
    """
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.server.mt import MTServer

    from mockidp.core.blocking import Gate
    from mockidp.serve.gated import GatedApp, StallWatch

    class _InProcess(MTServer):
        """Granian's thread-worker server.  It is made for free-threaded Pythons and refuses
        a GIL one; with one worker there is nothing to run in parallel, so the GIL is fine."""

        def _check_gil(self) -> None:
            return None

    address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]  # granian: an IP
    watch = StallWatch(port, idle_timeout) if StallWatch.available() else None
    app = GatedApp(serving_app(idp), Gate(RUNNERS), watch)
    connections = _raise_file_limit(CONNECTIONS + 256) - 256

    def announce() -> None:
        """Print the banner once the port really accepts connections."""
        import time

        deadline = time.monotonic() + 60
        while worker and time.monotonic() < deadline:
            if listening_here(port):
                break
            time.sleep(0.005)
        while not worker and time.monotonic() < deadline:
            try:
                socket.create_connection((str(address), port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.002)
        if banner:
            print("\n".join(banner), flush=True)

    threading.Thread(target=announce, name="mockidp-announce", daemon=True).start()
    _InProcess(
        "mockidp", address=str(address), port=port, interface=Interfaces.WSGI,
        workers=1, blocking_threads=THREADS, log_enabled=False, http=HTTPModes.http1,
        backlog=BACKLOG, backpressure=max(connections, 64),
        http1_settings=HTTP1Settings(header_read_timeout=int(idle_timeout * 1000)),
    ).serve(target_loader=lambda *args, **kwargs: app, wrap_loader=False)


def listening_here(port: int) -> bool:
    """Whether THIS process holds a socket listening on TCP ``port`` (Linux ``/proc``;
    elsewhere: whether anything on 127.0.0.1 answers there)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        return False
    inodes = set()
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes and \
                        int(fields[1].rpartition(":")[2], 16) == port:
                    return True
    return False


def _raise_file_limit(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted`` (as far as the hard limit
    allows, as nginx's worker_rlimit_nofile does); the limit now."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError):
            pass
    return wanted if soft == resource.RLIM_INFINITY else int(soft)

