"""Per-node metrics; the ``.prometheus`` and ``.otel`` exporters are imported on demand."""

from langgraph_runner.metrics.collector import (
    METRICS_COLLECTOR_KEY,
    OVERFLOW_NODE,
    NodeMetricsCollector,
)
from langgraph_runner.metrics.model import (
    DEFAULT_DURATION_BUCKETS,
    ERROR_TYPES,
    MetricsListener,
    NodeMetrics,
    NodeSeries,
    OutcomeSeries,
)

__all__ = [
    "DEFAULT_DURATION_BUCKETS",
    "ERROR_TYPES",
    "METRICS_COLLECTOR_KEY",
    "MetricsListener",
    "NodeMetrics",
    "NodeMetricsCollector",
    "NodeSeries",
    "OVERFLOW_NODE",
    "OutcomeSeries",
]
