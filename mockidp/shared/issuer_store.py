"""`RedisIssuerStore`: the `IssuerStore` of one issuer on Redis, shared by every process
that uses the same Redis, namespace and issuer name, with `MemoryStore`'s answers.

Keys: ``mockidp:[namespace:]{issuer}:...`` (`key_base`); a record is a hash (`scripts`), a
revocation list or replay cache a sorted set scored by the provider-clock time it lasts
until.  Records are JSON of their dataclasses (`codec`), never pickle.

**Expiry and the provider clock.**  The provider clock may run skewed, be frozen or be
moved back, so Redis's own clock cannot say whether a record has expired.  Each record
carries its expiry on the provider clock and every read compares it with the ``now`` it is
given, exactly as `MemoryStore` does: that check alone decides.  Redis's TTL only cleans up:
it is the record's remaining provider-clock lifetime (``expires_at - now`` at the put) plus
`GRACE_MS` (ten minutes), so a record is never dropped while the provider still thinks it
live unless the provider clock falls behind real time (frozen, moved back) by more than that
grace while the record waits.  The sorted sets drop their entries by provider time at each
insert (as `MemoryStore` does) and expire whole when idle.

**Atomicity.**  Every read-modify-write (redeeming a code, rotating a refresh token, reuse
detection revoking a grant family and its access tokens, taking an interaction or a pushed
request, a replay check) is one Lua script (`scripts`): Redis runs it whole with nothing in
between, so two processes can never both redeem one code or both rotate one refresh token,
and a connection lost mid-request leaves a record redeemed once or not at all.

**Bounds.**  Each kind keeps at most ``limit`` records per issuer, the oldest going first
(an index sorted set per kind, by insertion); revocations and replay caches past the limit
lose those expiring soonest (ties: in key order, where `MemoryStore` drops the oldest).
``counts`` reports the index sizes, which, like `MemoryStore`'s, may still include records
that have expired and not yet been pushed out.

**Round trips.**  One per call (a script, or one ``HMGET``/``GET``), except `users` and
`clients`: none while the process's bus trusts its copy, else one ``GET`` of the version at
first use of the mapping, a second after a change (`people`).  A client-credentials token
request (`find_client`, and ``users`` handed to the grant but not read) costs none with a
bus (`mockidp.shared.state`), one without.

Every call runs inside `reachable()`: a lost Redis raises `TemporarilyUnavailable` (503).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from mockidp.core.device_codes import Devices
from mockidp.core.errors import MockIdPError
from mockidp.core.model import Client, User
from mockidp.core.records import (
    CodeRecord,
    Interaction,
    LoginSession,
    OpaqueToken,
    PushedRequest,
    RefreshRecord,
)
from mockidp.core.stores import STORE_LIMIT
from mockidp.shared import scripts
from mockidp.shared.codec import dump, load
from mockidp.shared.connection import PREFIX, reachable
from mockidp.shared.devices import RedisDeviceStore
from mockidp.shared.once import Once
from mockidp.shared.people import People

GRACE_MS = scripts.GRACE_MS
NAMESPACE = re.compile(r"\A[A-Za-z0-9._~-]{0,64}\Z")
SESSION_CLIENTS_TTL = 86_400  # seconds, when the session itself is already gone
# record kinds (key infix) as `counts` names them
KINDS = {"ac": "codes", "rt": "refresh_tokens", "ao": "opaque_access_tokens",
         "families": "grant_families", "ls": "sessions", "in": "interactions",
         "pr": "pushed_requests", "sc": "session_clients"}


def key_base(namespace: str, issuer: str) -> str:
    """The prefix of every key of ``issuer`` (a Redis Cluster hash tag around its name)."""
    if not NAMESPACE.match(namespace):
        raise MockIdPError(f"store namespace: expected letters, digits, '.', '_', '~' or '-' "
                           f"(at most 64), got {namespace!r}")
    return f"{PREFIX}{namespace + ':' if namespace else ''}{{{issuer}}}:"


def ttl_ms(expires_at: float, now: float) -> int:
    """Milliseconds Redis keeps a record expiring at ``expires_at`` (provider clock)."""
    return max(0, math.ceil((expires_at - now) * 1000)) + GRACE_MS


def _num(value: float) -> str:
    return repr(float(value))


def _live(found: list[Any], now: float) -> bytes | None:
    """The JSON of an ``HMGET j e ...`` answer when the record exists and lives at ``now``."""
    if found[0] is None or now >= float(found[1]):
        return None
    return found[0]  # type: ignore[no-any-return]


class RedisIssuerStore:
    """`IssuerStore` on Redis.  Thread-safe and safe across processes (module docstring)."""

    def __init__(self, client: Any, base: str, users: Mapping[str, User],
                 clients: Mapping[str, Client], limit: int = STORE_LIMIT,
                 bus: Any = None) -> None:
        self._redis = client
        self._base = base
        self.limit = limit
        self._people = People(client, base, users, clients, bus)
        self.devices: Devices = RedisDeviceStore(client, base)
        script = client.register_script

        def once(body: str) -> Once:  # its second run would differ (`mockidp.shared.once`)
            return Once(client, body, base)

        self._put, self._redeem = script(scripts.PUT), once(scripts.REDEEM)
        self._use_refresh = once(scripts.USE_REFRESH)
        self._revoke_refresh = script(scripts.REVOKE_REFRESH)
        self._note_access = script(scripts.NOTE_ACCESS)
        self._until, self._take = script(scripts.UNTIL), once(scripts.TAKE)
        self._first_use = once(scripts.UNTIL)  # a replay check (``UNTIL`` with replay '1')
        self._end_session, self._by_sid = once(scripts.END_SESSION), script(scripts.BY_SID)
        self._note_client = script(scripts.NOTE_SESSION_CLIENT)
        self._take_clients = once(scripts.TAKE_SESSION_CLIENTS)
        self._counts, self._clear = script(scripts.COUNTS), script(scripts.CLEAR)

    # -- plumbing ---------------------------------------------------------------------------
    def _store(self, kind: str, ident: str, record: Any, expires_at: float, now: float, *,
               flag: bool = False, family: str = "", client: str = "", pointer: str = ""
               ) -> bool:
        """Keep one record; True if it is stored flagged (revoked)."""
        with reachable():
            stored = self._put(keys=[self._base], args=[
                kind, ident, dump(record), _num(expires_at), ttl_ms(expires_at, now),
                self.limit, "1" if flag else "0", family, client, pointer])
        return bool(stored == b"1")

    def _get(self, kind: str, ident: str, now: float) -> tuple[bytes, bool] | None:
        """(JSON, flag) of a live record, or None; an expired one is forgotten, as
        `MemoryStore` forgets it (a clock moved back later does not bring it back)."""
        key = f"{self._base}{kind}:{ident}"
        with reachable():
            found = self._redis.hmget(key, "j", "e", "f")
            text = _live(found, now)
            if text is None and found[0] is not None:
                with self._redis.pipeline(transaction=True) as pipe:
                    pipe.delete(key).zrem(f"{self._base}ix:{kind}", ident).execute()
        return (text, found[2] == b"1") if text is not None else None

    def _taken(self, kind: str, ident: str, now: float, check: str = "") -> Any:
        with reachable():
            return self._take(keys=[self._base], args=[kind, ident, _num(now), check])

    def clear(self) -> None:
        """Forget everything but the configured users and clients, for every process (one
        script: no other command runs while the issuer's keys are unlinked)."""
        from secrets import token_hex
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self._base) + "*"
        with reachable():
            self._clear(keys=[self._base], args=[pattern, token_hex(12)])
        self._people.forget()
        self._people.changed()

    def counts(self) -> dict[str, int]:
        """How many records of each kind are held (for tests and the dashboard)."""
        kinds = list(KINDS)
        with reachable():
            found = [int(n) for n in self._counts(keys=[self._base], args=kinds)]
        counted = dict(zip(KINDS.values(), found, strict=False))
        revoked, families, seen = found[len(kinds):]
        return {
            "codes": counted["codes"], "refresh_tokens": counted["refresh_tokens"],
            "revoked_access_tokens": revoked,
            "opaque_access_tokens": counted["opaque_access_tokens"],
            "grant_families": counted["grant_families"], "sessions": counted["sessions"],
            "interactions": counted["interactions"],
            "pushed_requests": counted["pushed_requests"],
            "device_authorizations": len(self.devices),
            "session_clients": counted["session_clients"], "revoked_grants": families,
            "replay_cache": seen,
        }

    # -- replay caches ----------------------------------------------------------------------
    def first_use(self, kind: str, key: str, expires_at: float, now: float) -> bool:
        """True the first time ``key`` of ``kind`` is seen before ``expires_at``."""
        with reachable():
            return bool(self._first_use(keys=[self._base], args=[
                f"seen:{kind}", key, _num(expires_at), _num(now), self.limit, "1"]))

    # -- users and clients ------------------------------------------------------------------
    def users(self) -> Mapping[str, User]:
        return self._people.users()

    def clients(self) -> Mapping[str, Client]:
        return self._people.clients()

    def put_user(self, user: User) -> None:
        """Add or replace a run-time user, for every process."""
        self._people.put("u", user.id, user)

    def drop_user(self, user_id: str) -> bool:
        """Remove a user; False if there was none."""
        return self._people.drop("u", user_id)

    def put_client(self, client: Client) -> None:
        """Add or replace a run-time client, for every process."""
        self._people.put("c", client.id, client)

    def drop_client(self, client_id: str) -> bool:
        """Remove a client; False if there was none."""
        return self._people.drop("c", client_id)

    # -- authorization codes: RFC 6749 §4.1.2 ------------------------------------------------
    def put_code(self, code: str, record: CodeRecord, now: float) -> None:
        self._store("ac", code, record, record.expires_at, now, flag=record.redeemed,
                    family=record.family)

    def peek_code(self, code: str, now: float) -> CodeRecord | None:
        """The record of a live code, without redeeming it (for rule matching)."""
        found = self._get("ac", code, now)
        return replace(load(CodeRecord, found[0]), redeemed=found[1]) if found else None

    def redeem_code(self, code: str, now: float) -> tuple[CodeRecord | None, bool]:
        """Mark ``code`` redeemed; returns (record, first_use).  Unknown/expired → (None, False).

        A second use returns the record with ``first_use=False`` and revokes every refresh
        and access token issued from it (RFC 6749 §4.1.2, §10.5), in the same script.
        """
        with reachable():
            found = self._redeem(keys=[self._base], args=[code, _num(now), self.limit])
        if not found:
            return None, False
        return replace(load(CodeRecord, found[0]), redeemed=True), found[1] == 1

    # -- refresh tokens: RFC 6749 §6, §10.4 ------------------------------------------------
    def put_refresh(self, token: str, record: RefreshRecord, now: float) -> None:
        if self._store("rt", token, record, record.expires_at, now, flag=record.revoked,
                       family=record.family, client=record.client_id):
            record.revoked = True  # the grant was revoked while this was being issued

    def get_refresh(self, token: str, now: float) -> RefreshRecord | None:
        """A live (not revoked, not expired) refresh token record."""
        found = self._get("rt", token, now)
        return load(RefreshRecord, found[0]) if found and not found[1] else None

    def use_refresh(self, token: str, now: float, client_id: str, rotate: bool
                    ) -> tuple[RefreshRecord | None, str | None]:
        """Check a refresh token for ``client_id`` and, with ``rotate``, revoke it in one step.

        Presenting one already rotated away or revoked revokes its whole family (RFC 9700
        §4.14.2 reuse detection), in the same script.
        """
        with reachable():
            found = self._use_refresh(keys=[self._base], args=[
                token, _num(now), client_id, "1" if rotate else "0", self.limit])
        if found[0] is None:
            return None, {b"unknown": "refresh token is unknown or expired",
                          b"client": "refresh token was issued to another client",
                          b"reused": "refresh token was revoked or already used"}[found[1]]
        return replace(load(RefreshRecord, found[0]), revoked=rotate), None

    def revoke_refresh(self, token: str, now: float) -> RefreshRecord | None:
        """Revoke one refresh token and its grant (RFC 7009); its record if it was known."""
        with reachable():
            found = self._revoke_refresh(keys=[self._base], args=[token, _num(now),
                                                                  self.limit])
        return replace(load(RefreshRecord, found), revoked=True) if found else None

    def note_access_token(self, family: str, jti: str, expires_at: float, now: float) -> None:
        """Remember that access token ``jti`` came from grant ``family`` (or revoke it at
        once when the grant was revoked meanwhile)."""
        with reachable():
            self._note_access(keys=[self._base], args=[family, jti, _num(expires_at),
                                                       _num(now), self.limit])

    # -- opaque access tokens and revocations: RFC 7662, RFC 7009 ----------------------------
    def put_opaque(self, token: str, claims: Mapping[str, Any], expires_at: float,
                   now: float) -> None:
        self._store("ao", token, OpaqueToken(claims, expires_at), expires_at, now)

    def get_opaque(self, token: str, now: float) -> Mapping[str, Any] | None:
        """The claims of a live opaque token."""
        found = self._get("ao", token, now)
        return dict(load(OpaqueToken, found[0]).claims) if found else None

    def revoke_jti(self, jti: str, expires_at: float, now: float) -> None:
        """Revoke access token ``jti`` until ``expires_at`` (then its own expiry refuses it)."""
        with reachable():
            self._until(keys=[self._base], args=["revoked", jti, _num(expires_at), _num(now),
                                                 self.limit, "0"])

    def is_revoked(self, jti: str) -> bool:
        with reachable():
            return self._redis.zscore(self._base + "revoked", jti) is not None

    # -- login sessions and their clients ---------------------------------------------------
    def put_session(self, session: LoginSession, now: float) -> None:
        self._store("ls", session.id, session, session.expires_at, now,
                    pointer=f"sid:{session.sid}")

    def get_session(self, session_id: str | None, now: float) -> LoginSession | None:
        if not session_id:
            return None
        found = self._get("ls", session_id, now)
        return load(LoginSession, found[0]) if found else None

    def note_session_client(self, sid: str, client_id: str, now: float) -> None:
        """Remember that ``client_id`` got tokens in login session ``sid`` (for logout)."""
        with reachable():
            self._note_client(keys=[self._base], args=[sid, client_id, self.limit,
                                                       SESSION_CLIENTS_TTL * 1000])

    def session_by_sid(self, sid: str, now: float) -> LoginSession | None:
        with reachable():
            found = self._by_sid(keys=[self._base], args=[sid])
        text = _live(found, now) if found else None
        return load(LoginSession, text) if text is not None else None

    def take_session_clients(self, sid: str) -> set[str]:
        with reachable():
            found = self._take_clients(keys=[self._base], args=[sid])
        return {name.decode() for name in found}

    def end_session(self, session_id: str | None) -> LoginSession | None:
        if not session_id:
            return None
        with reachable():
            found = self._end_session(keys=[self._base], args=[session_id])
        return load(LoginSession, found) if found else None

    # -- login and consent pages; pushed requests (RFC 9126) ---------------------------------
    def put_interaction(self, interaction: Interaction, now: float) -> None:
        self._store("in", interaction.id, interaction, interaction.expires_at, now)

    def get_interaction(self, interaction_id: str, now: float) -> Interaction | None:
        found = self._get("in", interaction_id, now)
        return load(Interaction, found[0]) if found else None

    def take_interaction(self, interaction_id: str, now: float) -> Interaction | None:
        found = self._taken("in", interaction_id, now)
        return load(Interaction, found[0]) if found else None

    def put_pushed(self, request_uri: str, pushed: PushedRequest, now: float) -> None:
        self._store("pr", request_uri, pushed, pushed.expires_at, now, client=pushed.client_id)

    def take_pushed(self, request_uri: str, client_id: str | None, now: float
                    ) -> tuple[PushedRequest | None, str]:
        """Use a pushed request once (RFC 9126 §4); (None, why) when it cannot be used.

        A request_uri presented by another client is refused and left for its own client.
        """
        found = self._taken("pr", request_uri, now,
                            "!" if client_id is None else "=" + client_id)
        if not found:
            return None, "request_uri is unknown, expired or already used"
        if found[0] is None:
            return None, "request_uri was pushed by another client"
        return load(PushedRequest, found[0]), ""


def redis_issuer_store(client: Any, namespace: str, name: str, users: Mapping[str, User],
                       clients: Mapping[str, Client], limit: int, bus: Any = None
                       ) -> RedisIssuerStore:
    """The shared `IssuerStore` of issuer ``name`` (``client``: a `redis.Redis` from
    `connect`); processes with the same Redis, ``namespace`` and ``name`` share it.  With a
    `mockidp.shared.bus.Bus`, users and clients are read from the process's copy."""
    return RedisIssuerStore(client, key_base(namespace, name), users, clients, limit, bus)
