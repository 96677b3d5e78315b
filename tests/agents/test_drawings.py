"""Drawings: hardened agents, ToolNodes and subgraphs draw exactly as bare (get_graph JSON)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.graph import START, StateGraph
from langgraph.prebuilt import ToolNode, create_react_agent, tools_condition

from langgraph_runner import create_node, harden
from langgraph_runner.agents import tool_error_messages
from tests.agent_kit import AgentState, scripted


@tool
def lookup(city: str) -> str:
    """Look a city up."""
    return city


def _json(graph: Any, xray: bool) -> str:
    return json.dumps(graph.get_graph(xray=xray).to_json(), sort_keys=True, default=str)


def _react() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(scripted(AIMessage(content="x")), [lookup])


AGENTS: dict[str, Callable[[], Any]] = {
    "create_agent": lambda: create_agent(scripted(AIMessage(content="x")), [lookup]),
    "create_react_agent": _react,
}


@pytest.mark.parametrize("xray", [False, True])
@pytest.mark.parametrize("kind", sorted(AGENTS))
def test_a_hardened_agent_draws_as_the_bare_one(kind: str, xray: bool) -> None:
    """harden(agent): same nodes, edges, ids and metadata (ToolNode's __tools included)."""
    bare = AGENTS[kind]()
    drawn = _json(harden(bare, retry=2), xray)
    assert drawn == _json(bare, xray)
    # LangGraph draws a ToolNode's tools as metadata in newer releases (not in 1.2.15):
    # where the bare drawing has them, the hardened one has them too (equal above).
    if '"__tools"' in drawn:
        assert '"__tools": ["lookup"]' in drawn


def _loop(wrap: Callable[[Any], Any]) -> Any:
    b = StateGraph(AgentState)
    b.add_node("agent", lambda s: {})
    b.add_node("tools", wrap(ToolNode([lookup])))
    b.add_edge(START, "agent")
    b.add_conditional_edges("agent", tools_condition)
    b.add_edge("tools", "agent")
    return b.compile()


def test_a_tool_node_wrapped_whole_draws_as_bare() -> None:
    """create_node(ToolNode, fallback=...) keeps the ToolNode's id and __tools metadata."""
    bare = _json(_loop(lambda n: n), False)
    assert _json(_loop(lambda n: create_node(n, fallback=tool_error_messages)), False) == bare


@pytest.mark.parametrize("xray", [False, True])
def test_a_hardened_subgraph_draws_as_bare(xray: bool) -> None:
    """A compiled subgraph node, hardened, keeps its CompiledStateGraph id; xray the same."""

    def parent(hardened: bool) -> Any:
        p = StateGraph(AgentState)
        p.add_node("assistant", _react())
        p.add_edge(START, "assistant")
        return (harden(p) if hardened else p).compile()

    assert _json(parent(True), xray) == _json(parent(False), xray)
