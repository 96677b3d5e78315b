"""_runs/row_writes.py: a run's final status retried; a run waits for a connection, saying so."""

from __future__ import annotations

import threading
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from structlog.testing import CapturingLogger

from langgraph_runner._db import pool
from langgraph_runner._runs import row_writes, run_store
from langgraph_runner.runs import list_runs, open_checkpointer, run
from tests.services import postgres_url


class S(TypedDict, total=False):
    n: int


def _events(cap: CapturingLogger) -> list[tuple[str, dict[str, Any]]]:
    return [(c.args[0], c.kwargs) for c in cap.calls]


def _graph(saver: Any) -> Any:
    g: StateGraph[Any] = StateGraph(S)
    g.add_node("a", lambda s: {"n": 1})
    g.add_edge(START, "a")
    g.add_edge("a", END)
    return g.compile(checkpointer=saver)


def test_the_final_status_is_retried_until_written(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first two writes of the final status fail: the third lands, no real sleep."""
    slept: list[float] = []
    monkeypatch.setattr(row_writes, "_sleep", slept.append)
    real = run_store.RunStore.finish
    failures = [OSError("blip"), OSError("blip again")]

    def flaky(self: run_store.RunStore, run_id: str, status: str, reason: str | None) -> None:
        if failures:
            raise failures.pop(0)
        real(self, run_id, status, reason)

    monkeypatch.setattr(run_store.RunStore, "finish", flaky)
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver:
        result = run(_graph(saver), {"n": 0}, {"configurable": {"thread_id": "t"}})
        (row,) = list_runs(saver, thread_id="t")
    assert result.status == "completed" and row.status == "completed"
    assert slept == list(row_writes.FINISH_DELAYS[:2])


def test_a_final_status_that_never_lands_is_logged(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every attempt fails: the run's result stands, run.store_failed (when=finish) says so,
    and the row is left to its lease."""
    monkeypatch.setattr(row_writes, "_sleep", lambda s: None)

    def broken(*args: Any) -> None:
        raise OSError("database gone")

    monkeypatch.setattr(run_store.RunStore, "finish", broken)
    cap = CapturingLogger()
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver:
        result = run(_graph(saver), {"n": 0}, {"configurable": {"thread_id": "t"}}, logger=cap)
        (row,) = list_runs(saver, thread_id="t")
    assert result.status == "completed" and row.status == "running"
    failed = [fields for name, fields in _events(cap) if name == "run.store_failed"]
    assert len(failed) == 1 and failed[0]["when"] == "finish"


def test_a_statement_waits_for_a_free_connection_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every connection of a runs-table pool is busy: a write waits (backpressure, no
    failure), says so once (a run logs it as run.waiting_for_connection, naming the
    database) and goes on once a connection is free."""
    monkeypatch.setattr(pool, "WAIT_NOTICE", 0.05)
    url = postgres_url()
    options = pool.pool_options("test", max_connections=1, pool_timeout=30)
    db = pool.PooledDb(pool.sync_pool(url, {"autocommit": True}, options, name="t"), "pg:test")
    told: list[tuple[str, float]] = []
    said = threading.Event()

    def on_wait(database: str, waited: float) -> None:
        told.append((database, waited))
        said.set()

    try:
        held = db.pool.getconn()
        out: list[Any] = []
        worker = threading.Thread(target=lambda: out.append(db.run("SELECT 1", on_wait=on_wait)))
        worker.start()
        assert said.wait(30)
        db.pool.putconn(held)
        worker.join()
    finally:
        db.close()
    assert told == [("pg:test", 0.05)]
    assert out[0][1][0][0] == 1
