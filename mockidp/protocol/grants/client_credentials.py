"""RFC 6749 §4.4 client credentials grant: the client acts for itself (``sub`` = client id).

Only confidential clients may use it; a registered public client is ``unauthorized_client``.
No refresh token is issued (§4.4.3) and no ID token (there is no user).
"""

from __future__ import annotations

from mockidp.core.errors import UnauthorizedClient
from mockidp.core.model import GrantFacts, Params
from mockidp.protocol.assertions import JWT_METHODS
from mockidp.protocol.grants.base import (
    GrantContext,
    requested_audience,
    requested_scopes,
)


class ClientCredentialsGrant:
    """``grant_type=client_credentials``."""

    grant_type = "client_credentials"

    def handle(self, params: Params, ctx: GrantContext) -> GrantFacts:
        client = ctx.client
        if client.registered and client.secret is None \
                and ctx.client_auth_method not in JWT_METHODS:  # private_key_jwt: confidential
            raise UnauthorizedClient(
                f"client '{client.id}' is public (no secret); client_credentials needs a "
                "confidential client"
            )
        return GrantFacts(
            grant_type=self.grant_type,
            client=client,
            sub=client.id,
            scopes=requested_scopes(params),
            audience=requested_audience(params, client),
        )
