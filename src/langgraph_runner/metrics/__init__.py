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

# The public names are those the 0.1 module ``metrics.collector`` exported, which its
# private home ``_collector`` still lists for the old path: written once, there.
from langgraph_runner.metrics._collector import *  # noqa: F403
from langgraph_runner.metrics._collector import __all__ as __all__


def __getattr__(name: str) -> object:
    """The old public modules (``metrics.collector`` ...), deprecated: see ``_internal.moved``."""
    import importlib

    full = f"langgraph_runner.metrics.{name}"
    from langgraph_runner._internal.moved import MOVED

    if full not in MOVED:
        raise AttributeError(f"module 'langgraph_runner.metrics' has no attribute {name!r}")
    return importlib.import_module(full)
