"""RFC 6749 §6 refreshing an access token.

Refresh tokens are stored; unknown, expired or revoked ones are ``invalid_grant``.  Rotation is
on by default: each use revokes the presented token and a new one is issued; presenting a
rotated-away token again revokes the whole family (RFC 9700 §4.14.2).  A narrower ``scope`` may
be asked for; a wider one is ``invalid_scope``.
"""

from __future__ import annotations

from mockidp.core.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
)
from mockidp.core.model import GrantFacts, Params
from mockidp.protocol.dpop import InvalidDPoPProof
from mockidp.protocol.grants.base import GrantContext, requested_scopes


class RefreshTokenGrant:
    """``grant_type=refresh_token``."""

    grant_type = "refresh_token"

    def handle(self, params: Params, ctx: GrantContext) -> GrantFacts:
        token = params.get("refresh_token")
        if token is None:
            raise InvalidRequest("missing 'refresh_token'")
        scopes = requested_scopes(params)
        bound = ctx.store.get_refresh(token, ctx.now)
        if bound is not None and bound.client_id == ctx.client.id and bound.jkt is not None \
                and bound.jkt != ctx.dpop_jkt:
            # RFC 9449 §5: checked before rotation, so a bad proof does not burn the token
            raise InvalidDPoPProof(
                "this refresh token is bound to a DPoP key: send a proof signed with it"
                if ctx.dpop_jkt is None else "this refresh token is bound to another DPoP key")
        record, problem = ctx.store.use_refresh(
            token, ctx.now, ctx.client.id, rotate=ctx.settings.rotate_refresh_tokens
        )
        if record is None:
            raise InvalidGrant(problem or "refresh token is unknown")
        if scopes:
            wider = [s for s in scopes if s not in record.scopes]
            if wider:
                raise InvalidScope(
                    "scope exceeds the scope originally granted: " + " ".join(wider)
                )
        else:
            scopes = record.scopes
        return GrantFacts(
            grant_type=self.grant_type,
            client=ctx.client,
            sub=record.sub,
            scopes=scopes,
            audience=record.audience,
            user=ctx.find_user(record.user_id) if record.user_id else None,
            login_claims=record.login_claims,
            auth_time=record.auth_time,
            session_id=record.session_id,
            issue_id_token="openid" in scopes,
            issue_refresh_token=ctx.settings.rotate_refresh_tokens,
            refresh_family=record.family,
            jkt=record.jkt,
            acr=record.acr,
            claims_request=record.claims_request,
        )
