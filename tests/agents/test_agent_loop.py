"""Agent loops of wrapped nodes: the loop guard ends them; routing and ToolMessage recipes."""

from __future__ import annotations

import inspect
import uuid
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.errors import EmptyInputError, GraphRecursionError, InvalidUpdateError
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from langgraph_runner import FailureLoopError, create_node, route_on_blocked
from langgraph_runner.agents import tool_error_messages
from tests.agent_kit import MODES3, AgentState, call, fake_model, normalized, scripted
from tests.conftest import SqliteConnect

pytestmark = pytest.mark.usefixtures("instant")

_HI = {"messages": [HumanMessage("hi", id="h1")]}


def _cfg(thread: str, limit: int = 100) -> RunnableConfig:
    return {"configurable": {"thread_id": thread}, "recursion_limit": limit}


class Tools:
    """A tools node whose outcome per call follows a script ('fail' or 'ok'), then repeats."""

    def __init__(self, script: str = "fail") -> None:
        self.script = script.split(",")
        self.calls = 0

    def __call__(self, state: AgentState) -> dict[str, Any]:
        outcome = self.script[self.calls % len(self.script)]
        self.calls += 1
        if outcome == "fail":
            raise ConnectionError("search backend unreachable")
        last = state["messages"][-1]
        return {"messages": [ToolMessage("ok", tool_call_id=last.tool_calls[0]["id"])]}


def _looping_agent(
    tools: Any, *, saver: Any = None, rounds: int | None = None, model: Any = None, **opts: Any
) -> Any:
    """model always asks for a tool (or ``rounds`` times, then answers); tools loop back."""
    if model is None:
        replies: list[Any] = [
            call("search", {"q": "x"}, f"c{i}", f"ai{i}") for i in range(rounds or 1)
        ]
        if rounds is not None:
            replies.append(AIMessage(id="final", content="done"))
        model = fake_model(*replies)

    def agent(state: AgentState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    g = StateGraph(AgentState)
    g.add_node("agent", create_node(agent))
    g.add_node("tools", create_node(tools, **opts))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    return g.compile(checkpointer=saver if saver is not None else InMemorySaver())


def test_a_tool_that_always_fails_stops_the_loop_after_five() -> None:
    """Default guard: the 5th failure in a row raises FailureLoopError naming the node."""
    tools = Tools("fail")
    graph = _looping_agent(tools)
    with pytest.raises(FailureLoopError, match="Node 'tools' failed 5 times in a row") as info:
        graph.invoke(_HI, _cfg("always"))
    assert tools.calls == 5
    assert (info.value.node, info.value.failures, info.value.record.error_type) == (
        "tools",
        5,
        "ConnectionError",
    )
    state = graph.get_state(_cfg("always"))
    assert [r["node"] for r in state.values["errors"]] == ["tools"] * 4
    assert state.next == ("tools",)


async def test_the_guard_stops_async_runs_too() -> None:
    """Under ainvoke the same guard stops the loop at the configured count."""
    tools = Tools("fail")
    graph = _looping_agent(tools, max_consecutive_failures=2)
    with pytest.raises(FailureLoopError, match="max_consecutive_failures=2"):
        await graph.ainvoke(_HI, _cfg("async"))
    assert tools.calls == 2


def test_guard_off_runs_to_the_recursion_limit() -> None:
    """max_consecutive_failures=None restores the unbounded loop (LangGraph's limit ends it)."""
    tools = Tools("fail")
    graph = _looping_agent(tools, max_consecutive_failures=None)
    with pytest.raises(GraphRecursionError):
        graph.invoke(_HI, _cfg("off", limit=24))
    assert tools.calls > 5


def test_a_success_between_failures_resets_the_count() -> None:
    """fail, fail, ok repeated never reaches 3 in a row: the loop ends normally."""
    tools = Tools("fail,fail,ok")
    graph = _looping_agent(tools, rounds=12, max_consecutive_failures=3)
    out = graph.invoke(_HI, _cfg("reset"))
    assert out["messages"][-1].content == "done"
    assert tools.calls == 12
    assert len(out["errors"]) == 8


def test_the_same_run_resumed_in_a_new_process_counts_on_from_the_checkpoint(
    sqlite_connect: SqliteConnect,
) -> None:
    """A fresh process (nothing in memory) resuming the same run id counts its records."""
    conn = sqlite_connect()
    saver = SqliteSaver(conn)
    cfg: RunnableConfig = {**_cfg("restart"), "run_id": uuid.UUID(int=7)}
    first = _looping_agent(Tools("fail"), saver=saver, max_consecutive_failures=3)
    with pytest.raises(FailureLoopError):
        first.invoke(_HI, cfg)
    assert len(first.get_state(cfg).values["errors"]) == 2
    tools = Tools("fail")
    again = _looping_agent(tools, saver=saver, max_consecutive_failures=3)
    with pytest.raises(FailureLoopError, match="failed 3 times"):
        again.invoke(None, cfg)
    assert tools.calls == 1


def test_a_new_invocation_of_the_thread_gets_a_fresh_budget() -> None:
    """Resuming after FailureLoopError (a new run) may fail up to the limit again."""
    tools = Tools("fail")
    graph = _looping_agent(tools, max_consecutive_failures=3)
    for calls in (3, 6):
        with pytest.raises(FailureLoopError, match="failed 3 times"):
            graph.invoke(None if calls == 6 else _HI, _cfg("fresh"))
        assert tools.calls == calls


def test_failures_in_earlier_turns_of_a_chat_thread_do_not_count() -> None:
    """One failing tool call per turn, five turns on one thread, limit 2: never stopped."""
    tools = Tools("fail")
    replies: list[Any] = []
    for turn in range(5):
        replies += [call("search", {"q": "x"}, f"c{turn}", f"ask{turn}")]
        replies += [AIMessage(id=f"answer{turn}", content="sorry, search is down")]
    graph = _looping_agent(tools, model=fake_model(*replies), max_consecutive_failures=2)
    for turn in range(5):
        out = graph.invoke(
            {"messages": [HumanMessage(f"turn {turn}", id=f"h{turn}")]}, _cfg("chat")
        )
        assert out["messages"][-1].content == "sorry, search is down"
    assert tools.calls == 5
    assert [r["node"] for r in out["errors"]] == ["tools"] * 5


def test_without_a_thread_the_run_counts_its_own_records() -> None:
    """No checkpointer: each run counts its own failures; a new run starts from zero."""
    tools = Tools("fail")
    model = fake_model(call("search", {"q": "x"}, "c1", "ai1"))
    g = StateGraph(AgentState)
    g.add_node("agent", create_node(lambda s: {"messages": [model.invoke(s["messages"])]}))
    g.add_node("tools", create_node(tools, max_consecutive_failures=3))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    graph = g.compile()
    for _ in range(2):
        with pytest.raises(FailureLoopError):
            graph.invoke(_HI)
    assert tools.calls == 6


def test_route_on_blocked_ends_the_loop_at_the_first_failure() -> None:
    """The idiomatic routing: tools -> agent when fine, END when blocked; records kept."""
    tools = Tools("fail")
    model = fake_model(call("search", {"q": "x"}, "c1", "ai1"))
    g = StateGraph(AgentState)
    g.add_node("agent", create_node(lambda s: {"messages": [model.invoke(s["messages"])]}))
    g.add_node("tools", create_node(tools, retry=2))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_conditional_edges("tools", route_on_blocked("agent", END))
    out = g.compile().invoke(_HI)
    assert tools.calls == 2
    assert [(r["node"], r["attempts"]) for r in out["errors"]] == [("tools", 2)]


def test_tool_error_messages_hands_the_sanitized_failure_to_the_model() -> None:
    """fallback=tool_error_messages answers each tool call with an error ToolMessage."""

    @tool
    def search(q: str) -> str:
        """Search."""
        raise ConnectionError("GET https://api.example.com?api_key=sk-abcdefghijklmnopqrstuv")

    model = fake_model(
        call("search", {"q": "x"}, "c1", "ai1"), AIMessage(id="ai2", content="sorry")
    )
    g = StateGraph(AgentState)
    g.add_node("agent", create_node(lambda s: {"messages": [model.invoke(s["messages"])]}))
    g.add_node("tools", create_node(ToolNode([search]), retry=2, fallback=tool_error_messages))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    out = g.compile().invoke(_HI)
    tool_msg = out["messages"][2]
    assert isinstance(tool_msg, ToolMessage)
    assert (tool_msg.tool_call_id, tool_msg.status) == ("c1", "error")
    assert tool_msg.content.startswith("Error: ConnectionError: GET")
    assert "sk-abcdefghijklmnopqrstuv" not in tool_msg.content
    assert out["messages"][-1].content == "sorry"
    assert [(r["node"], r["recovered"]) for r in out["errors"]] == [("tools", True)]


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two numbers."""
    return a * b


def _react(wrapped: bool, saver: Any) -> Any:
    model = fake_model(
        call("multiply", {"a": 6, "b": 7}, "c1", "ai1"),
        AIMessage(id="ai2", content="6 x 7 = 42"),
    )

    def agent(state: AgentState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    w: Any = create_node if wrapped else (lambda node: node)
    g = StateGraph(AgentState)
    g.add_node("agent", w(agent))
    g.add_node("tools", w(ToolNode([multiply])))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    return g.compile(checkpointer=saver)


def test_react_agent_with_sqlite_streams_exactly_as_unwrapped(
    tmp_path: Any, sqlite_connect: SqliteConnect
) -> None:
    """The ReAct agent, every node wrapped, on SqliteSaver: updates/messages/values unchanged."""
    out = []
    for wrapped in (False, True):
        conn = sqlite_connect(tmp_path / f"agent-{wrapped}.db")
        graph = _react(wrapped, SqliteSaver(conn))
        chunks = list(graph.stream(_HI, _cfg("react"), stream_mode=MODES3))
        out.append(normalized(chunks))
        assert graph.get_state(_cfg("react")).values["messages"][-1].content == "6 x 7 = 42"
        conn.close()
    assert out[0] == out[1]
    assert "ToolMessage(content='42'" in out[1]


def test_a_looping_subgraph_stops_the_parent_run_too() -> None:
    """A wrapped subgraph lets its inner guard's FailureLoopError through: not retried, not kept."""
    tools = Tools("fail")
    inner = _looping_agent(tools, max_consecutive_failures=2)
    parent = StateGraph(AgentState)
    parent.add_node("assistant", create_node(inner, retry=3))
    parent.add_edge(START, "assistant")
    graph = parent.compile(checkpointer=InMemorySaver())
    with pytest.raises(FailureLoopError, match="Node 'tools'"):
        graph.invoke(_HI, _cfg("nested"))
    assert tools.calls == 2


async def _maybe(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


def _noop_counter() -> tuple[Any, dict[str, int]]:
    seen = {"tool": 0}

    @tool
    def noop() -> str:
        """Do nothing."""
        seen["tool"] += 1
        return "x"

    return noop, seen


def _forever() -> Any:
    return scripted(AIMessage(content="", tool_calls=[{"name": "noop", "args": {}, "id": "c"}]))


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_an_agent_hitting_its_recursion_limit_is_not_retried(mode: str) -> None:
    """GraphRecursionError from a create_agent inside a node ends the run: no retry, no record."""
    counts = []
    for wrap in (False, True):
        model = _forever()
        noop, seen = _noop_counter()
        inner = create_agent(model, [noop])
        parent = StateGraph(AgentState)
        parent.add_node("assistant", create_node(inner, retry=3) if wrap else inner)
        parent.add_edge(START, "assistant")
        graph = parent.compile()
        run = graph.invoke if mode == "sync" else graph.ainvoke
        with pytest.raises(GraphRecursionError):
            await _maybe(run(_HI, {"recursion_limit": 12}))
        counts.append((model.calls, seen["tool"]))
    assert counts[0] == counts[1] == (6, 6)


def _broken_inner(kind: str) -> Any:
    """A subgraph raising LangGraph's own graph errors from inside a node."""
    inner = StateGraph(AgentState)
    if kind == "update":
        inner.add_node("bad", lambda s: "not a dict")
    else:
        inner.add_node("bad", lambda s: {})
    inner.add_edge(START, "bad")
    return inner.compile()


@pytest.mark.parametrize("kind", ["update", "empty"])
def test_graph_errors_of_a_subgraph_are_not_retried_nor_recorded(kind: str) -> None:
    """InvalidUpdateError and EmptyInputError from a subgraph end the run as unwrapped."""
    inner = _broken_inner(kind)
    runs = {"n": 0}

    def node(state: AgentState) -> dict[str, Any]:
        runs["n"] += 1
        return inner.invoke(None if kind == "empty" else state)  # type: ignore[no-any-return]

    parent = StateGraph(AgentState)
    parent.add_node("n", create_node(node, retry=3))
    parent.add_edge(START, "n")
    expected = EmptyInputError if kind == "empty" else InvalidUpdateError
    with pytest.raises(expected):
        parent.compile().invoke(_HI)
    assert runs["n"] == 1


def test_a_node_raising_a_graph_error_itself_is_not_recorded() -> None:
    """A node that raises GraphRecursionError (its own loop guard) stops the run."""
    runs = {"n": 0}

    def node(state: AgentState) -> dict[str, Any]:
        runs["n"] += 1
        raise GraphRecursionError("inner loop too long")

    parent = StateGraph(AgentState)
    parent.add_node("n", create_node(node, retry=3))
    parent.add_edge(START, "n")
    with pytest.raises(GraphRecursionError):
        parent.compile().invoke(_HI)
    assert runs["n"] == 1
