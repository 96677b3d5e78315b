"""A soak: steady ``arun`` load on PostgreSQL for minutes; is RSS flat?

``--in-flight`` runs of ``load.py``'s graph (4 chained async steps, a step with a
timeout, an 8-way ``Send`` fan-out) are kept in flight on ``open_async_checkpointer``
for ``--minutes``, each on a new thread. Every ``--every`` seconds the process's RSS,
thread count and PostgreSQL connections (by a unique ``application_name``) are sampled
and printed. At the end: first, last and max RSS, and the slope of RSS (MB/min, least
squares) after the warm-up (``--warmup`` seconds), with the runs done and failed.

``--tracemalloc`` takes a snapshot after the warm-up and one at the end and prints the
lines whose allocations grew the most (slower: use it to find a leak, not to measure).

    python benchmarks/soak.py [--url postgresql://...] [--minutes 10] [--in-flight 50]
        [--every 10] [--warmup 120] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import threading
import time
import tracemalloc
import uuid
from typing import Any

from load import build, cleanup, rss_mb

from langgraph_runner.runs import arun, open_async_checkpointer


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(seconds, MB)`` points, in MB per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return 60.0 * sxy / sxx if sxx else 0.0


def connections(url: str, app: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)
        ).fetchone()
    return int(row[0]) if row else 0


async def soak(args: argparse.Namespace) -> None:
    app = f"lgr-soak-{uuid.uuid4().hex[:8]}"
    url = f"{args.url}{'&' if '?' in args.url else '?'}application_name={app}"
    prefix = f"soak-{uuid.uuid4().hex[:8]}"
    done = failed = 0
    errors: dict[str, int] = {}
    stop = time.monotonic() + args.minutes * 60
    samples: list[tuple[float, float]] = []
    first_snapshot: Any = None
    try:
        async with open_async_checkpointer(url) as saver:
            graph = build().compile(checkpointer=saver)
            counter = iter(range(10**12))

            async def worker() -> None:
                nonlocal done, failed
                while time.monotonic() < stop:
                    config: Any = {"configurable": {"thread_id": f"{prefix}-{next(counter)}"}}
                    try:
                        await arun(graph, {"n": 0}, config)
                        done += 1
                    except Exception as exc:
                        failed += 1
                        key = f"{type(exc).__name__}: {str(exc)[:120]}"
                        errors[key] = errors.get(key, 0) + 1

            async def sampler() -> None:
                nonlocal first_snapshot
                start = time.monotonic()
                head = ("s", "RSS MB", "threads", "conns", "done", "failed")
                print(" ".join(f"{h:>{w}}" for h, w in zip(head, (5, 7, 7, 5, 7, 6), strict=True)))
                while time.monotonic() < stop:
                    await asyncio.sleep(min(args.every, max(0.0, stop - time.monotonic())))
                    at = time.monotonic() - start
                    rss = rss_mb()
                    conns = await asyncio.to_thread(connections, args.url, app)
                    samples.append((at, rss))
                    print(
                        f"{at:>5.0f} {rss:>7.1f} {threading.active_count():>7} {conns:>5} "
                        f"{done:>7} {failed:>6}",
                        flush=True,
                    )
                    if args.tracemalloc and first_snapshot is None and at >= args.warmup:
                        first_snapshot = tracemalloc.take_snapshot()

            await asyncio.gather(sampler(), *(worker() for _ in range(args.in_flight)))
    finally:
        cleanup(args.url, prefix)
    after = [(s, mb) for s, mb in samples if s >= args.warmup]
    rss = [mb for _, mb in samples]
    print(
        f"runs {done} done, {failed} failed; RSS first {rss[0]:.1f} MB, last {rss[-1]:.1f} MB, "
        f"max {max(rss):.1f} MB; slope after {args.warmup:.0f} s warm-up "
        f"{slope(after):+.2f} MB/min ({len(after)} samples)"
    )
    for key, count in sorted(errors.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {count} x {key}")
    if first_snapshot is not None:
        diff = tracemalloc.take_snapshot().compare_to(first_snapshot, "lineno")
        grown = sorted((d for d in diff if d.size_diff > 0), key=lambda d: -d.size_diff)
        print("allocations grown most since the warm-up:")
        for stat in grown[:15]:
            print(f"  {stat}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "LANGGRAPH_RUNNER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=120.0)
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    # The warnings that runs wait for connections would drown the samples.
    logging.getLogger("langgraph_runner").setLevel(logging.ERROR)
    if args.tracemalloc:
        tracemalloc.start(10)
    asyncio.run(soak(args))


if __name__ == "__main__":
    main()
