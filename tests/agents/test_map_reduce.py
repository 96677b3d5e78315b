"""Map-reduce with Send: which items failed, and re-running only those after a fix."""

from __future__ import annotations

import json
import operator
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import Send
from pydantic import BaseModel

from langgraph_runner import GraphState, NodeError, create_node, failed_sends
from langgraph_runner.runs import afailed_items, arerun_blocked, failed_items, rerun_blocked

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


def _reduce_graph(item_key: str | None, seen: list[Any]) -> Any:
    def worker(item: ItemDict) -> dict[str, Any]:
        if item["n"] % 2 == 0:
            raise ConnectionError(f"item {item['n']} down, token {item['token']}")
        return {"results": [item["n"] * 10]}

    def reduce(state: S) -> dict[str, Any]:
        seen.extend(failed_sends(state))  # which items failed, in the same run
        return {}

    b = StateGraph(S)
    b.add_node("worker", create_node(worker, item_key=item_key), input_schema=ItemDict)
    b.add_node("reduce", reduce)
    b.add_conditional_edges(
        START,
        lambda s: [Send("worker", ItemDict(n=n, token=SECRET)) for n in s["items"]],
        ["worker"],
    )
    b.add_edge("worker", "reduce")
    return b.compile(checkpointer=InMemorySaver())


@pytest.mark.filterwarnings("ignore:Deserializing unregistered type")
def test_a_send_task_record_names_its_task_target_and_item() -> None:
    """The record itself carries the task id, the Send target and the redacted, capped item."""
    seen: list[Any] = []
    graph = _reduce_graph(None, seen)
    out = graph.invoke({"items": [1, 2, 3, 4]}, _cfg("rec"))
    records = out["errors"]
    assert [r["send_node"] for r in records] == ["worker", "worker"]
    assert sorted(r["send_item"][:8] for r in records) == ['{"n": 2,', '{"n": 4,']
    assert all(SECRET not in json.dumps(r) for r in records)
    assert all(len(r["send_item"]) <= 200 for r in records)
    items = failed_items(graph, _cfg("rec"))
    assert {i.task_id for i in items} == {r["task_id"] for r in records}
    assert {i.summary for i in items} == {r["send_item"] for r in records}
    assert NodeError.model_validate(records[0]).to_state() == records[0]


def test_item_key_names_the_item_and_plain_nodes_carry_no_send_fields() -> None:
    """item_key="n" shows arg["n"]; a node that is not a Send task has no Send fields."""
    graph = _reduce_graph("n", [])
    out = graph.invoke({"items": [1, 2]}, _cfg("key"))
    assert [r["send_item"] for r in out["errors"]] == ["2"]

    def fail(state: S) -> dict[str, Any]:
        raise ConnectionError("down")

    b = StateGraph(S)
    b.add_node("fail", create_node(fail))
    b.add_edge(START, "fail")
    record = b.compile().invoke({"items": []})["errors"][0]
    assert not {"task_id", "send_node", "send_item"} & set(record)
    with pytest.raises(ValueError, match="item_key"):
        create_node(fail, item_key="")


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_the_reduce_step_reads_the_failed_items_during_the_run(mode: str) -> None:
    """failed_sends(state) in the reduce step lists exactly the items that failed."""
    seen: list[Any] = []
    graph = _reduce_graph("n", seen)
    inputs, cfg = {"items": [1, 2, 3, 4, 5, 6]}, _cfg(f"reduce-{mode}")
    out = graph.invoke(inputs, cfg) if mode == "sync" else await graph.ainvoke(inputs, cfg)
    assert sorted(r["send_item"] for r in seen) == ["2", "4", "6"]
    assert sorted(out["results"]) == [10, 30, 50]
    assert failed_sends(out, node="other") == []
    assert failed_sends(out["errors"]) == seen


def test_on_failure_and_fallbacks_see_the_send_fields() -> None:
    """The record handed to on_failure (the slower path) names the item as well."""
    hooked: list[Any] = []

    def worker(item: ItemDict) -> dict[str, Any]:
        raise ValueError(f"bad item {item['n']}")

    b = StateGraph(S)
    node = create_node(worker, item_key="n", on_failure=lambda rec, st: hooked.append(rec))
    b.add_node("worker", node, input_schema=ItemDict)
    b.add_conditional_edges(
        START,
        lambda s: [Send("worker", ItemDict(n=n, token=SECRET)) for n in s["items"]],
        ["worker"],
    )
    out = b.compile().invoke({"items": [7]})
    assert [(r.send_node, r.send_item, r.task_id) for r in hooked] == [
        ("worker", "7", out["errors"][0]["task_id"])
    ]
    assert out["errors"][0]["send_item"] == "7"
