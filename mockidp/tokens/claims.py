"""The claims pipeline: grant facts in, access-token / ID-token / userinfo claims out.

RFC 7519 §4.1 (registered claims), RFC 9068 §2.2 (JWT access token claims), OIDC Core §2
(ID token), §5.1 and §5.4 (standard claims by scope), §5.5 (the ``claims`` request).

Fixed order, later steps win (documented in docs/keys-and-tokens.md, tested in
tests/test_claims.py):

1. registered claims: ``iss``, ``jti``
2. grant facts: ``sub``, ``aud``, ``client_id``/``azp``, ``scope``, ``auth_time``, ``nonce``,
   ``sid``, ``at_hash``/``c_hash``, ``acr`` (the first requested ``acr_values``), ``act``
   (the actor of a token exchange, RFC 8693 §4.1)
3. client claims (configured on the client)
4. user claims allowed by the granted scopes (OIDC Core §5.4: ``profile``, ``email``, ``phone``,
   ``address``; claims that are not standard are always included) or requested one by one
   with the ``claims`` parameter (OIDC Core §5.5: ``id_token`` members in the ID token,
   ``userinfo`` members in the access token and so in userinfo), then the claims typed on the
   login page for this login
4b. the profile's claims step (Keycloak's ``realm_access``, Entra's ``tid``/``oid``...)
5. scripted override layers (rules), then per-call overrides (``mint(claims=...)``): these may
   set or delete *any* claim, protected ones included
6. time stamps ``iat``, ``nbf``, ``exp`` from the provider clock, unless step 5 set or deleted them

Steps 3 and 4 can never change a protected claim (``iss``, ``sub``, ``aud``, ``exp``...): config
validation refuses them, and the pipeline skips them as a second line of defence.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mockidp.core.model import (
    EMPTY,
    GrantFacts,
    User,
)
from mockidp.core.settings import PROTECTED_CLAIMS
from mockidp.tokens.signer import half_hash

SCOPE_CLAIMS: Mapping[str, tuple[str, ...]] = {
    "profile": (
        "name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
        "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale",
        "updated_at",
    ),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}
STANDARD_CLAIMS: frozenset[str] = frozenset(c for cs in SCOPE_CLAIMS.values() for c in cs)
_NOT_USER_CLAIMS = PROTECTED_CLAIMS | {"sub", "typ"}
ProfileStep = Callable[[dict[str, Any], GrantFacts], None]  # a profile's shaping (in place)


@dataclass(frozen=True)
class ClaimLayer:
    """One override layer: claims to set, then claim names to delete."""

    set: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    delete: Collection[str] = ()


def new_jti() -> str:
    """A fresh, unguessable JWT id."""
    return secrets.token_urlsafe(16)


def user_claims(
    user: User | None, login_claims: Mapping[str, Any], scopes: Collection[str],
    requested: Collection[str] = (),
) -> dict[str, Any]:
    """The user's claims allowed by ``scopes``: standard ones per scope, custom ones always,
    and the claims ``requested`` one by one (OIDC Core §5.5) whatever the scopes."""
    if user is None and not login_claims:
        return {}  # a client's own token (client_credentials): no user claims at all
    allowed = {c for scope in scopes for c in SCOPE_CLAIMS.get(scope, ())} | set(requested)
    merged = {**(user.claims if user is not None else EMPTY), **login_claims}
    return {
        name: value
        for name, value in merged.items()
        if name not in _NOT_USER_CLAIMS and (name not in STANDARD_CLAIMS or name in allowed)
    }


def _merge_unprotected(claims: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for name, value in extra.items():
        if name not in _NOT_USER_CLAIMS:
            claims[name] = value


def _apply_layers(claims: dict[str, Any], layers: Iterable[ClaimLayer]) -> set[str]:
    touched: set[str] = set()
    for layer in layers:
        claims.update(layer.set)
        touched.update(layer.set)
        for name in layer.delete:
            claims.pop(name, None)
            touched.add(name)
    return touched


def _stamp_times(claims: dict[str, Any], now: int, lifetime: int, touched: set[str]) -> None:
    if "iat" not in touched:
        claims["iat"] = now
    if "nbf" not in touched:
        claims["nbf"] = now
    if "exp" not in touched:
        claims["exp"] = now + lifetime


def requested_claims(facts: GrantFacts, target: str) -> tuple[str, ...]:
    """Claim names the ``claims`` request parameter asks for in ``target`` (``userinfo`` or
    ``id_token``; OIDC Core §5.5).  Userinfo claims travel in the access token, which is what
    the userinfo endpoint answers from, so the token endpoint and userinfo both honour them."""
    request = facts.claims_request
    if request is None:
        return ()
    return tuple(request.userinfo if target == "userinfo" else request.id_token)


def audience_claim(audience: Collection[str]) -> str | list[str]:
    """A single audience as a string, several as a list (RFC 7519 §4.1.3)."""
    values = list(audience)
    return values[0] if len(values) == 1 else values


def access_token_claims(
    issuer_url: str,
    facts: GrantFacts,
    now: int,
    lifetime: int,
    layers: Iterable[ClaimLayer] = (),
    profile_step: ProfileStep | None = None,
) -> dict[str, Any]:
    """Access-token claims (steps 1-6 above; ``profile_step`` shapes them the profile's way
    between steps 4 and 5)."""
    claims: dict[str, Any] = {"iss": issuer_url, "jti": new_jti()}
    claims["sub"] = facts.sub
    claims["aud"] = audience_claim(facts.audience or (facts.client.id,))
    claims["client_id"] = facts.client.id
    claims["azp"] = facts.client.id
    if facts.scopes:
        claims["scope"] = " ".join(facts.scopes)
    if facts.auth_time is not None:
        claims["auth_time"] = facts.auth_time
    if facts.session_id is not None:
        claims["sid"] = facts.session_id
    if facts.acr is not None:
        claims["acr"] = facts.acr
    if facts.jkt is not None:
        claims["cnf"] = {"jkt": facts.jkt}  # RFC 9449 §6.1
    if facts.act is not None:
        claims["act"] = copy.deepcopy(dict(facts.act))  # RFC 8693 §4.1
    _merge_unprotected(claims, facts.client.claims)
    _merge_unprotected(claims, user_claims(facts.user, facts.login_claims, facts.scopes,
                                           requested_claims(facts, "userinfo")))
    if profile_step is not None:
        profile_step(claims, facts)
    touched = _apply_layers(claims, layers)
    _stamp_times(claims, now, lifetime, touched)
    return claims


def id_token_claims(
    issuer_url: str,
    facts: GrantFacts,
    now: int,
    lifetime: int,
    alg: str,
    access_token: str | None = None,
    code: str | None = None,
    layers: Iterable[ClaimLayer] = (),
    profile_step: ProfileStep | None = None,
) -> dict[str, Any]:
    """ID-token claims per OIDC Core §2 and §3.1.3.6 (steps 1-6 above, ``profile_step`` as
    for the access token)."""
    claims: dict[str, Any] = {"iss": issuer_url, "jti": new_jti()}
    claims["sub"] = facts.sub
    claims["aud"] = facts.client.id
    claims["azp"] = facts.client.id
    if facts.auth_time is not None:
        claims["auth_time"] = facts.auth_time
    if facts.nonce is not None:
        claims["nonce"] = facts.nonce
    if facts.session_id is not None:
        claims["sid"] = facts.session_id
    if access_token is not None:
        claims["at_hash"] = half_hash(access_token, alg)
    if code is not None:
        claims["c_hash"] = half_hash(code, alg)
    if facts.acr is not None:
        claims["acr"] = facts.acr
    if facts.act is not None:
        claims["act"] = copy.deepcopy(dict(facts.act))  # RFC 8693 §4.1
    _merge_unprotected(claims, facts.client.claims)
    _merge_unprotected(claims, user_claims(facts.user, facts.login_claims, facts.scopes,
                                           requested_claims(facts, "id_token")))
    if profile_step is not None:
        profile_step(claims, facts)
    touched = _apply_layers(claims, layers)
    _stamp_times(claims, now, lifetime, touched)
    return claims


def userinfo_claims(
    access_claims: Mapping[str, Any], layers: Iterable[ClaimLayer] = (),
    profile_step: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """OIDC Core §5.3 userinfo: ``sub`` and the user claims the access token carries.

    The access token already holds exactly the user claims its scopes allow and those the
    ``claims`` parameter asked of userinfo (step 4), so userinfo answers for the token's own
    subject, scopes and claims request, never a fixed user.
    """
    claims: dict[str, Any] = {"sub": access_claims.get("sub")}
    for name, value in access_claims.items():
        if name not in _NOT_USER_CLAIMS:
            claims[name] = value
    if profile_step is not None:
        profile_step(claims)
    _apply_layers(claims, layers)
    return claims
