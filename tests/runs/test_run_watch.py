"""_runs/run_watch.py: one watcher per process; a dead process's row becomes ``abandoned``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from langgraph_runner._runs import run_store, run_watch, store_registry
from langgraph_runner.runs import RunStatus, list_runs, open_checkpointer, run, run_report
from tests.services import postgres_url

# A worker: a 3-step chain whose second step writes a marker and then hangs, so the
# parent can SIGKILL it mid-run (its first step's checkpoint is written).
WORKER = """
import sys, time
from pathlib import Path
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph_runner.runs import open_checkpointer, run

class S(TypedDict, total=False):
    log: list

url, thread, marker = sys.argv[1:4]

def one(state):
    return {"log": ["one"]}

def two(state):
    Path(marker).write_text("in two")
    time.sleep(600)
    return {"log": state["log"] + ["two"]}

def three(state):
    return {"log": state["log"] + ["three"]}

g = StateGraph(S)
for name, fn in (("one", one), ("two", two), ("three", three)):
    g.add_node(name, fn)
g.add_edge(START, "one")
g.add_edge("one", "two")
g.add_edge("two", "three")
g.add_edge("three", END)
with open_checkpointer(url) as saver:
    run(g.compile(checkpointer=saver), {"log": []}, {"configurable": {"thread_id": thread}},
        durability="sync")
"""


def _graph(saver: Any) -> Any:
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    class S(TypedDict, total=False):
        log: list[str]

    g: StateGraph[Any] = StateGraph(S)
    g.add_node("one", lambda s: {"log": ["one"]})
    g.add_node("two", lambda s: {"log": [*s["log"], "two"]})
    g.add_node("three", lambda s: {"log": [*s["log"], "three"]})
    g.add_edge(START, "one")
    g.add_edge("one", "two")
    g.add_edge("two", "three")
    g.add_edge("three", END)
    return g.compile(checkpointer=saver)


def _url(kind: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}" if kind == "sqlite" else postgres_url()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_dead_process_row_becomes_abandoned_and_its_thread_resumes(
    kind: str, tmp_path: Path
) -> None:
    """A worker SIGKILLed mid-run leaves its row ``running``; once its lease is past
    (its heartbeat aged, no sleep) any reader marks it ``abandoned``, and resuming the
    thread continues from the last checkpoint (``one`` does not run again)."""
    url = _url(kind, tmp_path)
    thread = f"abandon-{uuid.uuid4().hex}"
    marker = tmp_path / "marker"
    with open_checkpointer(url):  # the file and tables exist before two processes open them
        pass
    worker = subprocess.Popen([sys.executable, "-c", WORKER, url, thread, str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert worker.poll() is None, "the worker ended early"
            assert time.monotonic() < deadline, "the worker never reached step two"
            time.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    with open_checkpointer(url) as saver:
        (row,) = list_runs(saver, thread_id=thread)
        assert row.status == "running"  # its lease has not run out yet
        # Its lease runs out: age this row's heartbeat (no sleep, and no clock moved for
        # the other rows of the shared database).
        store = store_registry.open_run_store(saver)
        assert store is not None
        store._sql.run(
            f"UPDATE {run_store.TABLE} SET heartbeat_at = heartbeat_at - ? WHERE run_id = ?",
            (run_store.LEASE_SECONDS + 1, row.run_id),
        )
        store.close()
        (row,) = list_runs(saver, thread_id=thread)
        assert row.status == RunStatus.ABANDONED
        assert row.reason == run_store.ABANDONED_REASON
        report = run_report(_graph(saver), {"configurable": {"thread_id": thread}})
        assert report.status == RunStatus.ABANDONED
        result = run(_graph(saver), None, {"configurable": {"thread_id": thread}})
        assert result.output == {"log": ["one", "two", "three"]}
        assert set(result.nodes) == {"two", "three"}
        newest, old = list_runs(saver, thread_id=thread)
        assert (newest.status, old.status) == ("completed", "abandoned")
        if kind == "postgres":
            saver.delete_thread(thread)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_live_process_keeps_its_rows_running_by_heartbeat(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher vouches for a running row: past the old lease, a reader still sees it
    ``running`` because the heartbeat moved its lease on."""
    release = threading.Event()
    started = threading.Event()
    url = _url(kind, tmp_path)
    thread = f"alive-{uuid.uuid4().hex}"
    with open_checkpointer(url) as saver:
        from typing import TypedDict

        from langgraph.graph import END, START, StateGraph

        class S(TypedDict, total=False):
            n: int

        def slow(state: S) -> dict[str, Any]:
            started.set()
            release.wait(30)
            return {"n": 1}

        g: StateGraph[Any] = StateGraph(S)
        g.add_node("slow", slow)
        g.add_edge(START, "slow")
        g.add_edge("slow", END)
        graph = g.compile(checkpointer=saver)
        out: list[Any] = []
        worker = threading.Thread(
            target=lambda: out.append(run(graph, {"n": 0}, {"configurable": {"thread_id": thread}}))
        )
        worker.start()
        try:
            assert started.wait(30)
            later = time.time() + run_store.LEASE_SECONDS + 1
            monkeypatch.setattr(run_store, "_now", lambda: later)
            run_watch.tick(heartbeat=True)  # what the watcher does every few seconds
            (row,) = list_runs(saver, thread_id=thread)
            assert row.status == "running"
            names = [t.name for t in threading.enumerate()]
            assert names.count("langgraph-runner-run-watch") == 1
            assert not [n for n in names if n.startswith("langgraph-runner-cancel")]
        finally:
            release.set()
            worker.join()
        if kind == "postgres":
            saver.delete_thread(thread)
    assert out[0].status == "completed"


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_run_cancelled_while_its_row_is_written_is_not_left_running(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """arun cancelled while its row is being written (SQLite: in a worker thread;
    PostgreSQL: on the loop, through the saver's pool): once the row lands it is ended
    ``cancelled`` and unwatched, not left ``running`` for good, and the thread's lock is
    free again."""
    import asyncio

    from langgraph_runner._runs import arows
    from langgraph_runner.runs import arun, open_async_checkpointer

    writing, go_on = threading.Event(), threading.Event()
    real_start, real_run = run_store.RunStore.start, arows._run

    def slow_start(self: run_store.RunStore, *args: Any, **kwargs: Any) -> None:
        writing.set()
        go_on.wait(30)
        real_start(self, *args, **kwargs)

    async def slow_run(saver: Any, database: str, sql: str, params: Any) -> list[Any]:
        if sql.startswith(f"INSERT INTO {run_store.TABLE} "):
            writing.set()
            await asyncio.to_thread(go_on.wait, 30)
        return await real_run(saver, database, sql, params)

    monkeypatch.setattr(run_store.RunStore, "start", slow_start)
    monkeypatch.setattr(arows, "_run", slow_run)
    url = _url(kind, tmp_path)
    thread = f"cancel-open-{uuid.uuid4().hex}"
    before = run_watch.watched()

    async def main() -> None:
        async with open_async_checkpointer(url) as saver:
            task = asyncio.create_task(
                arun(_graph(saver), {"log": []}, {"configurable": {"thread_id": thread}})
            )
            await asyncio.to_thread(writing.wait, 30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            go_on.set()  # the row lands, then it is ended
            for _ in range(500):  # (PostgreSQL: on the loop, while the saver is open)
                rows = await asyncio.to_thread(list_runs, saver, thread_id=thread)
                if rows and rows[0].status != "running":
                    break
                await asyncio.sleep(0.01)

    asyncio.run(main())
    for thread_ in threading.enumerate():  # the worker thread that wrote the row
        if thread_.name.startswith("asyncio_"):
            thread_.join(30)
    assert run_watch.watched() == before
    monkeypatch.setattr(run_store.RunStore, "start", real_start)
    with open_checkpointer(url) as saver:
        (row,) = list_runs(saver, thread_id=thread)
        assert (row.status, row.reason) == ("cancelled", "task cancelled")
        again = run(_graph(saver), {"log": []}, {"configurable": {"thread_id": thread}})
        assert again.status == "completed"  # not ThreadBusyError: the lock was let go
        saver.delete_thread(thread)


class _Keeper:
    """A keeper that counts its beats (the first ``fail`` of them raise)."""

    def __init__(self, every: float, fail: int = 0) -> None:
        self.every = every
        self.beats = 0
        self.fail = fail

    def beat(self) -> None:
        self.beats += 1
        if self.beats <= self.fail:
            raise ConnectionError("database down")


def test_keepers_beat_on_the_watchers_round_when_due_until_let_go() -> None:
    """A kept keeper beats when its interval is due, at once after ``beat_soon`` or on a
    forced heartbeat, goes on after a beat that raised, and beats no more once let go."""
    slow, failing = _Keeper(every=3600.0), _Keeper(every=3600.0, fail=1)
    run_watch.keep(slow)
    run_watch.keep(failing)
    try:
        run_watch.tick()
        assert (slow.beats, failing.beats) == (0, 0)  # not due: kept just now
        run_watch.beat_soon()
        run_watch.tick()  # (or the watcher's own round, first)
        assert (slow.beats, failing.beats) == (1, 1)  # the failing one raised
        run_watch.tick(heartbeat=True)
        assert (slow.beats, failing.beats) == (2, 2)
        names = [t.name for t in threading.enumerate()]
        assert names.count("langgraph-runner-run-watch") == 1
    finally:
        run_watch.unkeep(slow)
        run_watch.unkeep(failing)
    run_watch.tick(heartbeat=True)
    assert (slow.beats, failing.beats) == (2, 2)
