"""The HTTP layer: a thin Flask app over `MockIdP`, with a WSGI front for the hot endpoints.

`serving_app` is what the servers run (Flask is imported on the first request the front
passes on); `create_app` makes the Flask app with the front at once (for Flask's test client).
Importing this package does not import Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mockidp.http.adapter import serving_app

if TYPE_CHECKING:
    from flask import Flask

    from mockidp.provider import MockIdP

__all__ = ["create_app", "serving_app"]


def create_app(idp: MockIdP) -> Flask:
    """`app.create_app`: the Flask app for ``idp`` (imports Flask)."""
    from mockidp.web.app import create_app as make

    return make(idp)
