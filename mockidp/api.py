"""`MockIdP`: the Python door.  A `Provider` (the core: every scripting method) that also
serves HTTP, in a background thread, and speaks TLS when asked.

``with MockIdP() as idp:`` serves on 127.0.0.1 and a free port; `start`/`stop` do the same
by hand.  The server is imported only when asked to serve (`mockidp.serve`): the core never
needs Flask or a socket.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mockidp.core.errors import MockIdPError
from mockidp.core.settings import ISSUER_NAME, RESERVED_ISSUERS, Settings
from mockidp.provider import DEFAULT_PORT, Provider

MAX_PORT = 65535
log = logging.getLogger("mockidp")

if TYPE_CHECKING:
    import ssl

    from mockidp.serve.thread import ServerThread
    from mockidp.serve.tls import TlsFiles


class MockIdP(Provider):
    """A mock OAuth 2.0 / OpenID Connect provider you can serve.

    ``config`` is a path to a TOML/JSON file, a mapping of the same shape, or `Settings`.
    Used as a context manager it serves HTTP on ``host`` (127.0.0.1) and ``port`` (0: any free
    port) in a background thread.  ``public_url`` fixes the base of every issuer URL, whatever
    host name a request used.  ``control`` serves the ``/_mockidp/`` control API, protected
    by ``control_token`` when one is given; without one it answers only requests whose
    ``Host`` is a loopback name, the public URL's host, the bound host or one of
    ``allowed_hosts``, and no cross-origin or non-JSON POST (`mockidp.web.guard`).
    ``tls=True`` serves HTTPS with a self-signed certificate for localhost and 127.0.0.1 (made
    now, kept in ``keys_dir`` when one is given; its path is ``tls_cert``),
    ``tls_cert``/``tls_key`` with your own PEM files instead.  ``store``, a Redis URL, shares
    the state with every other provider on it (replicas: `mockidp.protocol.state`).  All
    methods are thread-safe.
    """

    def __init__(
        self,
        config: str | Path | Mapping[str, Any] | Settings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        keys_dir: str | Path | None = None,
        interactive_login: bool | None = None,
        control: bool = True,
        control_token: str | None = None,
        public_url: str | None = None,
        tls: bool = False,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        allowed_hosts: Iterable[str] = (),
        store: str | None = None,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= MAX_PORT:
            raise MockIdPError(f"port: expected a port number from 0 to {MAX_PORT} (0: any "
                               f"free port), got {port!r}")
        super().__init__(config, keys_dir=keys_dir, interactive_login=interactive_login,
                         public_url=public_url, control=control, control_token=control_token,
                         allowed_hosts=allowed_hosts, store=store)
        self.host = host
        self.port = port
        if host not in ("", "0.0.0.0", "::"):  # the control API answers on the bound host
            self.allowed_hosts = self.allowed_hosts | {host.strip("[]").lower()}
        self._tls = self._tls_files(tls, tls_cert, tls_key)
        self._server: ServerThread | None = None

    def _tls_files(self, tls: bool, cert: str | Path | None,
                   key: str | Path | None) -> TlsFiles | None:
        if cert is not None or key is not None:
            if cert is None or key is None:
                raise MockIdPError("tls_cert and tls_key: give both, the certificate and its "
                                   "private key")
            from mockidp.serve.tls import check_files

            return check_files(cert, key)
        if not tls:
            return None
        from mockidp.serve.tls import self_signed

        names = [self.host]
        if self.public_url:
            names.append(urlsplit(self.public_url).hostname or "")
        files = self_signed(self.keys_dir, names)
        if self.keys_dir is None:  # a temporary folder: gone with this provider
            weakref.finalize(self, shutil.rmtree, files.cert.parent, True)
        return files

    @property
    def tls(self) -> bool:
        """True when the server speaks HTTPS."""
        return self._tls is not None

    @property
    def tls_cert(self) -> Path | None:
        """The PEM certificate the server presents (trust it: ``requests.get(..., verify=)``)."""
        return self._tls.cert if self._tls is not None else None

    @property
    def tls_key(self) -> Path | None:
        """The PEM private key of `tls_cert`."""
        return self._tls.key if self._tls is not None else None

    def ssl_context(self) -> ssl.SSLContext | None:
        """A server-side TLS context for `tls_cert`, or None when serving plain HTTP."""
        if self._tls is None:
            return None
        from mockidp.serve.tls import server_context

        return server_context(self._tls)

    # -- lifecycle (Python API door) ----------------------------------------------------------
    def load_keys(self) -> None:
        """With a keys directory, load every issuer's keys now (creating the missing ones), so
        that a corrupt or unreadable key file stops start-up with an error naming it instead
        of failing a request later.  Without one, keys are made on first use."""
        if self.keys_dir is None:
            return
        if self.keys_dir.is_dir():
            undeclared = sorted(p.name for p in self.keys_dir.iterdir()
                                if p.is_dir() and ISSUER_NAME.match(p.name)
                                and p.name not in RESERVED_ISSUERS and p.name not in self.declared)
            if undeclared:
                log.warning("mockidp: %d key folder(s) in %s belong to no declared issuer and "
                            "are not loaded (%s%s); declare an issuer under [issuers] to keep "
                            "its keys", len(undeclared), self.keys_dir, ", ".join(undeclared[:5]),
                            ", ..." if len(undeclared) > 5 else "")
        for name in sorted(self.declared):
            self.issuer(name).keys.ensure_all()

    def start(self) -> MockIdP:
        """Serve HTTP (or HTTPS) in a background thread; raises `MockIdPError` if the port is
        taken or a key file is unusable."""
        if self._server is None:
            self.state.open()  # a shared store's bus, closed by `stop`
            self.load_keys()
            self.make_keys_ahead()
            from mockidp.serve.thread import ServerThread  # lazy: serving imports the servers

            self._server = ServerThread(self, self.host, self.port, self.ssl_context())
            self._server.start()
        return self

    def make_keys_ahead(self) -> None:
        """Without a keys directory, make the configured issuers' keys in a background thread
        now (RSA takes tens of milliseconds, mostly outside the GIL), while the server starts,
        instead of in the first JWKS or token request.  A request that comes first waits for
        the key it needs; nothing is lost if this thread loses the race."""
        if self.keys_dir is not None:
            return  # `load_keys` has loaded them already

        def make() -> None:
            with contextlib.suppress(Exception):  # a request will report it when it needs it
                for name in ("default", *self.settings.issuers):
                    self.issuer(name).keys.ensure_all()

        threading.Thread(target=make, name="mockidp-keys", daemon=True).start()

    def stop(self) -> None:
        """Stop serving (idempotent).  On a shared store, this process also stops listening
        for the others' changes (it stays usable, reading the store per request)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            self.state.close()

    def __enter__(self) -> MockIdP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``http://127.0.0.1:54321``."""
        if self._server is not None:
            return self._server.url
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port or DEFAULT_PORT}"
