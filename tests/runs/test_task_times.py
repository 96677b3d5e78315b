"""Tests for langgraph_runner._runs.task_times: each node's own duration, not its step's.

The tracker's clock is replaced by a virtual one per thread: a node "takes" its seconds
by moving its thread's clock on, so the figures are exact and nothing sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict
from urllib.parse import urlsplit, urlunsplit

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_runner._db.connection import open_postgres, open_sqlite
from langgraph_runner._reports.report import run_report
from langgraph_runner._runs import tracker
from langgraph_runner._runs.checkpoint import open_async_checkpointer, open_checkpointer
from langgraph_runner._runs.lifecycle import arun, run
from langgraph_runner._runs.run_store import RunStore
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.task_times import (
    ATTEMPTS_KEPT,
    TIMES_TABLE,
    AttemptLog,
    flush_marks,
    load_attempts,
    load_rows,
    load_times,
    mark_time,
    save_times,
    setup,
)
from tests.services import postgres_url

SECONDS = {"parse": 0.25, "stats": 1.5, "index": 2.0, "charts": 1.0, "summary": 0.5}
_clock = threading.local()
BASE = 1_800_000_000.0


def _now() -> float:
    return BASE + getattr(_clock, "t", 0.0)


class Build(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def _step(name: str) -> Any:
    def node(state: Build) -> dict[str, Any]:
        _clock.t = getattr(_clock, "t", 0.0) + SECONDS[name]  # it "takes" its seconds
        return {"log": [name]}

    return node


def fan_out() -> StateGraph[Build]:
    g = StateGraph(Build)
    for name in SECONDS:
        g.add_node(name, _step(name))
    g.add_edge(START, "parse")
    for name in ("stats", "index", "charts"):
        g.add_edge("parse", name)
    g.add_edge(["stats", "index", "charts"], "summary")
    g.add_edge("summary", END)
    return g


@pytest.fixture(autouse=True)
def virtual_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracker, "_now", _now)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}" if request.param == "sqlite" else postgres_url()


def test_parallel_nodes_report_their_own_durations(url: str) -> None:
    """stats 1.5 s, index 2 s, charts 1 s in one step: each reads its own time."""
    thread = f"times-{uuid.uuid4().hex}"
    config: Any = {"configurable": {"thread_id": thread}}
    with open_checkpointer(url) as saver:
        result = run(fan_out().compile(checkpointer=saver), {"log": []}, config)
    assert result.status == "completed"
    with open_checkpointer(url) as saver:  # another reader, no graph
        report = run_report(saver, thread)
    durations = {n.name: n.duration_ms for n in report.nodes}
    assert durations == {name: seconds * 1000 for name, seconds in SECONDS.items()}
    assert report.node("stats").step == report.node("index").step
    assert "2000.0 ms" in report.to_html()  # the timeline's bar for index


def test_a_graph_invoked_without_run_keeps_its_steps_times(tmp_path: Path) -> None:
    """No recorded times (plain invoke): the step's checkpoint times, as before."""
    thread = uuid.uuid4().hex
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver:
        graph = fan_out().compile(checkpointer=saver)
        graph.invoke({"log": []}, {"configurable": {"thread_id": thread}})
        report = run_report(saver, thread)
    stats, index = report.node("stats"), report.node("index")
    assert stats.duration_ms == index.duration_ms  # the step's, shared
    assert stats.started_at == index.started_at


def test_times_round_trip_and_overwrite(url: str) -> None:
    """save_times writes a run's rows (again: overwritten); load_times reads them back.

    5,100 rows: more than one statement's worth on either database (SQLite 200 rows of
    VALUES, PostgreSQL 5,000 rows of arrays), ends missing (NULL) among them, and a write
    whose every end is missing.
    """
    with open_checkpointer(url) as saver:
        store = open_run_store(saver)
        assert store is not None
        try:
            run_id = uuid.uuid4().hex
            many = {
                (f"n{i}", i % 3): (float(i), None if i % 7 == 0 else float(i) + 0.5)
                for i in range(5100)
            }
            save_times(store, run_id, many)
            save_times(store, run_id, {("n1", 1): (1.0, None), ("n2", 2): (2.0, None)})
            save_times(store, run_id, {("n3", 0): (3, 4.5), ("n4", 1): (4.0, 5)})  # ints too
            loaded = load_times(store, [run_id, "unknown"])
        finally:
            store.close()
    assert loaded[run_id][("n1", 1)] == (1.0, None)
    assert loaded[run_id][("n2", 2)] == (2.0, None)
    assert loaded[run_id][("n3", 0)] == (3.0, 4.5) and loaded[run_id][("n4", 1)] == (4.0, 5.0)
    assert loaded[run_id][("n5099", 5099 % 3)] == (5099.0, 5099.5)
    assert loaded[run_id][("n5096", 5096 % 3)] == (5096.0, None)  # 5096 = 7 * 728
    assert len(loaded[run_id]) == 5100
    assert "unknown" not in loaded


def test_a_live_write_never_takes_a_row_back_to_running_or_an_earlier_end(url: str) -> None:
    """The writer's rows are guarded: a late start or an earlier end does not overwrite
    a later end (the run's own final write may land before a live one)."""
    with open_checkpointer(url) as saver:
        store = open_run_store(saver)
        assert store is not None
        run_id = uuid.uuid4().hex
        seen = []
        try:
            for times in ((1.0, 3.0), (1.0, None), (1.0, 2.0), (0.5, 4.0)):
                mark_time(store, run_id, "fetch", 1, times)
                assert flush_marks()
                seen.append(load_times(store, [run_id])[run_id][("fetch", 1)])
        finally:
            store.close()
    assert seen == [(1.0, 3.0), (1.0, 3.0), (1.0, 3.0), (0.5, 4.0)]


def test_interleaved_tasks_each_keep_their_own_span(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks started together and ending apart (arun's order): each its own start and end."""
    clock = [100.0]
    monkeypatch.setattr(tracker, "_now", lambda: clock[0])
    root = uuid.uuid4()
    t = tracker.Tracker(root, reused=False)
    ids = {name: uuid.uuid4() for name in ("stats", "index", "charts")}
    for name, run_id in ids.items():
        meta = {"langgraph_node": name, "langgraph_step": 2}
        t.on_chain_start({}, {}, run_id=run_id, parent_run_id=root, metadata=meta)
    for name, at in (("charts", 101.0), ("stats", 101.5), ("index", 102.0)):
        clock[0] = at
        t.on_chain_end({}, run_id=ids[name])
    assert t.times == {
        ("stats", 1): (100.0, 101.5),
        ("index", 1): (100.0, 102.0),
        ("charts", 1): (100.0, 101.0),
    }


def test_an_async_run_records_every_nodes_own_row(tmp_path: Path) -> None:
    """arun records a row per node and step; the report's durations come from them."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    thread = uuid.uuid4().hex
    config: Any = {"configurable": {"thread_id": thread}}

    async def go() -> Any:
        async with open_async_checkpointer(url) as saver:
            return await arun(fan_out().compile(checkpointer=saver), {"log": []}, config)

    result = asyncio.run(go())
    with open_checkpointer(url) as saver:
        report = run_report(saver, thread)
        store = open_run_store(saver)
        assert store is not None
        try:
            rows = load_times(store, [result.run_id])[result.run_id]
        finally:
            store.close()
    assert {(n.name, n.step) for n in report.nodes} == set(rows)
    for n in report.nodes:
        start, end = rows[(n.name, n.step)]
        assert end is not None
        assert n.duration_ms == round((end - start) * 1000, 3)


def _held(name: str, gates: dict[str, threading.Event], entered: threading.Semaphore) -> Any:
    """A node that "takes" its seconds only once its gate opens (the test holds it running)."""

    def node(state: Build) -> dict[str, Any]:
        entered.release()
        assert gates[name].wait(30), f"{name} was never released"
        _clock.t = getattr(_clock, "t", 0.0) + SECONDS[name]
        return {"log": [name]}

    return node


def _live_report(url: str, thread: str) -> Any:
    with open_checkpointer(url) as saver:  # another reader, no graph
        return run_report(saver, thread)


def test_a_live_run_shows_its_running_nodes_and_the_ended_ones_own_times(url: str) -> None:
    """While index and charts run, a reader sees parse and stats ended with their own
    times, index and charts ``running`` (each its own), summary pending; at the end all
    ended with their own durations."""
    thread = f"live-{uuid.uuid4().hex}"
    gates = {name: threading.Event() for name in SECONDS}
    for name in ("parse", "stats"):
        gates[name].set()
    entered = threading.Semaphore(0)
    g = StateGraph(Build)
    for name in SECONDS:
        g.add_node(name, _held(name, gates, entered))
    g.add_edge(START, "parse")
    for name in ("stats", "index", "charts"):
        g.add_edge("parse", name)
    g.add_edge(["stats", "index", "charts"], "summary")
    g.add_edge("summary", END)
    out: dict[str, Any] = {}

    def go() -> None:
        with open_checkpointer(url) as saver:
            config: Any = {"configurable": {"thread_id": thread}}
            try:
                out["result"] = run(g.compile(checkpointer=saver), {"log": []}, config)
            finally:
                for _ in range(4):
                    entered.release()  # a run that failed early never holds the test

    worker = threading.Thread(target=go)
    worker.start()
    try:
        for _ in range(4):  # parse, stats, index, charts have started
            assert entered.acquire(timeout=30)
        expected = {
            "parse": "succeeded",
            "stats": "succeeded",
            "index": "running",
            "charts": "running",
            "summary": "pending",
        }
        assert flush_marks()  # the writer thread has written what the tracker noted
        live = _live_report(url, thread)
        for _ in range(200):  # stats saves its writes just after its end is noted
            if {n.name: str(n.status) for n in live.nodes} == expected:
                break
            threading.Event().wait(0.05)
            live = _live_report(url, thread)
        assert live.status == "running"
        assert {n.name: str(n.status) for n in live.nodes} == expected
        assert live.node("parse").duration_ms == 250.0
        assert live.node("stats").duration_ms == 1500.0
        assert live.node("index").duration_ms is None and live.node("index").started_at
        assert live.summary["running"] == 2
        table = live.to_table()  # what `langgraph-runner report` prints
        assert re.search(r"^index\s+running\b", table, re.M), table
        assert re.search(r"^charts\s+running\b", table, re.M), table
    finally:
        for gate in gates.values():
            gate.set()
        worker.join(60)
    assert out["result"].status == "completed"
    final = _live_report(url, thread)
    durations = {n.name: n.duration_ms for n in final.nodes}
    assert durations == {name: seconds * 1000 for name, seconds in SECONDS.items()}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_starts_its_own_writer() -> None:
    """A child forked while the parent's writer had work starts clean: no thread, nothing
    pending, idle (else its marks would wait for a writer thread it does not have)."""
    from langgraph_runner._runs import task_times

    writer = task_times._WRITER
    with writer.guard:
        was = writer.asleep
        writer.asleep = False  # as if mid-batch
        pid = os.fork()
        if pid == 0:  # the child: report and leave at once
            clean = writer.asleep and writer.thread is None and not writer.pending
            os._exit(0 if clean and writer.idle.is_set() else 1)
        writer.asleep = was
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_how_a_nodes_cache_served_it_round_trips(url: str) -> None:
    """A row keeps ``cached``/``reused`` (None: the node ran), through the run's own write
    and the writer thread's; ``load_times`` still gives (start, end)."""
    with open_checkpointer(url) as saver:
        store = open_run_store(saver)
        assert store is not None
        run_id = uuid.uuid4().hex
        try:
            times = {("parse", 0): (1.0, 2.0), ("stats", 1): (2.0, 3.0), ("render", 2): (3.0, 4.0)}
            served = {("parse", 0): "reused", ("stats", 1): "cached"}
            save_times(store, run_id, times, served)
            mark_time(store, run_id, "late", 3, (4.0, 5.0), "cached")
            assert flush_marks()
            rows = load_rows(store, [run_id])[run_id]
            plain = load_times(store, [run_id])[run_id]
        finally:
            store.close()
    assert rows == {
        ("parse", 0): (1.0, 2.0, "reused", 0),
        ("stats", 1): (2.0, 3.0, "cached", 0),
        ("render", 2): (3.0, 4.0, None, 0),
        ("late", 3): (4.0, 5.0, "cached", 0),
    }
    assert plain[("parse", 0)] == (1.0, 2.0)


def test_a_nodes_attempts_round_trip_and_stay_when_a_write_gives_none(url: str) -> None:
    """A row's attempts through the run's own write and the writer thread's; a later
    write of the row without attempts (a node time alone) keeps them."""
    log = AttemptLog()
    for n in range(1, 13):
        log.add({"number": n, "outcome": "retried", "message": f"refused {n}"})
    with open_checkpointer(url) as saver:
        store = open_run_store(saver)
        assert store is not None
        run_id = uuid.uuid4().hex
        try:
            save_times(store, run_id, {("parse", 0): (1.0, 2.0)}, None, {("parse", 0): log.text()})
            mark_time(store, run_id, "late", 3, (4.0, None), None, log.text())
            assert flush_marks()
            mark_time(store, run_id, "late", 3, (4.0, 5.0))  # its end, no attempts given
            save_times(store, run_id, {("parse", 0): (1.0, 2.5)})
            assert flush_marks()
            parse = load_attempts(store, run_id, "parse", 0)
            late = load_attempts(store, run_id, "late", 3)
            none = load_attempts(store, run_id, "parse", 1)
            rows = load_rows(store, [run_id])[run_id]
        finally:
            store.close()
    numbers = [1, 2, 3, 4, 5, 8, 9, 10, 11, 12]  # the first five and the latest five
    assert [a["number"] for a in parse] == [a["number"] for a in late] == numbers
    assert len(parse) == ATTEMPTS_KEPT and parse[0]["message"] == "refused 1"
    assert none == []
    assert rows == {("parse", 0): (1.0, 2.5, None, 12), ("late", 3): (4.0, 5.0, None, 12)}


@contextlib.contextmanager
def _old_table(url: str, tmp_path: Path) -> Iterator[RunStore]:
    """A store on a database of its own whose node-times table was made before the
    ``cache`` column existed (a fresh PostgreSQL database, dropped afterwards)."""
    old = (
        f"CREATE TABLE {TIMES_TABLE} (run_id TEXT NOT NULL, node TEXT NOT NULL,"
        " step INTEGER NOT NULL, started_at DOUBLE PRECISION NOT NULL,"
        " finished_at DOUBLE PRECISION, PRIMARY KEY (run_id, node, step))"
    )
    insert = f"INSERT INTO {TIMES_TABLE} VALUES ('before', 'fetch', 0, 1.0, 2.0)"
    if url.startswith("sqlite"):
        path = str(tmp_path / "old.db")
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            conn.execute(old)
            conn.execute(insert)
        db: Any = open_sqlite(path)
        yield RunStore(db, shared=True, database=f"sqlite:{path}")
        db.close()
        return
    import psycopg

    name = f"lgr_old_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    fresh = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    try:
        with psycopg.connect(fresh, autocommit=True) as conn:
            conn.execute(old)
            conn.execute(insert)
        db = open_postgres(fresh)
        try:
            yield RunStore(db, shared=True, database=f"postgres:{name}")
        finally:
            db.close()
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_an_older_table_gains_the_cache_column_on_first_use(url: str, tmp_path: Path) -> None:
    """A table made before ``cache`` and ``attempts`` existed: its rows read back (cache
    None, no attempts), and the first write of a new row adds the columns; a second add
    is a no-op (``setup``)."""
    with _old_table(url, tmp_path) as store:
        assert load_rows(store, ["before"]) == {"before": {("fetch", 0): (1.0, 2.0, None, 0)}}
        save_times(store, "after", {("fetch", 0): (3.0, 4.0)}, {("fetch", 0): "reused"})
        setup(store)  # already there: nothing to add
        rows = load_rows(store, ["before", "after"])
        assert rows["after"] == {("fetch", 0): (3.0, 4.0, "reused", 0)}
        assert rows["before"] == {("fetch", 0): (1.0, 2.0, None, 0)}
        assert load_attempts(store, "before", "fetch", 0) == []  # the column added, empty


def test_the_tracker_notes_which_steps_its_cache_served() -> None:
    """A node the engine says its cache served is ``cached`` (``reused`` in a rebuild) in
    its step's row; one that ran is None; Send tasks of one step mixed: None."""
    for rebuilt, word in ((False, "cached"), (True, "reused")):
        root = uuid.uuid4()
        t = tracker.Tracker(root, reused=rebuilt)
        tasks = [("parse", 1, True), ("stats", 2, False), ("fan", 2, True), ("fan", 2, False)]
        ids = [uuid.uuid4() for _ in tasks]
        for (name, step, _), run_id in zip(tasks, ids, strict=True):
            meta = {"langgraph_node": name, "langgraph_step": step}
            t.on_chain_start({}, {}, run_id=run_id, parent_run_id=root, metadata=meta)
        for (name, _, hit), run_id in zip(tasks, ids, strict=True):
            t.cache_outcome(name, hit, "k")
            t.on_chain_end({}, run_id=run_id)
        assert t.served == {("parse", 0): word, ("stats", 1): None, ("fan", 1): None}
        assert t.nodes["parse"] == word
