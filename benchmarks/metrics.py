"""Cost of NodeMetricsCollector, each figure against a baseline timed in the same run.

    python benchmarks/metrics.py [--rounds 15] [--chain-rounds 400] [--no-chain | --chain-only]

Lines print the figure, its ratio to the same-run baseline, the goal and whether
it was met:

* record: ``record_success`` median per call against a locked ``deque.append``
  (the floor a collector cannot beat): goal <= 2x, about 1 us, >= 1M records/s.
  Other record variants (thresholds, a listener, failures) are informational.
* threads: 8 threads recording on distinct nodes of one collector, aggregate
  records/s, against 8 threads on 8 private locked deques: goal >= 1M/s.
* snapshot: ``get_all_node_metrics()`` per node with full 100-sample windows,
  against a bare ``sorted()`` of 100 floats: goal <= 10 us per node. Three cases:
  after a whole new window of records (the window is sorted afresh: what a
  dashboard polling a busy graph pays), after one record (the sorted copy is
  updated in place) and with nothing new (cached). For the first case the floor
  is printed too: the same snapshot written out by hand for this one shape (a
  full 100-sample window, no failures, nothing kept for the next read), the least
  any collector built on a pydantic ``NodeMetrics`` could do here.
* chain: a 20-node LangGraph chain whose nodes are built with
  ``create_node(fn, retry=RetryConfig(max_attempts=3),
  circuit_breaker=CircuitBreakerConfig(), metrics=collector)`` against the same
  chain of plain functions, logs filtered (the default), ``invoke`` and
  ``ainvoke``: goal <= 1.03. Intermediate variants show where the time goes.

Machines are noisy, so variants alternate round by round (the chain's order is
flipped every round, as in benchmarks/overhead.py); micro cases report medians,
the chain the lower quartile of single invocations. As with ``timeit``, the
garbage collector is off while micro cases are timed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import random
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph

# The chain and its timing are overhead.py's (this directory is on sys.path when a
# benchmark runs as a script).
from overhead import N_NODES, S, ameasure, astep, measure, step

from langgraph_runner import CircuitBreakerConfig, RetryConfig, create_node
from langgraph_runner._records.logs import LOGGER_NAME
from langgraph_runner.metrics import NodeMetrics, NodeMetricsCollector
from langgraph_runner.metrics._model import metrics_from_fields

CALLS = 50_000
THREADS = 8
PER_THREAD = 25_000
SNAPSHOT_NODES = 200

_rng = random.Random(7)
DURATIONS = [_rng.lognormvariate(3.0, 1.0) for _ in range(CALLS)]
Record = Callable[[str, float], None]


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


# -- record ---------------------------------------------------------------------------


def _per_call_ns(record: Record) -> float:
    start = time.perf_counter()
    for d in DURATIONS:
        record("node", d)
    return (time.perf_counter() - start) / CALLS * 1e9


def locked_deque() -> Record:
    """The floor: one lock and one bounded deque append per record."""
    lock = threading.Lock()
    window: deque[float] = deque(maxlen=100)

    def record(node: str, d: float) -> None:
        with lock:
            window.append(d)

    return record


class _QuietListener:
    def on_success(self, node: str, duration_ms: float | None) -> None:
        pass

    def on_failure(self, node: str, duration_ms: float | None, error_type: str) -> None:
        pass

    def on_retry(self, node: str, attempt: int) -> None:
        pass

    def on_fallback(self, node: str) -> None:
        pass

    def on_cache_hit(self, node: str) -> None:
        pass


def _failure(**kwargs: Any) -> Record:
    collector = NodeMetricsCollector()

    def record(node: str, d: float) -> None:
        collector.record_failure(node, d, **kwargs)

    return record


def bench_record(rounds: int) -> None:
    """Single-thread record cost, every variant alternated round by round."""
    with_listener = NodeMetricsCollector()
    with_listener.add_listener(_QuietListener())
    variants: dict[str, Record] = {
        "baseline": locked_deque(),
        "record_success": NodeMetricsCollector().record_success,
        "record_success, latency threshold set": NodeMetricsCollector(
            latency_threshold_ms=1e9
        ).record_success,
        "record_success, both thresholds set": NodeMetricsCollector(
            latency_threshold_ms=1e9, failure_rate_threshold=0.5
        ).record_success,
        "record_success, no-op listener": with_listener.record_success,
        "record_failure, category given": _failure(category="timeout"),
        "record_failure, error classified": _failure(error=TimeoutError("slow")),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, record in variants.items():
            samples[name].append(_per_call_ns(record))
    base = statistics.median(samples.pop("baseline"))
    print(f"record   baseline: with lock: deque.append       {base / 1000:6.3f} us/record")
    for name, values in samples.items():
        med = statistics.median(values)
        line = (
            f"record   {name:<40} {med / 1000:6.3f} us/record  {1e3 / med:5.2f} M records/s  "
            f"ratio {med / base:4.2f}x baseline"
        )
        if name == "record_success":
            ok = med / base <= 2.0 and 1e3 / med >= 1.0
            line += f"  goal <= 2x, ~1 us, >= 1M/s: {verdict(ok)}"
        print(line)


# -- threads --------------------------------------------------------------------------


def _threaded_rate(recorders: list[Record]) -> float:
    barrier = threading.Barrier(THREADS + 1)
    durations = DURATIONS[:PER_THREAD]

    def work(index: int) -> None:
        record, node = recorders[index], f"node-{index}"
        barrier.wait()
        for d in durations:
            record(node, d)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return THREADS * PER_THREAD / (time.perf_counter() - start)


def bench_threads(rounds: int) -> None:
    """8 threads on distinct nodes of one collector, against 8 private locked deques."""
    ours: list[float] = []
    base: list[float] = []
    for _ in range(rounds // 2 + 1):
        base.append(_threaded_rate([locked_deque() for _ in range(THREADS)]))
        ours.append(_threaded_rate([NodeMetricsCollector().record_success] * THREADS))
    med, med_base = statistics.median(ours), statistics.median(base)
    print(
        f"threads  8 threads, distinct nodes, aggregate {med / 1e6:5.2f} M records/s  "
        f"baseline (8 locked deques) {med_base / 1e6:5.2f} M/s  ratio {med / med_base:4.2f}x "
        f"of baseline  goal >= 1M/s: {verdict(med >= 1e6)}"
    )


# -- snapshot -------------------------------------------------------------------------


_T50, _T90, _T99 = (99 * q - int(99 * q) for q in (0.5, 0.9, 0.99))


def _floor_snapshot(st: Any) -> NodeMetrics:
    """The new-window snapshot done by hand: fold what is pending, sort, read, build.

    Only right for a full 100-sample window and a node without failures; keeps
    nothing for the next read and skips validation, as the collector does.
    """
    with st.lock:
        if st.pending:
            st.flush()
        w = st.window
        s = sorted(w)
        a, b = s[49], s[50]
        p50 = b - (b - a) * (1.0 - _T50)  # numpy's linear interpolation, as the collector
        a, b = s[89], s[90]
        p90 = a + (b - a) * _T90
        a, b = s[98], s[99]
        p99 = a + (b - a) * _T99
        fails = st.fails
        fields = {
            "total_executions": st.success, "success_count": st.success, "failure_count": 0,
            "retry_count": st.retries, "last_execution_ms": w[-1],
            "avg_execution_ms": st.ssum / st.success, "p50_ms": p50, "p90_ms": p90,
            "p99_ms": p99, "sample_count": len(w), "window_size": 100,
            "timeout_errors": fails[0], "network_errors": fails[1], "rate_limit_errors": fails[2],
            "validation_errors": fails[3], "other_errors": fails[4],
            "circuit_rejections": fails[5], "fallbacks": st.fallbacks,
            "cache_hits": st.cache_hits, "negative_durations": st.negative,
            "invalid_durations": st.invalid,
        }  # fmt: skip
    return metrics_from_fields(fields)  # the collector's own unvalidated build


def bench_snapshot(rounds: int) -> None:
    """get_all_node_metrics() per node with full windows, right after a record and cached."""
    collector = NodeMetricsCollector()
    twin = NodeMetricsCollector()  # gets the same records; read by the hand-written floor
    for c in (collector, twin):
        for i in range(SNAPSHOT_NODES):
            for d in DURATIONS[:100]:
                c.record_success(f"n{i}", d)
    window = DURATIONS[:100]
    renewed: list[float] = []
    floor: list[float] = []
    fresh: list[float] = []
    cached: list[float] = []
    sort_only: list[float] = []
    for r in range(rounds):
        # A whole new window per node: sorted afresh. The floor and the collector
        # take turns going first.
        for c in (twin, collector) if r % 2 else (collector, twin):
            for i in range(SNAPSHOT_NODES):
                for d in DURATIONS[r : r + 100]:
                    c.record_success(f"n{i}", d)
            start = time.perf_counter()
            if c is collector:
                collector.get_all_node_metrics()
                renewed.append((time.perf_counter() - start) / SNAPSHOT_NODES * 1e6)
            else:
                {node: _floor_snapshot(st) for node, st in twin._states()}
                floor.append((time.perf_counter() - start) / SNAPSHOT_NODES * 1e6)
        for i in range(SNAPSHOT_NODES):  # one new record per node: updated in place
            collector.record_success(f"n{i}", DURATIONS[r])
        start = time.perf_counter()
        collector.get_all_node_metrics()
        fresh.append((time.perf_counter() - start) / SNAPSHOT_NODES * 1e6)
        start = time.perf_counter()
        collector.get_all_node_metrics()
        cached.append((time.perf_counter() - start) / SNAPSHOT_NODES * 1e6)
        start = time.perf_counter()
        for _ in range(SNAPSHOT_NODES):
            sorted(window)
        sort_only.append((time.perf_counter() - start) / SNAPSHOT_NODES * 1e6)
    base = statistics.median(sort_only)
    print(f"snapshot baseline: sorted(100 floats)              {base:6.2f} us")
    low = statistics.median(floor)
    print(
        f"snapshot floor, after a new window (by hand)    {low:6.2f} us/node  ratio "
        f"{low / base:4.2f}x baseline"
    )
    cases = (
        ("after a new window (sorts)", renewed),
        ("after one record", fresh),
        ("cached", cached),
    )
    for name, values in cases:
        med = statistics.median(values)
        vs_floor = f"  {med / low:4.2f}x floor" if values is renewed else ""
        print(
            f"snapshot per node, {name:<28} {med:6.2f} us/node  ratio {med / base:4.2f}x "
            f"baseline{vs_floor}  goal <= 10 us: {verdict(med <= 10)}"
        )


# -- chain ----------------------------------------------------------------------------


def _features() -> tuple[dict[str, dict[str, Any]], list[str]]:
    """create_node keyword sets per variant, and how to describe the full one."""
    retry = {"retry": RetryConfig(max_attempts=3)}
    breaker = {"circuit_breaker": CircuitBreakerConfig()}
    variants: dict[str, dict[str, Any]] = {
        "retry": retry,
        "retry+breaker": {**retry, **breaker},
        "full": {**retry, **breaker, "metrics": None},  # collector filled in per graph
    }
    notes = [
        "retry=RetryConfig(max_attempts=3)",
        "circuit_breaker=CircuitBreakerConfig()",
        "metrics=NodeMetricsCollector()",
    ]
    return variants, notes


def build(fn: Callable[..., Any], kwargs: dict[str, Any] | None) -> Any:
    g = StateGraph(S)
    prev = START
    for i in range(N_NODES):
        name = f"n{i}"
        g.add_node(name, fn if kwargs is None else create_node(fn, **kwargs))
        g.add_edge(prev, name)
        prev = name
    g.add_edge(prev, END)
    return g.compile()


def _graphs(fn: Callable[..., Any]) -> tuple[dict[str, Any], NodeMetricsCollector]:
    variants, _ = _features()
    collector = NodeMetricsCollector()
    graphs = {"bare": build(fn, None)}
    for name, kwargs in variants.items():
        if "metrics" in kwargs:
            kwargs = {**kwargs, "metrics": collector}
        graphs[name] = build(fn, kwargs)
    return graphs, collector


def report_chain(case: str, q: dict[str, float], collector: NodeMetricsCollector) -> None:
    bare = q["bare"]
    print(f"chain    {case:<7} bare                    {bare * 1e3:6.2f} ms")
    for name, value in q.items():
        if name == "bare":
            continue
        line = (
            f"chain    {case:<7} {name:<22} {value * 1e3:7.2f} ms  ratio {value / bare:.3f} "
            f"vs bare  {(value - bare) / N_NODES * 1e6:+6.1f} us/node"
        )
        if name == "full":
            line += f"  goal <= 1.03: {verdict(value / bare <= 1.03)}"
        print(line)
    counts = collector.get_all_node_metrics()
    total = sum(m.success_count for m in counts.values())
    print(f"chain    {case:<7} collector saw {len(counts)} nodes, {total} successes")


def bench_chain(rounds: int) -> None:
    _, notes = _features()
    logger = logging.getLogger(LOGGER_NAME)
    print(f"chain    {N_NODES} nodes; full = create_node(fn, {', '.join(notes)})")
    print(
        f"chain    logs filtered: INFO enabled on {LOGGER_NAME!r}: "
        f"{logger.isEnabledFor(logging.INFO)}; lower quartile of {rounds} alternating rounds"
    )
    graphs, collector = _graphs(step)
    q = measure({k: (lambda g=g: g.invoke({"x": 0})) for k, g in graphs.items()}, rounds)
    report_chain("invoke", q, collector)
    agraphs, acollector = _graphs(astep)
    aq = asyncio.run(
        ameasure({k: (lambda g=g: g.ainvoke({"x": 0})) for k, g in agraphs.items()}, rounds)
    )
    report_chain("ainvoke", aq, acollector)


def main() -> None:
    """Run every case once and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds of the micro cases")
    parser.add_argument("--chain-rounds", type=int, default=400, help="rounds of the chain")
    parser.add_argument("--no-chain", action="store_true", help="skip the 20-node chain")
    parser.add_argument("--chain-only", action="store_true", help="only the 20-node chain")
    args = parser.parse_args()
    if not args.chain_only:
        gc.collect()
        gc.disable()
        try:
            bench_record(args.rounds)
            bench_threads(args.rounds)
            bench_snapshot(args.rounds)
        finally:
            gc.enable()
    if not args.no_chain:
        gc.collect()
        bench_chain(args.chain_rounds)


if __name__ == "__main__":
    main()
