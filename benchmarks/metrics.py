"""Cost of NodeMetricsCollector recording and snapshots, against baselines timed in the same run.

Run: ``python benchmarks/metrics.py``. Machines are noisy, so variants are
alternated round by round and medians (and lower quartiles) are reported. Each
line prints the measured figure, its ratio to the baseline and the goal. As with
``timeit``, the garbage collector is off while timing: a full collection walks
every object of the process and would be charged to whichever case triggered it.
"""

from __future__ import annotations

import gc
import random
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable

from langgraph_runner.metrics import NodeMetricsCollector

ROUNDS = 15
CALLS = 50_000
THREADS = 8
PER_THREAD = 25_000
SNAPSHOT_NODES = 200

_rng = random.Random(7)
DURATIONS = [_rng.lognormvariate(3.0, 1.0) for _ in range(CALLS)]


def _per_call_ns(record: Callable[[str, float], None]) -> float:
    start = time.perf_counter()
    for d in DURATIONS:
        record("node", d)
    return (time.perf_counter() - start) / CALLS * 1e9


def _locked_deque_with() -> Callable[[str, float], None]:
    lock = threading.Lock()
    window: deque[float] = deque(maxlen=100)

    def record(node: str, d: float) -> None:
        with lock:
            window.append(d)

    return record


def _locked_deque_acquire() -> Callable[[str, float], None]:
    lock = threading.Lock()
    window: deque[float] = deque(maxlen=100)

    def record(node: str, d: float) -> None:
        lock.acquire()
        try:
            window.append(d)
        finally:
            lock.release()

    return record


def _quiet_listener() -> object:
    class Quiet:
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

    return Quiet()


def _failure_with_category() -> Callable[[str, float], None]:
    collector = NodeMetricsCollector()

    def record(node: str, d: float) -> None:
        collector.record_failure(node, d, category="timeout")

    return record


def _failure_classified() -> Callable[[str, float], None]:
    collector = NodeMetricsCollector()
    error = TimeoutError("slow")

    def record(node: str, d: float) -> None:
        collector.record_failure(node, d, error=error)

    return record


def bench_record() -> None:
    """Single-thread record cost, alternating every variant round by round."""
    with_listener = NodeMetricsCollector()
    with_listener.add_listener(_quiet_listener())  # type: ignore[arg-type]
    variants: dict[str, Callable[[str, float], None]] = {
        "baseline: with lock: deque.append": _locked_deque_with(),
        "baseline: lock.acquire(); deque.append": _locked_deque_acquire(),
        "record_success (plain)": NodeMetricsCollector().record_success,
        "record_success (latency threshold set)": NodeMetricsCollector(
            latency_threshold_ms=1e9
        ).record_success,
        "record_success (both thresholds set)": NodeMetricsCollector(
            latency_threshold_ms=1e9, failure_rate_threshold=0.5
        ).record_success,
        "record_success (no-op listener)": with_listener.record_success,
        "record_failure (category given)": _failure_with_category(),
        "record_failure (error classified)": _failure_classified(),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(ROUNDS):
        for name, record in variants.items():
            samples[name].append(_per_call_ns(record))
    base = statistics.median(samples["baseline: with lock: deque.append"])
    base_acq = statistics.median(samples["baseline: lock.acquire(); deque.append"])
    for name, values in samples.items():
        med = statistics.median(values)
        q1 = statistics.quantiles(values, n=4)[0]
        goal = "  goal <= 2.0x, ~1 us, >= 1M/s" if name == "record_success (plain)" else ""
        print(
            f"{name:<42} median {med / 1000:6.3f} us (q1 {q1 / 1000:6.3f})  "
            f"{1e9 / med / 1e6:5.2f} M/s  ratio {med / base:5.2f}x "
            f"(vs acquire baseline {med / base_acq:5.2f}x){goal}"
        )


def _threaded_rate(recorders: list[Callable[[str, float], None]]) -> float:
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


def bench_threads() -> None:
    """8 threads on distinct nodes of one collector, against 8 private locked deques."""
    ours: list[float] = []
    base: list[float] = []
    for _ in range(ROUNDS // 2 + 1):
        base.append(_threaded_rate([_locked_deque_with() for _ in range(THREADS)]))
        ours.append(_threaded_rate([NodeMetricsCollector().record_success] * THREADS))
    med, med_base = statistics.median(ours), statistics.median(base)
    print(
        f"{'8 threads, distinct nodes (aggregate)':<42} {med / 1e6:5.2f} M records/s, "
        f"baseline {med_base / 1e6:5.2f} M/s, ratio {med_base / med:5.2f}x slower  goal >= 1M/s"
    )


def bench_snapshot() -> None:
    """get_all_node_metrics() per node with full windows, fresh (sort) and cached."""
    collector = NodeMetricsCollector()
    for i in range(SNAPSHOT_NODES):
        for d in DURATIONS[:100]:
            collector.record_success(f"n{i}", d)
    window = DURATIONS[:100]
    fresh: list[float] = []
    cached: list[float] = []
    sort_only: list[float] = []
    for r in range(ROUNDS):
        for i in range(SNAPSHOT_NODES):  # one new record per node: the next snapshot re-sorts
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
    for name, values in (
        ("snapshot per node (after a record)", fresh),
        ("snapshot per node (cached)", cached),
    ):
        med = statistics.median(values)
        print(
            f"{name:<42} {med:6.2f} us/node, ratio {med / base:5.2f}x a bare sorted(100 floats) "
            f"({base:4.2f} us)  goal <= 10 us"
        )


def main() -> None:
    """Run every case once and print one line per case."""
    gc.collect()
    gc.disable()
    try:
        bench_record()
        bench_threads()
        bench_snapshot()
    finally:
        gc.enable()


if __name__ == "__main__":
    main()
