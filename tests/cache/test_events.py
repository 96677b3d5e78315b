"""node.cache_hit / node.cache_miss: logged with the key hash, the run's ids, and counted."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import pytest
from langgraph.cache.memory import InMemoryCache
from langgraph.graph import START, StateGraph
from structlog.testing import CapturingLogger

from langgraph_runner import NodeCache, create_node
from langgraph_runner.metrics import METRICS_COLLECTOR_KEY, NodeMetricsCollector


class S(TypedDict, total=False):
    x: int
    y: int


def _graph(is_async: bool, cap: CapturingLogger) -> Any:
    cache = NodeCache(inputs=["x"], backend=InMemoryCache(), version="1")
    if is_async:

        async def double(state: S) -> S:
            return {"y": state["x"] * 2}

        node = create_node(double, cache=cache, logger=cap)
    else:

        def double_sync(state: S) -> S:
            return {"y": state["x"] * 2}

        node = create_node(double_sync, cache=cache, logger=cap)
    g = StateGraph(S)
    g.add_node("double", node)
    g.add_edge(START, "double")
    return g.compile()


@pytest.mark.parametrize("is_async", [False, True])
def test_miss_then_hit_carry_the_same_key_hash(is_async: bool) -> None:
    """A miss, then a hit on equal inputs, then a miss on new inputs: hashes tell them apart."""
    cap = CapturingLogger()
    graph = _graph(is_async, cap)
    collector = NodeMetricsCollector()
    config: Any = {"configurable": {METRICS_COLLECTOR_KEY: collector}}
    for x in (1, 1, 2):
        out = (
            asyncio.run(graph.ainvoke({"x": x}, config))
            if is_async
            else graph.invoke({"x": x}, config)
        )
        assert out["y"] == 2 * x
    cache_events = [(c.args[0], c.kwargs) for c in cap.calls if c.args[0].startswith("node.cache_")]
    names = [name for name, _ in cache_events]
    assert names == ["node.cache_miss", "node.cache_hit", "node.cache_miss"]
    hashes = [fields["key_hash"] for _, fields in cache_events]
    assert hashes[0] == hashes[1] != hashes[2]
    assert all(len(h) == 64 for h in hashes)
    assert all(fields["node"] == "double_sync" or fields["node"] == "double" for _, fields in
               cache_events)  # fmt: skip
    assert all(fields["trace_id"] for _, fields in cache_events)
    assert collector.get_node_metrics(cache_events[0][1]["node"]).cache_hits == 1
