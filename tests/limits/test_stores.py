"""Tests for _limits.stores: the in-process store forgets idle keys and reserves atomically."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from langgraph_runner._limits.ratelimit import RateLimit
from langgraph_runner._limits.stores import InProcessLimitStore
from tests.fakes import FakeClock


def test_idle_rate_limit_keys_are_forgotten() -> None:
    """100,000 keys used once each, a few milliseconds apart, leave a handful of states
    behind, not 100,000 (1e6 keys cost 245 MiB before)."""
    clock = FakeClock()
    store = InProcessLimitStore(clock=clock, sleep=clock.sleep)
    rates = RateLimit(key="user", requests_per_second=1000).rates
    for i in range(100_000):
        assert store.acquire(f"user-{i}", rates, 1.0, 0.0).granted
        clock.advance(0.002)  # each key's bucket refills within a millisecond
    assert len(store._limits) < 10


def test_a_key_still_limiting_is_kept() -> None:
    """A key that is not idle (a hold, a debt) survives any number of new keys."""
    clock = FakeClock()
    store = InProcessLimitStore(clock=clock, sleep=clock.sleep)
    held = RateLimit(key="held", requests_per_second=1000, store=store)
    held.hold(60)
    for i in range(1000):
        RateLimit(key=f"k{i}", requests_per_second=1000, store=store).acquire()
        clock.advance(0.01)
    assert "held" in store._limits
    assert held.wait_time() > 0


@settings(max_examples=10, deadline=None)
@given(calls=st.integers(min_value=1, max_value=10), callers=st.sampled_from([1, 4, 32]))
def test_take_call_counts_exactly_n_under_threads(calls: int, callers: int) -> None:
    """take_call from many threads at once: exactly N are counted, the rest refused."""
    store = InProcessLimitStore()
    barrier = threading.Barrier(callers)
    taken: list[bool] = []

    def take() -> None:
        barrier.wait(10)
        found = store.take_call("budget:b:run:r", (None, None, float(calls)), 60.0)
        taken.append(found[0])

    threads = [threading.Thread(target=take) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sum(taken) == min(calls, callers)
    assert store.spent("budget:b:run:r").calls == min(calls, callers)
