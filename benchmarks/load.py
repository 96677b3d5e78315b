"""Many runs at once on PostgreSQL: ``arun`` against bare ``ainvoke``, same run.

The graph: 4 chained async steps, a step with a timeout (``create_node``) and an
8-way ``Send`` fan-out. At each concurrency level the three variants take turns
(order rotated per level), each keeping ``level`` runs in flight until it has done
its share:

- ``bare 1 conn``: ``graph.ainvoke`` on LangGraph's ``AsyncPostgresSaver`` on one
  connection (``from_conn_string``);
- ``bare pool``: ``graph.ainvoke`` on LangGraph's documented pooled setup
  (``AsyncConnectionPool(max_size=4, check=AsyncConnectionPool.check_connection)``);
- ``bare ours``: ``graph.ainvoke`` on ``open_async_checkpointer(url)`` (a pool of 4,
  idle connections checked, broken ones retried);
- ``arun``: ``arun`` on ``open_async_checkpointer(url)`` (the same, plus rows, thread
  locks, the cancel watcher).

Per variant: runs/s, p50/p99 latency of one run, the peak PostgreSQL connections of
the variant (``pg_stat_activity``, by a unique ``application_name``), the peak
thread count and RSS of the process. Ratios are against ``bare 1 conn`` measured in
the same run. Threads and rows made are deleted at the end.

    python benchmarks/load.py [--url postgresql://...] [--levels 20,200,1000] [--runs 2]
        [--pool-timeout 30]

``--pool-timeout`` bounds how long a statement waits for a pooled connection (both
pooled variants); with 1,000 runs in flight on a slow machine the default 30 s can pass.
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import os
import statistics
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from langgraph_runner import create_node
from langgraph_runner.runs import arun, open_async_checkpointer

FAN_OUT = 8


class State(TypedDict, total=False):
    n: int
    items: Annotated[list[int], operator.add]


def build() -> StateGraph[Any]:
    g: StateGraph[Any] = StateGraph(State)
    prev = START
    for i in range(4):

        async def step(state: State) -> dict[str, Any]:
            await asyncio.sleep(0.001)
            return {"n": state.get("n", 0) + 1}

        g.add_node(f"s{i}", step)
        g.add_edge(prev, f"s{i}")
        prev = f"s{i}"

    async def guarded(state: State) -> dict[str, Any]:
        await asyncio.sleep(0.001)
        return {"n": state.get("n", 0) + 1}

    async def item(state: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.001)
        return {"items": [state["i"]]}

    async def join(state: State) -> dict[str, Any]:
        return {"n": state.get("n", 0) + len(state.get("items", []))}

    g.add_node("guarded", create_node(guarded, name="guarded", timeout=5.0))
    g.add_node("item", item)  # type: ignore[type-var]
    g.add_node("join", join)
    g.add_edge(prev, "guarded")
    g.add_conditional_edges(
        "guarded", lambda s: [Send("item", {"i": i}) for i in range(FAN_OUT)], ["item"]
    )
    g.add_edge("item", "join")
    g.add_edge("join", END)
    return g


def _tag(url: str, app: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={app}"


@asynccontextmanager
async def bare_one(url: str) -> AsyncIterator[Any]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with AsyncPostgresSaver.from_conn_string(url) as saver:
        await saver.setup()
        yield saver


POOL_TIMEOUT = 30.0  # --pool-timeout: how long a statement may wait for a pooled connection


@asynccontextmanager
async def bare_pool(url: str) -> AsyncIterator[Any]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    async with AsyncConnectionPool(
        url,
        max_size=4,
        kwargs=kwargs,
        check=AsyncConnectionPool.check_connection,
        open=False,
        timeout=POOL_TIMEOUT,
    ) as pool:
        yield AsyncPostgresSaver(pool)  # type: ignore[arg-type]


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Sampler:
    """Peak connections (this variant's application_name), threads and RSS."""

    def __init__(self, url: str, app: str) -> None:
        self.url, self.app = url, app
        self.conns = self.threads = 0
        self.rss = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(0.1):
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    (self.app,),
                ).fetchone()
                self.conns = max(self.conns, int(row[0]) if row else 0)
                self.threads = max(self.threads, threading.active_count() - 1)  # not mine
                self.rss = max(self.rss, rss_mb())

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


async def drive(
    one: Callable[[str], Awaitable[Any]], level: int, total: int, prefix: str
) -> tuple[float, list[float]]:
    """``total`` runs with ``level`` in flight; wall seconds and each run's latency."""
    gate = asyncio.Semaphore(level)
    latencies: list[float] = []

    async def task(i: int) -> None:
        async with gate:
            t = time.perf_counter()
            await one(f"{prefix}-{i}")
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(task(i) for i in range(total)))
    return time.perf_counter() - start, latencies


async def variant(name: str, url: str, level: int, total: int, prefix: str) -> dict[str, Any]:
    app = f"lgr-load-{uuid.uuid4().hex[:8]}"
    tagged = _tag(url, app)
    opener = {"bare 1 conn": bare_one, "bare pool": bare_pool}.get(name)
    with Sampler(url, app) as sample:
        ours = open_async_checkpointer(tagged, pool_timeout=POOL_TIMEOUT)
        async with opener(tagged) if opener else ours as saver:
            graph = build().compile(checkpointer=saver)

            async def one(thread: str) -> Any:
                config: Any = {"configurable": {"thread_id": thread}}
                if name == "arun":
                    return await arun(graph, {"n": 0}, config)
                return await graph.ainvoke({"n": 0}, config)

            wall, lat = await drive(one, level, total, prefix)
    lat.sort()
    return {
        "variant": name,
        "runs_s": total / wall,
        "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "conns": sample.conns,
        "threads": sample.threads,
        "rss": sample.rss,
    }


def cleanup(url: str, prefix: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("checkpoint_writes", "checkpoint_blobs", "checkpoints"):
            conn.execute(f"DELETE FROM {table} WHERE thread_id LIKE %s", (f"{prefix}%",))
        conn.execute("DELETE FROM langgraph_runner_runs WHERE thread_id LIKE %s", (f"{prefix}%",))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "LANGGRAPH_RUNNER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--levels", default="20,200,1000")
    parser.add_argument("--runs", type=int, default=2, help="runs per level, in multiples")
    parser.add_argument("--pool-timeout", type=float, default=30.0)
    args = parser.parse_args()
    global POOL_TIMEOUT
    POOL_TIMEOUT = args.pool_timeout
    prefix = f"load-{uuid.uuid4().hex[:8]}"
    names = ["bare 1 conn", "bare pool", "bare ours", "arun"]
    print(
        f"{'level':>5} {'variant':<12} {'runs/s':>7} {'ratio':>6} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'conns':>5} {'threads':>7} {'RSS MB':>7}"
    )
    try:
        for index, level in enumerate(int(x) for x in args.levels.split(",")):
            total = max(level, 100) * args.runs if level < 1000 else level
            order = names[index % 4 :] + names[: index % 4]
            rows = {}
            for name in order:
                tag = f"{prefix}-{level}-{names.index(name)}"
                rows[name] = await variant(name, args.url, level, total, tag)
            base = rows["bare 1 conn"]["runs_s"]
            for name in names:
                r = rows[name]
                print(
                    f"{level:>5} {name:<12} {r['runs_s']:>7.1f} {r['runs_s'] / base:>6.2f} "
                    f"{r['p50_ms']:>7.0f} {r['p99_ms']:>7.0f} {r['conns']:>5} "
                    f"{r['threads']:>7} {r['rss']:>7.0f}",
                    flush=True,
                )
    finally:
        cleanup(args.url, prefix)


if __name__ == "__main__":
    asyncio.run(main())
