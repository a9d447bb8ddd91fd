"""RFC 8628 §3.4 device access token request (``urn:ietf:params:oauth:grant-type:device_code``).

The client polls with its ``device_code``; the answer comes from `DeviceStore.poll` (§3.5):
``authorization_pending`` until the user answers, ``slow_down`` when polled sooner than the
interval (which then grows by 5 seconds), ``expired_token`` after ``expires_in``,
``access_denied`` after Deny, ``invalid_grant`` for an unknown code, another client's code or a
code already exchanged.  On approval the tokens are issued exactly once: an access token, an ID
token when ``openid`` was asked for, and a refresh token when the client may have one.
"""

from __future__ import annotations

from mockidp.core.device_codes import DEVICE_CODE_GRANT
from mockidp.core.errors import InvalidRequest
from mockidp.core.model import GrantFacts, Params
from mockidp.protocol.grants.base import GrantContext, wants_refresh_token


class DeviceCodeGrant:
    """``grant_type=urn:ietf:params:oauth:grant-type:device_code``."""

    grant_type = DEVICE_CODE_GRANT

    def handle(self, params: Params, ctx: GrantContext) -> GrantFacts:
        device_code = params.get("device_code")
        if device_code is None:
            raise InvalidRequest("missing 'device_code'")
        record = ctx.store.devices.poll(device_code, ctx.client.id, ctx.now)
        user_id = record.user_id or "user"
        user = ctx.find_user(user_id)
        return GrantFacts(
            grant_type=self.grant_type,
            client=ctx.client,
            sub=user.subject if user is not None else user_id,
            scopes=record.scopes,
            audience=record.audience,
            user=user,
            login_claims=record.login_claims,
            auth_time=record.auth_time,
            issue_id_token="openid" in record.scopes,
            issue_refresh_token=wants_refresh_token(ctx.client),
        )
