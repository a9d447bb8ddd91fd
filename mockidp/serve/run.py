"""``mockidp serve`` once its options are read: pick the HTTP server, bind, print the banner,
serve until SIGINT or SIGTERM; or, with ``--workers N``, run N workers doing that
(`mockidp.serve.workers`).  Binding errors raise `MockIdPError` before anything is printed."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mockidp.core.errors import MockIdPError
from mockidp.serve import thread as servers
from mockidp.serve.banner import banner_lines
from mockidp.serve.workers import WorkerPlan, ready_line, run_workers
from mockidp.shared.connection import redacted

if TYPE_CHECKING:
    import ssl

    from mockidp.provider import Provider


@dataclass(frozen=True)
class Serving:
    """How to serve: address, HTTP server (``auto``, ``granian``, ``werkzeug``), TLS (the
    certificate, whether it is the user's, the context), what the banner tells."""

    host: str
    port: int
    server: str
    idle_timeout: float
    tls_cert: Path | None
    own_cert: bool
    context: ssl.SSLContext | None
    control: bool
    control_token: bool
    store: str | None

    def granian(self) -> bool:
        """Whether granian serves; an impossible choice → `MockIdPError`."""
        tls = self.tls_cert is not None
        chosen = self.server == "granian" or (
            self.server == "auto" and not tls and servers.granian_available())
        if chosen and tls:
            raise MockIdPError("--server granian: use --server werkzeug with --tls")
        if chosen and not servers.granian_available():
            raise MockIdPError("--server granian: granian is not installed; "
                               "pip install 'mockidp[server]'")
        return chosen

    def banner(self, idp: Provider, port: int, shown: str | None = None,
               pids: list[int] | None = None) -> list[str]:
        label = "granian" if self.granian() else "werkzeug"
        return banner_lines(
            idp, self.host, port, tls_cert=self.tls_cert, own_cert=self.own_cert,
            control=self.control, control_token=self.control_token,
            server=label if pids is None else f"{label}, {len(pids)} worker processes",
            store=shown or (redacted(self.store) if self.store else None),
            workers=None if pids is None else f"{len(pids)} processes on port {port} (pids "
            f"{', '.join(map(str, pids))}), one provider through the store")


def run_parent(idp: Provider, serving: Serving, count: int, args: Sequence[str]) -> int:
    """Run ``count`` workers (each ``mockidp serve ARGS``) for ``idp``'s settings; the exit
    code."""
    serving.granian()  # an impossible server choice is refused before anything starts

    def banner(port: int, shown: str, pids: list[int]) -> list[str]:
        return serving.banner(idp, port, shown, pids)

    store = serving.store
    return run_workers(WorkerPlan(count, serving.host, serving.port, args, store,
                                  redacted(store) if store else None, banner))


def run(idp: Provider, serving: Serving, worker: int | None) -> None:
    """Serve ``idp`` in this process until SIGINT or SIGTERM.  ``worker``: this process is
    worker N of a ``--workers`` parent (the port is shared; a ready line, no banner)."""
    host, port = serving.host, serving.port
    if serving.granian():
        bound = port if worker is not None else servers.free_port(host, port)
        lines = serving.banner(idp, bound) if worker is None else [ready_line(worker)]
        # printed once the port accepts connections (granian binds in its own time)
        servers.run_granian(idp, host, bound, banner=lines, idle_timeout=serving.idle_timeout,
                            worker=worker is not None)
        return
    server = servers.bind(idp, host, port, serving.context, idle_timeout=serving.idle_timeout,
                          reuse_port=worker is not None)
    lines = serving.banner(idp, server.port) if worker is None else [ready_line(worker)]
    # a background job (`mockidp serve &`) starts with SIGINT ignored: stop on both, always
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _interrupt)
    try:  # a signal may come as soon as the banner is out
        print("\n".join(lines), flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _interrupt(signum: int, frame: object) -> None:
    """SIGINT and SIGTERM end serving cleanly (the server closes its socket)."""
    raise KeyboardInterrupt
