"""Prometheus exporter for a ``NodeMetricsCollector`` (needs the ``prometheus`` extra).

``PrometheusExporter`` is a prometheus_client *custom collector*: nothing is
observed per record. At scrape time it reads the collector's lifetime counters
and duration bucket counts (kept there with one bisect per record, about 0.1 us,
instead of ~1-3 us for ``Histogram.labels(...).observe``) and renders:

* ``langgraph_node_duration_seconds`` histogram, labels ``node``, ``graph``,
  ``outcome`` (``success``/``failure``) and ``error_type`` (empty on success);
* ``langgraph_node_executions_total`` counter, same labels (circuit rejections and
  records without a usable duration count here but not in the histogram);
* ``langgraph_node_retries_total``, ``langgraph_node_fallbacks_total`` and
  ``langgraph_node_cache_hits_total`` counters, labels ``node`` and ``graph``.

No run, thread or user ids are ever used as labels. ``reset_node_metrics()``
restarts the counters from zero, which Prometheus' ``rate()`` treats as a reset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import REGISTRY, CollectorRegistry
from prometheus_client.utils import floatToGoString

from langgraph_runner.metrics.collector import NodeMetricsCollector

__all__ = ["PrometheusExporter"]

_OUTCOME_LABELS = ["node", "graph", "outcome", "error_type"]
_NODE_LABELS = ["node", "graph"]
_Counter = CounterMetricFamily
_go_float: Callable[[float], str] = floatToGoString  # "le" values as prometheus_client writes them


class PrometheusExporter:
    """Exposes a collector's metrics to Prometheus at scrape time.

    Args:
        collector: The collector to read.
        registry: Where to register; prometheus_client's default ``REGISTRY`` unless
            given. Pass ``None`` to register it yourself (``registry.register(exporter)``).

    Example:
        >>> from prometheus_client import CollectorRegistry, generate_latest
        >>> registry = CollectorRegistry()
        >>> collector = NodeMetricsCollector(graph="support")
        >>> _ = PrometheusExporter(collector, registry=registry)
        >>> collector.record_success("classify", 12.5)
        >>> b"langgraph_node_executions_total" in generate_latest(registry)
        True
    """

    def __init__(
        self,
        collector: NodeMetricsCollector,
        *,
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        if not isinstance(collector, NodeMetricsCollector):
            raise TypeError(
                f"PrometheusExporter: collector must be a NodeMetricsCollector, got {collector!r}"
            )
        self._collector = collector
        if registry is not None:
            registry.register(self)

    def _families(self) -> tuple[HistogramMetricFamily, _Counter, _Counter, _Counter, _Counter]:
        return (
            HistogramMetricFamily(
                "langgraph_node_duration_seconds",
                "Duration of LangGraph node executions.",
                labels=_OUTCOME_LABELS,
                unit="seconds",
            ),
            CounterMetricFamily(
                "langgraph_node_executions",
                "LangGraph node executions by outcome and error type.",
                labels=_OUTCOME_LABELS,
            ),
            CounterMetricFamily(
                "langgraph_node_retries", "LangGraph node retries.", labels=_NODE_LABELS
            ),
            CounterMetricFamily(
                "langgraph_node_fallbacks",
                "LangGraph node updates produced by a fallback.",
                labels=_NODE_LABELS,
            ),
            CounterMetricFamily(
                "langgraph_node_cache_hits",
                "LangGraph node results served from a cache.",
                labels=_NODE_LABELS,
            ),
        )

    def describe(self) -> Iterator[Metric]:
        """The metric families without samples, so registering never scrapes."""
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        """Build the families from the collector's current lifetime totals."""
        duration, executions, retries, fallbacks, cache_hits = self._families()
        graph = self._collector.graph or ""
        les = [_go_float(b) for b in self._collector.duration_buckets] + ["+Inf"]
        for node in self._collector.series():
            for series in node.outcomes:
                labels = [node.node, graph, series.outcome, series.error_type or ""]
                cumulative, buckets = 0, []
                for le, count in zip(les, series.bucket_counts, strict=True):
                    cumulative += count
                    buckets.append((le, float(cumulative)))
                if series.outcome == "success" or cumulative:  # rejections carry no time
                    duration.add_metric(labels, buckets, series.duration_sum_ms / 1000.0)
                executions.add_metric(labels, float(series.executions))
            retries.add_metric([node.node, graph], float(node.retries))
            fallbacks.add_metric([node.node, graph], float(node.fallbacks))
            cache_hits.add_metric([node.node, graph], float(node.cache_hits))
        yield from (duration, executions, retries, fallbacks, cache_hits)
