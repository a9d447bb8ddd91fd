"""The HTTP layer: a thin Flask app over `MockIdP`."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
