"""Many workers, one PostgreSQL: SIGKILLed queue workers lose no thread and redo no saved node.

Four Dramatiq worker processes (examples/workers.py) take 40 runs of the example pipeline
from a Redis queue and share one PostgreSQL checkpointer and a Redis node cache. Workers are
SIGKILLed mid-run again and again (seeded choices) and restarted; their messages come back
after the heartbeat timeout and the thread is resumed from its checkpoint. Every node logs its
start, and every checkpoint write is logged, in a PostgreSQL ledger table: no task may start
after its writes were saved, and only a killed worker's task may start again.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
import redis
from langgraph.checkpoint.memory import InMemorySaver
from psycopg import sql

from langgraph_runner._runs.checkpoint import open_checkpointer
from tests import services

pytestmark = pytest.mark.slow  # seconds per test: skipped by -m 'not slow'

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
THREADS = 40
WORKERS = 4
KILLS = 6
TIMEOUT = 180.0  # a bound for a loaded machine, not a speed check
URLS = [f"https://example.invalid/report/{i}" for i in range(4)]
# Fields of an error record that differ between two runs of the same thread.
VOLATILE = {"timestamp", "duration_ms", "trace_id", "graph_execution_id"}


def _load_workers() -> ModuleType:
    if str(EXAMPLES) not in sys.path:
        sys.path.append(str(EXAMPLES))  # workers.py imports the pipeline next to it
    import workers  # type: ignore[import-not-found]

    return workers  # type: ignore[no-any-return]


workers = _load_workers()


def _normalized(values: dict[str, Any]) -> dict[str, Any]:
    """The state minus volatile record fields and cache marks; stack paths cut to file names
    (each process shows them relative to its own import path)."""
    errors = [
        {
            k: re.sub(r"\S*/", "", v) if k == "stack" else v
            for k, v in e.items()
            if k not in VOLATILE
        }
        for e in values.get("errors", [])
    ]
    # Whether a step was served from the node cache depends on where a worker was killed
    # (a resumed thread may hit the entry its killed run stored): its retry counts must match.
    marks = {
        node: rest
        for node, mark in (values.get("step_marks") or {}).items()
        if (rest := {k: v for k, v in mark.items() if k != "cache"})
    }
    return {**values, "errors": errors, "step_marks": marks}


def _difference(got: dict[str, Any], want: dict[str, Any]) -> str:
    """The fields that differ (inside the error records too), for a readable failure."""
    keys = sorted(k for k in {*got, *want} if k != "errors" and got.get(k) != want.get(k))
    lines = [f"{k}: {got.get(k)!r} != {want.get(k)!r}" for k in keys]
    for g, w in zip(got.get("errors", []), want.get("errors", []), strict=False):
        lines += [
            f"errors.{k}: {g.get(k)!r} != {w.get(k)!r}" for k in {*g, *w} if g.get(k) != w.get(k)
        ]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def reference() -> dict[str, dict[str, Any]]:
    """Each input's final state from an uninterrupted in-process run (no I/O sleeps)."""

    def run(url: str) -> dict[str, Any]:
        graph = workers.compile_pipeline(InMemorySaver(), wrap=workers.node_wrapper(None, 0.0))
        config: Any = {"configurable": {"thread_id": f"reference-{url}"}}
        graph.invoke({"url": url}, config)
        return _normalized(dict(graph.get_state(config).values))

    with ThreadPoolExecutor(len(URLS)) as pool:
        return dict(zip(URLS, pool.map(run, URLS), strict=True))


@pytest.fixture
def deployment(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Settings with a unique queue namespace and ledger; threads, table and keys removed after."""
    pg, rd = services.postgres_url(), services.redis_url()
    tag = uuid.uuid4().hex[:12]
    settings = workers.Settings(
        postgres_url=pg,
        redis_url=rd,
        namespace=f"lgr-test-workers-{tag}",
        ledger=f"lgr_test_ledger_{tag}",
        io_delay=0.03,
        heartbeat_ms=1500,
        poll_ms=100,
    )
    monkeypatch.setenv("LANGGRAPH_RUNNER_CACHE_KEY", f"test-many-workers-{tag}" * 2)
    with open_checkpointer(pg):
        pass  # migrations once, before the workers race to open it
    workers.Ledger.create(pg, settings.ledger)
    try:
        yield settings
    finally:
        with psycopg.connect(pg, autocommit=True) as conn:
            table = sql.Identifier(settings.ledger)
            threads = conn.execute(sql.SQL("SELECT DISTINCT thread_id FROM {}").format(table))
            thread_ids = [row[0] for row in threads.fetchall()]
            conn.execute(sql.SQL("DROP TABLE {}").format(table))
        with open_checkpointer(pg) as saver:
            for thread_id in thread_ids:
                saver.delete_thread(thread_id)
        client = redis.Redis.from_url(rd)
        for key in client.scan_iter(f"{settings.namespace}:*"):
            client.delete(key)
        client.close()


class _Ledger:
    """The test's reading side of the ledger table."""

    def __init__(self, url: str, table: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.table = sql.Identifier(table)

    def query(self, text: str, *args: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql.SQL(text).format(t=self.table), args).fetchall()

    def finished_threads(self) -> int:
        """Threads a worker saw to their end: by running them, or by finding them finished
        (a worker killed after the last checkpoint, before its ``done`` row, leaves only that)."""
        rows = self.query("SELECT count(DISTINCT thread_id) FROM {t} WHERE event = 'done'")
        return int(rows[0][0])

    def in_node_pids(self) -> set[int]:
        """Workers whose last ledger row is a node's ``start``: inside a node right now."""
        rows = self.query("SELECT DISTINCT ON (pid) pid, event FROM {t} ORDER BY pid, id DESC")
        return {pid for pid, event in rows if event == "start"}

    def busy_pids(self) -> set[int]:
        """Workers between an ``invoke`` and its ``done``: mid-run."""
        rows = self.query(
            "SELECT pid FROM {t} WHERE event IN ('invoke', 'done') GROUP BY pid "
            "HAVING sum(CASE WHEN event = 'invoke' THEN 1 ELSE -1 END) > 0"
        )
        return {row[0] for row in rows}


def _logs(paths: list[Path]) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in paths)


def _runs(settings: Any, count: int) -> dict[str, str]:
    """The test's ``thread_id -> url`` runs: ``count`` threads over the URLS in turn."""
    return {f"{settings.namespace}-{i}": URLS[i % len(URLS)] for i in range(count)}


def _unfinished(ledger: _Ledger) -> str:
    """The ledger rows of every thread that has no ``done`` row yet."""
    rows = ledger.query(
        "SELECT thread_id, pid, event, node, step FROM {t} WHERE thread_id NOT IN "
        "(SELECT thread_id FROM {t} WHERE event = 'done') ORDER BY thread_id, id"
    )
    return "".join(f"{row}\n" for row in rows)


def _run_with_kills(
    settings: Any, ledger: _Ledger, tmp_path: Path
) -> tuple[list[int], list[Path], str]:
    """Serve all threads with 4 workers, SIGKILLing busy ones KILLS times; return killed pids,
    the workers' logs and the trace id of the span the runs were enqueued in."""
    from opentelemetry.sdk.trace import TracerProvider

    actor = workers.setup(settings)
    rng = random.Random("many-workers")
    logs: list[Path] = []
    procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(slot: int) -> None:
        logs.append(tmp_path / f"worker-{len(logs)}.log")
        with logs[-1].open("wb") as log:
            procs[slot] = workers.start_worker(settings, log)

    killed: list[int] = []
    try:
        for slot in range(WORKERS):
            start(slot)
        with TracerProvider().get_tracer("test").start_as_current_span("enqueue") as caller:
            workers.enqueue(actor, _runs(settings, THREADS))
        trace_id = f"{caller.get_span_context().trace_id:032x}"
        deadline = time.monotonic() + TIMEOUT
        while ledger.finished_threads() < THREADS:
            if time.monotonic() >= deadline:
                pytest.fail(f"threads unfinished\n{_unfinished(ledger)}{_logs(logs)}")
            if len(killed) >= KILLS:
                time.sleep(0.1)
                continue
            time.sleep(rng.uniform(0.2, 0.5))
            # Inside a node first (so kills land mid-task however busy the machine is),
            # else anywhere between a run's start and its end.
            busy = ledger.in_node_pids() or ledger.busy_pids()
            slots = sorted(s for s, p in procs.items() if p.pid in busy and p.poll() is None)
            if slots:
                slot = rng.choice(slots)
                os.kill(procs[slot].pid, signal.SIGKILL)
                procs[slot].wait()
                killed.append(procs[slot].pid)
                start(slot)  # a supervisor would restart it
        # Redelivered messages of threads already finished (killed after the run, before the
        # ack) are no-ops, but they must be acknowledged too.
        workers.wait_until_drained(actor, timeout=max(deadline - time.monotonic(), 1.0))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    return killed, logs, trace_id


def test_sigkilled_workers_finish_every_thread_as_an_uninterrupted_run_would(
    deployment: Any, reference: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """40 threads, 4 workers, 6 SIGKILLs: all finish, equal the reference, no saved node reruns,
    and every record carries the trace id of the span the threads were enqueued in."""
    settings = deployment
    ledger = _Ledger(settings.postgres_url, settings.ledger)
    try:
        killed, logs, trace_id = _run_with_kills(settings, ledger, tmp_path)
        assert len(killed) == KILLS

        # Every thread ended, in the reference state, and no run finished a thread twice.
        ends = ledger.query("SELECT thread_id, node FROM {t} WHERE event = 'done'")
        assert {t for t, _ in ends} == set(_runs(settings, THREADS))
        ended = [t for t, how in ends if how != "finished"]
        assert len(ended) == len(set(ended)), _logs(logs)
        # A thread no run reported finishing was ended by a worker killed after saving its
        # last checkpoint and before writing its ``done`` row; a later delivery found it ended.
        unreported = {t for t, _ in ends} - set(ended)
        if unreported:
            invoked = ledger.query(
                "SELECT DISTINCT thread_id FROM {t} WHERE event = 'invoke' AND pid = ANY(%s)",
                killed,
            )
            assert unreported <= {row[0] for row in invoked}, _logs(logs)
        with open_checkpointer(settings.postgres_url) as saver:
            graph = workers.compile_pipeline(saver)
            for thread_id, url in _runs(settings, THREADS).items():
                state = graph.get_state({"configurable": {"thread_id": thread_id}})
                assert state.next == ()
                assert {e["graph_execution_id"] for e in state.values["errors"]} == {thread_id}
                # The enqueuer's trace, carried in the message: also on a redelivery
                # after a kill, in a worker process with no tracer provider of its own.
                assert {e["trace_id"] for e in state.values["errors"]} == {trace_id}
                got, want = _normalized(dict(state.values)), reference[url]
                assert got == want, _difference(got, want)

        # No task started after its writes were saved (ids grow in commit order).
        rerun = ledger.query(
            "SELECT s.thread_id, s.node, s.step FROM {t} s JOIN {t} c ON c.event = 'commit' "
            "AND c.thread_id = s.thread_id AND c.task_id = s.task_id AND s.id > c.id "
            "WHERE s.event = 'start'"
        )
        assert rerun == []
        # A task is one node at one step; only a killed worker's task starts again elsewhere.
        tasks = ledger.query(
            "SELECT thread_id, task_id, count(DISTINCT (node, step)), "
            "array_agg(pid ORDER BY id) FROM {t} WHERE event = 'start' GROUP BY 1, 2"
        )
        assert all(shapes == 1 for _, _, shapes, _ in tasks)
        redone = 0
        for _, _, _, pids in tasks:
            runners = list(dict.fromkeys(pids))  # in order of first start
            assert set(runners[:-1]) <= set(killed), runners
            redone += len(runners) > 1
        # Not vacuous: kills landed inside nodes, and threads resumed on other workers.
        assert redone >= 1
        resumed = ledger.query("SELECT count(*) FROM {t} WHERE event = 'done' AND node = 'resume'")[
            0
        ][0]
        assert resumed >= KILLS // 2
        saved = ledger.query("SELECT count(*) FROM {t} WHERE event = 'commit'")[0][0]
        assert saved >= THREADS * 4  # load, summarize, publish, recover on every thread
    finally:
        ledger.conn.close()


def test_a_failing_dependency_opens_the_shared_breaker_for_every_worker(
    deployment: Any, tmp_path: Path
) -> None:
    """publish always fails: a breaker shared through Redis opens once, for all four workers."""
    settings = dataclasses.replace(deployment, shared_breaker=True)
    actor = workers.setup(settings)
    ledger = _Ledger(settings.postgres_url, settings.ledger)
    logs = [tmp_path / f"worker-{n}.log" for n in range(WORKERS)]
    procs = []
    try:
        for path in logs:
            with path.open("wb") as log:
                procs.append(workers.start_worker(settings, log))
        deadline = time.monotonic() + TIMEOUT
        while workers.live_workers(settings) < WORKERS:  # all four take part from the start
            assert time.monotonic() < deadline, _logs(logs)
            time.sleep(0.05)
        runs = _runs(settings, 16)
        workers.enqueue(actor, runs)
        workers.wait_until_drained(actor, timeout=deadline - time.monotonic())
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    try:
        with open_checkpointer(settings.postgres_url) as saver:
            graph = workers.compile_pipeline(saver)
            code = {
                t: graph.get_state({"configurable": {"thread_id": t}}).values["errors"][-1]["code"]
                for t in runs
            }
        ran_by = ledger.query("SELECT pid, thread_id FROM {t} WHERE event = 'done'")
        rejected_in = {pid for pid, thread_id in ran_by if code[thread_id] == "CIRCUIT_OPEN"}
        assert rejected_in == {p.pid for p in procs}, (ran_by, code)
        # Real calls: the threshold, plus at most one in flight per other worker when it
        # opened. Breakers of their own would have let each worker fail 5 times (20 calls).
        calls = ledger.query("SELECT count(*) FROM {t} WHERE event = 'start' AND node = 'publish'")
        threshold = workers.PUBLISH_BREAKER.failure_threshold
        assert threshold <= calls[0][0] <= threshold + WORKERS - 1
    finally:
        ledger.conn.close()


def test_a_message_carries_the_callers_trace_to_the_worker() -> None:
    """``enqueue`` puts the current W3C trace context in each message; ``run_thread`` runs
    inside it (``continued_trace``), so the run's spans join the caller's trace, also when
    a dead worker's message is delivered again (the message is the same)."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    sent: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    class Actor:
        def send(self, *args: Any, **kwargs: Any) -> None:
            sent.append((args, kwargs))

    with tracer.start_as_current_span("caller") as caller:
        workers.enqueue(Actor(), {"t1": URLS[0], "t2": URLS[1]})
    trace_id = f"{caller.get_span_context().trace_id:032x}"
    assert [args for args, _ in sent] == [("t1", URLS[0]), ("t2", URLS[1])]
    carrier = sent[0][1]["trace_context"]
    assert carrier["traceparent"].split("-")[1] == trace_id
    with workers.continued_trace(carrier):
        inside = tracer.start_span("run")
    assert f"{inside.get_span_context().trace_id:032x}" == trace_id
    assert workers.trace_context() == {}  # outside any span: nothing to carry
    with workers.continued_trace({}):  # a message enqueued without a trace
        assert workers.trace_context() == {}
