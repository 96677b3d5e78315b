"""Tests for langgraph_runner.metrics.otel (read back through an InMemoryMetricReader)."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from langgraph_runner._records.exceptions import CircuitOpenError
from langgraph_runner.metrics import NodeMetricsCollector
from langgraph_runner.metrics.otel import OpenTelemetryExporter, process_resource


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Data points by instrument name, from one collection."""
    data = reader.get_metrics_data()
    out: dict[str, list[Any]] = {}
    if data is None:
        return out
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


def _by_attrs(points: list[Any]) -> dict[frozenset[tuple[str, Any]], Any]:
    return {frozenset(p.attributes.items()): p for p in points}


def _attrs(**attrs: str) -> frozenset[tuple[str, str]]:
    return frozenset({k.replace("_", "."): v for k, v in attrs.items()}.items())


@pytest.fixture
def reader() -> InMemoryMetricReader:
    """An in-memory reader attached to its own MeterProvider."""
    return InMemoryMetricReader()


def _export(
    reader: InMemoryMetricReader, **kwargs: Any
) -> tuple[NodeMetricsCollector, OpenTelemetryExporter]:
    collector = NodeMetricsCollector(duration_buckets=(0.01, 0.1), **kwargs)
    provider = MeterProvider(metric_readers=[reader])
    return collector, OpenTelemetryExporter(collector, meter_provider=provider)


def test_duration_histogram_in_seconds_with_error_type(reader: InMemoryMetricReader) -> None:
    """Durations land in langgraph.node.duration in seconds; failures carry error.type."""
    collector, _ = _export(reader, graph="support")
    for d in (5.0, 50.0, 500.0):
        collector.record_success("classify", d)
    collector.record_failure("classify", 20.0, error=TimeoutError())
    collector.record_failure("classify", 0.1, error=CircuitOpenError("llm", 5.0))
    collector.record_success("classify", float("nan"))
    histogram = _by_attrs(_points(reader)["langgraph.node.duration"])
    ok = histogram[_attrs(langgraph_node="classify", langgraph_graph="support")]
    assert (ok.count, ok.sum) == (3, pytest.approx(0.555))
    assert tuple(ok.explicit_bounds) == (0.01, 0.1)
    assert tuple(ok.bucket_counts) == (1, 1, 1)
    failed = histogram[
        _attrs(langgraph_node="classify", langgraph_graph="support", error_type="timeout")
    ]
    assert (failed.count, failed.sum) == (1, pytest.approx(0.02))
    assert len(histogram) == 2  # the rejection and the NaN carry no duration


def test_observable_counters_read_collector_totals(reader: InMemoryMetricReader) -> None:
    """Executions (with error.type on failures), retries, fallbacks and cache hits are observed."""
    collector = NodeMetricsCollector()
    collector.record_success("a", 1.0)  # before the exporter exists: still counted
    provider = MeterProvider(metric_readers=[reader])
    OpenTelemetryExporter(collector, meter_provider=provider)
    collector.record_success("a", 1.0)
    collector.record_failure("a", 1.0, category="network")
    collector.record_failure("a", 0.0, error=CircuitOpenError("dep", 1.0))
    collector.record_retry("a", 1)
    collector.record_fallback("a")
    collector.record_cache_hit("a")
    collector.record_cache_hit("a")
    points = _points(reader)
    executions = {
        dict(k).get("error.type"): p.value
        for k, p in _by_attrs(points["langgraph.node.executions"]).items()
    }
    assert executions == {None: 2, "network": 1, "circuit_open": 1}
    node = _attrs(langgraph_node="a")
    assert _by_attrs(points["langgraph.node.retries"])[node].value == 1
    assert _by_attrs(points["langgraph.node.fallbacks"])[node].value == 1
    assert _by_attrs(points["langgraph.node.cache_hits"])[node].value == 2


def test_instrument_kinds_and_units(reader: InMemoryMetricReader) -> None:
    """The duration is a histogram in seconds; the others are monotonic sums."""
    collector, _ = _export(reader)
    collector.record_success("a", 1.0)
    data = reader.get_metrics_data()
    assert data is not None
    kinds = {
        m.name: (type(m.data).__name__, m.unit, getattr(m.data, "is_monotonic", None))
        for r in data.resource_metrics
        for sc in r.scope_metrics
        for m in sc.metrics
    }
    assert kinds == {
        "langgraph.node.duration": ("Histogram", "s", None),
        "langgraph.node.executions": ("Sum", "{execution}", True),
        "langgraph.node.retries": ("Sum", "{retry}", True),
        "langgraph.node.fallbacks": ("Sum", "{fallback}", True),
        "langgraph.node.cache_hits": ("Sum", "{hit}", True),
    }


def test_only_bounded_attributes(reader: InMemoryMetricReader) -> None:
    """Attributes are langgraph.node, langgraph.graph and error.type only."""
    collector, _ = _export(reader, graph="g")
    collector.record_success("a", 1.0)
    collector.record_failure("a", 1.0, category="validation")
    collector.record_retry("a", 3)
    keys = {key for pts in _points(reader).values() for p in pts for key in p.attributes}
    assert keys == {"langgraph.node", "langgraph.graph", "error.type"}


def test_close_stops_recording(reader: InMemoryMetricReader) -> None:
    """After close() the histogram gets no new records and the counters report nothing."""
    collector, exporter = _export(reader)
    collector.record_success("a", 1.0)
    exporter.close()
    collector.record_success("a", 1.0)
    points = _points(reader)
    assert [p.count for p in points["langgraph.node.duration"]] == [1]
    assert "langgraph.node.executions" not in points or not points["langgraph.node.executions"]


def test_threads_record_every_duration(reader: InMemoryMetricReader) -> None:
    """Listener delivery is exact under threads: histogram count equals records."""
    collector, _ = _export(reader)

    def work() -> None:
        for _ in range(2000):
            collector.record_success("a", 3.0)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (point,) = _points(reader)["langgraph.node.duration"]
    assert point.count == 8000
    assert collector.get_node_metrics("a").success_count == 8000


def test_rejects_non_collector() -> None:
    """Passing something other than a NodeMetricsCollector fails at construction."""
    with pytest.raises(TypeError, match="collector"):
        OpenTelemetryExporter(object())  # type: ignore[arg-type]


def _executions(reader: InMemoryMetricReader) -> dict[tuple[Any, Any, Any], int]:
    points = _points(reader).get("langgraph.node.executions", [])
    return {
        (
            p.attributes.get("langgraph.graph"),
            p.attributes["langgraph.node"],
            p.attributes.get("error.type"),
        ): p.value
        for p in points
    }


def test_several_collectors_on_one_exporter(reader: InMemoryMetricReader) -> None:
    """One exporter reports several graphs' collectors, told apart by langgraph.graph."""
    support, billing = NodeMetricsCollector(graph="support"), NodeMetricsCollector(graph="billing")
    exporter = OpenTelemetryExporter(support, meter_provider=MeterProvider(metric_readers=[reader]))
    exporter.add_collector(billing)
    support.record_success("a", 1.0)
    billing.record_failure("a", 2.0, category="timeout")
    billing.record_retry("a", 1)
    assert _executions(reader) == {
        ("support", "a", None): 1,
        ("billing", "a", None): 0,
        ("billing", "a", "timeout"): 1,
    }
    points = _points(reader)
    durations = {
        p.attributes["langgraph.graph"]: p.count for p in points["langgraph.node.duration"]
    }
    assert durations == {"support": 1, "billing": 1}
    retries = {p.attributes["langgraph.graph"]: p.value for p in points["langgraph.node.retries"]}
    assert retries == {"support": 0, "billing": 1}


def test_two_exporters_share_one_provider(reader: InMemoryMetricReader) -> None:
    """A second exporter on the same MeterProvider is reported too, not silently dropped."""
    provider = MeterProvider(metric_readers=[reader])
    first, second = NodeMetricsCollector(graph="first"), NodeMetricsCollector(graph="second")
    OpenTelemetryExporter(first, meter_provider=provider)
    OpenTelemetryExporter(second, meter_provider=provider)
    first.record_success("a", 1.0)
    second.record_success("b", 1.0)
    second.record_fallback("b")
    assert _executions(reader) == {("first", "a", None): 1, ("second", "b", None): 1}
    fallbacks = {
        p.attributes["langgraph.graph"]: p.value
        for p in _points(reader)["langgraph.node.fallbacks"]
    }
    assert fallbacks == {"first": 0, "second": 1}


def test_exporter_after_close_on_same_provider(reader: InMemoryMetricReader) -> None:
    """Closing an exporter and creating a new one on the same provider keeps reporting."""
    provider = MeterProvider(metric_readers=[reader])
    collector = NodeMetricsCollector(graph="g")
    OpenTelemetryExporter(collector, meter_provider=provider).close()
    OpenTelemetryExporter(collector, meter_provider=provider)
    collector.record_success("a", 1.0)
    assert _executions(reader) == {("g", "a", None): 1}
    (point,) = _points(reader)["langgraph.node.duration"]
    assert point.count == 1


def test_graph_names_must_be_distinct_per_provider(reader: InMemoryMetricReader) -> None:
    """Two collectors with the same graph name on one provider are refused, naming the graph."""
    provider = MeterProvider(metric_readers=[reader])
    OpenTelemetryExporter(NodeMetricsCollector(graph="g"), meter_provider=provider)
    with pytest.raises(ValueError, match="'g'"):
        OpenTelemetryExporter(NodeMetricsCollector(graph="g"), meter_provider=provider)
    exporter = OpenTelemetryExporter(NodeMetricsCollector(), meter_provider=provider)
    with pytest.raises(ValueError, match="None"):
        exporter.add_collector(NodeMetricsCollector())
    with pytest.raises(TypeError, match="at least one"):
        OpenTelemetryExporter(meter_provider=provider)


def _resource_attributes(reader: InMemoryMetricReader) -> dict[str, Any]:
    data = reader.get_metrics_data()
    assert data is not None
    (resource_metrics,) = data.resource_metrics
    return dict(resource_metrics.resource.attributes)


def test_process_resource_tags_every_export(reader: InMemoryMetricReader) -> None:
    """Points exported through a provider built with process_resource name their process."""
    collector = NodeMetricsCollector(graph="support")
    provider = MeterProvider(
        resource=process_resource(collector, service_name="support-api"), metric_readers=[reader]
    )
    OpenTelemetryExporter(collector, meter_provider=provider)
    collector.record_success("fetch", 1.0)
    attributes = _resource_attributes(reader)
    assert attributes["service.instance.id"] == collector.collector_id
    assert attributes["process.pid"] == os.getpid()
    assert attributes["service.name"] == "support-api"


def test_process_resource_instance_ids_differ_per_collector() -> None:
    """Two workers' collectors give two instance ids (collector_id is random per process)."""
    first, second = NodeMetricsCollector(), NodeMetricsCollector()
    ids = {process_resource(c).attributes["service.instance.id"] for c in (first, second)}
    assert ids == {first.collector_id, second.collector_id}
    assert len(ids) == 2


def test_process_resource_given_values_win(monkeypatch: pytest.MonkeyPatch) -> None:
    """instance_id, service_name and attributes override OTEL_RESOURCE_ATTRIBUTES."""
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=from-env,deployment.environment=prod"
    )
    monkeypatch.setenv("OTEL_SERVICE_NAME", "env-service")
    collector = NodeMetricsCollector()
    env_only = process_resource(collector).attributes
    assert env_only["service.instance.id"] == collector.collector_id
    assert env_only["service.name"] == "env-service"
    assert env_only["deployment.environment"] == "prod"
    given = process_resource(
        collector,
        service_name="api",
        instance_id="api-0",
        attributes={"deployment.environment": "staging"},
    ).attributes
    assert given["service.instance.id"] == "api-0"
    assert given["service.name"] == "api"
    assert given["deployment.environment"] == "staging"


def test_process_resource_rejects_bad_input() -> None:
    """A non-collector, a non-string or an empty name is refused, naming the argument."""
    with pytest.raises(TypeError, match="collector"):
        process_resource(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="service_name"):
        process_resource(NodeMetricsCollector(), service_name=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="instance_id"):
        process_resource(NodeMetricsCollector(), instance_id="")
