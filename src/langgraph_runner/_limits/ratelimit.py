"""``RateLimit``: requests and tokens per second or minute, shared by key.

Every ``RateLimit`` naming the same ``key`` in the same store shares one
limiter: across nodes and threads of a process with the default in-process
store, across processes with a ``RedisLimitStore``. A call reserves its slot in
one step (GCRA, see ``gcra``) and then waits for it, outside any lock, bounded by
``max_wait`` and the node's deadline and ended by its abort signal or task
cancellation; or, with ``on_limit="fail"``, is refused at once with a
``RateLimitedError`` carrying ``retry_after``.

Tokens are known only after a call: a call reserves the key's recent mean when
it starts (``acquire_slot(reserve=True)``) and ``settle`` takes the difference
after it, so callers waiting on a debt start one estimate apart.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from typing_extensions import TypedDict, Unpack

from langgraph_runner._internal.checks import check_choice, check_positive, check_text
from langgraph_runner._internal.durations import seconds
from langgraph_runner._limits import gcra, stats
from langgraph_runner._limits.gcra import Decision, Rates
from langgraph_runner._limits.stores import LimitStore, default_store
from langgraph_runner._limits.tokens import MAX_TOKENS as _MAX_TOKENS
from langgraph_runner._policies.abort import AbortSignal
from langgraph_runner._records.classify import http_status, retry_after_seconds
from langgraph_runner._records.exceptions import (
    LimitStoreUnavailableError,
    NodeAbortedError,
    RateLimitedError,
)
from langgraph_runner._records.logs import EventLogger, get_event_logger

__all__ = ["MAX_HOLD", "MAX_TOKENS", "RateLimit", "token_count"]

_INF = math.inf
MAX_HOLD = 86_400.0
"""The longest ``max_hold`` may be (one day)."""
MAX_TOKENS = float(_MAX_TOKENS)
"""Most tokens one call is counted for (a larger count is clamped to it)."""


def token_count(value: object) -> float | None:
    """A token count as a number in ``[0, MAX_TOKENS]`` (a larger one clamped); None when
    it is not one: not a number, NaN or infinite (a count of ``inf`` would hold the key
    forever)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        count = float(value)
    except OverflowError:  # an int past float's range: a count, just a huge one
        return MAX_TOKENS if value > 0 else 0.0
    if not math.isfinite(count):
        return None
    return min(max(count, 0.0), MAX_TOKENS)


def _per_second(limit: RateLimit, what: str) -> float | None:
    second = check_positive(getattr(limit, f"{what}_per_second"), f"{what}_per_second", "RateLimit")
    minute = check_positive(getattr(limit, f"{what}_per_minute"), f"{what}_per_minute", "RateLimit")
    if second is not None and minute is not None:
        raise ValueError(f"RateLimit: give {what}_per_second or {what}_per_minute, not both")
    return second if minute is None else minute / 60.0


@dataclass(frozen=True, kw_only=True)
class RateLimit:
    """A rate limit in requests and/or tokens per second or minute, shared by ``key``.

    Args:
        key: The limiter's name: every node, thread and (with a shared store)
            process that names it shares one limit, e.g. ``"openai"``.
        requests_per_second: Calls admitted per second (or ``requests_per_minute``).
        requests_per_minute: Calls admitted per minute.
        tokens_per_second: Tokens per second (or ``tokens_per_minute``): a call
            starts when the token bucket holds at least one token; the tokens it
            used are taken after it (LangChain's ``usage_metadata``, or
            ``count_tokens``), so the bucket may go into debt and later calls wait.
        tokens_per_minute: Tokens per minute.
        burst: Calls that may start at once after a quiet period (default: one
            second's worth, at least 1). In any window of ``t`` seconds at most
            ``rate * t + burst`` calls start.
        token_burst: The token bucket's size (default: one second's worth, at least 1).
        on_limit: ``"wait"`` (default) for a slot, bounded by ``max_wait`` and the
            node's deadline; ``"fail"`` raises ``RateLimitedError`` at once.
        max_wait: Longest wait for a slot, seconds or a timedelta (default: no
            bound but the node's deadline); a longer wait raises ``RateLimitedError``
            without waiting.
        store: Where the state lives: None for this process
            (``InProcessLimitStore``), a ``RedisLimitStore`` to share it between
            processes.
        count_tokens: ``hook(result) -> tokens or None`` for other units: called
            with the node's return value (or the model's response in
            ``RunnerMiddleware``) instead of reading LangChain's usage.
        hold_on_429: Whether a failure with HTTP 429 or a Retry-After hint holds
            every caller of the key off until it passes (default True).
        max_hold: Longest hold, seconds or a timedelta (default 300 s, at most one
            day): a longer Retry-After (``999999999``) holds callers this long.

    Raises:
        TypeError: A value of the wrong type (the message names the field).
        ValueError: A value out of range, no rate at all, or both a per-second and
            a per-minute rate of the same unit.
    """

    key: str
    requests_per_second: float | None = None
    requests_per_minute: float | None = None
    tokens_per_second: float | None = None
    tokens_per_minute: float | None = None
    burst: float | None = None
    token_burst: float | None = None
    on_limit: Literal["wait", "fail"] = "wait"
    max_wait: float | timedelta | None = None
    store: LimitStore | None = None
    count_tokens: Callable[[Any], float | None] | None = None
    hold_on_429: bool = True
    max_hold: float | timedelta = 300.0
    rates: Rates = field(init=False, repr=False, compare=False)
    """The rates as the stores use them (derived)."""
    _hold: float = field(init=False, repr=False, compare=False)
    _wait: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_text(self.key, "key", "RateLimit")
        requests = _per_second(self, "requests")
        tokens = _per_second(self, "tokens")
        if requests is None and tokens is None:
            raise ValueError("RateLimit: give a requests_* or tokens_* rate (or both)")
        check_choice(self.on_limit, "on_limit", "RateLimit", ("wait", "fail"))
        burst = _burst("burst", self.burst, requests)
        token_burst = _burst("token_burst", self.token_burst, tokens)
        if self.max_wait is not None:
            wait = seconds(self.max_wait, "max_wait", owner="RateLimit", zero=True)
            object.__setattr__(self, "max_wait", wait)
        object.__setattr__(self, "_wait", _INF if self.max_wait is None else wait)
        if self.store is not None and not isinstance(self.store, LimitStore):
            raise TypeError(
                "RateLimit: store must be a RedisLimitStore or InProcessLimitStore, "
                f"got {type(self.store).__name__}"
            )
        if self.count_tokens is not None and not callable(self.count_tokens):
            raise TypeError("RateLimit: count_tokens must be callable")
        if not isinstance(self.hold_on_429, bool):
            raise TypeError("RateLimit: hold_on_429 must be a bool")
        max_hold = seconds(self.max_hold, "max_hold", owner="RateLimit")
        if max_hold > MAX_HOLD:
            raise ValueError(
                f"RateLimit: max_hold must be at most {MAX_HOLD:g} s, got {max_hold!r}"
            )
        object.__setattr__(self, "max_hold", max_hold)
        object.__setattr__(self, "_hold", max_hold)
        r_int = 0.0 if requests is None else 1.0 / requests
        t_int = 0.0 if tokens is None else 1.0 / tokens
        object.__setattr__(self, "rates", Rates(r_int, burst * r_int, t_int, token_burst * t_int))

    # ------------------------------------------------------------------ state

    @property
    def limits_tokens(self) -> bool:
        """Whether the limit has a token rate."""
        return self.rates.tok_interval > 0

    def _store(self) -> LimitStore:
        return self.store if self.store is not None else default_store()

    def wait_time(self) -> float:
        """Seconds a call would wait for a slot now (0 when one is free)."""
        return self._store().peek(self.key, self.rates)

    def spend(self, tokens: float, reserved: float = 0.0) -> None:
        """Take ``tokens`` a call used from the token bucket, less the ``reserved`` estimate
        its slot took (no-op without a token rate). A count that is not a number is
        ignored and one past ``MAX_TOKENS`` clamped, so a bad count never blocks the key."""
        if not self.limits_tokens:
            return
        count = token_count(tokens)
        if count is None:
            get_event_logger().emit(
                logging.WARNING, "ratelimit.bad_token_count", limit=self.key,
                value_type=type(tokens).__name__,
            )  # fmt: skip
            count = 0.0
        if count > 0 or reserved > 0:
            self._store().settle(self.key, self.rates, count, float(reserved))

    def hold(self, seconds: float) -> None:
        """Hold every caller of this key off for ``seconds`` (e.g. a provider's
        Retry-After), at most ``max_hold``; a value that is not a number is ignored."""
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds > 0:
            held = self._hold if seconds >= self._hold else float(seconds)
            self._store().block(self.key, held)

    def hold_for(self, exc: BaseException) -> float | None:
        """Hold callers off as a failure asks: its Retry-After (at most ``max_hold``), else
        1 s for a bare HTTP 429.

        Returns:
            The seconds held, or None when the failure asks nothing (or ``hold_on_429``
            is off).
        """
        if not self.hold_on_429:
            return None
        hint = retry_after_seconds(exc)
        if hint is None and http_status(exc) == 429:
            hint = 1.0
        if hint is None or not hint > 0:  # None, NaN or <= 0
            return None
        held = min(float(hint), self._hold)
        self.hold(held)
        return held

    def reset(self) -> None:
        """Forget the limiter's state (every process, with a shared store)."""
        self._store().reset(self.key)

    # ------------------------------------------------------------------ acquiring

    def _decide(
        self, cost: float, deadline: float | None, node: str | None, reserve: bool
    ) -> Decision:
        if self.on_limit == "fail":
            budget = 0.0
        else:
            budget = self._wait
            if deadline is not None:
                budget = min(budget, deadline - time.monotonic())
        reserve = reserve and self.limits_tokens
        decision = self._store().acquire(self.key, self.rates, cost, max(0.0, budget), reserve)
        if not decision.granted:
            stats.count_rejection(self.key, node or "")
            if decision.reason == gcra.UNREACHABLE:
                raise LimitStoreUnavailableError(self.key, decision.wait, node=node)
            raise RateLimitedError(self.key, decision.wait, node=node, reason=decision.reason)
        return decision

    def _waiting(
        self,
        wait: float,
        node: str | None,
        log: EventLogger | None,
        reason: str,
        fields: Callable[[], dict[str, Any]] | None,
    ) -> None:
        stats.count_wait(self.key, node or "", wait)
        events = log if log is not None else get_event_logger()
        if not events.emits(logging.INFO):
            return
        events.emit(
            logging.INFO,
            "node.rate_limited",
            node=node,
            limit=self.key,
            wait=round(wait, 3),
            reason=reason,
            **(fields() if fields is not None else {}),
        )

    def acquire(self, **request: Unpack[SlotRequest]) -> float:
        """Wait for a slot (sync). Returns the seconds waited.

        See ``acquire_slot`` for the keyword arguments; it also reserves the call's
        estimated tokens (``reserve=True``).
        """
        return self.acquire_slot(**request).wait

    async def aacquire(self, **request: Unpack[SlotRequest]) -> float:
        """Wait for a slot without blocking the event loop (see ``acquire``).

        Cancelling the task ends the wait (the reserved slot goes unused).
        """
        return (await self.aacquire_slot(**request)).wait

    def acquire_slot(self, **request: Unpack[SlotRequest]) -> Decision:
        """Wait for a slot (sync); what was reserved (``.wait`` seconds, ``.tokens``).

        Args:
            **request: ``cost`` (requests the call counts for, default 1), ``node``
                (the node's name, for the error, the log event and metrics),
                ``deadline`` (``time.monotonic()`` value the wait must end before),
                ``signal`` (an abort signal that ends the wait: ``NodeAbortedError``),
                ``log`` (where ``node.rate_limited`` goes; the package's logger by
                default), ``fields`` (returns more fields for the log event, such as
                trace ids; called only when the event is logged) and ``reserve`` (also
                reserve the key's recent mean tokens per call, at most the token burst;
                hand ``.tokens`` to ``spend`` after the call).

        Raises:
            RateLimitedError: ``on_limit="fail"`` and no slot now, or the wait
                would pass ``max_wait`` or the deadline.
            LimitStoreUnavailableError: The shared store is unreachable and fails closed.
            NodeAbortedError: ``signal`` fired while waiting.
        """
        decision, signal, node = self._ask(request)
        if decision.wait > 0 and self._store().sleep(decision.wait, signal):
            raise _aborted(signal, node)
        return decision

    async def aacquire_slot(self, **request: Unpack[SlotRequest]) -> Decision:
        """The async ``acquire_slot``: waits without blocking the event loop."""
        decision, signal, node = self._ask(request)
        if decision.wait > 0 and await self._store().asleep(decision.wait, signal):
            raise _aborted(signal, node)
        return decision

    def _ask(self, request: SlotRequest) -> tuple[Decision, AbortSignal | None, str | None]:
        """The store's decision for ``request``, the wait announced when there is one."""
        node = request.get("node")
        decision = self._decide(
            request.get("cost", 1.0), request.get("deadline"), node, request.get("reserve", False)
        )
        if decision.wait > 0:
            self._waiting(
                decision.wait, node, request.get("log"), decision.reason, request.get("fields")
            )
        return decision, request.get("signal"), node


class SlotRequest(TypedDict, total=False):
    """The keyword arguments of ``RateLimit.acquire``/``acquire_slot`` and their async forms."""

    cost: float
    node: str | None
    deadline: float | None
    signal: AbortSignal | None
    log: EventLogger | None
    fields: Callable[[], dict[str, Any]] | None
    reserve: bool


def _burst(name: str, value: object, rate: float | None) -> float:
    if value is None:
        return max(1.0, rate or 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"RateLimit: {name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"RateLimit: {name} must be finite and >= 1, got {value!r}")
    return float(value)


def _aborted(signal: AbortSignal | None, node: str | None) -> NodeAbortedError:
    reason = signal.reason if signal is not None else None
    err = NodeAbortedError(node or "?", reason)
    if isinstance(reason, BaseException):
        err.__cause__ = reason
    return err
