"""Tests for langgraph_runner._reports.report: run reports from checkpoint history."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import operator
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AnyMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.cache.memory import InMemoryCache
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, Send, interrupt

from langgraph_runner import (
    Budget,
    GraphState,
    NodeCache,
    RetryConfig,
    StateSchemaError,
    create_node,
    route_on_blocked,
)
from langgraph_runner._limits.stores import InProcessLimitStore
from langgraph_runner._reports import report as report_module
from langgraph_runner._reports.report import (
    NodeReport,
    NodeStatus,
    RunReport,
    RunStatus,
    ThreadNotFoundError,
    run_report,
)
from langgraph_runner._runs.checkpoint import (
    open_async_checkpointer,
    open_checkpointer,
    saved_tasks,
)
from langgraph_runner.testing import no_wait
from tests.conftest import counting_closures
from tests.limits_fakes import UsageModel


def _merge(a: dict[str, bool] | None, b: dict[str, bool] | None) -> dict[str, bool]:
    return {**(a or {}), **(b or {})}


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    errors: Annotated[list[dict[str, Any]], operator.add]
    routing_flags: Annotated[dict[str, bool], _merge]
    loops: int


def record(node: str, *, attempts: int = 3, recovered: bool = False) -> dict[str, Any]:
    """An error record shaped like the ones wrapped nodes write."""
    return {
        "node": node,
        "code": "RETRY_EXHAUSTED",
        "message": f"Node '{node}' failed after {attempts} attempt(s): down",
        "error_type": "ConnectionError",
        "category": "network",
        "recoverable": True,
        "attempts": attempts,
        "timestamp": "2026-11-22T09:00:00+00:00",
        "duration_ms": 12.5,
        "stack": None,
        "trace_id": "t-1",
        "graph_execution_id": "g-1",
        "retry_after": None,
        "recovered": recovered,
    }


class Behaviour:
    """Switches the test graph's middle node between outcomes."""

    def __init__(self, mode: str = "ok", saver: SqliteSaver | None = None) -> None:
        self.mode = mode
        self.saver = saver  # "raise" waits there for p1's write (see _wait_for_p1_saved)


def _wait_for_p1_saved(saver: SqliteSaver, config: RunnableConfig) -> None:
    """Wait until the saver holds p1's write for this run's current step.

    When a task fails, LangGraph abandons the siblings still running, so without this the
    failed step would hold p1's writes or not depending on which thread was faster.
    """
    thread = {"configurable": {"thread_id": config["configurable"]["thread_id"]}}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        saved = saver.get_tuple(thread)
        if saved and any(w[1:] == ("log", ["p1"]) for w in saved.pending_writes or ()):
            return
        time.sleep(0.001)
    raise AssertionError("p1's write was not saved beside mid within 10 s")


def build(behaviour: Behaviour) -> StateGraph[State]:
    """a -> (p1, mid) -> join -> fan -Send-> worker x2 -> z; 'never' is on an untaken branch."""

    def simple(name: str) -> Any:
        def node(state: State) -> dict[str, Any]:
            return {"log": [name]}

        return node

    def mid(state: State, config: RunnableConfig) -> dict[str, Any]:
        if behaviour.mode == "raise":
            if behaviour.saver is not None:
                _wait_for_p1_saved(behaviour.saver, config)
            raise ConnectionError("db down, password=hunter2")
        if behaviour.mode == "ask":
            return {"log": [str(interrupt({"question": "approve?"}))]}
        if behaviour.mode == "aborted":  # a wrapped node that recorded its abort
            aborted = {**record("mid", attempts=1), "code": "NODE_ABORTED"}
            return {"log": ["mid"], "errors": [aborted], "routing_flags": {"blocked": True}}
        if behaviour.mode in ("blocked", "recovered"):
            recovered = behaviour.mode == "recovered"
            return {
                "log": ["mid"],
                "errors": [record("mid", recovered=recovered)],
                "routing_flags": {"blocked": not recovered},
            }
        return {"log": ["mid"]}

    def route(state: State) -> str:
        return END if (state.get("routing_flags") or {}).get("blocked") else "fan"

    builder = StateGraph(State)
    for name in ["a", "p1", "fan", "z", "never"]:
        builder.add_node(name, simple(name))
    builder.add_node("mid", mid)
    builder.add_node("join", simple("join"))
    builder.add_node("worker", lambda arg: {"log": [f"w{arg['i']}"]})
    builder.add_edge(START, "a")
    builder.add_edge("a", "p1")
    builder.add_edge("a", "mid")
    builder.add_edge(["p1", "mid"], "join")
    builder.add_conditional_edges("join", route, ["fan", END])
    builder.add_conditional_edges(
        "fan", lambda s: [Send("worker", {"i": i}) for i in range(2)], ["worker"]
    )
    builder.add_edge("worker", "z")
    builder.add_conditional_edges("z", lambda s: END, [END, "never"])
    return builder


@pytest.fixture
def saver() -> Iterator[SqliteSaver]:
    """An in-memory SQLite saver."""
    with open_checkpointer("sqlite:///:memory:") as cp:
        assert isinstance(cp, SqliteSaver)
        yield cp


def _run(saver: SqliteSaver, mode: str) -> tuple[Any, RunnableConfig, Behaviour]:
    behaviour = Behaviour(mode, saver)
    graph = build(behaviour).compile(checkpointer=saver)
    config: RunnableConfig = {"configurable": {"thread_id": f"r-{uuid.uuid4().hex}"}}
    with contextlib.suppress(ConnectionError):
        graph.invoke(State(log=[]), config)
    return graph, config, behaviour


def _skipped(name: str) -> NodeReport:
    return NodeReport(name=name, status=NodeStatus.SKIPPED, attempts=0, runs=0)


def test_completed_run(saver: SqliteSaver) -> None:
    """A clean run is completed; every executed node succeeded once, in execution order."""
    graph, config, _ = _run(saver, "ok")
    report = run_report(graph, config)
    assert report.status is RunStatus.COMPLETED
    assert report.next == [] and report.interrupts == [] and report.errors == []
    ran = [n for n in report.nodes if n.status is not NodeStatus.SKIPPED]
    assert [n.name for n in ran] == ["a", "mid", "p1", "join", "fan", "worker", "z"]
    assert all(n.status is NodeStatus.SUCCEEDED and n.attempts == 1 for n in ran)
    assert report.node("worker").runs == 2
    assert [report.node(n).step for n in ("a", "mid", "join", "fan", "worker", "z")] == [
        0,
        1,
        2,
        3,
        4,
        5,
    ]


def test_never_executed_graph_node_is_skipped_only_with_graph(saver: SqliteSaver) -> None:
    """With the graph, an untaken node is 'skipped'; a bare saver lists only nodes it saw."""
    graph, config, _ = _run(saver, "ok")
    never = run_report(graph, config).node("never")
    assert (never.status, never.attempts, never.runs) == (NodeStatus.SKIPPED, 0, 0)
    assert never.step is None
    with pytest.raises(KeyError):
        run_report(saver, config).node("never")


def test_timestamps_and_durations_follow_checkpoints(saver: SqliteSaver) -> None:
    """Nodes carry their step's checkpoint times; durations match them and are non-negative."""
    graph, config, _ = _run(saver, "ok")
    report = run_report(graph, config)
    assert report.started_at is not None and report.updated_at is not None
    assert report.started_at <= report.updated_at
    for node in (n for n in report.nodes if n.status is NodeStatus.SUCCEEDED):
        assert node.started_at is not None and node.finished_at is not None
        assert report.started_at <= node.started_at <= node.finished_at <= report.updated_at
        assert node.duration_ms is not None and node.duration_ms >= 0
    assert report.node("a").finished_at == report.node("mid").started_at


@pytest.mark.parametrize("mode", ["ok", "raise", "ask", "blocked", "recovered"])
def test_graph_and_bare_checkpointer_agree(saver: SqliteSaver, mode: str) -> None:
    """Reading through the graph or the bare saver gives the same statuses and timings."""
    graph, config, _ = _run(saver, mode)
    from_graph, from_saver = run_report(graph, config), run_report(saver, config)
    ran = [n for n in from_graph.nodes if n.step is not None]  # seen in the history
    assert from_saver.nodes == ran
    # Only the graph knows the steps never reached: skipped when over, else pending.
    same = {"nodes": ran, "summary": {}, "steps_total": None}
    assert from_saver.model_copy(update=same) == from_graph.model_copy(update=same)
    never = [n for n in from_graph.nodes if n.step is None]
    assert from_graph.steps_total == len(from_graph.nodes)
    extra = {s: sum(n.status is NodeStatus(s) for n in never) for s in ("skipped", "pending")}
    assert from_graph.summary == {k: v + extra.get(k, 0) for k, v in from_saver.summary.items()}


def test_node_raising_fails_the_run(saver: SqliteSaver) -> None:
    """A node exception stops the run: status failed, node failed with a sanitized error."""
    _, config, _ = _run(saver, "raise")
    report = run_report(saver, config)
    assert report.status is RunStatus.FAILED
    assert report.next == ["mid"]
    mid = report.node("mid")
    assert (mid.status, mid.attempts, mid.runs) == (NodeStatus.FAILED, 1, 0)
    assert mid.error is not None and "ConnectionError" in mid.error
    assert "hunter2" not in mid.error
    assert report.node("p1").status is NodeStatus.SUCCEEDED
    assert "hunter2" not in report.model_dump_json() + report.to_table()


def test_failed_node_resumed_after_fix_completes(saver: SqliteSaver) -> None:
    """After the cause is fixed and the thread resumed, the run and the node succeed."""
    graph, config, behaviour = _run(saver, "raise")
    behaviour.mode = "ok"
    graph.invoke(None, config)
    report = run_report(graph, config)
    assert report.status is RunStatus.COMPLETED
    mid = report.node("mid")
    assert (mid.status, mid.runs) == (NodeStatus.SUCCEEDED, 1)
    assert mid.error is not None  # the earlier failure stays visible


def test_pending_interrupt_reports_interrupted(saver: SqliteSaver) -> None:
    """A node waiting on interrupt() makes the run and the node 'interrupted'."""
    graph, config, _ = _run(saver, "ask")
    report = run_report(graph, config)
    assert report.status is RunStatus.INTERRUPTED
    assert report.node("mid").status is NodeStatus.INTERRUPTED
    assert [i["value"] for i in report.interrupts] == [{"question": "approve?"}]
    graph.invoke(Command(resume="yes"), config)
    after = run_report(graph, config)
    assert after.status is RunStatus.COMPLETED and after.interrupts == []
    assert after.node("mid").status is NodeStatus.SUCCEEDED


def test_blocked_flag_at_end_reports_blocked(saver: SqliteSaver) -> None:
    """routing_flags.blocked at the end means 'blocked'; the record fails its node."""
    graph, config, _ = _run(saver, "blocked")
    report = run_report(graph, config)
    assert report.status is RunStatus.BLOCKED and report.blocked
    mid = report.node("mid")
    assert (mid.status, mid.attempts) == (NodeStatus.FAILED, 3)
    assert mid.errors == [record("mid")]
    assert report.errors == [record("mid")]
    assert report.node("fan").status is NodeStatus.SKIPPED


def test_recovered_record_keeps_node_succeeded(saver: SqliteSaver) -> None:
    """A recovered error record is listed and counts attempts but the node succeeded."""
    graph, config, _ = _run(saver, "recovered")
    report = run_report(graph, config)
    assert report.status is RunStatus.COMPLETED
    mid = report.node("mid")
    assert (mid.status, mid.attempts, mid.errors) == (
        NodeStatus.SUCCEEDED,
        3,
        [record("mid", recovered=True)],
    )


def test_stopped_mid_run_reports_running_with_pending_nodes(saver: SqliteSaver) -> None:
    """A run stopped between steps is 'running' with the next nodes pending."""
    graph = build(Behaviour()).compile(checkpointer=saver)
    config: RunnableConfig = {"configurable": {"thread_id": f"r-{uuid.uuid4().hex}"}}
    for _ in graph.stream(State(log=[]), config):
        break
    report = run_report(saver, config)
    assert report.status is RunStatus.RUNNING
    assert sorted(report.next) == ["mid", "p1"]
    assert {report.node("p1").status, report.node("mid").status} == {NodeStatus.PENDING}
    assert report.node("mid").attempts == 0
    assert run_report(graph, config).status is RunStatus.RUNNING


def test_loop_counts_runs_and_uses_latest_step() -> None:
    """A node executed several times reports its number of runs and its latest step."""

    def body(state: State) -> dict[str, Any]:
        return {"loops": state.get("loops", 0) + 1}

    builder = StateGraph(State)
    builder.add_node("body", body)
    builder.add_edge(START, "body")
    builder.add_conditional_edges("body", lambda s: "body" if s["loops"] < 3 else END)
    with open_checkpointer(":memory:") as cp:
        graph = builder.compile(checkpointer=cp)
        graph.invoke({"loops": 0}, {"configurable": {"thread_id": "loop"}})
        entry = run_report(cp, "loop").node("body")
    assert (entry.runs, entry.step, entry.attempts) == (3, 2, 1)


def test_report_is_plain_json(saver: SqliteSaver) -> None:
    """model_dump_json round-trips through json and back into the model."""
    graph, config, _ = _run(saver, "blocked")
    report = run_report(graph, config)
    data = json.loads(report.model_dump_json())
    assert data["status"] == "blocked"
    assert data["nodes"][0].keys() >= {"name", "status", "attempts", "errors"}
    assert RunReport.model_validate(data) == report


def test_to_table_is_fixed_width(saver: SqliteSaver) -> None:
    """The table has a header line and aligned columns, one row per node."""
    graph, config, _ = _run(saver, "blocked")
    table = run_report(graph, config).to_table()
    lines = table.splitlines()
    assert lines[0].startswith(f"thread {config['configurable']['thread_id']}: blocked")
    header, rows = lines[2], lines[3 : lines.index("", 3)]
    assert header.split()[:4] == ["NODE", "STATUS", "ATTEMPTS", "RUNS"]
    col = header.index("STATUS")
    for row in rows:
        name = row.split()[0]
        assert row[col:].split()[0] in {s.value for s in NodeStatus}, name
    assert any("RETRY_EXHAUSTED" in row for row in rows if row.startswith("mid "))


def test_unknown_thread_raises(saver: SqliteSaver) -> None:
    """A thread without checkpoints raises ThreadNotFoundError (a LookupError)."""
    graph = build(Behaviour()).compile(checkpointer=saver)
    for source in (graph, saver):
        with pytest.raises(ThreadNotFoundError, match="nope"):
            run_report(source, "nope")
    assert issubclass(ThreadNotFoundError, LookupError)


def test_bad_source_and_config_are_rejected(saver: SqliteSaver) -> None:
    """Neither graph nor saver -> TypeError; a config without thread id -> ValueError."""
    with pytest.raises(TypeError, match="checkpoint saver"):
        run_report(object(), "t")
    with pytest.raises(ValueError, match="thread_id"):
        run_report(saver, {"configurable": {}})


def test_node_report_fields() -> None:
    """NodeReport exposes the pinned fields name, status, attempts and errors."""
    entry = NodeReport(name="x", status=NodeStatus.PENDING, attempts=0, runs=0)
    expected = {"name": "x", "status": "pending", "attempts": 0, "errors": []}
    assert entry.model_dump(mode="json").items() >= expected.items()


def test_report_on_wrapped_nodes_with_graph_state() -> None:
    """With create_node and GraphState, a terminal failure reads as blocked with its record."""

    class AppState(GraphState, total=False):
        log: Annotated[list[str], operator.add]

    def fetch(state: AppState) -> dict[str, Any]:
        raise ConnectionError("upstream down")

    def publish(state: AppState) -> dict[str, Any]:
        return {"log": ["published"]}

    builder = StateGraph(AppState)
    builder.add_node("fetch", create_node(fetch, retry=3))
    builder.add_node("publish", create_node(publish))
    builder.add_edge(START, "fetch")
    builder.add_conditional_edges("fetch", route_on_blocked("publish", END), ["publish", END])
    builder.add_edge("publish", END)
    with open_checkpointer(":memory:") as cp, no_wait():
        graph = builder.compile(checkpointer=cp)
        graph.invoke({"log": []}, {"configurable": {"thread_id": "wrapped"}})
        from_graph, from_saver = run_report(graph, "wrapped"), run_report(cp, "wrapped")
    assert from_graph.status is RunStatus.BLOCKED
    fetch_entry = from_graph.node("fetch")
    assert (fetch_entry.status, fetch_entry.attempts) == (NodeStatus.FAILED, 3)
    assert [e["code"] for e in fetch_entry.errors] == ["RETRY_EXHAUSTED"]
    assert from_graph.node("publish").status is NodeStatus.SKIPPED
    assert from_saver.nodes == [fetch_entry]


async def test_report_from_async_saver_in_a_worker_thread() -> None:
    """An async saver is read by running run_report in a worker thread."""
    async with open_async_checkpointer(":memory:") as cp:
        graph = build(Behaviour()).compile(checkpointer=cp)
        await graph.ainvoke(State(log=[]), {"configurable": {"thread_id": "async"}})
        report = await asyncio.to_thread(run_report, cp, "async")
        assert await asyncio.to_thread(run_report, graph, "async") == report.model_copy(
            update={
                "nodes": [*report.nodes, _skipped("never")],
                "summary": {**report.summary, "skipped": 1},
                "steps_total": 8,
            }
        )
    assert report.status is RunStatus.COMPLETED
    assert {n.name for n in report.nodes} == {"a", "p1", "mid", "join", "fan", "worker", "z"}


def test_update_state_and_fork_follow_the_latest_chain(saver: SqliteSaver) -> None:
    """update_state supersedes unrun tasks; a fork re-runs from its checkpoint; sources agree."""
    graph = build(Behaviour()).compile(checkpointer=saver, interrupt_before=["join"])
    config: RunnableConfig = {"configurable": {"thread_id": f"r-{uuid.uuid4().hex}"}}
    graph.invoke(State(log=[]), config)
    paused = run_report(graph, config)
    assert (paused.status, paused.next) == (RunStatus.RUNNING, ["join"])
    graph.update_state(config, {"log": ["edited"]}, as_node="mid")
    graph.invoke(None, config)
    done = run_report(graph, config)
    assert done.status is RunStatus.COMPLETED
    assert (done.node("join").runs, done.node("mid").runs) == (1, 1)
    assert run_report(saver, config).nodes == [n for n in done.nodes if n.step is not None]
    before_mid = next(s for s in graph.get_state_history(config) if "mid" in s.next)
    graph.invoke(None, before_mid.config)
    forked = run_report(graph, config)
    assert (forked.status, forked.next) == (RunStatus.RUNNING, ["join"])
    assert forked.node("join").status is NodeStatus.PENDING
    assert run_report(saver, config).nodes == [n for n in forked.nodes if n.step is not None]


_TIMES = {"started_at", "finished_at", "duration_ms"}


def _thread(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


@counting_closures
def test_cache_hit_reports_succeeded_because_checkpoints_do_not_record_hits() -> None:
    """A node served from NodeCache reads as succeeded: checkpoints save a hit like a run."""
    calls: list[int] = []

    def fetch(state: State) -> dict[str, Any]:
        calls.append(1)
        return {"log": ["fetched"]}

    builder = StateGraph(State)
    builder.add_node("fetch", create_node(fetch, cache=NodeCache(backend=InMemoryCache())))
    builder.add_edge(START, "fetch")
    with open_checkpointer(":memory:") as cp:
        graph = builder.compile(checkpointer=cp)
        for thread in ("ran", "hit"):
            graph.invoke(State(log=[]), {"configurable": {"thread_id": thread}})
        ran, hit = run_report(graph, "ran"), run_report(graph, "hit")
        ran_writes = [t.writes for t in saved_tasks(list(cp.list(_thread("ran")))[1])]
        hit_writes = [t.writes for t in saved_tasks(list(cp.list(_thread("hit")))[1])]
    assert calls == [1]
    assert hit_writes == ran_writes == [(("log", ["fetched"]),)]
    assert hit.node("fetch").model_dump(exclude=_TIMES) == ran.node("fetch").model_dump(
        exclude=_TIMES
    )
    assert hit.node("fetch").status is NodeStatus.SUCCEEDED


def test_summary_counts_every_status_and_filter_keeps_it(saver: SqliteSaver) -> None:
    """summary counts nodes per status; a status filter lists fewer nodes, same summary."""
    graph, config, _ = _run(saver, "blocked")
    report = run_report(graph, config)
    assert set(report.summary) == {s.value for s in NodeStatus}
    assert report.summary["failed"] == 1
    assert report.summary["succeeded"] == 3  # a, p1, join
    assert sum(report.summary.values()) == len(report.nodes)
    only = run_report(graph, config, status=["failed", NodeStatus.SKIPPED])
    assert {n.name: n.status.value for n in only.nodes} == {
        "mid": "failed",
        "fan": "skipped",
        "worker": "skipped",
        "z": "skipped",
        "never": "skipped",
    }
    assert only.summary == report.summary
    assert report.filter("cached").nodes == []
    with pytest.raises(ValueError, match="'done'"):
        run_report(graph, config, status=["done"])


class ArtifactState(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    errors: Annotated[list[dict[str, Any]], operator.add]
    artifact_paths: Annotated[dict[str, str], _merge]
    cache_hits: Annotated[list[str], operator.add]


def _artifact_graph() -> StateGraph[ArtifactState]:
    def render(state: ArtifactState) -> dict[str, Any]:
        return {"artifact_paths": {"pdf": "out/report.pdf", "png": "out/chart.png"}}

    def upload(state: ArtifactState) -> dict[str, Any]:
        failed = {**record("upload", recovered=True), "artifact_paths": {"log": "out/up.log"}}
        return {"errors": [failed], "log": ["uploaded"]}

    def lookup(state: ArtifactState) -> dict[str, Any]:
        return {"log": ["from cache"], "cache_hits": ["lookup"]}

    builder = StateGraph(ArtifactState)
    builder.add_node("render", render)
    builder.add_node("upload", upload)
    builder.add_node("lookup", lookup)
    builder.add_edge(START, "render")
    builder.add_edge("render", "upload")
    builder.add_edge("upload", "lookup")
    builder.add_edge("lookup", END)
    return builder


def test_artifacts_per_node_from_writes_and_records(saver: SqliteSaver) -> None:
    """A node's artifact_paths writes and its records' artifact paths show on its entry."""
    graph = _artifact_graph().compile(checkpointer=saver)
    graph.invoke(ArtifactState(log=[]), _thread("art"))
    for report in (run_report(graph, "art"), run_report(saver, "art")):
        assert report.node("render").artifacts == {
            "pdf": "out/report.pdf",
            "png": "out/chart.png",
        }
        assert report.node("upload").artifacts == {"log": "out/up.log"}
        assert report.node("lookup").artifacts == {}
        assert report.artifacts == {"pdf": "out/report.pdf", "png": "out/chart.png"}
        assert "artifact: render pdf = out/report.pdf" in report.to_table()


def test_node_listing_itself_in_cache_hits_is_cached(saver: SqliteSaver) -> None:
    """A node whose own writes list it under cache_hits reports cached, from both sources."""
    graph = _artifact_graph().compile(checkpointer=saver)
    graph.invoke(ArtifactState(log=[]), _thread("hit-marker"))
    for report in (run_report(graph, "hit-marker"), run_report(saver, "hit-marker")):
        assert report.node("lookup").status is NodeStatus.CACHED
        assert report.node("render").status is NodeStatus.SUCCEEDED
        assert report.summary["cached"] == 1
        assert report.status is RunStatus.COMPLETED


def test_aborted_run_is_cancelled_not_failed(saver: SqliteSaver) -> None:
    """A run stopped by its abort signal reports cancelled (the node too); an error stays failed."""
    from langgraph_runner import ABORT_SIGNAL_KEY, AbortController

    builder = StateGraph(GraphState)
    builder.add_node("a", create_node(lambda s: {}, name="a"))
    builder.add_edge(START, "a")
    graph = builder.compile(checkpointer=saver)
    ctl = AbortController()
    ctl.abort("user cancelled")
    config: RunnableConfig = {"configurable": {"thread_id": "abort", ABORT_SIGNAL_KEY: ctl.signal}}
    with pytest.raises(Exception, match="aborted"):
        graph.invoke({}, config)
    for report in (run_report(graph, "abort"), run_report(saver, "abort")):
        assert report.status is RunStatus.CANCELLED
        assert report.node("a").status is NodeStatus.CANCELLED
    _, failed, _ = _run(saver, "raise")
    assert run_report(saver, failed).status is RunStatus.FAILED


def test_recorded_abort_that_blocks_the_run_is_cancelled(saver: SqliteSaver) -> None:
    """A run blocked by an unrecovered NODE_ABORTED record is cancelled, not blocked."""
    graph, config, _ = _run(saver, "aborted")
    report = run_report(graph, config)
    assert (report.status, report.blocked) == (RunStatus.CANCELLED, True)
    assert report.node("mid").status is NodeStatus.CANCELLED
    _, blocked, _ = _run(saver, "blocked")
    assert run_report(saver, blocked).status is RunStatus.BLOCKED


def _no_updates(step: Any) -> Any:
    return dataclasses.replace(step, tasks=tuple(t for t in step.tasks if t.name != "__update__"))


@pytest.mark.parametrize("mode", ["ok", "raise", "ask", "blocked", "recovered", "aborted"])
def test_history_read_from_the_graphs_saver_equals_get_state_history(
    saver: SqliteSaver, mode: str
) -> None:
    """From a graph, the history is decoded from its saver (fast) and equals the graph's own.

    Covers parallel steps, a join, Send fan-out, an untaken branch, a raise, an
    interrupt, then a resume, an update_state and a fork from an old checkpoint.
    """
    from langgraph_runner._reports.steps import from_graph, from_graph_saver

    graph, config, behaviour = _run(saver, mode)
    cfg: RunnableConfig = {"configurable": {**config["configurable"], "checkpoint_ns": ""}}
    graph_nodes = [n for n in graph.nodes if not n.startswith("__")]

    def agree() -> None:
        fast = from_graph_saver(graph, cfg)
        assert fast is not None  # a StateGraph on a saver: the fast path is taken
        steps, values = from_graph(graph, cfg)
        assert fast[1] == values
        # The saver also sees update_state's own task ("__update__"), which reports skip.
        assert [_no_updates(s) for s in fast[0]] == steps
        report = run_report(graph, config)
        built = report_module._build(report.thread_id, steps, values, graph_nodes)
        assert report == report_module._with_run(built, steps[-1], None, graph_nodes)

    agree()
    behaviour.mode = "ok"
    graph.invoke(Command(resume="yes") if mode == "ask" else None, config)
    agree()
    graph.update_state(config, {"log": ["edited"]}, as_node="a")
    agree()
    first = list(graph.get_state_history(config))[-2].config
    graph.invoke(None, first)  # a fork: the thread's latest chain now starts over from there
    agree()


def test_report_falls_back_to_the_graph_where_the_saver_cannot_tell() -> None:
    """Without a saver on the graph (or for a non-StateGraph), the graph is read as before."""
    from langgraph_runner._reports.steps import from_graph_saver

    graph = build(Behaviour()).compile()
    assert from_graph_saver(graph, {"configurable": {"thread_id": "t"}}) is None


# ------------------------------------------------- what another process reads back


def _reports_elsewhere(db: str, *reads: tuple[str, str | None]) -> list[dict[str, Any]]:
    """run_report of each (thread, tenant) of a SQLite file, read by one new Python process
    (no in-memory result); a missing thread reads as ``{"missing": message}``."""
    import subprocess
    import sys

    code = (
        "import sys, json\n"
        "from langgraph_runner.runs import open_checkpointer, run_report\n"
        "from langgraph_runner._records.exceptions import ThreadNotFoundError\n"
        "with open_checkpointer('sqlite:///' + sys.argv[1]) as saver:\n"
        "    for thread, tenant in json.loads(sys.argv[2]):\n"
        "        try:\n"
        "            r = run_report(saver, thread, tenant=tenant)\n"
        "        except ThreadNotFoundError as exc:\n"
        "            print(json.dumps({'missing': str(exc)}))\n"
        "        else:\n"
        "            print(r.model_dump_json())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, db, json.dumps(reads)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = out.stdout.strip().splitlines()[-len(reads) :]
    return [dict(json.loads(line)) for line in lines]


def _report_elsewhere(db: str, thread: str, tenant: str | None = None) -> dict[str, Any]:
    """run_report of one thread of a SQLite file, read by a new Python process."""
    return _reports_elsewhere(db, (thread, tenant))[0]


def _dag_graph(saver: Any, cache: Any, broken: set[str], flaky: dict[str, int]) -> Any:
    """fetch -> (left, right) -> join -> publish, each cached on its inputs but publish."""

    class D(GraphState, total=False):
        doc: str
        left: str
        right: str
        joined: str

    def step(name: str, reads: list[str], writes: str | None) -> Any:
        def body(state: Any) -> Any:
            if flaky.get(name, 0) > 0:
                flaky[name] -= 1
                raise ConnectionError(f"{name}: try again")
            if name in broken:
                raise ConnectionError(f"{name}: upstream down, password=hunter2")
            value = "+".join(str(state.get(r)) for r in reads)
            return {writes: value} if writes else {"artifact_paths": {name: value}}

        body.__name__ = name
        cached = NodeCache(inputs=reads, backend=cache, version="1") if name != "publish" else None
        from langgraph_runner import RetryConfig

        return create_node(body, cache=cached, retry=RetryConfig(max_attempts=3))

    g = StateGraph(D)
    g.add_node("fetch", step("fetch", ["doc"], "left"))
    g.add_node("left", step("left", ["left"], "right"))
    g.add_node("right", step("right", ["doc"], "joined"))
    g.add_node("join", step("join", ["right", "joined"], "doc"))
    g.add_node("publish", step("publish", ["doc"], None))
    g.add_edge(START, "fetch")
    g.add_edge("fetch", "left")
    g.add_edge("fetch", "right")
    g.add_edge(["left", "right"], "join")
    g.add_edge("join", "publish")
    g.add_edge("publish", END)
    return g.compile(checkpointer=saver)


@pytest.mark.slow
def test_another_process_reads_cached_reused_failed_pending_attempts_and_cause(
    tmp_path: Any,
) -> None:
    """From the checkpoints alone, a new process sees cached, reused, x of N, attempts, cause."""
    from langgraph_runner._runs.checkpoint import open_checkpointer
    from langgraph_runner.runs import Change, rebuild, run

    db = str(tmp_path / "runs.db")
    cache = InMemoryCache()
    with open_checkpointer(f"sqlite:///{db}") as saver, no_wait():
        flaky = {"fetch": 2}  # succeeds on its third attempt
        graph = _dag_graph(saver, cache, set(), flaky)
        run(graph, {"doc": "d"}, {"configurable": {"thread_id": "first"}})
        run(graph, {"doc": "d"}, {"configurable": {"thread_id": "again"}})
        rebuild(
            graph,
            {"configurable": {"thread_id": "first"}},
            Change(inputs={"doc": "d"}),
            {"configurable": {"thread_id": "rebuilt"}},
        )
        broken = _dag_graph(saver, InMemoryCache(), {"left"}, {})
        run(broken, {"doc": "x"}, {"configurable": {"thread_id": "broken"}}, raise_on_error=False)

    first, again, rebuilt, failed = _reports_elsewhere(
        db, ("first", None), ("again", None), ("rebuilt", None), ("broken", None)
    )
    fetch = next(n for n in first["nodes"] if n["name"] == "fetch")
    assert (fetch["status"], fetch["attempts"]) == ("succeeded", 3)
    statuses = {n["name"]: n["status"] for n in again["nodes"]}
    assert statuses == {
        "fetch": "cached", "left": "cached", "right": "cached", "join": "cached",
        "publish": "succeeded",
    }  # fmt: skip
    assert {n["name"]: n["status"] for n in rebuilt["nodes"]}["join"] == "reused"
    assert failed["status"] == "failed" and "left" in failed["reason"]
    assert (failed["steps_done"], failed["steps_total"]) == (2, 5)
    nodes = {n["name"]: n for n in failed["nodes"]}
    assert nodes["left"]["status"] == "failed"
    assert nodes["left"]["cause"] == "ConnectionError: left: upstream down, password=[REDACTED]"
    assert {nodes["join"]["status"], nodes["publish"]["status"]} == {"pending"}
    assert "hunter2" not in json.dumps(failed)


def test_a_task_cancelled_arun_is_persisted_cancelled(tmp_path: Any) -> None:
    """Cancelling the task that awaits arun leaves the thread 'cancelled', not 'running'."""
    from langgraph_runner._runs.checkpoint import open_async_checkpointer
    from langgraph_runner.runs import arun

    db = str(tmp_path / "cancel.db")
    started = asyncio.Event()

    class C(GraphState, total=False):
        n: int

    async def first(state: C) -> C:
        return {"n": 1}

    async def slow(state: C) -> C:
        started.set()
        await asyncio.sleep(30)
        return {"n": 2}

    async def main() -> None:
        async with open_async_checkpointer(f"sqlite:///{db}") as saver:
            g = StateGraph(C)
            g.add_node("first", create_node(first))
            g.add_node("slow", create_node(slow))
            g.add_edge(START, "first")
            g.add_edge("first", "slow")
            graph = g.compile(checkpointer=saver)
            task = asyncio.create_task(arun(graph, {}, {"configurable": {"thread_id": "c"}}))
            await started.wait()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(main())
    report = _report_elsewhere(db, "c")
    assert report["status"] == "cancelled" and report["reason"] == "task cancelled"


def test_another_tenants_thread_reads_like_a_missing_one(tmp_path: Any) -> None:
    """Runs carry their tenant; reading another tenant's thread fails like a missing one."""
    from langgraph_runner._runs.checkpoint import open_checkpointer
    from langgraph_runner.runs import run

    db = str(tmp_path / "tenants.db")
    with open_checkpointer(f"sqlite:///{db}") as saver:
        graph = _dag_graph(saver, InMemoryCache(), set(), {})
        run(graph, {"doc": "a"}, {"configurable": {"thread_id": "t-acme"}}, tenant="acme")
        config = {"configurable": {"thread_id": "t-globex", "tenant_id": "globex"}}
        run(graph, {"doc": "b"}, config)
        with pytest.raises(ThreadNotFoundError, match="no checkpoints for thread 't-acme'"):
            run_report(saver, "t-acme", tenant="globex")
        with pytest.raises(ThreadNotFoundError, match="'t-nope'"):
            run_report(saver, "t-nope", tenant="globex")
        assert run_report(graph, "t-globex", tenant="globex").tenant == "globex"
        with pytest.raises(ValueError, match="tenant"):
            run(graph, {"doc": "c"}, config, tenant="acme")
    own, other = _reports_elsewhere(db, ("t-acme", "acme"), ("t-acme", "globex"))
    assert own["tenant"] == "acme"
    assert "missing" in other


def test_a_node_built_with_another_name_reports_its_failure() -> None:
    """create_node(name="fetcher") added as graph node "fetch": the report shows it failed."""
    import sqlite3

    def fetch(state: GraphState) -> dict[str, Any]:
        raise ConnectionError("upstream down")

    builder = StateGraph(GraphState)
    builder.add_node("fetch", create_node(fetch, name="fetcher"))
    builder.add_edge(START, "fetch")
    builder.add_edge("fetch", END)
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        graph = builder.compile(checkpointer=saver)
        config: RunnableConfig = {"configurable": {"thread_id": f"alias-{uuid.uuid4().hex}"}}
        with no_wait():
            graph.invoke({}, config)
        for source in (graph, saver):  # the CLI reads a bare saver
            node = run_report(source, config).node("fetch")
            assert node.status is NodeStatus.FAILED
            assert [r["node"] for r in node.errors] == ["fetcher"]
    finally:
        conn.close()


@pytest.mark.parametrize("durability", ["async", "sync"])
def test_a_join_after_a_longer_branch_ran_once(saver: SqliteSaver, durability: str) -> None:
    """a -> (b, c -> d) -> e: e ran once, whatever the durability (a saved barrier runs ahead)."""

    def step(name: str) -> Any:
        def body(state: Any) -> dict[str, Any]:
            return {}

        body.__name__ = name
        return body

    g = StateGraph(GraphState)
    for name in "abcde":
        g.add_node(name, step(name))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("a", "c")
    g.add_edge("c", "d")
    g.add_edge(["b", "d"], "e")
    g.add_edge("e", END)
    graph = g.compile(checkpointer=saver)
    thread = f"join-{durability}"
    graph.invoke({}, {"configurable": {"thread_id": thread}}, durability=durability)
    for source in (saver, graph):
        report = run_report(source, thread)
        assert {n.name: (n.runs, n.step) for n in report.nodes} == {
            "a": (1, 0), "b": (1, 1), "c": (1, 1), "d": (1, 2), "e": (1, 3),
        }  # fmt: skip


def test_a_task_whose_writes_a_crash_lost_still_ran(saver: SqliteSaver) -> None:
    """a -> (b, c, d) -> e -> f, then d's saved writes and f's Send packet task's writes
    removed: with durability="async" LangGraph saves a task's writes and the next
    checkpoint in parallel, so a process killed between the two leaves exactly this.
    The next checkpoint shows both ran; the report lists them as succeeded."""

    def step(name: str) -> Any:
        def body(state: Any) -> dict[str, Any]:
            return {"log": [name]}

        body.__name__ = name
        return body

    g = StateGraph(State)
    for name in "abcde":
        g.add_node(name, step(name))
    g.add_node("f", step("f"))
    g.add_edge(START, "a")
    for name in "bcd":
        g.add_edge("a", name)
    g.add_edge(["b", "c", "d"], "e")
    g.add_conditional_edges("e", lambda s: [Send("f", s)], ["f"])
    g.add_edge("f", END)
    graph = g.compile(checkpointer=saver)
    thread = f"lost-writes-{uuid.uuid4().hex}"
    config: RunnableConfig = {"configurable": {"thread_id": thread}}
    graph.invoke(State(log=[]), config)
    assert sorted(graph.get_state(config).values["log"]) == sorted("abcdef")
    lost = [
        t.task_id for tup in saver.list(config) for t in saved_tasks(tup) if t.name in ("d", "f")
    ]
    assert len(lost) == 2
    with saver.cursor() as cur:
        cur.executemany(
            "DELETE FROM writes WHERE thread_id = ? AND task_id = ?",
            [(thread, tid) for tid in lost],
        )
    for source in (saver, graph):
        report = run_report(source, thread)
        assert report.status is RunStatus.COMPLETED
        assert {n.name: (n.status, n.runs) for n in report.nodes} == dict.fromkeys(
            "abcdef", (NodeStatus.SUCCEEDED, 1)
        )


class _BudgetAgentState(GraphState):
    messages: Annotated[list[AnyMessage], add_messages]


def test_the_report_shows_where_each_budget_stands() -> None:
    """run_report(..., budgets=[...]) reads each budget's spend for the thread from its store."""
    model = UsageModel(tokens=100)
    budget = Budget(name="report", per="thread", tokens=250, store=InProcessLimitStore())
    unused = Budget(name="other", per="tenant", tokens=10, store=InProcessLimitStore())

    def agent(state: _BudgetAgentState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    def tools(state: _BudgetAgentState) -> dict[str, Any]:
        call = state["messages"][-1].tool_calls[0]  # type: ignore[union-attr]
        return {"messages": [ToolMessage("result", tool_call_id=call["id"])]}

    g = StateGraph(_BudgetAgentState)
    g.add_node("agent", create_node(agent, budget=budget))
    g.add_node("tools", create_node(tools))
    g.add_edge(START, "agent")
    g.add_conditional_edges(
        "agent",
        lambda s: END if s.get("routing_flags", {}).get("budget_exhausted") else "tools",
        ["tools", END],
    )
    g.add_edge("tools", "agent")
    graph = g.compile(checkpointer=InMemorySaver())
    thread = f"budget-{uuid.uuid4().hex}"
    graph.invoke({"messages": [("user", "go")]}, {"configurable": {"thread_id": thread}})
    report = run_report(graph, thread, budgets=[budget, unused])
    (standing,) = report.budgets  # the tenant budget has no tenant to count under
    assert standing["name"] == "report"
    assert standing["scope_id"] == thread
    assert standing["spent"]["tokens"] == 300
    assert standing["remaining"]["tokens"] == 0
    assert standing["exhausted"] is True
    assert json.loads(report.model_dump_json())["budgets"][0]["per"] == "thread"
    assert run_report(graph, thread).budgets == []


@pytest.mark.parametrize("mode", ["record", "update"])
def test_a_tenants_error_records_carry_the_tenant(mode: str) -> None:
    """A failure in a tenant's run is recorded with the tenant; without one, no tenant key."""
    from langgraph_runner.runs import run

    def fetch(state: GraphState) -> dict[str, Any]:
        raise ConnectionError("upstream down")

    builder = StateGraph(GraphState)
    # on_failure makes the engine take its full failure path; plain record mode the fast one.
    options: dict[str, Any] = (
        {} if mode == "record" else {"on_failure": lambda _error, _state: None}
    )
    builder.add_node("fetch", create_node(fetch, retry=RetryConfig(max_attempts=1), **options))
    builder.add_edge(START, "fetch")
    builder.add_edge("fetch", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    run(graph, {}, {"configurable": {"thread_id": "owned"}}, tenant="acme", raise_on_error=False)
    (record,) = graph.get_state({"configurable": {"thread_id": "owned"}}).values["errors"]
    assert record["tenant"] == "acme"
    assert record["node"] == "fetch"
    run(graph, {}, {"configurable": {"thread_id": "plain"}}, raise_on_error=False)
    (plain,) = graph.get_state({"configurable": {"thread_id": "plain"}}).values["errors"]
    assert "tenant" not in plain
    report = run_report(graph, "owned", tenant="acme")
    assert report.errors[0]["tenant"] == "acme"


class _Two(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    answer: str


def _two_graphs(saver: Any) -> tuple[Any, Any]:
    """One thread, two workflows: fetch -> parse -> render, and fetch -> ask -> publish."""

    def step(name: str) -> Any:
        def body(state: _Two) -> _Two:
            if name == "ask":
                return {"answer": str(interrupt("go?")), "log": [name]}
            return {"log": [name]}

        return body

    graphs = []
    for names in (["fetch", "parse", "render"], ["fetch", "ask", "publish"]):
        g: Any = StateGraph(_Two)
        for name in names:
            g.add_node(name, step(name))
        g.add_edge(START, names[0])
        for a, b in itertools.pairwise(names):
            g.add_edge(a, b)
        g.add_edge(names[-1], END)
        graphs.append(g.compile(checkpointer=saver))
    return graphs[0], graphs[1]


def test_a_report_of_one_run_reads_only_that_runs_checkpoints(saver: SqliteSaver) -> None:
    """run_id=: the first run's report is the same after a later run on its thread; a run
    that resumed another's interrupted step reports that step as its own."""
    from langgraph_runner.runs import run

    build, asking = _two_graphs(saver)
    cfg: Any = {"configurable": {"thread_id": f"two-{uuid.uuid4().hex}"}}
    thread = cfg["configurable"]["thread_id"]
    first = run(build, {"log": []}, cfg)
    before = [run_report(s, thread, run_id=first.run_id) for s in (saver, build)]
    second = run(asking, {"log": []}, cfg)  # interrupted at ask
    asked = run_report(saver, thread, run_id=second.run_id)
    assert (asked.run_id, asked.status) == (second.run_id, RunStatus.INTERRUPTED)
    assert asked.node("ask").status is NodeStatus.INTERRUPTED
    assert "parse" not in {n.name for n in asked.nodes if n.runs}
    third = run(asking, Command(resume="yes"), cfg)  # resumes ask, runs publish
    for source, earlier in zip((saver, build), before, strict=True):
        mine = run_report(source, thread, run_id=first.run_id)
        assert mine == earlier
        assert (mine.run_id, mine.status) == (first.run_id, RunStatus.COMPLETED)
        ran = {n.name: n.status for n in mine.nodes if n.status is not NodeStatus.SKIPPED}
        assert ran == dict.fromkeys(("fetch", "parse", "render"), NodeStatus.SUCCEEDED)
        asked = run_report(source, thread, run_id=second.run_id)
        assert asked.run_id == second.run_id
        assert "publish" not in {n.name for n in asked.nodes if n.runs}  # the third run's
        resumed = run_report(source, thread, run_id=third.run_id)
        assert (resumed.run_id, resumed.status) == (third.run_id, RunStatus.COMPLETED)
        assert resumed.node("ask").status is NodeStatus.SUCCEEDED
        assert resumed.node("publish").status is NodeStatus.SUCCEEDED
        assert "parse" not in {n.name for n in resumed.nodes if n.runs}
    assert run_report(saver, thread).run_id == third.run_id  # the thread: its latest run
    with pytest.raises(ThreadNotFoundError):
        run_report(saver, thread, run_id=str(uuid.uuid4()))  # no checkpoint of that run


class _Plain(TypedDict, total=False):  # no step_marks/cache_hits channels
    x: int
    a: int
    b: int
    c: int


def _plain_cached(saver: Any, backend: Any) -> Any:
    """a and b cached on their inputs, c not, on a state with no record channels."""

    def a(state: _Plain) -> dict[str, Any]:
        return {"a": state["x"] + 1}

    def b(state: _Plain) -> dict[str, Any]:
        return {"b": state["a"] * 2}

    def c(state: _Plain) -> dict[str, Any]:
        return {"c": state["b"] + 1}

    g = StateGraph(_Plain)
    g.add_node("a", create_node(a, cache=NodeCache(inputs=["x"], backend=backend, version="1")))
    g.add_node("b", create_node(b, cache=NodeCache(inputs=["a"], backend=backend, version="1")))
    g.add_node("c", c)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    return g.compile(checkpointer=saver)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_cached_and_reused_steps_read_so_on_a_state_without_record_channels(
    tmp_path: Any, backend: str, mode: str
) -> None:
    """A plain TypedDict state: the run's own rows say which steps the cache served, so the
    report (graph or bare saver, its HTML too) reads ``cached``/``reused`` as the run did."""
    from langgraph_runner.runs import Change, arun, rebuild, run
    from tests.services import database_url

    url = database_url(backend, tmp_path)
    uid = uuid.uuid4().hex
    first, again, rebuilt = (
        {"configurable": {"thread_id": f"{name}-{uid}"}} for name in ("first", "again", "re")
    )
    cache = InMemoryCache()

    async def main() -> list[Any]:
        async with open_async_checkpointer(url) as saver:
            graph = _plain_cached(saver, cache)
            return [await arun(graph, {"x": 1}, first), await arun(graph, {"x": 1}, again)]

    with open_checkpointer(url) as saver:
        graph = _plain_cached(saver, cache)
        if mode == "sync":
            results = [run(graph, {"x": 1}, first), run(graph, {"x": 1}, again)]
        else:
            results = asyncio.run(main())
        # arebuild plans through the saver's sync reads: an async saver refuses them on its loop
        results.append(rebuild(graph, first, Change(inputs={"x": 1}), rebuilt).run)
    assert [r.nodes for r in results] == [
        {"a": "succeeded", "b": "succeeded", "c": "succeeded"},
        {"a": "cached", "b": "cached", "c": "succeeded"},
        {"a": "reused", "b": "reused", "c": "succeeded"},
    ]
    with open_checkpointer(url) as saver:
        graph = _plain_cached(saver, cache)
        for source in (graph, saver):
            reports = [run_report(source, cfg) for cfg in (first, again, rebuilt)]
            assert [{n.name: str(n.status) for n in r.nodes} for r in reports] == [
                r.nodes for r in results
            ]
            assert reports[2].summary["reused"] == 2 and reports[2].steps_done == 3
        assert "reused" in reports[2].to_html()
        for cfg in (first, again, rebuilt):
            saver.delete_thread(cfg["configurable"]["thread_id"])


@pytest.mark.parametrize("source", ["graph", "saver"])
def test_a_failure_the_state_cannot_record_shows_the_nodes_own_error(source: str) -> None:
    """A plain TypedDict state: the step's cause is the node's own error (redacted), then
    why it has no record (StateSchemaError), not the schema advice alone."""

    def parse(state: _Plain) -> dict[str, Any]:
        raise ValueError("bad port in postgresql://app:hunter2@db/x")

    g = StateGraph(_Plain)
    g.add_node("parse", create_node(parse))
    g.add_edge(START, "parse")
    thread = f"unrecordable-{uuid.uuid4().hex}"
    with open_checkpointer(":memory:") as saver:
        graph = g.compile(checkpointer=saver)
        with pytest.raises(StateSchemaError):
            graph.invoke({"x": 1}, {"configurable": {"thread_id": thread}})
        report = run_report(graph if source == "graph" else saver, thread)
    node = report.node("parse")
    assert (report.status, node.status) == (RunStatus.FAILED, NodeStatus.FAILED)
    assert node.cause is not None and node.cause.startswith("ValueError: bad port in ")
    assert "(StateSchemaError: not recorded, the graph state has no 'errors'" in node.cause
    assert "hunter2" not in node.cause


class _PlainLog(TypedDict, total=False):
    """A state with no record channels: LangGraph drops the package's step marks."""

    log: Annotated[list[str], operator.add]


def test_a_step_retried_to_success_counts_the_attempts_its_run_kept(tmp_path: Any) -> None:
    """With a plain state the checkpoints cannot tell a retried success from a first-time
    one; the attempts run() kept in the node's row can, and the report counts them."""
    from langgraph_runner.runs import run

    left = [ConnectionError("refused"), TimeoutError("slow")]

    def step(state: _PlainLog) -> dict[str, Any]:
        if left:
            raise left.pop(0)
        return {"log": ["ok"]}

    g: StateGraph[Any] = StateGraph(_PlainLog)
    g.add_node("step", create_node(step, retry=RetryConfig(max_attempts=3)))
    g.add_edge(START, "step")
    g.add_edge("step", END)
    config: Any = {"configurable": {"thread_id": uuid.uuid4().hex}}
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as cp, no_wait():
        graph = g.compile(checkpointer=cp)
        assert run(graph, {}, config).status == "completed"
        node = run_report(graph, config).node("step")
    assert (node.status, node.attempts) == (NodeStatus.SUCCEEDED, 3)
