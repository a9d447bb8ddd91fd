"""`SharedJournal`: one journal for every process on a shared store, in order.

Each exchange is recorded as it happens, as the JSON of its frozen data (`Exchange.as_dict`,
request parameters capped as in memory), by one Lua script (one round trip): it takes the
next sequence number (``@journal:seq``), appends ``"{seq} {json}"`` to the list
``@journal`` and drops the oldest entries while past ``journal_size`` or ``journal_bytes``
(the entries' lengths, counted in ``@journal:bytes``; the newest is always kept).  The list's
order is the order Redis received them, across processes; `calls` and `assert_called` read
the whole list back as frozen `Exchange` records.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields, replace
from types import MappingProxyType
from typing import Any

from mockidp.core.journal import VALUE_CAP, Exchange, Journal, cap_value, capped
from mockidp.core.model import Params
from mockidp.shared.connection import reachable
from mockidp.shared.snapshot import SharedView

_APPEND = """
local seq = redis.call('INCR', KEYS[2])
local entry = seq .. ' ' .. ARGV[1]
local len = redis.call('RPUSH', KEYS[1], entry)
local total = redis.call('INCRBY', KEYS[3], #entry)
local size, max_bytes = tonumber(ARGV[2]), tonumber(ARGV[3])
while len > size or (total > max_bytes and len > 1) do
  local old = redis.call('LPOP', KEYS[1])
  total = redis.call('INCRBY', KEYS[3], -#old)
  len = len - 1
end
return seq
"""
_FIELDS = tuple(f.name for f in fields(Exchange))


def encode(exchange: Exchange) -> str:
    """The JSON of ``exchange`` without its ``seq`` (Redis numbers it)."""
    data = exchange.as_dict()
    del data["seq"]
    return json.dumps(data, separators=(",", ":"), default=str)


def decode(entry: bytes) -> Exchange:
    """The frozen `Exchange` of one list entry."""
    seq, _, body = entry.decode().partition(" ")
    data: dict[str, Any] = {k: v for k, v in json.loads(body).items() if k in _FIELDS}
    data["params"] = MappingProxyType(data.get("params") or {})
    data["tokens"] = MappingProxyType({k: MappingProxyType(v)
                                       for k, v in (data.get("tokens") or {}).items()})
    data["headers"] = MappingProxyType({k: MappingProxyType(v)
                                        for k, v in (data.get("headers") or {}).items()})
    data["rules"] = tuple(data.get("rules") or ())
    data["unverified"] = tuple(data.get("unverified") or ())
    return Exchange(seq=int(seq), **data)


class SharedJournal(Journal):
    """`Journal` kept in the shared store (see the module docstring)."""

    def __init__(self, state: SharedView, size: int, max_bytes: int) -> None:
        super().__init__(size, max_bytes)
        self._state = state
        self._keys = [state.name("journal"), state.name("journal", "seq"),
                      state.name("journal", "bytes")]
        self._append_script = state.client.register_script(_APPEND)

    @property
    def bytes(self) -> int:
        with reachable():
            return int(self._state.client.get(self._keys[2]) or 0)

    def next_seq(self) -> int:
        return 0  # numbered by Redis when recorded

    def record(self, exchange: Exchange) -> None:
        params = {k: cap_value(v) for k, v in exchange.params.items()}
        if params != exchange.params:
            exchange = replace(exchange, params=MappingProxyType(params))
        with reachable():
            self._append_script(keys=self._keys,
                                args=[encode(exchange), self.size, self.max_bytes])

    def record_later(self, build: Callable[..., Exchange], params: Params,
                     args: tuple[Any, ...], weight: int) -> None:
        if params.size > VALUE_CAP:
            params = capped(params)[0]
        self.record(build(params, *args))

    def _snapshot(self) -> list[Exchange]:
        with reachable():
            entries = self._state.client.lrange(self._keys[0], 0, -1)
        return [decode(e) for e in entries]

    def clear(self) -> None:
        with reachable():
            self._state.client.delete(self._keys[0], self._keys[2])

    def __len__(self) -> int:
        with reachable():
            return int(self._state.client.llen(self._keys[0]))
