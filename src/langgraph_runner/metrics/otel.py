"""OpenTelemetry exporter for a ``NodeMetricsCollector`` (needs the ``otel`` extra).

Instruments, named after OpenTelemetry conventions (attributes ``langgraph.node``,
``langgraph.graph`` when the collector has a graph name, and ``error.type`` on
failures, one of ``ERROR_TYPES``):

* ``langgraph.node.duration``: histogram in seconds, bucket advice taken from the
  collector's ``duration_buckets``. OpenTelemetry has no asynchronous histogram,
  so the exporter is a collector *listener* and records each duration as it
  happens (the SDK costs ~10 us per record; a collector without listeners pays
  nothing). Circuit rejections and unusable durations are not recorded.
* ``langgraph.node.executions``, ``langgraph.node.retries``,
  ``langgraph.node.fallbacks`` and ``langgraph.node.cache_hits``: observable
  counters read from the collector's lifetime totals at collection time (zero
  per-record cost). They include what was recorded before the exporter was
  created; the histogram starts when the exporter does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from langgraph_runner.metrics.collector import NodeMetricsCollector, NodeSeries

__all__ = ["OpenTelemetryExporter"]

_Attributes = dict[str, str]


class OpenTelemetryExporter:
    """Feeds a collector's metrics to OpenTelemetry instruments.

    Args:
        collector: The collector to listen to and read.
        meter_provider: Where to create the meter; the global provider by default.

    Call ``close()`` to stop recording (observable counters then report nothing).
    """

    def __init__(
        self,
        collector: NodeMetricsCollector,
        *,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        if not isinstance(collector, NodeMetricsCollector):
            raise TypeError(
                "OpenTelemetryExporter: collector must be a NodeMetricsCollector, "
                f"got {collector!r}"
            )
        self._collector = collector
        self._closed = False
        self._attrs: dict[tuple[str, str | None], _Attributes] = {}
        meter = otel_metrics.get_meter("langgraph_runner", meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            "langgraph.node.duration",
            unit="s",
            description="Duration of LangGraph node executions.",
            explicit_bucket_boundaries_advisory=list(collector.duration_buckets),
        )
        meter.create_observable_counter(
            "langgraph.node.executions",
            callbacks=[self._observe_executions],
            unit="{execution}",
            description="LangGraph node executions; error.type is set on failures.",
        )
        for name, unit, description in (
            ("retries", "{retry}", "LangGraph node retries."),
            ("fallbacks", "{fallback}", "LangGraph node updates produced by a fallback."),
            ("cache_hits", "{hit}", "LangGraph node results served from a cache."),
        ):
            meter.create_observable_counter(
                f"langgraph.node.{name}",
                callbacks=[self._observer(name)],
                unit=unit,
                description=description,
            )
        collector.add_listener(self)

    def close(self) -> None:
        """Stop listening; the observable counters report nothing from now on."""
        self._closed = True
        self._collector.remove_listener(self)

    def _attributes(self, node: str, error_type: str | None) -> _Attributes:
        # Built once per (node, error type): the SDK does not keep or mutate them.
        attrs = self._attrs.get((node, error_type))
        if attrs is None:
            attrs = {"langgraph.node": node}
            if self._collector.graph is not None:
                attrs["langgraph.graph"] = self._collector.graph
            if error_type is not None:
                attrs["error.type"] = error_type
            self._attrs[(node, error_type)] = attrs
        return attrs

    # -- MetricsListener -------------------------------------------------------------
    def on_success(self, node: str, duration_ms: float | None) -> None:
        """Record a success's duration in seconds."""
        if duration_ms is not None:
            self._duration.record(duration_ms / 1000.0, self._attributes(node, None))

    def on_failure(self, node: str, duration_ms: float | None, error_type: str) -> None:
        """Record a failure's duration in seconds, with ``error.type``."""
        if duration_ms is not None:
            self._duration.record(duration_ms / 1000.0, self._attributes(node, error_type))

    def on_retry(self, node: str, attempt: int) -> None:
        """Nothing to do: retries are observed from the collector's totals."""

    def on_fallback(self, node: str) -> None:
        """Nothing to do: fallbacks are observed from the collector's totals."""

    def on_cache_hit(self, node: str) -> None:
        """Nothing to do: cache hits are observed from the collector's totals."""

    # -- observable counters -----------------------------------------------------------
    def _series(self) -> list[NodeSeries]:
        return [] if self._closed else self._collector.series()

    def _observe_executions(self, options: CallbackOptions) -> Iterator[Observation]:
        for node in self._series():
            for series in node.outcomes:
                attrs = self._attributes(node.node, series.error_type)
                yield Observation(series.executions, attrs)

    def _observer(self, field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterator[Observation]:
            for node in self._series():
                yield Observation(getattr(node, field), self._attributes(node.node, None))

        return observe
