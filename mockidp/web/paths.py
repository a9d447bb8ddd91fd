"""The paths the Flask app serves (`mockidp.web.app`), known without importing Flask: the
protocol adapter passes exactly these to it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

CONTROL_PREFIX = "/_mockidp"  # the control API (`mockidp.web.control.PREFIX`)
PAGE_PATHS = frozenset({"/", "/debugger", "/unlock"})  # dashboard, token debugger, unlock


def flask_serves(path: str) -> bool:
    """Whether ``path`` belongs to the Flask app (it answers 404 or 405 there itself)."""
    return path in PAGE_PATHS or path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


class FlaskPaths:
    """The protocol adapter's fallback: a ready WSGI app for the Flask paths."""

    def __init__(self, app: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
                 ) -> None:
        self.app = app

    @staticmethod
    def serves(path: str) -> bool:
        """`flask_serves`."""
        return flask_serves(path)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        return self.app(environ, start_response)
