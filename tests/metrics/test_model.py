"""Tests for langgraph_runner.metrics._model (NodeMetrics, series types, label values)."""

from __future__ import annotations

import dataclasses
import pickle
import random

import pytest
from pydantic import BaseModel, ValidationError

from langgraph_runner._records.record import ErrorCategory
from langgraph_runner.metrics._model import (
    DEFAULT_DURATION_BUCKETS,
    ERROR_TYPES,
    NodeMetrics,
    NodeSeries,
    OutcomeSeries,
    _pick_builder,
    _restore,
    _validate,
    metrics_from_fields,
)

PINNED_FIELDS = {
    "total_executions", "success_count", "failure_count", "retry_count", "last_execution_ms",
    "avg_execution_ms", "p50_ms", "p90_ms", "p99_ms", "sample_count", "window_size",
    "timeout_errors", "validation_errors", "network_errors", "rate_limit_errors", "other_errors",
    "circuit_rejections", "fallbacks",
}  # fmt: skip


def test_node_metrics_has_the_pinned_fields() -> None:
    """NodeMetrics carries every field of the pinned API, plus the documented extras."""
    assert set(NodeMetrics.model_fields) >= PINNED_FIELDS
    extras = set(NodeMetrics.model_fields) - PINNED_FIELDS
    assert extras == {"cache_hits", "negative_durations", "invalid_durations"}


def test_node_metrics_defaults_are_empty() -> None:
    """A default NodeMetrics has zero counts and None percentiles."""
    m = NodeMetrics()
    assert (m.p50_ms, m.p90_ms, m.p99_ms) == (None, None, None)
    dumped = m.model_dump(exclude={"p50_ms", "p90_ms", "p99_ms"})
    assert all(value == 0 for value in dumped.values())


def test_node_metrics_is_frozen_and_validated() -> None:
    """NodeMetrics is an immutable pydantic model that survives a JSON round trip."""
    m = NodeMetrics(total_executions=3, success_count=3, p50_ms=1.5, window_size=100)
    assert isinstance(m, BaseModel)
    with pytest.raises(ValidationError):
        m.success_count = 5  # type: ignore[misc]
    with pytest.raises(ValidationError):
        NodeMetrics(total_execution=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        NodeMetrics(success_count="many")  # type: ignore[arg-type]
    assert NodeMetrics.model_validate_json(m.model_dump_json()) == m


def _random_fields(rng: random.Random) -> dict[str, object]:
    """Well-typed values for every field, as a collector's counters produce them."""
    fields: dict[str, object] = {}
    for name, info in NodeMetrics.model_fields.items():
        if info.annotation is int:
            fields[name] = rng.randrange(10**6)
        elif info.annotation is float:
            fields[name] = rng.uniform(0, 1e4)
        else:  # float | None: a percentile
            fields[name] = rng.choice([None, rng.uniform(0, 1e4)])
    return fields


def test_metrics_from_fields_equals_the_validated_model() -> None:
    """The collector's unvalidated build is indistinguishable from a validated NodeMetrics."""
    rng = random.Random(11)
    for _ in range(200):
        fields = _random_fields(rng)
        built = metrics_from_fields(dict(fields))
        validated = NodeMetrics(**fields)  # type: ignore[arg-type]
        assert type(built) is NodeMetrics
        assert built == validated and hash(built) == hash(validated)
        assert built.model_dump() == validated.model_dump()
        assert built.model_dump_json() == validated.model_dump_json()
        assert built.model_fields_set == validated.model_fields_set
        assert pickle.loads(pickle.dumps(built)) == validated
        copied = built.model_copy(update={"fallbacks": 7})
        assert copied.fallbacks == 7 and built.fallbacks == validated.fallbacks
        other = metrics_from_fields(dict(fields))
        assert other.model_fields_set is not built.model_fields_set  # no state shared
        with pytest.raises(ValidationError):
            built.success_count = 5  # type: ignore[misc]


def test_metrics_from_fields_is_the_unvalidated_build_on_this_pydantic() -> None:
    """On this pydantic the fast build is chosen; it does not validate (the values are ours)."""
    assert metrics_from_fields is _restore
    assert _pick_builder() is _restore
    loose = metrics_from_fields({**NodeMetrics().model_dump(), "success_count": "3"})
    assert loose.success_count == "3"  # type: ignore[comparison-overlap]  # not coerced: ours only


def test_metrics_from_fields_validates_if_the_build_ever_differs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should a pydantic release set models up differently, the builder is the validator."""
    import langgraph_runner.metrics._model as model

    def broken(fields: dict[str, object]) -> NodeMetrics:
        m = _restore(dict(fields))
        object.__setattr__(m, "__pydantic_fields_set__", set())
        return m

    monkeypatch.setattr(model, "_restore", broken)
    assert model._pick_builder() is _validate

    def raising(fields: dict[str, object]) -> NodeMetrics:
        raise AttributeError("__pydantic_private__")

    monkeypatch.setattr(model, "_restore", raising)
    assert model._pick_builder() is _validate


def test_error_types_are_the_categories_plus_circuit_open() -> None:
    """Failure label values are the ErrorCategory values and circuit_open, in index order."""
    assert ERROR_TYPES[:5] == ("timeout", "network", "rate_limit", "validation", "other")
    assert set(ERROR_TYPES) == {c.value for c in ErrorCategory} | {"circuit_open"}


def test_default_buckets_are_increasing_seconds() -> None:
    """Default histogram bounds are strictly increasing, from 5 ms to 5 min."""
    assert list(DEFAULT_DURATION_BUCKETS) == sorted(set(DEFAULT_DURATION_BUCKETS))
    assert (DEFAULT_DURATION_BUCKETS[0], DEFAULT_DURATION_BUCKETS[-1]) == (0.005, 300.0)


def test_series_are_frozen_values() -> None:
    """Series handed to exporters are immutable and compare by value."""
    outcome = OutcomeSeries("success", None, 2, (1, 1), 3.0)
    series = NodeSeries("a", 0, 0, 0, (outcome,))
    assert series == NodeSeries("a", 0, 0, 0, (OutcomeSeries("success", None, 2, (1, 1), 3.0),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        series.retries = 1  # type: ignore[misc]
