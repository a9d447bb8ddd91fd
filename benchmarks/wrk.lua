-- wrk script of the mockidp benchmark harness (benchmarks/run.py starts wrk with it).
--
--   wrk -t1 -cN -dS --latency -s benchmarks/wrk.lua http://127.0.0.1:PORT/ -- MODE ISSUER LIMIT
--
-- MODE     token     POST ISSUER/token, grant_type=client_credentials, HTTP Basic auth
--          authcode  GET ISSUER/authorize?...&login_hint=alice (302 with a code), then
--                    POST ISSUER/token with that code: one round trip per code
--          jwks      GET ISSUER/jwks
--          discovery GET ISSUER/.well-known/openid-configuration
-- ISSUER   path of the issuer, e.g. /default
-- LIMIT    0, or: print "LIMIT" (flushed) once this thread has LIMIT good answers; the harness
--          then stops wrk with SIGINT (wrk's -d is whole seconds and cannot count requests)
--
-- A response is good when its status is the expected one (200; 302 with a code for authorize)
-- and, for 200, its body holds the expected key.  done() prints one line "WRKJSON {...}" with
-- the counts of every thread and wrk's own figures (latencies in microseconds).  wrk
-- reconnects by itself after a "Connection: close" response; those responses are counted.

local AUTH = "Basic YmVuY2gtY2xpZW50OmJlbmNoLXNlY3JldA==" -- bench-client:bench-secret
local FORM = "application/x-www-form-urlencoded"
local REDIRECT = "http://127.0.0.1/cb"
local REDIRECT_ENC = "http%3A%2F%2F127.0.0.1%2Fcb"

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

-- per-thread globals, read by done() through thread:get()
good = 0          -- good answers (token mode: tokens; authcode mode: tokens from codes)
codes_got = 0     -- authcode mode: 302 answers carrying a code
bad_status = 0    -- answers with an unexpected status
bad_body = 0      -- 200 answers without the expected key / 302 without a code
closes = 0        -- answers saying "Connection: close" (or HTTP/1.0 without keep-alive)

local mode, limit, expect, plain_request, authorize_request, token_path
local token_headers = { ["Authorization"] = AUTH, ["Content-Type"] = FORM }
local codes = {}
local announced = false

function init(args)
    mode = args[1] or "token"
    local issuer = args[2] or "/default"
    limit = tonumber(args[3] or "0") or 0
    token_path = issuer .. "/token"
    if mode == "token" then
        expect = '"access_token"'
        plain_request = wrk.format("POST", token_path, token_headers,
                                   "grant_type=client_credentials")
    elseif mode == "authcode" then
        expect = '"access_token"'
        authorize_request = wrk.format("GET", issuer .. "/authorize?response_type=code"
            .. "&client_id=bench-client&redirect_uri=" .. REDIRECT_ENC
            .. "&scope=openid&state=bench&login_hint=alice")
    elseif mode == "jwks" then
        expect = '"keys"'
        plain_request = wrk.format("GET", issuer .. "/jwks")
    elseif mode == "discovery" then
        expect = '"jwks_uri"'
        plain_request = wrk.format("GET", issuer .. "/.well-known/openid-configuration")
    else
        error("unknown mode " .. tostring(mode))
    end
end

function request()
    if mode == "authcode" then
        local code = table.remove(codes)
        if code == nil then
            return authorize_request
        end
        return wrk.format("POST", token_path, token_headers,
            "grant_type=authorization_code&code=" .. code .. "&redirect_uri=" .. REDIRECT_ENC)
    end
    return plain_request
end

local function header(headers, name)
    for key, value in pairs(headers) do
        if string.lower(key) == name then
            return value
        end
    end
    return nil
end

function response(status, headers, body)
    local connection = header(headers, "connection")
    if connection ~= nil and string.lower(connection) == "close" then
        closes = closes + 1
    end
    if mode == "authcode" and status == 302 then
        local location = header(headers, "location") or ""
        local code = string.match(location, "[?&]code=([^&#]+)")
        if code == nil or string.sub(location, 1, #REDIRECT) ~= REDIRECT then
            bad_body = bad_body + 1
        else
            codes_got = codes_got + 1
            table.insert(codes, code)
        end
        return
    end
    if status ~= 200 then
        bad_status = bad_status + 1
    elseif string.find(body, expect, 1, true) == nil then
        bad_body = bad_body + 1
    else
        good = good + 1
        if limit > 0 and good >= limit and not announced then
            announced = true
            io.stdout:write("LIMIT\n")
            io.stdout:flush()
        end
    end
end

function done(summary, latency, requests)
    local total = { good = 0, codes_got = 0, bad_status = 0, bad_body = 0, closes = 0 }
    for _, thread in ipairs(threads) do
        for name, _ in pairs(total) do
            total[name] = total[name] + (thread:get(name) or 0)
        end
    end
    local e = summary.errors
    io.stdout:write(string.format(
        'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, '
        .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, '
        .. '"status_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, '
        .. '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "good": %d, "codes_got": %d, '
        .. '"bad_status": %d, "bad_body": %d, "closes": %d}\n',
        summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
        e.status, e.timeout, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max, latency.mean, total.good, total.codes_got,
        total.bad_status, total.bad_body, total.closes))
    io.stdout:flush()
end
