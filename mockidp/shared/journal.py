"""`SharedJournal`: one journal for every process on a shared store, in order.

Each exchange is recorded as it happens, as the JSON of its frozen data (`Exchange.as_dict`,
request parameters capped as in memory), by one Lua script (one round trip): it takes the
next sequence number (``@journal:seq``), appends ``"{seq} {json}"`` to the list
``@journal`` and drops the oldest entries while past ``journal_size`` or ``journal_bytes``
(the entries' lengths, counted in ``@journal:bytes``; the newest is always kept).  The list's
order is the order Redis received them; `calls` and `assert_called` read the whole list
back as frozen `Exchange` records, in the order their requests started (`in_time_order`).

While the process's bus (`mockidp.shared.bus`) is trusted, a request only queues its entry:
a background thread sends the queue about every `FLUSH_S`, as one call of that script
(one round trip for many exchanges, in this process's order; run at most once however often
it is resent, `mockidp.shared.once`).  Every read (`calls`, `len`,
``bytes``, `clear`) first sends this process's queue and asks every live process to send
its own and acknowledge (`Bus.flush_all`), so it sees every exchange finished anywhere.
Without a trusted bus an entry is sent at once, after the queue, as before.  The queue is
bounded: past `QUEUE_MAX` entries a request sends it itself.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import fields, replace
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from mockidp.core.journal import VALUE_CAP, Exchange, Journal, cap_value, capped
from mockidp.core.model import Params
from mockidp.shared.connection import reachable
from mockidp.shared.once import Once
from mockidp.shared.snapshot import SharedView

# ARGV: size, max_bytes, then the entries in order.  Returns the last sequence number.
_APPEND = """
local size, max_bytes = tonumber(ARGV[1]), tonumber(ARGV[2])
local seq, len, total
for i = 3, #ARGV do
  seq = redis.call('INCR', KEYS[2])
  local entry = seq .. ' ' .. ARGV[i]
  len = redis.call('RPUSH', KEYS[1], entry)
  total = redis.call('INCRBY', KEYS[3], #entry)
  while len > size or (total > max_bytes and len > 1) do
    local old = redis.call('LPOP', KEYS[1])
    total = redis.call('INCRBY', KEYS[3], -#old)
    len = len - 1
  end
end
return seq
"""
_FIELDS = tuple(f.name for f in fields(Exchange))
FLUSH_S = 0.002  # how long the sender gathers entries before sending them
QUEUE_MAX = 256  # past this many queued entries, the request sends them itself


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


def in_time_order(exchanges: list[Exchange]) -> list[Exchange]:
    """``exchanges`` in the order their requests started, numbered in that order.

    Redis lists the entries in the order they reached it, and each process sends its own in
    batches: an exchange finished at one process can arrive after a later one at another
    (a code redeemed at A, then replayed at B, would read replay first).  So a read sorts
    them by their start time (stable: one process's own stay in their order) and hands the
    same sequence numbers out again in that order."""
    if all(a.time <= b.time for a, b in pairwise(exchanges)):
        return exchanges  # the usual case: nothing to sort, nothing renumbered
    ordered = sorted(exchanges, key=lambda e: e.time)
    numbers = sorted(e.seq for e in exchanges)
    return [replace(e, seq=n) for e, n in zip(ordered, numbers, strict=True)]


class SharedJournal(Journal):
    """`Journal` kept in the shared store (see the module docstring)."""

    def __init__(self, state: SharedView, size: int, max_bytes: int) -> None:
        super().__init__(size, max_bytes)
        self._state = state
        self._keys = [state.name("journal"), state.name("journal", "seq"),
                      state.name("journal", "bytes")]
        # a batch resent (by redis-py, or by `flush` after a failure) is recorded once
        self._appender = Once(state.client, _APPEND, state.name("journal") + ":")
        self._queue: list[str] = []
        self._unsent: tuple[str, list[str]] | None = None  # a batch that failed, its memo
        self._queue_lock = threading.Lock()
        self._send_lock = threading.Lock()  # one sender at a time: the order is kept
        self._wake = threading.Event()
        self._sender: threading.Thread | None = None

    def flush(self) -> None:
        """Send this process's queued entries (one script call, one round trip).  A batch
        that fails is sent again first next time, under the same memo: if Redis had recorded
        it before the answer was lost, it is not recorded twice."""
        with self._send_lock:
            if self._unsent is not None:
                self._send(*self._unsent)
            with self._queue_lock:
                batch, self._queue = self._queue[-self.size:], []
            if batch:
                self._send(self._appender.memo(), batch)

    def _send(self, memo: str, batch: list[str]) -> None:
        self._unsent = (memo, batch)
        with reachable():
            self._appender.script(keys=[*self._keys, memo],
                                args=[self.size, self.max_bytes, *batch])
        self._unsent = None

    def _sender_loop(self) -> None:
        """The background sender (see the module docstring)."""
        while True:
            self._wake.wait()
            self._wake.clear()
            time.sleep(FLUSH_S)
            try:
                self.flush()
            except Exception:  # Redis lost: the entries wait for it
                time.sleep(0.1)
                self._wake.set()

    def _queued(self, entry: str) -> bool:
        """Queue ``entry`` for the sender; False when the bus is not trusted."""
        if not self._state.trusted():
            return False
        with self._queue_lock:
            self._queue.append(entry)
            count = len(self._queue)
        if count == 1:
            if self._sender is None:
                self._sender = threading.Thread(target=self._sender_loop, daemon=True,
                                                name="mockidp-journal")
                self._sender.start()
            self._wake.set()
        elif count > QUEUE_MAX:
            self.flush()
        return True

    @property
    def bytes(self) -> int:
        self._state.flush_all()
        with reachable():
            return int(self._state.client.get(self._keys[2]) or 0)

    def next_seq(self) -> int:
        return 0  # numbered by Redis when recorded

    def record(self, exchange: Exchange) -> None:
        params = {k: cap_value(v) for k, v in exchange.params.items()}
        if params != exchange.params:
            exchange = replace(exchange, params=MappingProxyType(params))
        entry = encode(exchange)
        if self._queued(entry):
            return
        with self._queue_lock:  # after what was queued before, sent at once
            self._queue.append(entry)
        self.flush()

    def record_later(self, build: Callable[..., Exchange], params: Params,
                     args: tuple[Any, ...], weight: int) -> None:
        if params.size > VALUE_CAP:
            params = capped(params)[0]
        self.record(build(params, *args))

    def _snapshot(self) -> list[Exchange]:
        self._state.flush_all()
        with reachable():
            entries = self._state.client.lrange(self._keys[0], 0, -1)
        return in_time_order([decode(e) for e in entries])

    def clear(self) -> None:
        self._state.flush_all()
        with reachable():
            self._state.client.delete(self._keys[0], self._keys[2])

    def __len__(self) -> int:
        self._state.flush_all()
        with reachable():
            return int(self._state.client.llen(self._keys[0]))
