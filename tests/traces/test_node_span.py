"""Tests for langgraph_runner._traces.node_span: a span per node call and per attempt."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from langgraph_runner import (
    AbortController,
    Budget,
    CircuitBreakerConfig,
    GraphState,
    NodeCache,
    RateLimit,
    RetryConfig,
    create_node,
)
from langgraph_runner._records.exceptions import NodeAbortedError
from langgraph_runner._traces import spans
from langgraph_runner._traces.node_span import ATTEMPT_SPAN, NODE_SPAN
from langgraph_runner._traces.run_span import RUN_SPAN
from langgraph_runner.runs import arun, run
from langgraph_runner.testing import no_wait
from tests.conftest import ASYNC_CONTEXT_MISSING
from tests.traces.conftest import Tracing, texts

MODES = pytest.mark.parametrize("mode", ["sync", "async"])
SECRET = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"


class S(GraphState, total=False):
    x: int
    a: int


class Flaky(Exception):
    """A retryable failure that carries a Retry-After hint."""

    retry_after = 0.25


def _graph(node: Any, checkpointer: Any = None) -> Any:
    g = StateGraph(S)
    g.add_node("n", node)
    g.add_edge(START, "n")
    g.add_edge("n", END)
    return g.compile(checkpointer=checkpointer)


def _node(mode: str, fn: Any, **options: Any) -> Any:
    if mode == "async":

        async def n(state: S) -> Any:
            return fn(state)

        return create_node(n, **options)

    def n_sync(state: S) -> Any:
        return fn(state)

    return create_node(n_sync, **options)


def _invoke(mode: str, graph: Any, inp: Any = None, config: Any = None) -> Any:
    inp = {"x": 1} if inp is None else inp
    if mode == "async":
        return asyncio.run(graph.ainvoke(inp, config))
    return graph.invoke(inp, config)


def _attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def _events(span: Any) -> list[str]:
    return [e.name for e in span.events]


@MODES
def test_a_node_call_has_its_span_and_one_attempt_span_under_the_run(
    tracing: Tracing, mode: str
) -> None:
    """Run span > node span > attempt span > the span the node made itself."""
    inner = tracing.provider.get_tracer("app")

    def body(state: S) -> S:
        with inner.start_as_current_span("app.fetch"):
            return {"a": state["x"] + 1}

    graph = _graph(_node(mode, body), checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t-span"}}
    if mode == "async":
        asyncio.run(arun(graph, {"x": 1}, config))
    else:
        run(graph, {"x": 1}, config)
    (run_span,) = tracing.finished(RUN_SPAN)
    (node,) = tracing.finished(NODE_SPAN)
    (attempt,) = tracing.finished(ATTEMPT_SPAN)
    (app,) = tracing.finished("app.fetch")
    assert node.parent is not None and node.parent.span_id == run_span.context.span_id
    assert attempt.parent is not None and attempt.parent.span_id == node.context.span_id
    assert app.parent is not None and app.parent.span_id == attempt.context.span_id
    assert len({s.context.trace_id for s in (run_span, node, attempt, app)}) == 1
    a = _attrs(node)
    assert a["langgraph_runner.node.name"] == "n"
    assert a["langgraph_runner.node.outcome"] == "succeeded"
    assert a["langgraph_runner.node.attempts"] == 1
    assert a["langgraph_runner.thread.id"] == "t-span"
    assert a["langgraph.step"] == 1
    assert _attrs(attempt)["langgraph_runner.attempt.number"] == 1
    assert _attrs(attempt)["langgraph_runner.attempt.outcome"] == "succeeded"
    assert node.status.status_code is StatusCode.UNSET
    # Nothing is left current after the call.
    assert not trace.get_current_span().get_span_context().is_valid


@MODES
def test_a_retried_failure_has_an_attempt_span_each_with_the_delay_and_retry_after(
    tracing: Tracing, mode: str
) -> None:
    calls = [0]

    def body(state: S) -> S:
        calls[0] += 1
        if calls[0] < 3:
            raise Flaky(f"upstream said no, token={SECRET}")
        return {"a": 1}

    graph = _graph(_node(mode, body, retry=RetryConfig(max_attempts=3, retry_on=(Flaky,))))
    with no_wait():
        assert _invoke(mode, graph)["a"] == 1
    attempts = sorted(
        tracing.finished(ATTEMPT_SPAN), key=lambda s: _attrs(s)["langgraph_runner.attempt.number"]
    )
    assert [_attrs(s)["langgraph_runner.attempt.outcome"] for s in attempts] == [
        "retry",
        "retry",
        "succeeded",
    ]
    first = _attrs(attempts[0])
    assert first["langgraph_runner.retry.delay_s"] >= 0.25  # the hint is a floor
    assert first["langgraph_runner.retry.after_s"] == 0.25
    assert first["error.type"].endswith("Flaky")
    assert first["langgraph_runner.error.category"]
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert "exception" in _events(attempts[0])
    (node,) = tracing.finished(NODE_SPAN)
    assert _attrs(node)["langgraph_runner.node.attempts"] == 3
    assert _attrs(node)["langgraph_runner.node.outcome"] == "succeeded"
    for span in tracing.finished():
        assert not any(SECRET in t for t in texts(span)), span.name


@MODES
def test_a_recorded_failure_ends_the_node_span_with_the_record_code_and_error_status(
    tracing: Tracing, mode: str
) -> None:
    def body(state: S) -> S:
        raise ValueError(f"bad input, password={SECRET}")

    out = _invoke(mode, _graph(_node(mode, body)))
    (record,) = out["errors"]
    (node,) = tracing.finished(NODE_SPAN)
    a = _attrs(node)
    assert a["langgraph_runner.node.outcome"] == "failed"
    assert a["langgraph_runner.error.code"] == record["code"]
    assert a["langgraph_runner.error.category"] == record["category"]
    assert a["error.type"] == "ValueError"
    assert node.status.status_code is StatusCode.ERROR
    assert "exception" in _events(node)
    assert not any(SECRET in t for t in texts(node))
    (attempt,) = tracing.finished(ATTEMPT_SPAN)
    assert _attrs(attempt)["langgraph_runner.attempt.outcome"] == "failed"


@MODES
def test_a_raised_failure_is_recorded_once_and_leaves_nothing_current(
    tracing: Tracing, mode: str
) -> None:
    def body(state: S) -> S:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        _invoke(mode, _graph(_node(mode, body, on_error="raise")))
    (node,) = tracing.finished(NODE_SPAN)
    assert _events(node).count("exception") == 1
    assert _attrs(node)["langgraph_runner.node.outcome"] == "failed"
    assert not trace.get_current_span().get_span_context().is_valid


@MODES
def test_an_interrupt_ends_the_spans_as_interrupted_not_as_errors(
    tracing: Tracing, mode: str
) -> None:
    if mode == "async" and ASYNC_CONTEXT_MISSING:
        pytest.skip("interrupt() in an async node needs Python 3.11 (tests/conftest.py)")

    def body(state: S) -> S:
        return {"a": interrupt("approve?")}

    graph = _graph(_node(mode, body), checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t-interrupt"}}
    out = _invoke(mode, graph, config=config)
    assert "__interrupt__" in out
    (node,) = tracing.finished(NODE_SPAN)
    (attempt,) = tracing.finished(ATTEMPT_SPAN)
    assert _attrs(node)["langgraph_runner.node.outcome"] == "interrupted"
    assert _attrs(attempt)["langgraph_runner.attempt.outcome"] == "interrupted"
    assert node.status.status_code is StatusCode.UNSET
    assert "exception" not in _events(node)
    assert _invoke(mode, graph, Command(resume=5), config)["a"] == 5
    assert [_attrs(s)["langgraph_runner.node.outcome"] for s in tracing.finished(NODE_SPAN)] == [
        "interrupted",
        "succeeded",
    ]


@MODES
def test_a_timeout_is_an_event_of_its_attempt(tracing: Tracing, mode: str) -> None:
    def body(state: S) -> S:
        time.sleep(0.5)
        return {"a": 1}

    if mode == "async":

        async def slow(state: S) -> S:
            await asyncio.sleep(0.5)
            return {"a": 1}

        node = create_node(slow, timeout=0.05)
    else:
        node = create_node(body, timeout=0.05)
    out = _invoke(mode, _graph(node))
    assert out["errors"][0]["code"] == "NODE_TIMEOUT"
    (attempt,) = tracing.finished(ATTEMPT_SPAN)
    assert "langgraph_runner.timeout" in _events(attempt)


def test_a_breaker_rejection_is_an_event(tracing: Tracing) -> None:
    def body(state: S) -> S:
        raise ConnectionError("down")

    node = _node(
        "sync",
        body,
        circuit_breaker=CircuitBreakerConfig(failure_threshold=1, recovery_timeout=60),
    )
    graph = _graph(node)
    graph.invoke({"x": 1})
    out = graph.invoke({"x": 1})
    assert out["errors"][0]["code"] == "CIRCUIT_OPEN"
    rejected = tracing.finished(ATTEMPT_SPAN)[-1]
    assert "langgraph_runner.breaker.rejected" in _events(rejected)


def test_a_budget_refusal_and_a_rate_limit_wait_are_events(tracing: Tracing) -> None:
    budget = Budget(name=f"b-{time.monotonic_ns()}", calls=1, per="thread")
    graph = _graph(_node("sync", lambda s: {"a": 1}, budget=budget), checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": f"t-{time.monotonic_ns()}"}}
    graph.invoke({"x": 1}, config)
    out = graph.invoke({"x": 1}, config)
    assert out["errors"][-1]["code"] == "BUDGET_EXHAUSTED"
    assert "langgraph_runner.budget.refused" in _events(tracing.finished(ATTEMPT_SPAN)[-1])

    limit = RateLimit(key=f"rl-{time.monotonic_ns()}", requests_per_second=50, burst=1)
    limited = _graph(_node("sync", lambda s: {"a": 1}, rate_limit=limit))
    limited.invoke({"x": 1})
    limited.invoke({"x": 1})  # the second call waits for its slot (about 20 ms)
    waits = [
        e
        for s in tracing.finished(ATTEMPT_SPAN)
        for e in s.events
        if e.name == "langgraph_runner.rate_limit.wait"
    ]
    assert waits and (waits[0].attributes or {})["langgraph_runner.rate_limit.wait_s"] > 0


def test_a_rate_limit_refusal_is_an_event(tracing: Tracing) -> None:
    limit = RateLimit(key=f"rl-{time.monotonic_ns()}", requests_per_second=1, on_limit="fail")
    graph = _graph(_node("sync", lambda s: {"a": 1}, rate_limit=limit))
    graph.invoke({"x": 1})
    assert graph.invoke({"x": 1})["errors"][0]["code"] == "RATE_LIMITED"
    refused = tracing.finished(ATTEMPT_SPAN)[-1]
    assert _events(refused) == ["langgraph_runner.rate_limit.refused", "exception"]
    assert _attrs(refused)["langgraph_runner.error.category"] == "rate_limit"


@MODES
def test_an_abort_is_an_event_of_its_attempt_and_ends_the_node_aborted(
    tracing: Tracing, mode: str
) -> None:
    """An abort signal ends the call: its attempt says so, the reason redacted, and
    neither span has the error status (a cancelled run's span has none either)."""
    controller = AbortController()
    controller.abort(f"stopped by the user, token={SECRET}")
    config = {"configurable": {"abort_signal": controller.signal}}
    with pytest.raises(NodeAbortedError):
        _invoke(mode, _graph(_node(mode, lambda s: {"a": 1}, on_error="record")), config=config)
    (attempt,) = tracing.finished(ATTEMPT_SPAN)
    (node,) = tracing.finished(NODE_SPAN)
    assert _events(attempt) == ["langgraph_runner.aborted", "exception"]
    assert _attrs(attempt)["langgraph_runner.attempt.outcome"] == "aborted"
    assert _attrs(node)["langgraph_runner.node.outcome"] == "aborted"
    assert _attrs(node)["error.type"].endswith("NodeAbortedError")
    assert [s.status.status_code for s in (attempt, node)] == [StatusCode.UNSET] * 2
    message = attempt.events[1].attributes["exception.message"]
    assert "stopped by the user" in message and SECRET not in message
    for span in (attempt, node):
        assert not any(SECRET in t for t in texts(span)), span.name


@MODES
def test_a_cache_hit_is_an_event_of_a_succeeded_node_span(tracing: Tracing, mode: str) -> None:
    cache = NodeCache(version=f"v{time.monotonic_ns()}")
    graph = _graph(_node(mode, lambda s: {"a": s["x"]}, cache=cache))
    _invoke(mode, graph)
    _invoke(mode, graph)
    first, second = tracing.finished(NODE_SPAN)
    assert "langgraph_runner.cache.miss" in _events(first)
    assert "langgraph_runner.cache.hit" in _events(second)
    assert _attrs(second)["langgraph_runner.node.outcome"] == "succeeded"
    assert len(tracing.finished(ATTEMPT_SPAN)) == 1  # the hit ran no attempt


def test_no_provider_makes_no_span_and_looks_again_later(untraced: None) -> None:
    graph = _graph(_node("sync", lambda s: {"a": 1}))
    graph.invoke({"x": 1})
    assert spans.NEXT_LOOK[0] > time.perf_counter()  # not every call looks
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_a_provider_set_later_is_found_by_the_next_look(untraced: None) -> None:
    """``use_provider`` (and a second's wait for the global one) makes the next call look."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    graph = _graph(_node("sync", lambda s: {"a": 1}))
    graph.invoke({"x": 1})
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    before = spans.use_provider(provider)
    try:
        graph.invoke({"x": 1})
        assert [s.name for s in exporter.get_finished_spans()].count(NODE_SPAN) == 1
    finally:
        spans.use_provider(before)


def test_the_record_the_log_line_and_the_metric_exemplar_carry_the_node_span_trace_id(
    tracing: Tracing,
) -> None:
    """One trace id everywhere: inside the node's span, with no run span around it."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from structlog.testing import CapturingLogger

    from langgraph_runner.metrics import NodeMetricsCollector
    from langgraph_runner.metrics.otel import OpenTelemetryExporter

    reader = InMemoryMetricReader()
    collector = NodeMetricsCollector(graph=f"g{time.monotonic_ns()}")
    exporter = OpenTelemetryExporter(
        collector, meter_provider=MeterProvider(metric_readers=[reader])
    )
    logger = CapturingLogger()

    def body(state: S) -> S:
        raise ValueError("no")

    try:
        out = _graph(create_node(body, metrics=collector, logger=logger)).invoke({"x": 1})
        (node,) = tracing.finished(NODE_SPAN)
        trace_id = f"{node.context.trace_id:032x}"
        assert out["errors"][0]["trace_id"] == trace_id
        (failed,) = [c for c in logger.calls if c.args and c.args[0] == "node.failed"]
        assert failed.kwargs["trace_id"] == trace_id
        metrics = reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics
        (duration,) = [m for m in metrics if m.name == "langgraph.node.duration"]
        exemplars = [e for p in duration.data.data_points for e in p.exemplars]
        assert exemplars and {f"{e.trace_id:032x}" for e in exemplars} == {trace_id}
    finally:
        exporter.close()


def test_the_node_span_nests_under_openinference_langchain_spans(tracing: Tracing) -> None:
    """OpenInference's LangChain instrumentation does not make its spans current: the node's
    span is found its parent through its public get_current_span(), inside run()'s trace."""
    from openinference.instrumentation.langchain import LangChainInstrumentor

    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider)
    try:
        graph = _graph(_node("sync", lambda s: {"a": 1}), checkpointer=InMemorySaver())
        run(graph, {"x": 1}, {"configurable": {"thread_id": f"t-{time.monotonic_ns()}"}})
    finally:
        instrumentor.uninstrument()
    finished = tracing.finished()
    by_id = {s.context.span_id: s for s in finished}

    def parent(span: Any) -> str:
        return by_id[span.parent.span_id].name

    (node,) = tracing.finished(NODE_SPAN)
    assert parent(node) == "n"  # OpenInference's span of the node's LangChain run
    assert parent(by_id[node.parent.span_id]) == "LangGraph"
    assert len({s.context.trace_id for s in finished}) == 1


def test_the_nodes_of_one_invocation_outside_any_span_share_the_runs_trace(
    tracing: Tracing,
) -> None:
    """No span current: each node's span takes the run's own trace id (the one its records
    and the loop guard use), so one invocation is one trace, and two are two."""

    def bad(state: S) -> S:
        raise ValueError("no")

    g = StateGraph(S)
    g.add_node("a", create_node(lambda s: {"a": 1}, name="a"))
    g.add_node("b", create_node(bad, name="b"))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", END)
    graph = g.compile()
    first, second = graph.invoke({"x": 1}), graph.invoke({"x": 2})
    nodes = tracing.finished(NODE_SPAN)
    traces = [f"{s.context.trace_id:032x}" for s in nodes]
    assert traces[0] == traces[1] == first["errors"][0]["trace_id"]
    assert traces[2] == traces[3] == second["errors"][0]["trace_id"] != traces[0]
    assert {s.parent.is_remote for s in nodes if s.parent is not None} == {True}


@MODES
def test_a_call_the_sampler_drops_records_no_span_and_changes_nothing(mode: str) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    provider = TracerProvider(sampler=ALWAYS_OFF)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    before = spans.use_provider(provider)
    calls = [0]

    def flaky(state: S) -> S:
        calls[0] += 1
        if calls[0] == 1:
            raise ConnectionError("reset")
        raise ValueError("bad")

    try:
        with no_wait():
            out = _invoke(mode, _graph(_node(mode, flaky, retry=RetryConfig(max_attempts=2))))
    finally:
        spans.use_provider(before)
    assert out["errors"][0]["code"] == "RETRY_EXHAUSTED" and calls[0] == 2
    assert exporter.get_finished_spans() == ()
    assert not trace.get_current_span().get_span_context().is_valid
