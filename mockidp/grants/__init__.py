"""Grant handlers, one module per grant type, and the registry that picks one by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .authorization_code import AuthorizationCodeGrant
from .base import GrantContext, GrantHandler
from .client_credentials import ClientCredentialsGrant
from .password import PasswordGrant
from .refresh_token import RefreshTokenGrant

GRANTS: Mapping[str, GrantHandler] = MappingProxyType(
    {
        handler.grant_type: handler
        for handler in (
            AuthorizationCodeGrant(),
            RefreshTokenGrant(),
            ClientCredentialsGrant(),
            PasswordGrant(),
        )
    }
)

__all__ = ["GRANTS", "GrantContext", "GrantHandler"]
