"""The records an issuer keeps between requests: authorization codes (RFC 6749 §4.1.2),
refresh tokens (§6) and their grant families (§10.5), opaque access tokens (RFC 7662),
login sessions and their clients (OIDC Core §3.1.2, Back-Channel Logout §2), pending
interactions, pushed requests (RFC 9126 §2.2).  Plain data with an expiry on the provider
clock; `mockidp.core.stores` keeps them.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mockidp.core.model import ClaimsRequest


def new_handle() -> str:
    """An unguessable opaque value for codes, refresh tokens, sessions and interactions."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class AuthorizationDetails:
    """A validated authorization request, as the login page and the code carry it forward."""

    client_id: str
    redirect_uri: str
    redirect_uri_sent: bool
    response_type: str
    response_mode: str
    scopes: tuple[str, ...]
    state: str | None = None
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    audience: tuple[str, ...] = ()
    prompt: tuple[str, ...] = ()
    login_hint: str | None = None
    max_age: int | None = None
    acr: str | None = None
    claims_request: ClaimsRequest | None = None


@dataclass
class CodeRecord:
    """An authorization code (RFC 6749 §4.1.2) and what it was issued for."""

    details: AuthorizationDetails
    sub: str
    user_id: str
    login_claims: Mapping[str, Any]
    auth_time: int
    session_id: str | None
    expires_at: float
    redeemed: bool = False
    family: str = field(default_factory=new_handle)


@dataclass
class RefreshRecord:
    """A refresh token (RFC 6749 §6); ``family`` links rotated generations."""

    client_id: str
    sub: str
    user_id: str | None
    scopes: tuple[str, ...]
    audience: tuple[str, ...]
    login_claims: Mapping[str, Any]
    auth_time: int | None
    session_id: str | None
    nonce: str | None
    expires_at: float
    issued_at: float
    family: str
    revoked: bool = False
    acr: str | None = None
    jkt: str | None = None
    claims_request: ClaimsRequest | None = None


@dataclass
class OpaqueToken:
    """An opaque (reference) access token's claims, resolved by introspection and userinfo."""

    claims: Mapping[str, Any]
    expires_at: float


@dataclass
class LoginSession:
    """A browser login session.  ``id`` is the cookie's secret; ``sid`` the public claim."""

    id: str
    sid: str
    sub: str
    user_id: str
    login_claims: Mapping[str, Any]
    auth_time: int
    expires_at: float
    # the consent given in this session: client id -> the scopes allowed
    # (`mockidp.protocol.consent`)
    consents: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass
class Interaction:
    """An authorization request waiting for the login page's answer, or, with
    ``session_id`` (the login session that answers it), for the consent page's."""

    id: str
    details: AuthorizationDetails
    expires_at: float
    session_id: str | None = None


@dataclass
class PushedRequest:
    """A pushed authorization request (RFC 9126 §2.2): its parameters, for one use."""

    client_id: str
    params: tuple[tuple[str, str], ...]
    expires_at: float
