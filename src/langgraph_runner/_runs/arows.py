"""A PostgreSQL run's rows written on the event loop, through its async saver's connections.

``arun`` on an ``AsyncPostgresSaver`` writes its admission (``tenancy``), its row and
its final status with its node times as async statements on the saver's own pool (or
its one connection, under the saver's lock): no worker thread. A worker thread's
statement, once answered, waits for the interpreter lock behind the busy event loop
(several milliseconds each with many runs in flight), and every run waited for three
of them before its first node.

The process's runs store (its own small pool) still makes the tables, serves the
cancel watcher and every reader; the thread's lock is taken as before
(``thread_lock``). A statement that meets a broken connection runs again on a fresh
one (they are upserts and keyed updates). When the saver's connections cannot take a
row (none comes free, the server is unreachable), it is written as for any other saver,
through the runs store's own pool: the row is the record cancel, reports and tenancy
rely on, also of a run that failed because its checkpoints could not be written.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from langgraph_runner._db.broken import aretry_broken
from langgraph_runner._db.storage import asqlite_file, saver_kind
from langgraph_runner._runs import run_watch
from langgraph_runner._runs.graph_shape import record_shape, shape_saved
from langgraph_runner._runs.run_store import RunStore, finish_statement, start_statement
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.task_times import Attempts, time_rows, upsert_statements
from langgraph_runner._runs.task_times import setup as setup_times
from langgraph_runner._runs.tenancy import aadmit_at_once, prepare

__all__ = [
    "RunRowsOnLoop",
    "aclose",
    "admit",
    "afinish",
    "afinish_off_loop",
    "aopen",
    "aopen_store",
    "applies",
    "forget",
    "off_loop",
]


R = TypeVar("R", covariant=True)


class RunRows(Protocol[R]):
    """What of a run these helpers use (``lifecycle.RunSession``)."""

    saver: Any

    def open_store(self, sqlite_path: str | None = None) -> None: ...

    def close_store(self, status: str, reason: str | None) -> None: ...

    def finish(self, output: Any, error: BaseException | None) -> R: ...


class RunRowsOnLoop(RunRows[R], Protocol[R]):
    """What of a run this module uses (``lifecycle.RunSession``)."""

    store: RunStore | None
    run_id: str
    thread_id: str | None
    tenant: str | None
    graph: Any
    graph_name: str
    graph_nodes: list[str]

    @property
    def tracker(self) -> Any: ...

    def cancel(self, reason: str) -> None: ...

    def conclude(self, output: Any, error: BaseException | None) -> tuple[R, str, str | None]: ...

    def _store_failed(self, exc: Exception, when: str) -> None: ...


_STORES: weakref.WeakKeyDictionary[Any, RunStore] = weakref.WeakKeyDictionary()


def applies(saver: Any) -> bool:
    """Whether a run on ``saver`` writes its rows here (an async PostgreSQL saver)."""
    if saver_kind(saver) != "postgres":
        return False
    conn = getattr(saver, "conn", None)
    return _is_connection(conn) or asyncio.iscoroutinefunction(getattr(conn, "getconn", None))


def _is_connection(conn: Any) -> bool:
    from psycopg import AsyncConnection

    return isinstance(conn, AsyncConnection)


async def _store(saver: Any) -> RunStore:
    """The saver's runs store; opened (its tables made) in a worker thread the first time."""
    store = _STORES.get(saver)
    if store is None or store.closed:
        opened = await asyncio.to_thread(_open, saver)
        store = _STORES.get(saver)
        if store is not None and not store.closed:
            opened.close()  # another run of the saver opened it meanwhile: one use per saver
            return store
        store = _STORES[saver] = opened
    return store


def forget(saver: Any) -> None:
    """``saver`` closes: let go of the runs store kept for its runs (``RunStore.close``)."""
    store = _STORES.pop(saver, None)
    if store is not None:
        store.close()


def _open(saver: Any) -> RunStore:
    store = open_run_store(saver)
    if store is None:  # pragma: no cover - a PostgreSQL saver always has one
        raise RuntimeError("no runs store for a PostgreSQL saver")
    prepare(store)
    setup_times(store)
    return store


async def _once(saver: Any, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """One statement on the saver's one connection (under its lock) or on a connection
    of its pool, taken and given back as the saver's own statements take theirs
    (``pg_cursor``: no context managers kept alive while it waits for one)."""
    conn = saver.conn
    if _is_connection(conn):  # one connection: the saver's lock keeps its statements apart
        async with saver.lock:
            return await _rows(await conn.execute(sql, params))
    from langgraph_runner._db.cursor import AsyncPooledCursor  # psycopg: when asked for

    async with AsyncPooledCursor(conn, False, False) as cur:
        return await _rows(await cur.execute(sql, params))


async def _rows(cursor: Any) -> list[Any]:
    return list(await cursor.fetchall()) if cursor.description else []


async def _run(saver: Any, database: str, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """One statement (``?`` placeholders) on the saver's connections; its rows. A broken
    connection is retried on a fresh one (the pool drops its other broken ones first)."""
    return await aretry_broken(
        _once,
        saver,
        sql.replace("?", "%s"),
        params,
        database=database,
        on_retry=getattr(saver.conn, "check", None),
    )


async def admit(state: RunRowsOnLoop[Any], on_unavailable: Callable[[Exception], None]) -> bool:
    """The run's admission in one statement (``tenancy.aadmit_at_once``); False: not done."""
    store = await _store(state.saver)

    async def run_sql(sql: str, params: tuple[Any, ...]) -> list[Any]:
        return await _run(state.saver, store.database, sql, params)

    return await aadmit_at_once(
        run_sql, state.saver, state.thread_id, state.tenant, state.run_id, on_unavailable
    )


async def aopen(state: RunRowsOnLoop[Any]) -> None:
    """Write the run's row (``running``) before any node runs, then watch it for cancels.

    When the saver's connections cannot take it (none comes free, the server is
    unreachable), the row is written as for any other saver: in a worker thread through
    the runs store's own pool (``offloop.aopen_store``). A run cancelled while its row is
    written ends that row ``cancelled`` once it lands.

    Raises:
        DatabaseUnavailableError: The row cannot be written (no node ran).
    """
    store = await _store(state.saver)
    if shape_saved(store, state.graph):  # known: no I/O
        shape = record_shape(store, state.graph, state._store_failed)
    else:  # once per graph and process: a round trip
        shape = await asyncio.to_thread(record_shape, store, state.graph, state._store_failed)
    sql, params = start_statement(
        state.run_id, state.thread_id, state.tenant, state.graph_name, state.graph_nodes, shape
    )
    insert = asyncio.ensure_future(_run(state.saver, store.database, sql, params))
    try:
        await asyncio.shield(insert)
    except asyncio.CancelledError:
        insert.add_done_callback(lambda done: _landed_after_cancel(state, store, done))
        raise
    except Exception:  # the saver's connections could not take it: the store's own can
        await aopen_store(state)
        return
    store.reuse()  # the run's own use: ``aclose`` (or ``close_store``) lets go of it
    state.store = store
    run_watch.watch(store, state.run_id, state.cancel)


_LATE: set[asyncio.Future[Any]] = set()  # rows ended after their run was cancelled


def _landed_after_cancel(
    state: RunRowsOnLoop[Any], store: RunStore, insert: asyncio.Future[Any]
) -> None:
    if insert.cancelled() or insert.exception() is not None:
        return  # no row: nothing to end
    ending = asyncio.ensure_future(_finish(state, store, "cancelled", "task cancelled", []))
    _LATE.add(ending)
    ending.add_done_callback(_ended_late)


def _ended_late(ending: asyncio.Future[Any]) -> None:
    _LATE.discard(ending)
    if not ending.cancelled():
        ending.exception()  # seen: a row left running is marked abandoned in time


async def aclose(
    state: RunRowsOnLoop[Any],
    status: str,
    reason: str | None,
    times: Mapping[tuple[str, int], tuple[float, float | None]],
    served: Mapping[tuple[str, int], str | None] | None = None,
    attempts: Attempts | None = None,
) -> None:
    """Write the run's final status and its node times (and how each node's cache served
    it: ``served``; its attempts: ``attempts``), in one statement.

    When the saver's connections cannot take it, it is written as for any other saver:
    in a worker thread through the runs store's own pool, tried again after each of
    ``row_writes.FINISH_DELAYS`` (``lifecycle.RunSession.close_store``); if it still cannot
    be, the row stays ``running`` until its lease runs out (``abandoned``).
    """
    store = state.store
    if store is None:
        return
    try:
        await _finish(
            state, store, status, reason, time_rows(state.run_id, times, served, attempts)
        )
    except Exception:
        await asyncio.to_thread(state.close_store, status, reason)
        return
    run_watch.unwatch(state.run_id)
    state.store = None
    store.close()


async def _finish(
    state: RunRowsOnLoop[Any],
    store: RunStore,
    status: str,
    reason: str | None,
    rows: list[tuple[Any, ...]],
) -> None:
    """The final status and the node times' ``rows`` (``time_rows``) in one statement."""
    statements = upsert_statements(rows, postgres=True)
    update, update_params = finish_statement(state.run_id, status, reason)
    if statements:  # the last batch of times in the same statement as the status
        last, last_params = statements.pop()
        update, update_params = f"WITH times AS ({last}) {update}", last_params + update_params
    for sql, params in [*statements, (update, update_params)]:
        await _run(state.saver, store.database, sql, params)


async def afinish(state: RunRowsOnLoop[R], output: Any, error: BaseException | None) -> R:
    """``afinish_off_loop`` for a run whose rows are written here: how it ended (logged),
    then its final status and node times written on the loop; its result."""
    result, status, reason = state.conclude(output, error)
    tracker = state.tracker
    await aclose(state, status, reason, tracker.times, tracker.served, tracker.attempts)
    return result


def off_loop(state: RunRows[Any]) -> bool:
    """Whether the run's row writes go to a worker thread (not for in-memory savers)."""
    return state.saver is not None and saver_kind(state.saver) != "other"


async def afinish_off_loop(state: RunRows[R], output: Any, error: BaseException | None) -> R:
    """``state.finish`` (which writes the final status), off the loop when it does I/O."""
    if not off_loop(state):
        return state.finish(output, error)
    return await asyncio.to_thread(state.finish, output, error)


async def aopen_store(state: RunRows[Any]) -> None:
    """``state.open_store`` (the row, before any node), off the loop when it does I/O."""
    saver = state.saver
    path: str | None = None
    if saver is not None and saver_kind(saver) == "sqlite" and hasattr(saver, "loop"):
        try:  # an AsyncSqliteSaver answers on its own loop, which is this one
            path = await asqlite_file(getattr(saver, "conn"))  # noqa: B009
        except Exception:
            path = ""
    if not off_loop(state):
        state.open_store(path)
        return
    # Cancelled while the row is written in its thread: whichever side sees both ends the
    # row cancelled (no node ran), so it is neither left running nor watched for good.
    guard, seen = threading.Lock(), {"opened": False, "cancelled": False}

    def open_then_check() -> None:
        state.open_store(path)
        with guard:
            seen["opened"] = True
            if not seen["cancelled"]:
                return
        state.close_store("cancelled", "task cancelled")

    try:
        await asyncio.to_thread(open_then_check)
    except asyncio.CancelledError:
        with guard:
            seen["cancelled"] = True
            opened = seen["opened"]
        if opened:
            state.close_store("cancelled", "task cancelled")
        raise
