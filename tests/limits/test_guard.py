"""Tests for _limits.guard: rate limits on create_node, node_factory and harden."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda
from langgraph.graph import START, StateGraph

from langgraph_runner import GraphState, RetryConfig, create_node, harden, node_factory
from langgraph_runner._limits import stats
from langgraph_runner._limits.ratelimit import RateLimit
from langgraph_runner._limits.stores import InProcessLimitStore
from langgraph_runner.testing import no_wait
from tests.fakes import FakeClock
from tests.limits_fakes import UsageModel


def _store(clock: FakeClock) -> InProcessLimitStore:
    return InProcessLimitStore(clock=clock, sleep=clock.sleep)


def test_fail_fast_limit_records_rate_limited_and_is_not_retried() -> None:
    """A refused call fails with a RATE_LIMITED record carrying retry_after, without retries."""
    clock = FakeClock(50.0)
    limit = RateLimit(key="g1", requests_per_second=1, on_limit="fail", store=_store(clock))
    calls: list[int] = []

    def fetch(state: GraphState) -> dict[str, Any]:
        calls.append(1)
        return {}

    node = create_node(fetch, rate_limit=limit, retry=RetryConfig(max_attempts=3))
    assert node({}) == {}
    with no_wait():
        out = node({})
    record = out["errors"][0]
    assert record["code"] == "RATE_LIMITED"
    assert record["category"] == "rate_limit"
    assert record["retry_after"] == pytest.approx(1.0)
    assert record["attempts"] == 1
    assert calls == [1]


def test_waiting_nodes_share_one_limit_by_key() -> None:
    """Two nodes naming one key wait for each other's slots; metrics count the waits."""
    stats.reset_limit_stats()
    clock = FakeClock(50.0)
    store = _store(clock)
    a = create_node(
        lambda s: {},
        name="a",
        rate_limit=RateLimit(key="shared", requests_per_second=2, store=store),
    )
    b = create_node(
        lambda s: {},
        name="b",
        rate_limit=RateLimit(key="shared", requests_per_second=2, store=store),
    )
    for node in (a, b, a, b):
        node({})
    assert clock.slept == pytest.approx([0.5, 0.5])
    series = {(s.limit, s.node): s for s in stats.limit_series()}
    assert series[("shared", "a")].waits + series[("shared", "b")].waits == 2
    assert series[("shared", "b")].wait_seconds == pytest.approx(0.5)


def test_a_429_in_one_node_holds_every_node_of_the_key_off() -> None:
    """A failure with Retry-After in one node makes the other node's next call wait for it."""
    clock = FakeClock(50.0)
    store = _store(clock)

    class TooMany(Exception):
        status_code = 429
        retry_after = 4.0

    def flaky(state: GraphState) -> dict[str, Any]:
        raise TooMany("slow down")

    limit = RateLimit(key="provider", requests_per_second=100, store=store)
    first = create_node(flaky, rate_limit=limit)
    other = create_node(lambda s: {}, name="other", rate_limit=limit)
    out = first({})
    assert out["errors"][0]["category"] == "rate_limit"
    other({})
    assert clock.slept == pytest.approx([4.0])


def test_tokens_reported_by_models_count_against_a_token_limit() -> None:
    """A tokens-per-minute limit holds for chat model calls inside a node, no user code."""
    clock = FakeClock(50.0)
    model = UsageModel(tokens=600)
    limit = RateLimit(key="tpm", tokens_per_minute=6000, token_burst=100, store=_store(clock))

    def agent(state: GraphState) -> dict[str, Any]:
        model.invoke("hi")
        return {}

    node = create_node(agent, rate_limit=limit)
    node({})
    node({})
    # 600 tokens at 100/s from a bucket of 100: 500 in debt. The node starts on one token
    # (5.01 s); its model call then reserves the key's mean (600) and waits for a full
    # bucket of 100.
    assert clock.slept == pytest.approx([5.01, 0.99])


def test_count_tokens_hook_measures_other_units() -> None:
    """count_tokens(result) spends the units a node's result reports on the limit."""
    clock = FakeClock(50.0)
    limit = RateLimit(
        key="chars", tokens_per_second=10, token_burst=10, store=_store(clock),
        count_tokens=lambda result: len(result["text"]),
    )  # fmt: skip
    node = create_node(lambda s: {"text": "x" * 30}, rate_limit=limit)
    node({})
    node({})
    # 30 units at 10/s from a bucket of 10: 20 in debt; the second call reserves the key's
    # mean (30, more than the bucket of 10) and so waits for a full bucket.
    assert clock.slept == pytest.approx([3.0])


def test_async_nodes_and_runnables_wait_too() -> None:
    """An async node and a Runnable node are limited like a sync function."""
    clock = FakeClock(50.0)
    limit = RateLimit(key="async", requests_per_second=1, store=_store(clock))

    async def anode(state: GraphState) -> dict[str, Any]:
        return {}

    node = create_node(anode, rate_limit=limit)
    runnable = create_node(RunnableLambda(lambda s: {}, name="r"), rate_limit=limit)

    async def main() -> None:
        await node({})
        await runnable.ainvoke({})
        await node({})

    asyncio.run(main())
    runnable.invoke({})
    assert clock.slept == pytest.approx([1.0, 1.0, 1.0])


def test_node_factory_and_harden_pass_the_options_on() -> None:
    """rate_limit= and budget= are ordinary create_node options for the factory and harden."""
    clock = FakeClock(50.0)
    limit = RateLimit(key="factory", requests_per_second=1, on_limit="fail", store=_store(clock))
    make = node_factory(rate_limit=limit)
    node = make(lambda s: {}, name="made")
    node({})
    assert node({})["errors"][0]["code"] == "RATE_LIMITED"

    g = StateGraph(GraphState)
    g.add_node("one", lambda s: {})
    g.add_edge(START, "one")
    harden(g, rate_limit=RateLimit(key="hardened", requests_per_second=1, on_limit="fail",
                                   store=_store(clock)))  # fmt: skip
    graph = g.compile()
    graph.invoke({})
    assert graph.invoke({})["errors"][0]["code"] == "RATE_LIMITED"


def test_create_node_refuses_a_bad_rate_limit_option() -> None:
    """rate_limit= takes a RateLimit or a list of them, nothing else."""
    with pytest.raises(TypeError, match="rate_limit"):
        create_node(lambda s: {}, rate_limit=5)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_each_model_call_inside_a_node_waits_for_tokens(mode: str) -> None:
    """A node calling a model in a loop (an agent in one node) is held to the token rate
    call by call, not only when the node starts; request slots are not taken per model call."""
    clock = FakeClock(50.0)
    model = UsageModel(tokens=600)
    limit = RateLimit(
        key=f"inner-{mode}", tokens_per_minute=6000, token_burst=100, requests_per_second=1,
        store=_store(clock),
    )  # fmt: skip

    def loop(state: GraphState) -> dict[str, Any]:
        for _ in range(3):
            model.invoke("hi")
        return {}

    async def aloop(state: GraphState) -> dict[str, Any]:
        for _ in range(3):
            await model.ainvoke("hi")
        return {}

    if mode == "sync":
        create_node(loop, rate_limit=limit)({})
    else:
        asyncio.run(create_node(aloop, rate_limit=limit)({}))
    # 600 tokens at 100/s from a bucket of 100: each later call reserves the key's mean
    # (600) and waits 6 s for a full bucket after the debt of the one before.
    assert clock.slept == pytest.approx([6.0, 6.0])
    assert model.calls == 3


def test_a_429_a_node_handles_itself_still_holds_the_key_off() -> None:
    """A model call failing with 429 inside a node holds every caller off, even when the
    node catches the error."""
    clock = FakeClock(50.0)

    class TooMany(Exception):
        status_code = 429
        retry_after = 3.0

    class Failing(UsageModel):
        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            raise TooMany("slow down")

    limit = RateLimit(key="handled-429", tokens_per_minute=60_000, store=_store(clock))

    def careful(state: GraphState) -> dict[str, Any]:
        try:
            Failing().invoke("hi")
        except TooMany:
            return {"note": "gave up"}
        return {}

    assert create_node(careful, rate_limit=limit)({}) == {"note": "gave up"}
    assert limit.wait_time() == pytest.approx(3.0)


@pytest.mark.parametrize("count", [float("inf"), float("nan"), -5, "lots"])
def test_a_count_tokens_hook_returning_garbage_never_blocks_the_key(
    count: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """count_tokens returning inf (or NaN, text) is logged and ignored: the next call does
    not wait forever."""
    clock = FakeClock(50.0)
    limit = RateLimit(
        key=f"bad-count-{count}", tokens_per_second=10, store=_store(clock),
        count_tokens=lambda result: count,
    )  # fmt: skip
    node = create_node(lambda s: {}, rate_limit=limit)
    node({})
    node({})
    assert clock.slept == []
    if count != -5:
        assert any("ratelimit.bad_token_count" in r.getMessage() for r in caplog.records)
