"""Tests for langgraph_runner._traces.carrier, and one trace from ``POST /runs`` to its worker.

The service tests run on SQLite and PostgreSQL: the trace context is kept in the queue
table, and the app's in-process workers execute the run under it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient
from langgraph.graph import END, START, StateGraph
from opentelemetry import trace

from langgraph_runner import create_node, get_node_context
from langgraph_runner._runs.checkpoint import open_checkpointer
from langgraph_runner._service import queue as queue_mod
from langgraph_runner._service.queue import RunQueue
from langgraph_runner._service.routes import TRIGGER_SPAN
from langgraph_runner._traces import carrier, spans
from langgraph_runner._traces.run_span import RUN_SPAN
from langgraph_runner.service import create_app
from tests import services
from tests.service.served import drop_queue
from tests.traces.conftest import Tracing, hex_trace

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"


# ------------------------------------------------------------------ the carrier


def test_a_valid_traceparent_and_its_tracestate_are_kept() -> None:
    """from_headers keeps traceparent (lower-cased) and tracestate, nothing else."""
    headers = {"traceparent": TRACEPARENT.upper(), "tracestate": "vendor=1", "cookie": "x"}
    assert carrier.from_headers(headers) == {"traceparent": TRACEPARENT, "tracestate": "vendor=1"}


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        f"00-{'0' * 32}-{PARENT}-01",
        f"00-{TRACE}-{'0' * 16}-01",
        f"ff-{TRACE}-{PARENT}-01",
        f"00-{TRACE}-{PARENT}",
    ],
)
def test_a_malformed_traceparent_is_no_context(value: str) -> None:
    """W3C: an invalid traceparent is ignored, and its tracestate with it."""
    assert carrier.from_headers({"traceparent": value, "tracestate": "a=b"}) is None
    assert carrier.trace_id_of({"traceparent": value}) is None


def test_an_oversized_tracestate_is_dropped() -> None:
    """A tracestate over 512 chars is not stored; the traceparent still is."""
    got = carrier.from_headers({"traceparent": TRACEPARENT, "tracestate": "a=" + "b" * 600})
    assert got == {"traceparent": TRACEPARENT}


def test_the_trace_id_of_a_carrier() -> None:
    """trace_id_of reads the 32 hex chars of the traceparent."""
    assert carrier.trace_id_of({"traceparent": TRACEPARENT}) == TRACE
    assert carrier.trace_id_of(None) is None


def test_attach_makes_the_carriers_trace_current() -> None:
    """attach/detach: the carrier's trace is current in between, also without an SDK."""
    token = carrier.attach({"traceparent": TRACEPARENT})
    try:
        assert spans.current_trace_id() == TRACE
        assert carrier.inject({})["traceparent"] == TRACEPARENT
    finally:
        carrier.detach(token)
    assert spans.current_trace_id() is None
    assert carrier.attach(None) is None and carrier.inject({}) == {}


def test_a_trigger_span_continues_the_headers_trace(tracing: Tracing) -> None:
    """trigger: a child span of the caller's traceparent; the run continues from it."""
    kept = carrier.trigger({"traceparent": TRACEPARENT}, "trigger", {"k": "v"})
    (span,) = tracing.finished("trigger")
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT
    assert kept == {"traceparent": f"00-{TRACE}-{span.get_span_context().span_id:016x}-01"}


def test_a_trigger_without_a_trace_starts_one(tracing: Tracing) -> None:
    """No trace context given: the trigger span is a root, and its trace is kept."""
    kept = carrier.trigger({}, "trigger", {})
    (span,) = tracing.finished("trigger")
    assert span.parent is None and carrier.trace_id_of(kept) == hex_trace(span)


def test_a_trigger_without_spans_keeps_the_headers(untraced: None) -> None:
    """No SDK provider: the caller's context is kept as it came (none: None)."""
    headers = {"traceparent": TRACEPARENT, "tracestate": "v=1"}
    assert carrier.trigger(headers, "trigger", {}) == headers
    assert carrier.trigger({}, "trigger", {}) is None


# ------------------------------------------------------------------ the runs service


class Chain(TypedDict, total=False):
    title: str
    seen: str


def _seen(state: Chain) -> Chain:
    ctx = get_node_context()
    assert ctx is not None
    return {"seen": ctx.trace_id}


def _graph() -> Any:
    g = StateGraph(Chain)
    g.add_node("look", create_node(_seen))
    g.add_edge(START, "look")
    g.add_edge("look", END)
    return g.compile()


class Backend:
    """A database, a queue of the test's own and its cleanup."""

    def __init__(self, saver: Any) -> None:
        self.saver = saver
        self.queue = f"q-{uuid.uuid4().hex}"
        self.keys = {"key-a": f"{self.queue}-a"}

    def app(self) -> Any:
        return create_app(
            workflows={"chain": _graph()},
            checkpointer=self.saver,
            api_keys=self.keys,
            workers=1,
            queue=self.queue,
        )

    def cleanup(self) -> None:
        drop_queue(self.saver, self.queue)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    url = services.database_url(request.param, tmp_path)
    with open_checkpointer(url) as saver:
        b = Backend(saver)
        try:
            yield b
        finally:
            b.cleanup()


A = {"X-API-Key": "key-a"}


def _workers(c: TestClient) -> Any:
    app: Any = c.app
    return app.state.workers


def _post(c: TestClient, headers: dict[str, str]) -> str:
    r = c.post("/runs", json={"workflow": "chain", "input": {"title": "t"}}, headers=headers)
    assert r.status_code == 202, r.text
    return str(r.json()["run_id"])


def test_a_run_triggered_with_a_traceparent_ends_up_in_that_trace(
    backend: Backend, tracing: Tracing
) -> None:
    """POST /runs with traceparent: trigger and run spans, records and GET share its trace."""
    with TestClient(backend.app()) as c:
        run_id = _post(c, {**A, "traceparent": TRACEPARENT})
        result = _workers(c).wait(run_id, timeout=60)
        got = c.get(f"/runs/{run_id}", headers=A).json()
    assert result.status == "completed"
    (trigger,) = tracing.finished(TRIGGER_SPAN)
    (run,) = tracing.finished(RUN_SPAN)
    assert hex_trace(trigger) == hex_trace(run) == TRACE
    assert trigger.parent is not None and f"{trigger.parent.span_id:016x}" == PARENT
    assert run.parent is not None and run.parent.span_id == trigger.get_span_context().span_id
    assert (run.attributes or {})["langgraph_runner.run.id"] == run_id
    assert result.trace_id == result.output["seen"] == got["trace_id"] == TRACE
    assert dict(trigger.attributes or {}) == {
        "langgraph_runner.graph.name": "chain",
        "http.request.method": "POST",  # OpenTelemetry's HTTP attributes
        "http.route": "/runs",
    }


def test_without_spans_the_run_still_carries_the_callers_trace_id(
    backend: Backend, untraced: None
) -> None:
    """No SDK provider: the worker's run, its nodes and GET still name the caller's trace."""
    assert not spans.enabled()
    with TestClient(backend.app()) as c:
        run_id = _post(c, {**A, "traceparent": TRACEPARENT})
        result = _workers(c).wait(run_id, timeout=60)
        got = c.get(f"/runs/{run_id}", headers=A).json()
        plain = _post(c, A)
        pending = c.get(f"/runs/{plain}", headers=A).json()
        _workers(c).wait(plain, timeout=60)
    assert result.trace_id == result.output["seen"] == got["trace_id"] == TRACE
    assert pending["trace_id"] == plain  # no trace context: the run id names its trace


def test_a_run_resumed_after_its_worker_died_stays_in_its_trace(
    backend: Backend, tracing: Tracing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim whose lease ran out is taken again: the new worker continues the stored trace."""
    q = RunQueue(backend.saver, queue=backend.queue, lease=30.0)
    try:
        run_id = str(uuid.uuid4())
        q.enqueue(
            run_id,
            "chain",
            f"{backend.queue}-a",
            run_id,
            {"title": "t"},
            trace_context={"traceparent": TRACEPARENT, "tracestate": "v=1"},
        )
        assert q.claim(["chain"]) is not None  # a worker took it, then died
    finally:
        q.close()
    later = time.time() + 3600.0
    monkeypatch.setattr(queue_mod, "_now", lambda: later)  # its lease has run out
    with TestClient(backend.app()) as c:
        result = _workers(c).wait(run_id, timeout=60)
        item = _workers(c).queue.get(run_id)
    assert item.attempts == 2 and item.trace_context == {
        "traceparent": TRACEPARENT,
        "tracestate": "v=1",
    }
    (run,) = tracing.finished(RUN_SPAN)
    assert run.parent is not None and f"{run.parent.span_id:016x}" == PARENT
    assert hex_trace(run) == result.trace_id == result.output["seen"] == TRACE
    assert trace.get_current_span().get_span_context().is_valid is False


def test_a_rebuild_triggered_with_a_traceparent_is_in_that_trace(
    backend: Backend, tracing: Tracing
) -> None:
    """POST /runs/{id}/update continues its own request's trace, not the base run's."""
    other = "0af7651916cd43dd8448eb211c80319c"
    with TestClient(backend.app()) as c:
        base = _post(c, {**A, "traceparent": TRACEPARENT})
        _workers(c).wait(base, timeout=60)
        r = c.post(
            f"/runs/{base}/update",
            json={"inputs": {"title": "u"}},
            headers={**A, "traceparent": f"00-{other}-{PARENT}-01"},
        )
        assert r.status_code == 202, r.text
        rebuild = str(r.json()["run_id"])
        result = _workers(c).wait(rebuild, timeout=60).run
        got = c.get(f"/runs/{rebuild}", headers=A).json()
    assert result.status == "completed"
    runs = {(s.attributes or {})["langgraph_runner.run.id"]: s for s in tracing.finished(RUN_SPAN)}
    assert hex_trace(runs[base]) == TRACE and hex_trace(runs[rebuild]) == other
    routes = [(s.attributes or {})["http.route"] for s in tracing.finished(TRIGGER_SPAN)]
    assert routes == ["/runs", "/runs/{run_id}/update"]
    assert result.trace_id == got["trace_id"] == other
