"""Tests for the limit and budget counters in the Prometheus and OpenTelemetry exporters."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest

from langgraph_runner import Budget, RateLimit, create_node
from langgraph_runner._limits import stats
from langgraph_runner._limits.stores import InProcessLimitStore
from langgraph_runner._policies.abort import AbortSignal
from langgraph_runner.metrics import NodeMetricsCollector
from langgraph_runner.metrics.otel import OpenTelemetryExporter
from langgraph_runner.metrics.prometheus import PrometheusExporter
from tests.limits_fakes import UsageModel


@pytest.fixture
def traffic() -> None:
    """Waits, a refusal and tenant spend, counted from a clean slate."""
    stats.reset_limit_stats()
    now = [0.0]

    def sleep(seconds: float, signal: AbortSignal | None) -> bool:
        now[0] += seconds
        return False

    store = InProcessLimitStore(clock=lambda: now[0], sleep=sleep)
    api = RateLimit(key="api", requests_per_second=1, store=store)
    waiting = create_node(lambda s: {}, name="fetch", rate_limit=api)
    waiting({})
    waiting({})
    failing = create_node(lambda s: {}, name="strict", rate_limit=RateLimit(
        key="api2", requests_per_second=1, on_limit="fail", store=store))  # fmt: skip
    failing({})
    failing({})
    model = UsageModel(tokens=100)

    def agent(state: Any) -> dict[str, Any]:
        model.invoke("x")
        return {}

    budget = Budget(name="llm", per="tenant", tokens=150, store=store)
    node = create_node(agent, name="agent", budget=budget)
    for _ in range(3):
        node.invoke({}, {"configurable": {"tenant_id": "acme", "thread_id": "t-secret-1"}})


@pytest.mark.usefixtures("traffic")
def test_prometheus_exports_waits_rejections_and_spend_per_node_and_tenant() -> None:
    """limits=True adds the counters, labelled by limit/budget, node and tenant only."""
    registry = CollectorRegistry()
    PrometheusExporter(NodeMetricsCollector(graph="g"), registry=registry, limits=True)
    text = generate_latest(registry).decode()
    assert 'langgraph_rate_limit_waits_total{limit="api",node="fetch"} 1.0' in text
    assert 'langgraph_rate_limit_wait_seconds_total{limit="api",node="fetch"} 1.0' in text
    assert 'langgraph_rate_limit_rejections_total{limit="api2",node="strict"} 1.0' in text
    assert 'langgraph_budget_tokens_total{budget="llm",node="agent",tenant="acme"} 200.0' in text
    assert 'langgraph_budget_calls_total{budget="llm",node="agent",tenant="acme"} 2.0' in text
    assert 'langgraph_budget_exhausted_total{budget="llm",node="agent",tenant="acme"} 1.0' in text
    assert "t-secret-1" not in text  # never a thread or run id


@pytest.mark.usefixtures("traffic")
def test_prometheus_leaves_limits_out_unless_asked() -> None:
    """Without limits=True the exporter shows node metrics only."""
    registry = CollectorRegistry()
    PrometheusExporter(NodeMetricsCollector(graph="g"), registry=registry)
    assert "langgraph_rate_limit" not in generate_latest(registry).decode()


@pytest.mark.usefixtures("traffic")
def test_opentelemetry_observes_the_same_counters() -> None:
    """limits=True observes waits, rejections and spend with node and tenant attributes."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    OpenTelemetryExporter(NodeMetricsCollector(graph="g"), meter_provider=provider, limits=True)
    points = {
        (m.name, tuple(sorted(p.attributes.items()))): p.value
        for m in reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics
        for p in m.data.data_points
        if m.name.startswith(("langgraph.rate_limit", "langgraph.budget"))
    }
    tenant = (
        ("langgraph.budget", "llm"),
        ("langgraph.node", "agent"),
        ("langgraph.tenant", "acme"),
    )
    assert points[("langgraph.budget.tokens", tenant)] == 200
    assert points[("langgraph.budget.exhausted", tenant)] == 1
    waits = (("langgraph.node", "fetch"), ("langgraph.rate_limit", "api"))
    assert points[("langgraph.rate_limit.waits", waits)] == 1
    assert points[("langgraph.rate_limit.wait_time", waits)] == 1.0
