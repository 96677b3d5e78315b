"""What a ``NodeMetricsCollector`` hands out: snapshots, exporter series, listener protocol.

* ``NodeMetrics``: one node's counts, error categories and window percentiles
  (pydantic, frozen), as returned by ``get_node_metrics``.
* ``NodeSeries``/``OutcomeSeries``: lifetime totals and duration bucket counts
  per node, outcome and error type, read by the exporters.
* ``MetricsListener``: the protocol of objects that see every record (the
  OpenTelemetry exporter is one).
* ``ERROR_TYPES`` and ``DEFAULT_DURATION_BUCKETS``: the failure label values and
  the default histogram bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from pydantic import BaseModel, ConfigDict

from langgraph_runner._records.record import restore

__all__ = [
    "DEFAULT_DURATION_BUCKETS",
    "ERROR_TYPES",
    "MetricsListener",
    "NodeMetrics",
    "NodeSeries",
    "OutcomeSeries",
    "metrics_from_fields",
]

DEFAULT_DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
)
"""Histogram upper bounds in seconds (LLM calls often take 10-120 s)."""

ERROR_TYPES: Final[tuple[str, ...]] = (
    "timeout",
    "network",
    "rate_limit",
    "validation",
    "other",
    "circuit_open",
)
"""Failure label values (``error_type`` / ``error.type``), in index order."""


class NodeMetrics(BaseModel):
    """A snapshot of one node's metrics. Percentiles cover the rolling window only.

    Attributes:
        total_executions: Successes plus failures, lifetime.
        success_count: Successful executions, lifetime.
        failure_count: Failed executions (circuit rejections included), lifetime.
        retry_count: Retries, lifetime.
        last_execution_ms: Duration of the most recent timed execution (0 when none).
        avg_execution_ms: Lifetime mean of the recorded durations (0 when none).
        p50_ms: Window median; ``p90_ms``/``p99_ms`` likewise; None when the window
            is empty. p99 over 100 samples is noisy: read it with ``sample_count``.
        sample_count: Durations currently in the window (<= ``window_size``).
        window_size: The collector's window size.
        timeout_errors: Failures in the ``timeout`` category; ``validation_errors``,
            ``network_errors``, ``rate_limit_errors`` and ``other_errors`` likewise.
        circuit_rejections: Calls rejected by an open circuit breaker (failures).
        fallbacks: Updates produced by a fallback.
        cache_hits: Results served from a cache (not executions).
        negative_durations: Negative durations that were clamped to 0.
        invalid_durations: NaN, infinite or non-numeric durations that were ignored.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    total_executions: int = 0
    success_count: int = 0
    failure_count: int = 0
    retry_count: int = 0
    last_execution_ms: float = 0.0
    avg_execution_ms: float = 0.0
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    sample_count: int = 0
    window_size: int = 0
    timeout_errors: int = 0
    validation_errors: int = 0
    network_errors: int = 0
    rate_limit_errors: int = 0
    other_errors: int = 0
    circuit_rejections: int = 0
    fallbacks: int = 0
    cache_hits: int = 0
    negative_durations: int = 0
    invalid_durations: int = 0


_FIELD_NAMES: Final = frozenset(NodeMetrics.model_fields)
_validate = NodeMetrics.__pydantic_validator__.validate_python


def _restore(fields: dict[str, Any]) -> NodeMetrics:
    # The values become the instance's __dict__ as they are, with no validation.
    return restore(NodeMetrics, fields, _FIELD_NAMES)


def _pick_builder() -> Callable[[dict[str, Any]], NodeMetrics]:
    probe = NodeMetrics(total_executions=2, avg_execution_ms=1.5, p50_ms=1.5, window_size=9)
    validated = _validate(probe.model_dump())
    try:
        restored = _restore(probe.model_dump())
        same = (
            restored == validated
            and restored.model_dump(mode="json") == validated.model_dump(mode="json")
            and restored.model_fields_set == validated.model_fields_set
        )
    except Exception:  # any surprise means: validate
        same = False
    return _restore if same else _validate


metrics_from_fields: Final[Callable[[dict[str, Any]], NodeMetrics]] = _pick_builder()
"""Build a ``NodeMetrics`` from a complete dict of already well-typed values.

The collector's snapshots come from its own counters (ints, floats, None), so they
skip pydantic's validation: the values are set the way ``model_construct`` and
unpickling set them, about 3x cheaper than validating. The result equals the
validated model (checked once at import; should a pydantic release set models up
differently, this is the validator itself). ``fields`` must hold every field and
becomes the model's ``__dict__``: do not reuse it.
"""


@dataclass(frozen=True)
class OutcomeSeries:
    """Lifetime totals of one node for one outcome/error type (for exporters).

    ``bucket_counts`` are per bucket (not cumulative), one per bound of
    ``NodeMetricsCollector.duration_buckets`` plus the +Inf bucket; their sum can be
    below ``executions`` (circuit rejections and invalid durations carry no time).
    """

    outcome: str
    error_type: str | None
    executions: int
    bucket_counts: tuple[int, ...]
    duration_sum_ms: float


@dataclass(frozen=True)
class NodeSeries:
    """Lifetime totals of one node (for exporters). Failure outcomes with no executions
    are left out; the success outcome is always first."""

    node: str
    retries: int
    fallbacks: int
    cache_hits: int
    outcomes: tuple[OutcomeSeries, ...]


class MetricsListener(Protocol):
    """Receives every record after it is counted, outside any lock (e.g. the OTel exporter).

    ``duration_ms`` is None when the record carried no usable duration. Listeners
    should be fast; an exception is logged (``metrics.listener_failed``), never raised.
    """

    def on_success(self, node: str, duration_ms: float | None) -> None: ...
    def on_failure(self, node: str, duration_ms: float | None, error_type: str) -> None: ...
    def on_retry(self, node: str, attempt: int) -> None: ...
    def on_fallback(self, node: str) -> None: ...
    def on_cache_hit(self, node: str) -> None: ...
