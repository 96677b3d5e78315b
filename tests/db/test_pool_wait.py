"""_db/pool_wait.py: a run waiting for a pooled connection says so; a stall fails it.

Each test opens its own pool of one connection (tagged with a unique
``application_name``) and holds it itself: no server setting is touched.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from structlog.testing import CapturingLogger

from langgraph_runner._db import pool
from langgraph_runner._db.pool import DatabaseUnavailableError
from langgraph_runner.runs import arun, list_runs, open_async_checkpointer, open_checkpointer, run
from tests.services import postgres_url


class S(TypedDict, total=False):
    n: int


def _tagged() -> str:
    url = postgres_url()
    return f"{url}{'&' if '?' in url else '?'}application_name=lgr-wait-{uuid.uuid4().hex[:12]}"


def _events(cap: CapturingLogger, name: str) -> list[dict[str, Any]]:
    return [c.kwargs for c in cap.calls if c.args and c.args[0] == name]


def _graph(first: Any) -> StateGraph[Any]:
    async def last(state: S) -> dict[str, Any]:
        return {"n": state.get("n", 0) + 1}

    g: StateGraph[Any] = StateGraph(S)
    g.add_node("first", first)
    g.add_node("last", last)
    g.add_edge(START, "first")
    g.add_edge("first", "last")
    g.add_edge("last", END)
    return g


async def _until(check: Any, what: str) -> None:
    for _ in range(3000):  # up to about 30 s on a busy machine: no timing asserted
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def test_a_run_waiting_for_a_connection_says_so_in_its_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The checkpointer's one connection is held: the run waits (no failure), its events
    say run.waiting_for_connection naming the database, and once it gets the connection
    it completes, its run.completed counting the wait in connection_wait_ms."""
    monkeypatch.setattr(pool, "WAIT_NOTICE", 0.05)
    cap = CapturingLogger()
    thread = f"wait-{uuid.uuid4().hex}"

    async def first(state: S) -> dict[str, Any]:
        return {"n": 1}

    async def main() -> tuple[Any, str]:
        async with open_async_checkpointer(_tagged(), max_connections=1) as saver:
            graph = _graph(first).compile(checkpointer=saver)
            held = await saver.conn.getconn()  # type: ignore[union-attr]
            running = asyncio.create_task(
                arun(graph, {"n": 0}, {"configurable": {"thread_id": thread}}, logger=cap)
            )
            try:
                await _until(lambda: _events(cap, "run.waiting_for_connection"), "the notice")
            finally:
                await saver.conn.putconn(held)  # type: ignore[union-attr]
            result = await running
            await saver.adelete_thread(thread)
            return result, str(getattr(saver, "database"))  # noqa: B009

    result, database = asyncio.run(main())
    assert result.status == "completed"
    # Said once a run (its later waits, if any, only add to connection_wait_ms).
    (told,) = _events(cap, "run.waiting_for_connection")
    assert told["database"] == database and database.startswith("postgres:")
    assert told["waited_s"] == 0.05 and told["run_id"] == result.run_id
    (completed,) = _events(cap, "run.completed")
    assert completed["connection_wait_ms"] >= 50


def test_a_stalled_wait_fails_the_run_before_any_node_naming_database_and_setting() -> None:
    """No connection comes free for pool_timeout: the run fails with a
    DatabaseUnavailableError naming the database and pool_timeout, before any node ran
    and before its row was written."""
    ran: list[str] = []
    thread = f"stall-{uuid.uuid4().hex}"

    async def first(state: S) -> dict[str, Any]:
        ran.append("first")
        return {"n": 1}

    async def main() -> tuple[BaseException | None, list[Any], str]:
        async with open_async_checkpointer(_tagged(), max_connections=1, pool_timeout=0.3) as saver:
            graph = _graph(first).compile(checkpointer=saver)
            held = await saver.conn.getconn()  # type: ignore[union-attr]
            caught: BaseException | None = None
            try:
                await arun(graph, {"n": 0}, {"configurable": {"thread_id": thread}})
            except DatabaseUnavailableError as exc:
                caught = exc
            finally:
                await saver.conn.putconn(held)  # type: ignore[union-attr]
            rows = await asyncio.to_thread(list_runs, saver, thread_id=thread)
            return caught, rows, str(getattr(saver, "database"))  # noqa: B009

    caught, rows, database = asyncio.run(main())
    assert isinstance(caught, DatabaseUnavailableError)
    assert caught.database == database
    assert "pool_timeout" in str(caught) and database in str(caught)
    assert ran == [] and rows == []


def test_a_stall_after_the_row_fails_the_run_and_its_row_says_why() -> None:
    """A node takes the pool's only connection and keeps it: the next checkpoint write
    finds none coming free, the run fails, and its row says why (pool_timeout)."""
    thread = f"stall-row-{uuid.uuid4().hex}"
    kept: list[Any] = []

    async def main() -> tuple[Any, list[Any]]:
        async with open_async_checkpointer(_tagged(), max_connections=1, pool_timeout=0.3) as saver:
            pool_ = saver.conn

            async def first(state: S) -> dict[str, Any]:
                kept.append(await pool_.getconn())  # type: ignore[union-attr]
                return {"n": 1}

            graph = _graph(first).compile(checkpointer=saver)
            try:
                result = await arun(
                    graph, {"n": 0}, {"configurable": {"thread_id": thread}}, raise_on_error=False
                )
            finally:
                for conn in kept:
                    await pool_.putconn(conn)  # type: ignore[union-attr]
            rows = await asyncio.to_thread(list_runs, saver, thread_id=thread)
            await saver.adelete_thread(thread)
            return result, rows

    result, rows = asyncio.run(main())
    assert result.status == "failed" and isinstance(result.error, DatabaseUnavailableError)
    (row,) = rows
    assert row.status == "failed" and "pool_timeout" in (row.reason or "")


def test_a_sync_run_waiting_for_a_connection_says_so_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync run() on open_checkpointer's pool: the same event, the same count."""
    monkeypatch.setattr(pool, "WAIT_NOTICE", 0.05)
    cap = CapturingLogger()
    thread = f"wait-sync-{uuid.uuid4().hex}"

    def first(state: S) -> dict[str, Any]:
        return {"n": 1}

    g: StateGraph[Any] = StateGraph(S)
    g.add_node("first", first)
    g.add_edge(START, "first")
    g.add_edge("first", END)
    with open_checkpointer(_tagged(), max_connections=1) as saver:
        graph = g.compile(checkpointer=saver)
        held = saver.conn.getconn()  # type: ignore[union-attr]
        out: list[Any] = []
        worker = threading.Thread(
            target=lambda: out.append(
                run(graph, {"n": 0}, {"configurable": {"thread_id": thread}}, logger=cap)
            )
        )
        worker.start()
        try:
            for _ in range(3000):
                if _events(cap, "run.waiting_for_connection") or not worker.is_alive():
                    break
                time.sleep(0.01)
        finally:
            saver.conn.putconn(held)  # type: ignore[union-attr]
        worker.join()
        saver.delete_thread(thread)
        database = str(getattr(saver, "database"))  # noqa: B009
    assert out[0].status == "completed"
    (told,) = _events(cap, "run.waiting_for_connection")
    assert told["database"] == database and told["run_id"] == out[0].run_id
    (completed,) = _events(cap, "run.completed")
    assert completed["connection_wait_ms"] >= 50
