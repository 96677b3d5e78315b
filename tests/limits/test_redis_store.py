"""Tests for _limits.redis_store against the real Redis of tests/services.py.

``test_four_processes_share_one_limit`` is the measured multi-process test (about
12 s): four worker processes hit one Redis-shared limit for 10 s and the starts
they made are counted.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langgraph_runner import GraphState, create_node
from langgraph_runner._limits.budget import Budget, BudgetStatus
from langgraph_runner._limits.ratelimit import RateLimit
from langgraph_runner._limits.redis_store import RedisLimitStore
from langgraph_runner._records.exceptions import (
    BudgetExceededError,
    LimitStoreUnavailableError,
    RateLimitedError,
)
from tests import services
from tests.limits_fakes import admitted_calls

SPAWN = multiprocessing.get_context("forkserver")
SPAWN.set_forkserver_preload([__name__])
DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def url() -> str:
    return services.redis_url()


@pytest.fixture
def prefix(url: str) -> Iterator[str]:
    """A unique key prefix; every key under it is deleted afterwards."""
    with services.redis_prefix(url, "limit") as prefix:
        yield prefix


def test_two_workers_share_one_limit(url: str, prefix: str) -> None:
    """Two stores (two workers' clients) on one prefix share the slots of a key."""
    one = RedisLimitStore(url, prefix=prefix)
    two = RedisLimitStore(url, prefix=prefix)
    a = RateLimit(key="api", requests_per_second=1, burst=2, on_limit="fail", store=one)
    b = RateLimit(key="api", requests_per_second=1, burst=2, on_limit="fail", store=two)
    a.acquire()
    b.acquire()
    with pytest.raises(RateLimitedError) as info:
        a.acquire()
    assert 0 < info.value.retry_after <= 1.0


def test_a_hold_from_one_worker_holds_every_worker(url: str, prefix: str) -> None:
    """A 429's Retry-After seen by one worker makes every worker of the key wait."""
    one = RedisLimitStore(url, prefix=prefix)
    two = RedisLimitStore(url, prefix=prefix)
    a = RateLimit(key="llm", requests_per_second=100, store=one)
    b = RateLimit(key="llm", requests_per_second=100, store=two, on_limit="fail")

    class TooMany(Exception):
        status_code = 429
        retry_after = 30

    assert a.hold_for(TooMany()) == 30
    with pytest.raises(RateLimitedError) as info:
        b.acquire()
    assert info.value.reason == "blocked"
    assert 29 < info.value.retry_after <= 30


def test_token_spend_is_shared(url: str, prefix: str) -> None:
    """Tokens one worker spends delay every worker's next call."""
    one = RedisLimitStore(url, prefix=prefix)
    two = RedisLimitStore(url, prefix=prefix)
    a = RateLimit(key="tpm", tokens_per_minute=6000, token_burst=100, store=one)
    b = RateLimit(key="tpm", tokens_per_minute=6000, token_burst=100, store=two)
    a.acquire()
    a.spend(1000)
    assert 8.5 < b.wait_time() <= 9.01


def test_budgets_in_redis_are_shared(url: str, prefix: str) -> None:
    """Spend added by one worker is seen by another; a spent budget stops both."""
    one = RedisLimitStore(url, prefix=prefix)
    two = RedisLimitStore(url, prefix=prefix)
    b1 = Budget(name="shared", per="tenant", tokens=100, store=one)
    b2 = Budget(name="shared", per="tenant", tokens=100, store=two)
    b1.spend("acme", tokens=60)
    assert b2.check("acme").remaining["tokens"] == 40
    b2.spend("acme", tokens=50)
    with pytest.raises(BudgetExceededError):
        b1.check("acme")


def test_a_node_limited_through_redis_records_a_refusal(url: str, prefix: str) -> None:
    """create_node with a Redis-shared limit fails with RATE_LIMITED when no slot is free."""
    store = RedisLimitStore(url, prefix=prefix)
    limit = RateLimit(key="node", requests_per_second=0.5, on_limit="fail", store=store)
    node = create_node(lambda s: {}, name="n", rate_limit=limit)

    def call() -> Any:
        return node({})

    assert call() == {}
    assert call()["errors"][0]["code"] == "RATE_LIMITED"


def test_redis_down_fails_open_by_default(caplog: pytest.LogCaptureFixture) -> None:
    """With Redis unreachable and on_unavailable='open', calls go ahead and it is logged once."""
    store = RedisLimitStore(DOWN, reconnect_interval=60)
    limit = RateLimit(key="x", requests_per_second=0.001, on_limit="fail", store=store)
    budget = Budget(tokens=1, store=store)
    with caplog.at_level(logging.WARNING, logger="langgraph_runner"):
        for _ in range(5):
            limit.acquire()
        budget.spend("run", tokens=100)
        assert budget.check("run").exhausted is False
    assert store.unreachable
    assert sum("ratelimit.store_unreachable" in r.getMessage() for r in caplog.records) == 1


def test_redis_down_fails_closed_when_asked() -> None:
    """With on_unavailable='closed', limits and budgets refuse every call as the store being
    unavailable, never as a spent budget."""
    store = RedisLimitStore(DOWN, on_unavailable="closed", reconnect_interval=2)
    limit = RateLimit(key="x", requests_per_second=100, store=store)
    with pytest.raises(LimitStoreUnavailableError) as info:
        limit.acquire()
    assert isinstance(info.value, RateLimitedError)  # still a refusal callers may catch so
    assert info.value.reason == "store unreachable"
    assert info.value.retry_after == 2
    budget = Budget(tokens=10, store=store)
    steps: list[Callable[[], BudgetStatus]] = [
        lambda: budget.check("run"),
        lambda: budget.reserve("run"),
    ]
    for step in steps:
        with pytest.raises(LimitStoreUnavailableError) as down:
            step()
        assert not isinstance(down.value, BudgetExceededError)
        assert down.value.kind == "budget"
        assert down.value.limit == "budget"


def test_redis_down_closed_records_the_refusal_on_a_node() -> None:
    """A node behind a closed, unreachable store fails with a LIMIT_STORE_UNAVAILABLE record,
    whether a rate limit or a budget asked the store (never BUDGET_EXHAUSTED)."""
    store = RedisLimitStore(DOWN, on_unavailable="closed")

    def work(state: GraphState) -> dict[str, Any]:
        return {}

    node = create_node(work, rate_limit=RateLimit(key="x", requests_per_second=5, store=store))
    assert node({})["errors"][0]["code"] == "LIMIT_STORE_UNAVAILABLE"
    budgeted = create_node(work, budget=Budget(calls=5, store=store))
    out = budgeted({}, {"configurable": {"thread_id": "t"}, "run_id": uuid.uuid4()})
    assert out["errors"][0]["code"] == "LIMIT_STORE_UNAVAILABLE"
    assert "budget_exhausted" not in out["routing_flags"]


def test_bad_store_config_is_refused() -> None:
    """RedisLimitStore validates its options naming them."""
    with pytest.raises(ValueError, match="on_unavailable"):
        RedisLimitStore(DOWN, on_unavailable="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prefix"):
        RedisLimitStore(DOWN, prefix="")
    with pytest.raises(TypeError, match="client"):
        RedisLimitStore(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- many processes

RATE = 20  # per second, shared by every worker
BURST = 5
SECONDS = 4.0  # 4 separate limits would start 4x the ceiling in any window


def _worker(url: str, prefix: str, ready: Any, go: Any, window: Any, out: Any) -> None:
    store = RedisLimitStore(url, prefix=prefix, timeout=2.0)
    limit = RateLimit(key="shared", requests_per_second=RATE, burst=BURST, store=store)
    ready.put(True)
    go.wait()
    start, end = window[:]
    while time.time() < start:
        time.sleep(min(0.05, max(0.0, start - time.time())))
    starts = []
    while True:
        limit.acquire()
        now = time.time()
        if now >= end:
            break
        starts.append(now)
    out.put(starts)


def run_workers(url: str, prefix: str, workers: int, seconds: float) -> list[float]:
    """Start ``workers`` processes on one limit for ``seconds``; every start they made.

    The window opens once every worker is up (however long a busy machine takes to start
    them), the same window for all.
    """
    ready, out, go = SPAWN.Queue(), SPAWN.Queue(), SPAWN.Event()
    window = SPAWN.Array("d", 2)
    procs = [
        SPAWN.Process(target=_worker, args=(url, prefix, ready, go, window, out))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    start = time.time() + 0.1
    window[:] = [start, start + seconds]
    go.set()
    starts: list[float] = []
    for _ in procs:
        starts.extend(out.get(timeout=seconds + 30))
    for p in procs:
        p.join(timeout=10)
    return sorted(starts)


@pytest.mark.slow
def test_four_processes_share_one_limit(url: str, prefix: str) -> None:
    """MEASURED (~6 s): 4 processes sharing a Redis limit of N/s start at most N*4 + burst
    calls in 4 s, and not far below it."""
    starts = run_workers(url, prefix, 4, SECONDS)
    assert len(starts) <= RATE * SECONDS + BURST
    # The limit is used, not starved: more than one second's worth of calls started. (How
    # close to the ceiling the workers get depends on how busy the machine is, so that
    # figure belongs to benchmarks/, not to a test.)
    assert len(starts) > RATE + BURST
    for i, first in enumerate(starts):  # and in every 1 s window too
        inside = sum(1 for s in starts[i : i + RATE + BURST + 5] if s - first < 1.0)
        assert inside <= RATE + BURST + 3  # a busy machine may read a start late


def test_a_token_check_takes_no_request_slot(url: str, prefix: str) -> None:
    """acquire(cost=0) (the check before each model call) ignores reserved request slots."""
    store = RedisLimitStore(url, prefix=prefix)
    limit = RateLimit(key="mixed", requests_per_second=1, tokens_per_second=1000, store=store,
                      on_limit="fail")  # fmt: skip
    limit.acquire()
    with pytest.raises(RateLimitedError):
        limit.acquire()
    assert limit.acquire(cost=0.0) == 0.0
    limit.spend(5000)
    with pytest.raises(RateLimitedError):
        limit.acquire(cost=0.0)


def test_an_async_graph_spends_a_tenant_budget_in_redis(url: str, prefix: str) -> None:
    """Under ainvoke, model usage inside an async node is spent on a Redis tenant budget."""
    import asyncio

    from langgraph.graph import START, StateGraph

    from tests.limits_fakes import UsageModel

    store = RedisLimitStore(url, prefix=prefix)
    budget = Budget(name="tenant", per="tenant", tokens=250, store=store)
    limit = RateLimit(key="async-redis", tokens_per_minute=600_000, store=store)
    model = UsageModel(tokens=100)

    async def agent(state: GraphState) -> dict[str, Any]:
        await model.ainvoke("hi")
        return {}

    g = StateGraph(GraphState)
    g.add_node("agent", create_node(agent, budget=budget, rate_limit=limit))
    g.add_edge(START, "agent")
    graph = g.compile()
    cfg = {"configurable": {"tenant_id": "acme"}}

    async def main() -> list[Any]:
        return [await graph.ainvoke({}, cfg) for _ in range(4)]

    outs = asyncio.run(main())
    assert [bool((o or {}).get("errors")) for o in outs] == [False, False, False, True]
    assert (
        Budget(name="tenant", per="tenant", tokens=1, store=store).status("acme").spent["tokens"]
        == 300
    )


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    calls=st.integers(min_value=1, max_value=8),
    callers=st.sampled_from([1, 4, 32]),
    mode=st.sampled_from(["threads", "asyncio"]),
)
def test_a_budget_of_n_calls_in_redis_admits_exactly_n(
    url: str, prefix: str, calls: int, callers: int, mode: str
) -> None:
    """Budget(calls=N) shared through Redis runs exactly min(N, callers) of 1, 4 or 32
    overlapping callers (threads or asyncio tasks): one Lua script checks and counts."""
    store = RedisLimitStore(url, prefix=prefix, timeout=5.0)
    budget = Budget(name="concurrent", per="thread", calls=calls, store=store)
    thread = f"t-{uuid.uuid4().hex}"
    assert admitted_calls(budget, callers, mode, thread) == min(calls, callers)
    assert budget.status(thread).spent["calls"] == min(calls, callers)


def _plant(url: str, name: str, kind: str, fields: dict[str, str]) -> None:
    client = redis.Redis.from_url(url)
    client.delete(name)
    if kind == "hash":
        client.hset(name, mapping=dict[Any, Any](fields))
    else:
        client.set(name, "garbage")
    client.close()


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("hash", {"r": "nan", "t": "nan", "b": "nan"}),
        ("hash", {"r": "inf", "t": "-inf", "b": "1e300"}),
        ("hash", {"r": "text", "t": "", "m": "1e308"}),
        ("string", {}),
    ],
)
def test_planted_limit_state_never_switches_the_limit_off(
    url: str, prefix: str, kind: str, fields: dict[str, str]
) -> None:
    """A limit's hash holding r=nan, inf, text (or a key of another type) reads as fresh:
    the limit still holds (burst 1, then refused) and nothing raises."""
    store = RedisLimitStore(url, prefix=prefix)
    limit = RateLimit(key="planted", requests_per_second=1, on_limit="fail", store=store)
    _plant(url, store.limit_key("planted"), kind, fields)
    limit.acquire()
    with pytest.raises(RateLimitedError) as info:
        limit.acquire()
    assert not isinstance(info.value, LimitStoreUnavailableError)
    assert 0 < info.value.retry_after <= 1.0
    assert not store.unreachable


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("hash", {"calls": "-1e6"}),
        ("hash", {"tokens": "nan"}),
        ("hash", {"tokens": "abc", "calls": "1"}),
        ("hash", {"cost": "inf"}),
        ("hash", {"calls": "2.5"}),
        ("string", {}),
    ],
)
@pytest.mark.parametrize("on_unavailable", ["open", "closed"])
def test_planted_budget_values_are_not_a_spend(
    url: str,
    prefix: str,
    kind: str,
    fields: dict[str, str],
    on_unavailable: Literal["open", "closed"],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """calls=-1e6, nan, text or a key of another type: Budget.check and reserve never crash
    and never take it for a small spend; the store's on_unavailable rule decides."""
    store = RedisLimitStore(url, prefix=prefix, on_unavailable=on_unavailable)
    budget = Budget(name="planted", calls=5, store=store)
    _plant(url, store.budget_key(budget.key("r")), kind, fields)
    with caplog.at_level(logging.WARNING, logger="langgraph_runner"):
        steps: list[Callable[[], BudgetStatus]] = [
            lambda: budget.check("r"),
            lambda: budget.reserve("r"),
        ]
        for step in steps:
            if on_unavailable == "closed":
                with pytest.raises(LimitStoreUnavailableError):
                    step()
            else:
                assert step().spent == {"tokens": 0.0, "cost": 0.0, "calls": 0.0}
        budget.spend("r", tokens=5)  # never raises either
    assert any("ratelimit.store_invalid" in r.getMessage() for r in caplog.records)
    assert not store.unreachable  # Redis answered: only that key is unusable


def test_token_reservation_in_redis_matches_the_in_process_store(url: str, prefix: str) -> None:
    """The Lua scripts reserve the key's mean and settle the difference like gcra (the
    store is asked directly: nothing sleeps)."""
    store = RedisLimitStore(url, prefix=prefix)
    rates = RateLimit(key="tpm", tokens_per_second=100, token_burst=100).rates
    began = time.monotonic()  # Redis's clock runs between the calls: the debt shrinks by it
    first = store.acquire("tpm", rates, 0.0, math.inf, True)
    assert (first.granted, first.tokens) == (True, 0.0)  # nothing known about the key yet
    store.settle("tpm", rates, 300.0, first.tokens)  # 200 in debt, mean 300
    slot = store.acquire("tpm", rates, 0.0, math.inf, True)
    assert slot.tokens == pytest.approx(300.0)
    assert 3.0 - (time.monotonic() - began) - 0.01 <= slot.wait <= 3.01  # the bucket full again
    waiting = store.acquire("tpm", rates, 0.0, math.inf, True)
    assert 6.0 - (time.monotonic() - began) - 0.01 <= waiting.wait <= 6.01  # after it, not with it
    store.settle("tpm", rates, 0.0, waiting.tokens)  # nothing used: it comes back
    store.settle("tpm", rates, 0.0, slot.tokens)
    debt = store.peek("tpm", rates)
    assert 2.0 - (time.monotonic() - began) - 0.01 <= debt <= 2.01  # the first call's debt
