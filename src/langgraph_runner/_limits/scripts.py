"""The Lua scripts behind ``RedisLimitStore``: every decision runs atomically on Redis.

A limit's hash (``KEYS[1]``) holds ``r`` and ``t``, the theoretical arrival times
of its request and token buckets, and ``b``, until when callers are held off (a
429 or Retry-After seen by any worker); all in microseconds of the server's clock
(``TIME``), so the workers' clocks never matter. The arithmetic is ``gcra``'s.
Times are written with ``%.0f``: Lua's default number format keeps 14 digits, and
a time in microseconds has 16.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "BLOCK", "BUDGET_ADD", "SPEND"]

_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local function fmt(x) return string.format('%.0f', x) end
local function keep(...)
  local last = now
  for _, x in ipairs({...}) do if x > last then last = x end end
  redis.call('PEXPIRE', KEYS[1], math.floor((last - now) / 1000) + 1000)
end
"""

ACQUIRE = (
    _NOW
    + """
-- ARGV: req_interval_us, req_tau_us, tok_interval_us, tok_tau_us, cost, max_wait_us
-- Answers {granted (0/1), wait_us, reason (0 rate limit, 1 blocked)}.
local s = redis.call('HMGET', KEYS[1], 'r', 't', 'b')
local tat_r = tonumber(s[1]) or now
local tat_t = tonumber(s[2]) or now
local blocked = tonumber(s[3]) or 0
local ri, rt = tonumber(ARGV[1]), tonumber(ARGV[2])
local ti, tt = tonumber(ARGV[3]), tonumber(ARGV[4])
local cost, max_wait = tonumber(ARGV[5]), tonumber(ARGV[6])
local start, reason = now, 0
if ri > 0 and cost > 0 then start = math.max(start, tat_r + cost * ri - rt) end
if ti > 0 then start = math.max(start, tat_t + ti - tt) end
if blocked > start then start = blocked; reason = 1 end
local wait = start - now
if wait > max_wait then return {0, fmt(wait), reason} end
if ri > 0 and cost > 0 then
  tat_r = math.max(tat_r, start) + cost * ri
  redis.call('HSET', KEYS[1], 'r', fmt(tat_r))
  keep(tat_r, tat_t, blocked)
end
if wait < 0 then wait = 0 end
return {1, fmt(wait), reason}
"""
)

SPEND = (
    _NOW
    + """
-- ARGV: tok_interval_us, tokens
local s = redis.call('HMGET', KEYS[1], 'r', 't', 'b')
local tat_t = math.max(tonumber(s[2]) or now, now) + tonumber(ARGV[2]) * tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 't', fmt(tat_t))
keep(tonumber(s[1]) or now, tat_t, tonumber(s[3]) or 0)
return 1
"""
)

BLOCK = (
    _NOW
    + """
-- ARGV: hold_us
local s = redis.call('HMGET', KEYS[1], 'r', 't', 'b')
local blocked = math.max(tonumber(s[3]) or 0, now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'b', fmt(blocked))
keep(tonumber(s[1]) or now, tonumber(s[2]) or now, blocked)
return 1
"""
)

BUDGET_ADD = """
-- KEYS[1]: the budget's hash. ARGV: tokens, cost, calls, ttl_ms. Answers the totals.
local tokens = redis.call('HINCRBYFLOAT', KEYS[1], 'tokens', ARGV[1])
local cost = redis.call('HINCRBYFLOAT', KEYS[1], 'cost', ARGV[2])
local calls = redis.call('HINCRBY', KEYS[1], 'calls', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {tokens, cost, calls}
"""
