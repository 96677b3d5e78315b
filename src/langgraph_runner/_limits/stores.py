"""Where limit and budget state lives: the ``LimitStore`` protocol and the in-process store.

A rate limit's state is keyed by the limit's ``key`` and a budget's by its name and
scope (``budget:<name>:<per>:<id>``), so every ``RateLimit`` or ``Budget`` naming the
same key shares it. The default store, ``default_store()``, is one per process:
thread-safe (one short lock, never held while waiting) and asyncio-friendly (a
decision never blocks; waiting happens outside, see ``ratelimit``). ``RedisLimitStore``
shares the same state between processes.

Budgets are reserved before a call: ``take_call`` checks the limits and counts
the call in one step (under the lock here, in one Lua script on Redis), so a
budget of N calls admits at most N whatever the concurrency. A limit's state
that is as good as fresh (buckets refilled, no hold) is forgotten when new keys
come, so keys used once do not pile up.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, runtime_checkable

from langgraph_runner._limits import gcra
from langgraph_runner._limits.gcra import Decision, Rates
from langgraph_runner._policies.abort import AbortSignal

__all__ = ["BudgetLimits", "InProcessLimitStore", "LimitStore", "Spent", "default_store", "valid"]

BudgetLimits = tuple[float | None, float | None, float | None]
"""A budget's (tokens, cost, calls) limits, None for a unit without one."""

_MAX_SLEEP = min(threading.TIMEOUT_MAX, 365 * 24 * 3600.0)


class Spent(NamedTuple):
    """What a budget has spent so far."""

    tokens: float = 0.0
    cost: float = 0.0
    calls: int = 0


def valid(tokens: Any, cost: Any, calls: Any) -> Spent | None:
    """A budget's spend as read from a store, or None when it is not a spend (negative,
    not finite, not a number): garbage is never taken for a small spend."""
    try:
        t = float(tokens or 0)
        c = float(cost or 0)
        n = float(calls or 0)
    except (TypeError, ValueError, OverflowError):
        return None
    if not (math.isfinite(t) and math.isfinite(c) and math.isfinite(n)):
        return None
    if t < 0 or c < 0 or n < 0 or n != int(n):
        return None
    return Spent(t, c, int(n))


def reached(spent: Spent, limits: BudgetLimits) -> bool:
    """Whether ``spent`` reaches any of ``limits``."""
    tokens, cost, calls = limits
    return (
        (tokens is not None and spent.tokens >= tokens)
        or (cost is not None and spent.cost >= cost)
        or (calls is not None and spent.calls >= calls)
    )


@runtime_checkable
class LimitStore(Protocol):
    """What ``RateLimit(store=...)`` and ``Budget(store=...)`` accept."""

    def acquire(
        self, key: str, rates: Rates, cost: float, max_wait: float, reserve: bool = False
    ) -> Decision:
        """Reserve a slot for a call of ``cost`` requests (and, with ``reserve``, its
        estimated tokens), or refuse it (see ``gcra.admit``)."""
        ...

    def spend(self, key: str, rates: Rates, tokens: float) -> None:
        """Take ``tokens`` from the limit's token bucket."""
        ...

    def settle(self, key: str, rates: Rates, tokens: float, reserved: float) -> None:
        """A call that reserved ``reserved`` tokens used ``tokens`` (see ``gcra.settle``)."""
        ...

    def block(self, key: str, seconds: float) -> None:
        """Hold every caller of the limit off for ``seconds`` (a 429 or Retry-After)."""
        ...

    def peek(self, key: str, rates: Rates) -> float:
        """Seconds a one-request call would wait now (0 when a slot is free)."""
        ...

    def add_spend(self, key: str, tokens: float, cost: float, calls: int, ttl: float) -> Spent:
        """Add to a budget's spend; returns the totals after it."""
        ...

    def spent(self, key: str) -> Spent | None:
        """A budget's spend so far (None: the store cannot say)."""
        ...

    def take_call(self, key: str, limits: BudgetLimits, ttl: float) -> tuple[bool, Spent] | None:
        """Count one call on a budget unless a limit is reached, in one atomic step.

        Returns:
            ``(True, totals after)``, ``(False, totals)`` when a limit is reached, or
            None when the store cannot say (unreachable, or what it holds is not a spend).
        """
        ...

    def reset(self, key: str) -> None:
        """Forget a limit's or a budget's state."""
        ...

    def sleep(self, seconds: float, signal: AbortSignal | None) -> bool:
        """Sleep; True when ``signal`` fired first."""
        ...

    async def asleep(self, seconds: float, signal: AbortSignal | None) -> bool:
        """Sleep without blocking the event loop; True when ``signal`` fired first."""
        ...


def real_sleep(seconds: float, signal: AbortSignal | None) -> bool:
    """``time.sleep``, ended at once by ``signal``."""
    seconds = min(seconds, _MAX_SLEEP)
    if signal is None:
        time.sleep(seconds)
        return False
    return signal.wait_sync(seconds) or signal.aborted


async def real_asleep(seconds: float, signal: AbortSignal | None) -> bool:
    """``asyncio.sleep``, ended at once by ``signal`` (and by cancellation, as always)."""
    seconds = min(seconds, _MAX_SLEEP)
    if signal is None:
        await asyncio.sleep(seconds)
        return False
    if signal.aborted:
        return True
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake(_reason: Any) -> None:
        def settle() -> None:
            if not woken.done():
                woken.set_result(None)

        with contextlib.suppress(RuntimeError):  # the loop is closed
            loop.call_soon_threadsafe(settle)

    unsubscribe = signal.add_listener(wake)
    try:
        await asyncio.wait({woken}, timeout=seconds)
    finally:
        unsubscribe()
        woken.cancel()
    return signal.aborted


class InProcessLimitStore:
    """Limit and budget state in this process (the default store).

    Args:
        clock: Monotonic seconds (injectable for tests).
        sleep: ``sleep(seconds, signal) -> aborted`` used while waiting for a slot
            (injectable for tests: a fake clock's sleep advances the clock).
        max_budgets: Budget entries kept; the least recently spent are forgotten
            beyond it (run-scoped budgets otherwise accumulate forever).

    Rate-limit keys whose state is as good as fresh (buckets refilled, no hold)
    are forgotten as new keys come (two checked per new key), so a process that
    sees many keys once keeps only those still limiting.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float, AbortSignal | None], bool] | None = None,
        max_budgets: int = 100_000,
    ) -> None:
        if not callable(clock):
            raise TypeError("InProcessLimitStore: clock must be callable")
        if sleep is not None and not callable(sleep):
            raise TypeError("InProcessLimitStore: sleep must be callable")
        if isinstance(max_budgets, bool) or not isinstance(max_budgets, int):
            raise TypeError(
                f"InProcessLimitStore: max_budgets must be an int, got {type(max_budgets).__name__}"
            )
        if max_budgets < 1:
            raise ValueError(f"InProcessLimitStore: max_budgets must be >= 1, got {max_budgets!r}")
        self._clock = clock
        self._sleep = sleep
        self._max_budgets = max_budgets
        self._lock = threading.Lock()
        self._limits: collections.OrderedDict[str, list[float]] = collections.OrderedDict()
        self._budgets: collections.OrderedDict[str, Spent] = collections.OrderedDict()

    def __repr__(self) -> str:
        return f"<InProcessLimitStore limits={len(self._limits)} budgets={len(self._budgets)}>"

    def _state(self, key: str, now: float) -> list[float]:
        limits = self._limits
        state = limits.get(key)
        if state is None:
            for _ in range(2):  # forget up to two idle keys per new one (oldest first)
                oldest = next(iter(limits), None)
                if oldest is None or not gcra.idle(now, limits[oldest]):
                    break
                del limits[oldest]
            state = limits[key] = gcra.fresh(now)
        else:
            limits.move_to_end(key)
        return state

    def acquire(
        self, key: str, rates: Rates, cost: float, max_wait: float, reserve: bool = False
    ) -> Decision:
        """Reserve a slot (see ``LimitStore.acquire``)."""
        with self._lock:
            now = self._clock()
            return gcra.admit(now, self._state(key, now), rates, cost, max_wait, reserve)

    def spend(self, key: str, rates: Rates, tokens: float) -> None:
        """Take tokens from the limit's token bucket."""
        self.settle(key, rates, tokens, 0.0)

    def settle(self, key: str, rates: Rates, tokens: float, reserved: float) -> None:
        """Take (or give back) the difference between used and reserved tokens."""
        with self._lock:
            now = self._clock()
            gcra.settle(now, self._state(key, now), rates, tokens, reserved)

    def block(self, key: str, seconds: float) -> None:
        """Hold every caller of the limit off for ``seconds``."""
        with self._lock:
            now = self._clock()
            state = self._state(key, now)
            state[2] = max(state[2], now + seconds)

    def peek(self, key: str, rates: Rates) -> float:
        """Seconds a one-request call would wait now."""
        with self._lock:
            now = self._clock()
            probe = list(self._state(key, now))
        return gcra.admit(now, probe, rates, 1.0, math.inf).wait

    def add_spend(self, key: str, tokens: float, cost: float, calls: int, ttl: float) -> Spent:
        """Add to a budget's spend (``ttl`` is not needed in process)."""
        with self._lock:
            old = self._budgets.pop(key, None) or Spent()
            new = self._budgets[key] = Spent(
                old.tokens + tokens, old.cost + cost, old.calls + calls
            )
            if len(self._budgets) > self._max_budgets:
                self._budgets.popitem(last=False)
        return new

    def spent(self, key: str) -> Spent:
        """A budget's spend so far."""
        return self._budgets.get(key) or Spent()

    def take_call(self, key: str, limits: BudgetLimits, ttl: float) -> tuple[bool, Spent]:
        """Count one call unless a limit is reached (under the store's lock)."""
        with self._lock:
            old = self._budgets.get(key) or Spent()
            if reached(old, limits):
                return False, old
            new = self._budgets[key] = Spent(old.tokens, old.cost, old.calls + 1)
            self._budgets.move_to_end(key)
            if len(self._budgets) > self._max_budgets:
                self._budgets.popitem(last=False)
        return True, new

    def reset(self, key: str) -> None:
        """Forget a limit's or a budget's state."""
        with self._lock:
            self._limits.pop(key, None)
            self._budgets.pop(key, None)

    def sleep(self, seconds: float, signal: AbortSignal | None) -> bool:
        """Sleep (the injected sleep, else a real one ended by ``signal``)."""
        if self._sleep is not None:
            return self._sleep(seconds, signal)
        return real_sleep(seconds, signal)

    async def asleep(self, seconds: float, signal: AbortSignal | None) -> bool:
        """Sleep without blocking the event loop (the injected sleep runs inline)."""
        if self._sleep is not None:
            return self._sleep(seconds, signal)
        return await real_asleep(seconds, signal)


_DEFAULT = InProcessLimitStore()


def default_store() -> InProcessLimitStore:
    """The process-wide store limits and budgets use unless given one."""
    return _DEFAULT
