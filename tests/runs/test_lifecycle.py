"""runs.run/arun: one identity per run, run-level events and statuses, the run time limit."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, TypedDict

import pytest
from langgraph.cache.memory import InMemoryCache
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from structlog.testing import CapturingLogger

from langgraph_runner import (
    AbortController,
    GraphState,
    NodeCache,
    RetryConfig,
    create_node,
    get_node_context,
)
from langgraph_runner._policies.abort import ABORT_SIGNAL_KEY
from langgraph_runner.runs import arun, run
from langgraph_runner.testing import hang, no_wait

MODES = pytest.mark.parametrize("mode", ["sync", "async"])


class S(TypedDict, total=False):
    x: int
    a: int
    b: int


def _events(cap: CapturingLogger) -> list[tuple[str, dict[str, Any]]]:
    return [(c.args[0], c.kwargs) for c in cap.calls]


def _node(name: str, mode: str, fn: Any, **options: Any) -> Any:
    if mode == "async":

        async def body(state: S) -> Any:
            return fn(state)

        body.__name__ = name
        return create_node(body, **options)

    def sync_body(state: S) -> Any:
        return fn(state)

    sync_body.__name__ = name
    return create_node(sync_body, **options)


def _chain(*nodes: tuple[str, Any], checkpointer: Any = None) -> Any:
    g = StateGraph(S)
    previous = START
    for name, node in nodes:
        g.add_node(name, node)
        g.add_edge(previous, name)
        previous = name
    g.add_edge(previous, END)
    return g.compile(checkpointer=checkpointer)


def _go(mode: str, graph: Any, input: Any, config: Any = None, **kw: Any) -> Any:
    if mode == "async":
        return asyncio.run(arun(graph, input, config, **kw))
    return run(graph, input, config, **kw)


@MODES
def test_run_and_node_events_share_one_trace_id(mode: str) -> None:
    """run.started, every node event and run.completed carry the run's one trace id."""
    cap = CapturingLogger()
    seen: list[str] = []

    def record(state: S) -> S:
        ctx = get_node_context()
        assert ctx is not None
        seen.append(ctx.graph_execution_id)
        return {"a": 1}

    graph = _chain(("a", _node("a", mode, record, logger=cap)), ("b", _node("b", mode, record)))
    result = _go(mode, graph, {"x": 1}, logger=cap)
    events = _events(cap)
    names = [e for e, _ in events]
    assert (names[0], names[-1]) == ("run.started", "run.completed")
    assert {kw["trace_id"] for _, kw in events} == {result.trace_id}
    assert result.trace_id == result.run_id == result.graph_execution_id
    assert seen == [result.run_id, result.run_id]
    assert result.status == "completed" and result.output == {"x": 1, "a": 1}
    done = events[-1][1]
    assert done["counts"] == {"succeeded": 2} and done["duration_ms"] >= 0


@MODES
def test_a_callers_run_id_and_thread_are_kept(mode: str) -> None:
    """A run_id in the config is the run's id; the thread is the execution id."""
    graph = _chain(("a", _node("a", mode, lambda s: {"a": 1})), checkpointer=InMemorySaver())
    run_id = "0b0e6f2e-5a2b-4c55-9b65-3d1f6a1b2c3d"
    config = {"run_id": run_id, "configurable": {"thread_id": f"keep-{mode}"}}
    result = _go(mode, graph, {"x": 1}, config)
    assert (result.run_id, result.trace_id) == (run_id, run_id)
    assert result.graph_execution_id == result.thread_id == f"keep-{mode}"


@MODES
def test_a_cached_node_is_reported_cached(mode: str) -> None:
    """The second run serves the cached node: its status is cached, not succeeded."""
    cache = NodeCache(inputs=["x"], backend=InMemoryCache(), version="1")
    graph = _chain(
        ("a", _node("a", mode, lambda s: {"a": s["x"]}, cache=cache)),
        ("b", _node("b", mode, lambda s: {"b": 2})),
    )
    first = _go(mode, graph, {"x": 1})
    second = _go(mode, graph, {"x": 1})
    assert first.nodes == {"a": "succeeded", "b": "succeeded"}
    assert second.nodes == {"a": "cached", "b": "succeeded"}
    assert second.counts == {"cached": 1, "succeeded": 1}


@MODES
def test_a_failed_run_is_failed_and_re_raised(mode: str) -> None:
    """A node error ends the run failed (run.failed, error type), then propagates."""
    cap = CapturingLogger()

    def boom(state: S) -> S:
        raise KeyError("nope")

    graph = _chain(("a", _node("a", mode, boom, on_error="raise")))
    with pytest.raises(KeyError):
        _go(mode, graph, {"x": 1}, logger=cap)
    name, fields = _events(cap)[-1]
    assert name == "run.failed" and fields["error_type"] == "KeyError"
    result = _go(mode, graph, {"x": 1}, raise_on_error=False)
    assert result.status == "failed" and isinstance(result.error, KeyError)
    assert result.nodes == {"a": "failed"}


@MODES
def test_an_abort_cancels_the_run_not_fails_it(mode: str) -> None:
    """AbortController.abort() mid-run: status cancelled with the reason, run.cancelled logged."""
    cap = CapturingLogger()
    controller = AbortController()

    def stop(state: S) -> S:
        controller.abort("user pressed stop")
        return {"a": 1}

    graph = _chain(
        ("a", stop),  # a plain LangGraph node (its own signal check would see the abort)
        ("b", _node("b", mode, lambda s: {"b": 1}, on_error="raise")),
    )
    config = {"configurable": {ABORT_SIGNAL_KEY: controller.signal}}
    result = _go(mode, graph, {"x": 1}, config, logger=cap, raise_on_error=False)
    assert result.status == "cancelled" and result.reason == "user pressed stop"
    assert result.nodes == {"a": "succeeded", "b": "cancelled"}
    assert _events(cap)[-1][0] == "run.cancelled"


@MODES
def test_an_interrupt_ends_the_run_interrupted(mode: str) -> None:
    """interrupt() pauses the run: status interrupted, the node interrupted."""
    if mode == "async" and sys.version_info < (3, 11):
        pytest.skip("LangGraph: interrupt() in an async node needs Python 3.11 (bare fails too)")

    def ask(state: S) -> S:
        return {"a": interrupt("approve?")}

    graph = _chain(("a", _node("a", mode, ask)), checkpointer=InMemorySaver())
    result = _go(mode, graph, {"x": 1}, {"configurable": {"thread_id": f"ask-{mode}"}})
    assert result.status == "interrupted"
    assert result.nodes == {"a": "interrupted"}


@MODES
def test_the_time_limit_cancels_a_hanging_node_and_what_is_left(mode: str) -> None:
    """time_limit: the running node is aborted, the next node never runs, status cancelled."""
    slow = hang(30.0, is_async=mode == "async", name="slow")
    after: list[int] = []
    graph = _chain(
        ("slow", create_node(slow, on_error="raise")),
        ("after", _node("after", mode, lambda s: after.append(1) or {"b": 1})),
    )
    cap = CapturingLogger()
    result = _go(mode, graph, {"x": 1}, time_limit=0.2, logger=cap, raise_on_error=False)
    assert result.status == "cancelled" and result.reason == "run time limit passed"
    assert result.nodes["slow"] in ("cancelled", "failed") and after == []
    assert slow.wait_idle(5.0) and slow.aborted + slow.completed == slow.calls
    assert slow.completed == 0
    assert _events(cap)[-1][0] == "run.cancelled"


@MODES
def test_the_time_limit_caps_retry_waits(mode: str) -> None:
    """A retry wait longer than what is left of the run ends the node at once (no sleep)."""

    def flaky(state: S) -> S:
        raise ConnectionError("down")

    retry = RetryConfig(max_attempts=5, initial_interval=100.0, max_interval=100.0, jitter=0)
    graph = _chain(("a", _node("a", mode, flaky, retry=retry, on_error="raise")))
    with no_wait() as waits:
        result = _go(mode, graph, {"x": 1}, time_limit=50.0, raise_on_error=False)
    assert waits == []  # the 100 s wait was never started
    assert result.status == "cancelled" and result.reason == "run time limit passed"


@MODES
def test_time_limit_is_validated(mode: str) -> None:
    """time_limit must be positive seconds; the error names the field."""
    graph = _chain(("a", _node("a", mode, lambda s: {"a": 1})))
    with pytest.raises(ValueError, match="time_limit"):
        _go(mode, graph, {"x": 1}, time_limit=0)
    with pytest.raises(TypeError, match="time_limit"):
        _go(mode, graph, {"x": 1}, time_limit="1s")
    with pytest.raises(ValueError, match="run_id"):
        _go(mode, graph, {"x": 1}, {"run_id": "not-a-uuid"})


def test_cancelling_the_task_reports_cancelled() -> None:
    """Cancelling arun's task logs run.cancelled and re-raises CancelledError."""
    cap = CapturingLogger()

    async def main() -> None:
        started = asyncio.Event()

        async def wait_forever(state: S) -> S:
            started.set()
            await asyncio.sleep(3600)
            return {"a": 1}

        graph = _chain(("a", create_node(wait_forever)))
        task = asyncio.create_task(arun(graph, {"x": 1}, logger=cap))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    name, fields = _events(cap)[-1]
    assert name == "run.cancelled" and fields["reason"] == "task cancelled"


@MODES
def test_a_recorded_failure_is_a_failed_node_in_a_completed_run(mode: str) -> None:
    """on_step_failure='continue' keeps the run going: the run completes, the node is failed."""

    class G(GraphState, total=False):
        x: int
        b: int

    def boom(state: Any) -> Any:
        raise KeyError("nope")

    g = StateGraph(G)
    g.add_node("a", _node("a", mode, boom))
    g.add_node("b", _node("b", mode, lambda s: {"b": 1}))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    result = _go(mode, g.compile(), {"x": 1}, on_step_failure="continue")
    assert result.status == "completed"
    assert result.nodes == {"a": "failed", "b": "succeeded"}
    assert result.counts == {"failed": 1, "succeeded": 1}


# ---------------------------------------------------------------- run policy for DAG runs

_DAG_FAILS = "b2"


def _dag(ran: list[str], tmp_path: Any, mode: str = "sync") -> Any:
    """13 steps: a -> b1..b4 -> c1..c4 -> d1 (c1, c2), d2 (c3), d3 (c4) -> e."""

    class D(GraphState, total=False):
        x: int

    def step(name: str) -> Any:
        def body(state: Any) -> Any:
            ran.append(name)
            if name == _DAG_FAILS:
                raise ConnectionError(f"{name}: upstream down, api_key=sk-live-1234567890abcdef")
            path = tmp_path / f"{name}.txt"
            path.write_text(name)
            return {"artifact_paths": {name: str(path)}}

        return body

    g = StateGraph(D)
    names = ["a", "b1", "b2", "b3", "b4", "c1", "c2", "c3", "c4", "d1", "d2", "d3", "e"]
    for name in names:
        g.add_node(name, _node(name, mode, step(name)))
    g.add_edge(START, "a")
    for i in range(1, 5):
        g.add_edge("a", f"b{i}")
        g.add_edge(f"b{i}", f"c{i}")
    g.add_edge(["c1", "c2"], "d1")
    g.add_edge("c3", "d2")
    g.add_edge("c4", "d3")
    g.add_edge(["d1", "d2", "d3"], "e")
    g.add_edge("e", END)
    return g


@MODES
def test_a_failed_step_fails_a_dag_run_and_starts_nothing_downstream(
    mode: str, tmp_path: Any
) -> None:
    """One failed step of a 13-step DAG: run failed, downstream never ran, artifacts kept."""
    from langgraph_runner import StepFailedError

    ran: list[str] = []
    saver = InMemorySaver()
    graph = _dag(ran, tmp_path, mode).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": f"dag-{mode}"}}
    with no_wait():
        result = _go(mode, graph, {"x": 1}, config, raise_on_error=False)
    assert result.status == "failed"
    assert isinstance(result.error, StepFailedError) and result.error.node == "b2"
    assert "upstream down" in str(result.reason) and "sk-live" not in str(result.reason)
    assert sorted(ran) == ["a", "b1", "b2", "b3", "b4"]  # the failed step's superstep, no more
    values = graph.get_state(config).values
    assert sorted(values["artifact_paths"]) == ["a", "b1", "b3", "b4"]
    assert all((tmp_path / f"{n}.txt").exists() for n in ("a", "b1", "b3", "b4"))
    with no_wait(), pytest.raises(StepFailedError, match="b2"):
        _go(mode, _dag([], tmp_path, mode).compile(), {"x": 1})


def test_continue_runs_every_downstream_step_on_a_failure(tmp_path: Any) -> None:
    """on_step_failure='continue' is the agent style: the run goes on past the failure."""
    ran: list[str] = []
    with no_wait():
        result = run(_dag(ran, tmp_path).compile(), {"x": 1}, on_step_failure="continue")
    assert result.status == "completed" and len(ran) == 13


def test_an_unknown_step_failure_policy_is_refused() -> None:
    """on_step_failure must be 'stop' or 'continue'."""
    with pytest.raises(ValueError, match="on_step_failure"):
        run(_chain(("a", lambda s: {"a": 1})), {"x": 1}, on_step_failure="ignore")  # type: ignore[arg-type]


def test_rebuild_refuses_a_failed_base_saying_why(tmp_path: Any) -> None:
    """A DAG run stopped by a failed step is no base for a rebuild; the error says why."""
    from langgraph_runner import RunNotCompletedError
    from langgraph_runner.runs import Change, rebuild

    graph = _dag([], tmp_path).compile(checkpointer=InMemorySaver())
    base = {"configurable": {"thread_id": "dag-base"}}
    with no_wait():
        run(graph, {"x": 1}, base, raise_on_error=False)
    with pytest.raises(RunNotCompletedError, match="failed: step 'b2' failed: ConnectionError"):
        rebuild(graph, base, Change(inputs={"x": 2}), {"configurable": {"thread_id": "dag-new"}})


def test_rebuild_refuses_a_blocked_base_saying_why(tmp_path: Any) -> None:
    """A run that continued past a recorded failure ends blocked: no base for a rebuild."""
    from langgraph_runner import RunNotCompletedError
    from langgraph_runner.runs import Change, rebuild

    graph = _dag([], tmp_path).compile(checkpointer=InMemorySaver())
    base = {"configurable": {"thread_id": "dag-blocked"}}
    with no_wait():
        run(graph, {"x": 1}, base, on_step_failure="continue")
    with pytest.raises(RunNotCompletedError, match="blocked by a recorded failure of b2"):
        rebuild(graph, base, Change(inputs={"x": 2}), {"configurable": {"thread_id": "dag-b2"}})


@MODES
def test_a_time_limit_no_clock_can_hold_is_refused(mode: str) -> None:
    """time_limit=inf, nan or 1e308 is refused up front, naming the field (no timer crash)."""
    graph = _chain(("a", _node("a", mode, lambda s: {"a": 1})))
    for bad in (float("inf"), float("nan"), 1e308):
        with pytest.raises(ValueError, match="time_limit"):
            _go(mode, graph, {"x": 1}, time_limit=bad)


def test_a_run_whose_row_cannot_be_written_fails_before_any_node(tmp_path: Any) -> None:
    """The row is the run's record: a runs table that cannot be written fails the run
    before any node ran, naming the database; run.store_failed says why."""
    import sqlite3

    from langgraph_runner._db.pool import DatabaseUnavailableError
    from langgraph_runner.runs import open_checkpointer

    db = tmp_path / "runs.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE langgraph_runner_runs (something_else TEXT)")  # not ours
    conn.commit()
    conn.close()
    cap = CapturingLogger()
    ran: list[str] = []
    with open_checkpointer(f"sqlite:///{db}") as saver:
        graph = _chain(("a", lambda s: ran.append("a") or {"a": 1}), checkpointer=saver)
        with pytest.raises(DatabaseUnavailableError, match="no node ran") as caught:
            run(graph, {"x": 1}, {"configurable": {"thread_id": "t"}}, logger=cap)
    assert ran == [] and str(db) in caught.value.database
    failed = [fields for name, fields in _events(cap) if name == "run.store_failed"]
    assert len(failed) == 1 and failed[0]["error_type"] == "OperationalError"
    assert failed[0]["when"] == "start"
    assert not [name for name, _ in _events(cap) if name == "run.started"]


@pytest.mark.parametrize("backend", ["memory", "postgres"])
def test_a_finished_arun_leaves_nothing_for_the_cycle_collector(backend: str) -> None:
    """A run's objects are freed when it ends, by reference counting alone: with many runs
    in flight, garbage left in reference cycles makes the collector walk every live run
    more often (docs/performance.md). The run is on a step-failure "stop" policy and a
    lock whose loss would cancel it: both call back into the run."""
    import gc
    import uuid

    from langgraph_runner.runs import open_async_checkpointer
    from tests.services import postgres_url

    async def step(state: GraphState) -> dict[str, Any]:
        return {}

    builder = StateGraph(GraphState)
    builder.add_node("a", create_node(step, name="a"))
    builder.add_edge(START, "a")
    builder.add_edge("a", END)

    async def runs(saver: Any) -> None:
        graph = builder.compile(checkpointer=saver)
        for _ in range(2):  # the first run of a graph and process caches what it may
            config: Any = {"configurable": {"thread_id": f"cycles-{uuid.uuid4().hex}"}}
            assert (await arun(graph, {}, config, on_step_failure="stop")).status == "completed"
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(3):
                config = {"configurable": {"thread_id": f"cycles-{uuid.uuid4().hex}"}}
                assert (await arun(graph, {}, config, on_step_failure="stop")).status == "completed"
            gc.collect()
            # The runs' own objects (run, tracker, lock, holder); other tests' leftovers
            # freed meanwhile (a cache, a connection) are not this test's business.
            ours = [
                type(o).__qualname__
                for o in gc.garbage
                if type(o).__module__.startswith("langgraph_runner._runs")
            ]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
        assert ours == []

    async def main() -> None:
        if backend == "memory":
            await runs(InMemorySaver())
            return
        async with open_async_checkpointer(postgres_url()) as saver:
            await runs(saver)

    asyncio.run(main())
