"""Tests for langgraph_runner.metrics.prometheus (scraped through real exposition text)."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from langgraph_runner.errors import CircuitOpenError
from langgraph_runner.metrics import NodeMetricsCollector
from langgraph_runner.metrics.prometheus import PrometheusExporter


def _scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the text exposition, keyed by (sample name, sorted labels)."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _labels(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


@pytest.fixture
def setup() -> tuple[NodeMetricsCollector, CollectorRegistry]:
    """A collector with 10 ms / 100 ms buckets exported to a fresh registry."""
    registry = CollectorRegistry()
    collector = NodeMetricsCollector(graph="support", duration_buckets=(0.01, 0.1))
    PrometheusExporter(collector, registry=registry)
    return collector, registry


def test_histogram_and_counters_in_exposition(
    setup: tuple[NodeMetricsCollector, CollectorRegistry],
) -> None:
    """Durations become a seconds histogram; executions, retries, fallbacks, cache hits counters."""
    collector, registry = setup
    for d in (5.0, 10.0, 50.0, 500.0):
        collector.record_success("classify", d)
    collector.record_failure("classify", 20.0, error=TimeoutError())
    collector.record_failure("classify", 0.1, error=CircuitOpenError("llm", 5.0))
    collector.record_retry("classify", 1)
    collector.record_retry("classify", 2)
    collector.record_fallback("classify")
    collector.record_cache_hit("classify")
    samples = _scrape(registry)
    ok = {"node": "classify", "graph": "support", "outcome": "success", "error_type": ""}
    timeout = {**ok, "outcome": "failure", "error_type": "timeout"}
    circuit = {**ok, "outcome": "failure", "error_type": "circuit_open"}
    bucket = "langgraph_node_duration_seconds_bucket"
    assert samples[(bucket, _labels(**ok, le="0.01"))] == 2  # 5 ms and 10 ms (le is inclusive)
    assert samples[(bucket, _labels(**ok, le="0.1"))] == 3
    assert samples[(bucket, _labels(**ok, le="+Inf"))] == 4
    assert samples[("langgraph_node_duration_seconds_count", _labels(**ok))] == 4
    assert samples[("langgraph_node_duration_seconds_sum", _labels(**ok))] == pytest.approx(0.565)
    assert samples[(bucket, _labels(**timeout, le="0.01"))] == 0
    assert samples[(bucket, _labels(**timeout, le="0.1"))] == 1
    assert (bucket, _labels(**circuit, le="+Inf")) not in samples  # a rejection never ran
    assert samples[("langgraph_node_executions_total", _labels(**ok))] == 4
    assert samples[("langgraph_node_executions_total", _labels(**timeout))] == 1
    assert samples[("langgraph_node_executions_total", _labels(**circuit))] == 1
    node = _labels(node="classify", graph="support")
    assert samples[("langgraph_node_retries_total", node)] == 2
    assert samples[("langgraph_node_fallbacks_total", node)] == 1
    assert samples[("langgraph_node_cache_hits_total", node)] == 1


def test_label_names_are_bounded(setup: tuple[NodeMetricsCollector, CollectorRegistry]) -> None:
    """Only node, graph, outcome, error_type and le are labels; never run or thread ids."""
    collector, registry = setup
    collector.record_success("a", 1.0)
    collector.record_failure("a", 1.0, category="network")
    collector.record_retry("a", 1)
    names = {label for (_, labels) in _scrape(registry) for label, _ in labels}
    assert names == {"node", "graph", "outcome", "error_type", "le"}


def test_metric_families_and_types(setup: tuple[NodeMetricsCollector, CollectorRegistry]) -> None:
    """The exposition declares the OTel-derived names with their Prometheus types."""
    collector, registry = setup
    collector.record_success("a", 1.0)
    families = {
        f.name: f.type for f in text_string_to_metric_families(generate_latest(registry).decode())
    }
    assert families == {
        "langgraph_node_duration_seconds": "histogram",
        "langgraph_node_executions": "counter",
        "langgraph_node_retries": "counter",
        "langgraph_node_fallbacks": "counter",
        "langgraph_node_cache_hits": "counter",
    }
    openmetrics = generate_openmetrics(registry).decode()  # type: ignore[no-untyped-call]
    assert "# UNIT langgraph_node_duration_seconds seconds" in openmetrics


def test_empty_graph_label_and_unused_node_series() -> None:
    """Without a graph name the label is empty; a node with only retries still exports zeros."""
    registry = CollectorRegistry()
    collector = NodeMetricsCollector()
    PrometheusExporter(collector, registry=registry)
    collector.record_retry("a", 1)
    samples = _scrape(registry)
    assert samples[("langgraph_node_retries_total", _labels(node="a", graph=""))] == 1
    ok = _labels(node="a", graph="", outcome="success", error_type="")
    assert samples[("langgraph_node_executions_total", ok)] == 0


def test_scrape_reflects_live_values_and_reset(
    setup: tuple[NodeMetricsCollector, CollectorRegistry],
) -> None:
    """Each scrape reads current totals; a reset restarts them from zero."""
    collector, registry = setup
    key = (
        "langgraph_node_executions_total",
        _labels(node="a", graph="support", outcome="success", error_type=""),
    )
    collector.record_success("a", 1.0)
    assert _scrape(registry)[key] == 1
    collector.record_success("a", 1.0)
    assert _scrape(registry)[key] == 2
    collector.reset_node_metrics()
    assert _scrape(registry)[key] == 0


def test_registration_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registers in the default REGISTRY unless told otherwise; registering never scrapes."""
    collector = NodeMetricsCollector()
    scrapes = 0
    real_series = NodeMetricsCollector.series

    def counting_series(self: NodeMetricsCollector) -> Any:
        nonlocal scrapes
        scrapes += 1
        return real_series(self)

    monkeypatch.setattr(NodeMetricsCollector, "series", counting_series)
    exporter = PrometheusExporter(collector)
    try:
        assert scrapes == 0
        collector.record_success("registered-by-default", 1.0)
        assert b'node="registered-by-default"' in generate_latest(REGISTRY)
        assert scrapes == 1
    finally:
        REGISTRY.unregister(exporter)
    unregistered = PrometheusExporter(collector, registry=None)
    registry = CollectorRegistry()
    assert generate_latest(registry) == b""
    registry.register(unregistered)
    assert b"registered-by-default" in generate_latest(registry)
    with pytest.raises(ValueError, match="Duplicated"):
        PrometheusExporter(collector, registry=registry)


def test_rejects_non_collector() -> None:
    """Passing something other than a NodeMetricsCollector fails at construction."""
    with pytest.raises(TypeError, match="collector"):
        PrometheusExporter(object(), registry=None)  # type: ignore[arg-type]


def test_several_collectors_on_one_exporter() -> None:
    """One exporter serves several graphs' collectors, told apart by the graph label."""
    registry = CollectorRegistry()
    support, billing = NodeMetricsCollector(graph="support"), NodeMetricsCollector(graph="billing")
    exporter = PrometheusExporter(support, registry=registry)
    exporter.add_collector(billing)
    support.record_success("a", 1.0)
    billing.record_failure("a", 2.0, category="timeout")
    billing.record_retry("a", 1)
    samples = _scrape(registry)
    executions = "langgraph_node_executions_total"
    ok = {"node": "a", "outcome": "success", "error_type": ""}
    assert samples[(executions, _labels(**ok, graph="support"))] == 1
    assert samples[(executions, _labels(**ok, graph="billing"))] == 0
    failed = {**ok, "outcome": "failure", "error_type": "timeout", "graph": "billing"}
    assert samples[(executions, _labels(**failed))] == 1
    retries = "langgraph_node_retries_total"
    assert samples[(retries, _labels(node="a", graph="support"))] == 0
    assert samples[(retries, _labels(node="a", graph="billing"))] == 1


def test_graph_names_must_be_distinct() -> None:
    """Two collectors with the same graph name would collide: refused, naming the graph."""
    with pytest.raises(ValueError, match="'g'"):
        PrometheusExporter(
            NodeMetricsCollector(graph="g"), NodeMetricsCollector(graph="g"), registry=None
        )
    exporter = PrometheusExporter(NodeMetricsCollector(), registry=None)
    with pytest.raises(ValueError, match="None"):
        exporter.add_collector(NodeMetricsCollector())
    with pytest.raises(TypeError, match="at least one"):
        PrometheusExporter(registry=None)
