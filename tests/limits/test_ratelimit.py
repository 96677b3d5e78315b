"""Tests for _limits.ratelimit and the in-process store: GCRA admission, waits, refusals, holds."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langgraph_runner._limits.ratelimit import MAX_TOKENS, RateLimit
from langgraph_runner._limits.stores import InProcessLimitStore
from langgraph_runner._policies.abort import AbortController
from langgraph_runner._records.exceptions import NodeAbortedError, RateLimitedError
from tests.fakes import FakeClock
from tests.limits_fakes import token_window_overshoot


def _limit(clock: FakeClock, **kw: Any) -> RateLimit:
    store = InProcessLimitStore(clock=clock, sleep=clock.sleep)
    kw.setdefault("key", "api")
    return RateLimit(store=store, **kw)


def test_burst_then_one_call_per_interval() -> None:
    """After a quiet period `burst` calls start at once, then one per 1/rate seconds."""
    clock = FakeClock()
    limit = _limit(clock, requests_per_second=4, burst=3)
    waits = [limit.acquire() for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.25, 0.25, 0.25])


def test_per_minute_rate_is_per_second_over_sixty() -> None:
    """requests_per_minute=30 admits one call every two seconds after the burst."""
    clock = FakeClock()
    limit = _limit(clock, requests_per_minute=30)
    limit.acquire()
    assert limit.wait_time() == pytest.approx(2.0)


def test_fail_fast_raises_with_retry_after() -> None:
    """on_limit='fail' refuses a call with no free slot, telling when one will be free."""
    clock = FakeClock()
    limit = _limit(clock, requests_per_second=2, burst=1, on_limit="fail")
    limit.acquire(node="fetch")
    with pytest.raises(RateLimitedError) as info:
        limit.acquire(node="fetch")
    assert info.value.retry_after == pytest.approx(0.5)
    assert info.value.limit == "api" and info.value.node == "fetch"
    assert clock.slept == []


def test_a_refused_call_reserves_nothing() -> None:
    """A refusal leaves the limiter as it was: the next slot is still the same one."""
    clock = FakeClock()
    limit = _limit(clock, requests_per_second=1, burst=1, on_limit="fail")
    limit.acquire()
    for _ in range(5):
        with pytest.raises(RateLimitedError):
            limit.acquire()
    assert limit.wait_time() == pytest.approx(1.0)


def test_max_wait_refuses_a_longer_wait_without_waiting() -> None:
    """A wait longer than max_wait raises at once instead of sleeping."""
    clock = FakeClock()
    limit = _limit(clock, requests_per_second=1, burst=1, max_wait=timedelta(seconds=0.5))
    limit.acquire()
    with pytest.raises(RateLimitedError):
        limit.acquire()
    assert clock.slept == []


def test_deadline_bounds_the_wait() -> None:
    """A wait that would end after the call's deadline raises instead."""
    import time

    clock = FakeClock()
    limit = _limit(clock, requests_per_second=0.1, burst=1)
    limit.acquire()
    with pytest.raises(RateLimitedError):
        limit.acquire(deadline=time.monotonic() + 5)


def test_keys_share_state_across_rate_limit_objects() -> None:
    """Two RateLimits naming one key in one store share the limiter; other keys do not."""
    clock = FakeClock()
    store = InProcessLimitStore(clock=clock, sleep=clock.sleep)
    a = RateLimit(key="k", requests_per_second=1, store=store, on_limit="fail")
    b = RateLimit(key="k", requests_per_second=1, store=store, on_limit="fail")
    other = RateLimit(key="other", requests_per_second=1, store=store, on_limit="fail")
    a.acquire()
    with pytest.raises(RateLimitedError):
        b.acquire()
    other.acquire()


def test_tokens_spent_put_the_bucket_in_debt() -> None:
    """Tokens used by a call delay the next call until the bucket has a token again."""
    clock = FakeClock()
    limit = _limit(clock, tokens_per_second=100, token_burst=100)
    assert limit.acquire() == 0.0
    limit.spend(350)
    # 350 tokens from a full bucket of 100: 250 in debt, plus one token to start.
    assert limit.acquire() == pytest.approx(2.51)


def test_hold_delays_every_caller_until_it_passes() -> None:
    """hold(s) (a 429's Retry-After) makes every caller of the key wait s seconds."""
    clock = FakeClock()
    limit = _limit(clock, requests_per_second=100)
    limit.hold(3.0)
    assert limit.acquire() == pytest.approx(3.0)
    assert limit.acquire() == 0.0


def test_hold_for_reads_retry_after_and_a_bare_429() -> None:
    """A failure with Retry-After holds for it; a bare 429 for 1 s; anything else not at all."""

    class TooMany(Exception):
        status_code = 429

    class WithHint(Exception):
        retry_after = 7.5

    clock = FakeClock()
    limit = _limit(clock, requests_per_second=100)
    assert limit.hold_for(ValueError("x")) is None
    assert limit.hold_for(TooMany()) == 1.0
    assert limit.hold_for(WithHint()) == 7.5
    assert limit.wait_time() == pytest.approx(7.5)
    off = _limit(FakeClock(), requests_per_second=1, hold_on_429=False)
    assert off.hold_for(WithHint()) is None


def test_a_refusal_while_held_says_blocked() -> None:
    """A call refused during a hold names the hold as the reason."""
    clock = FakeClock()
    limit = _limit(clock, requests_per_second=100, on_limit="fail")
    limit.hold(2.0)
    with pytest.raises(RateLimitedError) as info:
        limit.acquire()
    assert info.value.reason == "blocked"


def test_wait_is_logged_as_node_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    """A call that waits logs node.rate_limited with the limit and the wait."""
    clock = FakeClock()
    limit = _limit(clock, requests_per_second=1, burst=1)
    limit.acquire(node="n")
    with caplog.at_level(logging.INFO, logger="langgraph_runner"):
        limit.acquire(node="n")
    events = [getattr(r, "langgraph_runner_fields", None) or r.getMessage() for r in caplog.records]
    assert any("node.rate_limited" in str(e) for e in events)


def test_an_aborted_signal_ends_the_wait() -> None:
    """A wait ends with NodeAbortedError when the node's abort signal has fired."""
    limit = RateLimit(key="abort-test", requests_per_second=0.01, store=InProcessLimitStore())
    limit.acquire()
    controller = AbortController()
    controller.abort("stop")
    with pytest.raises(NodeAbortedError):
        limit.acquire(node="n", signal=controller.signal)


def test_cancelling_the_task_ends_an_async_wait() -> None:
    """Cancelling the task that waits for a slot ends the wait at once."""
    limit = RateLimit(key="cancel-test", requests_per_second=0.01, store=InProcessLimitStore())

    async def main() -> None:
        await limit.aacquire()
        task = asyncio.create_task(limit.aacquire())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_async_abort_signal_ends_the_wait() -> None:
    """An abort fired while an async call waits ends it with NodeAbortedError."""
    limit = RateLimit(key="aabort-test", requests_per_second=0.01, store=InProcessLimitStore())
    controller = AbortController()

    async def main() -> None:
        await limit.aacquire()
        loop = asyncio.get_running_loop()
        loop.call_soon(controller.abort, "stop")
        await limit.aacquire(node="n", signal=controller.signal)

    with pytest.raises(NodeAbortedError):
        asyncio.run(main())


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"key": ""}, ValueError, "key"),
        ({}, ValueError, "rate"),
        ({"requests_per_second": 0}, ValueError, "requests_per_second"),
        ({"requests_per_second": True}, TypeError, "requests_per_second"),
        ({"requests_per_second": 1, "requests_per_minute": 60}, ValueError, "not both"),
        ({"requests_per_second": 1, "burst": 0.5}, ValueError, "burst"),
        ({"requests_per_second": 1, "on_limit": "drop"}, ValueError, "on_limit"),
        ({"requests_per_second": 1, "max_wait": -1}, ValueError, "max_wait"),
        ({"requests_per_second": 1, "store": object()}, TypeError, "store"),
        ({"requests_per_second": 1, "count_tokens": 3}, TypeError, "count_tokens"),
    ],
)
def test_bad_config_is_refused_naming_the_field(
    kwargs: dict[str, Any], error: type[Exception], field: str
) -> None:
    """RateLimit validates once and names the field at fault."""
    kwargs.setdefault("key", "k")
    with pytest.raises(error, match=field):
        RateLimit(**kwargs)


@settings(max_examples=150, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=50),
    burst=st.integers(min_value=1, max_value=10),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=60),
    window=st.floats(min_value=0.01, max_value=5),
)
def test_never_more_than_rate_times_t_plus_burst_start_in_any_window(
    rate: float, burst: int, gaps: list[float], window: float
) -> None:
    """In any window of length t, at most rate * t + burst calls start (fake clock)."""
    clock = FakeClock()
    limit = _limit(clock, requests_per_second=rate, burst=burst)
    starts = []
    for gap in gaps:
        clock.now += gap
        limit.acquire()
        starts.append(clock.now)
    for i, first in enumerate(starts):
        inside = sum(1 for s in starts[i:] if s - first <= window)
        assert inside <= rate * window + burst + 1e-6


def test_threads_never_get_more_than_the_burst_at_one_instant() -> None:
    """Sixteen threads racing for a frozen clock's slots get exactly `burst` of them."""
    import threading

    clock = FakeClock()
    limit = _limit(clock, requests_per_second=1, burst=5, on_limit="fail")
    admitted: list[int] = []
    barrier = threading.Barrier(16)

    def race() -> None:
        barrier.wait()
        for _ in range(10):
            try:
                limit.acquire()
            except RateLimitedError:
                continue
            admitted.append(1)

    threads = [threading.Thread(target=race) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 5


class _TooMany(Exception):
    """An HTTP 429 with a Retry-After header, as httpx and requests raise it."""

    def __init__(self, retry_after: str) -> None:
        super().__init__("429 Too Many Requests")
        self.response = type(
            "Response", (), {"status_code": 429, "headers": {"Retry-After": retry_after}}
        )()


def test_a_huge_retry_after_holds_callers_at_most_max_hold() -> None:
    """Retry-After: 999999999 (31 years) holds every caller of the key for max_hold."""
    clock = FakeClock()
    limit = _limit(clock, requests_per_second=100)
    assert limit.hold_for(_TooMany("999999999")) == 300.0
    assert limit.acquire() == pytest.approx(300.0)
    shorter = _limit(FakeClock(), requests_per_second=100, max_hold=timedelta(seconds=5))
    assert shorter.hold_for(_TooMany("999999999")) == 5.0


@pytest.mark.parametrize("seconds", [1e300, float("inf"), 10**400])
def test_hold_of_any_size_never_overflows(seconds: float) -> None:
    """hold(1e300) then acquire() waits max_hold instead of raising OverflowError."""
    clock = FakeClock()
    limit = _limit(clock, requests_per_second=100)
    limit.hold(seconds)
    assert limit.acquire() == pytest.approx(300.0)


def test_a_hold_that_is_not_a_number_is_ignored() -> None:
    """hold(nan) holds nobody."""
    clock = FakeClock()
    limit = _limit(clock, requests_per_second=100)
    limit.hold(float("nan"))
    assert limit.acquire() == 0.0


@pytest.mark.parametrize("value", [86_401, -1, float("inf")])
def test_max_hold_is_bounded_and_named(value: float) -> None:
    """max_hold is at most one day, finite and positive; the error names it."""
    with pytest.raises(ValueError, match="max_hold"):
        RateLimit(key="k", requests_per_second=1, max_hold=value)


@pytest.mark.parametrize("count", [float("inf"), float("nan"), "many", 10**400])
def test_a_token_count_that_is_not_finite_never_blocks_the_key(count: Any) -> None:
    """spend(inf) (a count_tokens hook gone wrong) is ignored; 10**400 is clamped to
    MAX_TOKENS, never an OverflowError."""
    clock = FakeClock()
    limit = _limit(clock, tokens_per_second=1000)
    limit.spend(count)
    wait = limit.wait_time()
    if count == 10**400:
        assert wait == pytest.approx(MAX_TOKENS / 1000, rel=1e-6)
    else:
        assert wait == 0.0


def test_a_token_call_reserves_the_keys_mean_and_settles_after() -> None:
    """acquire_slot(reserve=True) takes the key's recent mean tokens per call; spend(used,
    reserved) takes only the difference, so waiting callers start one estimate apart."""
    clock = FakeClock()
    limit = _limit(clock, tokens_per_second=100, token_burst=100)
    first = limit.acquire_slot(cost=0, reserve=True)
    assert first.tokens == 0.0  # nothing known about the key yet
    limit.spend(100, first.tokens)  # the bucket is empty now
    slots = [limit.acquire_slot(cost=0, reserve=True) for _ in range(3)]
    assert [s.tokens for s in slots] == [100.0, 100.0, 100.0]
    # One second apart (100 tokens at 100/s), not all at once after the debt.
    assert clock.slept == pytest.approx([1.0, 1.0, 1.0])
    for slot in slots:
        limit.spend(50, slot.tokens)  # each used less than reserved: the rest comes back
    assert limit.wait_time() == 0.0


@settings(max_examples=20, deadline=None)
@given(
    case=st.sampled_from([(1, 1.05), (4, 1.10), (32, 1.30)]),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_a_token_window_holds_with_costs_known_only_after(
    case: tuple[int, float], seed: int
) -> None:
    """60k tokens/min shared by 1, 4 or 32 callers whose costs (500-1500 tokens) are known
    only when a call ends: no 60-second window (fake clock, 10 minutes) passes 1.05x, 1.10x
    and 1.30x the limit. Without reservations 32 callers reach about 1.5x."""
    callers, bound = case
    assert token_window_overshoot(callers, seed=seed) <= bound
    if callers == 32:
        assert token_window_overshoot(callers, seed=seed, reserve=False) > 1.35
