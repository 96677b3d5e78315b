"""The GCRA arithmetic of a rate limit, pure (the Lua scripts do the same on Redis).

A limit's state is four numbers: ``tat_r`` and ``tat_t``, the *theoretical arrival
times* of the request and token buckets, ``blocked``, until when a 429 or a
Retry-After told every caller to hold off, and ``mean``, the recent mean of the
tokens one call of the key used. With ``interval = 1 / rate`` and
``tau = burst * interval``, a call costing ``cost`` requests and reserving
``est`` tokens may start at

    start = max(now, blocked, tat_r + cost * interval_r - tau_r,
                tat_t + max(1, min(est, token_burst)) * interval_t - tau_t)

Admitting it reserves its slot: ``tat_r = max(tat_r, start) + cost * interval_r``
and ``tat_t = max(tat_t, start) + est * interval_t``, so a caller that must wait
sleeps until ``start`` and never asks again. A call is refused (nothing reserved)
when ``start - now`` exceeds what it may wait.

Tokens are known only after the call, when the model has said how many it used:
a call reserves an estimate when it starts (``est``: the key's recent mean) and
``settle`` takes the difference after it (the bucket may go into debt). So
callers waiting on a paid-off debt start one estimate apart, not all at once. A
call starts once the bucket holds its estimate or, for an estimate larger than
the bucket, a full bucket.

In any window of length ``t`` at most ``rate * t + burst`` requests start.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["MEAN_WEIGHT", "Decision", "Rates", "admit", "fresh", "idle", "settle", "spend"]

_EPSILON = 1e-9  # rounding of ``tat + interval - tau`` (a full bucket) is no wait
MEAN_WEIGHT = 0.3
"""Weight of the newest call in a key's mean token cost."""

RATE = "rate limit"
BLOCKED = "blocked"
UNREACHABLE = "store unreachable"


class Rates(NamedTuple):
    """A limit's rates as the stores use them (0 for a bucket the limit does not have)."""

    req_interval: float
    """Seconds per request."""
    req_tau: float
    """Burst of requests, in seconds of the request interval."""
    tok_interval: float
    """Seconds per token."""
    tok_tau: float
    """Burst of tokens, in seconds of the token interval."""


class Decision(NamedTuple):
    """What a store answers to an acquire."""

    granted: bool
    """The slot is reserved: start after ``wait`` seconds."""
    wait: float
    """Seconds until the call may start (granted) or could have started (refused)."""
    reason: str
    """What binds: ``"rate limit"``, ``"blocked"`` or ``"store unreachable"``."""
    tokens: float = 0.0
    """Tokens reserved for the call (settle the difference after it)."""


def fresh(now: float) -> list[float]:
    """The state of a key nobody used: both buckets full, no hold, no mean yet."""
    return [now, now, 0.0, 0.0]


def idle(now: float, state: list[float]) -> bool:
    """Whether ``state`` is as good as fresh at ``now`` (buckets refilled, no hold)."""
    return state[0] <= now and state[1] <= now and state[2] <= now


def admit(
    now: float,
    state: list[float],
    rates: Rates,
    cost: float,
    max_wait: float,
    reserve: bool = False,
) -> Decision:
    """Decide a call of ``cost`` requests at ``now``; ``state`` (tat_r, tat_t, blocked,
    mean) is updated in place when the call is admitted. With ``reserve``, the call
    also reserves the key's mean token cost."""
    tat_r, tat_t, blocked, mean = state
    start = now
    reason = RATE
    est = 0.0
    if rates.req_interval > 0 and cost > 0:  # cost 0: a token or hold check only
        start = max(start, tat_r + cost * rates.req_interval - rates.req_tau)
    if rates.tok_interval > 0:
        if reserve:
            est = mean
        need = max(1.0, min(est, rates.tok_tau / rates.tok_interval))
        start = max(start, tat_t + need * rates.tok_interval - rates.tok_tau)
    if blocked > start:
        start, reason = blocked, BLOCKED
    wait = start - now
    if wait > max_wait + _EPSILON:
        return Decision(False, wait, reason)
    if rates.req_interval > 0 and cost > 0:
        state[0] = max(tat_r, start) + cost * rates.req_interval
    if est > 0:
        state[1] = max(tat_t, start) + est * rates.tok_interval
    return Decision(True, max(0.0, wait), reason, est)


def spend(now: float, state: list[float], rates: Rates, tokens: float) -> None:
    """Take ``tokens`` from the token bucket (it may go into debt)."""
    settle(now, state, rates, tokens, 0.0)


def settle(now: float, state: list[float], rates: Rates, tokens: float, reserved: float) -> None:
    """A call that reserved ``reserved`` tokens used ``tokens``: take (or give back) the
    difference, and fold ``tokens`` into the key's mean (0 tokens: unknown, not folded)."""
    if rates.tok_interval <= 0:
        return
    diff = tokens - reserved
    if diff > 0:
        state[1] = max(state[1], now) + diff * rates.tok_interval
    elif diff < 0:
        state[1] += diff * rates.tok_interval
    if tokens > 0:
        mean = state[3]
        state[3] = tokens if mean <= 0 else mean + MEAN_WEIGHT * (tokens - mean)
