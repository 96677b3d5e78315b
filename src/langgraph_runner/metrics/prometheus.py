"""Prometheus exporter for ``NodeMetricsCollector``s (needs the ``prometheus`` extra).

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

A registry accepts each metric name from one collector only, so one exporter
serves every ``NodeMetricsCollector`` of a process (one per graph, with distinct
``graph`` names): pass them all, or add them later with ``add_collector``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import REGISTRY, CollectorRegistry
from prometheus_client.utils import floatToGoString

from langgraph_runner.metrics.collector import NodeMetricsCollector
from langgraph_runner.metrics.model import NodeSeries

__all__ = ["PrometheusExporter"]

_OUTCOME_LABELS = ["node", "graph", "outcome", "error_type"]
_NODE_LABELS = ["node", "graph"]
_Counter = CounterMetricFamily
_go_float: Callable[[float], str] = floatToGoString  # "le" values as prometheus_client writes them


class PrometheusExporter:
    """Exposes collectors' metrics to Prometheus at scrape time.

    Args:
        *collectors: The collectors to read (more with ``add_collector``); they
            need distinct ``graph`` names.
        registry: Where to register; prometheus_client's default ``REGISTRY`` unless
            given. Pass ``None`` to register it yourself (``registry.register(exporter)``).

    Raises:
        TypeError: Something other than a ``NodeMetricsCollector`` was passed.
        ValueError: Two collectors share a graph name, or the registry already
            has these metric names (another exporter: use ``add_collector``).

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
        *collectors: NodeMetricsCollector,
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        if not collectors:
            raise TypeError("PrometheusExporter: pass at least one NodeMetricsCollector")
        self._lock = threading.Lock()
        self._collectors: tuple[NodeMetricsCollector, ...] = ()
        for collector in collectors:
            self.add_collector(collector)
        if registry is not None:
            registry.register(self)

    def add_collector(self, collector: NodeMetricsCollector) -> None:
        """Export one more collector (it shows from the next scrape on).

        Raises:
            TypeError: ``collector`` is not a ``NodeMetricsCollector``.
            ValueError: Its graph name is already exported by this exporter.
        """
        if not isinstance(collector, NodeMetricsCollector):
            raise TypeError(
                f"PrometheusExporter: collector must be a NodeMetricsCollector, got {collector!r}"
            )
        with self._lock:
            if any(c.graph == collector.graph for c in self._collectors):
                raise ValueError(
                    f"PrometheusExporter: a collector for graph {collector.graph!r} is already "
                    "exported; give each collector its own graph name"
                )
            self._collectors = (*self._collectors, collector)

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
        for collector in self._collectors:
            graph = collector.graph or ""
            les = [_go_float(b) for b in collector.duration_buckets] + ["+Inf"]
            for node in collector.series():
                self._add_node(node, graph, les, duration, executions)
                retries.add_metric([node.node, graph], float(node.retries))
                fallbacks.add_metric([node.node, graph], float(node.fallbacks))
                cache_hits.add_metric([node.node, graph], float(node.cache_hits))
        yield from (duration, executions, retries, fallbacks, cache_hits)

    @staticmethod
    def _add_node(
        node: NodeSeries,
        graph: str,
        les: list[str],
        duration: HistogramMetricFamily,
        executions: CounterMetricFamily,
    ) -> None:
        for series in node.outcomes:
            labels = [node.node, graph, series.outcome, series.error_type or ""]
            cumulative, buckets = 0, []
            for le, count in zip(les, series.bucket_counts, strict=True):
                cumulative += count
                buckets.append((le, float(cumulative)))
            if series.outcome == "success" or cumulative:  # rejections carry no time
                duration.add_metric(labels, buckets, series.duration_sum_ms / 1000.0)
            executions.add_metric(labels, float(series.executions))
