"""mockidp: a scriptable mock OAuth 2.0 / OpenID Connect identity provider for tests.

Importing this package is cheap and has no side effects: nothing starts, Flask is not imported.
"""

from __future__ import annotations

from .clock import Clock
from .errors import MockIdPError, OAuthError
from .model import Client, User
from .provider import MockIdP
from .settings import Settings, load_settings

__all__ = [
    "Client",
    "Clock",
    "MockIdP",
    "MockIdPError",
    "OAuthError",
    "Settings",
    "User",
    "load_settings",
]
__version__ = "0.1.0"
