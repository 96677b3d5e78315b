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
thread count and RSS of the process, the process's CPU time per run (``CPU ms``), the
share of wall time the cyclic garbage collector took (``GC %``) and its full collections
(``full``). Ratios are against ``bare 1 conn`` measured in
the same run. Threads and rows made are deleted at the end.

    python benchmarks/load.py [--url postgresql://...] [--levels 20,200,1000] [--runs 2]
        [--rounds 1] [--pool-timeout 30] [--step-timeout 5] [--variants "bare 1 conn,arun"]
        [--gc-threshold 50000]

``--rounds`` repeats each level's turn of variants that many times, the order rotated
each round, and then prints each variant's median ratio to the baseline over the rounds
(lowest and highest in brackets): on a machine whose speed drifts between runs, the ratio
of variants that ran minutes apart says little, the median of interleaved rounds more.

``--pool-timeout`` is the pools' ``pool_timeout``: for ``open_async_checkpointer`` how
long a statement waits while the pool frees no connection; for LangGraph's pooled
setup (``bare pool``) how long any one wait may last. ``--step-timeout`` is the guarded
step's timeout: it counts the event loop's lag too, which on a starved CPU with 1,000
runs in flight can pass 5 s. A run that raises is counted (``failed``), not fatal.
``--gc-threshold`` sets the cyclic garbage collector's first-generation threshold
(Python's default is 700) for every variant alike: with many runs in flight, collections
that walk every live run take a large share of the CPU.

Many processes sharing one server (``--processes``): each of ``--processes`` worker
processes keeps ``--per-process`` runs of ``arun`` in flight until it has done
``--runs`` times that many, all on ``open_async_checkpointer`` with the same
``application_name``; printed: runs done and failed per process, runs/s of all, and the
peak PostgreSQL connections of all the processes together.

    python benchmarks/load.py --processes 4 --per-process 250 [--runs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import operator
import os
import statistics
import subprocess
import sys
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
STEP_TIMEOUT = 5.0  # --step-timeout: the guarded step's timeout


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

    g.add_node("guarded", create_node(guarded, name="guarded", timeout=STEP_TIMEOUT))
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
MAX_CONNECTIONS = 4  # --max-connections: open_async_checkpointer's checkpoint pool


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


class GcTime:
    """Time the cyclic collector spends while the runs go on, and its full collections."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.full += info["generation"] == 2

    def __enter__(self) -> GcTime:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


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
) -> tuple[float, list[float], dict[str, int]]:
    """``total`` runs with ``level`` in flight; wall seconds, each run's latency and the
    runs that raised (counted by error)."""
    gate = asyncio.Semaphore(level)
    latencies: list[float] = []
    failed: dict[str, int] = {}

    async def task(i: int) -> None:
        async with gate:
            t = time.perf_counter()
            try:
                await one(f"{prefix}-{i}")
            except Exception as exc:
                key = f"{type(exc).__name__}: {str(exc)[:100]}"
                failed[key] = failed.get(key, 0) + 1
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(task(i) for i in range(total)))
    return time.perf_counter() - start, latencies, failed


async def variant(name: str, url: str, level: int, total: int, prefix: str) -> dict[str, Any]:
    app = f"lgr-load-{uuid.uuid4().hex[:8]}"
    tagged = _tag(url, app)
    opener = {"bare 1 conn": bare_one, "bare pool": bare_pool}.get(name)
    with Sampler(url, app) as sample:
        ours = open_async_checkpointer(
            tagged, pool_timeout=POOL_TIMEOUT, max_connections=MAX_CONNECTIONS
        )
        async with opener(tagged) if opener else ours as saver:
            graph = build().compile(checkpointer=saver)

            async def one(thread: str) -> Any:
                config: Any = {"configurable": {"thread_id": thread}}
                if name == "arun":
                    return await arun(graph, {"n": 0}, config)
                return await graph.ainvoke({"n": 0}, config)

            gc.collect()  # what the variant before left is not this one's cost
            with GcTime() as collected:
                cpu = time.process_time()
                wall, lat, failed = await drive(one, level, total, prefix)
                cpu = time.process_time() - cpu
    lat.sort()
    return {
        "variant": name,
        "cpu_ms": cpu / total * 1000,
        "gc_share": collected.seconds / wall,
        "full_gcs": collected.full,
        "failed": failed,
        "runs_s": total / wall,
        "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "conns": sample.conns,
        "threads": sample.threads,
        "rss": sample.rss,
    }


async def worker(url: str, app: str, level: int, total: int, prefix: str) -> dict[str, Any]:
    """One process of ``--processes``: ``total`` runs of ``arun``, ``level`` in flight."""
    async with open_async_checkpointer(
        _tag(url, app), pool_timeout=POOL_TIMEOUT, max_connections=MAX_CONNECTIONS
    ) as saver:
        graph = build().compile(checkpointer=saver)

        async def one(thread: str) -> None:
            await arun(graph, {"n": 0}, {"configurable": {"thread_id": thread}})

        wall, lat, failed = await drive(one, level, total, prefix)
    lat.sort()
    return {
        "done": total - sum(failed.values()),
        "failed": failed,
        "wall": wall,
        "p50_ms": statistics.median(lat) * 1000,
        "rss": rss_mb(),
    }


def processes(args: argparse.Namespace, prefix: str) -> None:
    """``--processes`` workers on one server: all complete? peak connections of all."""
    app = f"lgr-load-{uuid.uuid4().hex[:8]}"
    total = args.per_process * args.runs
    with Sampler(args.url, app) as sample:
        children = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--url",
                    args.url,
                    "--pool-timeout",
                    str(args.pool_timeout),
                    "--step-timeout",
                    str(args.step_timeout),
                    "--max-connections",
                    str(args.max_connections),
                    "--worker",
                    app,
                    "--per-process",
                    str(args.per_process),
                    "--runs",
                    str(args.runs),
                    "--prefix",
                    f"{prefix}-{i}",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(args.processes)
        ]
        outs = [json.loads(child.communicate()[0].strip().splitlines()[-1]) for child in children]
    wall = max(out["wall"] for out in outs)  # the runs' own time, not the processes' start
    print(f"{'process':>7} {'done':>6} {'failed':>6} {'runs/s':>7} {'p50 ms':>7} {'RSS MB':>7}")
    for i, out in enumerate(outs):
        print(
            f"{i:>7} {out['done']:>6} {sum(out['failed'].values()):>6} "
            f"{out['done'] / out['wall']:>7.1f} {out['p50_ms']:>7.0f} {out['rss']:>7.0f}"
        )
        for key, count in out["failed"].items():
            print(f"        {count} x {key}")
    done = sum(out["done"] for out in outs)
    print(
        f"all: {done} of {total * args.processes} runs completed in {wall:.1f} s "
        f"({done / wall:.1f} runs/s); peak connections of all {args.processes} processes: "
        f"{sample.conns}"
    )


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
    parser.add_argument(
        "--rounds", type=int, default=1, help="turns of the variants per level, interleaved"
    )
    parser.add_argument("--pool-timeout", type=float, default=30.0)
    parser.add_argument("--step-timeout", type=float, default=5.0)
    parser.add_argument(
        "--max-connections",
        type=int,
        default=4,
        help="open_async_checkpointer's checkpoint connections (default: its own, 4)",
    )
    parser.add_argument(
        "--variants",
        default="bare 1 conn,bare pool,bare ours,arun",
        help="which variants (bare 1 conn, the baseline, always runs)",
    )
    parser.add_argument("--processes", type=int, default=0)
    parser.add_argument("--per-process", type=int, default=250)
    parser.add_argument(
        "--gc-threshold",
        type=int,
        default=0,
        help="the collector's first-generation threshold for every variant (0: Python's)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # a child of --processes
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    global POOL_TIMEOUT, STEP_TIMEOUT, MAX_CONNECTIONS
    POOL_TIMEOUT, STEP_TIMEOUT = args.pool_timeout, args.step_timeout
    MAX_CONNECTIONS = args.max_connections
    if args.gc_threshold:
        gc.set_threshold(args.gc_threshold, *gc.get_threshold()[1:])
    # The warnings that runs wait for connections would drown the output.
    logging.getLogger("langgraph_runner").setLevel(logging.ERROR)
    if args.worker:
        total = args.per_process * args.runs
        out = await worker(args.url, args.worker, args.per_process, total, args.prefix)
        print(json.dumps(out), flush=True)
        return
    prefix = f"load-{uuid.uuid4().hex[:8]}"
    if args.processes:
        try:
            processes(args, prefix)
        finally:
            cleanup(args.url, prefix)
        return
    names = ["bare 1 conn", *(n for n in args.variants.split(",") if n != "bare 1 conn")]
    unknown = set(names) - {"bare 1 conn", "bare pool", "bare ours", "arun"}
    if unknown:
        parser.error(f"unknown --variants: {', '.join(sorted(unknown))}")
    print(
        f"{'level':>5} {'variant':<12} {'runs/s':>7} {'ratio':>6} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'conns':>5} {'threads':>7} {'RSS MB':>7} {'failed':>6} "
        f"{'CPU ms':>6} {'GC %':>5} {'full':>4}"
    )
    try:
        for index, level in enumerate(int(x) for x in args.levels.split(",")):
            total = max(level, 100) * args.runs if level < 1000 else level
            ratios: dict[str, list[float]] = {name: [] for name in names}
            for round_ in range(args.rounds):
                turn = (index + round_) % len(names)
                order = names[turn:] + names[:turn]
                rows = {}
                for name in order:
                    tag = f"{prefix}-{level}-{round_}-{names.index(name)}"
                    rows[name] = await variant(name, args.url, level, total, tag)
                base = rows["bare 1 conn"]["runs_s"]
                for name in names:
                    r = rows[name]
                    ratios[name].append(r["runs_s"] / base)
                    print(
                        f"{level:>5} {name:<12} {r['runs_s']:>7.1f} {r['runs_s'] / base:>6.2f} "
                        f"{r['p50_ms']:>7.0f} {r['p99_ms']:>7.0f} {r['conns']:>5} "
                        f"{r['threads']:>7} {r['rss']:>7.0f} {sum(r['failed'].values()):>6} "
                        f"{r['cpu_ms']:>6.1f} {r['gc_share'] * 100:>5.1f} {r['full_gcs']:>4}",
                        flush=True,
                    )
                    for key, count in r["failed"].items():
                        print(f"      {count} x {key}")
            if args.rounds > 1:
                medians = ", ".join(
                    f"{name} {statistics.median(ratios[name]):.2f} "
                    f"({min(ratios[name]):.2f}-{max(ratios[name]):.2f})"
                    for name in names
                    if name != "bare 1 conn"
                )
                print(f"{level:>5} median ratio of {args.rounds} rounds: {medians}", flush=True)
    finally:
        cleanup(args.url, prefix)


if __name__ == "__main__":
    asyncio.run(main())
