"""mockidp: a scriptable mock OAuth 2.0 / OpenID Connect identity provider for tests.

Importing this package is cheap and has no side effects: nothing starts, Flask is not imported.
"""

from __future__ import annotations

from mockidp.core.clock import Clock
from mockidp.core.errors import MockIdPError, OAuthError
from mockidp.core.model import Client, User
from mockidp.core.settings import Settings, load_settings
from mockidp.core.version import __version__
from mockidp.provider import MockIdP

__all__ = [
    "Client",
    "Clock",
    "MockIdP",
    "MockIdPError",
    "OAuthError",
    "Settings",
    "User",
    "__version__",
    "load_settings",
]
