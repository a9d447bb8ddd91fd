"""`Once`: a Lua script that takes effect at most once per call, however often it is sent.

redis-py sends a command again when its connection fails before the answer arrived (up to
`mockidp.shared.connection.RETRIES` more times, after a reconnect).  A script that Redis had already
run then runs a second time: a code redeemed by the first run reads as a replay, a refresh
token rotated by it as reused (and its whole grant family is revoked), a rule's ``times`` is
spent twice, the clock advanced twice.  So every script whose second run differs from its
first is wrapped: each call gets a random memo key (after the script's own keys), and the
script keeps its answer there for `MEMO_MS`; a run that finds the memo answers what the first
run answered and changes nothing.  The memo costs one ``GET`` and one ``SET`` inside the
script, never a round trip.  A script that runs the same way twice (a put, a read, a
compare-and-set) is not wrapped.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

MEMO_MS = 60_000  # how long an answer is kept for a resend (redis-py's retries take seconds)

_WRAP = """
local __memo = KEYS[#KEYS]
local __done = redis.call('GET', __memo)
if __done then return cjson.decode(__done)[1] end
local function __body()
{body}
end
local __answer = __body()
redis.call('SET', __memo, cjson.encode({{__answer}}), 'PX', {memo_ms})
return __answer
"""


def wrapped(body: str, memo_ms: int = MEMO_MS) -> str:
    """The Lua text of ``body`` run at most once per memo key (the last of ``KEYS``)."""
    return _WRAP.format(body=body, memo_ms=memo_ms)


class Once:
    """``body`` registered on ``client`` as a script run at most once per call; the memo keys
    are ``memo_prefix`` and a random token (give the prefix of the keys the script touches,
    so a reset that deletes those deletes the memos too)."""

    def __init__(self, client: Any, body: str, memo_prefix: str) -> None:
        self.script = client.register_script(wrapped(body))
        self.memo_prefix = memo_prefix

    def memo(self) -> str:
        """A new memo key: one per call, the same for every resend of that call."""
        return f"{self.memo_prefix}op:{secrets.token_hex(8)}"

    def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        return self.script(keys=[*keys, self.memo()], args=args)
