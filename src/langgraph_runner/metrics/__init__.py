"""Per-node metrics; the ``.prometheus`` and ``.otel`` exporters are imported on demand.

Modules::

    _collector   NodeMetricsCollector: outcome counts, error categories, window percentiles
    _node_state  one node's counters, rolling window, percentiles and threshold crossings
    _model       what a collector hands out: snapshots, exporter series, the listener protocol
    _config      a collector's validated configuration
    _callbacks   threshold callbacks and listener methods, never failing a record
    prometheus   PrometheusExporter (the ``prometheus`` extra; imported when asked for)
    otel         OpenTelemetryExporter (the ``otel`` extra; imported when asked for)
"""

from langgraph_runner.metrics._collector import (
    METRICS_COLLECTOR_KEY,
    OVERFLOW_NODE,
    NodeMetricsCollector,
)
from langgraph_runner.metrics._model import (
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


def __getattr__(name: str) -> object:
    """The old public modules (``metrics.collector`` ...), deprecated: see ``_internal.moved``."""
    import importlib

    full = f"langgraph_runner.metrics.{name}"
    from langgraph_runner._internal.moved import MOVED

    if full not in MOVED:
        raise AttributeError(f"module 'langgraph_runner.metrics' has no attribute {name!r}")
    return importlib.import_module(full)
