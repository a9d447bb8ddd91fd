"""Grant handlers, one module per grant type, and the registry that picks one by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .authorization_code import AuthorizationCodeGrant
from .base import GrantContext, GrantHandler
from .client_credentials import ClientCredentialsGrant
from .device_code import DeviceCodeGrant
from .jwt_bearer import JwtBearerGrant
from .password import PasswordGrant
from .refresh_token import RefreshTokenGrant
from .token_exchange import TokenExchangeGrant

GRANTS: Mapping[str, GrantHandler] = MappingProxyType(
    {
        handler.grant_type: handler
        for handler in (
            AuthorizationCodeGrant(),
            RefreshTokenGrant(),
            ClientCredentialsGrant(),
            PasswordGrant(),
            DeviceCodeGrant(),
            JwtBearerGrant(),
            TokenExchangeGrant(),
        )
    }
)

__all__ = ["GRANTS", "GrantContext", "GrantHandler"]
