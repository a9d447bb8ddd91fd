"""Flask and Jinja: the control API, the dashboard, the OpenAPI documents and the protocol's
pages (`mockidp.web.pages`, the renderer handed to the protocol adapter).

`FlaskOnDemand` is the adapter's fallback for the Flask paths: the Flask app is made on the
first request that needs it.  `create_app` makes the Flask app with the adapter in front at
once (for Flask's test client).  Importing this package does not import Flask.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from mockidp.web.paths import flask_serves

if TYPE_CHECKING:
    from flask import Flask

    from mockidp.provider import Provider

__all__ = ["FlaskOnDemand", "create_app"]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def create_app(idp: Provider) -> Flask:
    """`app.create_app`: the Flask app for ``idp`` (imports Flask)."""
    from mockidp.web.app import create_app as make

    return make(idp)


class FlaskOnDemand:
    """The Flask app (control API, dashboard), made on the first request the protocol
    adapter passes on: a server that only answers protocol endpoints
    never imports Flask, so it starts sooner and stays smaller."""

    def __init__(self, idp: Provider) -> None:
        self.idp = idp
        self._app: WSGIApp | None = None
        self._lock = threading.Lock()

    @staticmethod
    def serves(path: str) -> bool:
        """Whether ``path`` is the Flask app's (`mockidp.web.paths.flask_serves`)."""
        return flask_serves(path)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        return (self._app or self.make())(environ, start_response)

    def make(self) -> WSGIApp:
        """The Flask app's WSGI callable, made once (also callable ahead of need)."""
        with self._lock:
            if self._app is None:
                from mockidp.web.app import flask_app

                self._app = flask_app(self.idp).wsgi_app
            return self._app
