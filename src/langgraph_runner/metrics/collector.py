"""Per-node metrics: outcome counts, error categories and rolling-window latency percentiles.

One ``NodeMetricsCollector`` per process. Every node has its own lock, so threads
recording for different nodes never contend and counts stay exact under any mix of
threads and asyncio tasks (recording never awaits, so ``threading.Lock`` is the
right tool). Callbacks, listeners and logging run after the lock is released.

Design decisions:

* Percentiles are exact over the last ``window_size`` durations (successes and
  failures) with NumPy's default linear interpolation; the window is sorted on
  read and the result cached until the next record.
* ``record_failure`` with a ``CircuitOpenError`` (or category ``"circuit_open"``)
  is a *rejected* call: a failure counted in ``circuit_rejections`` (not in the
  other error counters) and in the failure rate; its duration is ignored because
  the node never ran. There is no separate ``record_circuit_rejection``.
* Negative durations are clamped to 0, counted in ``negative_durations`` and logged
  once per node (``metrics.negative_duration``). NaN, infinities and non-numbers
  are counted in ``invalid_durations``, logged once per node
  (``metrics.invalid_duration``) and leave timing statistics untouched; the
  execution still counts. A ``node`` that is not a ``str`` is a programming error:
  ``TypeError``. An unknown ``category`` string: ``ValueError``.
* Lifetime duration histograms per outcome and error type are kept as bucket
  counts (one bisect per record), read by exporters through ``series()``.
* After ``os.fork()`` the child gets fresh locks and a new ``collector_id``; the
  numbers inherited from the parent stay (``reset_node_metrics()`` clears them).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import numbers
import os
import threading
import uuid
import weakref
from bisect import bisect_left
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from pydantic import BaseModel, ConfigDict

from langgraph_runner.classify import classify_error, is_control_flow
from langgraph_runner.errors import CircuitOpenError, ErrorCategory
from langgraph_runner.logs import get_event_logger

__all__ = [
    "DEFAULT_DURATION_BUCKETS",
    "ERROR_TYPES",
    "METRICS_COLLECTOR_KEY",
    "MetricsListener",
    "NodeMetrics",
    "NodeMetricsCollector",
    "NodeSeries",
    "OutcomeSeries",
]

METRICS_COLLECTOR_KEY: Final = "metrics_collector"
"""Key under ``config["configurable"]`` that carries a collector into wrapped nodes."""

DEFAULT_DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
"""Histogram upper bounds in seconds (LLM calls often take 10-120 s)."""

ERROR_TYPES: Final[tuple[str, ...]] = (
    "timeout", "network", "rate_limit", "validation", "other", "circuit_open",
)  # fmt: skip
"""Failure label values (``error_type`` / ``error.type``), in index order."""

_CIRCUIT = 5
_CATEGORY_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(ERROR_TYPES)}
_INF = math.inf
_NEGATIVE, _INVALID = 1, 2
_Hook = Callable[[str, float], Any]


class NodeMetrics(BaseModel):
    """A snapshot of one node's metrics. Percentiles cover the rolling window only.

    Attributes:
        total_executions: Successes plus failures, lifetime.
        avg_execution_ms: Lifetime mean of the recorded durations (0 when none).
        last_execution_ms: Duration of the most recent timed execution (0 when none).
        p50_ms: Window median; ``p90_ms``/``p99_ms`` likewise; None when the window
            is empty. p99 over 100 samples is noisy: read it with ``sample_count``.
        sample_count: Durations currently in the window (<= ``window_size``).
        circuit_rejections: Calls rejected by an open circuit breaker (failures).
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


def _percentile(s: list[float], q: float) -> float:
    """NumPy's default ("linear", type 7) percentile of sorted ``s``, same arithmetic."""
    n = len(s)
    h = (n - 1) * q
    lo = int(h)
    if lo >= n - 1:
        return s[-1]
    a, b = s[lo], s[lo + 1]
    t = h - lo
    diff = b - a
    return b - diff * (1.0 - t) if t >= 0.5 else a + diff * t


def _clean(raw: object) -> tuple[float | None, int]:
    """Turn an unusual duration into (value or None, problem flag)."""
    if isinstance(raw, numbers.Real) and not isinstance(raw, bool):
        try:
            value = float(raw)
        except (OverflowError, ValueError):
            return None, _INVALID
        if math.isfinite(value):
            return (0.0, _NEGATIVE) if value < 0 else (value, 0)
    return None, _INVALID


class _NodeState:
    __slots__ = (
        "above", "cache_hits", "fails", "fallbacks", "fbuckets", "fsums", "invalid", "lat_fired",
        "lock", "negative", "outcomes", "pcts", "pcts_version", "rate_fired", "retries",
        "sbuckets", "ssum", "success", "warned", "wfails", "window",
    )  # fmt: skip

    def __init__(self, window_size: int, nbuckets: int, track_outcomes: bool) -> None:
        self.lock = threading.Lock()
        self.window: deque[float] = deque(maxlen=window_size)
        self.outcomes: deque[bool] | None = deque(maxlen=window_size) if track_outcomes else None
        self.clear(nbuckets)

    def clear(self, nbuckets: int) -> None:
        self.success = self.retries = self.fallbacks = self.cache_hits = 0
        self.negative = self.invalid = self.warned = self.wfails = self.above = 0
        self.fails = [0] * len(ERROR_TYPES)
        self.ssum = 0.0
        self.fsums = [0.0] * len(ERROR_TYPES)
        self.sbuckets = [0] * nbuckets
        self.fbuckets = [[0] * nbuckets for _ in ERROR_TYPES]
        self.rate_fired = self.lat_fired = False
        self.pcts: tuple[float, float, float] | None = None
        self.pcts_version = -1
        self.window.clear()
        if self.outcomes is not None:
            self.outcomes.clear()

    def percentiles(self) -> tuple[float, float, float] | None:
        """Window p50/p90/p99, cached until the next record. Caller holds the lock."""
        if not self.window:
            return None
        version = self.success + sum(self.fails)
        if self.pcts is None or self.pcts_version != version:
            s = sorted(self.window)
            self.pcts = (_percentile(s, 0.5), _percentile(s, 0.9), _percentile(s, 0.99))
            self.pcts_version = version
        return self.pcts


_LIVE: weakref.WeakSet[NodeMetricsCollector] = weakref.WeakSet()
_BACKGROUND: set[asyncio.Task[Any]] = set()
_LOG = get_event_logger()


def _reinit_after_fork() -> None:
    _BACKGROUND.clear()
    for collector in list(_LIVE):
        collector._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


def _check_number(field: str, value: object, *, high: float | None) -> float | None:
    """Validate an optional number: in [0, high], or > 0 (and finite) when ``high`` is None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"NodeMetricsCollector: {field} must be a number, got {value!r}")
    number = float(value)
    if high is None and not 0 < number < _INF:
        raise ValueError(f"NodeMetricsCollector: {field} must be > 0 and finite, got {value!r}")
    if high is not None and not 0 <= number <= high:
        raise ValueError(f"NodeMetricsCollector: {field} must be in [0, {high:g}], got {value!r}")
    return number


def _check_int(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"NodeMetricsCollector: {field} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"NodeMetricsCollector: {field} must be >= 1, got {value!r}")
    return value


class NodeMetricsCollector:
    """Collects per-node execution metrics; safe from many threads, tasks and after fork.

    Args:
        window_size: How many recent durations/outcomes the percentiles and the
            failure rate cover.
        failure_rate_threshold: Fire ``on_failure_rate_threshold(node, rate)`` when a
            node's failure rate over its window reaches this value (0..1; 0 fires
            on the first failure in the window).
        latency_threshold_ms: Fire ``on_latency_threshold(node, p99_ms)`` when the
            window's p99 reaches this value.
        on_failure_rate_threshold: Callback for the failure-rate threshold.
        on_latency_threshold: Callback for the latency threshold.
        min_samples: Samples a window needs before a threshold is evaluated.
        graph: Graph name, used as the ``graph`` label by exporters.
        duration_buckets: Histogram upper bounds in seconds, strictly increasing.

    A threshold fires once when crossed (value >= threshold), logs a
    ``metrics.*_threshold`` warning, and re-arms when the value drops below it.
    Callbacks run in the recording thread after the lock is released, so keep sync
    callbacks quick. An async callback (or one returning an awaitable) is scheduled
    as a task on the running event loop, or, with no loop running in the recording
    thread, run by ``asyncio.run`` in a short-lived daemon thread (interpreter exit
    may cut it short); recording never waits for it. Callback errors are logged
    (``metrics.callback_failed``), never raised.

    Raises:
        TypeError: A config value has the wrong type (the message names the field).
        ValueError: A config value is out of range (the message names the field).
    """

    __slots__ = (
        "__weakref__", "_bounds_ms", "_buckets", "_create_lock", "_graph", "_id", "_latency_ms",
        "_listeners", "_min_samples", "_nodes", "_on_latency", "_on_rate", "_rate", "_watched",
        "_window_size",
    )  # fmt: skip

    def __init__(
        self,
        window_size: int = 100,
        *,
        failure_rate_threshold: float | None = None,
        latency_threshold_ms: float | None = None,
        on_failure_rate_threshold: _Hook | None = None,
        on_latency_threshold: _Hook | None = None,
        min_samples: int = 10,
        graph: str | None = None,
        duration_buckets: Sequence[float] = DEFAULT_DURATION_BUCKETS,
    ) -> None:
        self._window_size = _check_int("window_size", window_size)
        self._min_samples = _check_int("min_samples", min_samples)
        self._rate = _check_number("failure_rate_threshold", failure_rate_threshold, high=1)
        self._latency_ms = _check_number("latency_threshold_ms", latency_threshold_ms, high=None)
        for field, hook, limit in (
            ("on_failure_rate_threshold", on_failure_rate_threshold, self._rate),
            ("on_latency_threshold", on_latency_threshold, self._latency_ms),
        ):
            if hook is not None and not callable(hook):
                raise TypeError(f"NodeMetricsCollector: {field} must be callable, got {hook!r}")
            if hook is not None and limit is None:
                threshold = field.removeprefix("on_")
                raise ValueError(f"NodeMetricsCollector: {field} is set but {threshold} is None")
        thresholds = self._rate is not None or self._latency_ms is not None
        if thresholds and self._min_samples > self._window_size:
            raise ValueError(
                f"NodeMetricsCollector: min_samples ({min_samples}) must be <= window_size "
                f"({window_size}), or the thresholds could never fire"
            )
        self._on_rate = on_failure_rate_threshold
        self._on_latency = on_latency_threshold
        if graph is not None and not isinstance(graph, str):
            raise TypeError(f"NodeMetricsCollector: graph must be a str or None, got {graph!r}")
        self._graph = graph
        bounds = [_check_number("duration_buckets", b, high=None) for b in duration_buckets]
        if not bounds or bounds != sorted(set(bounds)):  # type: ignore[type-var]
            raise ValueError("NodeMetricsCollector: duration_buckets must be strictly increasing")
        self._buckets: tuple[float, ...] = tuple(b for b in bounds if b is not None)
        self._bounds_ms = tuple(b * 1000.0 for b in self._buckets)
        self._nodes: dict[str, _NodeState] = {}
        self._create_lock = threading.Lock()
        self._listeners: tuple[MetricsListener, ...] = ()
        self._watched = thresholds
        self._id = uuid.uuid4().hex
        _LIVE.add(self)

    # -- configuration ---------------------------------------------------------------
    @property
    def window_size(self) -> int:
        """How many recent samples the percentiles and the failure rate cover."""
        return self._window_size

    @property
    def graph(self) -> str | None:
        """The graph name exporters use as a label."""
        return self._graph

    @property
    def collector_id(self) -> str:
        """Random id of this collector in this process (new in a forked child)."""
        return self._id

    @property
    def duration_buckets(self) -> tuple[float, ...]:
        """Histogram upper bounds in seconds (the +Inf bucket is implied)."""
        return self._buckets

    def add_listener(self, listener: MetricsListener) -> None:
        """Call ``listener`` for every record from now on (outside any lock)."""
        with self._create_lock:
            self._listeners = (*self._listeners, listener)
            self._watched = True

    def remove_listener(self, listener: MetricsListener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        with self._create_lock:
            self._listeners = tuple(x for x in self._listeners if x is not listener)
            self._watched = (
                bool(self._listeners) or self._rate is not None or (self._latency_ms is not None)
            )

    # -- recording -------------------------------------------------------------------
    def _entry(self, node: str) -> _NodeState:
        if not isinstance(node, str):
            raise TypeError(f"NodeMetricsCollector: node must be a str, got {node!r}")
        with self._create_lock:
            state = self._nodes.get(node)
            if state is None:
                state = _NodeState(
                    self._window_size, len(self._buckets) + 1, self._rate is not None
                )
                self._nodes[node] = state
            return state

    def record_success(self, node: str, duration_ms: float) -> None:
        """Record a successful execution that took ``duration_ms`` milliseconds."""
        st = self._nodes.get(node)
        if st is None:
            st = self._entry(node)
        # The hot path: a plain float, no thresholds and no listeners.
        if self._watched or duration_ms.__class__ is not float or not 0.0 <= duration_ms < _INF:
            self._record(st, node, -1, duration_ms)
            return
        lock = st.lock
        lock.acquire()  # acquire/release is ~2x cheaper than `with` on CPython 3.11
        try:
            st.success += 1
            st.ssum += duration_ms
            st.window.append(duration_ms)
            st.sbuckets[bisect_left(self._bounds_ms, duration_ms)] += 1
        finally:
            lock.release()

    def record_failure(
        self,
        node: str,
        duration_ms: float,
        error: BaseException | None = None,
        category: ErrorCategory | str | None = None,
    ) -> None:
        """Record a failed execution.

        Args:
            node: The node's name.
            duration_ms: How long the failed execution took.
            error: The exception; when no ``category`` is given, a
                ``CircuitOpenError`` counts as a rejection and anything else is
                classified with ``classify_error``.
            category: An ``ErrorCategory`` (or its value, or ``"circuit_open"``);
                it wins over ``error``.
        """
        st = self._nodes.get(node)
        if st is None:
            st = self._entry(node)
        if category is not None:
            found = _CATEGORY_INDEX.get(category)
            if found is None:
                raise ValueError(f"NodeMetricsCollector: unknown error category {category!r}")
            cat = found
        elif isinstance(error, CircuitOpenError):
            cat = _CIRCUIT
        elif error is not None:
            cat = _CATEGORY_INDEX[classify_error(error).value]
        else:
            cat = _CATEGORY_INDEX["other"]
        self._record(st, node, cat, duration_ms)

    def _record(self, st: _NodeState, node: str, cat: int, raw: object) -> None:
        """The general path: thresholds, listeners and unusual durations."""
        d: float | None = None
        problem = 0
        if cat == _CIRCUIT:
            pass
        elif raw.__class__ is float and 0.0 <= raw < _INF:
            d = raw
        else:
            d, problem = _clean(raw)
        warn = False
        rate_hit: float | None = None
        lat_hit: float | None = None
        latency = self._latency_ms
        st.lock.acquire()
        try:
            if cat < 0:
                st.success += 1
            else:
                st.fails[cat] += 1
            if problem:
                if problem == _NEGATIVE:
                    st.negative += 1
                else:
                    st.invalid += 1
                warn = not st.warned & problem
                st.warned |= problem
            if d is not None:
                window = st.window
                if latency is not None:
                    if len(window) == window.maxlen and window[0] >= latency:
                        st.above -= 1
                    if d >= latency:
                        st.above += 1
                window.append(d)
                index = bisect_left(self._bounds_ms, d)
                if cat < 0:
                    st.ssum += d
                    st.sbuckets[index] += 1
                else:
                    st.fsums[cat] += d
                    st.fbuckets[cat][index] += 1
                if latency is not None:
                    lat_hit = self._latency_crossing(st, latency)
            if st.outcomes is not None:
                rate_hit = self._rate_crossing(st, st.outcomes, cat >= 0)
        finally:
            st.lock.release()
        if warn:
            event = (
                "metrics.negative_duration" if problem == _NEGATIVE else "metrics.invalid_duration"
            )
            _LOG.emit(logging.WARNING, event, node=node, duration_ms=repr(raw)[:80])
        if rate_hit is not None:
            self._fire("failure_rate", self._rate, self._on_rate, node, rate_hit)
        if lat_hit is not None:
            self._fire("latency", self._latency_ms, self._on_latency, node, lat_hit)
        for listener in self._listeners:
            if cat < 0:
                self._tell(listener.on_success, node, d)
            else:
                self._tell(listener.on_failure, node, d, ERROR_TYPES[cat])

    def _rate_crossing(self, st: _NodeState, outcomes: deque[bool], failed: bool) -> float | None:
        if len(outcomes) == outcomes.maxlen and outcomes[0]:
            st.wfails -= 1
        outcomes.append(failed)
        st.wfails += failed
        n = len(outcomes)
        if n < self._min_samples:
            return None
        rate = st.wfails / n
        assert self._rate is not None
        if rate < self._rate or not st.wfails:  # a threshold of 0 means "any failure"
            st.rate_fired = False
        elif not st.rate_fired:
            st.rate_fired = True
            return rate
        return None

    def _latency_crossing(self, st: _NodeState, latency: float) -> float | None:
        """O(1) check of "window p99 >= latency" from the count of samples at or above it.

        Sorted window x[0..n-1]: x[i] >= latency exactly for i >= n - above. p99 lies
        between x[lo] and x[lo+1], so the count decides unless latency falls between
        those two samples; only then is the window sorted (and the result cached).
        """
        n = len(st.window)
        if n < self._min_samples:
            return None
        h = (n - 1) * 0.99
        lo = int(h)
        first_above = n - st.above
        if lo >= first_above:
            reached = True
        elif h == lo or lo + 1 < first_above:
            reached = False
        else:
            pcts = st.percentiles()
            reached = pcts is not None and pcts[2] >= latency
        if not reached:
            st.lat_fired = False
        elif not st.lat_fired:
            st.lat_fired = True
            pcts = st.percentiles()
            return pcts[2] if pcts is not None else None
        return None

    def _fire(
        self, kind: str, limit: float | None, hook: _Hook | None, node: str, v: float
    ) -> None:
        _LOG.emit(logging.WARNING, f"metrics.{kind}_threshold", node=node, value=v, threshold=limit)
        if hook is not None:
            self._notify(hook, node, v)

    @staticmethod
    def _notify(fn: Callable[..., Any], *args: Any) -> None:
        """Run a threshold callback; log its errors, schedule the awaitable it returns."""
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                _schedule(result)
        except Exception as exc:
            if is_control_flow(exc):
                raise
            _LOG.emit(
                logging.WARNING, "metrics.callback_failed", callback=repr(fn), error=repr(exc)
            )

    @staticmethod
    def _tell(method: Callable[..., None], *args: Any) -> None:
        """Call a listener method (sync by contract); log its errors."""
        try:
            method(*args)
        except Exception as exc:
            if is_control_flow(exc):
                raise
            _LOG.emit(
                logging.WARNING, "metrics.listener_failed", listener=repr(method), error=repr(exc)
            )

    def record_retry(self, node: str, attempt: int) -> None:
        """Record that ``node`` is about to retry; ``attempt`` is the failed attempt's number."""
        st = self._nodes.get(node) or self._entry(node)
        with st.lock:
            st.retries += 1
        for listener in self._listeners:
            self._tell(listener.on_retry, node, attempt)

    def record_fallback(self, node: str) -> None:
        """Record that a fallback produced the node's update."""
        st = self._nodes.get(node) or self._entry(node)
        with st.lock:
            st.fallbacks += 1
        for listener in self._listeners:
            self._tell(listener.on_fallback, node)

    def record_cache_hit(self, node: str) -> None:
        """Record that a cached result was returned (not counted as an execution)."""
        st = self._nodes.get(node) or self._entry(node)
        with st.lock:
            st.cache_hits += 1
        for listener in self._listeners:
            self._tell(listener.on_cache_hit, node)

    # -- reading ---------------------------------------------------------------------
    def _snapshot(self, st: _NodeState) -> NodeMetrics:
        with st.lock:
            pcts = st.percentiles()
            window = st.window
            last = window[-1] if window else 0.0
            n = len(window)
            fails = list(st.fails)
            total_ms = st.ssum + sum(st.fsums)
            success, retries, negative, invalid = st.success, st.retries, st.negative, st.invalid
            fallbacks, cache_hits = st.fallbacks, st.cache_hits
        failures = sum(fails)
        timed = success + failures - invalid - fails[_CIRCUIT]
        p50, p90, p99 = pcts if pcts is not None else (None, None, None)
        # model_validate(dict) is ~3x faster than keyword construction (and than
        # model_construct, which is pure Python) on pydantic 2.14.
        return NodeMetrics.model_validate(
            {
                "total_executions": success + failures,
                "success_count": success,
                "failure_count": failures,
                "retry_count": retries,
                "last_execution_ms": last,
                "avg_execution_ms": total_ms / timed if timed > 0 else 0.0,
                "p50_ms": p50,
                "p90_ms": p90,
                "p99_ms": p99,
                "sample_count": n,
                "window_size": self._window_size,
                "timeout_errors": fails[0],
                "network_errors": fails[1],
                "rate_limit_errors": fails[2],
                "validation_errors": fails[3],
                "other_errors": fails[4],
                "circuit_rejections": fails[_CIRCUIT],
                "fallbacks": fallbacks,
                "cache_hits": cache_hits,
                "negative_durations": negative,
                "invalid_durations": invalid,
            }
        )

    def get_node_metrics(self, node: str) -> NodeMetrics:
        """A snapshot of ``node``'s metrics; all zero for a node never recorded."""
        if not isinstance(node, str):
            raise TypeError(f"NodeMetricsCollector: node must be a str, got {node!r}")
        st = self._nodes.get(node)
        if st is None:
            return NodeMetrics(window_size=self._window_size)
        return self._snapshot(st)

    def _states(self) -> list[tuple[str, _NodeState]]:
        with self._create_lock:
            return list(self._nodes.items())

    def get_all_node_metrics(self) -> dict[str, NodeMetrics]:
        """Snapshots of every node recorded so far, in first-recorded order."""
        return {node: self._snapshot(st) for node, st in self._states()}

    def reset_node_metrics(self, node: str | None = None) -> None:
        """Zero one node's metrics (all nodes when ``node`` is None) and re-arm thresholds.

        Nodes stay listed by ``get_all_node_metrics``. Exported counters restart
        from zero, which Prometheus and OpenTelemetry treat as a counter reset.
        """
        nbuckets = len(self._buckets) + 1
        for name, st in self._states():
            if node is None or name == node:
                with st.lock:
                    st.clear(nbuckets)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serializable snapshot, tagged with pid and ``collector_id``.

        Rolling windows of different processes must not be merged; compare or sum
        the exported histograms instead.
        """
        return {
            "collector_id": self._id,
            "pid": os.getpid(),
            "graph": self._graph,
            "window_size": self._window_size,
            "nodes": {n: m.model_dump(mode="json") for n, m in self.get_all_node_metrics().items()},
        }

    def series(self) -> list[NodeSeries]:
        """Lifetime totals and duration bucket counts per node, for exporters."""
        out = []
        for node, st in self._states():
            with st.lock:
                success = OutcomeSeries("success", None, st.success, tuple(st.sbuckets), st.ssum)
                failures = tuple(
                    OutcomeSeries("failure", name, st.fails[i], tuple(st.fbuckets[i]), st.fsums[i])
                    for i, name in enumerate(ERROR_TYPES)
                    if st.fails[i]
                )
                out.append(
                    NodeSeries(node, st.retries, st.fallbacks, st.cache_hits, (success, *failures))
                )
        return out

    def _after_fork(self) -> None:
        # A lock held by another thread at fork time would stay held forever in the child.
        self._create_lock = threading.Lock()
        for st in self._nodes.values():
            st.lock = threading.Lock()
        self._id = uuid.uuid4().hex

    def __repr__(self) -> str:
        return (
            f"NodeMetricsCollector(window_size={self._window_size}, graph={self._graph!r}, "
            f"nodes={len(self._nodes)})"
        )


async def _guarded(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except Exception as exc:
        if is_control_flow(exc):
            raise
        _LOG.emit(logging.WARNING, "metrics.callback_failed", error=repr(exc))


def _schedule(awaitable: Awaitable[Any]) -> None:
    """Run an async callback's awaitable without making the recorder wait for it."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        thread = threading.Thread(
            target=asyncio.run,
            args=(_guarded(awaitable),),
            name="langgraph-runner-metrics-callback",
            daemon=True,
        )
        thread.start()
        return
    task = loop.create_task(_guarded(awaitable))
    _BACKGROUND.add(task)  # keep a reference until done, or the task may be collected
    task.add_done_callback(_BACKGROUND.discard)
