"""`SharedClock`: the provider clock of every process on one shared store.

Its offset and freeze point live in the state hash (`mockidp.shared.state`); `now()` answers
from the process's copy of the hash, so it costs no round trip; every change ends with the
barrier of `mockidp.shared.bus` (every process sees it before the change returns).  Each change
is one Lua script run against the hash, so two processes changing the clock at once never
lose one of the changes (``advance`` adds, it does not read then write).  Times are each
process's ``time.time()`` plus the shared offset, as for one process.
"""

from __future__ import annotations

import time

from mockidp.core.clock import Clock
from mockidp.shared.connection import reachable
from mockidp.shared.once import Once
from mockidp.shared.snapshot import SharedView

_SKEW = """
if redis.call('HEXISTS', KEYS[1], 'frozen') == 1 then
  local at = tonumber(ARGV[1]) + tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'frozen', string.format('%.6f', at))
end
redis.call('HSET', KEYS[1], 'offset', ARGV[2])
return 1
"""
_FREEZE = """
local at = ARGV[2]
if at == '' then
  at = redis.call('HGET', KEYS[1], 'frozen')
  if not at then
    local offset = tonumber(redis.call('HGET', KEYS[1], 'offset') or '0')
    at = string.format('%.6f', tonumber(ARGV[1]) + offset)
  end
end
redis.call('HSET', KEYS[1], 'frozen', at)
return 1
"""
_ADVANCE = """
if redis.call('HEXISTS', KEYS[1], 'frozen') == 1 then
  redis.call('HINCRBYFLOAT', KEYS[1], 'frozen', ARGV[1])
else
  redis.call('HINCRBYFLOAT', KEYS[1], 'offset', ARGV[1])
end
return 1
"""


class SharedClock(Clock):
    """`Clock` whose state is the shared store's (see the module docstring)."""

    def __init__(self, state: SharedView) -> None:
        super().__init__()
        self._state = state
        client = state.client
        self._skew = client.register_script(_SKEW)
        self._freeze = client.register_script(_FREEZE)
        self._advance = Once(client, _ADVANCE, state.name("clock") + ":")  # relative: once

    def now(self) -> float:
        snap = self._state.current()
        if snap.frozen is not None:
            return snap.frozen
        return time.time() + snap.offset

    def skew(self, seconds: float) -> None:
        with reachable():
            self._skew(keys=[self._state.key], args=[repr(time.time()), repr(float(seconds))])
        self._state.changed()

    def freeze(self, at: float | None = None) -> None:
        given = repr(float(at)) if at is not None else ""
        with reachable():
            self._freeze(keys=[self._state.key], args=[repr(time.time()), given])
        self._state.changed()

    def advance(self, seconds: float) -> None:
        with reachable():
            self._advance(keys=[self._state.key], args=[repr(float(seconds))])
        self._state.changed()

    def reset(self) -> None:
        with reachable():
            self._state.client.hdel(self._state.key, "offset", "frozen")
        self._state.changed()

    @property
    def frozen(self) -> bool:
        return self._state.current().frozen is not None
