"""Tests for langgraph_runner._traces.spans: the cheap check, spans, redacted exceptions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from langgraph_runner._traces import spans
from tests.traces.conftest import Tracing, hex_trace, texts


class BillingError(Exception):
    """An exception class of the application's own."""


ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-proj-Abcdefghijklmnopqrstuvwxyz0123456789ABCD"


def _fail() -> None:
    raise ConnectionError(f"upstream refused api_key={SECRET} at https://u:hunter2pass@db/x")


@pytest.mark.parametrize("kind", ["proxy", "noop"])
def test_no_sdk_provider_makes_no_span(kind: str) -> None:
    """With the API's proxy or no-op provider (no SDK set), spans are off and none is made."""
    given = trace.ProxyTracerProvider() if kind == "proxy" else trace.NoOpTracerProvider()
    before = spans.use_provider(given)
    try:
        assert spans.tracer_provider() is None
        assert not spans.enabled()
        assert spans.start_span("x", {"a": "b"}) is None
    finally:
        spans.use_provider(before)


def test_the_global_provider_is_used_when_none_is_given(untraced: None) -> None:
    """use_provider(None) falls back to the global provider (the API's proxy when unset)."""
    spans.use_provider(None)
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        assert spans.tracer_provider() is None
    else:  # a provider this process set earlier
        assert spans.tracer_provider() is trace.get_tracer_provider()


def test_without_opentelemetry_imported_nothing_is_looked_up(
    monkeypatch: pytest.MonkeyPatch, tracing: Tracing
) -> None:
    """When ``opentelemetry.trace`` is not imported, even a given provider is not used."""
    monkeypatch.delitem(sys.modules, "opentelemetry.trace")
    assert spans.api() is None
    assert not spans.enabled()
    assert spans.current_trace_id() is None
    assert spans.start_span("x") is None


def test_a_span_is_a_child_of_the_current_span_with_its_attributes(tracing: Tracing) -> None:
    """start_span nests under the current span; None values are left out; text is redacted."""
    with tracing.provider.get_tracer("caller").start_as_current_span("caller") as caller:
        span = spans.start_span("child", {"n": 3, "none": None, "key": f"token={SECRET}"})
        token = spans.activate(span)
        try:
            assert spans.current_trace_id() == hex_trace(caller)
        finally:
            spans.deactivate(token)
            spans.end_span(span)
    (child,) = tracing.finished("child")
    assert child.parent is not None and child.parent.span_id == caller.get_span_context().span_id
    assert child.attributes is not None
    assert child.attributes["n"] == 3 and "none" not in child.attributes
    assert SECRET not in str(child.attributes["key"]) and "REDACTED" in str(child.attributes["key"])


def test_current_trace_id_is_none_without_a_span() -> None:
    """No span current: no trace id."""
    assert spans.current_trace_id() is None


def test_an_exception_is_recorded_by_the_conventions_and_redacted(tracing: Tracing) -> None:
    """exception.type/message/stacktrace and the error status, no secret in any of them."""
    span = spans.start_span("op")
    try:
        _fail()
    except ConnectionError as exc:
        spans.record_exception(span, exc)
    spans.end_span(span)
    (done,) = tracing.finished("op")
    (event,) = done.events
    assert event.name == "exception" and event.attributes is not None
    assert event.attributes["exception.type"] == "ConnectionError"
    assert "upstream refused" in str(event.attributes["exception.message"])
    assert "in _fail" in str(event.attributes["exception.stacktrace"])
    assert done.status.status_code is StatusCode.ERROR
    assert str(done.status.description).startswith("ConnectionError: upstream refused")
    for text in texts(done):
        assert SECRET not in text and "hunter2pass" not in text


def test_a_class_outside_builtins_is_named_with_its_module(tracing: Tracing) -> None:
    """exception.type is the qualified name; error=False leaves the status alone."""
    span = spans.start_span("op")
    spans.record_exception(span, BillingError("x"), error=False)
    spans.end_span(span)
    (done,) = tracing.finished("op")
    assert done.events[0].attributes is not None
    assert done.events[0].attributes["exception.type"] == f"{__name__}.BillingError"
    assert done.status.status_code is StatusCode.UNSET


def test_events_and_error_descriptions_are_redacted(tracing: Tracing) -> None:
    """add_event and set_error pass their text through the redaction."""
    span = spans.start_span("op")
    spans.add_event(span, "note", {"why": f"password={SECRET}"})
    spans.set_attributes(span, {"reason": f"Bearer {SECRET}"})
    spans.set_error(span, f"failed: token={SECRET}")
    spans.end_span(span)
    (done,) = tracing.finished("op")
    assert done.status.status_code is StatusCode.ERROR
    assert [e.name for e in done.events] == ["note"]
    assert all(SECRET not in t for t in texts(done))


def test_use_provider_returns_the_one_before(tracing: Tracing) -> None:
    """use_provider swaps the provider and hands back the previous one."""
    before = spans.use_provider(None)
    try:
        assert before is tracing.provider and not spans.enabled()
    finally:
        spans.use_provider(before)
    assert spans.enabled()


WITHOUT_OTEL = """
import sys
from importlib.abc import MetaPathFinder


class NoOtel(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoOtel())

from typing_extensions import TypedDict
from langgraph.graph import END, START, StateGraph

from langgraph_runner import create_node
from langgraph_runner._traces import carrier, spans
from langgraph_runner.runs import run


class S(TypedDict, total=False):
    x: int


g = StateGraph(S)
g.add_node("a", create_node(lambda s: {"x": 2}))
g.add_edge(START, "a")
g.add_edge("a", END)
result = run(g.compile(), {"x": 1})
parent = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
assert "opentelemetry.trace" not in sys.modules
assert not spans.enabled() and spans.current_trace_id() is None
assert carrier.attach(parent) is None and carrier.trigger(parent, "t", {}) == parent
print(result.status, result.trace_id == result.run_id)
"""


def test_the_package_runs_without_opentelemetry(tmp_path: Path) -> None:
    """With OpenTelemetry not importable, runs work and the trace helpers do nothing."""
    script = tmp_path / "without_otel.py"
    script.write_text(WITHOUT_OTEL, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT)))}
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "completed True"
