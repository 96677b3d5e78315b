"""OpenTelemetry exporter for ``NodeMetricsCollector``s (needs the ``otel`` extra).

Instruments, named after OpenTelemetry conventions (attributes ``langgraph.node``,
``langgraph.graph`` when the collector has a graph name, and ``error.type`` on
failures, one of ``ERROR_TYPES``):

* ``langgraph.node.duration``: histogram in seconds, bucket advice taken from the
  first exported collector's ``duration_buckets``. OpenTelemetry has no
  asynchronous histogram, so the exporter is a collector *listener* and records
  each duration as it happens (the SDK costs ~10 us per record; a collector
  without listeners pays nothing). Circuit rejections and unusable durations are
  not recorded.
* ``langgraph.node.executions``, ``langgraph.node.retries``,
  ``langgraph.node.fallbacks`` and ``langgraph.node.cache_hits``: observable
  counters read from the collectors' lifetime totals at collection time (zero
  per-record cost). They include what was recorded before the exporter was
  created; the histogram starts when the exporter does.

OpenTelemetry creates an instrument once per meter: a second
``create_observable_counter`` of the same name returns the first one and drops
the new callback. So the instruments of a ``MeterProvider`` are created once and
shared by every exporter on it; exporters (and ``add_collector``) only attach
collectors. Collectors on one provider need distinct ``graph`` names, or their
series would collide.

With ``limits=True`` the process's rate limits and budgets are observed too:
``langgraph.rate_limit.waits``, ``langgraph.rate_limit.wait_time`` (s) and
``langgraph.rate_limit.rejections`` (attributes ``langgraph.rate_limit``,
``langgraph.node``), ``langgraph.budget.tokens``, ``langgraph.budget.cost``,
``langgraph.budget.calls`` and ``langgraph.budget.exhausted`` (attributes
``langgraph.budget``, ``langgraph.node`` and, for tenant budgets,
``langgraph.tenant``).

Many processes: each worker builds its own ``MeterProvider`` with
``resource=process_resource(collector)``, so its points carry
``service.instance.id`` (the collector's id unless given) and ``process.pid``;
the backend sums across instances.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping

from langgraph_runner._internal.extras import extra_hint
from langgraph_runner._limits import stats as _limit_stats
from langgraph_runner.metrics._collector import NodeMetricsCollector

try:
    from opentelemetry import metrics as otel_metrics
    from opentelemetry.metrics import CallbackOptions, Histogram, MeterProvider, Observation
    from opentelemetry.sdk.resources import (
        PROCESS_PID,
        SERVICE_INSTANCE_ID,
        SERVICE_NAME,
        Resource,
    )
    from opentelemetry.util.types import AttributeValue
except ImportError as exc:
    raise ImportError(extra_hint("otel"), name=exc.name) from exc

__all__ = ["OpenTelemetryExporter", "process_resource"]

_Attributes = dict[str, str]
_SHARED: weakref.WeakKeyDictionary[MeterProvider, _Instruments] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


class _Source:
    """One exported collector: its listener, with attributes built once per series."""

    def __init__(self, collector: NodeMetricsCollector, duration: Histogram) -> None:
        self.collector = collector
        self._duration = duration
        self._attrs: dict[tuple[str, str | None], _Attributes] = {}

    def attributes(self, node: str, error_type: str | None) -> _Attributes:
        # Built once per (node, error type): the SDK does not keep or mutate them.
        attrs = self._attrs.get((node, error_type))
        if attrs is None:
            attrs = {"langgraph.node": node}
            if self.collector.graph is not None:
                attrs["langgraph.graph"] = self.collector.graph
            if error_type is not None:
                attrs["error.type"] = error_type
            self._attrs[(node, error_type)] = attrs
        return attrs

    # -- MetricsListener -------------------------------------------------------------
    def on_success(self, node: str, duration_ms: float | None) -> None:
        if duration_ms is not None:
            self._duration.record(duration_ms / 1000.0, self.attributes(node, None))

    def on_failure(self, node: str, duration_ms: float | None, error_type: str) -> None:
        if duration_ms is not None:
            self._duration.record(duration_ms / 1000.0, self.attributes(node, error_type))

    def on_retry(self, node: str, attempt: int) -> None:
        """Nothing to do: retries are observed from the collector's totals."""

    def on_fallback(self, node: str) -> None:
        """Nothing to do: fallbacks are observed from the collector's totals."""

    def on_cache_hit(self, node: str) -> None:
        """Nothing to do: cache hits are observed from the collector's totals."""


class _Instruments:
    """The instruments of one MeterProvider and the collectors attached to them."""

    def __init__(self, provider: MeterProvider, buckets: tuple[float, ...]) -> None:
        self.sources: tuple[_Source, ...] = ()
        self.limits = False
        meter = otel_metrics.get_meter("langgraph_runner", meter_provider=provider)
        self._meter = meter
        self.duration = meter.create_histogram(
            "langgraph.node.duration",
            unit="s",
            description="Duration of LangGraph node executions.",
            explicit_bucket_boundaries_advisory=list(buckets),
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

    def observe_limits(self) -> None:
        """Create the rate-limit and budget counters (once per provider)."""
        if self.limits:
            return
        self.limits = True
        for name, unit, field, description in (
            ("rate_limit.waits", "{wait}", "waits", "Calls that waited for a rate-limit slot."),
            ("rate_limit.wait_time", "s", "wait_seconds", "Seconds waited for rate-limit slots."),
            ("rate_limit.rejections", "{call}", "rejections", "Calls a rate limit refused."),
        ):
            self._meter.create_observable_counter(
                f"langgraph.{name}",
                callbacks=[_limit_observer(field)],
                unit=unit,
                description=description,
            )
        for name, unit, description in (
            ("tokens", "{token}", "Tokens spent on budgets."),
            ("cost", "1", "Cost spent on budgets (the price table's currency)."),
            ("calls", "{call}", "Calls spent on budgets."),
            ("exhausted", "{call}", "Calls a spent budget stopped."),
        ):
            self._meter.create_observable_counter(
                f"langgraph.budget.{name}",
                callbacks=[_budget_observer(name)],
                unit=unit,
                description=description,
            )

    def _observe_executions(self, options: CallbackOptions) -> Iterator[Observation]:
        for source in self.sources:
            for node in source.collector.series():
                for series in node.outcomes:
                    attrs = source.attributes(node.node, series.error_type)
                    yield Observation(series.executions, attrs)

    def _observer(self, field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterator[Observation]:
            for source in self.sources:
                for node in source.collector.series():
                    attrs = source.attributes(node.node, None)
                    yield Observation(getattr(node, field), attrs)

        return observe


class OpenTelemetryExporter:
    """Feeds collectors' metrics to OpenTelemetry instruments.

    Args:
        *collectors: The collectors to listen to and read; more can be added with
            ``add_collector``. Collectors exported to one ``MeterProvider`` (by any
            number of exporters) need distinct ``graph`` names.
        meter_provider: Where to create the meter; the global provider by default
            (set it up before creating exporters).
        limits: Also observe the process's rate limits and budgets (see the module).

    Raises:
        TypeError: Something other than a ``NodeMetricsCollector`` was passed.
        ValueError: A collector's graph name is already exported to this provider.

    Call ``close()`` to stop exporting (the counters then leave its collectors out).

    Examples:
        >>> from opentelemetry.sdk.metrics import MeterProvider
        >>> from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        >>> reader = InMemoryMetricReader()
        >>> collector = NodeMetricsCollector(graph="support")
        >>> exporter = OpenTelemetryExporter(
        ...     collector, meter_provider=MeterProvider(metric_readers=[reader])
        ... )
        >>> collector.record_success("classify", 12.5)
        >>> data = reader.get_metrics_data()
        >>> sorted(m.name for m in data.resource_metrics[0].scope_metrics[0].metrics)[:2]
        ['langgraph.node.cache_hits', 'langgraph.node.duration']
    """

    def __init__(
        self,
        *collectors: NodeMetricsCollector,
        meter_provider: MeterProvider | None = None,
        limits: bool = False,
    ) -> None:
        if not collectors:
            raise TypeError("OpenTelemetryExporter: pass at least one NodeMetricsCollector")
        for collector in collectors:
            _check(collector)
        provider = otel_metrics.get_meter_provider() if meter_provider is None else meter_provider
        with _SHARED_LOCK:
            instruments = _SHARED.get(provider)
            if instruments is None:
                instruments = _Instruments(provider, collectors[0].duration_buckets)
                _SHARED[provider] = instruments
            if limits:
                instruments.observe_limits()
        self._instruments = instruments
        self._sources: list[_Source] = []
        for collector in collectors:
            self.add_collector(collector)

    def add_collector(self, collector: NodeMetricsCollector) -> None:
        """Export one more collector through this exporter.

        Raises:
            TypeError: ``collector`` is not a ``NodeMetricsCollector``.
            ValueError: Its graph name is already exported to this provider.
        """
        _check(collector)
        instruments = self._instruments
        with _SHARED_LOCK:
            taken = {s.collector.graph for s in instruments.sources}
            if collector.graph in taken:
                raise ValueError(
                    f"OpenTelemetryExporter: a collector for graph {collector.graph!r} is "
                    "already exported to this MeterProvider; give each collector its own "
                    "graph name"
                )
            source = _Source(collector, instruments.duration)
            instruments.sources = (*instruments.sources, source)
            self._sources.append(source)
        collector.add_listener(source)

    def close(self) -> None:
        """Stop exporting this exporter's collectors (other exporters are unaffected)."""
        with _SHARED_LOCK:
            mine = {id(s) for s in self._sources}
            instruments = self._instruments
            instruments.sources = tuple(s for s in instruments.sources if id(s) not in mine)
            sources, self._sources = self._sources, []
        for source in sources:
            source.collector.remove_listener(source)


def _limit_observer(field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterator[Observation]:
        for row in _limit_stats.limit_series():
            attrs = {"langgraph.rate_limit": row.limit, "langgraph.node": row.node}
            yield Observation(getattr(row, field), attrs)

    return observe


def _budget_observer(field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterator[Observation]:
        for row in _limit_stats.budget_series():
            attrs = {"langgraph.budget": row.budget, "langgraph.node": row.node}
            if row.tenant:
                attrs["langgraph.tenant"] = row.tenant
            yield Observation(getattr(row, field), attrs)

    return observe


def _check(collector: object) -> None:
    if not isinstance(collector, NodeMetricsCollector):
        raise TypeError(
            f"OpenTelemetryExporter: collector must be a NodeMetricsCollector, got {collector!r}"
        )


def process_resource(
    collector: NodeMetricsCollector,
    *,
    service_name: str | None = None,
    instance_id: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Resource:
    """The OpenTelemetry ``Resource`` of this worker process, for its ``MeterProvider``.

    Build it in each process (after any fork, like the provider itself) and pass
    it as ``MeterProvider(resource=...)``: every point the process exports then
    says which instance it came from, and the backend sums across instances.

    Args:
        collector: A collector of this process; its ``collector_id`` is the
            ``service.instance.id`` unless ``instance_id`` is given.
        service_name: ``service.name``; otherwise ``OTEL_SERVICE_NAME`` or the
            SDK's ``unknown_service`` default.
        instance_id: ``service.instance.id``, e.g. a stable pod or worker name.
        attributes: More resource attributes (``deployment.environment``, ...).

    Returns:
        A ``Resource`` with ``service.instance.id``, ``process.pid`` and
        ``service.name``, merged over ``OTEL_RESOURCE_ATTRIBUTES`` (the values
        given here win).

    Raises:
        TypeError: ``collector`` is not a ``NodeMetricsCollector``, or a name is
            not a string.
        ValueError: ``service_name`` or ``instance_id`` is empty.

    Example:
        >>> resource = process_resource(NodeMetricsCollector(), service_name="support-api")
        >>> resource.attributes["service.name"], type(resource.attributes["process.pid"])
        ('support-api', <class 'int'>)
    """
    if not isinstance(collector, NodeMetricsCollector):
        raise TypeError(
            f"process_resource: collector must be a NodeMetricsCollector, got {collector!r}"
        )
    attrs: dict[str, AttributeValue] = {
        SERVICE_INSTANCE_ID: collector.collector_id,
        PROCESS_PID: os.getpid(),
    }
    attrs.update(attributes or {})
    for key, value, arg in (
        (SERVICE_INSTANCE_ID, instance_id, "instance_id"),
        (SERVICE_NAME, service_name, "service_name"),
    ):
        if value is None:
            continue
        if not isinstance(value, str):
            raise TypeError(f"process_resource: {arg} must be a str or None, got {value!r}")
        if not value:
            raise ValueError(f"process_resource: {arg} must not be empty")
        attrs[key] = value
    return Resource.create(attrs)
