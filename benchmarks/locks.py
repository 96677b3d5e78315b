"""Thread locks from async code on PostgreSQL: the async saver's own session against worker threads.

``async with thread_lock(saver, config)`` (what ``arun`` does around every run) on:

- ``worker thread``: LangGraph's own ``AsyncPostgresSaver`` (``from_conn_string``): the
  lock is taken on the process's sync lock session, one worker-thread trip to take it
  and one to let it go (the baseline);
- ``async session``: the saver ``open_async_checkpointer`` opens, whose locks live on an
  async connection of its own; takes and let-goes asked for while a statement is under
  way share the next one.

At each concurrency ``level`` tasks take and let go of locks on new thread ids until
``--locks`` have been taken; printed per variant: CPU and wall time per lock (take and
let-go), and the CPU ratio against the baseline measured in the same run.

    python benchmarks/locks.py [--url postgresql://...] [--levels 1,20,200] [--locks 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from langgraph_runner.runs import open_async_checkpointer, thread_lock

URL = "postgresql://postgres@127.0.0.1:5432/test"


def _langgraph_saver(url: str) -> AbstractAsyncContextManager[Any]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    return AsyncPostgresSaver.from_conn_string(url)


VARIANTS: dict[str, Callable[[str], AbstractAsyncContextManager[Any]]] = {
    "worker thread": _langgraph_saver,
    "async session": open_async_checkpointer,
}


async def _measure(
    opener: Callable[[str], AbstractAsyncContextManager[Any]], url: str, level: int, locks: int
) -> tuple[float, float]:
    """CPU microseconds and wall milliseconds per lock."""
    prefix = f"lgr-locks-{uuid.uuid4().hex[:8]}"
    async with opener(url) as saver:
        per_task = max(1, locks // level)

        async def worker(i: int) -> None:
            for j in range(per_task):
                config: Any = {"configurable": {"thread_id": f"{prefix}-{i}-{j}"}}
                async with thread_lock(saver, config):
                    await asyncio.sleep(0)

        await worker(-1)  # connections opened, statements prepared
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(level)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    total = per_task * level
    return cpu * 1e6 / total, wall * 1e3 / total


async def _main(url: str, levels: list[int], locks: int) -> None:
    print(f"{'level':>5} {'variant':<14} {'cpu us/lock':>11} {'ratio':>6} {'wall ms/lock':>12}")
    for level in levels:
        rows: dict[str, tuple[float, float]] = {}
        for name, opener in VARIANTS.items():
            rows[name] = await _measure(opener, url, level, locks)
        base = rows["worker thread"][0]
        for name, (cpu, wall) in rows.items():
            print(f"{level:>5} {name:<14} {cpu:>11.1f} {cpu / base:>6.2f} {wall:>12.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=URL)
    parser.add_argument("--levels", default="1,20,200")
    parser.add_argument("--locks", type=int, default=2000)
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    asyncio.run(_main(args.url, levels, args.locks))


if __name__ == "__main__":
    main()
