"""The validated configuration of a ``NodeMetricsCollector``.

A ``CollectorConfig`` checks every option once, when it is made (``__post_init__``;
``create`` is the same call), and raises ``TypeError`` (wrong type) or ``ValueError``
(out of range) with a message that names the field, so a bad option fails where the
collector is built, never on a record. No config holds an option unchecked.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langgraph_runner.metrics._model import DEFAULT_DURATION_BUCKETS

__all__ = ["CollectorConfig", "ThresholdHook"]

ThresholdHook = Callable[[str, float], Any]
"""``hook(node, value)``: the failure rate (0..1) or the window p99 in ms; sync or async."""


def _number(field: str, value: object, *, high: float | None) -> float | None:
    """An optional number: in [0, high], or > 0 and finite when ``high`` is None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"NodeMetricsCollector: {field} must be a number, got {value!r}")
    number = float(value)
    if high is None and not 0 < number < math.inf:
        raise ValueError(f"NodeMetricsCollector: {field} must be > 0 and finite, got {value!r}")
    if high is not None and not 0 <= number <= high:
        raise ValueError(f"NodeMetricsCollector: {field} must be in [0, {high:g}], got {value!r}")
    return number


def _positive_int(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"NodeMetricsCollector: {field} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"NodeMetricsCollector: {field} must be >= 1, got {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class CollectorConfig:
    """A collector's options, validated (see ``NodeMetricsCollector`` for their meaning)."""

    window_size: int = 100
    failure_rate_threshold: float | None = None
    latency_threshold_ms: float | None = None
    on_failure_rate_threshold: ThresholdHook | None = None
    on_latency_threshold: ThresholdHook | None = None
    min_samples: int = 10
    graph: str | None = None
    duration_buckets: tuple[float, ...] = DEFAULT_DURATION_BUCKETS
    max_nodes: int = 1000

    @property
    def has_thresholds(self) -> bool:
        """Whether any threshold is set (records then take the general path)."""
        return self.failure_rate_threshold is not None or self.latency_threshold_ms is not None

    def __post_init__(self) -> None:
        """Check every option once (numbers become floats, the buckets a tuple).

        Raises:
            TypeError: An option has the wrong type (the message names the field).
            ValueError: An option is out of range (the message names the field).
        """
        window = _positive_int("window_size", self.window_size)
        samples = _positive_int("min_samples", self.min_samples)
        rate = _number("failure_rate_threshold", self.failure_rate_threshold, high=1)
        latency = _number("latency_threshold_ms", self.latency_threshold_ms, high=None)
        for field, hook, limit in (
            ("on_failure_rate_threshold", self.on_failure_rate_threshold, rate),
            ("on_latency_threshold", self.on_latency_threshold, latency),
        ):
            if hook is not None and not callable(hook):
                raise TypeError(f"NodeMetricsCollector: {field} must be callable, got {hook!r}")
            if hook is not None and limit is None:
                threshold = field.removeprefix("on_")
                raise ValueError(f"NodeMetricsCollector: {field} is set but {threshold} is None")
        if (rate is not None or latency is not None) and samples > window:
            raise ValueError(
                f"NodeMetricsCollector: min_samples ({samples}) must be <= window_size "
                f"({window}), or the thresholds could never fire"
            )
        if self.graph is not None and not isinstance(self.graph, str):
            raise TypeError(
                f"NodeMetricsCollector: graph must be a str or None, got {self.graph!r}"
            )
        bounds = [_number("duration_buckets", b, high=None) for b in self.duration_buckets]
        buckets = tuple(b for b in bounds if b is not None)
        if not buckets or len(buckets) != len(bounds) or list(buckets) != sorted(set(buckets)):
            raise ValueError("NodeMetricsCollector: duration_buckets must be strictly increasing")
        _positive_int("max_nodes", self.max_nodes)
        object.__setattr__(self, "failure_rate_threshold", rate)
        object.__setattr__(self, "latency_threshold_ms", latency)
        object.__setattr__(self, "duration_buckets", buckets)

    @classmethod
    def create(cls, **options: Any) -> CollectorConfig:
        """``CollectorConfig(**options)``: the options, validated (see ``__post_init__``)."""
        return cls(**options)
