"""The Lua scripts behind ``circuit_redis``: every breaker transition runs atomically on Redis.

Keys: ``KEYS[1]`` is the breaker's hash, ``KEYS[2]`` the sorted set of probe leases
(member: the holder's token, score: when the lease expires, in the server's
milliseconds). Hash fields: ``s`` ("open", absent when closed), ``f`` consecutive
failures, ``o`` when it opened (server ms), ``h`` "1" once a probe of this open
period was admitted, ``w`` probes of this period that succeeded. A closed breaker
with no failure has no keys at all.

Every script answers ``{state, failures, wait_ms, change}``: state 0 closed, 1 open,
2 half-open; ``wait_ms`` until probes are admitted; ``change`` one of ``CHANGES``.
``ADMIT`` answers ``{decision, failures, wait_ms, change}`` instead: decision 0 admits
(closed), 1 admits a probe, 2 rejects. Time is the server's (``TIME``), so the
workers' clocks never matter.
"""

from __future__ import annotations

__all__ = ["ADMIT", "CHANGES", "FAILURE", "PEEK", "SUCCESS"]

CHANGES = {
    1: ("closed", "open"),
    2: ("half_open", "open"),
    3: ("open", "half_open"),
    4: ("half_open", "closed"),
}
"""``change`` codes: (old state, new state)."""

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# ARGV: recovery_ms
_WAIT = """
local function waiting(opened)
  local wait = tonumber(opened) + tonumber(ARGV[1]) - now
  if wait > 0 then return 1, wait end
  return 2, 0
end
"""

ADMIT = (
    _NOW
    + _WAIT
    + """
-- ARGV: recovery_ms, max_probes, lease_ms, token
local s = redis.call('HMGET', KEYS[1], 's', 'f', 'o', 'h', 'w')
local failures = tonumber(s[2]) or 0
if s[1] ~= 'open' then return {0, failures, 0, 0} end
local state, wait = waiting(s[3])
if state == 1 then return {2, failures, wait, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) + (tonumber(s[5]) or 0) >= tonumber(ARGV[2]) then
  return {2, failures, 0, 0}
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[4])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]))
if s[4] == '1' then return {1, failures, 0, 0} end
redis.call('HSET', KEYS[1], 'h', '1')
return {1, failures, 0, 3}
"""
)

# After a call: a probe's outcome (its lease still held) is the script's
# ``probe_ended``, a call of a closed breaker its ``closed_call``; a call that was no
# probe of an open breaker changes nothing. ARGV[3]: the call's probe token ('' if none).
_OUTCOME = """
local s = redis.call('HMGET', KEYS[1], 's', 'f', 'o')
local failures = tonumber(s[2]) or 0
if s[1] == 'open' then
  if ARGV[3] ~= '' and redis.call('ZREM', KEYS[2], ARGV[3]) == 1 then
    return probe_ended(failures)
  end
  local state, wait = waiting(s[3])
  return {state, failures, wait, 0}
end
return closed_call(failures)
"""


def _after_call(functions: str) -> str:
    """The script of a call's outcome: its ``probe_ended`` and ``closed_call`` (Lua
    ``functions``), then ``_OUTCOME``, which picks one."""
    return _NOW + _WAIT + functions + _OUTCOME


FAILURE = _after_call(
    """
-- ARGV: recovery_ms, threshold, token ('' when the call was not a probe)
local function probe_ended(failures)
  failures = failures + 1
  redis.call('HSET', KEYS[1], 'f', failures, 'o', now, 'h', '0', 'w', 0)
  redis.call('DEL', KEYS[2])
  return {1, failures, tonumber(ARGV[1]), 2}
end
local function closed_call(failures)
  failures = redis.call('HINCRBY', KEYS[1], 'f', 1)
  if failures < tonumber(ARGV[2]) then return {0, failures, 0, 0} end
  redis.call('HSET', KEYS[1], 's', 'open', 'o', now, 'h', '0', 'w', 0)
  redis.call('DEL', KEYS[2])
  return {1, failures, tonumber(ARGV[1]), 1}
end
"""
)

SUCCESS = _after_call(
    """
-- ARGV: recovery_ms, max_probes, token ('' when the call was not a probe)
local function probe_ended(failures)
  if redis.call('HINCRBY', KEYS[1], 'w', 1) >= tonumber(ARGV[2]) then
    redis.call('DEL', KEYS[1], KEYS[2])
    return {0, 0, 0, 4}
  end
  return {2, failures, 0, 0}
end
local function closed_call(failures)
  if failures > 0 then redis.call('DEL', KEYS[1]) end
  return {0, 0, 0, 0}
end
"""
)

PEEK = (
    _NOW
    + _WAIT
    + """
-- ARGV: recovery_ms. Answers {state, failures, wait_ms, opened_at_ms, live probes}.
local s = redis.call('HMGET', KEYS[1], 's', 'f', 'o')
local failures = tonumber(s[2]) or 0
if s[1] ~= 'open' then return {0, failures, 0, 0, 0} end
local state, wait = waiting(s[3])
return {state, failures, wait, tonumber(s[3]), redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')}
"""
)
