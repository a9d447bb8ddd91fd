"""`RedisState`: the provider-wide state of `mockidp.protocol.state.ProviderState` in Redis,
shared by every process given the same URL (replicas, ``--workers``).

One hash, ``mockidp:@state``, holds what every request must see fresh: the clock (``offset``,
``frozen``), the version of the rules and of the signing keys, and ``gen``, a random token
that changes at every reset (and is missing after Redis lost its data).  Each process keeps a
copy of it (a `Snapshot`); a request pins the copy once (`wrap`), and the clock, the rule book
and the key sets answer the rest of the request from it.  The copy is trusted while the
process's `mockidp.shared.bus.Bus` says so: every change to shared state ends with a barrier
(`Bus.changed`: every live process has dropped its copies before the writer returns), so a
change made through one process is seen by the very next request at any other, and a steady
request reads nothing from Redis.  While the bus is not trusted (its subscriber lost,
reconnecting) every request reads the hash again (one HGETALL), as before.

Keys, after ``mockidp:`` and the namespace if any: ``@state``, ``@rules*``
(`mockidp.shared.rules`), ``@journal*`` (`mockidp.shared.journal`), ``@keys:{issuer}*``
(`mockidp.shared.keys`), ``@issuers`` (the issuers made so far), ``@bus*`` (the barrier,
`mockidp.shared.bus`); each issuer's store is
under ``{issuer}:`` (`mockidp.shared.issuer_store`).  ``@`` is in no issuer name.
"""

from __future__ import annotations

import secrets
import threading
import weakref
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from mockidp.core.clock import Clock
from mockidp.core.errors import OAuthError, TemporarilyUnavailable
from mockidp.core.journal import Journal
from mockidp.core.model import Client, EndpointRequest, Outcome, User
from mockidp.core.stores import IssuerStore
from mockidp.scripting.rules import Rule, RuleBook
from mockidp.shared.bus import Bus
from mockidp.shared.clock import SharedClock
from mockidp.shared.connection import PREFIX, connect, reachable, redacted
from mockidp.shared.issuer_store import redis_issuer_store
from mockidp.shared.journal import SharedJournal
from mockidp.shared.keys import SharedKeySet
from mockidp.shared.rules import SharedRuleBook
from mockidp.shared.snapshot import Snapshot
from mockidp.tokens.keys import KeySet

Handle = Callable[[str, EndpointRequest], Outcome]

# the issuers made so far, at most ARGV[2]: 1 when ARGV[1] is (now) one of them, else 0
_CLAIM_ISSUER = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
return 1
"""
# a reset: new gen, real time, every cached version stale
_RESET_STATE = """
redis.call('HDEL', KEYS[1], 'offset', 'frozen')
redis.call('HINCRBY', KEYS[1], 'rules', 1)
redis.call('HINCRBY', KEYS[1], 'keys', 1)
redis.call('HSET', KEYS[1], 'gen', ARGV[1])
return 1
"""


class RedisState:
    """The shared state at ``url`` (reached now: `MockIdPError` naming ``where`` and the URL
    otherwise).  Thread-safe; every Redis call answers `TemporarilyUnavailable` when the
    store is lost, and the next one reconnects."""

    def __init__(self, url: str, where: str = "store", namespace: str = "") -> None:
        self.url = url
        self.client = connect(url, where)
        self.namespace = namespace  # "": the only provider on this Redis database
        self.prefix = f"{PREFIX}{namespace + ':' if namespace else ''}"
        self.key = self.name("state")
        self._local = threading.local()
        self._gen: str | None = None
        self._forget: Callable[[], None] = lambda: None
        self._seed: Callable[[], None] = lambda: None
        self._claim_issuer = self.client.register_script(_CLAIM_ISSUER)
        self._reset_state = self.client.register_script(_RESET_STATE)
        self._copy: tuple[int, Snapshot] | None = None  # (the bus generation, the copy)
        # the subscriber on a client of its own that never resends: a lost connection ends
        # its trust at once, not after a silent reconnect (`mockidp.shared.bus`)
        self.bus = Bus(self.client, self.name, watch=self.key,
                       listener=connect(url, where, retries=0))
        weakref.finalize(self, self.bus.close)

    def changed(self) -> None:
        """After a change requests read: every process drops its copies (`Bus.changed`)."""
        self.bus.changed()

    def name(self, *parts: str) -> str:
        """The Redis key ``mockidp:[namespace:]@{parts joined by ':'}``."""
        return self.prefix + "@" + ":".join(parts)

    def trusted(self) -> bool:
        return self.bus.trusted()

    def flush_all(self) -> None:
        """Have every process send its buffered journal entries (`Bus.flush_all`)."""
        self.bus.flush_all()

    # -- the per-request snapshot ---------------------------------------------------------------
    def current(self) -> Snapshot:
        """The snapshot of this request (read once, `wrap`), or a fresh one outside requests."""
        snap: Snapshot | None = getattr(self._local, "snap", None)
        return snap if snap is not None else self.latest()

    def latest(self) -> Snapshot:
        """This process's copy when the bus trusts it (no round trip), else a fresh one."""
        copy, bus = self._copy, self.bus
        if copy is not None and copy[0] == bus.generation and bus.trusted():
            return copy[1]
        generation = bus.generation  # before reading: a change meanwhile makes it stale
        snap = self.fetch()
        self._copy = (generation, snap)
        return snap

    def fetch(self) -> Snapshot:
        """Read the state hash (one round trip).  A new ``gen`` means another process reset
        the state: this one forgets its local copies; no ``gen`` means Redis lost its data:
        the first process to notice sets the config baseline again."""
        with reachable():
            raw = self.client.hgetall(self.key)
            if b"gen" not in raw:
                if self.client.hsetnx(self.key, "gen", secrets.token_hex(8)):
                    self._seed()
                raw = self.client.hgetall(self.key)
        frozen = raw.get(b"frozen")
        snap = Snapshot(float(raw.get(b"offset", 0)), float(frozen) if frozen else None,
                        int(raw.get(b"rules", 0)), int(raw.get(b"keys", 0)),
                        raw.get(b"gen", b"").decode())
        if snap.gen != self._gen:
            if self._gen is not None:
                self._forget()
            self._gen = snap.gen
        return snap

    def wrap(self, handle: Handle) -> Handle:
        """``handle`` pinning the snapshot once before the request; a store lost at any
        point of it answers 503 ``temporarily_unavailable``."""
        local = self._local

        def pinned(name: str, req: EndpointRequest) -> Outcome:
            outer = getattr(local, "snap", None)
            with reachable():
                local.snap = self.latest()
                try:
                    return handle(name, req)
                finally:
                    local.snap = outer
        return pinned

    # -- the provider's objects -------------------------------------------------------------------
    def clock(self) -> Clock:
        return SharedClock(self)

    def rules(self, parse: Callable[[Mapping[str, Any]], Rule]) -> RuleBook:
        return SharedRuleBook(self, parse)

    def journal(self, size: int, max_bytes: int) -> Journal:
        journal = SharedJournal(self, size, max_bytes)
        self.bus.flush = journal.flush
        return journal

    def keys(self, issuer: str, keys_dir: Path | None, pooled: bool) -> KeySet:
        return SharedKeySet(self, issuer, pooled, keys_dir)

    def issuer_store(self, issuer: str, users: Mapping[str, User],
                     clients: Mapping[str, Client], limit: int) -> IssuerStore | None:
        return redis_issuer_store(self.client, self.namespace, issuer, users, clients, limit,
                                  self.bus)

    # -- lifecycle ------------------------------------------------------------------------------
    def on_reset(self, forget: Callable[[], None], seed: Callable[[], None]) -> None:
        self._forget = forget
        self._seed = seed

    def first_start(self) -> bool:
        """True for the first provider on this store (it sets the baseline); the others
        take the state as they find it."""
        with reachable():
            first = bool(self.client.hsetnx(self.key, "gen", secrets.token_hex(8)))
        self.fetch()
        return first

    def claim_issuer(self, name: str, limit: int) -> bool:
        with reachable():
            return bool(self._claim_issuer(keys=[self.name("issuers")], args=[name, limit]))

    def issuer_names(self) -> list[str]:
        with reachable():
            names = self.client.smembers(self.name("issuers"))
        return sorted(n.decode() for n in names)

    def wipe(self, declared: Collection[str]) -> None:
        """Delete every key of this namespace but the state hash, the id counters and the
        signing keys of the ``declared`` issuers; then a new ``gen`` tells the others."""
        keep = {self.key, self.name("rules", "seq"), self.name("journal", "seq")}
        for issuer in declared:
            keep |= {self.name("keys", issuer), self.name("keys", issuer, "previous")}
        gen = secrets.token_hex(8)
        with reachable():
            bus = self.name("bus")  # the barrier's own keys stay (`mockidp.shared.bus`)
            doomed = [k for k in self.client.scan_iter(match=self.prefix + "*", count=500)
                      if k.decode() not in keep and not k.decode().startswith(bus)]
            for start in range(0, len(doomed), 500):
                self.client.delete(*doomed[start:start + 500])
            self._reset_state(keys=[self.key], args=[gen])
        self._gen = gen  # this process forgets by itself (`Provider.reset`)
        self.changed()

    def open(self) -> None:
        self.bus.open()

    def close(self) -> None:
        self.bus.close()

    # -- health -----------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        # listening: this process hears the others' changes at once (its bus is trusted);
        # when not, it reads the shared state per request: slower, never stale
        out: dict[str, Any] = {"store": "redis", "url": redacted(self.url),
                               "listening": self.bus.trusted()}
        try:
            with reachable():
                self.client.ping()
        except TemporarilyUnavailable as exc:
            cause = exc.__cause__
            return {**out, "reachable": False, "error": str(cause or exc)}
        return {**out, "reachable": True}

    def unavailable(self, error: Exception) -> OAuthError | None:
        if isinstance(error, TemporarilyUnavailable):
            return error
        try:
            with reachable():
                raise error
        except TemporarilyUnavailable as translated:
            return translated
        except Exception:
            return None
