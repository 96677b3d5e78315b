"""Tests for langgraph_runner._traces.run_span: the span of one run(), arun() and rebuild."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from opentelemetry.trace import StatusCode
from structlog.testing import CapturingLogger

from langgraph_runner import GraphState, create_node, get_node_context
from langgraph_runner._traces.run_span import RUN_SPAN
from langgraph_runner.runs import arun, run
from langgraph_runner.testing import hang
from tests.traces.conftest import Tracing, hex_trace, texts

MODES = pytest.mark.parametrize("mode", ["sync", "async"])
SECRET = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"


class S(GraphState, total=False):
    x: int
    a: int


def _graph(*nodes: tuple[str, Any], checkpointer: Any = None) -> Any:
    g = StateGraph(S)
    previous = START
    for name, node in nodes:
        g.add_node(name, node)
        g.add_edge(previous, name)
        previous = name
    g.add_edge(previous, END)
    return g.compile(checkpointer=checkpointer, name="chain")


def _node(mode: str, fn: Any, **options: Any) -> Any:
    if mode == "async":

        async def body(state: S) -> Any:
            return fn(state)

        return create_node(body, **options)

    def sync_body(state: S) -> Any:
        return fn(state)

    return create_node(sync_body, **options)


def _go(mode: str, graph: Any, config: Any = None, **kw: Any) -> Any:
    if mode == "async":
        return asyncio.run(arun(graph, {"x": 1}, config, **kw))
    return run(graph, {"x": 1}, config, **kw)


def _boom(state: S) -> S:
    raise ValueError(f"the billing API refused token={SECRET}")


@MODES
def test_a_run_is_one_span_with_its_identity_and_status(mode: str, tracing: Tracing) -> None:
    """langgraph_runner.run: run id, thread id, graph, tenant, then status; no error."""
    graph = _graph(("a", _node(mode, lambda s: {"a": 1})), checkpointer=InMemorySaver())
    result = _go(mode, graph, {"configurable": {"thread_id": "t-1"}}, tenant="acme")
    assert result.status == "completed"
    (span,) = tracing.finished(RUN_SPAN)
    assert span.parent is None
    assert dict(span.attributes or {}) == {
        "langgraph_runner.run.id": result.run_id,
        "langgraph_runner.thread.id": "t-1",
        "langgraph_runner.graph.name": "chain",
        "langgraph_runner.tenant": "acme",
        "langgraph_runner.run.status": "completed",
    }
    assert span.status.status_code is StatusCode.UNSET and span.events == ()
    assert result.trace_id == hex_trace(span)


@MODES
def test_the_run_span_nests_under_the_callers_span(mode: str, tracing: Tracing) -> None:
    """A run started inside a caller's span is its child, in its trace."""
    seen: list[str] = []

    def body(state: S) -> S:
        ctx = get_node_context()
        assert ctx is not None
        seen.append(ctx.trace_id)
        return {"a": 1}

    graph = _graph(("a", _node(mode, body)))
    with tracing.provider.get_tracer("app").start_as_current_span("request") as caller:
        result = _go(mode, graph)
    (span,) = tracing.finished(RUN_SPAN)
    assert span.parent is not None and span.parent.span_id == caller.get_span_context().span_id
    assert result.trace_id == hex_trace(caller) == hex_trace(span) == seen[0]
    assert result.run_id != result.trace_id


@MODES
def test_records_and_events_carry_the_spans_trace_id(mode: str, tracing: Tracing) -> None:
    """A recorded failure, node events and run events: the run span's trace id."""
    cap = CapturingLogger()
    graph = _graph(("a", _node(mode, _boom, on_error="record", logger=cap)))
    result = _go(mode, graph, logger=cap, on_step_failure="continue")
    (span,) = tracing.finished(RUN_SPAN)
    (record,) = result.output["errors"]
    assert record["trace_id"] == hex_trace(span) == result.trace_id
    assert {c.kwargs["trace_id"] for c in cap.calls} == {hex_trace(span)}


@MODES
def test_a_trace_id_in_the_config_still_wins(mode: str, tracing: Tracing) -> None:
    """configurable.trace_id names the run's records even under a span."""
    graph = _graph(("a", _node(mode, _boom, on_error="record")))
    config = {"configurable": {"trace_id": "order-42"}}
    result = _go(mode, graph, config, on_step_failure="continue")
    assert result.trace_id == "order-42"
    assert result.output["errors"][0]["trace_id"] == "order-42"
    assert len(tracing.finished(RUN_SPAN)) == 1


@MODES
def test_a_failed_run_has_the_error_status_and_no_secret(mode: str, tracing: Tracing) -> None:
    """failed: error status, an exception event, the secret nowhere in the span."""
    graph = _graph(("a", _node(mode, _boom, on_error="raise")))
    result = _go(mode, graph, raise_on_error=False)
    assert result.status == "failed"
    (span,) = tracing.finished(RUN_SPAN)
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["langgraph_runner.run.status"] == "failed"
    (event,) = span.events
    assert event.name == "exception" and event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"
    assert "billing API refused" in str(event.attributes["exception.message"])
    for done in tracing.finished():
        assert all(SECRET not in text for text in texts(done))


@MODES
def test_a_run_its_time_limit_ended_says_so(mode: str, tracing: Tracing) -> None:
    """cancelled by its time limit: status and reason, a time_limit event, not an error."""
    slow = hang(30.0, is_async=mode == "async", name="slow")
    graph = _graph(("slow", create_node(slow, on_error="raise")))
    result = _go(mode, graph, time_limit=0.2, raise_on_error=False)
    assert result.status == "cancelled"
    (span,) = tracing.finished(RUN_SPAN)
    attributes = dict(span.attributes or {})
    assert attributes["langgraph_runner.run.status"] == "cancelled"
    assert attributes["langgraph_runner.run.reason"] == "run time limit passed"
    assert [e.name for e in span.events] == ["langgraph_runner.run.time_limit"]
    assert span.status.status_code is StatusCode.UNSET
    assert slow.wait_idle(5.0)


def test_a_cancelled_task_ends_its_span_cancelled(tracing: Tracing) -> None:
    """arun cancelled from outside: the span ends with a cancelled event."""

    async def go() -> None:
        started = asyncio.Event()

        async def slow(state: S) -> S:
            started.set()
            await asyncio.sleep(30)
            return {"a": 1}

        graph = _graph(("slow", create_node(slow, on_error="raise")))
        task = asyncio.ensure_future(arun(graph, {"x": 1}))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    (span,) = tracing.finished(RUN_SPAN)
    assert (span.attributes or {})["langgraph_runner.run.status"] == "cancelled"
    assert [e.name for e in span.events] == ["langgraph_runner.run.cancelled"]


@MODES
def test_without_a_provider_no_span_and_the_run_id_names_the_trace(
    mode: str, untraced: None
) -> None:
    """No SDK provider: the trace id is the run id, as without OpenTelemetry."""
    graph = _graph(("a", _node(mode, _boom, on_error="record")))
    result = _go(mode, graph, on_step_failure="continue")
    assert result.trace_id == result.run_id
    assert result.output["errors"][0]["trace_id"] == result.run_id


def test_a_run_refused_before_it_starts_ends_its_span(tracing: Tracing) -> None:
    """A run whose thread belongs to another tenant: its span ends, with the error."""
    saver = InMemorySaver()
    graph = _graph(("a", create_node(lambda s: {"a": 1})), checkpointer=saver)
    config = {"configurable": {"thread_id": "shared"}}
    assert run(graph, {"x": 1}, config, tenant="one").status == "completed"
    with pytest.raises(Exception, match="thread"):
        run(graph, {"x": 1}, config, tenant="two")
    refused = tracing.finished(RUN_SPAN)[-1]
    assert (refused.attributes or {})["langgraph_runner.run.status"] == "not_started"
    assert refused.status.status_code is StatusCode.ERROR
