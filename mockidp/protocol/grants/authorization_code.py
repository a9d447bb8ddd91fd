"""RFC 6749 §4.1.3 authorization code grant, with RFC 7636 PKCE at the token endpoint.

Codes are single-use (a second use revokes what the first issued) and expire on the provider
clock.  A code issued for a request that carried a ``code_challenge`` cannot be redeemed
without the matching ``code_verifier``, and a ``code_verifier`` for a request that carried no
challenge is refused too (RFC 9700 §2.1.1: no PKCE downgrade).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

from mockidp.core.errors import InvalidGrant, InvalidRequest
from mockidp.core.model import GrantFacts, Params
from mockidp.core.stores import IssuerStore
from mockidp.protocol.grants.base import NOBODY, GrantContext, Peek, wants_refresh_token
from mockidp.tokens.jose import b64url_encode

PKCE_VALUE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")  # RFC 7636 §4.1 and §4.2


def pkce_transform(verifier: str, method: str) -> str:
    """RFC 7636 §4.2: ``S256`` → BASE64URL(SHA256(verifier)); ``plain`` → verifier."""
    if method == "S256":
        return b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())
    return verifier


class AuthorizationCodeGrant:
    """``grant_type=authorization_code``."""

    grant_type = "authorization_code"

    def peek(self, params: Mapping[str, str], store: IssuerStore, now: float) -> Peek:
        """The user the code was issued for, and its scopes (the code stays unused)."""
        record = store.peek_code(params["code"], now) if params.get("code") else None
        return Peek(record.user_id, record.details.scopes) if record is not None else NOBODY

    def handle(self, params: Params, ctx: GrantContext) -> GrantFacts:
        code = params.get("code")
        if code is None:
            raise InvalidRequest("missing 'code'")
        redirect_uri = params.get("redirect_uri")
        verifier = params.get("code_verifier")
        record, first_use = ctx.store.redeem_code(code, ctx.now)
        if record is None:
            raise InvalidGrant("authorization code is unknown or expired")
        if not first_use:
            raise InvalidGrant(
                "authorization code was already used; tokens issued from it are revoked"
            )
        details = record.details
        if details.client_id != ctx.client.id:
            raise InvalidGrant("authorization code was issued to another client")
        if details.redirect_uri_sent and redirect_uri != details.redirect_uri:
            raise InvalidGrant(
                "redirect_uri does not match the one in the authorization request"
            )
        if details.code_challenge is not None:
            if verifier is None:
                raise InvalidGrant(
                    "code_verifier required: the authorization request carried a "
                    "code_challenge"
                )
            if not PKCE_VALUE.match(verifier):
                raise InvalidGrant(
                    "code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~"
                )
            expected = pkce_transform(verifier, details.code_challenge_method or "plain")
            if not hmac.compare_digest(expected, details.code_challenge):
                raise InvalidGrant("code_verifier does not match the code_challenge")
        elif verifier is not None:
            raise InvalidGrant(
                "code_verifier sent, but the authorization request carried no code_challenge"
            )
        explicit = params.get_all("audience") + params.get_all("resource")
        return GrantFacts(
            grant_type=self.grant_type,
            client=ctx.client,
            sub=record.sub,
            scopes=details.scopes,
            audience=tuple(dict.fromkeys(explicit)) or details.audience or ctx.client.audience,
            user=ctx.find_user(record.user_id),
            login_claims=record.login_claims,
            auth_time=record.auth_time,
            nonce=details.nonce,
            session_id=record.session_id,
            issue_id_token="openid" in details.scopes,
            issue_refresh_token=wants_refresh_token(ctx.client),
            refresh_family=record.family,
            acr=details.acr,
            claims_request=details.claims_request,
        )
