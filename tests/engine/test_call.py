"""call.py: a node call's run signal, budgets, drain check, context and metrics sink."""

from __future__ import annotations

import operator
import time
from typing import Annotated, Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphDrained, GraphInterrupt
from langgraph.errors import NodeTimeoutError as LGNodeTimeoutError
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import RunControl

from langgraph_runner import (
    ABORT_SIGNAL_KEY,
    AbortController,
    AbortSignal,
    GraphState,
    NodeAbortedError,
    NodeTimeoutError,
    RetryConfig,
    create_node,
)
from langgraph_runner._engine.call import Call, run_signal_of
from langgraph_runner._engine.spec import NodeSpec
from langgraph_runner._policies.context import RUN_DEADLINE_KEY
from langgraph_runner._records.logs import get_event_logger
from langgraph_runner.metrics import NodeMetricsCollector
from langgraph_runner.testing import hang
from tests.conftest import MODES, EventCapture, as_mode, run_graph

pytestmark = pytest.mark.usefixtures("instant")


def _fn(state: Any) -> Any:
    return None


def runner_for(logger: Any = None, **spec: Any) -> NodeSpec:
    """A NodeSpec for a node named 'n' with the given NodeSpec fields."""
    fields: dict[str, Any] = {
        "fn": _fn,
        "name": "n",
        "is_async": False,
        "accepts": {},
        "retry": None,
        "on_retry_attempt": None,
        "on_error": "record",
        "log": get_event_logger(logger),
    }
    return NodeSpec(**{**fields, **spec})


# --------------------------------------------------------------------------- run_signal_of


@pytest.mark.parametrize(
    "config",
    [None, {}, {"configurable": {}}, {"configurable": {ABORT_SIGNAL_KEY: None}}, {"tags": []}],
)
def test_run_signal_of_without_a_signal_is_none(config: Any) -> None:
    """No config, no configurable or no abort_signal key: no run signal."""
    assert run_signal_of(config) is None


def test_run_signal_of_returns_the_signal() -> None:
    """An AbortSignal under configurable['abort_signal'] is returned as it is."""
    signal = AbortController().signal
    assert run_signal_of({"configurable": {ABORT_SIGNAL_KEY: signal}}) is signal


def test_run_signal_of_accepts_a_controller() -> None:
    """An AbortController there stands for its signal."""
    controller = AbortController()
    assert run_signal_of({"configurable": {ABORT_SIGNAL_KEY: controller}}) is controller.signal


@pytest.mark.parametrize("value", [True, "abort", object(), AbortSignal])
def test_run_signal_of_wrong_type_names_the_key(value: Any) -> None:
    """Anything else is a TypeError naming the 'abort_signal' key and the type found."""
    pattern = rf"\['abort_signal'\] must be an AbortSignal .* got {type(value).__name__}"
    with pytest.raises(TypeError, match=pattern):
        run_signal_of({"configurable": {ABORT_SIGNAL_KEY: value}})


def test_call_reads_the_run_signal_once() -> None:
    """A Call picks the run signal up from its config when it starts."""
    controller = AbortController()
    call = Call(runner_for(), {"configurable": {ABORT_SIGNAL_KEY: controller}})
    assert call.run_signal is controller.signal
    assert Call(runner_for(), None).run_signal is None


# --------------------------------------------------------------------------- budgets


@pytest.mark.parametrize("timeout", [None, 2.0])
def test_without_deadline_the_limit_is_the_timeout(timeout: float | None) -> None:
    """No deadline: no remaining budget, and each attempt's limit is the timeout."""
    call = Call(runner_for(timeout=timeout), None)
    assert call.deadline_at is None
    assert call.remaining() is None
    assert call.attempt_limit() == (timeout, False)


def test_deadline_longer_than_timeout_leaves_the_timeout() -> None:
    """A deadline with more time left than the timeout: the timeout is the limit."""
    call = Call(runner_for(timeout=2.0, deadline=60.0), None)
    remaining = call.remaining()
    assert remaining is not None and 2.0 < remaining <= 60.0
    assert call.attempt_limit() == (2.0, False)


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_deadline_caps_the_attempt_limit(timeout: float | None) -> None:
    """Less time left than the timeout (or no timeout): the limit is the deadline's remainder."""
    call = Call(runner_for(timeout=timeout, deadline=1.0), None)
    limit, is_deadline = call.attempt_limit()
    assert is_deadline is True
    assert limit is not None and 0 < limit <= 1.0


def test_spent_deadline_raises_a_deadline_timeout() -> None:
    """With the deadline passed, attempt_limit raises NodeTimeoutError(kind='deadline')."""
    call = Call(runner_for(timeout=5.0, deadline=1.0), None)
    call.deadline_at = time.monotonic() - 0.01
    with pytest.raises(NodeTimeoutError) as info:
        call.attempt_limit()
    err = info.value
    assert err.kind == "deadline"
    assert (err.node, err.attempt) == ("n", 1)
    assert str(err).startswith("Node 'n' exceeded its deadline of 1.000s on attempt 1 (elapsed: ")
    assert isinstance(err, LGNodeTimeoutError)
    assert not isinstance(err, TimeoutError)


def test_deadline_error_names_the_attempt_and_keeps_the_cause() -> None:
    """deadline_error carries the current attempt and chains the error that used the time."""
    call = Call(runner_for(deadline=2.5), None)
    call.next_attempt(3)
    cause = ConnectionError("slow")
    err = call.deadline_error(cause)
    assert (err.kind, err.attempt, err.__cause__) == ("deadline", 3, cause)
    assert "exceeded its deadline of 2.500s on attempt 3" in str(err)


def test_deadline_error_reuses_a_deadline_timeout() -> None:
    """A cause that already is the deadline's timeout is returned as it is; a run timeout is not."""
    call = Call(runner_for(deadline=2.0), None)
    first = call.deadline_error()
    assert call.deadline_error(first) is first
    run_timeout = NodeTimeoutError("n", timeout=0.5, elapsed=0.5, kind="run")
    wrapped = call.deadline_error(run_timeout)
    assert wrapped is not run_timeout
    assert (wrapped.kind, wrapped.__cause__) == ("deadline", run_timeout)


# --------------------------------------------------------------------------- context and signals


def test_context_is_built_once_and_follows_attempts() -> None:
    """get() builds the NodeContext once; next_attempt moves it on without losing its fields."""
    call = Call(runner_for(retry=RetryConfig(max_attempts=4), deadline=9.0), None)
    ctx = call.get()
    assert call.get() is ctx
    assert (ctx.node, ctx.attempt, ctx.max_attempts) == ("n", 1, 4)
    assert ctx.deadline == call.deadline_at
    assert ctx.abort_signal is not None and not ctx.abort_signal.aborted
    call.next_attempt(2)
    moved = call.get()
    assert (moved.attempt, moved.trace_id, moved.node) == (2, ctx.trace_id, "n")
    assert call.get() is moved


def test_next_attempt_builds_no_context() -> None:
    """next_attempt before anything asked for the context leaves it unbuilt; get() then has it."""
    call = Call(runner_for(retry=RetryConfig(max_attempts=4)), None)
    call.next_attempt(3)
    assert call.attempt_controller is None  # no context, so no controller, was made
    assert call.get().attempt == 3


def test_ids_are_the_contexts_without_building_it() -> None:
    """ids() gives the context's run ids (and a generated run's scope), computed once."""
    config: RunnableConfig = {"configurable": {"thread_id": "th", "trace_id": "tr"}}
    call = Call(runner_for(), config)
    ids = call.ids()
    assert call.ids() is ids
    assert ids == ("tr", "th", "th", None, None)
    ctx = call.get()
    assert (ctx.trace_id, ctx.graph_execution_id, ctx.thread_id, ctx.run_id) == ids[:4]
    unnamed = Call(runner_for(), None)  # outside a graph: no run to keep a scope for
    assert unnamed.ids()[4] is None
    assert unnamed.get().trace_id == unnamed.ids()[0]


def test_attempt_and_streak_key_follow_the_call() -> None:
    """attempt follows next_attempt; the guard's key is (trace id, namespace path, node)."""
    config: RunnableConfig = {"configurable": {"trace_id": "tr", "checkpoint_ns": "n:task-1"}}
    call = Call(runner_for(retry=RetryConfig(max_attempts=3)), config)
    assert call.attempt == 1
    call.next_attempt(2)
    assert (call.attempt, call.get().attempt) == (2, 2)
    assert call.streak_key() == ("tr", "n", "n")
    assert call.streak_key() is call.streak_key()


def test_each_attempt_gets_a_fresh_signal_that_follows_the_run() -> None:
    """begin_attempt: a new controller per attempt; the run's abort fires the live one."""
    run = AbortController()
    call = Call(runner_for(), {"configurable": {ABORT_SIGNAL_KEY: run.signal}})
    first, ctx1 = call.begin_attempt()
    assert ctx1.abort_signal is first.signal
    first.abort("attempt timed out")  # a timeout aborts only its own attempt
    second, ctx2 = call.begin_attempt()
    assert ctx2.abort_signal is second.signal and not second.signal.aborted
    assert not run.signal.aborted
    run.abort("stop")
    assert second.signal.aborted and second.signal.reason == "stop"


def test_closed_call_stops_following_the_run_signal() -> None:
    """After close(), aborting the run no longer reaches the call's last attempt signal."""
    run = AbortController()
    call = Call(runner_for(), {"configurable": {ABORT_SIGNAL_KEY: run.signal}})
    controller, _ = call.begin_attempt()
    call.close()
    run.abort("late")
    assert not controller.signal.aborted


def test_check_run_signal_raises_an_abort_with_the_reason() -> None:
    """check_run_signal is silent until the run aborts, then raises NodeAbortedError."""
    run = AbortController()
    call = Call(runner_for(), {"configurable": {ABORT_SIGNAL_KEY: run.signal}})
    call.check_run_signal()
    reason = RuntimeError("shutting down")
    run.abort(reason)
    with pytest.raises(NodeAbortedError, match="Node 'n' was aborted on attempt 1") as info:
        call.check_run_signal()
    assert info.value.reason is reason
    assert info.value.__cause__ is reason
    Call(runner_for(), None).check_run_signal()  # no run signal: never aborted


# --------------------------------------------------------------------------- drain


def _captured_config(control: RunControl) -> RunnableConfig:
    """The config a node saw in a real run started with ``control``."""
    seen: list[RunnableConfig] = []

    def grab(state: Any, config: RunnableConfig) -> dict[str, Any]:
        seen.append(config)
        return {}

    g = StateGraph(GraphState)
    g.add_node("grab", grab)
    g.add_edge(START, "grab")
    g.add_edge("grab", END)
    g.compile().invoke({}, control=control)
    return seen[0]


def test_drain_reason_outside_a_graph_is_none() -> None:
    """Without LangGraph's runtime in the config there is nothing to drain."""
    call = Call(runner_for(), None)
    assert call.drain_reason() is None
    call.check_drain()


def test_check_drain_raises_graph_drained_once_requested(events: EventCapture) -> None:
    """check_drain reads the run's RunControl: GraphDrained with its reason, and an event."""
    control = RunControl()
    call = Call(runner_for(logger=events), _captured_config(control))
    assert call.drain_reason() is None
    call.check_drain()
    control.request_drain("deploy")
    assert call.drain_reason() == "deploy"
    with pytest.raises(GraphDrained, match="deploy"):
        call.check_drain()
    [drained] = events.named("node.drained")
    assert (drained["node"], drained["reason"]) == ("n", "deploy")


class _Log(GraphState, total=False):
    log: Annotated[list[str], operator.add]


def _drain_graph(flaky: Any) -> Any:
    """START -> a -> flaky -> b -> END, each logging itself, on an in-memory checkpointer."""
    g = StateGraph(_Log)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_node("flaky", flaky)
    g.add_node("b", lambda s: {"log": ["b"]})
    g.add_edge(START, "a")
    g.add_edge("a", "flaky")
    g.add_edge("flaky", "b")
    g.add_edge("b", END)
    return g.compile(checkpointer=InMemorySaver())


@pytest.mark.parametrize("mode", MODES)
async def test_drain_stops_retrying_and_resume_reruns_only_that_node(mode: str) -> None:
    """A drain requested during a failing attempt: no retry, GraphDrained, resume re-runs it."""
    control = RunControl()
    calls: list[int] = []

    def flaky(state: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            control.request_drain("deploy")
            raise ConnectionError("down")
        return {"log": ["flaky"]}

    graph = _drain_graph(create_node(as_mode(mode, flaky), retry=5))
    config = {"configurable": {"thread_id": f"call-drain-{mode}"}}
    with pytest.raises(GraphDrained, match="deploy"):
        await run_graph(graph, mode, {}, config, control=control)
    assert len(calls) == 1
    assert graph.get_state(config).next == ("flaky",)
    out = await run_graph(graph, mode, None, config)
    assert out["log"] == ["a", "flaky", "b"]
    assert len(calls) == 2
    assert not out["errors"]


@pytest.mark.parametrize("mode", MODES)
async def test_drain_requested_in_retry_hook_stops_retrying(mode: str) -> None:
    """A drain requested from on_retry_attempt: no further attempt, GraphDrained, resume re-runs."""
    control = RunControl()
    calls: list[int] = []

    def flaky(state: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) <= 2:
            raise ConnectionError("down")
        return {"log": ["flaky"]}

    node = create_node(
        as_mode(mode, flaky), retry=3, on_retry_attempt=lambda info: control.request_drain("deploy")
    )
    graph = _drain_graph(node)
    config = {"configurable": {"thread_id": f"call-drain-hook-{mode}"}}
    with pytest.raises(GraphDrained, match="deploy"):
        await run_graph(graph, mode, {}, config, control=control)
    assert len(calls) == 1
    out = await run_graph(graph, mode, None, config)
    assert out["log"] == ["a", "flaky", "b"]
    assert not out["errors"]


# --------------------------------------------------------------------------- metrics sink


def test_collector_prefers_the_runs_over_the_nodes() -> None:
    """The run's configurable metrics_collector wins; else the node's own; else none."""
    own, runs = NodeMetricsCollector(), NodeMetricsCollector()
    with_run = {"configurable": {"metrics_collector": runs}}
    assert Call(runner_for(metrics=own), with_run).metrics is runs
    assert Call(runner_for(metrics=own), None).metrics is own
    assert Call(runner_for(), {"configurable": {}}).metrics is None


def test_report_records_under_the_node_name() -> None:
    """report() forwards a record to the collector under the call's node name."""
    metrics = NodeMetricsCollector()
    call = Call(runner_for(metrics=metrics), None)
    call.report("record_fallback")
    call.report("record_retry", 1)
    m = metrics.get_node_metrics("n")
    assert (m.fallbacks, m.retry_count) == (1, 1)


class _Broken:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def record_success(self, node: str, duration_ms: float) -> None:
        raise self.exc


def test_broken_collector_never_fails_the_call(events: EventCapture) -> None:
    """A collector that raises is logged at debug level and swallowed."""
    call = Call(runner_for(logger=events, metrics=_Broken(ValueError("bad"))), None)
    call.report("record_success", 1.0)
    [failed] = events.named("metrics.failed")
    assert (failed["node"], failed["method"], failed["level"]) == ("n", "record_success", "debug")


def test_control_flow_from_a_collector_passes_through() -> None:
    """LangGraph control flow raised by a collector callback (interrupt()) is not swallowed."""
    call = Call(runner_for(metrics=_Broken(GraphInterrupt(()))), None)
    with pytest.raises(GraphInterrupt):
        call.report("record_success", 1.0)


# --------------------------------------------------------------------------- run deadline


def test_a_run_deadline_caps_the_call_like_its_own_deadline() -> None:
    """configurable[RUN_DEADLINE_KEY]: the earlier of it and the node's deadline binds."""
    soon = time.monotonic() + 1.0
    call = Call(runner_for(deadline=60.0), {"configurable": {RUN_DEADLINE_KEY: soon}})
    assert call.deadline_at == soon and call.run_deadline is True
    limit, is_deadline = call.attempt_limit()
    assert is_deadline is True and limit is not None and 0 < limit <= 1.0
    own_first = Call(runner_for(deadline=1.0), {"configurable": {RUN_DEADLINE_KEY: soon + 60}})
    assert own_first.run_deadline is False
    assert own_first.deadline_at is not None and own_first.deadline_at < soon + 60


def test_a_spent_run_deadline_raises_a_marked_deadline_timeout() -> None:
    """Past the run's deadline the call ends with NodeTimeoutError(kind='deadline'), marked."""
    past = time.monotonic() - 0.01
    call = Call(runner_for(), {"configurable": {RUN_DEADLINE_KEY: past}})
    assert call.run_signal is not None  # the guarded path enforces the deadline
    with pytest.raises(NodeTimeoutError) as info:
        call.attempt_limit()
    assert info.value.kind == "deadline" and getattr(info.value, "run_deadline", False)


def test_a_run_deadline_of_the_wrong_type_names_the_key() -> None:
    """A run deadline that is not a monotonic float is a TypeError naming the key."""
    with pytest.raises(TypeError, match=RUN_DEADLINE_KEY):
        Call(runner_for(), {"configurable": {RUN_DEADLINE_KEY: "soon"}})


@pytest.mark.parametrize("mode", MODES)
async def test_a_run_deadline_in_the_config_stops_a_hanging_node(mode: str) -> None:
    """Without run(): a deadline in the config ends a plain node that hangs, sync or async."""
    slow = hang(30.0, is_async=mode == "async")
    g = StateGraph(GraphState)
    g.add_node("slow", create_node(slow, on_error="raise"))
    g.add_edge(START, "slow")
    g.add_edge("slow", END)
    config = {"configurable": {RUN_DEADLINE_KEY: time.monotonic() + 0.2}}
    with pytest.raises(NodeTimeoutError) as info:
        await run_graph(g.compile(), mode, {}, config)
    assert info.value.kind == "deadline"
    assert slow.wait_idle(5.0) and slow.completed == 0
