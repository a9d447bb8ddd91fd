"""What an issuer keeps between requests, behind one small interface (`IssuerStore`) so
that a shared store can stand in for `MemoryStore` without touching an endpoint.

Every record carries an expiry on the provider clock; expired records are swept as the store
grows, and each kind holds at most ``store_limit`` (config), so a long-running server stays
bounded.  Past the limit the expired go first, then the oldest; where forgetting a live record
weakens a check (a revocation, a replay cache entry), the one expiring soonest goes instead, so
a revoked token is accepted again only when more than ``store_limit`` live ones of an issuer
are revoked at once, and only the one closest to its own expiry.

All operations are atomic under one lock per issuer: a code is redeemed exactly once (RFC 6749
§4.1.2) and a refresh token rotates exactly once (§10.4), even raced; a replayed ``jti`` is
seen as used once (RFC 7523 §3, RFC 9449 §11.1).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

from mockidp.core.device_codes import DeviceStore, Devices
from mockidp.core.model import Client, User
from mockidp.core.records import (
    CodeRecord,
    Interaction,
    LoginSession,
    OpaqueToken,
    PushedRequest,
    RefreshRecord,
)


class IssuerStore(Protocol):
    """The mutable state of one issuer: the interface every endpoint and grant goes through.

    Codes, refresh tokens (and their grant families), opaque access tokens, revocations,
    login sessions and their clients, pending interactions, pushed requests, device
    authorization requests, replay caches, and the users and clients added at run time.
    ``now`` is always the provider clock.  Each method is atomic; none blocks for long.
    """

    @property
    def devices(self) -> Devices:
        """RFC 8628 device authorization requests."""
        ...

    def clear(self) -> None:
        """Forget everything but the configured users and clients (`Provider.reset`)."""

    def counts(self) -> dict[str, int]:
        """How many records of each kind are held (for tests and the dashboard)."""
        ...

    # authorization codes: RFC 6749 §4.1.2, single use
    def put_code(self, code: str, record: CodeRecord, now: float) -> None: ...
    def peek_code(self, code: str, now: float) -> CodeRecord | None: ...
    def redeem_code(self, code: str, now: float) -> tuple[CodeRecord | None, bool]: ...

    # refresh tokens: RFC 6749 §6, rotation and reuse detection (§10.4)
    def put_refresh(self, token: str, record: RefreshRecord, now: float) -> None: ...
    def get_refresh(self, token: str, now: float) -> RefreshRecord | None: ...
    def use_refresh(self, token: str, now: float, client_id: str, rotate: bool
                    ) -> tuple[RefreshRecord | None, str | None]: ...
    def revoke_refresh(self, token: str, now: float) -> RefreshRecord | None: ...
    def note_access_token(self, family: str, jti: str, expires_at: float,
                          now: float) -> None: ...

    # opaque access tokens and revocations: RFC 7662, RFC 7009
    def put_opaque(self, token: str, claims: Mapping[str, Any], expires_at: float,
                   now: float) -> None: ...
    def get_opaque(self, token: str, now: float) -> Mapping[str, Any] | None: ...
    def revoke_jti(self, jti: str, expires_at: float, now: float) -> None: ...
    def is_revoked(self, jti: str) -> bool: ...

    # login sessions and the clients that got tokens in them (logout)
    def put_session(self, session: LoginSession, now: float) -> None: ...
    def get_session(self, session_id: str | None, now: float) -> LoginSession | None: ...
    def note_session_client(self, sid: str, client_id: str, now: float) -> None: ...
    def session_by_sid(self, sid: str, now: float) -> LoginSession | None: ...
    def take_session_clients(self, sid: str) -> set[str]: ...
    def end_session(self, session_id: str | None) -> LoginSession | None: ...

    # login and consent pages waiting for their answer; pushed requests (RFC 9126)
    def put_interaction(self, interaction: Interaction, now: float) -> None: ...
    def get_interaction(self, interaction_id: str, now: float) -> Interaction | None: ...
    def take_interaction(self, interaction_id: str, now: float) -> Interaction | None: ...
    def put_pushed(self, request_uri: str, pushed: PushedRequest, now: float) -> None: ...
    def take_pushed(self, request_uri: str, client_id: str | None, now: float
                    ) -> tuple[PushedRequest | None, str]: ...

    # replay caches: a ``jti`` (or other one-time value) of ``kind`` seen until it expires
    def first_use(self, kind: str, key: str, expires_at: float, now: float) -> bool:
        """True the first time ``key`` of ``kind`` is seen before ``expires_at``."""
        ...

    # users and clients: the configured ones, with those added at run time over them
    def users(self) -> Mapping[str, User]: ...
    def clients(self) -> Mapping[str, Client]: ...
    def put_user(self, user: User) -> None: ...
    def drop_user(self, user_id: str) -> bool: ...
    def put_client(self, client: Client) -> None: ...
    def drop_client(self, client_id: str) -> bool: ...


_SWEEP_EVERY = 256
STORE_LIMIT = 10_000  # records of each kind per issuer (config: store_limit)


T = TypeVar("T")


class _Expiring(Generic[T]):
    """A dict of records with ``expires_at``; swept every few inserts (caller holds the lock)."""

    def __init__(self) -> None:
        self.items: dict[str, T] = {}
        self._inserts = 0
        self._swept = 0  # ``_inserts`` at the last sweep

    def put(self, key: str, item: T, now: float, limit: int) -> None:
        """Keep ``item``; past ``limit`` records, expired ones go first, then the oldest.

        Past the limit a sweep runs only when a sixteenth of the limit was put since the
        last one (else the oldest goes at once): with ``limit`` live records a sweep at every
        put made each token request 5 times slower (measured: 550 us a password grant with
        10,000 live refresh tokens, 110 us without)."""
        self.items.pop(key, None)
        self.items[key] = item
        self._inserts += 1
        if self._inserts % _SWEEP_EVERY == 0 or (
                len(self.items) > limit and self._inserts - self._swept > limit // 16):
            self.sweep(now)
            self._swept = self._inserts
        while len(self.items) > limit:
            del self.items[next(iter(self.items))]  # insertion order: the oldest

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


class _Until:
    """Keys kept until a time (revocations, replay caches): the expired go at each insert,
    and past ``limit`` those expiring soonest, the oldest of them first (caller holds the
    lock).  A heap of (until, order, key) finds them without a scan: O(log n) an insert, even
    with ``limit`` live keys (measured: 1.6 us a put into 10,000 live keys, where sweeping and
    picking the soonest by a scan took 360 us; 1.2 us against 0.7 us under the limit); an
    entry of a key since put again is stale and skipped."""

    def __init__(self) -> None:
        self.items: dict[str, float] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._order = itertools.count()

    def put(self, key: str, until: float, now: float, limit: int) -> None:
        old = self.items.get(key)
        if old is not None and old >= until:
            return
        self.items[key] = until
        heap = self._heap
        heapq.heappush(heap, (until, next(self._order), key))
        while heap and (heap[0][0] <= now or len(self.items) > limit):
            when, _, gone = heapq.heappop(heap)
            if self.items.get(gone) == when:
                del self.items[gone]
        if len(heap) > 2 * len(self.items) + 64:  # mostly stale: rebuilt from the items
            self._heap = heap = [(when, next(self._order), k) for k, when in self.items.items()]
            heapq.heapify(heap)

    def live(self, key: str, now: float) -> bool:
        until = self.items.get(key)
        return until is not None and now < until

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def __len__(self) -> int:
        return len(self.items)


class MemoryStore:
    """`IssuerStore` in this process's memory.  Thread-safe.

    ``users`` and ``clients`` are the configured ones: `clear` goes back to them.  Each kind
    of record (codes, refresh tokens, opaque tokens, sessions, interactions, pushed requests,
    revoked access tokens, revoked grants, the access tokens of each grant, the clients of
    each session, each replay cache) holds at most ``limit``; past it the expired go, then
    the oldest (revocations and replay caches: the soonest to expire), so unauthenticated
    requests cannot grow memory without bound.  Refresh tokens are indexed by grant family:
    reuse detection revokes a family without scanning every token."""

    def __init__(self, users: Mapping[str, User] = MappingProxyType({}),
                 clients: Mapping[str, Client] = MappingProxyType({}),
                 limit: int = STORE_LIMIT) -> None:
        self._baseline = (users, clients, limit)
        self.limit = limit
        self._family_refresh: dict[str, set[str]] = {}  # grant family -> its refresh tokens
        self._users = users
        self._clients = clients
        self._people_lock = threading.Lock()
        self._seen: dict[str, _Until] = {}  # replay caches: kind -> key -> until
        self._lock = threading.RLock()
        self._codes: _Expiring[CodeRecord] = _Expiring()
        self._refresh: _Expiring[RefreshRecord] = _Expiring()
        self._revoked = _Until()  # revoked access tokens: jti -> the token's expiry
        self._opaque: _Expiring[OpaqueToken] = _Expiring()
        self._family_tokens: dict[str, list[tuple[str, float]]] = {}
        self._revoked_families: dict[str, None] = {}  # insertion-ordered, at most limit
        self._family_inserts = 0
        self._sessions: _Expiring[LoginSession] = _Expiring()
        self._session_clients: dict[str, set[str]] = {}  # sid -> clients, oldest first
        self._session_inserts = 0
        self._interactions: _Expiring[Interaction] = _Expiring()
        self._pushed: _Expiring[PushedRequest] = _Expiring()
        self.devices = DeviceStore()  # RFC 8628 device authorization requests (own lock)

    def clear(self) -> None:
        """Forget everything but the configured users and clients (`Provider.reset`)."""
        with self._lock:
            self.__init__(*self._baseline)  # type: ignore[misc]

    # -- replay caches --------------------------------------------------------------------------
    def first_use(self, kind: str, key: str, expires_at: float, now: float) -> bool:
        """True the first time ``key`` of ``kind`` is seen before ``expires_at``."""
        with self._lock:
            seen = self._seen.setdefault(kind, _Until())
            if seen.live(key, now):
                return False
            seen.put(key, expires_at, now, self.limit)
            return True

    # -- users and clients ------------------------------------------------------------------
    def users(self) -> Mapping[str, User]:
        return self._users

    def clients(self) -> Mapping[str, Client]:
        return self._clients

    def put_user(self, user: User) -> None:
        """Add or replace a run-time user; concurrent additions are all kept."""
        with self._people_lock:
            self._users = MappingProxyType({**self._users, user.id: user})

    def drop_user(self, user_id: str) -> bool:
        """Remove a user; False if there was none."""
        with self._people_lock:
            if user_id not in self._users:
                return False
            self._users = MappingProxyType({k: v for k, v in self._users.items()
                                            if k != user_id})
            return True

    def put_client(self, client: Client) -> None:
        """Add or replace a run-time client; concurrent additions are all kept."""
        with self._people_lock:
            self._clients = MappingProxyType({**self._clients, client.id: client})

    def drop_client(self, client_id: str) -> bool:
        """Remove a client; False if there was none."""
        with self._people_lock:
            if client_id not in self._clients:
                return False
            self._clients = MappingProxyType({k: v for k, v in self._clients.items()
                                              if k != client_id})
            return True

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
                "session_clients": len(self._session_clients),
                "revoked_grants": len(self._revoked_families),
                "replay_cache": sum(len(cache) for cache in self._seen.values()),
            }

    # -- authorization codes ------------------------------------------------------------------
    def put_code(self, code: str, record: CodeRecord, now: float) -> None:
        with self._lock:
            self._codes.put(code, record, now, self.limit)

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
                self._revoke_family(record.family, now)
                return record, False
            record.redeemed = True
            return record, True

    # -- refresh tokens -----------------------------------------------------------------------
    def put_refresh(self, token: str, record: RefreshRecord, now: float) -> None:
        with self._lock:
            if record.family in self._revoked_families:
                record.revoked = True  # the grant was revoked while this was being issued
            self._refresh.put(token, record, now, self.limit)
            family = self._family_refresh.setdefault(record.family, set())
            family.add(token)
            if len(self._family_refresh) > 2 * self.limit:  # families whose tokens all went
                self._family_refresh = {
                    f: live for f, tokens in self._family_refresh.items()
                    if (live := {t for t in tokens if t in self._refresh.items})}

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
                self._revoke_family(record.family, now)
                return None, "refresh token was revoked or already used"
            if rotate:
                record.revoked = True
            return record, None

    def revoke_refresh(self, token: str, now: float) -> RefreshRecord | None:
        """Revoke one refresh token (RFC 7009); returns its record if it was known."""
        with self._lock:
            record = self._refresh.items.get(token)
            if record is not None:
                self._revoke_family(record.family, now)
            return record

    def note_access_token(self, family: str, jti: str, expires_at: float, now: float) -> None:
        """Remember that access token ``jti`` came from grant ``family``, so revoking the
        family (code replay, refresh reuse, refresh revocation) revokes it too."""
        with self._lock:
            if family in self._revoked_families:
                # revoked (raced code replay, refresh reuse) while this was being issued
                self._revoked.put(jti, expires_at, now, self.limit)
                return
            tokens = self._family_tokens.pop(family, [])  # back in as the newest
            if len(tokens) >= 64 and len(tokens).bit_count() == 1:  # 64, 128, ...: expired go
                tokens = [(t, exp) for t, exp in tokens if now < exp]
            tokens.append((jti, expires_at))
            del tokens[:-self.limit]  # a grant refreshed more often than that: its oldest go
            self._family_tokens[family] = tokens
            self._family_inserts += 1
            if self._family_inserts % _SWEEP_EVERY == 0:
                for key in [k for k, tokens in self._family_tokens.items()
                            if all(now >= exp for _, exp in tokens)]:
                    del self._family_tokens[key]
            # past the limit the grant used longest ago goes (no scan: its tokens are the
            # oldest, expired first); revoking that grant then revokes them no more
            while len(self._family_tokens) > self.limit:
                del self._family_tokens[next(iter(self._family_tokens))]

    def _revoke_family(self, family: str, now: float) -> None:
        """Revoke every refresh and access token of one grant (caller holds the lock), and
        every one issued for it later (a racing request may still be minting)."""
        if len(self._revoked_families) >= self.limit:
            self._revoked_families.pop(next(iter(self._revoked_families)))
        self._revoked_families[family] = None
        for token in self._family_refresh.get(family, ()):
            record = self._refresh.items.get(token)
            if record is not None:
                record.revoked = True
        for jti, expires_at in self._family_tokens.pop(family, ()):
            self._revoked.put(jti, expires_at, now, self.limit)

    # -- opaque access tokens ------------------------------------------------------------------
    def put_opaque(self, token: str, claims: Mapping[str, Any], expires_at: float,
                   now: float) -> None:
        with self._lock:
            self._opaque.put(token, OpaqueToken(claims, expires_at), now, self.limit)

    def get_opaque(self, token: str, now: float) -> Mapping[str, Any] | None:
        """The claims of a live opaque token (expired ones are forgotten)."""
        with self._lock:
            found = self._opaque.get(token, now)
            return found.claims if found is not None else None

    # -- access token revocation --------------------------------------------------------------
    def revoke_jti(self, jti: str, expires_at: float, now: float) -> None:
        """Revoke access token ``jti`` until ``expires_at`` (then its own expiry refuses it)."""
        with self._lock:
            self._revoked.put(jti, expires_at, now, self.limit)

    def is_revoked(self, jti: str) -> bool:
        return jti in self._revoked

    # -- login sessions -----------------------------------------------------------------------
    def put_session(self, session: LoginSession, now: float) -> None:
        with self._lock:
            self._sessions.put(session.id, session, now, self.limit)

    def get_session(self, session_id: str | None, now: float) -> LoginSession | None:
        if not session_id:
            return None
        with self._lock:
            return self._sessions.get(session_id, now)

    def note_session_client(self, sid: str, client_id: str, now: float) -> None:
        """Remember that ``client_id`` got tokens in login session ``sid`` (for logout).

        At most ``limit`` sessions: those whose session has ended or expired are swept every
        few new ones, and past the limit the oldest goes (its logout then notifies no
        client; sessions are bounded alike, so it is most likely gone already)."""
        with self._lock:
            known = self._session_clients
            if sid not in known:
                self._session_inserts += 1
                if self._session_inserts % _SWEEP_EVERY == 0:
                    live = {s.sid for s in self._sessions.items.values() if now < s.expires_at}
                    self._session_clients = known = {k: v for k, v in known.items()
                                                     if k in live}
                while len(known) >= self.limit:
                    del known[next(iter(known))]
            clients = known.setdefault(sid, set())
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
            self._interactions.put(interaction.id, interaction, now, self.limit)

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
            self._pushed.put(request_uri, pushed, now, self.limit)

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

