"""Per-issuer runtime state: authorization codes, refresh tokens, revocations, sessions.

Every record carries an expiry on the provider clock; expired records are swept as the store
grows, so a long-running server stays bounded.  All operations are atomic under one lock per
issuer: a code is redeemed exactly once and a refresh token rotates exactly once, even raced.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from mockidp.core.device_codes import DeviceStore
from mockidp.core.model import ClaimsRequest

_SWEEP_EVERY = 256


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
    # the consent given in this session: client id -> the scopes allowed (`mockidp.consent`)
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


T = TypeVar("T")


class _Expiring(Generic[T]):
    """A dict of records with ``expires_at``; swept every few inserts (caller holds the lock)."""

    def __init__(self) -> None:
        self.items: dict[str, T] = {}
        self._inserts = 0

    def put(self, key: str, item: T, now: float) -> None:
        self.items[key] = item
        self._inserts += 1
        if self._inserts % _SWEEP_EVERY == 0:
            self.sweep(now)

    def get(self, key: str, now: float) -> T | None:
        item = self.items.get(key)
        if item is None:
            return None
        if now >= getattr(item, "expires_at"):  # noqa: B009 - duck-typed records
            del self.items[key]
            return None
        return item

    def sweep(self, now: float) -> None:
        dead = [k for k, v in self.items.items() if now >= getattr(v, "expires_at")]  # noqa: B009
        for key in dead:
            del self.items[key]

    def __len__(self) -> int:
        return len(self.items)


class IssuerStore:
    """All mutable protocol state of one issuer.  Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._codes: _Expiring[CodeRecord] = _Expiring()
        self._refresh: _Expiring[RefreshRecord] = _Expiring()
        self._revoked: dict[str, float] = {}
        self._opaque: _Expiring[OpaqueToken] = _Expiring()
        self._family_tokens: dict[str, list[tuple[str, float]]] = {}
        self._revoked_families: dict[str, None] = {}  # insertion-ordered, bounded
        self._family_inserts = 0
        self._sessions: _Expiring[LoginSession] = _Expiring()
        self._session_clients: dict[str, set[str]] = {}
        self._interactions: _Expiring[Interaction] = _Expiring()
        self._pushed: _Expiring[PushedRequest] = _Expiring()
        self.devices = DeviceStore()  # RFC 8628 device authorization requests (own lock)

    def clear(self) -> None:
        """Forget everything (used by `MockIdP.reset`)."""
        with self._lock:
            self.__init__()  # type: ignore[misc]

    def counts(self) -> dict[str, int]:
        """How many records of each kind are held (for tests and the dashboard)."""
        with self._lock:
            return {
                "codes": len(self._codes),
                "refresh_tokens": len(self._refresh),
                "revoked_access_tokens": len(self._revoked),
                "opaque_access_tokens": len(self._opaque),
                "grant_families": len(self._family_tokens),
                "sessions": len(self._sessions),
                "interactions": len(self._interactions),
                "pushed_requests": len(self._pushed),
                "device_authorizations": len(self.devices),
            }

    # -- authorization codes ------------------------------------------------------------------
    def put_code(self, code: str, record: CodeRecord, now: float) -> None:
        with self._lock:
            self._codes.put(code, record, now)

    def peek_code(self, code: str, now: float) -> CodeRecord | None:
        """The record of a live code, without redeeming it (for rule matching)."""
        with self._lock:
            return self._codes.get(code, now)

    def redeem_code(self, code: str, now: float) -> tuple[CodeRecord | None, bool]:
        """Mark ``code`` redeemed; returns (record, first_use).  Unknown/expired → (None, False).

        A second use returns the record with ``first_use=False`` and revokes every refresh
        token issued from it (RFC 6749 §4.1.2: codes are single-use).
        """
        with self._lock:
            record = self._codes.get(code, now)
            if record is None:
                return None, False
            if record.redeemed:
                self._revoke_family(record.family)
                return record, False
            record.redeemed = True
            return record, True

    # -- refresh tokens -----------------------------------------------------------------------
    def put_refresh(self, token: str, record: RefreshRecord, now: float) -> None:
        with self._lock:
            if record.family in self._revoked_families:
                record.revoked = True  # the grant was revoked while this was being issued
            self._refresh.put(token, record, now)

    def get_refresh(self, token: str, now: float) -> RefreshRecord | None:
        """A live (not revoked, not expired) refresh token record."""
        with self._lock:
            record = self._refresh.get(token, now)
            return record if record is not None and not record.revoked else None

    def use_refresh(
        self, token: str, now: float, client_id: str, rotate: bool
    ) -> tuple[RefreshRecord | None, str | None]:
        """Check a refresh token for ``client_id`` and, with ``rotate``, revoke it in one step.

        Returns (record, None) or (None, why).  Presenting a token that was already rotated
        away or revoked revokes its whole family (RFC 9700 §4.14.2 reuse detection).
        """
        with self._lock:
            record = self._refresh.get(token, now)
            if record is None:
                return None, "refresh token is unknown or expired"
            if record.client_id != client_id:
                return None, "refresh token was issued to another client"
            if record.revoked:
                self._revoke_family(record.family)
                return None, "refresh token was revoked or already used"
            if rotate:
                record.revoked = True
            return record, None

    def revoke_refresh(self, token: str) -> RefreshRecord | None:
        """Revoke one refresh token (RFC 7009); returns its record if it was known."""
        with self._lock:
            record = self._refresh.items.get(token)
            if record is not None:
                self._revoke_family(record.family)
            return record

    def note_access_token(self, family: str, jti: str, expires_at: float, now: float) -> None:
        """Remember that access token ``jti`` came from grant ``family``, so revoking the
        family (code replay, refresh reuse, refresh revocation) revokes it too."""
        with self._lock:
            if family in self._revoked_families:
                # revoked (raced code replay, refresh reuse) while this was being issued
                self._revoked[jti] = expires_at
                return
            self._family_tokens.setdefault(family, []).append((jti, expires_at))
            self._family_inserts += 1
            if self._family_inserts % _SWEEP_EVERY == 0:
                for key in [k for k, tokens in self._family_tokens.items()
                            if all(now >= exp for _, exp in tokens)]:
                    del self._family_tokens[key]

    def _revoke_family(self, family: str) -> None:
        """Revoke every refresh and access token of one grant (caller holds the lock), and
        every one issued for it later (a racing request may still be minting)."""
        if len(self._revoked_families) >= 4096:
            self._revoked_families.pop(next(iter(self._revoked_families)))
        self._revoked_families[family] = None
        for record in self._refresh.items.values():
            if record.family == family:
                record.revoked = True
        for jti, expires_at in self._family_tokens.pop(family, ()):
            self._revoked[jti] = expires_at

    # -- opaque access tokens ------------------------------------------------------------------
    def put_opaque(self, token: str, claims: Mapping[str, Any], expires_at: float,
                   now: float) -> None:
        with self._lock:
            self._opaque.put(token, OpaqueToken(claims, expires_at), now)

    def get_opaque(self, token: str, now: float) -> Mapping[str, Any] | None:
        """The claims of a live opaque token (expired ones are forgotten)."""
        with self._lock:
            found = self._opaque.get(token, now)
            return found.claims if found is not None else None

    # -- access token revocation --------------------------------------------------------------
    def revoke_jti(self, jti: str, expires_at: float, now: float) -> None:
        with self._lock:
            self._revoked[jti] = expires_at
            if len(self._revoked) % _SWEEP_EVERY == 0:
                for key in [k for k, exp in self._revoked.items() if now >= exp]:
                    del self._revoked[key]

    def is_revoked(self, jti: str) -> bool:
        return jti in self._revoked

    # -- login sessions -----------------------------------------------------------------------
    def put_session(self, session: LoginSession, now: float) -> None:
        with self._lock:
            self._sessions.put(session.id, session, now)

    def get_session(self, session_id: str | None, now: float) -> LoginSession | None:
        if not session_id:
            return None
        with self._lock:
            return self._sessions.get(session_id, now)

    def note_session_client(self, sid: str, client_id: str) -> None:
        """Remember that ``client_id`` got tokens in login session ``sid`` (for logout)."""
        with self._lock:
            if sid not in self._session_clients and len(self._session_clients) >= 4096:
                live = {session.sid for session in self._sessions.items.values()}
                self._session_clients = {k: v for k, v in self._session_clients.items()
                                         if k in live}
            clients = self._session_clients.setdefault(sid, set())
            if len(clients) < 100:
                clients.add(client_id)

    def session_by_sid(self, sid: str, now: float) -> LoginSession | None:
        with self._lock:
            for session in self._sessions.items.values():
                if session.sid == sid and now < session.expires_at:
                    return session
            return None

    def take_session_clients(self, sid: str) -> set[str]:
        with self._lock:
            return self._session_clients.pop(sid, set())

    def end_session(self, session_id: str | None) -> LoginSession | None:
        if not session_id:
            return None
        with self._lock:
            return self._sessions.items.pop(session_id, None)

    # -- pending interactions (login page) ----------------------------------------------------
    def put_interaction(self, interaction: Interaction, now: float) -> None:
        with self._lock:
            self._interactions.put(interaction.id, interaction, now)

    def get_interaction(self, interaction_id: str, now: float) -> Interaction | None:
        with self._lock:
            return self._interactions.get(interaction_id, now)

    def take_interaction(self, interaction_id: str, now: float) -> Interaction | None:
        with self._lock:
            found = self._interactions.get(interaction_id, now)
            if found is not None:
                del self._interactions.items[interaction_id]
            return found

    # -- pushed authorization requests (RFC 9126) ---------------------------------------------
    def put_pushed(self, request_uri: str, pushed: PushedRequest, now: float) -> None:
        with self._lock:
            self._pushed.put(request_uri, pushed, now)

    def take_pushed(
        self, request_uri: str, client_id: str | None, now: float
    ) -> tuple[PushedRequest | None, str]:
        """Use a pushed request once (RFC 9126 §4); (None, why) when it cannot be used.

        A request_uri presented by another client is refused and left for its own client.
        """
        with self._lock:
            found = self._pushed.get(request_uri, now)
            if found is None:
                return None, "request_uri is unknown, expired or already used"
            if found.client_id != client_id:
                return None, "request_uri was pushed by another client"
            del self._pushed.items[request_uri]
            return found, ""

