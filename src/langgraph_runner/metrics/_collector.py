"""The per-node metrics collector: outcome counts, error categories, window percentiles.

One ``NodeMetricsCollector`` per process (per graph, for exporters). Each node has
its own ``threading.Lock`` (recording never awaits), so counts stay exact under any
mix of threads and tasks; callbacks, listeners and logging run after its release.

Design decisions:

* ``record_failure`` with a ``CircuitOpenError`` (or category ``"circuit_open"``)
  is a *rejected* call: a failure counted in ``circuit_rejections`` and in the
  failure rate, without a duration (the node never ran). A given ``category``
  wins over the error.
* Odd durations never raise: negative ones are clamped to 0 and counted
  (``negative_durations``), NaN/infinities/non-numbers are counted
  (``invalid_durations``) and left out of timing; each is logged once per node.
  A non-``str`` node is a programming error (``TypeError``), as is an unknown
  category string (``ValueError``).
* Lifetime duration histograms per outcome and error type are bucket counts
  (one bisect per record), read by exporters through ``series()``. After a fork the
  child gets fresh locks and a new ``collector_id``, and keeps the parent's numbers.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import uuid
import weakref
from collections.abc import Sequence
from typing import Any, Final

from langgraph_runner._records.logs import get_event_logger
from langgraph_runner._records.record import ErrorCategory
from langgraph_runner.metrics._callbacks import notify, tell
from langgraph_runner.metrics._config import CollectorConfig, ThresholdHook
from langgraph_runner.metrics._model import (
    DEFAULT_DURATION_BUCKETS,
    ERROR_TYPES,
    MetricsListener,
    NodeMetrics,
    NodeSeries,
    OutcomeSeries,
    metrics_from_fields,
)
from langgraph_runner.metrics._node_state import (
    CATEGORY_INDEX,
    CIRCUIT,
    NEGATIVE,
    NodeState,
    category_of,
    clean_duration,
)

# Also the public names of ``langgraph_runner.metrics``, which star-imports them.
__all__ = [
    "DEFAULT_DURATION_BUCKETS",
    "ERROR_TYPES",
    "METRICS_COLLECTOR_KEY",
    "MetricsListener",
    "NodeMetrics",
    "NodeMetricsCollector",
    "NodeSeries",
    "OVERFLOW_NODE",
    "OutcomeSeries",
]

OVERFLOW_NODE: Final = "_overflow"
"""The node name records of names past ``max_nodes`` are counted under."""
METRICS_COLLECTOR_KEY: Final = "metrics_collector"
"""Key under ``config["configurable"]`` that carries a collector into wrapped nodes."""

_INF = math.inf
_Hook = ThresholdHook | None
_BATCH: Final = 32  # pending records folded at once (every read folds the rest)
_LIVE: weakref.WeakSet[NodeMetricsCollector] = weakref.WeakSet()
_LOG = get_event_logger()


def _reinit_after_fork() -> None:
    for collector in list(_LIVE):
        collector._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


class NodeMetricsCollector:
    """Collects per-node execution metrics; safe from many threads, tasks and after fork.

    Args:
        window_size: Recent outcomes the percentiles and the failure rate cover.
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
        max_nodes: Distinct node names kept apart (the cap on the ``node`` label's
            values); records of further names are counted under ``OVERFLOW_NODE``
            and a ``metrics.too_many_nodes`` warning is logged once.

    A threshold fires once when crossed (value >= threshold), logs a
    ``metrics.*_threshold`` warning, and re-arms when the value drops below it.
    Callbacks run in the recording thread after the lock is released (keep sync ones
    quick); an async one is scheduled, never awaited by the recorder (on the running
    loop, else in a short-lived daemon thread: see ``metrics.callbacks``). Their
    errors are logged (``metrics.callback_failed``), never raised.

    Raises:
        TypeError: A config value has the wrong type (the message names it).
        ValueError: A config value is out of range (the message names it).
    """

    __slots__ = (
        "__weakref__",
        "_bounds_ms",
        "_buckets",
        "_create_lock",
        "_graph",
        "_id",
        "_latency_ms",
        "_listeners",
        "_max_nodes",
        "_min_samples",
        "_nodes",
        "_on_latency",
        "_on_rate",
        "_rate",
        "_watched",
        "_window_size",
    )

    def __init__(
        self,
        window_size: int = 100,
        *,
        failure_rate_threshold: float | None = None,
        latency_threshold_ms: float | None = None,
        on_failure_rate_threshold: ThresholdHook | None = None,
        on_latency_threshold: ThresholdHook | None = None,
        min_samples: int = 10,
        graph: str | None = None,
        duration_buckets: Sequence[float] = DEFAULT_DURATION_BUCKETS,
        max_nodes: int = 1000,
    ) -> None:
        config = CollectorConfig(
            window_size=window_size,
            failure_rate_threshold=failure_rate_threshold,
            latency_threshold_ms=latency_threshold_ms,
            on_failure_rate_threshold=on_failure_rate_threshold,
            on_latency_threshold=on_latency_threshold,
            min_samples=min_samples,
            graph=graph,
            duration_buckets=tuple(duration_buckets),
            max_nodes=max_nodes,
        )
        # Copied into slots: the record path reads them without another indirection.
        self._window_size = config.window_size
        self._min_samples = config.min_samples
        self._rate = config.failure_rate_threshold
        self._latency_ms = config.latency_threshold_ms
        self._on_rate = config.on_failure_rate_threshold
        self._on_latency = config.on_latency_threshold
        self._graph = config.graph
        self._buckets = config.duration_buckets
        self._bounds_ms = tuple(b * 1000.0 for b in self._buckets)
        self._max_nodes = config.max_nodes
        self._nodes: dict[str, NodeState] = {}
        self._create_lock = threading.Lock()
        self._listeners: tuple[MetricsListener, ...] = ()
        self._watched = config.has_thresholds
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
    def _entry(self, node: str) -> NodeState:
        if not isinstance(node, str):
            raise TypeError(f"NodeMetricsCollector: node must be a str, got {node!r}")
        with self._create_lock:
            state = self._nodes.get(node)
            if state is None and len(self._nodes) >= self._max_nodes:
                if OVERFLOW_NODE not in self._nodes:  # the first name past the cap
                    _LOG.emit(
                        logging.WARNING,
                        "metrics.too_many_nodes",
                        node=node,
                        max_nodes=self._max_nodes,
                        counted_as=OVERFLOW_NODE,
                    )
                node, state = OVERFLOW_NODE, self._nodes.get(OVERFLOW_NODE)
            if state is None:
                state = NodeState(
                    self._window_size,
                    self._bounds_ms,
                    rate=self._rate,
                    latency_ms=self._latency_ms,
                    min_samples=self._min_samples,
                )
                self._nodes[node] = state
            return state

    def record_success(self, node: str, duration_ms: float) -> None:
        """Record a successful execution that took ``duration_ms`` milliseconds."""
        st = self._nodes.get(node) or self._entry(node)
        # The hot path: a plain float, no thresholds and no listeners. One lock-free
        # append; the node's state takes the batch under its lock (see NodeState.flush).
        if self._watched or duration_ms.__class__ is not float or not 0.0 <= duration_ms < _INF:
            self._record(st, node, -1, duration_ms)
            return
        pending = st.pending
        pending.append(duration_ms)
        if len(pending) >= _BATCH:
            lock = st.lock
            lock.acquire()  # acquire/release is ~2x cheaper than `with` on CPython 3.11
            try:
                st.flush()
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
            error: The exception; without a ``category``, a ``CircuitOpenError`` counts
                as a rejection and anything else is classified (``classify_error``).
            category: An ``ErrorCategory`` (or its value, or ``"circuit_open"``);
                it wins over ``error``.
        """
        st = self._nodes.get(node) or self._entry(node)
        cat = CATEGORY_INDEX.get(category) if category.__class__ is str else None  # common case
        if cat is None:
            cat = category_of(category, error)
        d = duration_ms
        if self._watched or cat == CIRCUIT or d.__class__ is not float or not 0.0 <= d < _INF:
            self._record(st, node, cat, d)
            return
        pending = st.pending  # as record_success: one lock-free append, folded in batches
        pending.append((cat, d))
        if len(pending) >= _BATCH:
            with st.lock:
                st.flush()

    def _record(self, st: NodeState, node: str, cat: int, raw: object) -> None:
        """The general path: thresholds, listeners and unusual durations."""
        d: float | None = None
        problem = 0
        if cat != CIRCUIT:  # a rejected call never ran: no duration
            if raw.__class__ is float and 0.0 <= raw < _INF:
                d = raw
            else:
                d, problem = clean_duration(raw)
        with st.lock:
            warn, rate_hit, lat_hit = st.add(cat, d, problem)
        # Everything below may be slow or re-enter the collector: never under the lock.
        if warn:
            event = f"metrics.{'negative' if problem == NEGATIVE else 'invalid'}_duration"
            _LOG.emit(logging.WARNING, event, node=node, duration_ms=repr(raw)[:80])
        if rate_hit is not None:
            self._fire("failure_rate", self._rate, self._on_rate, node, rate_hit)
        if lat_hit is not None:
            self._fire("latency", self._latency_ms, self._on_latency, node, lat_hit)
        for listener in self._listeners:
            if cat < 0:
                tell(listener.on_success, node, d)
            else:
                tell(listener.on_failure, node, d, ERROR_TYPES[cat])

    def _fire(self, kind: str, limit: float | None, hook: _Hook, node: str, v: float) -> None:
        _LOG.emit(logging.WARNING, f"metrics.{kind}_threshold", node=node, value=v, threshold=limit)
        if hook is not None:
            notify(hook, node, v)

    def _count(self, node: str, counter: str) -> None:
        """One more of ``node``'s ``retries``, ``fallbacks`` or ``cache_hits``."""
        st = self._nodes.get(node) or self._entry(node)
        with st.lock:
            setattr(st, counter, getattr(st, counter) + 1)

    def record_retry(self, node: str, attempt: int) -> None:
        """Record that ``node`` is about to retry; ``attempt`` is the failed attempt's number."""
        self._count(node, "retries")
        for listener in self._listeners:
            tell(listener.on_retry, node, attempt)

    def record_fallback(self, node: str) -> None:
        """Record that a fallback produced the node's update."""
        self._count(node, "fallbacks")
        for listener in self._listeners:
            tell(listener.on_fallback, node)

    def record_cache_hit(self, node: str) -> None:
        """Record that a cached result was returned (not counted as an execution)."""
        self._count(node, "cache_hits")
        for listener in self._listeners:
            tell(listener.on_cache_hit, node)

    # -- reading ---------------------------------------------------------------------
    @staticmethod
    def _snapshot(st: NodeState) -> NodeMetrics:
        lock = st.lock
        lock.acquire()  # cheaper than `with` (see record_success)
        try:
            fields = st.fields()
        finally:
            lock.release()
        return metrics_from_fields(fields)  # typed values of our own: no validation needed

    def get_node_metrics(self, node: str) -> NodeMetrics:
        """A snapshot of ``node``'s metrics; all zero for a node never recorded."""
        if not isinstance(node, str):
            raise TypeError(f"NodeMetricsCollector: node must be a str, got {node!r}")
        st = self._nodes.get(node)
        if st is None:
            return NodeMetrics(window_size=self._window_size)
        return self._snapshot(st)

    def _states(self) -> list[tuple[str, NodeState]]:
        with self._create_lock:
            return list(self._nodes.items())

    def get_all_node_metrics(self) -> dict[str, NodeMetrics]:
        """Snapshots of every node recorded so far, in first-recorded order."""
        snapshot = self._snapshot
        return {node: snapshot(st) for node, st in self._states()}

    def reset_node_metrics(self, node: str | None = None) -> None:
        """Zero one node's metrics (all nodes when ``node`` is None) and re-arm thresholds.

        Nodes stay listed by ``get_all_node_metrics``. Exported counters restart
        from zero, which Prometheus and OpenTelemetry treat as a counter reset.
        """
        for name, st in self._states():
            if node is None or name == node:
                with st.lock:
                    st.clear()

    def to_json(self) -> dict[str, Any]:
        """A JSON-serializable snapshot, tagged with pid and ``collector_id``.

        Windows of different processes must not be merged: sum exported histograms.
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
                out.append(st.series(node))
        return out

    def _after_fork(self) -> None:
        # A lock held by another thread at fork time would stay held forever in a child.
        self._create_lock = threading.Lock()
        for st in self._nodes.values():
            st.lock = threading.Lock()
        self._id = uuid.uuid4().hex

    def __repr__(self) -> str:
        return (
            f"NodeMetricsCollector(window_size={self._window_size}, graph={self._graph!r}, "
            f"nodes={len(self._nodes)})"
        )
