"""Tests for langgraph_runner.metrics._node_state (window, percentiles, crossings)."""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from langgraph_runner.metrics import _node_state as node_state
from langgraph_runner.metrics._model import ERROR_TYPES
from langgraph_runner.metrics._node_state import (
    CIRCUIT,
    INVALID,
    NEGATIVE,
    NodeState,
    clean_duration,
    percentile,
)

BOUNDS_MS = (10.0, 100.0)
SUCCESS = -1
TIMEOUT = ERROR_TYPES.index("timeout")


@pytest.mark.parametrize("n", [1, 2, 3, 10, 99, 100, 101, 1000])
@pytest.mark.parametrize("pct", [0, 1, 25, 50, 90, 99, 99.9, 100])
def test_percentile_equals_numpy(n: int, pct: float) -> None:
    """percentile() is bit-for-bit numpy.percentile's default on random data."""
    rng = random.Random(n * 31 + int(pct * 10))
    for _ in range(20):
        samples = sorted(rng.expovariate(0.01) for _ in range(n))
        # numpy divides the percentage by 100, as the collector's 0.5/0.9/0.99 are.
        assert percentile(samples, pct / 100) == float(np.percentile(samples, pct))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (3.5, (3.5, 0)),
        (0, (0.0, 0)),
        (7, (7.0, 0)),
        (np.float32(2.0), (2.0, 0)),
        (Fraction(1, 4), (0.25, 0)),
        (-0.5, (0.0, NEGATIVE)),
        (-3, (0.0, NEGATIVE)),
        (float("nan"), (None, INVALID)),
        (float("-inf"), (None, INVALID)),
        (10**400, (None, INVALID)),
        (True, (None, INVALID)),
        ("12", (None, INVALID)),
        (None, (None, INVALID)),
    ],
)
def test_clean_duration(raw: Any, expected: tuple[float | None, int]) -> None:
    """Reals are kept, negatives clamped to 0, NaN/inf/bools/non-numbers rejected."""
    assert clean_duration(raw) == expected


def test_add_counts_and_buckets_by_outcome() -> None:
    """add() counts successes and failures per type, with per-outcome bucket counts and sums."""
    st = NodeState(3, BOUNDS_MS)
    for d in (5.0, 10.0, 50.0, 500.0):
        st.add(SUCCESS, d, 0)
    st.add(TIMEOUT, 20.0, 0)
    st.add(CIRCUIT, None, 0)
    fields = st.fields()
    assert (fields["success_count"], fields["failure_count"]) == (4, 2)
    assert (fields["timeout_errors"], fields["circuit_rejections"]) == (1, 1)
    assert fields["sample_count"] == fields["window_size"] == 3
    assert fields["avg_execution_ms"] == pytest.approx(585.0 / 5)
    series = st.series("n")
    assert [o.error_type for o in series.outcomes] == [None, "timeout", "circuit_open"]
    assert series.outcomes[0].bucket_counts == (2, 1, 1)
    assert series.outcomes[1].bucket_counts == (0, 1, 0)
    assert sum(series.outcomes[2].bucket_counts) == 0


def test_flush_folds_pending_successes_in_order_before_reads_and_records() -> None:
    """Successes appended lock-free are folded in order: before a record, a read or series()."""
    st = NodeState(2, BOUNDS_MS)
    st.pending.extend([5.0, 50.0])
    assert st.fields()["success_count"] == 2  # a read folds them in
    st.pending.append(500.0)
    st.add(TIMEOUT, 20.0, 0)  # folds 500.0 in first, so the window keeps arrival order
    assert list(st.window) == [500.0, 20.0]
    assert st.fields()["last_execution_ms"] == 20.0
    st.pending.append(7.0)
    series = st.series("n")
    assert series.outcomes[0].executions == 4
    assert series.outcomes[0].bucket_counts == (2, 1, 1)
    assert series.outcomes[0].duration_sum_ms == pytest.approx(562.0)
    st.pending.append(1.0)
    st.clear()  # a reset forgets what was pending too
    assert st.fields()["total_executions"] == 0 and not st.pending


def test_add_warns_once_per_problem() -> None:
    """add() asks for a warning on the first negative and the first invalid duration only."""
    st = NodeState(10, BOUNDS_MS)
    assert st.add(SUCCESS, 0.0, NEGATIVE)[0] is True
    assert st.add(SUCCESS, 0.0, NEGATIVE)[0] is False
    assert st.add(SUCCESS, None, INVALID)[0] is True
    assert st.add(TIMEOUT, None, INVALID)[0] is False
    fields = st.fields()
    assert (fields["negative_durations"], fields["invalid_durations"]) == (2, 2)


def test_percentiles_sorted_on_read_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """The window is sorted once per read after a record, never while recording."""
    sorts = 0
    real_sorted = sorted

    def counting_sorted(values: Any) -> list[float]:
        nonlocal sorts
        sorts += 1
        return real_sorted(values)

    monkeypatch.setattr(node_state, "sorted", counting_sorted, raising=False)
    st = NodeState(100, BOUNDS_MS)
    assert st.percentiles() is None
    for i in range(300):
        st.add(SUCCESS, float(i), 0)
    assert sorts == 0
    assert st.percentiles() == (249.5, 289.1, 298.01)
    assert st.percentiles() == (249.5, 289.1, 298.01)
    assert sorts == 1
    st.add(SUCCESS, 1000.0, 0)  # one change: the sorted copy is updated in place
    assert st.percentiles() == tuple(
        float(np.percentile([*range(201, 300), 1000.0], q)) for q in (50, 90, 99)
    )
    assert sorts == 1
    for i in range(node_state.INCREMENTAL_MAX + 1):  # too many changes: sorted afresh
        st.add(SUCCESS, float(i), 0)
    st.percentiles()
    assert sorts == 2


@pytest.mark.parametrize("seed", range(6))
def test_sorted_copy_matches_the_window_whatever_the_read_pattern(seed: int) -> None:
    """Reads after 0..2x INCREMENTAL_MAX changes, with evictions, pending successes,
    records without a duration and resets, always see numpy's percentiles of the window."""
    rng = random.Random(seed)
    size = [1, 2, 7, 9, 100, 3][seed]
    st = NodeState(size, BOUNDS_MS)
    reads = 0
    for _ in range(3000):
        kind = rng.random()
        d = float(rng.choice([rng.uniform(0, 500), 5.0, 50.0]))  # ties included
        if kind < 0.5:
            st.add(SUCCESS, d, 0)
        elif kind < 0.75:
            st.pending.append(d)
        elif kind < 0.85:
            st.add(TIMEOUT, d, 0)
        elif kind < 0.9:
            st.add(CIRCUIT, None, 0)  # no duration: the window does not change
        elif kind < 0.905:
            st.clear()
        if rng.random() < 1 / (1 + rng.randrange(2 * node_state.INCREMENTAL_MAX)):
            window = [*st.window, *st.pending][-size:]
            got = st.percentiles()
            if not window:
                assert got is None
                continue
            reads += 1
            assert got == tuple(float(np.percentile(window, q)) for q in (50, 90, 99))
            assert st.sorted_window == sorted(st.window)
    assert reads > 300


def test_rate_crossing_fires_once_and_rearms() -> None:
    """The failure rate over the window crosses once, re-arms below, waits for min_samples."""
    st = NodeState(4, BOUNDS_MS, rate=0.5, min_samples=2)
    assert st.add(TIMEOUT, 1.0, 0)[1] is None  # 1 sample < min_samples
    assert st.add(SUCCESS, 1.0, 0)[1] == 0.5
    assert st.add(TIMEOUT, 1.0, 0)[1] is None  # still above: already fired
    assert st.add(SUCCESS, 1.0, 0)[1] is None
    for _ in range(3):
        st.add(SUCCESS, 1.0, 0)  # window: S S S S -> 0, re-armed
    assert st.add(CIRCUIT, None, 0)[1] is None  # 1/4
    assert st.add(CIRCUIT, None, 0)[1] == 0.5


def test_latency_crossing_uses_window_p99() -> None:
    """The latency crossing returns the window p99 once, and re-arms when it drops."""
    st = NodeState(5, BOUNDS_MS, latency_ms=100.0, min_samples=3)
    assert st.add(SUCCESS, 500.0, 0)[2] is None  # below min_samples
    assert st.add(SUCCESS, 1.0, 0)[2] is None
    hit = st.add(SUCCESS, 1.0, 0)[2]
    assert hit == float(np.percentile([500.0, 1.0, 1.0], 99))
    assert st.add(SUCCESS, 1.0, 0)[2] is None
    st.add(SUCCESS, 1.0, 0)
    assert st.add(SUCCESS, 1.0, 0)[2] is None  # 500 evicted: re-armed
    assert st.add(TIMEOUT, 200.0, 0)[2] == float(np.percentile([1.0] * 4 + [200.0], 99))


def test_clear_zeroes_and_rearms() -> None:
    """clear() empties counters, window, outcomes and threshold state."""
    st = NodeState(5, BOUNDS_MS, rate=0.5, latency_ms=1.0, min_samples=1)
    assert st.add(TIMEOUT, 5.0, NEGATIVE) == (True, 1.0, 5.0)
    st.clear()
    assert st.fields()["total_executions"] == 0
    assert st.percentiles() is None
    assert st.add(TIMEOUT, 5.0, NEGATIVE) == (True, 1.0, 5.0)


def test_fields_of_an_empty_state() -> None:
    """An empty state reads as zero counts, None percentiles and the window size."""
    fields = NodeState(7, BOUNDS_MS).fields()
    assert fields["window_size"] == 7
    assert fields["p99_ms"] is None
    assert fields["last_execution_ms"] == 0.0
    assert not math.isnan(fields["avg_execution_ms"])
