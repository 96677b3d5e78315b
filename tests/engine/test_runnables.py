"""create_node on Runnables: ToolNode, LCEL chains and compiled subgraphs behave as unwrapped."""

from __future__ import annotations

import asyncio
import re
import sys
from typing import Any, TypedDict

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import tool
from langgraph.cache.memory import InMemoryCache
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command, interrupt

from langgraph_runner import GraphState, NodeCache, create_node
from langgraph_runner.metrics import NodeMetricsCollector
from langgraph_runner.metrics._collector import METRICS_COLLECTOR_KEY
from tests.agent_kit import MODES3, AgentState, call, fake_model, normalized

pytestmark = pytest.mark.usefixtures("instant")


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@tool
def broken(a: int) -> int:
    """A tool that always fails."""
    raise ValueError("tool exploded")


def _same(x: Any) -> Any:
    return x


def _agent_graph(
    wrapped: bool, tools: list[Any], first_call: str = "add", handle: bool = False
) -> Any:
    model = fake_model(
        call(first_call, {"a": 1, "b": 2} if first_call == "add" else {"a": 1}, "c1", "ai1"),
        AIMessage(id="ai2", content="done"),
    )

    def agent(state: AgentState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    w: Any = create_node if wrapped else _same
    g = StateGraph(AgentState)
    g.add_node("agent", w(agent))
    g.add_node("tools", w(ToolNode(tools, handle_tool_errors=True) if handle else ToolNode(tools)))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    return g.compile(checkpointer=InMemorySaver())


_HI = {"messages": [HumanMessage("hi", id="h1")]}


def _cfg(thread: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread}}


def test_toolnode_streams_exactly_as_unwrapped() -> None:
    """A wrapped ToolNode streams the same updates, messages and values as the bare one."""
    out = [
        normalized(list(_agent_graph(w, [add]).stream(_HI, _cfg("t"), stream_mode=MODES3)))
        for w in (False, True)
    ]
    assert out[0] == out[1]
    assert "ToolMessage(content='3'" in out[1]


async def test_toolnode_astream_exactly_as_unwrapped() -> None:
    """Under astream the wrapped ToolNode takes its async path and streams the same chunks."""
    out = []
    for w in (False, True):
        graph = _agent_graph(w, [add])
        out.append(normalized([c async for c in graph.astream(_HI, _cfg("t"), stream_mode=MODES3)]))
    assert out[0] == out[1]


def test_toolnode_keeps_its_own_error_handling() -> None:
    """A tool error becomes ToolNode's error ToolMessage, as unwrapped; nothing is recorded."""
    out = []
    for w in (False, True):
        graph = _agent_graph(w, [broken], first_call="broken", handle=True)
        out.append(normalized(list(graph.stream(_HI, _cfg("t"), stream_mode=MODES3))))
        assert graph.get_state(_cfg("t")).values["errors"] == []
    assert out[0] == out[1]
    assert "tool exploded" in out[1]


def test_toolnode_that_raises_is_recorded_with_the_node_name() -> None:
    """An error ToolNode re-raises (its default for tool exceptions) becomes a record."""
    model = fake_model(call("broken", {"a": 1}, "c1", "ai1"), AIMessage(id="ai2", content="ok"))
    g = StateGraph(AgentState)
    g.add_node("agent", create_node(lambda s: {"messages": [model.invoke(s["messages"])]}))
    g.add_node("tools", create_node(ToolNode([broken]), retry=2))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", END)
    out = g.compile().invoke(_HI)
    [record] = out["errors"]
    assert (record["node"], record["error_type"], record["attempts"]) == ("tools", "ValueError", 2)
    assert out["routing_flags"] == {"blocked": True}


def _chain_graph(wrapped: bool) -> Any:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "be brief"), ("placeholder", "{messages}")]
    )
    chain = prompt | fake_model(AIMessage(id="ai1", content="hello"))
    w: Any = create_node if wrapped else _same
    g = StateGraph(AgentState)
    g.add_node("chat", w(chain | RunnableLambda(lambda m: {"messages": [m]})))
    g.add_edge(START, "chat")
    g.add_edge("chat", END)
    return g.compile()


@pytest.mark.parametrize("use_async", [False, True])
async def test_lcel_chain_streams_exactly_as_unwrapped(use_async: bool) -> None:
    """``prompt | model`` as a node streams the model's message with the same metadata."""
    out = []
    for w in (False, True):
        graph = _chain_graph(w)
        if use_async:
            chunks = [c async for c in graph.astream(_HI, stream_mode=MODES3)]
        else:
            chunks = list(graph.stream(_HI, stream_mode=MODES3))
        out.append(normalized(chunks))
    assert out[0] == out[1]
    assert "'langgraph_node': 'chat'" in out[1]


class Sub(TypedDict, total=False):
    x: int
    answer: str


def _subgraph_parent(wrapped: bool, *, ask_human: bool = True) -> Any:
    def ask(state: Sub) -> dict[str, Any]:
        return {"answer": interrupt("question?") if ask_human else "no question"}

    sub = StateGraph(Sub)
    sub.add_node("bump", lambda s: {"x": s.get("x", 0) + 1})
    sub.add_node("ask", ask)
    sub.add_edge(START, "bump")
    sub.add_edge("bump", "ask")
    sub.add_edge("ask", END)
    w: Any = create_node if wrapped else _same
    parent = StateGraph(Sub)
    parent.add_node("child", w(sub.compile()))
    parent.add_edge(START, "child")
    parent.add_edge("child", END)
    return parent.compile(checkpointer=InMemorySaver())


def test_subgraph_node_streams_interrupts_and_resumes_as_unwrapped() -> None:
    """A compiled subgraph node: subgraphs=True stream, interrupt inside, state and resume."""
    out, states = [], []
    for w in (False, True):
        graph = _subgraph_parent(w)
        cfg = _cfg("sub")
        first = list(graph.stream({"x": 1}, cfg, stream_mode=["updates", "values"], subgraphs=True))
        snap = graph.get_state(cfg, subgraphs=True)
        sub_state = snap.tasks[0].state
        states.append((snap.next, sub_state.values if sub_state else None))
        second = list(
            graph.stream(Command(resume="yes"), cfg, stream_mode=["updates"], subgraphs=True)
        )
        out.append(normalized([first, second]))
        assert graph.get_state(cfg).values == {"x": 2, "answer": "yes"}
        assert [name for name, _ in graph.get_subgraphs()] == ["child"]
    assert out[0] == out[1]
    assert states[0] == states[1] == (("child",), {"x": 2})


async def test_subgraph_node_async_stream_as_unwrapped() -> None:
    """The same subgraph under astream(subgraphs=True) matches the bare node."""
    out = []
    # Before Python 3.11 LangGraph's interrupt() cannot find its config in a sync node of an
    # async run (asyncio tasks take no context there): the bare graph fails too.
    ask_human = sys.version_info >= (3, 11)
    for w in (False, True):
        graph = _subgraph_parent(w, ask_human=ask_human)
        chunks = [
            c
            async for c in graph.astream({"x": 1}, _cfg("a"), stream_mode="updates", subgraphs=True)
        ]
        out.append(normalized(chunks))
    assert out[0] == out[1]


ALL_MODES = ["values", "updates", "messages", "custom", "debug", "tasks", "checkpoints"]
_TIME = re.compile(r"'(timestamp|ts)': '[^']*'")


def test_every_stream_mode_with_subgraphs_matches() -> None:
    """All stream modes at once, subgraphs=True, through a wrapped subgraph and a ToolNode."""
    out = []
    for w in (False, True):
        chunks = list(
            _subgraph_parent(w).stream({"x": 1}, _cfg("all"), stream_mode=ALL_MODES, subgraphs=True)
        )
        chunks += list(_agent_graph(w, [add]).stream(_HI, _cfg("all"), stream_mode=ALL_MODES))
        out.append(_TIME.sub(r"'\1': <time>", normalized(chunks)))
    assert out[0] == out[1]
    assert "'checkpoints'" in out[1] and "'tasks'" in out[1]


class _Names(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_chain_start(self, serialized: Any, inputs: Any, **kw: Any) -> None:
        self.seen.append(f"chain:{kw.get('name')}")

    def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
        self.seen.append("chat_model")

    def on_tool_start(self, serialized: Any, input_str: str, **kw: Any) -> None:
        self.seen.append(f"tool:{serialized.get('name') if serialized else kw.get('name')}")


def test_callbacks_see_the_same_runs() -> None:
    """A callback handler sees the same chain, model and tool runs through wrapped Runnables."""
    seen = []
    for w in (False, True):
        handler = _Names()
        cfg: RunnableConfig = {**_cfg("cb"), "callbacks": [handler]}
        _agent_graph(w, [add]).invoke(_HI, cfg)
        seen.append(handler.seen)
    assert seen[0] == seen[1]
    assert "tool:add" in seen[1] and "chat_model" in seen[1]


class X(GraphState, total=False):
    x: int


def _one_node(node: Any) -> Any:
    g = StateGraph(X)
    g.add_node("n", node)
    g.add_edge(START, "n")
    g.add_edge("n", END)
    return g.compile()


def test_retry_records_and_metrics_apply_to_a_runnable() -> None:
    """A flaky Runnable is retried; one that keeps failing is recorded and counted."""
    calls = {"n": 0}

    def flaky(state: X) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("reset")
        return {"x": 7}

    collector = NodeMetricsCollector()
    cfg: RunnableConfig = {"configurable": {METRICS_COLLECTOR_KEY: collector}}
    assert _one_node(create_node(RunnableLambda(flaky), retry=2)).invoke({}, cfg)["x"] == 7

    def down(state: X) -> dict[str, Any]:
        raise ConnectionError("still down")

    out = _one_node(create_node(RunnableLambda(down), retry=3)).invoke({}, cfg)
    assert [(r["node"], r["attempts"]) for r in out["errors"]] == [("n", 3)]
    m = collector.get_node_metrics("n")
    assert (m.success_count, m.failure_count, m.retry_count) == (1, 1, 3)


async def test_async_path_uses_ainvoke_and_timeout_applies() -> None:
    """Under ainvoke the Runnable's async function runs, with the node's timeout."""
    used: list[str] = []

    def sync_fn(state: X) -> dict[str, Any]:
        used.append("sync")
        return {"x": 1}

    async def async_fn(state: X) -> dict[str, Any]:
        used.append("async")
        if state.get("x") == 99:
            await asyncio.sleep(30)
        return {"x": 2}

    # A limit a starved machine cannot reach on the quick calls (0.05 s was: 242 ms on CI).
    node = create_node(RunnableLambda(sync_fn, afunc=async_fn), timeout=1.0)
    graph = _one_node(node)
    assert (await graph.ainvoke({}))["x"] == 2
    assert graph.invoke({})["x"] == 1
    out = await graph.ainvoke({"x": 99})
    assert used == ["async", "sync", "async"]
    assert [r["code"] for r in out["errors"]] == ["NODE_TIMEOUT"]


def test_options_are_validated_for_runnables() -> None:
    """A Runnable gets the same factory-time validation; a cache must carry a version."""
    with pytest.raises(ValueError, match="on_error"):
        create_node(ToolNode([add]), on_error="ignore")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match=r"NodeCache\(version=\.\.\.\)"):
        create_node(ToolNode([add]), cache=NodeCache(backend=InMemoryCache()))


def test_a_cached_runnable_runs_once_per_input() -> None:
    """With a versioned NodeCache the Runnable is skipped on the same declared inputs."""
    calls = {"n": 0}

    def body(state: X) -> dict[str, Any]:
        calls["n"] += 1
        return {"x": (state.get("x") or 0) + 1}

    cache = NodeCache(inputs=["x"], backend=InMemoryCache(), version="v1")
    graph = _one_node(create_node(RunnableLambda(body), cache=cache))
    assert [graph.invoke({"x": 1})["x"] for _ in range(2)] == [2, 2]
    assert calls["n"] == 1


@tool
def guarded_delete(path: str) -> str:
    """Delete a file once a human approves."""
    answer = interrupt(f"delete {path}?")
    return f"deleted {path}" if answer == "yes" else "kept"


def test_interrupt_inside_a_wrapped_toolnode_pauses_and_resumes_as_unwrapped() -> None:
    """A tool that calls interrupt() under a wrapped ToolNode (with retries) asks once, resumes."""
    out = []
    for w in (False, True):
        model = fake_model(
            call("guarded_delete", {"path": "a.txt"}, "c1", "ai1"),
            AIMessage(id="ai2", content="done"),
        )
        g = StateGraph(AgentState)
        g.add_node("agent", lambda s, m=model: {"messages": [m.invoke(s["messages"])]})
        tools = ToolNode([guarded_delete])
        g.add_node("tools", create_node(tools, retry=3) if w else tools)
        g.add_edge(START, "agent")
        g.add_conditional_edges("agent", tools_condition)
        g.add_edge("tools", "agent")
        graph = g.compile(checkpointer=InMemorySaver())
        first = list(graph.stream(_HI, _cfg("hitl"), stream_mode=MODES3))
        assert graph.get_state(_cfg("hitl")).next == ("tools",)
        second = list(graph.stream(Command(resume="yes"), _cfg("hitl"), stream_mode=MODES3))
        out.append(normalized([first, second]))
        messages = graph.get_state(_cfg("hitl")).values["messages"]
        assert [m.content for m in messages[-2:]] == ["deleted a.txt", "done"]
    assert out[0] == out[1]
