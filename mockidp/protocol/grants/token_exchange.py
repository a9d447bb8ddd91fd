"""RFC 8693 token exchange: ``grant_type=urn:ietf:params:oauth:grant-type:token-exchange``.

§2.1 request: ``subject_token`` and ``subject_token_type`` (required), ``actor_token`` and
``actor_token_type`` (together or not at all), ``audience``/``resource`` (the new token's
``aud``), ``scope`` and ``requested_token_type``.

Presented tokens are verified, never just decoded:

- ``...:token-type:refresh_token``: a live refresh token of this issuer, issued to this client;
- ``...:access_token``, ``...:id_token``, ``...:jwt``: a token of this provider (any of its
  issuers; JWT or opaque; signature, ``exp``/``nbf``, revocation), or a JWT from elsewhere
  signed with a key of the client's ``jwks``/``jwks_uri`` or HMAC with its secret (the client
  vouches for that issuer); a JWT needs an ``exp``.  The subject token's ``aud`` is not
  checked: a resource server exchanges the tokens that were sent to it.

The subject's scopes bound the new token's (a wider ``scope`` is ``invalid_scope``); a
configured user whose id or ``sub`` is the subject brings their claims.  With an actor, the new
token carries ``act: {"sub": <actor>}``, with the actor token's own ``act`` nested inside it
(§4.1: prior actors); a subject token's ``may_act`` (§4.4) must name the actor.

§2.2.1 response: ``issued_token_type`` is ``access_token`` (the default), ``jwt`` (the same
access token, always a JWT even for clients with opaque access tokens) or ``id_token`` (an ID
token in the ``access_token`` member, ``token_type`` ``N_A``).  No refresh token is issued.
Any other ``requested_token_type`` is ``invalid_request``.

§2.2.2: invalid or unacceptable subject or actor tokens are ``invalid_request`` (the RFC
requires this code, not ``invalid_grant``), with a description naming the check that failed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mockidp.core.errors import InvalidRequest, InvalidScope
from mockidp.core.model import (
    EMPTY,
    GrantFacts,
    Params,
    User,
)
from mockidp.protocol.assertions import (
    AssertionRejected,
    Trust,
    check_times,
    string_claim,
)
from mockidp.protocol.grants.base import (
    GrantContext,
    requested_audience,
    requested_scopes,
)
from mockidp.protocol.grants.jwt_bearer import require_trust, user_by_subject
from mockidp.tokens.signer import TokenRejected

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
PRESENTABLE_TYPES = (ACCESS_TOKEN_TYPE, REFRESH_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_TOKEN_TYPE)
ISSUABLE_TYPES = (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, ID_TOKEN_TYPE)


@dataclass(frozen=True)
class Presented:
    """A verified subject or actor token: who it is about and what it carried."""

    sub: str
    claims: Mapping[str, Any]
    scopes: tuple[str, ...] | None  # None: the token says nothing about scopes
    user: User | None
    login_claims: Mapping[str, Any] = dataclasses.field(default_factory=lambda: EMPTY)
    auth_time: int | None = None


def _pair(params: Params, name: str, required: bool) -> tuple[str, str] | None:
    token, token_type = params.get(name), params.get(name + "_type")
    if token is None and token_type is None and not required:
        return None
    if token is None:
        raise InvalidRequest(f"missing '{name}' (RFC 8693 section 2.1)")
    if token_type is None:
        raise InvalidRequest(f"missing '{name}_type' (RFC 8693 section 2.1)")
    if token_type not in PRESENTABLE_TYPES:
        raise InvalidRequest(f"{name}_type {token_type!r} is not supported; supported: "
                             + ", ".join(PRESENTABLE_TYPES))
    return token, token_type


def verify_presented(token: str, token_type: str, ctx: GrantContext, trust: Trust
                     ) -> Presented:
    """Verify a subject or actor token of ``token_type``; `AssertionRejected` or
    `signer.TokenRejected` say why not."""
    if token_type == REFRESH_TOKEN_TYPE:
        record = ctx.store.get_refresh(token, ctx.now)
        if record is None:
            raise AssertionRejected("refresh token is unknown, expired or revoked")
        if record.client_id != ctx.client.id:
            raise AssertionRejected("refresh token was issued to another client")
        if record.jkt is not None and record.jkt != ctx.dpop_jkt:
            raise AssertionRejected("refresh token is bound to a DPoP key (RFC 9449): send a "
                                    "proof signed with it")
        return Presented(
            record.sub, {"sub": record.sub}, record.scopes,
            ctx.find_user(record.user_id) if record.user_id else None,
            record.login_claims, record.auth_time)
    claims = trust.own_token(token)
    if claims is None:
        claims = trust.client_jwt(token, ctx.client)
    elif token.count(".") == 2:
        check_times(claims, trust.now)  # a JWT of ours without exp is no credential either
    sub = string_claim(claims, "sub")
    scope = claims.get("scope")
    auth_time = claims.get("auth_time")
    return Presented(
        sub, claims, tuple(scope.split()) if isinstance(scope, str) else None,
        user_by_subject(ctx, sub),
        auth_time=auth_time if isinstance(auth_time, int) and not isinstance(auth_time, bool)
        else None)


def _verified(params: Params, name: str, ctx: GrantContext, trust: Trust,
              required: bool) -> Presented | None:
    pair = _pair(params, name, required)
    if pair is None:
        return None
    try:
        return verify_presented(pair[0], pair[1], ctx, trust)
    except (AssertionRejected, TokenRejected) as exc:
        raise InvalidRequest(f"{name} rejected: {exc}") from None


def actor_claim(actor: Presented) -> dict[str, Any]:
    """RFC 8693 §4.1 ``act``: the actor's ``sub``; its own ``act`` nested (prior actors)."""
    act: dict[str, Any] = {"sub": actor.sub}
    prior = actor.claims.get("act")
    if isinstance(prior, dict):
        act["act"] = prior
    return act


class TokenExchangeGrant:
    """``grant_type=urn:ietf:params:oauth:grant-type:token-exchange``."""

    grant_type = TOKEN_EXCHANGE_GRANT

    def handle(self, params: Params, ctx: GrantContext) -> GrantFacts:
        trust = require_trust(ctx)
        requested = params.get("requested_token_type") or ACCESS_TOKEN_TYPE
        if requested not in ISSUABLE_TYPES:
            raise InvalidRequest(f"requested_token_type {requested!r} cannot be issued; "
                                 "supported: " + ", ".join(ISSUABLE_TYPES))
        subject = _verified(params, "subject_token", ctx, trust, required=True)
        assert subject is not None
        actor = _verified(params, "actor_token", ctx, trust, required=False)
        may_act = subject.claims.get("may_act")
        if actor is not None and isinstance(may_act, dict) and "sub" in may_act \
                and may_act["sub"] != actor.sub:
            raise InvalidRequest(f"actor {actor.sub!r} is not the one the subject token's "
                                 "may_act allows (RFC 8693 section 4.4)")
        scopes = requested_scopes(params)
        if subject.scopes is not None:
            wider = [s for s in scopes if s not in subject.scopes]
            if wider:
                raise InvalidScope("scope exceeds the subject token's scope: " + " ".join(wider))
            scopes = scopes or subject.scopes
        client = ctx.client
        if requested == JWT_TOKEN_TYPE and (
                client.access_token_format or ctx.settings.access_token_format) == "opaque":
            client = dataclasses.replace(client, access_token_format="jwt")
        return GrantFacts(
            grant_type=self.grant_type,
            client=client,
            sub=subject.user.subject if subject.user is not None else subject.sub,
            scopes=scopes,
            audience=requested_audience(params, ctx.client),
            user=subject.user,
            login_claims=subject.login_claims,
            auth_time=subject.auth_time,
            issue_access_token=requested != ID_TOKEN_TYPE,
            issue_id_token=requested == ID_TOKEN_TYPE,
            issued_token_type=requested,
            act=actor_claim(actor) if actor is not None else None,
        )


def exchange_response(response: dict[str, Any], facts: GrantFacts,
                      minted: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """RFC 8693 §2.2.1: add ``issued_token_type``; an ID token travels as ``access_token``
    with ``token_type`` ``N_A``.  Responses of other grants pass unchanged."""
    issued = facts.issued_token_type
    if issued is None:
        return response
    if issued != ID_TOKEN_TYPE:
        return {**response, "issued_token_type": issued}
    out: dict[str, Any] = {"access_token": response["id_token"], "issued_token_type": issued,
                           "token_type": "N_A"}
    claims = minted.get("id_token", EMPTY)
    exp, iat = claims.get("exp"), claims.get("iat")
    if isinstance(exp, int) and isinstance(iat, int):
        out["expires_in"] = max(exp - iat, 0)
    if facts.scopes:
        out["scope"] = " ".join(facts.scopes)
    return out
