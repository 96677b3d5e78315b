"""Tests for langgraph_runner.metrics._config (CollectorConfig: options validated once)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from langgraph_runner.metrics import DEFAULT_DURATION_BUCKETS, NodeMetricsCollector
from langgraph_runner.metrics._config import CollectorConfig


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"window_size": 0}, ValueError, "window_size"),
        ({"window_size": 2.5}, TypeError, "window_size"),
        ({"window_size": True}, TypeError, "window_size"),
        ({"min_samples": 0}, ValueError, "min_samples"),
        ({"min_samples": 200, "latency_threshold_ms": 5}, ValueError, "min_samples"),
        ({"failure_rate_threshold": 1.5}, ValueError, "failure_rate_threshold"),
        ({"failure_rate_threshold": -0.1}, ValueError, "failure_rate_threshold"),
        ({"failure_rate_threshold": float("nan")}, ValueError, "failure_rate_threshold"),
        ({"failure_rate_threshold": "0.5"}, TypeError, "failure_rate_threshold"),
        ({"latency_threshold_ms": 0}, ValueError, "latency_threshold_ms"),
        ({"latency_threshold_ms": float("inf")}, ValueError, "latency_threshold_ms"),
        (
            {"failure_rate_threshold": 0.5, "on_failure_rate_threshold": 3},
            TypeError,
            "on_failure_rate_threshold",
        ),
        ({"on_latency_threshold": lambda n, v: None}, ValueError, "on_latency_threshold"),
        ({"graph": 5}, TypeError, "graph"),
        ({"max_nodes": 0}, ValueError, "max_nodes"),
        ({"max_nodes": "100"}, TypeError, "max_nodes"),
        ({"duration_buckets": (1.0, 0.5)}, ValueError, "duration_buckets"),
        ({"duration_buckets": ()}, ValueError, "duration_buckets"),
        ({"duration_buckets": (0.0, 1.0)}, ValueError, "duration_buckets"),
        ({"duration_buckets": (None, 1.0)}, ValueError, "duration_buckets"),
    ],
)
def test_config_is_validated_with_field_name(
    kwargs: dict[str, Any], error: type[Exception], field: str
) -> None:
    """Bad options fail at construction with an error naming the field."""
    with pytest.raises(error, match=field):
        NodeMetricsCollector(**kwargs)
    with pytest.raises(error, match=field):
        CollectorConfig.create(**kwargs)


def test_defaults() -> None:
    """The defaults: a 100-sample window, no thresholds, 10 min samples, default buckets."""
    config = CollectorConfig.create()
    assert config == CollectorConfig()
    assert (config.window_size, config.min_samples, config.graph) == (100, 10, None)
    assert config.duration_buckets == DEFAULT_DURATION_BUCKETS
    assert not config.has_thresholds


def test_valid_options_are_normalised_and_frozen() -> None:
    """Numbers become floats, buckets a tuple; the config cannot be changed afterwards."""
    config = CollectorConfig.create(
        window_size=5, failure_rate_threshold=0, latency_threshold_ms=250, min_samples=5,
        duration_buckets=[0.1, 1],
    )  # fmt: skip
    assert config.failure_rate_threshold == 0.0
    assert isinstance(config.latency_threshold_ms, float)
    assert config.duration_buckets == (0.1, 1.0)
    assert config.has_thresholds
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.window_size = 10  # type: ignore[misc]


def test_min_samples_may_exceed_window_without_thresholds() -> None:
    """min_samples > window_size is only an error when a threshold could never fire."""
    assert CollectorConfig.create(window_size=5, min_samples=50).min_samples == 50


def test_collector_reports_its_config() -> None:
    """The collector exposes window size, graph and buckets as validated."""
    collector = NodeMetricsCollector(window_size=7, graph="g", duration_buckets=(1, 2))
    assert (collector.window_size, collector.graph) == (7, "g")
    assert collector.duration_buckets == (1.0, 2.0)
