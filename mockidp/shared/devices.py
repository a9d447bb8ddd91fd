"""`RedisDeviceStore`: RFC 8628 device authorization requests of one issuer on Redis, with
the answers of `mockidp.core.device_codes.DeviceStore` (same checks, same order, same
messages), shared by every process on the same Redis, namespace and issuer.

A request is a hash ``d:<device_code>``: ``j`` the JSON of the request as created, and the
parts that change beside it (``st`` status, ``lp`` last poll, ``iv`` interval, ``ans`` the
answer's JSON, ``at`` its time), so a script updates them without rewriting the JSON.
``du:<user_code>`` points at it (made with SET NX: two processes never hand out one user
code); ``ix:dev`` orders them (at most `MAX_RECORDS`, the oldest go); ``dq`` queues answers
given before their request exists.  Each operation is one Lua script, one round trip: a
poll's slow_down, its last-poll time and the approved request's redemption (exactly once,
RFC 8628 §3.5) happen together or not at all.  Expiry is decided by ``expires_at`` on the
provider clock; Redis's TTL (the lifetime plus `KEEP_EXPIRED` plus a grace) only cleans up
(see `mockidp.shared.issuer_store`).
"""

from __future__ import annotations

import secrets
from typing import Any

from mockidp.core.device_codes import (
    APPROVED,
    KEEP_EXPIRED,
    MAX_RECORDS,
    MAX_SCRIPTED,
    PENDING,
    POLL_TOLERANCE,
    REDEEMED,
    SLOW_DOWN_STEP,
    DeviceAnswer,
    DeviceAuthorization,
    new_user_code,
    normalize_user_code,
)
from mockidp.core.errors import (
    AccessDenied,
    AuthorizationPending,
    ExpiredToken,
    InvalidGrant,
    SlowDown,
)
from mockidp.shared.codec import dump, load
from mockidp.shared.connection import reachable
from mockidp.shared.once import Once
from mockidp.shared.scripts import GRACE_MS, PRELUDE

_APPLY = """
local function apply(k, answer, at)
  if cjson.decode(answer).approve then
    redis.call('HSET', k, 'st', 'approved', 'ans', answer, 'at', at)
  else
    redis.call('HSET', k, 'st', 'denied')
  end
end
"""

# ARGV: device_code, user_code, json, expires_at, client_id, interval, ttl_ms, max, auth_time
CREATE = PRELUDE + _APPLY + """
if not redis.call('SET', B .. 'du:' .. ARGV[2], ARGV[1], 'NX', 'PX', ARGV[7]) then
  return false
end
local k = B .. 'd:' .. ARGV[1]
redis.call('HSET', k, 'j', ARGV[3], 'e', ARGV[4], 'c', ARGV[5], 'uc', ARGV[2],
           'st', 'pending', 'iv', ARGV[6])
redis.call('PEXPIRE', k, ARGV[7])
local ix = B .. 'ix:dev'
redis.call('ZADD', ix, redis.call('INCR', B .. 'seq'), ARGV[1])
local over = redis.call('ZCARD', ix) - tonumber(ARGV[8])
if over > 0 then
  local gone = redis.call('ZPOPMIN', ix, over)
  for i = 1, #gone, 2 do
    local old = B .. 'd:' .. gone[i]
    local uc = redis.call('HGET', old, 'uc')
    redis.call('DEL', old)
    if uc and redis.call('GET', B .. 'du:' .. uc) == gone[i] then
      redis.call('DEL', B .. 'du:' .. uc)
    end
  end
end
local answer = redis.call('LPOP', B .. 'dq')
if answer then apply(k, answer, ARGV[9]) end
return redis.call('HGETALL', k)
"""

# ARGV: user_code.  The request with this user code (all its fields), or false.
BY_USER = PRELUDE + """
local id = redis.call('GET', B .. 'du:' .. ARGV[1])
if not id then return false end
return redis.call('HGETALL', B .. 'd:' .. id)
"""

# ARGV: user_code ('' for the oldest waiting), answer JSON, now, auth_time.
ANSWER = PRELUDE + _APPLY + """
local now = tonumber(ARGV[3])
local function waiting(id)
  local v = redis.call('HMGET', B .. 'd:' .. id, 'st', 'e')
  return v[1] == 'pending' and now < tonumber(v[2])
end
local id = false
if ARGV[1] ~= '' then
  id = redis.call('GET', B .. 'du:' .. ARGV[1])
  if id and not waiting(id) then id = false end
else
  for _, each in ipairs(redis.call('ZRANGE', B .. 'ix:dev', 0, -1)) do
    if waiting(each) then id = each break end
  end
end
if not id then return false end
apply(B .. 'd:' .. id, ARGV[2], ARGV[4])
return redis.call('HGETALL', B .. 'd:' .. id)
"""

# ARGV: answer JSON, max waiting.
SCRIPT = PRELUDE + """
if redis.call('LLEN', B .. 'dq') >= tonumber(ARGV[2]) then return 0 end
redis.call('RPUSH', B .. 'dq', ARGV[1])
return 1
"""

# ARGV: device_code, client_id, now, tolerance, step.  {verdict, ...}.
POLL = PRELUDE + """
local k = B .. 'd:' .. ARGV[1]
local v = redis.call('HMGET', k, 'c', 'st', 'e', 'lp', 'iv')
if not v[1] then return {'unknown'} end
if v[1] ~= ARGV[2] then return {'client'} end
if v[2] == 'redeemed' then return {'redeemed'} end
local now = tonumber(ARGV[3])
if now >= tonumber(v[3]) then return {'expired'} end
redis.call('HSET', k, 'lp', ARGV[3])
if v[4] and now - tonumber(v[4]) < tonumber(v[5]) - tonumber(ARGV[4]) then
  local interval = tonumber(v[5]) + tonumber(ARGV[5])
  redis.call('HSET', k, 'iv', interval)
  return {'slow', v[4], tostring(interval)}
end
if v[2] == 'denied' then return {'denied'} end
if v[2] == 'pending' then return {'pending'} end
redis.call('HSET', k, 'st', 'redeemed')
return {'ok', redis.call('HGETALL', k)}
"""


def _record(flat: list[bytes] | None) -> DeviceAuthorization | None:
    """The request from its hash's fields (HGETALL as a flat list), or None."""
    if not flat:
        return None
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    last = fields.get(b"lp")
    record = load(DeviceAuthorization, fields[b"j"])
    record.status = fields[b"st"].decode()
    record.interval = int(fields[b"iv"])
    record.last_poll = float(last) if last is not None else None
    if record.status in (APPROVED, REDEEMED) and b"ans" in fields:
        answer = load(DeviceAnswer, fields[b"ans"])
        record.user_id, record.login_claims = answer.user_id, answer.login_claims
        record.auth_time = int(fields[b"at"])
    return record


class RedisDeviceStore:
    """`mockidp.core.device_codes.Devices` on Redis.  Thread-safe and safe across processes;
    every method raises `TemporarilyUnavailable` when Redis cannot be reached."""

    def __init__(self, client: Any, base: str) -> None:
        self._redis = client
        self._base = base
        # each of these but BY_USER would answer differently when resent (`once`)
        self._create, self._by_user = Once(client, CREATE, base), client.register_script(BY_USER)
        self._answer, self._script = Once(client, ANSWER, base), Once(client, SCRIPT, base)
        self._poll = Once(client, POLL, base)

    def __len__(self) -> int:
        with reachable():
            return int(self._redis.zcard(self._base + "ix:dev"))

    def create(self, client_id: str, scopes: tuple[str, ...], audience: tuple[str, ...],
               now: float, lifetime: int, interval: int) -> DeviceAuthorization:
        """A new pending request (or one already answered by a scripted `DeviceAnswer`)."""
        expires_at = now + lifetime
        ttl = max(0, int((expires_at + KEEP_EXPIRED - now) * 1000)) + GRACE_MS
        while True:
            record = DeviceAuthorization(
                device_code=secrets.token_urlsafe(32), user_code=new_user_code(),
                client_id=client_id, scopes=scopes, audience=audience, issued_at=now,
                expires_at=expires_at, interval=interval)
            with reachable():
                found = self._create(keys=[self._base], args=[
                    record.device_code, record.user_code, dump(record), repr(expires_at),
                    client_id, interval, ttl, MAX_RECORDS, int(now)])
            made = _record(found)
            if made is not None:  # else the user code was taken: another one
                return made

    def pending(self, user_code: str, now: float) -> DeviceAuthorization | None:
        """The live, unanswered request with this user code (any spelling)."""
        with reachable():
            found = _record(self._by_user(keys=[self._base],
                                          args=[normalize_user_code(user_code)]))
        if found is None or found.status != PENDING or now >= found.expires_at:
            return None
        return found

    def answer(self, user_code: str | None, answer: DeviceAnswer, now: float
               ) -> DeviceAuthorization | None:
        """Answer the request with ``user_code``, or with None the oldest one waiting; the
        answered request, or None when there was nothing to answer."""
        code = normalize_user_code(user_code) if user_code is not None else ""
        if user_code is not None and not code:
            return None
        with reachable():
            return _record(self._answer(keys=[self._base], args=[
                code, dump(answer), repr(now), int(now)]))

    def script(self, answer: DeviceAnswer) -> bool:
        """Queue an answer for the next request created; False when `MAX_SCRIPTED` wait."""
        with reachable():
            return bool(self._script(keys=[self._base], args=[dump(answer), MAX_SCRIPTED]))

    def peek(self, device_code: str) -> DeviceAuthorization | None:
        """The request, whatever its state (for rule matching and the journal)."""
        with reachable():
            flat = self._redis.hgetall(self._base + "d:" + device_code)
        return _record([x for pair in flat.items() for x in pair])

    def poll(self, device_code: str, client_id: str, now: float) -> DeviceAuthorization:
        """The token endpoint's poll (RFC 8628 §3.4, §3.5): the approved request, once.

        Raises `InvalidGrant`, `SlowDown`, `ExpiredToken`, `AccessDenied` or
        `AuthorizationPending`, as `DeviceStore.poll` does."""
        with reachable():
            found = self._poll(keys=[self._base], args=[
                device_code, client_id, repr(now), repr(POLL_TOLERANCE), SLOW_DOWN_STEP])
        verdict = found[0]
        if verdict == b"ok":
            record = _record(found[1])
            assert record is not None
            return record
        if verdict == b"slow":
            raise SlowDown(f"polled {now - float(found[1]):.1f} s after the previous "
                           f"request; wait at least {int(found[2])} s between requests")
        raise {
            b"unknown": InvalidGrant("device_code is unknown"),
            b"client": InvalidGrant("device_code was issued to another client"),
            b"redeemed": InvalidGrant("device_code was already used to obtain tokens"),
            b"expired": ExpiredToken("device_code has expired; start a new device "
                                     "authorization"),
            b"denied": AccessDenied("the user denied the device authorization request"),
            b"pending": AuthorizationPending("the user has not yet approved the request"),
        }[verdict]
