"""Grant handlers, one module per grant type, and the registry that picks one by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from mockidp.protocol.grants.authorization_code import AuthorizationCodeGrant
from mockidp.protocol.grants.base import GrantContext, GrantHandler
from mockidp.protocol.grants.client_credentials import ClientCredentialsGrant
from mockidp.protocol.grants.device_code import DeviceCodeGrant
from mockidp.protocol.grants.jwt_bearer import JwtBearerGrant
from mockidp.protocol.grants.password import PasswordGrant
from mockidp.protocol.grants.refresh_token import RefreshTokenGrant
from mockidp.protocol.grants.token_exchange import TokenExchangeGrant

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
