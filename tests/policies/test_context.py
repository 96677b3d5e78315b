"""NodeContext, get_node_context() and the ids derived from a RunnableConfig."""

from __future__ import annotations

import asyncio
import collections
import operator
import re
import uuid
from typing import Annotated, Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy, Send

from langgraph_runner import GraphState, create_node, get_node_context
from langgraph_runner._policies.context import NodeContext, idempotency_key_for
from langgraph_runner._policies.run_scope import (
    forget_oldest,
    ids_from_config,
    new_trace_id,
    run_ids,
    run_scope,
    trace_id_for_run,
)
from langgraph_runner.testing import no_wait

HEX32 = re.compile(r"[0-9a-f]{32}")


class S(GraphState, total=False):
    x: int
    name: str


def make_ctx(**changes: Any) -> NodeContext:
    """A NodeContext with the required fields filled in."""
    fields: dict[str, Any] = {
        "node": "fetch",
        "trace_id": "trace-1",
        "graph_execution_id": "thread-1",
        "started_at": 100.0,
    }
    fields.update(changes)
    return NodeContext(**fields)


# ---------------------------------------------------------------- NodeContext


def test_node_context_defaults() -> None:
    """Optional fields default to a first attempt of one, with nothing else known."""
    ctx = make_ctx()
    assert (ctx.attempt, ctx.max_attempts) == (1, 1)
    assert (ctx.thread_id, ctx.run_id, ctx.task_id, ctx.deadline) == (None, None, None, None)
    assert (ctx.abort_signal, ctx.primary_error, ctx.idempotency_key) == (None, None, None)


@pytest.mark.parametrize("field", ["node", "attempt", "trace_id", "primary_error"])
def test_node_context_is_immutable(field: str) -> None:
    """No field of a NodeContext can be reassigned."""
    ctx = make_ctx()
    with pytest.raises(AttributeError):
        setattr(ctx, field, "changed")
    assert ctx == make_ctx()


def test_evolve_returns_a_changed_copy() -> None:
    """evolve() gives a new context with the changes; the original stays as it was."""
    ctx = make_ctx(max_attempts=3)
    nxt = ctx.evolve(attempt=2, deadline=5.0)
    assert (nxt.attempt, nxt.deadline, nxt.max_attempts, nxt.trace_id) == (2, 5.0, 3, "trace-1")
    assert (ctx.attempt, ctx.deadline) == (1, None)


def test_evolve_rejects_unknown_fields() -> None:
    """A typo in evolve() is an error, not a silently ignored change."""
    with pytest.raises((TypeError, ValueError)):
        make_ctx().evolve(atempt=2)


def test_no_context_outside_a_node() -> None:
    """Outside a node created by create_node there is no context."""
    assert get_node_context() is None


# ---------------------------------------------------------------- ids_from_config

RUN = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    ("config", "trace", "execution", "thread", "run"),
    [
        (
            {
                "configurable": {"trace_id": "tc", "thread_id": "th"},
                "metadata": {"trace_id": "tm"},
                "run_id": RUN,
            },
            "tc",
            "th",
            "th",
            str(RUN),
        ),
        (
            {"metadata": {"trace_id": "tm"}, "run_id": RUN},
            "tm",
            str(RUN),
            None,
            str(RUN),
        ),
        ({"run_id": RUN}, str(RUN), str(RUN), None, str(RUN)),
        ({"metadata": {"run_id": "r-meta"}}, "r-meta", "r-meta", None, "r-meta"),
        (
            {"configurable": {"thread_id": "th"}, "run_id": RUN},
            str(RUN),
            "th",
            "th",
            str(RUN),
        ),
        (
            {"metadata": {"thread_id": "th-meta", "trace_id": "tm"}},
            "tm",
            "th-meta",
            "th-meta",
            None,
        ),
        ({"configurable": {"thread_id": 42, "trace_id": 7}}, "7", "42", "42", None),
    ],
    ids=[
        "configurable-trace-wins",
        "metadata-trace",
        "run-id",
        "metadata-run-id",
        "thread-beats-run",
        "metadata-thread",
        "non-str-ids",
    ],
)
def test_ids_from_config(config: Any, trace: str, execution: str, thread: Any, run: Any) -> None:
    """trace: configurable, metadata, run id; execution: thread, run id, trace."""
    assert ids_from_config(config) == (trace, execution, thread, run)


@pytest.mark.parametrize(
    "config",
    [None, {}, {"configurable": {}}, {"configurable": None, "metadata": None}, {"tags": ["x"]}],
)
def test_ids_are_generated_when_nothing_is_known(config: Any) -> None:
    """Without any id, a fresh 32-hex trace id is generated and is also the execution id."""
    trace, execution, thread, run = ids_from_config(config)
    assert HEX32.fullmatch(trace)
    assert execution == trace
    assert (thread, run) == (None, None)


def test_generated_trace_ids_are_unique() -> None:
    """Each generated trace id is different."""
    assert len({ids_from_config(None)[0] for _ in range(1000)}) == 1000


def test_empty_trace_id_is_not_used() -> None:
    """An empty trace_id counts as absent."""
    trace, _, _, _ = ids_from_config({"configurable": {"trace_id": ""}, "run_id": RUN})
    assert trace == str(RUN)


@pytest.mark.parametrize(
    ("config", "run_id", "named"),
    [
        ({"configurable": {"trace_id": "t"}}, None, True),
        ({"metadata": {"trace_id": "t"}}, None, True),
        ({"run_id": RUN}, None, True),
        ({"metadata": {"run_id": "r"}}, None, True),
        ({"configurable": {"thread_id": "th"}}, "from-runtime", True),
        ({"configurable": {"thread_id": "th"}}, None, False),
        (None, None, False),
        (None, "from-runtime", True),
    ],
)
def test_run_ids_give_a_generated_runs_scope(config: Any, run_id: Any, named: bool) -> None:
    """run_ids: ids_from_config's four ids, and the run's scope when its id was generated."""
    anchor = object()
    ids = run_ids(config, run_id=run_id, run_anchor=anchor)
    assert ids[:4] == ids_from_config(config, run_id=run_id, run_anchor=anchor)
    if named:
        assert ids[4] is None
    else:
        assert ids[4] is run_scope(anchor)
        assert ids[4].trace_id == ids[0] == trace_id_for_run(anchor)
    assert run_ids(config, run_id=run_id)[4] is None  # no anchor: no run to keep anything for


def test_generated_trace_ids_share_a_process_prefix_and_count_up() -> None:
    """32 hex chars: the process's random half, then a counter (no uuid4 per id)."""
    first, second = new_trace_id(), new_trace_id()
    assert HEX32.fullmatch(first) and HEX32.fullmatch(second)
    assert first[:16] == second[:16]
    assert int(second[16:], 16) > int(first[16:], 16)


# ---------------------------------------------------------------- inside real graphs


def _recording_node(mode: str, seen: list[Any]) -> Any:
    if mode == "async":

        async def record(state: S) -> S:
            before = get_node_context()
            await asyncio.sleep(0)
            seen.append((before, get_node_context()))
            return {"x": 1}

        return record

    def record_sync(state: S) -> S:
        seen.append((get_node_context(), get_node_context()))
        return {"x": 1}

    record_sync.__name__ = "record"
    return record_sync


def _one_node_graph(node: Any) -> Any:
    builder = StateGraph(S)
    builder.add_node("record", node)
    builder.add_edge(START, "record")
    builder.add_edge("record", END)
    return builder.compile()


MODES = [("sync", "invoke"), ("sync", "ainvoke"), ("async", "ainvoke")]


@pytest.mark.parametrize(("fn_kind", "call"), MODES)
async def test_node_sees_its_context(fn_kind: str, call: str) -> None:
    """Inside a wrapped node (sync, sync in a worker thread, async) the context is there."""
    seen: list[Any] = []
    graph = _one_node_graph(create_node(_recording_node(fn_kind, seen), retry=3))
    config = {"configurable": {"thread_id": "thread-ctx", "trace_id": "trace-ctx"}}
    if call == "invoke":
        await asyncio.to_thread(graph.invoke, {}, config)
    else:
        await graph.ainvoke({}, config)
    [(ctx, again)] = seen
    assert isinstance(ctx, NodeContext)
    assert again == ctx
    assert (ctx.node, ctx.attempt, ctx.max_attempts) == ("record", 1, 3)
    assert (ctx.trace_id, ctx.graph_execution_id, ctx.thread_id) == (
        "trace-ctx",
        "thread-ctx",
        "thread-ctx",
    )
    assert ctx.task_id
    assert get_node_context() is None


def test_context_is_reset_after_the_node() -> None:
    """After a node ran, the caller's thread has no context left."""
    seen: list[Any] = []
    _one_node_graph(create_node(_recording_node("sync", seen))).invoke({})
    assert seen[0][0] is not None
    assert get_node_context() is None


def test_trace_id_from_metadata_reaches_the_node() -> None:
    """A trace id given in metadata is the node's trace id; no thread means execution = trace."""
    seen: list[Any] = []
    graph = _one_node_graph(create_node(_recording_node("sync", seen)))
    graph.invoke({}, {"metadata": {"trace_id": "from-metadata"}})
    ctx = seen[0][0]
    assert (ctx.trace_id, ctx.graph_execution_id, ctx.thread_id) == (
        "from-metadata",
        "from-metadata",
        None,
    )


async def test_concurrent_nodes_each_see_their_own_context() -> None:
    """Fan-out copies of an async node each keep their own context across awaits."""
    seen: list[tuple[str, Any, Any]] = []

    async def branch(state: dict[str, Any]) -> dict[str, Any]:
        before = get_node_context()
        for _ in range(5):
            await asyncio.sleep(0)
        seen.append((state["name"], before, get_node_context()))
        return {}

    builder = StateGraph(S)
    builder.add_node("branch", create_node(branch))
    builder.add_conditional_edges(
        START, lambda s: [Send("branch", {"name": n}) for n in ("a", "b", "c", "d")]
    )
    builder.add_edge("branch", END)
    await builder.compile().ainvoke({}, {"configurable": {"trace_id": "fan"}})
    assert sorted(name for name, _, _ in seen) == ["a", "b", "c", "d"]
    assert all(before is after for _, before, after in seen)
    assert len({ctx.task_id for _, ctx, _ in seen}) == 4
    assert {ctx.trace_id for _, ctx, _ in seen} == {"fan"}


def test_retries_advance_the_attempt_in_the_context() -> None:
    """Each retry sees the next attempt number with the same trace id."""
    from langgraph_runner.testing import no_wait

    attempts: list[tuple[int, str]] = []

    def flaky(state: S) -> S:
        ctx = get_node_context()
        assert ctx is not None
        attempts.append((ctx.attempt, ctx.trace_id))
        if ctx.attempt < 3:
            raise ConnectionError("transient")
        return {"x": 1}

    with no_wait():
        out = _one_node_graph(create_node(flaky, retry=3)).invoke(
            {}, {"configurable": {"trace_id": "retrying"}}
        )
    assert out["x"] == 1
    assert attempts == [(1, "retrying"), (2, "retrying"), (3, "retrying")]


def test_run_id_is_the_trace_id_in_a_real_graph() -> None:
    """Given only a run id, every node of the run uses it as trace and execution id."""
    seen: list[Any] = []
    builder = StateGraph(S)
    builder.add_node("first", create_node(_recording_node("sync", seen), name="first"))
    builder.add_node("second", create_node(_recording_node("sync", seen), name="second"))
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    builder.compile().invoke({}, {"run_id": RUN})
    contexts = [ctx for ctx, _ in seen]
    assert [c.run_id for c in contexts] == [str(RUN), str(RUN)]
    assert [c.trace_id for c in contexts] == [str(RUN), str(RUN)]
    assert [c.graph_execution_id for c in contexts] == [str(RUN), str(RUN)]


@pytest.mark.parametrize("call", ["invoke", "ainvoke"])
def test_one_invoke_without_ids_shares_one_generated_trace_id(call: str) -> None:
    """Without any caller id, all nodes of one invoke (subgraph included) share one trace id."""
    seen: list[Any] = []
    inner = StateGraph(S)
    inner.add_node("inner", create_node(_recording_node("sync", seen), name="inner"))
    inner.add_edge(START, "inner")
    sub = inner.compile()

    def call_sub(state: S, config: RunnableConfig) -> Any:
        # The config passed on, as LangGraph asks before Python 3.11 (no context in tasks).
        return sub.invoke(state, config)

    builder = StateGraph(S)
    builder.add_node("first", create_node(_recording_node("sync", seen), name="first"))
    builder.add_node("second", create_node(_recording_node("sync", seen), name="second"))
    builder.add_node("sub", call_sub)
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", "sub")
    graph = builder.compile()
    for _ in range(2):
        if call == "invoke":
            graph.invoke({})
        else:
            asyncio.run(graph.ainvoke({}))
    traces = [ctx.trace_id for ctx, _ in seen]
    executions = [ctx.graph_execution_id for ctx, _ in seen]
    assert len(traces) == 6 and all(HEX32.fullmatch(t) for t in traces)
    assert len(set(traces[:3])) == 1 and len(set(traces[3:])) == 1
    assert traces[0] != traces[3]  # each invoke is its own run
    assert executions == traces


def test_the_last_4096_runs_keep_their_trace_ids() -> None:
    """The run registry forgets its oldest runs in batches, never one of the last 4096."""
    anchors = [object() for _ in range(2 * 4096 + 10)]
    first = {id(a): trace_id_for_run(a) for a in anchors}
    for anchor in anchors[-4096:]:
        assert trace_id_for_run(anchor) == first[id(anchor)]
    assert trace_id_for_run(anchors[0]) != first[id(anchors[0])]  # long forgotten: a new id


def test_forget_oldest_keeps_the_newest() -> None:
    """forget_oldest drops entries from the old end until `keep` are left."""
    entries = collections.OrderedDict((i, str(i)) for i in range(10))
    forget_oldest(entries, 4)
    assert list(entries) == [6, 7, 8, 9]
    forget_oldest(entries, 8)
    assert list(entries) == [6, 7, 8, 9]


def test_trace_id_for_run_is_stable_per_anchor() -> None:
    """The same run object always maps to the same id; another object to another id."""
    first, second = object(), object()
    assert trace_id_for_run(first) == trace_id_for_run(first)
    assert trace_id_for_run(first) != trace_id_for_run(second)


# ---------------------------------------------------------------- idempotency_key

HEX32_KEY = re.compile(r"[0-9a-f]{32}")


class Crash(BaseException):
    """Stands in for a process dying mid-node: nothing in the package catches it."""


class K(GraphState, total=False):
    keys: Annotated[list[str], operator.add]
    i: int


def _keyed(name: str, keys: list[tuple[str, str | None]], fail: list[BaseException]) -> Any:
    """A node that notes (name, idempotency_key) on every attempt and raises what ``fail`` holds."""

    def fn(state: K) -> dict[str, Any]:
        ctx = get_node_context()
        assert ctx is not None
        keys.append((name, ctx.idempotency_key))
        if fail:
            raise fail.pop()
        return {"keys": [ctx.idempotency_key or ""]}

    fn.__name__ = name
    return fn


def test_idempotency_key_for_is_stable_and_distinct() -> None:
    """The key is a pure function of thread, namespace and task id; each part counts."""
    key = idempotency_key_for("t1", "a:task", "task")
    assert HEX32_KEY.fullmatch(key)
    assert key == idempotency_key_for("t1", "a:task", "task")
    others = {
        idempotency_key_for("t2", "a:task", "task"),
        idempotency_key_for("t1", "b:task", "task"),
        idempotency_key_for("t1", "a:task", "other"),
        idempotency_key_for(None, "a:task", "task"),
    }
    assert key not in others and len(others) == 4


def test_no_idempotency_key_outside_a_graph() -> None:
    """A wrapped node called directly (no LangGraph task) has no key."""
    seen: list[Any] = []
    create_node(lambda state: seen.append(get_node_context()) or {})({})
    assert seen[0].idempotency_key is None


def test_idempotency_key_is_the_same_across_in_node_retries() -> None:
    """create_node(retry=) attempts of one task share one key."""
    keys: list[tuple[str, str | None]] = []
    node = create_node(_keyed("a", keys, [ConnectionError(), ConnectionError()]), retry=3)
    with no_wait():
        _one_node_graph(node).invoke({})
    assert len(keys) == 3 and len({k for _, k in keys}) == 1 and keys[0][1] is not None


def test_idempotency_key_is_the_same_across_langgraph_retry_policy() -> None:
    """LangGraph RetryPolicy attempts of one task share one key."""
    keys: list[tuple[str, str | None]] = []
    g: StateGraph[Any] = StateGraph(K)
    g.add_node(
        "a",
        create_node(_keyed("a", keys, [ConnectionError()]), on_error="raise"),
        retry_policy=RetryPolicy(initial_interval=0.001, jitter=False),
    )
    g.add_edge(START, "a")
    g.add_edge("a", END)
    g.compile().invoke({})
    assert len(keys) == 2 and keys[0][1] == keys[1][1] is not None


def test_idempotency_key_survives_crash_and_resume() -> None:
    """A task re-run by invoke(None) after a crash on SqliteSaver keeps its key."""
    keys: list[tuple[str, str | None]] = []
    g: StateGraph[Any] = StateGraph(K)
    g.add_node("a", create_node(_keyed("a", keys, [])))
    g.add_node("b", create_node(_keyed("b", keys, [Crash()])))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", END)
    config: Any = {"configurable": {"thread_id": f"ctx-{uuid.uuid4()}"}}
    with SqliteSaver.from_conn_string(":memory:") as saver:
        graph = g.compile(checkpointer=saver)
        with pytest.raises(Crash):
            graph.invoke({}, config, durability="sync")
        graph.invoke(None, config, durability="sync")
    assert [n for n, _ in keys] == ["a", "b", "b"]
    assert keys[1][1] == keys[2][1]
    assert keys[0][1] != keys[1][1]  # another step, another key


def test_idempotency_keys_differ_per_send_item_and_thread() -> None:
    """Send fan-out items and threads each get their own key; a re-run thread repeats none."""
    keys: list[tuple[str, str | None]] = []
    g: StateGraph[Any] = StateGraph(K)
    g.add_node("m", create_node(_keyed("m", keys, [])))
    g.add_conditional_edges(START, lambda s: [Send("m", {"i": i}) for i in range(3)], ["m"])
    g.add_edge("m", END)
    with SqliteSaver.from_conn_string(":memory:") as saver:
        graph = g.compile(checkpointer=saver)
        for _ in range(2):
            graph.invoke({}, {"configurable": {"thread_id": f"ctx-{uuid.uuid4()}"}})
    found = [k for _, k in keys]
    assert len(found) == 6 and len(set(found)) == 6


def test_idempotency_keys_differ_in_subgraphs() -> None:
    """A node inside a subgraph run twice by its parent gets a different key each time."""
    keys: list[tuple[str, str | None]] = []
    inner: StateGraph[Any] = StateGraph(K)
    inner.add_node("leaf", create_node(_keyed("leaf", keys, [])))
    inner.add_edge(START, "leaf")
    inner.add_edge("leaf", END)
    sub = inner.compile()
    outer: StateGraph[Any] = StateGraph(K)
    outer.add_node("one", sub)
    outer.add_node("two", sub)
    outer.add_edge(START, "one")
    outer.add_edge("one", "two")
    outer.add_edge("two", END)
    outer.compile().invoke({})
    assert len(keys) == 2 and keys[0][1] != keys[1][1]
