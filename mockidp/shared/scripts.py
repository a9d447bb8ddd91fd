"""The Lua scripts of `RedisIssuerStore`: each read-modify-write of an issuer's state runs as
one script, so Redis executes it whole, with no other command in between (no race between
processes, nothing half-written), in one round trip.

Every script gets the issuer's key prefix as ``KEYS[1]`` (``mockidp:[namespace:]{issuer}:``;
the braces make it a Redis Cluster hash tag, so all keys of one issuer share a slot) and
builds the keys of that issuer from it.  Numbers come as the decimal text Python wrote
(``repr`` of a float) and are stored as that text, never as a Lua number (Lua would print
only 14 digits).  A record is a hash: ``j`` its JSON (`mockidp.shared.codec`), ``e`` its
expiry on the provider clock, ``f`` a flag (code redeemed, refresh token revoked), ``m`` its
grant family, ``c`` its client.
"""

from __future__ import annotations

GRACE_MS = 600_000  # Redis keeps a record this long past its expiry (see `issuer_store`)

PRELUDE = """
local B = KEYS[1]
local GRACE = %d
local function ttl_of(untl, now)
  return math.max(0, math.ceil((tonumber(untl) - tonumber(now)) * 1000)) + GRACE
end
local function keep(key, ttl)
  local p = redis.call('PTTL', key)
  if p == -1 or p < ttl then redis.call('PEXPIRE', key, ttl) end
end
local function index(kind, id, limit, prefix)
  local ix = B .. 'ix:' .. kind
  redis.call('ZADD', ix, redis.call('INCR', B .. 'seq'), id)
  local over = redis.call('ZCARD', ix) - limit
  if over > 0 then
    local gone = redis.call('ZPOPMIN', ix, over)
    for i = 1, #gone, 2 do redis.call('DEL', prefix .. gone[i]) end
  end
end
local function until_put(zkey, member, untl, now, limit)
  local old = redis.call('ZSCORE', zkey, member)
  if old and tonumber(old) >= tonumber(untl) then return end
  redis.call('ZADD', zkey, untl, member)
  redis.call('ZREMRANGEBYSCORE', zkey, '-inf', now)
  local over = redis.call('ZCARD', zkey) - limit
  if over > 0 then redis.call('ZPOPMIN', zkey, over) end
  keep(zkey, ttl_of(untl, now))
end
local function revoke_family(fam, now, limit)
  local rf = B .. 'rfam'
  redis.call('ZADD', rf, redis.call('INCR', B .. 'seq'), fam)
  local over = redis.call('ZCARD', rf) - limit
  if over > 0 then redis.call('ZPOPMIN', rf, over) end
  keep(rf, 86400000)
  for _, tok in ipairs(redis.call('SMEMBERS', B .. 'fam:' .. fam)) do
    local k = B .. 'rt:' .. tok
    if redis.call('EXISTS', k) == 1 then redis.call('HSET', k, 'f', '1') end
  end
  local fat = B .. 'fat:' .. fam
  local tokens = redis.call('ZRANGE', fat, 0, -1, 'WITHSCORES')
  for i = 1, #tokens, 2 do until_put(B .. 'revoked', tokens[i], tokens[i + 1], now, limit) end
  redis.call('DEL', fat)
  redis.call('ZREM', B .. 'ix:families', fam)
end
""" % GRACE_MS

# ARGV: kind, id, json, expires_at, ttl_ms, limit, flag, family, client, pointer ('' or a
# key suffix set to id, e.g. a session's ``sid:<sid>``).  Returns the flag stored (a refresh
# token of a family revoked meanwhile is stored revoked).
PUT = PRELUDE + """
local kind, id, fam = ARGV[1], ARGV[2], ARGV[8]
local prefix = B .. kind .. ':'
local k = prefix .. id
local flag = ARGV[7]
if fam ~= '' and redis.call('ZSCORE', B .. 'rfam', fam) then flag = '1' end
redis.call('DEL', k)
redis.call('HSET', k, 'j', ARGV[3], 'e', ARGV[4], 'f', flag, 'm', fam, 'c', ARGV[9])
redis.call('PEXPIRE', k, ARGV[5])
index(kind, id, tonumber(ARGV[6]), prefix)
if kind == 'rt' then
  local fk = B .. 'fam:' .. fam
  redis.call('SADD', fk, id)
  keep(fk, tonumber(ARGV[5]))
end
if ARGV[10] ~= '' then redis.call('SET', B .. ARGV[10], id, 'PX', ARGV[5]) end
return flag
"""

# ARGV: code, now, limit.  Returns false (unknown or expired), or {json, 1} the first time,
# {json, 0} on a replay (which revokes the code's grant family).
REDEEM = PRELUDE + """
local k = B .. 'ac:' .. ARGV[1]
local v = redis.call('HMGET', k, 'j', 'e', 'f', 'm')
if not v[1] or tonumber(ARGV[2]) >= tonumber(v[2]) then return false end
if v[3] == '1' then
  revoke_family(v[4], ARGV[2], tonumber(ARGV[3]))
  return {v[1], 0}
end
redis.call('HSET', k, 'f', '1')
return {v[1], 1}
"""

# ARGV: token, now, client_id, rotate ('1'/'0'), limit.  Returns {json} or {false, why}.
USE_REFRESH = PRELUDE + """
local k = B .. 'rt:' .. ARGV[1]
local v = redis.call('HMGET', k, 'j', 'e', 'f', 'm', 'c')
if not v[1] or tonumber(ARGV[2]) >= tonumber(v[2]) then return {false, 'unknown'} end
if v[5] ~= ARGV[3] then return {false, 'client'} end
if v[3] == '1' then
  revoke_family(v[4], ARGV[2], tonumber(ARGV[5]))
  return {false, 'reused'}
end
if ARGV[4] == '1' then redis.call('HSET', k, 'f', '1') end
return {v[1]}
"""

# ARGV: token, now, limit.  Revokes the token's grant family; returns its JSON or false.
REVOKE_REFRESH = PRELUDE + """
local v = redis.call('HMGET', B .. 'rt:' .. ARGV[1], 'j', 'm')
if not v[1] then return false end
revoke_family(v[2], ARGV[2], tonumber(ARGV[3]))
return v[1]
"""

# ARGV: family, jti, expires_at, now, limit.
NOTE_ACCESS = PRELUDE + """
local fam, jti, exp, now, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if redis.call('ZSCORE', B .. 'rfam', fam) then
  until_put(B .. 'revoked', jti, exp, now, limit)
  return
end
local fat = B .. 'fat:' .. fam
redis.call('ZADD', fat, exp, jti)
redis.call('ZREMRANGEBYSCORE', fat, '-inf', now)
local over = redis.call('ZCARD', fat) - limit
if over > 0 then redis.call('ZPOPMIN', fat, over) end
keep(fat, ttl_of(exp, now))
index('families', fam, limit, B .. 'fat:')
"""

# ARGV: zset suffix, member, until, now, limit, replay ('1': answer whether first seen).
UNTIL = PRELUDE + """
local z = B .. ARGV[1]
if ARGV[6] == '1' then
  local old = redis.call('ZSCORE', z, ARGV[2])
  if old and tonumber(ARGV[4]) < tonumber(old) then return 0 end
  redis.call('SADD', B .. 'seenkinds', ARGV[1])
end
until_put(z, ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]))
return 1
"""

# ARGV: kind, id, now, client check ('' none, else '=' .. client_id or '!' for no client).
# Takes a live record once: false (unknown, expired, taken), {json} or {false, 'client'}.
TAKE = PRELUDE + """
local k = B .. ARGV[1] .. ':' .. ARGV[2]
local v = redis.call('HMGET', k, 'j', 'e', 'c')
if not v[1] then return false end
if tonumber(ARGV[3]) >= tonumber(v[2]) then
  redis.call('DEL', k)
  redis.call('ZREM', B .. 'ix:' .. ARGV[1], ARGV[2])
  return false
end
if ARGV[4] ~= '' and ARGV[4] ~= '=' .. v[3] then return {false, 'client'} end
redis.call('DEL', k)
redis.call('ZREM', B .. 'ix:' .. ARGV[1], ARGV[2])
return {v[1]}
"""

# ARGV: session id.  Ends a session whatever its expiry: its JSON or false.
END_SESSION = PRELUDE + """
local k = B .. 'ls:' .. ARGV[1]
local j = redis.call('HGET', k, 'j')
if not j then return false end
redis.call('DEL', k, B .. 'sid:' .. cjson.decode(j).sid)
redis.call('ZREM', B .. 'ix:ls', ARGV[1])
return j
"""

# ARGV: sid.  The session with this public sid: {json, expires_at} or false.
BY_SID = PRELUDE + """
local id = redis.call('GET', B .. 'sid:' .. ARGV[1])
if not id then return false end
local v = redis.call('HMGET', B .. 'ls:' .. id, 'j', 'e')
if not v[1] then return false end
return v
"""

# ARGV: sid, client_id, limit, default ttl.
NOTE_SESSION_CLIENT = PRELUDE + """
local k = B .. 'sc:' .. ARGV[1]
if redis.call('EXISTS', k) == 0 then index('sc', ARGV[1], tonumber(ARGV[3]), B .. 'sc:') end
if redis.call('SCARD', k) < 100 then redis.call('SADD', k, ARGV[2]) end
local ttl = redis.call('PTTL', B .. 'sid:' .. ARGV[1])
keep(k, math.max(ttl, tonumber(ARGV[4])))
"""

# ARGV: sid.  The clients noted for a session, forgotten.
TAKE_SESSION_CLIENTS = PRELUDE + """
local k = B .. 'sc:' .. ARGV[1]
local found = redis.call('SMEMBERS', k)
redis.call('DEL', k)
redis.call('ZREM', B .. 'ix:sc', ARGV[1])
return found
"""

# ARGV: the record kinds.  Their sizes, then the sizes of the revocation sets and replay caches.
COUNTS = PRELUDE + """
local out = {}
for i = 1, #ARGV do out[i] = redis.call('ZCARD', B .. 'ix:' .. ARGV[i]) end
out[#out + 1] = redis.call('ZCARD', B .. 'revoked')
out[#out + 1] = redis.call('ZCARD', B .. 'rfam')
local seen = 0
for _, kind in ipairs(redis.call('SMEMBERS', B .. 'seenkinds')) do
  seen = seen + redis.call('ZCARD', B .. kind)
end
out[#out + 1] = seen
return out
"""

# ARGV: a glob of every key of the issuer but the users' and clients' version, new version.
CLEAR = PRELUDE + """
local cursor = '0'
repeat
  local found = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = found[1]
  for _, key in ipairs(found[2]) do
    if key ~= B .. 'ver' then redis.call('UNLINK', key) end
  end
until cursor == '0'
redis.call('SET', B .. 'ver', ARGV[2])
"""

# ARGV: field ('u:<id>' or 'c:<id>'), configured ('1'/'0'), new version.  Drops a user or
# client added at run time (or hides a configured one): 1, or 0 when there was none.
DROP_PERSON = """
local k = KEYS[1] .. 'people'
local v = redis.call('HGET', k, ARGV[1])
if v == '' or (not v and ARGV[2] ~= '1') then return 0 end
if ARGV[2] == '1' then redis.call('HSET', k, ARGV[1], '') else redis.call('HDEL', k, ARGV[1]) end
redis.call('SET', KEYS[1] .. 'ver', ARGV[3])
return 1
"""
