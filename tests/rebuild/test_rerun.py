"""rerun_blocked: re-run a thread's blocked nodes after a fix, on real graphs and savers."""

from __future__ import annotations

import operator
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt

from langgraph_runner import GraphState, create_node, route_on_blocked
from langgraph_runner._runs.checkpoint import open_checkpointer
from langgraph_runner.runs import ablocked_nodes, arerun_blocked, blocked_nodes, rerun_blocked
from tests import services


class State(GraphState, total=False):
    """The test graphs' state."""

    topic: str
    answer: str
    log: Annotated[list[str], operator.add]


class Upstream:
    """A dependency that is down until fixed; counts calls per node."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.calls: dict[str, int] = {}

    def node(self, name: str, *, answer: bool = True) -> Any:
        def run(state: State) -> dict[str, Any]:
            self.calls[name] = self.calls.get(name, 0) + 1
            if name in self.down:
                raise ConnectionError(f"{name}: upstream down")
            out: dict[str, Any] = {"log": [name]}
            if answer:
                out["answer"] = f"{name}:{state.get('topic')}"
            return out

        run.__name__ = name
        return create_node(run, on_error="record")


def _pipeline(up: Upstream, saver: Any) -> Any:
    """fetch -> publish; a blocked fetch goes to notify, then END."""
    builder = StateGraph(State)
    builder.add_node("fetch", up.node("fetch"))
    builder.add_node("publish", up.node("publish"))
    builder.add_node("notify", lambda s: {"log": ["notify"]})
    builder.add_edge(START, "fetch")
    builder.add_conditional_edges("fetch", route_on_blocked("publish", "notify"))
    builder.add_edge("publish", END)
    builder.add_edge("notify", END)
    return builder.compile(checkpointer=saver)


@pytest.fixture(params=["sqlite", "postgres"])
def saver(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A real checkpointer: SQLite in memory, or PostgreSQL (thread deleted afterwards)."""
    if request.param == "sqlite":
        with open_checkpointer(":memory:") as sqlite:
            yield sqlite
        return
    pytest.importorskip("langgraph.checkpoint.postgres")
    from langgraph.checkpoint.postgres import PostgresSaver

    with PostgresSaver.from_conn_string(services.postgres_url()) as pg:
        pg.setup()
        yield pg


@pytest.fixture
def config(saver: Any) -> Iterator[dict[str, Any]]:
    """A fresh thread, deleted afterwards."""
    thread = f"rerun-{uuid.uuid4().hex}"
    yield {"configurable": {"thread_id": thread}}
    saver.delete_thread(thread)


def test_fail_fix_rerun_on_a_real_saver(saver: Any, config: dict[str, Any]) -> None:
    """Fail once, fix the cause, rerun_blocked: fetch and publish run, flag cleared, record kept."""
    up = Upstream()
    up.down.add("fetch")
    graph = _pipeline(up, saver)
    first = graph.invoke({"topic": "t"}, config)
    assert first["routing_flags"] == {"blocked": True}
    assert [(e["node"], e["recovered"]) for e in first["errors"]] == [("fetch", False)]
    assert first["log"] == ["notify"]
    assert blocked_nodes(graph, config) == ["fetch"]

    up.down.clear()
    out = rerun_blocked(_pipeline(up, saver), config)
    assert out["answer"] == "publish:t"
    assert out["log"] == ["notify", "fetch", "publish"]
    assert out["routing_flags"] == {}
    assert out["errors"] == first["errors"]
    assert blocked_nodes(graph, config) == []
    assert graph.get_state(config).values == out


def test_failing_again_blocks_again_and_a_later_fix_still_reruns(
    saver: Any, config: dict[str, Any]
) -> None:
    """A rerun that fails adds a record and sets the flag; the next rerun after the fix works."""
    up = Upstream()
    up.down.add("fetch")
    graph = _pipeline(up, saver)
    graph.invoke({"topic": "t"}, config)
    again = rerun_blocked(graph, config)
    assert again["routing_flags"] == {"blocked": True}
    assert [e["node"] for e in again["errors"]] == ["fetch", "fetch"]
    assert blocked_nodes(graph, config) == ["fetch"]
    up.down.clear()
    out = rerun_blocked(graph, config)
    assert (out["answer"], out["routing_flags"], len(out["errors"])) == ("publish:t", {}, 2)
    assert up.calls == {"fetch": 3, "publish": 1}


def test_nothing_blocked_runs_nothing(saver: Any, config: dict[str, Any]) -> None:
    """On a thread that is not blocked, rerun_blocked returns its state and runs no node."""
    up = Upstream()
    graph = _pipeline(up, saver)
    done = graph.invoke({"topic": "t"}, config)
    assert rerun_blocked(graph, config) == done
    assert up.calls == {"fetch": 1, "publish": 1}


def test_parallel_failures_rerun_only_the_failed_nodes() -> None:
    """Three parallel nodes, two fail: only those two run again, each once."""
    up = Upstream()
    up.down |= {"a", "b"}
    builder = StateGraph(State)
    for name in ("a", "b", "c"):
        builder.add_node(name, up.node(name, answer=False))
        builder.add_edge(START, name)
        builder.add_edge(name, END)
    graph = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "parallel"}}
    graph.invoke({"topic": "t"}, config)
    assert sorted(blocked_nodes(graph, config)) == ["a", "b"]
    up.down.clear()
    out = rerun_blocked(graph, config)
    assert sorted(out["log"]) == ["a", "b", "c"]
    assert up.calls == {"a": 2, "b": 2, "c": 1}
    assert out["routing_flags"] == {}


def test_explicit_nodes() -> None:
    """nodes= picks what to run; a bare string is refused."""
    up = Upstream()
    up.down.add("fetch")
    graph = _pipeline(up, InMemorySaver())
    config = {"configurable": {"thread_id": "explicit"}}
    graph.invoke({"topic": "t"}, config)
    with pytest.raises(TypeError, match="list"):
        rerun_blocked(graph, config, nodes="fetch")
    up.down.clear()
    out = rerun_blocked(graph, config, nodes=["publish"])
    assert out["log"] == ["notify", "publish"]
    assert up.calls == {"fetch": 1, "publish": 1}


def test_send_spawned_failures_are_rerun_on_the_current_state() -> None:
    """A node reached through Send is re-run by name (documented: on the thread's state)."""
    up = Upstream()
    up.down.add("work")
    builder = StateGraph(State)
    builder.add_node("work", up.node("work"))
    builder.add_conditional_edges(START, lambda s: [Send("work", s)])
    builder.add_edge("work", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "send"}}
    graph.invoke({"topic": "t"}, config)
    assert blocked_nodes(graph, config) == ["work"]
    up.down.clear()
    assert rerun_blocked(graph, config)["answer"] == "work:t"


def test_a_failure_inside_a_subgraph_reruns_the_subgraph_node() -> None:
    """The parent node that runs the subgraph is re-run; the record is not duplicated."""
    up = Upstream()
    up.down.add("inner")
    sub = StateGraph(State)
    sub.add_node("inner", up.node("inner"))
    sub.add_edge(START, "inner")
    sub.add_edge("inner", END)
    builder = StateGraph(State)
    builder.add_node("sub", sub.compile())
    builder.add_edge(START, "sub")
    builder.add_edge("sub", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "subgraph"}}
    graph.invoke({"topic": "t"}, config)
    assert blocked_nodes(graph, config) == ["sub"]
    up.down.clear()
    out = rerun_blocked(graph, config)
    assert (out["answer"], out["routing_flags"]) == ("inner:t", {})
    assert [e["node"] for e in out["errors"]] == ["inner"]


def test_a_pending_interrupt_stays_pending() -> None:
    """Blocked -> a handler asking a human: the fixed node runs, the question stays open."""
    up = Upstream()
    up.down.add("fetch")

    def ask(state: State) -> dict[str, Any]:
        return {"log": [f"human said {interrupt('retry?')}"]}

    builder = StateGraph(State)
    builder.add_node("fetch", up.node("fetch"))
    builder.add_node("ask", ask)
    builder.add_edge(START, "fetch")
    builder.add_conditional_edges("fetch", route_on_blocked(END, "ask"))
    builder.add_edge("ask", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "interrupt"}}
    graph.invoke({"topic": "t"}, config)
    up.down.clear()
    out = rerun_blocked(graph, config)
    assert (out["answer"], out["routing_flags"], out["log"]) == ("fetch:t", {}, ["fetch"])
    assert graph.get_state(config).next == ("ask",)
    resumed = graph.invoke(Command(resume="ok"), config)
    assert (resumed["answer"], sorted(resumed["log"])) == ("fetch:t", ["fetch", "human said ok"])


@pytest.mark.parametrize(
    ("checkpointer", "config", "message"),
    [
        (None, {"configurable": {"thread_id": "x"}}, "checkpointer"),
        (InMemorySaver(), {}, "thread_id"),
    ],
)
def test_needs_a_checkpointer_and_a_thread(checkpointer: Any, config: Any, message: str) -> None:
    """Without a saved thread there is nothing to re-run: a clear ValueError."""
    graph = _pipeline(Upstream(), checkpointer)
    with pytest.raises(ValueError, match=message):
        rerun_blocked(graph, config)


@pytest.fixture
async def async_saver() -> AsyncIterator[Any]:
    """An async SQLite saver in memory."""
    async with AsyncSqliteSaver.from_conn_string(":memory:") as s:
        yield s


async def test_async_twin(async_saver: Any) -> None:
    """arerun_blocked does the same under ainvoke with an async saver."""
    up = Upstream()
    up.down.add("fetch")
    graph = _pipeline(up, async_saver)
    config = {"configurable": {"thread_id": "async"}}
    await graph.ainvoke({"topic": "t"}, config)
    assert await ablocked_nodes(graph, config) == ["fetch"]
    up.down.clear()
    out = await arerun_blocked(graph, config)
    assert (out["answer"], out["routing_flags"], len(out["errors"])) == ("publish:t", {}, 1)
    assert await ablocked_nodes(graph, config) == []
    assert await arerun_blocked(graph, config) == out


async def test_async_twin_on_postgres() -> None:
    """arerun_blocked on the async PostgreSQL saver."""
    pytest.importorskip("langgraph.checkpoint.postgres")
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    thread = f"rerun-apg-{uuid.uuid4().hex}"
    config = {"configurable": {"thread_id": thread}}
    async with AsyncPostgresSaver.from_conn_string(services.postgres_url()) as saver:
        await saver.setup()
        try:
            up = Upstream()
            up.down.add("fetch")
            graph = _pipeline(up, saver)
            await graph.ainvoke({"topic": "t"}, config)
            up.down.clear()
            out = await arerun_blocked(graph, config)
            assert (out["answer"], out["routing_flags"]) == ("publish:t", {})
            assert [e["node"] for e in out["errors"]] == ["fetch"]
        finally:
            await saver.adelete_thread(thread)
