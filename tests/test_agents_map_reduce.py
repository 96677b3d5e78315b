"""Map-reduce with Send: which items failed, and re-running only those after a fix."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import Send
from pydantic import BaseModel

from langgraph_runner import (
    GraphState,
    afailed_items,
    arerun_blocked,
    create_node,
    failed_items,
    rerun_blocked,
)

pytestmark = pytest.mark.usefixtures("instant")

SECRET = "sk-abcdefghijklmnopqrstuvwx"


class S(GraphState, total=False):
    items: list[int]
    results: Annotated[list[int], operator.add]


class ItemModel(BaseModel):
    n: int
    token: str = SECRET


class ItemDict(TypedDict):
    n: int
    token: str


def _graph(payload: str, broken: set[int]) -> Any:
    typ: Any = ItemModel if payload == "pydantic" else ItemDict

    def worker(item: Any) -> dict[str, Any]:
        n = item.n if isinstance(item, BaseModel) else item["n"]
        if n in broken:
            raise ConnectionError(f"item {n} down")
        return {"results": [n * 10]}

    def fan(state: S) -> list[Send]:
        make = (
            (lambda n: ItemModel(n=n))
            if payload == "pydantic"
            else (lambda n: ItemDict(n=n, token=SECRET))
        )
        return [Send("worker", make(n)) for n in state["items"]]

    b = StateGraph(S)
    b.add_node("worker", create_node(worker), input_schema=typ)
    b.add_node("reduce", lambda s: {})
    b.add_conditional_edges(START, fan, ["worker"])
    b.add_edge("worker", "reduce")
    return b.compile(checkpointer=InMemorySaver())


def _cfg(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}}


@pytest.mark.filterwarnings("ignore:Deserializing unregistered type")
@pytest.mark.parametrize("payload", ["typeddict", "pydantic"])
def test_failed_items_name_the_task_target_and_a_redacted_summary(payload: str) -> None:
    """Each failed Send task: its id, target, redacted capped argument (or a named key)."""
    graph = _graph(payload, broken={2, 3})
    graph.invoke({"items": [1, 2, 3]}, _cfg("a"))
    items = failed_items(graph, _cfg("a"))
    assert [(i.node, i.summary.startswith('{"n": ')) for i in items] == [("worker", True)] * 2
    assert all(SECRET not in i.summary for i in items)
    assert len({i.task_id for i in items}) == 2
    assert all(i.record is not None and i.record["node"] == "worker" for i in items)
    assert [i.summary for i in failed_items(graph, _cfg("a"), key="n")] == ["2", "3"]


@pytest.mark.filterwarnings("ignore:Deserializing unregistered type")
@pytest.mark.parametrize("payload", ["typeddict", "pydantic"])
def test_rerun_sends_only_the_failed_items_again(payload: str) -> None:
    """After a fix only the failed items run again; finished ones keep their results."""
    broken = {3}
    graph = _graph(payload, broken)
    out = graph.invoke({"items": [1, 2, 3]}, _cfg("b"))
    assert out["results"] == [10, 20]
    out = rerun_blocked(graph, _cfg("b"))  # still broken: fails again
    assert (out["results"], out["routing_flags"]) == ([10, 20], {"blocked": True})
    assert len(out["errors"]) == 2
    broken.clear()
    out = rerun_blocked(graph, _cfg("b"))
    assert (sorted(out["results"]), out["routing_flags"]) == ([10, 20, 30], {})
    assert failed_items(graph, _cfg("b")) == []


@pytest.mark.filterwarnings("ignore:Deserializing unregistered type")
async def test_async_rerun_of_failed_items() -> None:
    """arerun_blocked and afailed_items do the same under ainvoke."""
    broken = {1}
    graph = _graph("pydantic", broken)
    await graph.ainvoke({"items": [1, 2]}, _cfg("c"))
    assert [i.summary for i in await afailed_items(graph, _cfg("c"), key="n")] == ["1"]
    await arerun_blocked(graph, _cfg("c"))
    assert [i.summary for i in await afailed_items(graph, _cfg("c"), key="n")] == ["1"]
    broken.clear()
    out = await arerun_blocked(graph, _cfg("c"))
    assert (sorted(out["results"]), out["routing_flags"]) == ([10, 20], {})
