"""One node's metrics state: counters, rolling window, percentiles and threshold crossings.

A ``NodeState`` is guarded by its own ``lock``; every method that reads or
changes it expects the caller to hold that lock (the collector takes it, and
releases it before running callbacks, listeners or logging). Nothing here
logs, calls back or allocates per record beyond the window's deque slot.

* Percentiles are exact over the window with NumPy's default ("linear", type 7)
  interpolation; the window is sorted on read and cached until the next record.
  A read that follows only a few records (``INCREMENTAL_MAX``) updates the sorted
  copy in place, moving out the samples that left the window and inserting the
  new ones, instead of sorting it all again.
* A collector without thresholds or listeners appends plain successes (a
  duration) and failures (``(category index, duration)``) to ``pending``
  without the lock (a deque: appends and pops are atomic); ``flush``
  folds them in, in order, before anything else reads or changes the state, so
  every read is exact. Recording is then one append, and the counters, window
  and buckets are updated in batches, while their memory is still in cache.
* Threshold crossings are decided under the lock, once per crossing; the
  latency check is O(1) from a count of window samples at or above the threshold.
"""

from __future__ import annotations

import math
import numbers
import threading
from bisect import bisect_left, insort
from collections import deque
from itertools import islice
from typing import Any, Final, cast

from langgraph_runner._records.classify import classify_error
from langgraph_runner._records.exceptions import CircuitOpenError
from langgraph_runner.metrics._model import ERROR_TYPES, NodeSeries, OutcomeSeries

__all__ = [
    "CATEGORY_INDEX",
    "CIRCUIT",
    "INVALID",
    "NEGATIVE",
    "NodeState",
    "category_of",
    "clean_duration",
    "percentile",
]

CIRCUIT: Final = ERROR_TYPES.index("circuit_open")
"""Index of circuit rejections in ``ERROR_TYPES`` (a failure that carries no duration)."""
CATEGORY_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(ERROR_TYPES)}
INCREMENTAL_MAX: Final = 8
"""Up to this many window changes since the last read are applied to the sorted copy in
place (each a bisect and a memmove); more, and the window is sorted afresh."""
NEGATIVE: Final = 1
"""Problem flag: a negative duration, clamped to 0."""
INVALID: Final = 2
"""Problem flag: NaN, an infinity or not a number; ignored."""
_INF = math.inf
_OTHER: Final = CATEGORY_INDEX["other"]


def category_of(category: object, error: BaseException | None) -> int:
    """The ``ERROR_TYPES`` index of a failure: ``category`` wins, then the error's kind.

    Raises:
        ValueError: ``category`` is not an error category (nor ``"circuit_open"``).
    """
    if category is not None:
        found = CATEGORY_INDEX.get(category) if isinstance(category, str) else None
        if found is None:
            raise ValueError(f"NodeMetricsCollector: unknown error category {category!r}")
        return found
    if isinstance(error, CircuitOpenError):
        return CIRCUIT
    return CATEGORY_INDEX[classify_error(error).value] if error is not None else _OTHER


def _position(n: int, q: float) -> tuple[int, int, float]:
    """Where quantile ``q`` of ``n`` sorted samples lies: ``t`` of the way from s[lo] to s[hi]."""
    h = (n - 1) * q
    lo = int(h)
    if lo >= n - 1:
        return n - 1, n - 1, 0.0
    return lo, lo + 1, h - lo


def _lerp(a: float, b: float, t: float) -> float:
    # NumPy's _lerp: the formula flips at t >= 0.5 so that t == 1 gives b exactly.
    diff = b - a
    return b - diff * (1.0 - t) if t >= 0.5 else a + diff * t


def percentile(s: list[float], q: float) -> float:
    """NumPy's default ("linear", type 7) percentile of sorted ``s``, same arithmetic.

    Args:
        s: Sorted, non-empty samples.
        q: The quantile in [0, 1].

    Returns:
        Exactly what ``numpy.percentile(s, q * 100)`` returns.
    """
    lo, hi, t = _position(len(s), q)
    return _lerp(s[lo], s[hi], t)


def clean_duration(raw: object) -> tuple[float | None, int]:
    """Turn a duration that missed the fast path into (value or None, problem flag).

    Returns:
        ``(value, 0)`` for a finite non-negative real, ``(0.0, NEGATIVE)`` for a
        negative one, ``(None, INVALID)`` for NaN, infinities, bools and non-numbers.
    """
    if isinstance(raw, numbers.Real) and not isinstance(raw, bool):
        try:
            value = float(raw)
        except (OverflowError, ValueError):
            return None, INVALID
        if math.isfinite(value):
            return (0.0, NEGATIVE) if value < 0 else (value, 0)
    return None, INVALID


class NodeState:
    """Counters, window and threshold state of one node; guarded by ``lock``.

    Args:
        window_size: Durations (and outcomes) the window keeps.
        bounds_ms: Histogram upper bounds in milliseconds.
        rate: Failure-rate threshold, or None (then outcomes are not tracked).
        latency_ms: Latency threshold on the window's p99, or None.
        min_samples: Samples the window needs before thresholds are evaluated.
    """

    __slots__ = (
        "above",
        "appended",
        "bounds_ms",
        "cache_hits",
        "fails",
        "fallbacks",
        "fbuckets",
        "fsums",
        "invalid",
        "lat_fired",
        "latency_ms",
        "lock",
        "min_samples",
        "negative",
        "outcomes",
        "pcts",
        "pcts_version",
        "pending",
        "plan",
        "plan_size",
        "rate",
        "rate_fired",
        "retries",
        "sbuckets",
        "sorted_at",
        "sorted_head",
        "sorted_window",
        "ssum",
        "success",
        "warned",
        "wfails",
        "window",
    )

    def __init__(
        self,
        window_size: int,
        bounds_ms: tuple[float, ...],
        *,
        rate: float | None = None,
        latency_ms: float | None = None,
        min_samples: int = 1,
    ) -> None:
        self.lock = threading.Lock()
        self.bounds_ms = bounds_ms
        self.rate = rate
        self.latency_ms = latency_ms
        self.min_samples = min_samples
        self.window: deque[float] = deque(maxlen=window_size)
        self.outcomes: deque[bool] | None = deque(maxlen=window_size) if rate is not None else None
        # Records appended without the lock (durations finite and >= 0): a success's
        # duration, a failure's (category index, duration). Only when neither threshold
        # is set, as a crossing must be decided at the record that makes it.
        self.pending: deque[float | tuple[int, float]] = deque()
        # Positions of p50/p90/p99 in a sorted window of ``plan_size`` samples.
        self.plan: tuple[tuple[int, int, float], ...] = ()
        self.plan_size = 0
        self.clear()

    def clear(self) -> None:
        """Zero everything and re-arm the thresholds."""
        nbuckets = len(self.bounds_ms) + 1
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
        # Window appends so far; the sorted copy (and the oldest samples of the window
        # it was made from) as of ``sorted_at`` appends.
        self.appended = self.sorted_at = 0
        self.sorted_window: list[float] | None = None
        self.sorted_head: list[float] = []
        self.window.clear()
        self.pending.clear()
        if self.outcomes is not None:
            self.outcomes.clear()

    def flush(self) -> None:
        """Fold the ``pending`` records into the counters, window and buckets, in order.

        Takes only what was pending when called: a record appended meanwhile
        stays for the next flush.
        """
        pending = self.pending
        n = len(pending)
        if not n:
            return
        pop = pending.popleft
        append = self.window.append
        buckets = self.sbuckets
        bounds = self.bounds_ms
        total = self.ssum
        failed = 0
        for _ in range(n):
            d = pop()
            if d.__class__ is float:
                append(d)
                total += d  # one by one, as ``add`` does (sum() compensates on 3.12+)
                buckets[bisect_left(bounds, d)] += 1
            else:
                cat, ms = cast("tuple[int, float]", d)
                append(ms)
                self.fails[cat] += 1
                self.fsums[cat] += ms
                self.fbuckets[cat][bisect_left(bounds, ms)] += 1
                failed += 1
        self.ssum = total
        self.success += n - failed
        self.appended += n

    def percentiles(self) -> tuple[float, float, float] | None:
        """Window p50/p90/p99 (None when empty), cached until the window changes."""
        if self.pending:
            self.flush()
        if not self.window:
            return None
        if self.pcts_version != self.appended:
            s = self._sorted()
            n = len(s)
            if self.plan_size != n:  # positions change only while the window fills up
                self.plan = tuple(_position(n, q) for q in (0.5, 0.9, 0.99))
                self.plan_size = n
            (a0, b0, t0), (a1, b1, t1), (a2, b2, t2) = self.plan
            self.pcts = (_lerp(s[a0], s[b0], t0), _lerp(s[a1], s[b1], t1), _lerp(s[a2], s[b2], t2))
            self.pcts_version = self.appended
        return self.pcts

    def _sorted(self) -> list[float]:
        """The window, sorted: updated in place after a few appends, else sorted afresh."""
        window = self.window
        size = len(window)
        changed = self.appended - self.sorted_at
        s = self.sorted_window
        if s is None or changed > INCREMENTAL_MAX or changed >= size:
            s = sorted(window)
        else:
            # The oldest samples of the window as sorted, pushed out since (at most
            # ``changed``), then the newest: deque indexing from the end is O(1).
            for v in self.sorted_head[: len(s) + changed - size]:
                del s[bisect_left(s, v)]
            for i in range(size - changed, size):
                insort(s, window[i])
        self.sorted_window, self.sorted_at = s, self.appended
        self.sorted_head = list(islice(window, INCREMENTAL_MAX))
        return s

    def add(
        self, cat: int, d: float | None, problem: int
    ) -> tuple[bool, float | None, float | None]:
        """Count one execution: success when ``cat < 0``, else a failure of ``ERROR_TYPES[cat]``.

        Args:
            cat: -1 for a success, else an index into ``ERROR_TYPES``.
            d: The cleaned duration, or None when the record carries none.
            problem: ``NEGATIVE``, ``INVALID`` or 0 (see ``clean_duration``).

        Returns:
            ``(warn, rate, p99)``: whether this is the node's first record with this
            problem, and the failure rate / p99 when that threshold was just crossed.
        """
        self.flush()  # the window keeps its order
        if cat < 0:
            self.success += 1
        else:
            self.fails[cat] += 1
        warn = False
        if problem:
            if problem == NEGATIVE:
                self.negative += 1
            else:
                self.invalid += 1
            warn = not self.warned & problem
            self.warned |= problem
        lat_hit: float | None = None
        if d is not None:
            window = self.window
            latency = self.latency_ms
            if latency is not None:
                if len(window) == window.maxlen and window[0] >= latency:
                    self.above -= 1
                if d >= latency:
                    self.above += 1
            window.append(d)
            self.appended += 1
            index = bisect_left(self.bounds_ms, d)
            if cat < 0:
                self.ssum += d
                self.sbuckets[index] += 1
            else:
                self.fsums[cat] += d
                self.fbuckets[cat][index] += 1
            if latency is not None:
                lat_hit = self._latency_crossing(latency)
        rate_hit = self._rate_crossing(cat >= 0) if self.outcomes is not None else None
        return warn, rate_hit, lat_hit

    def _rate_crossing(self, failed: bool) -> float | None:
        outcomes = self.outcomes
        assert outcomes is not None and self.rate is not None
        if len(outcomes) == outcomes.maxlen and outcomes[0]:
            self.wfails -= 1
        outcomes.append(failed)
        self.wfails += failed
        n = len(outcomes)
        if n < self.min_samples:
            return None
        rate = self.wfails / n
        if rate < self.rate or not self.wfails:  # a threshold of 0 means "any failure"
            self.rate_fired = False
        elif not self.rate_fired:
            self.rate_fired = True
            return rate
        return None

    def _latency_crossing(self, latency: float) -> float | None:
        """O(1) check of "window p99 >= latency" from the count of samples at or above it.

        Sorted window x[0..n-1]: x[i] >= latency exactly for i >= n - above. p99 lies
        between x[lo] and x[lo+1], so the count decides unless latency falls between
        those two samples; only then is the window sorted (and the result cached).
        """
        n = len(self.window)
        if n < self.min_samples:
            return None
        h = (n - 1) * 0.99
        lo = int(h)
        first_above = n - self.above
        if lo >= first_above:
            reached = True
        elif h == lo or lo + 1 < first_above:
            reached = False
        else:
            pcts = self.percentiles()
            reached = pcts is not None and pcts[2] >= latency
        if not reached:
            self.lat_fired = False
        elif not self.lat_fired:
            self.lat_fired = True
            pcts = self.percentiles()
            return pcts[2] if pcts is not None else None
        return None

    def fields(self) -> dict[str, Any]:
        """The node's ``NodeMetrics`` fields, typed as the model's (see ``metrics_from_fields``)."""
        pcts = self.percentiles()
        window = self.window
        fails = self.fails
        failures = sum(fails)
        timed = self.success + failures - self.invalid - fails[CIRCUIT]
        p50, p90, p99 = pcts if pcts is not None else (None, None, None)
        return {
            "total_executions": self.success + failures,
            "success_count": self.success,
            "failure_count": failures,
            "retry_count": self.retries,
            "last_execution_ms": window[-1] if window else 0.0,
            "avg_execution_ms": (self.ssum + sum(self.fsums)) / timed if timed > 0 else 0.0,
            "p50_ms": p50,
            "p90_ms": p90,
            "p99_ms": p99,
            "sample_count": len(window),
            "window_size": window.maxlen,
            "timeout_errors": fails[0],
            "network_errors": fails[1],
            "rate_limit_errors": fails[2],
            "validation_errors": fails[3],
            "other_errors": fails[4],
            "circuit_rejections": fails[CIRCUIT],
            "fallbacks": self.fallbacks,
            "cache_hits": self.cache_hits,
            "negative_durations": self.negative,
            "invalid_durations": self.invalid,
        }

    def series(self, node: str) -> NodeSeries:
        """The node's lifetime totals and bucket counts, for exporters."""
        self.flush()
        success = OutcomeSeries("success", None, self.success, tuple(self.sbuckets), self.ssum)
        failures = tuple(
            OutcomeSeries("failure", name, self.fails[i], tuple(self.fbuckets[i]), self.fsums[i])
            for i, name in enumerate(ERROR_TYPES)
            if self.fails[i]
        )
        return NodeSeries(node, self.retries, self.fallbacks, self.cache_hits, (success, *failures))
