"""A retried attempt's streamed tokens are named by a discarded_message custom event."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import create_react_agent

from langgraph_runner import GraphState, create_node, harden
from langgraph_runner._engine.streamed import TOKENS
from tests.agent_kit import Broken, ScriptedModel, scripted

pytestmark = pytest.mark.usefixtures("instant")

_HI = {"messages": [HumanMessage("hi")]}
MODES = ["sync", "async"]
EVENT = "langgraph_runner.discarded_message"


class State(MessagesState, GraphState):
    """Messages plus the record channels."""


def _model() -> ScriptedModel:
    return scripted(
        Broken("half an answer", ConnectionError("cut"), "bad-1"),
        AIMessage(content="full answer", id="good-1"),
    )


def _hand_built(model: ScriptedModel, mode: str, **options: Any) -> Any:
    """A one-node graph whose node calls the model (sync, or async under astream)."""

    def agent(state: State) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    async def aagent(state: State, config: RunnableConfig) -> dict[str, Any]:
        # The config passed on, as LangGraph asks of async nodes for Python 3.10 (where
        # an async model call does not see the run's callbacks otherwise).
        return {"messages": [await model.ainvoke(state["messages"], config)]}

    b = StateGraph(State)
    b.add_node("agent", create_node(agent if mode == "sync" else aagent, **options))
    b.add_edge(START, "agent")
    return b.compile()


async def _stream(graph: Any, mode: str, modes: Any) -> list[Any]:
    if mode == "sync":
        return list(graph.stream(_HI, stream_mode=modes))
    return [c async for c in graph.astream(_HI, stream_mode=modes)]


def _seen(chunks: list[Any]) -> list[Any]:
    return [
        (kind, data[0].id) if kind == "messages" else (kind, data["message_ids"])
        for kind, data in chunks
        if kind == "custom" or (kind == "messages" and data[0].content)
    ]


def _final(chunks: list[Any]) -> Any:
    return [data for kind, data in chunks if kind == "values"][-1]["messages"][-1]


@pytest.mark.parametrize("mode", MODES)
async def test_a_hand_built_nodes_retried_tokens_are_named(mode: str) -> None:
    """create_node around model.invoke/ainvoke: the failed attempt's message id is named
    right after its tokens, before the retry's; the final message is the retry's."""
    graph = _hand_built(_model(), mode, retry=3)
    chunks = await _stream(graph, mode, ["messages", "custom", "values"])
    assert _seen(chunks) == [
        *[("messages", "bad-1")] * 3,
        ("custom", ["bad-1"]),
        *[("messages", "good-1")] * 2,
    ]
    assert [d["event"] for k, d in chunks if k == "custom"] == [EVENT]
    assert (_final(chunks).id, _final(chunks).content) == ("good-1", "full answer")


@pytest.mark.filterwarnings("ignore:create_react_agent has been moved")
@pytest.mark.parametrize("mode", MODES)
async def test_a_hardened_prebuilt_agents_retried_tokens_are_named(mode: str) -> None:
    """harden(create_react_agent(...)): the model node's failed attempt is named the same way."""
    agent = harden(create_react_agent(_model(), []), retry=3)
    chunks = await _stream(agent, mode, ["messages", "custom", "values"])
    assert _seen(chunks) == [
        *[("messages", "bad-1")] * 3,
        ("custom", ["bad-1"]),
        *[("messages", "good-1")] * 2,
    ]
    assert _final(chunks).content == "full answer"


@pytest.mark.parametrize("mode", MODES)
async def test_a_terminal_failure_after_tokens_is_named_too(mode: str) -> None:
    """The last attempt's tokens are named before its record: none of them reached state."""
    model = scripted(Broken("no luck", ConnectionError("cut"), "bad-1"))
    graph = _hand_built(model, mode, retry=2)
    chunks = await _stream(graph, mode, ["messages", "custom", "values"])
    assert [d["message_ids"] for k, d in chunks if k == "custom"] == [["bad-1"], ["bad-1"]]
    final = [d for k, d in chunks if k == "values"][-1]
    assert [e["code"] for e in final["errors"]] == ["RETRY_EXHAUSTED"]
    assert [type(m).__name__ for m in final["messages"]] == ["HumanMessage"]


def test_nothing_is_watched_unless_the_run_streams_messages() -> None:
    """Without the messages mode no collector is attached and no event is written."""
    seen: list[Any] = []

    def node(state: State) -> dict[str, Any]:
        seen.append(TOKENS.get())
        raise ConnectionError("cut")

    b = StateGraph(State)
    b.add_node("node", create_node(node, retry=2))
    b.add_edge(START, "node")
    graph = b.compile()
    assert [k for k, _ in graph.stream(_HI, stream_mode=["custom", "updates"])] == ["updates"]
    assert seen == [None, None]
    list(graph.stream(_HI, stream_mode=["messages", "custom"]))
    assert all(t is not None for t in seen[2:]) and len(seen) == 4
    assert TOKENS.get() is None
