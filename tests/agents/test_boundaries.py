"""Records cross graph boundaries: a subgraph's failure reaches the parent, named by its path."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import Command

from langgraph_runner import GraphState, create_node, harden
from langgraph_runner.runs import ablocked_nodes, blocked_nodes

pytestmark = pytest.mark.usefixtures("instant")


class S(GraphState, total=False):
    x: int


def _broken(state: S) -> dict[str, Any]:
    raise ConnectionError("inner down")


def _handoff(state: S) -> Command[Any]:
    return Command(graph=Command.PARENT, goto="after", update={"x": 5})


def _sub(handoff: bool) -> Any:
    sub = StateGraph(S)
    sub.add_node("inner", create_node(_broken))
    sub.add_edge(START, "inner")
    if handoff:
        sub.add_node("handoff", _handoff)
        sub.add_edge("inner", "handoff")
    return sub.compile()


def _parent(child: Any, *, hardened: bool) -> Any:
    p = StateGraph(S)
    p.add_node("child", child if hardened else create_node(child))
    p.add_node("after", lambda s: {"x": s["x"] + 1})
    p.add_edge(START, "child")
    if hardened:
        harden(p)
    return p.compile(checkpointer=InMemorySaver())


def _cfg(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}}


@pytest.mark.parametrize("hardened", [False, True])
def test_a_subgraph_node_record_is_named_by_its_path(hardened: bool) -> None:
    """The record the subgraph returns is 'child/inner'; blocked_nodes names 'child'."""
    graph = _parent(_sub(False), hardened=hardened)
    out = graph.invoke({"x": 1}, _cfg("a"))
    assert [r["node"] for r in out["errors"]] == ["child/inner"]
    assert out["routing_flags"] == {"blocked": True}
    assert blocked_nodes(graph, _cfg("a")) == ["child"]


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_record_survives_a_hand_off_to_the_parent(mode: str) -> None:
    """Recorded, then Command(graph=PARENT): the parent gets the record and the flag."""
    graph = _parent(_sub(True), hardened=False)
    if mode == "sync":
        out = graph.invoke({"x": 1}, _cfg("b"))
        blocked = blocked_nodes(graph, _cfg("b"))
    else:
        out = await graph.ainvoke({"x": 1}, _cfg("b"))
        blocked = await ablocked_nodes(graph, _cfg("b"))
    assert out["x"] == 6  # the hand-off itself went through
    assert [(r["node"], r["error_type"]) for r in out["errors"]] == [
        ("child/inner", "ConnectionError")
    ]
    assert out["routing_flags"] == {"blocked": True}
    assert blocked == ["child"]


def test_nested_subgraphs_give_the_whole_path() -> None:
    """Two levels down: 'outer/child/inner' in the top graph's errors."""
    mid = StateGraph(S)
    mid.add_node("child", create_node(_sub(False)))
    mid.add_edge(START, "child")
    top = StateGraph(S)
    top.add_node("outer", create_node(mid.compile()))
    top.add_edge(START, "outer")
    out = top.compile().invoke({"x": 1})
    assert [r["node"] for r in out["errors"]] == ["outer/child/inner"]


def test_a_subgraph_that_succeeds_is_untouched() -> None:
    """No failure inside: the output is what the bare subgraph returns."""
    sub = StateGraph(S)
    sub.add_node("inner", lambda s: {"x": s["x"] * 2})
    sub.add_edge(START, "inner")
    compiled = sub.compile()
    p = StateGraph(S)
    p.add_node("child", create_node(compiled))
    p.add_edge(START, "child")
    assert p.compile().invoke({"x": 2})["x"] == 4
