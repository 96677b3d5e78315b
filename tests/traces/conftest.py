"""An OpenTelemetry SDK tracer provider per test, its finished spans kept in memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

pytest.importorskip("opentelemetry.sdk")

import secrets

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

from langgraph_runner._traces import spans


class UniqueIds(IdGenerator):
    """Span and trace ids from ``secrets``: the suite seeds ``random`` (tests/conftest.py),
    which would give every test the SDK's same ids, one trace id across tests."""

    def generate_span_id(self) -> int:
        return secrets.randbits(64) or 1

    def generate_trace_id(self) -> int:
        return secrets.randbits(128) or 1


class Tracing(NamedTuple):
    """The test's tracer provider and the exporter that keeps its ended spans."""

    provider: TracerProvider
    exporter: InMemorySpanExporter

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        """The spans ended so far (those named ``name`` when given)."""
        return [s for s in self.exporter.get_finished_spans() if name is None or s.name == name]


@pytest.fixture
def tracing() -> Iterator[Tracing]:
    """A tracer provider the package's spans go to for this test only (not the global one)."""
    provider = TracerProvider(id_generator=UniqueIds())
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    before = spans.use_provider(provider)
    try:
        yield Tracing(provider, exporter)
    finally:
        spans.use_provider(before)
        provider.shutdown()


@pytest.fixture
def untraced() -> Iterator[None]:
    """No SDK provider for this test, even when the process has set a global one."""
    before = spans.use_provider(trace.NoOpTracerProvider())
    try:
        yield
    finally:
        spans.use_provider(before)


def texts(span: Any) -> list[str]:
    """Every text of a span a backend receives: attributes, events, status description."""
    out = [str(v) for v in (span.attributes or {}).values()]
    for event in span.events:
        out.append(event.name)
        out.extend(str(v) for v in (event.attributes or {}).values())
    out.append(str(span.status.description or ""))
    return out


def hex_trace(span: Any) -> str:
    """A span's trace id as 32 hex chars."""
    return f"{span.get_span_context().trace_id:032x}"
