"""Throughput of the multi-worker setup (examples/workers.py): runs per second, 1 vs 4 workers.

Each worker process runs one pipeline run at a time; every node sleeps ``--io-delay`` seconds
(an I/O stand-in), and the pipeline's own retries wait too, so a run is mostly waiting, as
real runs on model and HTTP calls are. Workers are started and warmed up (one run each)
before the clock starts; the clock runs from enqueuing the batch until the queue is drained.
Every run has its own URL, so the Redis cache never skips ``load``. Needs the PostgreSQL and
Redis services (``WORKERS_POSTGRES_URL``/``WORKERS_REDIS_URL`` or the local defaults).
Goal: 4 workers reach at least 3.5x the runs per second of 1 worker.

    python benchmarks/workers.py [--runs-per-worker 12] [--io-delay 0.05]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import redis

from langgraph_runner._runs.checkpoint import open_checkpointer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load_example() -> ModuleType:
    """examples/workers.py under another name (this file is ``workers`` too)."""
    sys.path.append(str(EXAMPLES))  # it imports the pipeline next to it
    spec = importlib.util.spec_from_file_location("example_workers", EXAMPLES / "workers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


workers = _load_example()
GOAL = 3.5


def measure(n_workers: int, runs: int, io_delay: float) -> float:
    """Runs per second of ``n_workers`` warmed-up workers over a batch of ``runs``."""
    tag = uuid.uuid4().hex[:10]
    base = workers.Settings.from_env()
    settings = workers.Settings(
        postgres_url=base.postgres_url,
        redis_url=base.redis_url,
        namespace=f"lgr-bench-workers-{tag}",
        io_delay=io_delay,
        heartbeat_ms=5_000,
        poll_ms=100,
    )
    actor = workers.setup(settings)
    procs = [workers.start_worker(settings) for _ in range(n_workers)]
    thread_ids: list[str] = []

    def batch(size: int) -> dict[str, str]:
        start = len(thread_ids)
        ids = [f"{settings.namespace}-{i}" for i in range(start, start + size)]
        thread_ids.extend(ids)
        return {t: f"https://example.invalid/{t}" for t in ids}

    try:
        deadline = time.monotonic() + 120
        while workers.live_workers(settings) < n_workers:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")
            time.sleep(0.05)
        workers.enqueue(actor, batch(n_workers))  # warm-up: one run each, untimed
        workers.wait_until_drained(actor, timeout=120)
        timed = batch(runs)
        started = time.perf_counter()
        workers.enqueue(actor, timed)
        workers.wait_until_drained(actor, timeout=600)
        return runs / (time.perf_counter() - started)
    finally:
        workers.stop_workers(procs)
        with open_checkpointer(settings.postgres_url) as saver:
            for thread_id in thread_ids:
                saver.delete_thread(thread_id)
        client: Any = redis.Redis.from_url(settings.redis_url)
        for key in client.scan_iter(f"{settings.namespace}:*"):
            client.delete(key)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs-per-worker", type=int, default=12)
    parser.add_argument("--io-delay", type=float, default=0.05)
    args = parser.parse_args()
    os.environ.setdefault("LANGGRAPH_RUNNER_CACHE_KEY", uuid.uuid4().hex)  # same for all workers
    one = measure(1, args.runs_per_worker, args.io_delay)
    four = measure(4, 4 * args.runs_per_worker, args.io_delay)
    ratio = four / one
    print(f"1 worker : {one:6.2f} runs/s ({args.runs_per_worker} runs)")
    print(f"4 workers: {four:6.2f} runs/s ({4 * args.runs_per_worker} runs)")
    verdict = "meets" if ratio >= GOAL else "misses"
    print(f"ratio    : {ratio:.2f}x ({verdict} the {GOAL}x goal)")


if __name__ == "__main__":
    main()
