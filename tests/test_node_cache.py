"""create_node(cache=...): hits, failures never cached, partial re-runs with early cutoff."""

from __future__ import annotations

import random
from typing import Any

import pytest
from langgraph.cache.memory import InMemoryCache
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_runner import GraphState, create_node
from langgraph_runner.cache import NodeCache
from tests.conftest import MODES, EventCapture, as_mode, run_graph

pytestmark = pytest.mark.usefixtures("instant")


class S(GraphState, total=False):
    url: str
    page: str
    other: int


@pytest.mark.parametrize("mode", MODES)
async def test_hit_returns_original_result_and_skips_fn(mode: str, events: EventCapture) -> None:
    """A second run on the same declared input is a logged hit returning the same update."""
    calls: list[str] = []

    def fetch(state: S) -> dict[str, Any]:
        calls.append(state["url"])
        return {"page": f"<html>{state['url']}</html>"}

    cache = NodeCache(inputs=["url"], backend=InMemoryCache())
    g = StateGraph(S)
    g.add_node("fetch", create_node(as_mode(mode, fetch), cache=cache, logger=events))
    g.add_edge(START, "fetch")
    graph = g.compile()
    first = await run_graph(graph, mode, {"url": "a", "other": 1})
    second = await run_graph(graph, mode, {"url": "a", "other": 2})
    third = await run_graph(graph, mode, {"url": "b", "other": 2})
    assert calls == ["a", "b"]
    assert first["page"] == second["page"] == "<html>a</html>"
    assert third["page"] == "<html>b</html>"
    assert len(events.named("node.cache_hit")) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_recorded_failures_are_never_cached(mode: str) -> None:
    """A node whose failure was recorded into state runs again next time."""
    calls: list[int] = []

    def flaky(state: S) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("down")
        return {"page": "ok"}

    g = StateGraph(S)
    g.add_node(
        "f",
        create_node(as_mode(mode, flaky), cache=NodeCache(inputs=["url"], backend=InMemoryCache())),
    )
    g.add_edge(START, "f")
    graph = g.compile()
    first = await run_graph(graph, mode, {"url": "a"})
    second = await run_graph(graph, mode, {"url": "a"})
    third = await run_graph(graph, mode, {"url": "a"})
    assert first["errors"][0]["code"] == "RETRY_EXHAUSTED"
    assert second["page"] == third["page"] == "ok"
    assert len(calls) == 2


def test_cache_must_be_a_node_cache() -> None:
    """cache= takes a NodeCache, checked at factory time."""
    with pytest.raises(TypeError, match="NodeCache"):
        create_node(lambda s: s, cache={"inputs": ["x"]})  # type: ignore[arg-type]


def _random_dag(rng: random.Random, n: int) -> list[list[int]]:
    """parents[i] for node i; parents are earlier nodes (a DAG in topological order)."""
    parents: list[list[int]] = []
    for i in range(n):
        k = rng.randint(0, min(3, i))
        parents.append(sorted(rng.sample(range(i), k)) if i else [])
    return parents


def _value(i: int, inputs: tuple[int, ...]) -> int:
    # Few distinct outputs, so an input change often leaves the output unchanged (early cutoff).
    return (sum(inputs) * 31 + i) % 3


def _expected_runs(
    parents: list[list[int]], seeds: dict[int, int], previous: dict[int, tuple[int, ...]] | None
) -> tuple[set[int], dict[int, tuple[int, ...]]]:
    values: dict[int, int] = {}
    inputs: dict[int, tuple[int, ...]] = {}
    for i, ps in enumerate(parents):
        inputs[i] = (seeds[i],) if not ps else tuple(values[p] for p in ps)
        values[i] = _value(i, inputs[i])
    ran = set(inputs) if previous is None else {i for i in inputs if inputs[i] != previous[i]}
    return ran, inputs


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_partial_rerun_executes_exactly_the_changed_nodes(seed: int) -> None:
    """Re-running a finished DAG with one input changed runs only nodes whose inputs changed."""
    rng = random.Random(seed)
    n = 14
    parents = _random_dag(rng, n)
    roots = [i for i, ps in enumerate(parents) if not ps]
    fields = {f"v{i}": int for i in range(n)} | {f"seed{i}": int for i in roots}
    State = TypedDict("State", fields, total=False)  # type: ignore[misc]
    executed: list[int] = []
    backend = InMemoryCache()

    def make(i: int) -> Any:
        def fn(state: dict[str, Any]) -> dict[str, Any]:
            executed.append(i)
            ins = (
                (state[f"seed{i}"],)
                if not parents[i]
                else tuple(state[f"v{p}"] for p in parents[i])
            )
            return {f"v{i}": _value(i, ins)}

        fn.__name__ = f"n{i}"
        declared = [f"seed{i}"] if not parents[i] else [f"v{p}" for p in parents[i]]
        return create_node(fn, cache=NodeCache(inputs=declared, backend=backend, version="1"))

    g = StateGraph(State)
    for i in range(n):
        g.add_node(f"n{i}", make(i))
        if not parents[i]:
            g.add_edge(START, f"n{i}")
        else:
            g.add_edge([f"n{p}" for p in parents[i]], f"n{i}")
    children = {p for ps in parents for p in ps}
    for i in range(n):
        if i not in children:
            g.add_edge(f"n{i}", END)
    graph = g.compile()

    seeds = {i: rng.randint(0, 100) for i in roots}
    graph.invoke({f"seed{i}": v for i, v in seeds.items()})
    expected_first, inputs = _expected_runs(parents, seeds, None)
    assert set(executed) == expected_first == set(range(n))

    changed = dict(seeds)
    changed[rng.choice(roots)] += 1
    executed.clear()
    out = graph.invoke({f"seed{i}": v for i, v in changed.items()})
    expected, _ = _expected_runs(parents, changed, inputs)
    assert sorted(executed) == sorted(expected)
    assert len(executed) == len(set(executed))
    assert all(
        out[f"v{i}"] == _value(i, _expected_runs(parents, changed, None)[1][i]) for i in range(n)
    )
