"""N workers, one PostgreSQL: the example pipeline served by Dramatiq worker processes.

Every worker process takes ``run_thread(thread_id, url)`` messages from a Dramatiq queue on
Redis and starts or resumes the pipeline (``examples/pipeline.py``) on that thread with the
shared PostgreSQL checkpointer; ``load`` is cached in Redis for every worker. A worker that
dies (even by SIGKILL) loses nothing: Dramatiq puts its unacknowledged message back on the
queue once its heartbeat is older than ``WORKERS_HEARTBEAT_MS``, and the worker that takes
it resumes the thread from its last checkpoint.

    python examples/workers.py worker                        # one worker process
    python examples/workers.py run --workers 4 --threads 40  # start 4, enqueue 40, wait

Settings come from the environment so that every process agrees: ``WORKERS_POSTGRES_URL``,
``WORKERS_REDIS_URL``, ``WORKERS_NAMESPACE`` (Redis keys: queue and cache),
``WORKERS_IO_DELAY`` (seconds each node sleeps, an I/O stand-in), ``WORKERS_HEARTBEAT_MS``,
``WORKERS_POLL_MS``, ``WORKERS_LEDGER`` (a table name: log node starts and checkpoint
writes there) and ``LANGGRAPH_RUNNER_CACHE_KEY`` (the cache's signing key, the same for all).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import dramatiq
import psycopg
import redis
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker
from langchain_core.runnables import RunnableConfig
from langgraph.cache.redis import RedisCache
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from pipeline import NodeWrapper, compile_pipeline
from psycopg import sql

from langgraph_runner import (
    CircuitBreaker,
    CircuitBreakerConfig,
    NodeCache,
    RedisBreakerStore,
    get_circuit_breaker,
)
from langgraph_runner.runs import open_checkpointer, thread_lock

QUEUE = "pipeline"
ACTOR = "run_thread"
_TABLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_ENV = {
    "postgres_url": "WORKERS_POSTGRES_URL",
    "redis_url": "WORKERS_REDIS_URL",
    "namespace": "WORKERS_NAMESPACE",
    "ledger": "WORKERS_LEDGER",
    "io_delay": "WORKERS_IO_DELAY",
    "heartbeat_ms": "WORKERS_HEARTBEAT_MS",
    "poll_ms": "WORKERS_POLL_MS",
    "shared_breaker": "WORKERS_SHARED_BREAKER",
}
# publish's breaker when it is shared by every worker through Redis (WORKERS_SHARED_BREAKER=1)
PUBLISH_BREAKER = CircuitBreakerConfig(failure_threshold=5, recovery_timeout=30.0)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What every process of one deployment shares; ``to_env`` hands it to workers."""

    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/test"
    redis_url: str = "redis://127.0.0.1:6379/0"
    namespace: str = "lgr-workers"
    ledger: str = ""
    io_delay: float = 0.03
    heartbeat_ms: int = 10_000
    poll_ms: int = 250
    shared_breaker: bool = False

    def __post_init__(self) -> None:
        if self.ledger and not _TABLE.fullmatch(self.ledger):
            raise ValueError(f"WORKERS_LEDGER must be a lower-case table name, got {self.ledger!r}")
        if self.io_delay < 0 or self.poll_ms <= 0 or self.heartbeat_ms < 4 * self.poll_ms:
            raise ValueError("need io_delay >= 0, poll_ms > 0 and heartbeat_ms >= 4 * poll_ms")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Read the ``WORKERS_*`` variables; missing ones keep their defaults."""
        kinds: dict[str, Any] = {"io_delay": float, "heartbeat_ms": int, "poll_ms": int}
        kinds["shared_breaker"] = lambda v: v.lower() in ("1", "true", "yes")
        given = {f: kinds.get(f, str)(env[e]) for f, e in _ENV.items() if e in env}
        return cls(**given)

    def to_env(self) -> dict[str, str]:
        """The ``WORKERS_*`` variables that make ``from_env`` return these settings."""
        return {_ENV[f]: str(v) for f, v in asdict(self).items()}


# --- the queue --------------------------------------------------------------------------


def setup(settings: Settings) -> dramatiq.Actor[Any, Any]:
    """The Redis broker and the ``run_thread`` actor, for enqueuing and for serving.

    A worker's heartbeat is refreshed at every fetch (at least every ``poll_ms``); once it
    is older than ``heartbeat_ms`` the worker counts as dead and, on the next queue
    maintenance (here: at every fetch of any live worker), its unacknowledged messages go
    back on the queue.
    """
    broker = RedisBroker(
        url=settings.redis_url,
        namespace=settings.namespace,
        heartbeat_timeout=settings.heartbeat_ms,
        maintenance_chance=MAINTENANCE_SCALE,
    )
    return dramatiq.actor(
        run_thread,
        broker=broker,
        actor_name=ACTOR,
        queue_name=QUEUE,
        max_retries=5,  # a run that raised (a database hiccup) is retried, then dead-lettered
        min_backoff=200,
        max_backoff=5_000,
    )


def enqueue(actor: dramatiq.Actor[Any, Any], runs: Mapping[str, str]) -> None:
    """Send one ``run_thread`` message per ``thread_id -> url``, with the caller's trace context."""
    carrier = trace_context()
    for thread_id, url in runs.items():
        actor.send(thread_id, url, trace_context=carrier)


def trace_context() -> dict[str, str]:
    """The current W3C trace context (``traceparent``, ``tracestate``) as a plain dict, to
    travel in a message; empty without OpenTelemetry or outside any span."""
    try:
        from opentelemetry import propagate
    except ImportError:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def continued_trace(carrier: Mapping[str, str] | None) -> Iterator[None]:
    """Inside the block, the trace of ``carrier`` is current: the run's spans join it."""
    if not carrier:
        yield
        return
    from opentelemetry import context, propagate

    token = context.attach(propagate.extract(dict(carrier)))
    try:
        yield
    finally:
        context.detach(token)


def wait_until_drained(actor: dramatiq.Actor[Any, Any], timeout: float) -> None:
    """Block until every message of the queue was acknowledged (raises on timeout)."""
    actor.broker.join(QUEUE, interval=20, timeout=int(timeout * 1000))


def live_workers(settings: Settings) -> int:
    """How many workers sent a heartbeat within ``heartbeat_ms``."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        since = time.time() * 1000 - settings.heartbeat_ms
        return int(client.zcount(f"{settings.namespace}:__heartbeats__", since, "+inf"))
    finally:
        client.close()


# --- one run -----------------------------------------------------------------------------


class Ledger:
    """A side-effect log in PostgreSQL: node starts, checkpoint writes, runs (one row each)."""

    def __init__(self, url: str, table: str) -> None:
        self._conn = psycopg.connect(url, autocommit=True)
        self._insert = sql.SQL(
            "INSERT INTO {} (pid, event, thread_id, node, step, task_id) "
            "VALUES (%s, %s, %s, %s, %s, %s)"
        ).format(sql.Identifier(table))
        self._lock = threading.Lock()

    @staticmethod
    def create(url: str, table: str) -> None:
        """Create the ledger table (ids grow in commit order: later rows have larger ids)."""
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, pid int, "
                    "event text, thread_id text, node text, step int, task_id text)"
                ).format(sql.Identifier(table))
            )

    def write(self, event: str, thread_id: str, **fields: Any) -> None:
        """Append one row (``node``, ``step``, ``task_id`` are optional)."""
        row = (fields.get("node"), fields.get("step"), fields.get("task_id"))
        with self._lock:
            self._conn.execute(self._insert, (os.getpid(), event, thread_id, *row))

    def hook_commits(self, saver: BaseCheckpointSaver[Any]) -> None:
        """Log ``commit`` once the saver has stored a task's writes (a resume reuses them)."""
        original = saver.put_writes

        def put_writes(
            config: RunnableConfig, writes: Any, task_id: str, task_path: str = ""
        ) -> None:
            original(config, writes, task_id, task_path)
            if not any(channel in ("__error__", "__interrupt__") for channel, _ in writes):
                self.write("commit", config["configurable"]["thread_id"], task_id=task_id)

        saver.put_writes = put_writes  # type: ignore[method-assign]


def node_wrapper(ledger: Ledger | None, io_delay: float) -> NodeWrapper:
    """Each node logs its start in the ledger (if any), then sleeps ``io_delay`` (its I/O)."""

    def wrap(name: str, fn: Any) -> Any:
        def node(state: Any, config: RunnableConfig) -> Any:
            if ledger is not None:
                configurable = config["configurable"]
                task_id = configurable["checkpoint_ns"].split("|")[-1].split(":")[-1]
                step = config["metadata"]["langgraph_step"]
                ledger.write(
                    "start", configurable["thread_id"], node=name, step=step, task_id=task_id
                )
            if io_delay:
                time.sleep(io_delay)
            return fn(state)

        node.__name__ = node.__qualname__ = name
        return node

    return wrap


def start_or_resume(
    graph: CompiledStateGraph[Any, Any, Any, Any], config: RunnableConfig, inputs: Any
) -> str:
    """Run the thread to its end: ``"input"`` (new), ``"resume"`` or ``"finished"`` (no-op)."""
    assert graph.checkpointer is not None and not isinstance(graph.checkpointer, bool)
    if graph.checkpointer.get_tuple(config) is None:
        graph.invoke(inputs, config)
        return "input"
    # Not `.next`: it leaves out tasks whose writes were saved, so a step that finished
    # just before a crash shows `next == ()` although the run has steps left.
    if graph.get_state(config).tasks:
        graph.invoke(None, config)  # from the last checkpoint; saved writes are reused
        return "resume"
    return "finished"  # a redelivered message of a thread another worker finished


@dataclass(frozen=True)
class _Runtime:
    settings: Settings
    saver: BaseCheckpointSaver[Any]
    cache: NodeCache
    ledger: Ledger | None
    breaker: CircuitBreaker | None


_RUNTIME: list[_Runtime] = []  # set once per worker process by serve()


def run_thread(thread_id: str, url: str, trace_context: Mapping[str, str] | None = None) -> None:
    """The task: start or resume the pipeline on ``thread_id`` until it ends, in the trace
    of whoever enqueued it (``trace_context``; a redelivered message carries the same)."""
    rt = _RUNTIME[0]
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    # A queue may deliver a message twice (a worker that stalls past the heartbeat timeout
    # looks dead): the second delivery waits for the thread here, then finds it finished.
    with continued_trace(trace_context), thread_lock(rt.saver, config, wait=math.inf):
        wrap = node_wrapper(rt.ledger, rt.settings.io_delay)
        graph = compile_pipeline(
            rt.saver, load_cache=rt.cache, publish_breaker=rt.breaker, wrap=wrap
        )
        if rt.ledger is not None:
            rt.ledger.write("invoke", thread_id)
        how = start_or_resume(graph, config, {"url": url})
        if rt.ledger is not None:
            rt.ledger.write("done", thread_id, node=how)


# --- processes ---------------------------------------------------------------------------


def serve(settings: Settings) -> int:
    """Run one worker process (one run at a time) until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.WARNING)
    actor = setup(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with ExitStack() as stack:
        saver = stack.enter_context(open_checkpointer(settings.postgres_url))
        client = stack.enter_context(redis.Redis.from_url(settings.redis_url))
        backend = RedisCache(client, prefix=f"{settings.namespace}:cache:")
        cache = NodeCache(
            inputs=["url"], ttl=3600, version="load-1", key_config=(), backend=backend
        )
        ledger = Ledger(settings.postgres_url, settings.ledger) if settings.ledger else None
        if ledger is not None:
            ledger.hook_commits(saver)
        breaker = None
        if settings.shared_breaker:  # one breaker state in Redis for every worker
            prefix = f"{settings.namespace}:breaker:"  # cache_ttl=0: no stale reads
            # timeout=2: a busy worker waits for the shared state rather than fall back to a
            # breaker of its own (after the 0.25 s default it would count alone).
            store = RedisBreakerStore(settings.redis_url, prefix=prefix, cache_ttl=0, timeout=2.0)
            breaker = get_circuit_breaker("publish-api", PUBLISH_BREAKER, store=store)
        _RUNTIME[:] = [_Runtime(settings, saver, cache, ledger, breaker)]
        worker = dramatiq.Worker(actor.broker, worker_threads=1, worker_timeout=settings.poll_ms)
        worker.queue_prefetch = 1  # take a message only when idle: fair sharing, fewer redeliveries
        worker.start()
        stop.wait()
        worker.stop()  # a graceful stop finishes the current run and requeues nothing lost
    return 0


def start_worker(
    settings: Settings, log: IO[bytes] | int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """Start one worker process with ``settings`` in its environment."""
    env = {**os.environ, **settings.to_env()}
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "worker"], env=env, stdout=log, stderr=log
    )


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every worker (graceful), then SIGKILL what is left after 10 s."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _demo(workers: int, threads: int) -> int:
    os.environ.setdefault("LANGGRAPH_RUNNER_CACHE_KEY", uuid.uuid4().hex)  # one key for all
    settings = Settings.from_env()
    actor = setup(settings)
    procs = [start_worker(settings) for _ in range(workers)]
    try:
        batch = uuid.uuid4().hex[:8]
        runs = {f"{batch}-{i}": f"https://example.invalid/report/{i % 4}" for i in range(threads)}
        started = time.perf_counter()
        enqueue(actor, runs)
        wait_until_drained(actor, timeout=60 + threads)
        took = time.perf_counter() - started
        print(
            f"{threads} threads on {workers} workers in {took:.1f} s (workers' start-up included)"
        )
        with open_checkpointer(settings.postgres_url) as saver:
            graph = compile_pipeline(saver)
            first = graph.get_state({"configurable": {"thread_id": next(iter(runs))}}).values
        print("first thread's log:", first["log"])
    finally:
        stop_workers(procs)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("worker", help="run one worker process until SIGTERM")
    run = sub.add_parser("run", help="start workers, enqueue threads, wait for them")
    run.add_argument("--workers", type=int, default=4)
    run.add_argument("--threads", type=int, default=40)
    args = parser.parse_args(argv)
    if args.command == "worker":
        return serve(Settings.from_env())
    return _demo(args.workers, args.threads)


if __name__ == "__main__":
    sys.exit(main())
