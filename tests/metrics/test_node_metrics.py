"""create_node reporting to a NodeMetricsCollector: from the run config or the factory."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.cache.memory import InMemoryCache
from langgraph.graph import START, StateGraph

from langgraph_runner import CircuitBreakerConfig, GraphState, NodeCache, create_node
from langgraph_runner.metrics import METRICS_COLLECTOR_KEY, NodeMetricsCollector
from tests.conftest import MODES, as_mode, run_graph

pytestmark = pytest.mark.usefixtures("instant")


class S(GraphState, total=False):
    x: int


def _graph(node: Any) -> Any:
    g = StateGraph(S)
    g.add_node("n", node)
    g.add_edge(START, "n")
    return g.compile()


@pytest.mark.parametrize("mode", MODES)
async def test_success_retry_and_failure_are_counted(mode: str) -> None:
    """One success or failure per node call, one retry per retry, categories from the error."""
    calls = {"n": 0}

    def flaky(state: S) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] in (1, 3, 4):
            raise TimeoutError("slow")
        return {"x": 1}

    collector = NodeMetricsCollector()
    graph = _graph(create_node(as_mode(mode, flaky), retry=2))
    cfg = {"configurable": {METRICS_COLLECTOR_KEY: collector}}
    await run_graph(graph, mode, {}, cfg)  # fails once, then succeeds
    await run_graph(graph, mode, {}, cfg)  # fails twice: recorded failure
    m = collector.get_node_metrics("n")
    assert (m.total_executions, m.success_count, m.failure_count) == (2, 1, 1)
    assert m.retry_count == 2
    assert m.timeout_errors == 1
    assert m.sample_count == 2


@pytest.mark.parametrize("mode", MODES)
async def test_factory_collector_and_cache_hits(mode: str) -> None:
    """create_node(metrics=...) is used when the config has none; cache hits are counted."""
    collector = NodeMetricsCollector()
    node = create_node(
        as_mode(mode, lambda s: {"x": 2}),
        metrics=collector,
        cache=NodeCache(inputs=["x"], backend=InMemoryCache()),
    )
    graph = _graph(node)
    await run_graph(graph, mode, {"x": 1})
    await run_graph(graph, mode, {"x": 1})
    m = collector.get_node_metrics("n")
    assert (m.success_count, m.cache_hits) == (1, 1)


@pytest.mark.parametrize("mode", MODES)
async def test_broken_collector_never_fails_a_node(mode: str) -> None:
    """A collector that raises does not break the node."""

    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("metrics backend down")

    graph = _graph(create_node(as_mode(mode, lambda s: {"x": 3})))
    out = await run_graph(graph, mode, {}, {"configurable": {METRICS_COLLECTOR_KEY: Broken()}})
    assert out["x"] == 3


@pytest.mark.parametrize("mode", MODES)
async def test_a_rejected_call_counts_as_a_circuit_rejection(mode: str) -> None:
    """A failure counts in its category; a call an open breaker rejects, as a rejection."""

    def down(state: S) -> dict[str, Any]:
        raise ConnectionError("down")

    collector = NodeMetricsCollector()
    node = create_node(
        as_mode(mode, down),
        retry=None,
        circuit_breaker=CircuitBreakerConfig(failure_threshold=1, recovery_timeout=60.0),
    )
    graph = _graph(node)
    cfg = {"configurable": {METRICS_COLLECTOR_KEY: collector}}
    first = await run_graph(graph, mode, {}, cfg)  # fails: the breaker opens
    second = await run_graph(graph, mode, {}, cfg)  # rejected without running
    assert [r["code"] for r in first["errors"] + second["errors"]] == [
        "RETRY_EXHAUSTED",
        "CIRCUIT_OPEN",
    ]
    m = collector.get_node_metrics("n")
    assert (m.failure_count, m.network_errors, m.circuit_rejections) == (2, 1, 1)
    assert m.sample_count == 1  # a rejected call never ran: no duration
