"""A TCP proxy in front of a real redis-server that can lose one answer, as a network failure
after Redis ran a command does: the next command whose bytes hold every given needle is passed
on, Redis's answer to it is read and thrown away, and that client connection is cut.  redis-py
then reconnects (through the proxy) and sends the command again.  An error answer (such as
``NOSCRIPT``, which redis-py answers by loading the script) is passed on and the proxy stays
armed."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator


class LosingProxy:
    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._needles: tuple[bytes, ...] | None = None
        self._lock = threading.Lock()
        self.lost = threading.Event()  # set once an answer was thrown away
        self.lost_count = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="losing-proxy").start()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def lose_next(self, *needles: bytes) -> None:
        """Lose the answer to the next command holding all of ``needles``."""
        self.lost.clear()
        with self._lock:
            self._needles = needles

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _matches(self, data: bytes) -> bool:
        with self._lock:
            needles = self._needles
            if needles is None or not all(n in data for n in needles):
                return False
            self._needles = None
            return True

    def _rearm(self, needles: tuple[bytes, ...]) -> None:
        with self._lock:
            self._needles = needles

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pump, args=(client,), daemon=True).start()

    def _pump(self, client: socket.socket) -> None:
        with contextlib.ExitStack() as stack:
            stack.enter_context(client)
            try:
                server = stack.enter_context(socket.create_connection(self.target))
            except OSError:  # Redis is down: so is this connection
                return
            dropping: tuple[bytes, ...] | None = None  # needles of the answer to lose
            while True:
                ready, _, _ = select.select([client, server], [], [])
                if client in ready:
                    data = client.recv(65536)
                    if not data:
                        return
                    with self._lock:
                        armed = self._needles
                    if dropping is None and armed is not None and self._matches(data):
                        dropping = armed
                    server.sendall(data)
                if server in ready:
                    data = server.recv(65536)
                    if not data:
                        return
                    if dropping is not None:
                        if data.startswith(b"-"):  # an error: Redis did nothing; pass it on
                            self._rearm(dropping)
                            dropping = None
                        else:
                            self.lost_count += 1
                            self.lost.set()
                            with contextlib.suppress(OSError):
                                client.shutdown(socket.SHUT_RDWR)
                            return
                    client.sendall(data)


@contextlib.contextmanager
def losing_proxy(target_port: int) -> Iterator[LosingProxy]:
    proxy = LosingProxy(target_port)
    try:
        yield proxy
    finally:
        proxy.close()
