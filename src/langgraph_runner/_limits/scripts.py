"""The Lua scripts behind ``RedisLimitStore``: every decision runs atomically on Redis.

A limit's hash (``KEYS[1]``) holds ``r`` and ``t``, the theoretical arrival times
of its request and token buckets, and ``b``, until when callers are held off (a
429 or Retry-After seen by any worker); all in microseconds of the server's clock
(``TIME``), so the workers' clocks never matter. The arithmetic is ``gcra``'s.
Times are written with ``%.0f``: Lua's default number format keeps 14 digits, and
a time in microseconds has 16. ``m`` is the key's recent mean tokens per call
(the estimate a call reserves, see ``gcra``).

What is read is validated: a field that is not a finite number (``nan``, ``inf``,
text) reads as fresh, a hold more than a day away as none, a mean outside
``[0, 10**12]`` tokens as none yet, and a key of another
type is deleted (reset); a budget that does not hold a spend (negative, not a
number, a key of another type) answers ``-1`` and the store reports it unavailable.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "BLOCK", "BUDGET_ADD", "BUDGET_TAKE", "SETTLE"]

MAX_HOLD_US = 86_400 * 1_000_000
"""A hold read further away than this (one day) is garbage and reads as none."""

_NOW = f"""
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local function fmt(x) return string.format('%.0f', x) end
local function num(x, d)
  local n = tonumber(x)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then return d end
  return n
end
local function state()
  local s = redis.pcall('HMGET', KEYS[1], 'r', 't', 'b', 'm')
  if s.err then redis.call('DEL', KEYS[1]); return now, now, 0, 0 end
  local b = num(s[3], 0)
  if b > now + {MAX_HOLD_US} then b = 0 end
  local m = num(s[4], 0)
  if m < 0 or m > 1e12 then m = 0 end
  return num(s[1], now), num(s[2], now), b, m
end
local function keep(...)
  local last = now
  for _, x in ipairs({{...}}) do if x > last then last = x end end
  redis.call('PEXPIRE', KEYS[1], math.floor(math.min(last - now, 3e13) / 1000) + 1000)
end
"""

ACQUIRE = (
    _NOW
    + """
-- ARGV: req_interval_us, req_tau_us, tok_interval_us, tok_tau_us, cost, max_wait_us,
-- reserve (1: reserve the key's mean tokens).
-- Answers {granted (0/1), wait_us, reason (0 rate limit, 1 blocked), reserved tokens}.
local tat_r, tat_t, blocked, mean = state()
local ri, rt = tonumber(ARGV[1]), tonumber(ARGV[2])
local ti, tt = tonumber(ARGV[3]), tonumber(ARGV[4])
local cost, max_wait = tonumber(ARGV[5]), tonumber(ARGV[6])
local start, reason, est = now, 0, 0
if ri > 0 and cost > 0 then start = math.max(start, tat_r + cost * ri - rt) end
if ti > 0 then
  if ARGV[7] == '1' then est = mean end
  start = math.max(start, tat_t + math.max(1, math.min(est, tt / ti)) * ti - tt)
end
if blocked > start then start = blocked; reason = 1 end
local wait = start - now
if wait > max_wait then return {0, fmt(wait), reason, '0'} end
local moved = false
if ri > 0 and cost > 0 then tat_r = math.max(tat_r, start) + cost * ri; moved = true end
if est > 0 then tat_t = math.max(tat_t, start) + est * ti; moved = true end
if moved then
  redis.call('HSET', KEYS[1], 'r', fmt(tat_r), 't', fmt(tat_t))
  keep(tat_r, tat_t, blocked)
end
if wait < 0 then wait = 0 end
return {1, fmt(wait), reason, string.format('%.17g', est)}
"""
)

SETTLE = (
    _NOW
    + """
-- ARGV: tok_interval_us, tokens used, tokens reserved, weight of the newest call in the mean
local tat_r, tat_t, blocked, mean = state()
local ti, tokens, reserved = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local diff = tokens - reserved
if diff > 0 then tat_t = math.max(tat_t, now) + diff * ti
elseif diff < 0 then tat_t = tat_t + diff * ti end
if tokens > 0 then
  if mean <= 0 then mean = tokens else mean = mean + tonumber(ARGV[4]) * (tokens - mean) end
end
redis.call('HSET', KEYS[1], 't', fmt(tat_t), 'm', string.format('%.17g', mean))
keep(tat_r, tat_t, blocked)
return 1
"""
)

BLOCK = (
    _NOW
    + """
-- ARGV: hold_us
local tat_r, tat_t, blocked = state()
blocked = math.max(blocked, now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'b', fmt(blocked))
keep(tat_r, tat_t, blocked)
return 1
"""
)

_SPEND = """
local function g(x) return string.format('%.17g', x) end
local function spend()
  local s = redis.pcall('HMGET', KEYS[1], 'tokens', 'cost', 'calls')
  if s.err then return nil end
  local t, c, n = tonumber(s[1] or '0'), tonumber(s[2] or '0'), tonumber(s[3] or '0')
  for _, x in ipairs({t, c, n}) do
    if x == nil or x ~= x or x < 0 or x == math.huge then return nil end
  end
  if n ~= math.floor(n) then return nil end
  return t, c, n
end
"""

BUDGET_TAKE = (
    _SPEND
    + """
-- KEYS[1]: the budget's hash. ARGV: tokens, cost and calls limits ('' for none), ttl_ms.
-- Answers {1 counted / 0 a limit is reached / -1 not a spend, tokens, cost, calls}.
local t, c, n = spend()
if t == nil then return {-1, '0', '0', 0} end
local tl, cl, nl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if (tl and t >= tl) or (cl and c >= cl) or (nl and n >= nl) then
  return {0, g(t), g(c), n}
end
n = n + 1
redis.call('HSET', KEYS[1], 'calls', string.format('%d', n))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, g(t), g(c), n}
"""
)

BUDGET_ADD = (
    _SPEND
    + """
-- KEYS[1]: the budget's hash. ARGV: tokens, cost, calls, ttl_ms.
-- Answers {1 / -1 not a spend, tokens, cost, calls} (the totals after it).
local t, c, n = spend()
if t == nil then return {-1, '0', '0', 0} end
t = t + tonumber(ARGV[1]); c = c + tonumber(ARGV[2]); n = n + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'tokens', g(t), 'cost', g(c), 'calls', string.format('%d', n))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, g(t), g(c), n}
"""
)
