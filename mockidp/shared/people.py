"""An issuer's users and clients on Redis: the configured ones (the same in every process,
from the config), with those added or dropped at run time over them, cached in each process.

The run-time changes live in one hash (``people``: ``u:<id>`` / ``c:<id>`` → the record's
JSON, or empty text where a configured one was dropped) and every change sets ``ver`` to a
new random value in the same transaction, then passes the barrier of `mockidp.shared.bus`
(every process drops its copies before the change returns).  A process keeps the merged
mappings with the ``ver`` they were read at and the bus generation: while the bus trusts it
a lookup costs nothing; otherwise (no bus, or its subscriber lost) one ``GET ver``, and a
second (``ver`` and the hash read together in MULTI) only after a change.  A random value rather
than a counter: a restarted Redis (which lost the hash and ``ver``) never repeats the value a
process cached, so no cache outlives the data it came from.

`users()` and `clients()` return a view that checks ``ver`` on first use, not when made: a
token request that never looks at the users (client credentials) pays nothing for them.
The view then keeps what it read (a snapshot, as `MemoryStore`'s mappings are).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from mockidp.core.model import Client, User
from mockidp.shared.codec import dump, load
from mockidp.shared.connection import reachable
from mockidp.shared.once import Once
from mockidp.shared.scripts import DROP_PERSON

V = TypeVar("V")
# (ver, users, clients, the bus generation it was read or checked at)
Snapshot = tuple[Any, Mapping[str, User], Mapping[str, Client], int]


class LazyMapping(Mapping[str, V], Generic[V]):
    """A read-only mapping fetched on first use, then fixed."""

    __slots__ = ("_fetch", "_found")

    def __init__(self, fetch: Callable[[], Mapping[str, V]]) -> None:
        self._fetch = fetch
        self._found: Mapping[str, V] | None = None

    def _mapping(self) -> Mapping[str, V]:
        found = self._found
        if found is None:
            found = self._found = self._fetch()
        return found

    def __getitem__(self, key: str) -> V:
        return self._mapping()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._mapping())

    def __len__(self) -> int:
        return len(self._mapping())

    def __repr__(self) -> str:
        return f"LazyMapping({dict(self._mapping())!r})"


class People:
    """Users and clients of one issuer: configured, with the run-time ones over them.
    Thread-safe (the cache is replaced whole; a stale one is only ever read after ``ver``
    says it is current)."""

    def __init__(self, client: Any, base: str, users: Mapping[str, User],
                 clients: Mapping[str, Client], bus: Any = None) -> None:
        self._redis = client
        self._bus = bus  # mockidp.shared.bus.Bus, or None: check ``ver`` at every use
        self._users = users
        self._clients = clients
        self._key = base + "people"
        self._ver = base + "ver"
        self._base = base
        self._cache: Snapshot | None = None
        self._drop = Once(client, DROP_PERSON, base)  # a resend would find nobody (`once`)

    def snapshot(self) -> tuple[Mapping[str, User], Mapping[str, Client]]:
        """The merged users and clients: one round trip when unchanged, two after a change."""
        cached, bus = self._cache, self._bus
        generation = bus.generation if bus is not None else 0
        if cached is not None and bus is not None and cached[3] == generation \
                and bus.trusted():
            return cached[1], cached[2]
        with reachable():
            if cached is not None and self._redis.get(self._ver) == cached[0]:
                self._cache = (cached[0], cached[1], cached[2], generation)
                return cached[1], cached[2]
            with self._redis.pipeline(transaction=True) as pipe:
                version, fields = pipe.get(self._ver).hgetall(self._key).execute()
        users, clients = dict(self._users), dict(self._clients)
        for name, value in fields.items():
            kind, _, ident = name.decode().partition(":")
            target: dict[str, Any] = users if kind == "u" else clients
            if not value:
                target.pop(ident, None)
            else:
                target[ident] = load(User if kind == "u" else Client, value)
        fresh = (version, MappingProxyType(users), MappingProxyType(clients), generation)
        self._cache = fresh
        return fresh[1], fresh[2]

    def users(self) -> Mapping[str, User]:
        return LazyMapping(lambda: self.snapshot()[0])

    def clients(self) -> Mapping[str, Client]:
        return LazyMapping(lambda: self.snapshot()[1])

    def put(self, kind: str, ident: str, record: User | Client) -> None:
        """Add or replace a run-time user (``kind`` ``u``) or client (``c``)."""
        with reachable(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key, f"{kind}:{ident}", dump(record))
            pipe.set(self._ver, secrets.token_hex(12)).execute()
        self.changed()

    def drop(self, kind: str, ident: str) -> bool:
        """Remove a user or client (a configured one is hidden); False if there was none."""
        configured = ident in (self._users if kind == "u" else self._clients)
        with reachable():
            dropped = bool(self._drop(keys=[self._base], args=[
                f"{kind}:{ident}", "1" if configured else "0", secrets.token_hex(12)]))
        if dropped:
            self.changed()
        return dropped

    def changed(self) -> None:
        """Every process drops its copies (the barrier), when there is a bus."""
        if self._bus is not None:
            self._bus.changed()

    def forget(self) -> None:
        """Drop this process's cache (after `clear`, which also sets a new ``ver``)."""
        self._cache = None
