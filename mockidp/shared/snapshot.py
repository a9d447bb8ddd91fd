"""What the shared clock, rule book, journal and key sets need of `mockidp.shared.state`:
the Redis client, the names of keys, and the snapshot of the state hash a request reads once
(`Snapshot`).  Its own module so that they and the state import in one direction."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol


class Snapshot(NamedTuple):
    """What one request sees of the shared state hash."""

    offset: float  # the clock's offset from real time
    frozen: float | None  # the time it is frozen at
    rules: int  # the version of the rules
    keys: int  # the version of the signing keys
    gen: str  # changes at every reset (and when Redis lost everything)


class SharedView(Protocol):
    """The shared state as its parts see it (`mockidp.shared.state.RedisState`)."""

    client: Any  # redis.Redis
    key: str  # the state hash

    def name(self, *parts: str) -> str:
        """The Redis key of ``parts`` in this namespace."""
        ...

    def changed(self) -> None:
        """After a change requests read: every process drops its copies."""
        ...

    def trusted(self) -> bool:
        """Whether this process's copies may answer (its bus is listening)."""
        ...

    def flush_all(self) -> None:
        """Have every process send its buffered journal entries."""
        ...

    def current(self) -> Snapshot:
        """The snapshot of this request, or a fresh one outside requests."""
        ...
