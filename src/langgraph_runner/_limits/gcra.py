"""The GCRA arithmetic of a rate limit, pure (the Lua scripts do the same on Redis).

A limit's state is three times: ``tat_r`` and ``tat_t``, the *theoretical arrival
times* of the request and token buckets, and ``blocked``, until when a 429 or a
Retry-After told every caller to hold off. With ``interval = 1 / rate`` and
``tau = burst * interval``, a call costing ``cost`` requests may start at

    start = max(now, blocked, tat_r + cost * interval_r - tau_r, tat_t + interval_t - tau_t)

(the token bucket must hold at least one token; tokens are spent after the call,
when the model has said how many it used, and may leave the bucket in debt).
Admitting it reserves its slot: ``tat_r = max(tat_r, start) + cost * interval_r``,
so a caller that must wait sleeps until ``start`` and never asks again. A call is
refused (nothing reserved) when ``start - now`` exceeds what it may wait.

In any window of length ``t`` at most ``rate * t + burst`` requests start.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Decision", "Rates", "admit", "spend"]

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


def admit(now: float, state: list[float], rates: Rates, cost: float, max_wait: float) -> Decision:
    """Decide a call of ``cost`` requests at ``now``; ``state`` (tat_r, tat_t, blocked) is
    updated in place when the call is admitted."""
    tat_r, tat_t, blocked = state
    start = now
    reason = RATE
    if rates.req_interval > 0 and cost > 0:  # cost 0: a token or hold check only
        start = max(start, tat_r + cost * rates.req_interval - rates.req_tau)
    if rates.tok_interval > 0:
        start = max(start, tat_t + rates.tok_interval - rates.tok_tau)
    if blocked > start:
        start, reason = blocked, BLOCKED
    wait = start - now
    if wait > max_wait:
        return Decision(False, wait, reason)
    if rates.req_interval > 0 and cost > 0:
        state[0] = max(tat_r, start) + cost * rates.req_interval
    return Decision(True, max(0.0, wait), reason)


def spend(now: float, state: list[float], rates: Rates, tokens: float) -> None:
    """Take ``tokens`` from the token bucket (it may go into debt)."""
    if rates.tok_interval > 0 and tokens > 0:
        state[1] = max(state[1], now) + tokens * rates.tok_interval
