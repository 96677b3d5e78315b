"""create_node's timeouts, deadlines, abort signals, cancellation and circuit breakers in graphs."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import NodeError as LGNodeError
from langgraph.errors import NodeTimeoutError as LGNodeTimeoutError
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from langgraph_runner import (
    ABORT_SIGNAL_KEY,
    AbortController,
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitState,
    ErrorCode,
    GraphState,
    NodeAbortedError,
    NodeContext,
    NodeError,
    NodeTimeoutError,
    RetryConfig,
    create_node,
    get_circuit_breaker,
    get_node_context,
)
from langgraph_runner._engine import attempt as attempt_mod
from langgraph_runner._policies.circuit import reset_circuit_breakers
from langgraph_runner._policies.timeouts import abandoned_thread_count, wait_for_abandoned_threads
from langgraph_runner.metrics import METRICS_COLLECTOR_KEY, NodeMetricsCollector
from langgraph_runner.testing import fail_times, hang, no_wait
from tests.conftest import MODES, EventCapture, run_graph

pytestmark = pytest.mark.usefixtures("instant")

TIMEOUT = 0.05
# The limit of a sync attempt whose body a test counts (calls, running, completed): a worker
# thread must pick the call up before it, and an attempt abandoned while still queued never
# runs. On a starved machine a thread can take longer than 0.05 s to start.
STARTS = 0.3
PROMPT = 3.0  # "promptly": far above the limits used, far below the hang lengths


class S(GraphState, total=False):
    x: int


def graph_of(node: Any, name: str = "work", **compile_kw: Any) -> Any:
    g = StateGraph(S)
    g.add_node(name, node)
    g.add_edge(START, name)
    g.add_edge(name, END)
    return g.compile(**compile_kw)


def is_async(mode: str) -> bool:
    return mode == "async"


@pytest.fixture
def real_waits(instant: None) -> Any:
    """Retry waits really happen (the module runs under no_wait otherwise)."""
    from langgraph_runner._engine.waits import no_wait_scope

    with no_wait_scope(enabled=False):
        yield


def _wait_sync(condition: Any, cap: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``cap`` seconds pass; whether it held."""
    deadline = time.monotonic() + cap
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


async def _until(condition: Any, cap: float = 10.0) -> None:
    """Yield to the loop until ``condition`` holds (a cap for a starved machine, not a bound)."""
    deadline = time.monotonic() + cap
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.005)


@pytest.fixture(autouse=True)
def _settle_threads() -> Any:
    """Abandoned worker threads of one test never leak into the next."""
    yield
    assert wait_for_abandoned_threads(5.0)


# --------------------------------------------------------------------------- timeouts


@pytest.mark.parametrize("mode", MODES)
async def test_timeout_records_node_timeout_after_every_attempt(mode: str) -> None:
    """Each attempt is cut at the timeout; the record says NODE_TIMEOUT, category timeout."""
    slow = hang(30.0, is_async=is_async(mode), result={"x": 1})
    limit = TIMEOUT if is_async(mode) else STARTS  # both attempts' bodies must run
    node = create_node(slow, name="work", timeout=limit, retry=2)
    t0 = time.monotonic()
    out = await run_graph(graph_of(node), mode, {})
    assert time.monotonic() - t0 < PROMPT
    [record] = out["errors"]
    assert record["code"] == "NODE_TIMEOUT"
    assert record["category"] == "timeout"
    assert record["attempts"] == 2
    assert record["error_type"] == "NodeTimeoutError"
    assert out["routing_flags"] == {"blocked": True}
    assert "x" not in out
    assert slow.calls == 2
    assert slow.wait_idle(PROMPT)
    assert slow.aborted == 2  # each attempt's signal fired and the code honoured it


@pytest.mark.parametrize("mode", ["sync", "sync-ainvoke"])
async def test_sync_code_that_ignores_abort_is_abandoned_and_its_result_discarded(
    mode: str, events: EventCapture
) -> None:
    """A sync attempt past its timeout is abandoned: late result dropped, counted."""
    before = abandoned_thread_count()
    release = threading.Event()

    def late(state: Any) -> dict[str, Any]:
        # Returns only once released after the run's checks: a 0.3 s hang could end before
        # a starved run got back here, and nothing would still be running.
        release.wait(30)
        return {"x": 99}

    stubborn = hang(0, honour_abort=False, result=late)
    node = create_node(stubborn, name="work", timeout=STARTS)
    try:
        out = await run_graph(graph_of(node), mode, {})
        assert out["errors"][0]["code"] == "NODE_TIMEOUT"
        assert stubborn.running == 1  # still running in its abandoned thread
        assert abandoned_thread_count() == before + 1
    finally:
        release.set()
    assert stubborn.wait_idle(PROMPT)
    assert stubborn.completed == 1
    assert "x" not in out


async def test_abandoned_thread_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Abandoning a worker thread logs node.abandoned at warning level."""
    release = threading.Event()

    def late(state: Any) -> None:
        # Returns only once released after the run: a 0.2 s hang could beat a starved timeout.
        release.wait(30)

    stubborn = hang(0, honour_abort=False, result=late)
    node = create_node(stubborn, name="work", timeout=TIMEOUT)
    try:
        with caplog.at_level("WARNING", logger="langgraph_runner"):
            graph_of(node).invoke({})
    finally:
        release.set()
    assert any("node.abandoned" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("mode", MODES)
async def test_timeout_is_retried_and_a_later_attempt_can_succeed(mode: str) -> None:
    """A timeout is retryable: a fast second attempt succeeds and nothing is recorded."""
    calls: list[int] = []

    def body(state: S) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            signal = get_node_context().abort_signal  # type: ignore[union-attr]
            signal.wait_sync(30)
            signal.throw_if_aborted()
        return {"x": len(calls)}

    async def abody(state: S) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            await asyncio.sleep(30)
        return {"x": len(calls)}

    node = create_node(abody if is_async(mode) else body, name="work", timeout=TIMEOUT, retry=3)
    out = await run_graph(graph_of(node), mode, {})
    assert out["x"] == 2
    assert out["errors"] == []


def test_node_timeout_error_is_langgraphs_node_timeout_error() -> None:
    """LangGraph's handlers see our timeout as their own NodeTimeoutError, retryable."""
    seen: list[BaseException] = []

    def handler(state: Any, error: LGNodeError) -> Command[Any]:
        seen.append(error.error)
        return Command(update={"x": -1}, goto=END)

    # LangGraph injects `error` by the annotation's class (or the text "NodeError");
    # under `from __future__ import annotations` ours reads "LGNodeError".
    handler.__annotations__["error"] = LGNodeError

    g = StateGraph(S)
    g.add_node(
        "work",
        create_node(hang(30.0), name="work", timeout=TIMEOUT, on_error="raise"),
        error_handler=handler,
    )
    g.add_edge(START, "work")
    out = g.compile().invoke({})
    assert out["x"] == -1
    [err] = seen
    assert isinstance(err, NodeTimeoutError)
    assert isinstance(err, LGNodeTimeoutError)
    assert not isinstance(err, TimeoutError)  # like LangGraph's own
    assert err.attempt == 1
    assert "exceeded its timeout of 0.050s" in str(err)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hook_kind", ["sync", "async"])
async def test_on_timeout_runs_once_per_timed_out_attempt(mode: str, hook_kind: str) -> None:
    """on_timeout(ctx) gets each timed-out attempt's context, sync or async hook alike."""
    seen: list[NodeContext] = []

    def hook(ctx: NodeContext) -> None:
        seen.append(ctx)

    async def ahook(ctx: NodeContext) -> None:
        seen.append(ctx)

    node = create_node(
        hang(30.0, is_async=is_async(mode)),
        name="work",
        timeout=TIMEOUT,
        retry=3,
        on_timeout=ahook if hook_kind == "async" else hook,
    )
    out = await run_graph(graph_of(node), mode, {})
    assert out["errors"][0]["code"] == "NODE_TIMEOUT"
    assert [c.attempt for c in seen] == [1, 2, 3]
    assert all(c.node == "work" and c.abort_signal.aborted for c in seen)


@pytest.mark.parametrize("mode", MODES)
async def test_failing_or_hanging_on_timeout_never_replaces_the_timeout(
    mode: str, events: EventCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hook that raises or overruns its own limit is logged; the record stays NODE_TIMEOUT."""
    monkeypatch.setattr(attempt_mod, "ON_TIMEOUT_LIMIT", 0.05)
    hook_calls: list[str] = []

    def failing(ctx: NodeContext) -> None:
        hook_calls.append("failing")
        raise RuntimeError("cleanup broke: password=hunter2")

    release, hook_returned = threading.Event(), threading.Event()

    def overrun(ctx: NodeContext) -> None:
        hook_calls.append("overrun")
        release.wait(10)  # held until the node has returned
        hook_returned.set()

    for hook in (failing, overrun):
        node = create_node(
            hang(30.0, is_async=is_async(mode)),
            name="work",
            timeout=TIMEOUT,
            on_timeout=hook,
            logger=events,
        )
        out = await run_graph(graph_of(node), mode, {})
        assert out["errors"][0]["code"] == "NODE_TIMEOUT"
    assert not hook_returned.is_set()  # the overrunning hook was abandoned, not awaited
    release.set()
    assert hook_calls == ["failing", "overrun"]
    failed = [(e["hook"], e["error_type"]) for e in events.named("hook.failed")]
    assert failed == [("on_timeout", "RuntimeError"), ("on_timeout", "TimeoutError")]
    assert "hunter2" not in repr(events.events)


def test_timeout_and_deadline_are_validated_at_factory_time() -> None:
    """Bad timeouts fail in create_node, naming the option."""
    with pytest.raises(ValueError, match="timeout"):
        create_node(lambda s: {}, timeout=0)
    with pytest.raises(TypeError, match="deadline"):
        create_node(lambda s: {}, deadline="10")
    with pytest.raises(TypeError, match="timeout"):
        create_node(lambda s: {}, timeout=True)


# --------------------------------------------------------------------------- deadline


@pytest.mark.parametrize("mode", MODES)
async def test_no_wait_sleeps_past_the_deadline(mode: str) -> None:
    """A wait that would end past the deadline is not started: NODE_TIMEOUT at once."""
    flaky = fail_times(5, ConnectionError, is_async=is_async(mode), result={"x": 1})
    retry = RetryConfig(max_attempts=5, initial_interval=10.0, max_interval=10.0)
    node = create_node(flaky, name="work", retry=retry, deadline=1.0)
    with no_wait() as skipped:
        out = await run_graph(graph_of(node), mode, {})
    assert skipped == []  # not even a skipped wait: the deadline ended the call first
    assert flaky.calls == 1
    [record] = out["errors"]
    assert record["code"] == "NODE_TIMEOUT"
    assert record["category"] == "timeout"
    assert "deadline of 1.000s" in record["message"]


@pytest.mark.parametrize("mode", MODES)
async def test_deadline_caps_the_running_attempt(mode: str) -> None:
    """An attempt with no timeout of its own is cut when the call's deadline runs out."""
    seen: list[float | None] = []

    def probe(state: S) -> None:
        seen.append(get_node_context().deadline)  # type: ignore[union-attr]

    slow = hang(30.0, is_async=is_async(mode))
    deadline = 0.1 if is_async(mode) else STARTS  # the attempt's body must run
    node = create_node(slow, name="work", deadline=deadline, timeout=10.0, retry=3, on_failure=None)
    t0 = time.monotonic()
    out = await run_graph(graph_of(node), mode, {})
    assert time.monotonic() - t0 < PROMPT
    [record] = out["errors"]
    assert record["code"] == "NODE_TIMEOUT"
    assert f"deadline of {deadline:.3f}s" in record["message"]
    assert slow.calls == 1
    create_node(probe, deadline=5.0)({})
    assert seen[0] is not None and seen[0] > time.monotonic()


# --------------------------------------------------------------------------- abort


def _aborted_config(controller: AbortController, thread: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {ABORT_SIGNAL_KEY: controller.signal}
    if thread:
        conf["thread_id"] = thread
    return {"configurable": conf}


@pytest.mark.parametrize("mode", MODES)
async def test_aborted_run_stops_writes_nothing_and_resume_reruns_the_node(mode: str) -> None:
    """An abort before the attempt raises NodeAbortedError; resuming re-runs only that node."""
    calls: list[str] = []

    def first(state: S) -> dict[str, Any]:
        calls.append("first")
        return {"x": 1}

    work = fail_times(0, is_async=is_async(mode), result=lambda s: {"x": s["x"] + 1}, name="work")
    g = StateGraph(S)
    g.add_node("first", first)
    g.add_node("work", create_node(work, retry=3))
    g.add_edge(START, "first")
    g.add_edge("first", "work")
    g.add_edge("work", END)
    graph = g.compile(checkpointer=InMemorySaver())
    controller = AbortController()
    controller.abort("user pressed stop")
    config = _aborted_config(controller, thread=f"t-{uuid.uuid4().hex}")
    with pytest.raises(NodeAbortedError, match="user pressed stop"):
        await run_graph(graph, mode, {}, config)
    assert work.calls == 0
    state = graph.get_state(config)
    assert state.next == ("work",)
    assert not state.values.get("errors")
    resume = {"configurable": {"thread_id": config["configurable"]["thread_id"]}}
    out = await run_graph(graph, mode, None, resume)
    assert out["x"] == 2
    assert calls == ["first"]
    assert work.calls == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.usefixtures("real_waits")
async def test_abort_interrupts_a_retry_wait_at_once(mode: str) -> None:
    """An abort during a long retry wait ends the call promptly; no further attempt starts."""
    flaky = fail_times(10, ConnectionError, is_async=is_async(mode))
    retry = RetryConfig(max_attempts=5, initial_interval=30.0, max_interval=30.0)
    controller = AbortController()
    timers: list[threading.Timer] = []
    waits_started: list[float] = []

    def abort_during_the_wait(attempt: Any) -> None:
        # Started from the hook the engine calls just before the wait, so the abort lands
        # in the 30 s wait whatever the load (a timer started before the run could fire
        # before the first attempt on a starved machine).
        waits_started.append(time.monotonic())
        timers.append(timer := threading.Timer(0.05, controller.abort, args=("stop",)))
        timer.start()

    node = create_node(flaky, name="work", retry=retry, on_retry_attempt=abort_during_the_wait)
    try:
        with pytest.raises(NodeAbortedError):
            await run_graph(graph_of(node), mode, {}, _aborted_config(controller))
    finally:
        for timer in timers:
            timer.cancel()
    assert len(waits_started) == 1
    assert time.monotonic() - waits_started[0] < PROMPT
    assert flaky.calls == 1


@pytest.mark.parametrize("mode", MODES)
async def test_abort_during_an_attempt_fires_the_attempts_signal(
    mode: str, events: EventCapture
) -> None:
    """The run's abort reaches the running attempt: cooperative code stops, node.aborted logged."""
    slow = hang(30.0, is_async=is_async(mode))
    breaker = CircuitBreaker("abort-test", CircuitBreakerConfig(failure_threshold=1))
    node = create_node(slow, name="work", retry=3, circuit_breaker=breaker, logger=events)
    controller = AbortController()

    def abort_once_running() -> None:  # not a fixed 0.1 s: the attempt is under way
        if _wait_sync(lambda: slow.running == 1):
            controller.abort("shutdown")

    timer = threading.Thread(target=abort_once_running, daemon=True)
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(NodeAbortedError):
        await run_graph(graph_of(node), mode, {}, _aborted_config(controller))
    assert time.monotonic() - t0 < PROMPT
    timer.join(PROMPT)
    assert slow.wait_idle(PROMPT)
    assert slow.calls == 1
    assert slow.aborted == 1
    assert [e["reason"] for e in events.named("node.aborted")] == ["shutdown"]
    assert events.named("node.failed") == []
    assert breaker.state is CircuitState.CLOSED  # an abort is not a failure
    assert breaker.snapshot()["consecutive_failures"] == 0


@pytest.mark.parametrize("mode", MODES)
async def test_abort_during_an_attempt_that_then_returns_still_stops_the_run(mode: str) -> None:
    """An abort wins even when the attempt returns normally afterwards: nothing is written."""
    controller = AbortController()

    def body(state: S) -> dict[str, Any]:
        controller.abort("stop")
        return {"x": 1}

    async def abody(state: S) -> dict[str, Any]:
        controller.abort("stop")
        return {"x": 1}

    node = create_node(abody if is_async(mode) else body, name="work")
    graph = graph_of(node, checkpointer=InMemorySaver())
    config = _aborted_config(controller, thread=f"t-{uuid.uuid4().hex}")
    with pytest.raises(NodeAbortedError, match="stop"):
        await run_graph(graph, mode, {}, config)
    assert "x" not in graph.get_state(config).values


def test_abort_controller_in_config_works_and_a_wrong_type_is_named() -> None:
    """The config may carry the controller itself; anything else is a TypeError naming the key."""
    controller = AbortController()
    controller.abort()
    node = create_node(lambda s: {"x": 1}, name="work")
    with pytest.raises(NodeAbortedError):
        graph_of(node).invoke({}, {"configurable": {ABORT_SIGNAL_KEY: controller}})
    with pytest.raises(TypeError, match="abort_signal"):
        graph_of(node).invoke({}, {"configurable": {ABORT_SIGNAL_KEY: "stop"}})


# --------------------------------------------------------------------------- cancellation


@pytest.mark.usefixtures("real_waits")
async def test_cancelling_a_sync_node_under_ainvoke_stops_retries_and_records_nothing() -> None:
    """Cancelling the run during a sync node's retry wait: no new attempt, no record."""
    flaky = fail_times(100, ConnectionError)
    retry = RetryConfig(max_attempts=50, initial_interval=0.1, max_interval=0.1, jitter=0)
    collector = NodeMetricsCollector()
    node = create_node(flaky, name="work", retry=retry)
    graph = graph_of(node)
    task = asyncio.ensure_future(
        graph.ainvoke({}, {"configurable": {METRICS_COLLECTOR_KEY: collector}})
    )
    # Cancel once an attempt has failed (a fixed 0.12 s could pass, on a starved machine,
    # before the worker thread made the first call); the 0.1 s waits leave the cancel 0.3 s
    # to land before a fifth call.
    await _until(lambda: flaky.calls >= 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    calls_at_cancel = flaky.calls
    await asyncio.sleep(0.3)  # three more waits' worth: nothing may run
    assert flaky.calls == calls_at_cancel
    assert 1 <= calls_at_cancel <= 4
    assert collector.get_node_metrics("work").failure_count == 0


async def test_cancelling_during_a_sync_attempt_aborts_its_signal() -> None:
    """A sync attempt running in its worker thread sees its abort signal fire on cancellation."""
    slow = hang(30.0)
    node = create_node(slow, name="work", retry=3)
    task = asyncio.ensure_future(graph_of(node).ainvoke({}))
    await _until(lambda: slow.running == 1)  # not a fixed 0.1 s: the attempt is under way
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert slow.wait_idle(PROMPT)
    assert slow.calls == 1
    assert slow.aborted == 1


# --------------------------------------------------------------------------- circuit breakers


def _clocked(threshold: int = 2, recovery: float = 30.0, probes: int = 1) -> tuple[Any, Any]:
    now = [1000.0]
    config = CircuitBreakerConfig(
        failure_threshold=threshold, recovery_timeout=recovery, half_open_max_calls=probes
    )
    breaker = CircuitBreaker(f"b-{uuid.uuid4().hex}", config, clock=lambda: now[0])
    return breaker, now


@pytest.mark.parametrize("mode", MODES)
async def test_open_circuit_rejects_without_calling_and_without_retrying(mode: str) -> None:
    """After failure_threshold failures the next call is rejected: CIRCUIT_OPEN with retry_after."""
    breaker, _now = _clocked(threshold=2)
    flaky = fail_times(2, ConnectionError, is_async=is_async(mode), result={"x": 1})
    collector = NodeMetricsCollector()
    node = create_node(
        flaky, name="work", circuit_breaker=breaker, retry=RetryConfig(max_attempts=1)
    )
    config = {"configurable": {METRICS_COLLECTOR_KEY: collector}}
    graph = graph_of(node)
    for _ in range(2):
        out = await run_graph(graph, mode, {}, config)
        assert out["errors"][0]["code"] == "RETRY_EXHAUSTED"
    assert breaker.state is CircuitState.OPEN
    node3 = create_node(flaky, name="work", circuit_breaker=breaker, retry=5)
    out = await run_graph(graph_of(node3), mode, {}, config)
    assert flaky.calls == 2  # not called
    [record] = out["errors"]
    assert record["code"] == "CIRCUIT_OPEN"
    assert record["attempts"] == 1  # no retry within the call
    assert record["recoverable"] is True
    assert 29.0 < record["retry_after"] <= 30.0
    NodeError.model_validate(record)
    assert collector.get_node_metrics("work").circuit_rejections == 1


@pytest.mark.parametrize("mode", MODES)
async def test_success_restarts_the_count_even_if_another_call_failed_meanwhile(mode: str) -> None:
    """Consecutive failures: a success that ends after a concurrent failure still resets it."""
    breaker, _now = _clocked(threshold=2)

    def body(state: dict[str, Any]) -> dict[str, Any]:
        breaker.on_failure()  # another call of the dependency fails while this one runs
        return {"x": 1}

    async def abody(state: dict[str, Any]) -> dict[str, Any]:
        return body(state)

    node = create_node(abody if is_async(mode) else body, name="work", circuit_breaker=breaker)
    out = await run_graph(graph_of(node), mode, {})
    assert out["x"] == 1
    assert breaker.snapshot()["consecutive_failures"] == 0 and breaker.settled
    flaky = fail_times(1, ConnectionError, is_async=is_async(mode))
    await run_graph(graph_of(create_node(flaky, name="work", circuit_breaker=breaker)), mode, {})
    assert breaker.state is CircuitState.CLOSED  # one failure, not two in a row


@pytest.mark.parametrize("mode", MODES)
async def test_breaker_sits_inside_the_retry_loop(mode: str) -> None:
    """Each attempt counts: the circuit opens mid-call and the next attempt is rejected."""
    breaker, _now = _clocked(threshold=3)
    flaky = fail_times(100, ConnectionError, is_async=is_async(mode))
    node = create_node(flaky, name="work", circuit_breaker=breaker, retry=10)
    out = await run_graph(graph_of(node), mode, {})
    assert flaky.calls == 3
    [record] = out["errors"]
    assert record["code"] == "CIRCUIT_OPEN"
    assert record["attempts"] == 4


@pytest.mark.parametrize("mode", MODES)
async def test_half_open_admits_exact_probes_success_closes_failure_reopens(mode: str) -> None:
    """After recovery_timeout one probe runs: failure re-opens, a later success closes."""
    breaker, now = _clocked(threshold=1, recovery=30.0)
    flaky = fail_times(2, ConnectionError, is_async=is_async(mode), result={"x": 7})
    graph = graph_of(create_node(flaky, name="work", circuit_breaker=breaker))
    transitions: list[tuple[str, str]] = []
    breaker.add_listener(lambda old, new: transitions.append((old.value, new.value)))
    await run_graph(graph, mode, {})  # fails: opens
    out = await run_graph(graph, mode, {})  # rejected
    assert out["errors"][0]["code"] == "CIRCUIT_OPEN"
    now[0] += 30.0
    out = await run_graph(graph, mode, {})  # the probe fails: re-opens
    assert out["errors"][0]["code"] == "RETRY_EXHAUSTED"
    assert breaker.state is CircuitState.OPEN
    now[0] += 30.0
    out = await run_graph(graph, mode, {})  # the probe succeeds: closes
    assert out["x"] == 7
    assert breaker.state is CircuitState.CLOSED
    assert flaky.calls == 3
    assert transitions == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_only_retryable_failures_and_timeouts_count(mode: str) -> None:
    """Non-retryable errors leave the breaker closed; timeouts count like retryable errors."""
    breaker, _now = _clocked(threshold=2)
    bad = fail_times(100, TypeError, is_async=is_async(mode))
    for _ in range(3):
        await run_graph(graph_of(create_node(bad, name="work", circuit_breaker=breaker)), mode, {})
    assert breaker.state is CircuitState.CLOSED
    slow = hang(30.0, is_async=is_async(mode))
    node = create_node(slow, name="work", circuit_breaker=breaker, timeout=TIMEOUT)
    for _ in range(2):
        await run_graph(graph_of(node), mode, {})
    assert breaker.state is CircuitState.OPEN


async def test_nodes_naming_one_key_trip_together() -> None:
    """Every node naming the same breaker key shares one breaker."""
    key = f"crm-api-{uuid.uuid4().hex}"
    get_circuit_breaker(key, CircuitBreakerConfig(failure_threshold=2))
    a = fail_times(100, ConnectionError, name="a")
    b = fail_times(100, ConnectionError, name="b")
    g = StateGraph(S)
    g.add_node("a", create_node(a, circuit_breaker=key))
    g.add_node("b", create_node(b, circuit_breaker=key))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", END)
    graph = g.compile()
    first = graph.invoke({})
    assert [e["code"] for e in first["errors"]] == ["RETRY_EXHAUSTED", "RETRY_EXHAUSTED"]
    second = graph.invoke({})  # two failures between them opened the shared circuit
    assert [(e["node"], e["code"]) for e in second["errors"]] == [
        ("a", "CIRCUIT_OPEN"),
        ("b", "CIRCUIT_OPEN"),
    ]
    assert (a.calls, b.calls) == (1, 1)
    assert get_circuit_breaker(key).state is CircuitState.OPEN
    reset_circuit_breakers()


def test_circuit_breaker_option_is_validated_at_factory_time() -> None:
    """A wrong circuit_breaker type fails in create_node."""
    with pytest.raises(TypeError, match="circuit_breaker"):
        create_node(lambda s: {}, circuit_breaker=5)  # type: ignore[arg-type]


def test_error_code_is_enum_backed() -> None:
    """The codes used here are ErrorCode members (no free-form strings)."""
    assert {ErrorCode.NODE_TIMEOUT, ErrorCode.CIRCUIT_OPEN} <= set(ErrorCode)
