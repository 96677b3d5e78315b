"""Tests for langgraph_runner.metrics.prometheus (scraped through real exposition text)."""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from langgraph_runner._records.exceptions import CircuitOpenError
from langgraph_runner.metrics import NodeMetricsCollector
from langgraph_runner.metrics.prometheus import PrometheusExporter, serve_metrics


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


def test_worker_label_on_every_sample() -> None:
    """worker= puts one constant worker label on every series of every family."""
    registry = CollectorRegistry()
    collector = NodeMetricsCollector(graph="support", duration_buckets=(0.01,))
    exporter = PrometheusExporter(collector, registry=registry, worker="api-0")
    assert exporter.worker == "api-0"
    collector.record_success("a", 5.0)
    collector.record_failure("a", 50.0, category="timeout")
    collector.record_retry("a", 1)
    samples = _scrape(registry)
    assert {dict(labels).get("worker") for _, labels in samples} == {"api-0"}
    failed = _labels(node="a", graph="support", outcome="failure", error_type="timeout")
    key = (
        "langgraph_node_duration_seconds_bucket",
        _labels(**dict(failed), le="+Inf", worker="api-0"),
    )
    assert samples[key] == 1
    retries = ("langgraph_node_retries_total", _labels(node="a", graph="support", worker="api-0"))
    assert samples[retries] == 1


def test_worker_label_is_validated() -> None:
    """A worker that is not a non-empty string is refused at construction."""
    collector = NodeMetricsCollector()
    with pytest.raises(TypeError, match="worker"):
        PrometheusExporter(collector, registry=None, worker=7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="worker"):
        PrometheusExporter(collector, registry=None, worker="")
    assert PrometheusExporter(collector, registry=None).worker is None


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def test_serve_metrics_over_http() -> None:
    """serve_metrics serves a fresh registry on an OS-chosen loopback port until closed."""
    collector = NodeMetricsCollector(graph="support")
    collector.record_success("fetch", 12.5)
    with serve_metrics(collector, worker="w1") as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        assert "serving" in repr(server)
        families = {f.name: f for f in text_string_to_metric_families(_get(server.url))}
        assert set(families) == {
            "langgraph_node_duration_seconds",
            "langgraph_node_executions",
            "langgraph_node_retries",
            "langgraph_node_fallbacks",
            "langgraph_node_cache_hits",
        }  # a registry of its own: no process_* or python_* metrics
        collector.record_success("fetch", 1.0)
        executions = {
            (sample.name, sample.labels["worker"]): sample.value
            for family in text_string_to_metric_families(_get(server.url))
            if family.name == "langgraph_node_executions"
            for sample in family.samples
        }
        assert executions == {("langgraph_node_executions_total", "w1"): 2}
        assert server.exporter.worker == "w1"
    server.close()  # closing twice is harmless
    assert "closed" in repr(server)
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", server.port), 1),
    ):
        pass


def test_serve_metrics_into_a_given_registry() -> None:
    """A given registry is served as a whole; a port in use raises and leaves it unchanged."""
    registry = CollectorRegistry()
    collector = NodeMetricsCollector()
    collector.record_retry("a", 1)
    with serve_metrics(collector, registry=registry) as server:
        assert server.registry is registry
        assert 'langgraph_node_retries_total{graph="",node="a"} 1.0' in _get(server.url)
        other = CollectorRegistry()
        with pytest.raises(OSError, match="in use"):
            serve_metrics(collector, port=server.port, registry=other)
        assert generate_latest(other) == b""  # the exporter was taken out again
        PrometheusExporter(collector, registry=other)  # so registering works


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"port": "9464"}, TypeError, "port"),
        ({"port": True}, TypeError, "port"),
        ({"port": 70000}, ValueError, "port"),
        ({"addr": ""}, TypeError, "addr"),
        ({"worker": ""}, ValueError, "worker"),
    ],
)
def test_serve_metrics_rejects_bad_options(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    """Bad options fail before anything is bound, naming the option."""
    with pytest.raises(error, match=match):
        serve_metrics(NodeMetricsCollector(), **kwargs)
