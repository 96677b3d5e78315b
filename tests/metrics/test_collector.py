"""Tests for langgraph_runner.metrics._collector (NodeMetricsCollector, NodeMetrics)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import langgraph_runner.metrics as metrics_pkg
from langgraph_runner._records.exceptions import CircuitOpenError
from langgraph_runner._records.record import ErrorCategory
from langgraph_runner.metrics import (
    METRICS_COLLECTOR_KEY,
    OVERFLOW_NODE,
    NodeMetrics,
    NodeMetricsCollector,
)
from langgraph_runner.metrics import _node_state as node_state


class _Listener:
    """Records every listener call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def on_success(self, node: str, duration_ms: float | None) -> None:
        self.calls.append(("success", node, duration_ms))

    def on_failure(self, node: str, duration_ms: float | None, error_type: str) -> None:
        self.calls.append(("failure", node, duration_ms, error_type))

    def on_retry(self, node: str, attempt: int) -> None:
        self.calls.append(("retry", node, attempt))

    def on_fallback(self, node: str) -> None:
        self.calls.append(("fallback", node))

    def on_cache_hit(self, node: str) -> None:
        self.calls.append(("cache_hit", node))


def _plain(**kw: Any) -> NodeMetricsCollector:
    return NodeMetricsCollector(**kw)


def _watched(**kw: Any) -> NodeMetricsCollector:
    # A listener sends every record through the general (non fast-path) code.
    collector = NodeMetricsCollector(**kw)
    collector.add_listener(_Listener())
    return collector


FACTORIES = pytest.mark.parametrize("make", [_plain, _watched], ids=["fast-path", "general-path"])


def test_all_matches_public_names() -> None:
    """``langgraph_runner.metrics.__all__`` lists exactly its public, non-module names."""
    public = {
        name
        for name in dir(metrics_pkg)
        if not name.startswith("_") and not isinstance(getattr(metrics_pkg, name), types.ModuleType)
    }
    assert set(metrics_pkg.__all__) == public
    assert metrics_pkg.__all__ == sorted(metrics_pkg.__all__)
    assert METRICS_COLLECTOR_KEY == "metrics_collector"


def test_collector_module_keeps_its_public_names() -> None:
    """langgraph_runner.metrics._collector still exports every public name, as the same objects."""
    from langgraph_runner.metrics import _collector as collector_mod

    assert collector_mod.__all__ == metrics_pkg.__all__
    for name in collector_mod.__all__:
        assert getattr(collector_mod, name) is getattr(metrics_pkg, name)


def test_import_loads_no_exporter_library() -> None:
    """Importing and using the collector adds no prometheus_client/opentelemetry module."""
    code = """
import sys
import langgraph_runner._records.classify, langgraph_runner._records.exceptions
import langgraph_runner._records.logs
def exporters():
    return {m for m in sys.modules if m.startswith(("prometheus_client", "opentelemetry"))}
before = exporters()
from langgraph_runner.metrics import NodeMetricsCollector
c = NodeMetricsCollector(latency_threshold_ms=5)
c.record_success("a", 1.0)
c.record_failure("a", 1.0, error=TimeoutError())
c.to_json()
added = exporters() - before
assert "prometheus_client" not in sys.modules, "prometheus_client imported"
assert not added, sorted(added)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_node_names_past_max_nodes_are_counted_together(logged: list[dict[str, Any]]) -> None:
    """The node label is capped: names past max_nodes share OVERFLOW_NODE, warned once."""
    collector = NodeMetricsCollector(max_nodes=3)
    for i in range(6):
        collector.record_success(f"n{i}", 1.0)
    collector.record_failure("n5", 1.0, category="network")
    collector.record_retry("n1", 1)
    nodes = collector.get_all_node_metrics()
    assert set(nodes) == {"n0", "n1", "n2", OVERFLOW_NODE}
    assert nodes[OVERFLOW_NODE].total_executions == 4
    assert nodes[OVERFLOW_NODE].failure_count == 1
    assert nodes["n1"].retry_count == 1
    warnings = [e for e in logged if e.get("event") == "metrics.too_many_nodes"]
    assert [(w["node"], w["max_nodes"]) for w in warnings] == [("n3", 3)]


def test_unknown_node_reads_as_zeroed_metrics() -> None:
    """A node never recorded reads as zero counts and None percentiles, without being listed."""
    collector = NodeMetricsCollector(window_size=50)
    metrics = collector.get_node_metrics("missing")
    assert metrics == NodeMetrics(window_size=50)
    assert metrics.p50_ms is None
    assert metrics.p99_ms is None
    assert metrics.total_executions == 0
    assert collector.get_all_node_metrics() == {}


@FACTORIES
def test_counts_average_and_last(make: Callable[..., NodeMetricsCollector]) -> None:
    """Successes, failures, retries, fallbacks and cache hits are counted; avg is lifetime."""
    collector = make(window_size=3)
    for d in (10.0, 20.0, 30.0, 40.0):
        collector.record_success("a", d)
    collector.record_failure("a", 50.0, error=ValueError("x"))
    collector.record_retry("a", 1)
    collector.record_retry("a", 2)
    collector.record_fallback("a")
    collector.record_cache_hit("a")
    m = collector.get_node_metrics("a")
    assert (m.total_executions, m.success_count, m.failure_count) == (5, 4, 1)
    assert (m.retry_count, m.fallbacks, m.cache_hits) == (2, 1, 1)
    assert m.avg_execution_ms == pytest.approx(30.0)
    assert m.last_execution_ms == 50.0
    assert (m.sample_count, m.window_size) == (3, 3)
    assert m.p50_ms == 40.0  # window holds 30, 40, 50


class _Status(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


def _validation_error() -> ValidationError:
    class M(BaseModel):
        x: int

    try:
        M.model_validate({"x": "not an int"})
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


@FACTORIES
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"error": TimeoutError()}, "timeout_errors"),
        ({"error": ConnectionResetError()}, "network_errors"),
        ({"error": _Status(503)}, "network_errors"),
        ({"error": _Status(429)}, "rate_limit_errors"),
        ({"error": _validation_error()}, "validation_errors"),
        ({"error": ValueError("boom")}, "other_errors"),
        ({}, "other_errors"),
        ({"category": ErrorCategory.NETWORK}, "network_errors"),
        ({"category": "validation"}, "validation_errors"),
        ({"error": TimeoutError(), "category": "rate_limit"}, "rate_limit_errors"),
    ],
)
def test_failure_categories(
    make: Callable[..., NodeMetricsCollector], kwargs: dict[str, Any], field: str
) -> None:
    """A failure lands in the given category, else classify_error's, else other."""
    collector = make()
    collector.record_failure("a", 5.0, **kwargs)
    dumped = collector.get_node_metrics("a").model_dump()
    counters = ["timeout_errors", "network_errors", "rate_limit_errors", "validation_errors"]
    counters += ["other_errors", "circuit_rejections"]
    assert {c: dumped[c] for c in counters} == {c: int(c == field) for c in counters}
    assert dumped["failure_count"] == 1


@FACTORIES
def test_circuit_rejection_counts_without_duration(
    make: Callable[..., NodeMetricsCollector],
) -> None:
    """A CircuitOpenError failure counts as a rejection and a failure, but adds no sample."""
    collector = make()
    collector.record_success("a", 10.0)
    collector.record_failure("a", 0.01, error=CircuitOpenError("dep", 3.0, node="a"))
    collector.record_failure("a", 0.02, category="circuit_open")
    m = collector.get_node_metrics("a")
    assert (m.failure_count, m.circuit_rejections, m.other_errors) == (2, 2, 0)
    assert (m.total_executions, m.sample_count) == (3, 1)
    assert m.avg_execution_ms == 10.0
    assert m.last_execution_ms == 10.0


def test_given_category_wins_over_circuit_open_error() -> None:
    """An explicit category is used even when the error is a CircuitOpenError."""
    collector = NodeMetricsCollector()
    collector.record_failure("a", 4.0, error=CircuitOpenError("dep", 1.0), category="timeout")
    m = collector.get_node_metrics("a")
    assert (m.timeout_errors, m.circuit_rejections, m.sample_count) == (1, 0, 1)


def test_unknown_category_and_bad_node_raise() -> None:
    """A misspelt category or a non-str node is a programming error, reported loudly."""
    collector = NodeMetricsCollector()
    with pytest.raises(ValueError, match="category"):
        collector.record_failure("a", 1.0, category="timout")
    with pytest.raises(TypeError, match="node"):
        collector.record_success(3, 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="node"):
        collector.get_node_metrics(None)  # type: ignore[arg-type]


@FACTORIES
def test_negative_duration_clamped_counted_and_warned_once(
    make: Callable[..., NodeMetricsCollector], logged: list[dict[str, Any]]
) -> None:
    """Negative durations become 0, are counted, and log one warning per node."""
    collector = make()
    collector.record_success("a", -5.0)
    collector.record_failure("a", -1.0)
    collector.record_success("b", -2)
    m = collector.get_node_metrics("a")
    assert m.negative_durations == 2
    assert m.total_executions == 2
    assert m.p99_ms == 0.0
    assert m.last_execution_ms == 0.0
    warned = [e["node"] for e in logged if e["event"] == "metrics.negative_duration"]
    assert warned == ["a", "b"]


@FACTORIES
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "12", None, True, 10**400])
def test_invalid_duration_ignored_but_execution_counted(
    make: Callable[..., NodeMetricsCollector], bad: Any, logged: list[dict[str, Any]]
) -> None:
    """NaN, infinities and non-numbers count the execution but leave timing untouched."""
    collector = make()
    collector.record_success("a", 4.0)
    collector.record_success("a", bad)
    collector.record_failure("a", bad)
    m = collector.get_node_metrics("a")
    assert (m.total_executions, m.invalid_durations, m.sample_count) == (3, 2, 1)
    assert m.avg_execution_ms == 4.0
    assert m.p50_ms == 4.0
    warned = [e for e in logged if e["event"] == "metrics.invalid_duration"]
    assert len(warned) == 1
    assert warned[0]["node"] == "a"


def test_int_and_numpy_durations_accepted() -> None:
    """Ints and numpy floats are valid durations."""
    collector = NodeMetricsCollector()
    collector.record_success("a", 3)
    collector.record_success("a", np.float32(5.0))
    m = collector.get_node_metrics("a")
    assert m.invalid_durations == 0
    assert m.avg_execution_ms == 4.0


@FACTORIES
@pytest.mark.parametrize("window", [1, 7, 100, 1000])
@pytest.mark.parametrize("count", [1, 2, 99, 101, 1500])
@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
def test_percentiles_match_numpy(
    make: Callable[..., NodeMetricsCollector], window: int, count: int, ties: bool
) -> None:
    """p50/p90/p99 equal numpy.percentile (default method) over the last window samples."""
    rng = random.Random(window * 10_007 + count)
    collector = make(window_size=window, min_samples=1)
    durations = [rng.lognormvariate(3.0, 1.2) for _ in range(count)]
    if ties:  # many equal values, as with coarse clocks
        durations = [float(round(d / 20)) for d in durations]
    for i, d in enumerate(durations):
        if i % 4:
            collector.record_success("a", d)
        else:
            collector.record_failure("a", d, category="network")
    tail = durations[-window:]
    expected = np.percentile(tail, [50, 90, 99])
    m = collector.get_node_metrics("a")
    assert (m.p50_ms, m.p90_ms, m.p99_ms) == tuple(float(x) for x in expected)
    assert m.sample_count == len(tail)


def test_window_sorted_on_read_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recording never sorts; a read sorts once and is cached until the window changes."""
    sorts = 0

    def counting_sorted(values: Any) -> list[float]:
        nonlocal sorts
        sorts += 1
        return sorted(values)

    collector = NodeMetricsCollector()
    monkeypatch.setattr(node_state, "sorted", counting_sorted, raising=False)
    for i in range(1000):
        collector.record_success("a", float(i))
    assert sorts == 0
    collector.get_node_metrics("a")
    collector.get_all_node_metrics()
    assert sorts == 1
    for _ in range(100):  # a window's worth of new records: sorted afresh
        collector.record_success("a", 1.0)
    collector.get_node_metrics("a")
    assert sorts == 2


def test_deferred_successes_keep_window_order_and_every_read_is_exact() -> None:
    """Plain successes are folded in batches, yet each read sees every record, in order."""
    collector = NodeMetricsCollector(window_size=2)
    collector.record_success("a", 10.0)
    collector.record_failure("a", 20.0, category="timeout")
    m = collector.get_node_metrics("a")
    assert (m.success_count, m.failure_count, m.last_execution_ms) == (1, 1, 20.0)
    assert m.p50_ms == 15.0
    collector.record_success("a", 30.0)
    m = collector.get_node_metrics("a")
    assert (m.last_execution_ms, m.p50_ms) == (30.0, 25.0)  # window [20, 30]
    for i in range(1, 200):  # across several batches, read mid-batch
        collector.record_success("b", float(i))
        if i % 37 == 0:
            assert collector.get_node_metrics("b").success_count == i
    m = collector.get_node_metrics("b")
    assert (m.success_count, m.last_execution_ms, m.sample_count) == (199, 199.0, 2)
    assert m.avg_execution_ms == 100.0
    collector.record_success("b", 1.0)
    collector.reset_node_metrics("b")
    assert collector.get_node_metrics("b").total_executions == 0


_RECORD = st.one_of(
    st.tuples(st.just("success"), st.floats(min_value=0, max_value=1e4)),
    st.tuples(
        st.just("failure"),
        st.floats(min_value=0, max_value=1e4),
        st.sampled_from(["timeout", "network", "rate_limit", "validation", "other"]),
    ),
    st.tuples(st.just("error"), st.floats(min_value=0, max_value=1e4)),  # classified
    st.tuples(st.just("circuit"), st.floats(min_value=0, max_value=1e4)),
    st.tuples(st.just("odd"), st.sampled_from([-1.0, math.nan, math.inf, 3])),
    st.just(("read",)),
)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(records=st.lists(_RECORD, max_size=120), window=st.integers(min_value=1, max_value=8))
def test_deferred_records_read_exactly_as_the_general_path(
    records: list[tuple[Any, ...]], window: int
) -> None:
    """Successes and failures folded in batches read the same as records taken one by one."""
    fast, general = _plain(window_size=window), _watched(window_size=window)
    for record in records:
        for collector in (fast, general):
            kind = record[0]
            if kind == "success":
                collector.record_success("n", record[1])
            elif kind == "failure":
                collector.record_failure("n", record[1], category=record[2])
            elif kind == "error":
                collector.record_failure("n", record[1], error=ConnectionError("down"))
            elif kind == "circuit":
                collector.record_failure("n", record[1], error=CircuitOpenError("b", 1.0))
            elif kind == "odd":
                with contextlib.suppress(Exception):  # the general path logs a warning
                    collector.record_failure("n", record[1], category="other")
        if record[0] == "read":
            assert fast.get_node_metrics("n") == general.get_node_metrics("n")
    assert fast.get_node_metrics("n") == general.get_node_metrics("n")
    assert fast.series() == general.series()


def test_reset_one_node_or_all() -> None:
    """reset_node_metrics zeroes one node or all, keeping nodes listed."""
    collector = NodeMetricsCollector()
    for node in ("a", "b"):
        collector.record_success(node, 1.0)
        collector.record_retry(node, 1)
    collector.reset_node_metrics("a")
    assert collector.get_node_metrics("a") == NodeMetrics(window_size=100)
    assert collector.get_node_metrics("b").total_executions == 1
    collector.reset_node_metrics("unknown")
    collector.reset_node_metrics()
    all_metrics = collector.get_all_node_metrics()
    assert list(all_metrics) == ["a", "b"]
    assert all(m == NodeMetrics(window_size=100) for m in all_metrics.values())
    collector.record_success("a", 7.0)
    assert collector.get_node_metrics("a").p50_ms == 7.0


def test_to_json_snapshot() -> None:
    """to_json carries identity (pid, collector id, graph, window) and serializes as JSON."""
    collector = NodeMetricsCollector(window_size=10, graph="g")
    collector.record_success("a", 2.0)
    snapshot = json.loads(json.dumps(collector.to_json()))
    assert snapshot["pid"] == os.getpid()
    assert snapshot["collector_id"] == collector.collector_id
    assert len(collector.collector_id) == 32
    assert (snapshot["graph"], snapshot["window_size"]) == ("g", 10)
    assert NodeMetrics.model_validate(snapshot["nodes"]["a"]) == collector.get_node_metrics("a")
    assert NodeMetricsCollector().collector_id != collector.collector_id


def test_series_buckets_per_outcome() -> None:
    """series() gives lifetime bucket counts and sums per outcome and error type."""
    collector = NodeMetricsCollector(duration_buckets=(0.01, 0.1))
    for d in (5.0, 10.0, 50.0, 500.0):
        collector.record_success("a", d)
    collector.record_failure("a", 20.0, error=TimeoutError())
    collector.record_failure("a", 0.0, error=CircuitOpenError("dep", 1.0))
    collector.record_retry("a", 1)
    (series,) = collector.series()
    assert collector.duration_buckets == (0.01, 0.1)
    assert (series.node, series.retries, series.fallbacks, series.cache_hits) == ("a", 1, 0, 0)
    success, timeout, circuit = series.outcomes
    assert (success.outcome, success.error_type, success.executions) == ("success", None, 4)
    assert success.bucket_counts == (2, 1, 1)  # le 10 ms (inclusive), le 100 ms, +Inf
    assert success.duration_sum_ms == 565.0
    assert (timeout.error_type, timeout.bucket_counts, timeout.duration_sum_ms) == (
        "timeout",
        (0, 1, 0),
        20.0,
    )
    assert (circuit.error_type, circuit.executions, sum(circuit.bucket_counts)) == (
        "circuit_open",
        1,
        0,
    )


def test_listener_receives_records_and_can_be_removed(logged: list[dict[str, Any]]) -> None:
    """Listeners see every record with its error type; failures are logged; removal stops calls."""
    collector = NodeMetricsCollector()
    listener = _Listener()
    collector.add_listener(listener)
    collector.record_success("a", 1.5)
    collector.record_failure("a", 2.5, error=TimeoutError())
    collector.record_failure("a", 0.1, error=CircuitOpenError("dep", 1.0))
    collector.record_retry("a", 2)
    collector.record_fallback("a")
    collector.record_cache_hit("a")
    assert listener.calls == [
        ("success", "a", 1.5),
        ("failure", "a", 2.5, "timeout"),
        ("failure", "a", None, "circuit_open"),
        ("retry", "a", 2),
        ("fallback", "a"),
        ("cache_hit", "a"),
    ]
    broken = _Listener()
    broken.on_success = lambda node, d: 1 / 0  # type: ignore[method-assign,assignment]
    collector.add_listener(broken)
    collector.record_success("a", 1.0)
    assert [e["event"] for e in logged] == ["metrics.listener_failed"]
    collector.remove_listener(listener)
    collector.remove_listener(broken)
    collector.record_success("a", 1.0)
    assert len(listener.calls) == 7
    assert collector.get_node_metrics("a").success_count == 3


# -- thresholds -----------------------------------------------------------------------


def test_failure_rate_threshold_fires_once_per_crossing(logged: list[dict[str, Any]]) -> None:
    """The failure-rate callback fires on crossing, once, and again only after re-arming."""
    fired: list[tuple[str, float]] = []
    collector = NodeMetricsCollector(
        window_size=10,
        min_samples=4,
        failure_rate_threshold=0.5,
        on_failure_rate_threshold=lambda node, rate: fired.append((node, rate)),
    )
    for _ in range(3):
        collector.record_failure("a", 1.0)
    assert fired == []  # 100% failures, but fewer than min_samples
    collector.record_failure("a", 1.0)
    assert fired == [("a", 1.0)]
    for _ in range(5):
        collector.record_failure("a", 1.0)
    assert len(fired) == 1  # still above: no repeat
    for _ in range(6):
        collector.record_success("a", 1.0)  # window: 4 failures, 6 successes -> 0.4
    assert len(fired) == 1
    for _ in range(4):
        collector.record_failure("a", 1.0)  # each evicts an old failure: still 0.4
    assert len(fired) == 1
    collector.record_failure("a", 1.0)  # evicts a success: 5/10 = 0.5, crossed again
    assert fired == [("a", 1.0), ("a", 0.5)]
    assert [e["event"] for e in logged].count("metrics.failure_rate_threshold") == 2


def test_zero_failure_rate_threshold_needs_a_failure() -> None:
    """failure_rate_threshold=0 fires on the first failure, not on a healthy window."""
    fired: list[float] = []
    collector = NodeMetricsCollector(
        window_size=5,
        min_samples=2,
        failure_rate_threshold=0.0,
        on_failure_rate_threshold=lambda node, rate: fired.append(rate),
    )
    for _ in range(10):
        collector.record_success("a", 1.0)
    assert fired == []
    collector.record_failure("a", 1.0)
    assert fired == [0.2]
    for _ in range(5):
        collector.record_success("a", 1.0)  # the failure leaves the window: re-armed
    collector.record_failure("a", 1.0)
    assert fired == [0.2, 0.2]


def test_failure_rate_uses_recent_window_not_lifetime() -> None:
    """A long healthy history does not hide a recent burst of failures."""
    fired: list[float] = []
    collector = NodeMetricsCollector(
        window_size=20,
        failure_rate_threshold=0.5,
        on_failure_rate_threshold=lambda node, rate: fired.append(rate),
    )
    for _ in range(1000):
        collector.record_success("a", 1.0)
    for _ in range(10):
        collector.record_failure("a", 1.0)
    assert fired == [0.5]


def test_latency_threshold_fires_once_and_rearms() -> None:
    """The latency callback gets the window p99 when it reaches the threshold, once per crossing."""
    fired: list[tuple[str, float]] = []
    collector = NodeMetricsCollector(
        window_size=10,
        min_samples=5,
        latency_threshold_ms=100.0,
        on_latency_threshold=lambda node, p99: fired.append((node, p99)),
    )
    for _ in range(4):
        collector.record_success("a", 500.0)
    assert fired == []  # min_samples not reached
    collector.record_success("a", 500.0)
    assert fired == [("a", 500.0)]
    for _ in range(5):
        collector.record_success("a", 500.0)
    for _ in range(9):
        collector.record_success("a", 10.0)  # one 500 left: p99 still >= 100
    assert len(fired) == 1
    collector.record_success("a", 10.0)  # all 10 ms: p99 below, re-armed
    collector.record_failure("a", 1000.0, category="timeout")
    expected = float(np.percentile([10.0] * 9 + [1000.0], 99))
    assert fired == [("a", 500.0), ("a", expected)]


@pytest.mark.parametrize("seed", range(8))
def test_latency_threshold_matches_reference(seed: int) -> None:
    """Firing decisions equal a reference that computes numpy's p99 after every record."""
    rng = random.Random(seed)
    window, min_samples = [(10, 3), (100, 10), (101, 20), (7, 7)][seed % 4]
    threshold = 50.0
    fired: list[int] = []
    step = 0
    collector = NodeMetricsCollector(
        window_size=window,
        min_samples=min_samples,
        latency_threshold_ms=threshold,
        on_latency_threshold=lambda node, p99: fired.append(step),
    )
    expected: list[int] = []
    samples: list[float] = []
    armed = True
    for step in range(3000):
        # The share of slow samples drifts between 0 and 4%, so the p99 crosses often;
        # some land exactly on the threshold.
        p_slow = 0.02 * (1 + math.sin(step / 100))
        r = rng.random()
        d = 50.0 if r < p_slow * 0.2 else rng.uniform(50, 300) if r < p_slow else rng.uniform(1, 50)
        collector.record_success("a", d)
        samples.append(d)
        tail = samples[-window:]
        if len(tail) >= min_samples:
            p99 = float(np.percentile(tail, 99))
            if p99 >= threshold and armed:
                expected.append(step)
            armed = p99 < threshold
    assert fired == expected
    assert len(expected) >= 3


def test_callbacks_run_outside_the_lock() -> None:
    """A callback can read the collector from another thread: no lock is held while it runs."""
    unblocked: list[bool] = []

    def callback(node: str, value: float) -> None:
        reader = threading.Thread(target=collector.get_node_metrics, args=(node,), daemon=True)
        reader.start()
        reader.join(timeout=5)
        unblocked.append(not reader.is_alive())

    collector = NodeMetricsCollector(
        min_samples=1,
        failure_rate_threshold=0.5,
        on_failure_rate_threshold=callback,
        latency_threshold_ms=1.0,
        on_latency_threshold=callback,
    )
    collector.record_failure("a", 5.0)
    assert unblocked == [True, True]


@pytest.mark.parametrize("kind", ["failure_rate", "latency"])
def test_callback_recording_into_same_collector_does_not_deadlock(kind: str) -> None:
    """A threshold callback may record into the same node of the same collector."""
    fired: list[float] = []

    def callback(node: str, value: float) -> None:
        fired.append(value)
        collector.record_success(node, 5.0)
        collector.record_failure(node, 5.0, category="network")
        collector.record_retry(node, 1)
        collector.get_node_metrics(node)

    if kind == "failure_rate":
        kwargs: dict[str, Any] = {
            "failure_rate_threshold": 0.5,
            "on_failure_rate_threshold": callback,
        }
    else:
        kwargs = {"latency_threshold_ms": 1.0, "on_latency_threshold": callback}
    collector = NodeMetricsCollector(min_samples=1, **kwargs)
    worker = threading.Thread(target=collector.record_failure, args=("a", 5.0), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "record_failure deadlocked inside its own callback"
    assert len(fired) == 1
    m = collector.get_node_metrics("a")
    assert (m.total_executions, m.failure_count, m.retry_count) == (3, 2, 1)


def test_threshold_fires_once_under_threads() -> None:
    """Many threads crossing the same threshold together fire the callback exactly once."""
    fired: list[tuple[str, float]] = []
    collector = NodeMetricsCollector(
        window_size=1000,
        min_samples=1000,
        failure_rate_threshold=0.5,
        on_failure_rate_threshold=lambda node, rate: fired.append((node, rate)),
    )
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(2000):
            collector.record_failure("a", 1.0)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fired == [("a", 1.0)]
    assert collector.get_node_metrics("a").failure_count == 16_000


def test_failing_callback_is_logged_not_raised(logged: list[dict[str, Any]]) -> None:
    """A callback that raises does not fail the record; the error is logged."""

    def callback(node: str, rate: float) -> None:
        raise RuntimeError("alert system down")

    collector = NodeMetricsCollector(
        min_samples=1, failure_rate_threshold=0.1, on_failure_rate_threshold=callback
    )
    collector.record_failure("a", 1.0)
    assert collector.get_node_metrics("a").failure_count == 1
    failed = [e for e in logged if e["event"] == "metrics.callback_failed"]
    assert len(failed) == 1
    assert "alert system down" in failed[0]["error"]


@pytest.mark.slow
@FACTORIES
def test_threads_count_exactly(make: Callable[..., NodeMetricsCollector]) -> None:
    """8 threads x 100k records each, on shared and own nodes, lose no update."""
    collector = make(window_size=64)
    per_thread = 100_000
    barrier = threading.Barrier(8)

    def work(index: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            node = "shared" if i % 2 else f"own-{index}"
            if i % 5 == 0:
                collector.record_failure(node, 2.0, category="timeout")
            else:
                collector.record_success(node, 1.0)
            if i % 10 == 0:
                collector.record_retry(node, 1)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often to provoke races
    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    shared = collector.get_node_metrics("shared")
    assert shared.total_executions == 8 * per_thread // 2
    assert shared.failure_count == shared.timeout_errors == 8 * per_thread // 10  # i % 10 == 5
    assert shared.retry_count == 0
    own = [collector.get_node_metrics(f"own-{n}") for n in range(8)]
    assert all(m.total_executions == per_thread // 2 for m in own)
    assert all(m.failure_count == m.timeout_errors == per_thread // 10 for m in own)  # i % 10 == 0
    assert all(m.retry_count == per_thread // 10 for m in own)
    total = sum(m.total_executions for m in collector.get_all_node_metrics().values())
    assert total == 8 * per_thread
    timed = sum(sum(sum(o.bucket_counts) for o in s.outcomes) for s in collector.series())
    assert timed == 8 * per_thread


def test_snapshots_stay_consistent_during_concurrent_records() -> None:
    """A reader never sees a record half applied (count bumped, histogram not yet)."""
    collector = NodeMetricsCollector()
    stop = threading.Event()
    torn: list[tuple[int, int]] = []

    def write() -> None:
        while not stop.is_set():
            collector.record_success("a", 1.0)

    def read() -> None:
        for _ in range(3000):
            for series in collector.series():
                success = series.outcomes[0]
                if success.executions != sum(success.bucket_counts):
                    torn.append((success.executions, sum(success.bucket_counts)))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    writers = [threading.Thread(target=write) for _ in range(3)]
    try:
        for t in writers:
            t.start()
        read()
    finally:
        stop.set()
        for t in writers:
            t.join()
        sys.setswitchinterval(old)
    assert torn == []
    assert collector.get_node_metrics("a").success_count > 0


def test_one_lock_per_node() -> None:
    """A node whose lock is busy does not hold up records for other nodes."""
    collector = NodeMetricsCollector()
    collector.record_success("busy", 1.0)
    busy = collector._nodes["busy"].lock
    busy.acquire()  # e.g. a long snapshot of "busy" in another thread
    try:
        worker = threading.Thread(
            target=lambda: [collector.record_success("free", 1.0) for _ in range(100)],
            daemon=True,
        )
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive()
    finally:
        busy.release()
    assert collector.get_node_metrics("free").success_count == 100


async def test_async_tasks_count_exactly() -> None:
    """Many asyncio tasks interleaving records on one node count exactly."""
    collector = NodeMetricsCollector(failure_rate_threshold=0.9)

    async def work(index: int) -> None:
        for i in range(500):
            collector.record_success("a", float(i))
            if i % 7 == 0:
                collector.record_failure("a", 1.0)
                await asyncio.sleep(0)

    await asyncio.gather(*(work(n) for n in range(100)))
    m = collector.get_node_metrics("a")
    assert (m.success_count, m.failure_count) == (100 * 500, 100 * 72)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_fork_child_gets_fresh_locks_and_identity() -> None:
    """A child forked while a node lock is held can still record, under a new collector id."""
    collector = NodeMetricsCollector()
    collector.record_success("a", 1.0)
    # Simulate another thread caught mid-record at fork time: its lock stays held.
    held = collector._nodes["a"].lock
    held.acquire()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: any failure or hang becomes a non-zero exit status
        status = 1
        try:
            signal.alarm(10)
            os.close(read)
            collector.record_success("a", 2.0)
            collector.record_success("new", 3.0)
            m = collector.get_node_metrics("a")
            snapshot = collector.to_json()
            ok = (
                m.success_count == 2
                and snapshot["pid"] == os.getpid()
                and collector.get_node_metrics("new").success_count == 1
            )
            os.write(write, collector.collector_id.encode())
            status = 0 if ok else 2
        finally:
            os._exit(status)
    held.release()
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child_id = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_id
    assert child_id != collector.collector_id
    assert collector.get_node_metrics("a").success_count == 1
