"""RFC 6749 §4.3 resource owner password credentials grant (a test convenience).

Any username is accepted unless the user is configured with a password, which is then
checked; ``sub`` is the user's subject (the username unless the user's claims set ``sub``).
"""

from __future__ import annotations

import hmac

from mockidp.core.errors import InvalidGrant, InvalidRequest
from mockidp.core.model import GrantFacts, Params
from mockidp.protocol.grants.base import (
    GrantContext,
    requested_audience,
    requested_scopes,
    wants_refresh_token,
)


class PasswordGrant:
    """``grant_type=password``."""

    grant_type = "password"

    def handle(self, params: Params, ctx: GrantContext) -> GrantFacts:
        username = params.get("username")
        password = params.get("password")
        if username is None:
            raise InvalidRequest("missing 'username'")
        if password is None:
            raise InvalidRequest("missing 'password'")
        user = ctx.find_user(username)
        if (
            user is not None
            and user.password is not None
            and not hmac.compare_digest(user.password.encode(), password.encode())
        ):
            raise InvalidGrant("wrong username or password")
        scopes = requested_scopes(params)
        return GrantFacts(
            grant_type=self.grant_type,
            client=ctx.client,
            sub=user.subject if user is not None else username,
            scopes=scopes,
            audience=requested_audience(params, ctx.client),
            user=user,
            auth_time=int(ctx.now),
            issue_id_token="openid" in scopes,
            issue_refresh_token=wants_refresh_token(ctx.client),
        )
