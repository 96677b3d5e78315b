"""The runs table: one row per ``run()``, beside the checkpoints, shared by every process.

LangGraph's checkpoints say what each step did, not how a run ended when it stopped
between steps (a failed step under ``on_step_failure="stop"``, a cancel), who it ran for
(tenant) or that another process asked it to stop. ``run()``/``arun()`` therefore keep
one row per run in a table of their own, in the checkpointer's database, through a
connection of their own:

- ``SqliteSaver``/``AsyncSqliteSaver`` on a file and ``PostgresSaver``/
  ``AsyncPostgresSaver``: the ``langgraph_runner_runs`` table, created on first use;
- any other saver (``InMemorySaver``, SQLite in memory): a table in this process,
  since no other process can reach its checkpoints anyway.

A row: ``run_id``, ``thread_id``, ``tenant``, ``graph``, ``status`` (``running``, then
``completed``, ``interrupted``, ``failed`` or ``cancelled``), ``reason``, ``started_at``,
``updated_at`` (epoch seconds) and ``cancel_requested``: the flag ``cancel_run`` sets and
every run's loop polls between steps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from langgraph_runner._runs.saver_storage import postgres_settings, saver_kind, sqlite_file
from langgraph_runner._runs.sql import Db, open_postgres, open_sqlite

__all__ = ["RUN_ID_METADATA_KEY", "TABLE", "RunRecord", "RunStore", "open_run_store"]

TABLE = "langgraph_runner_runs"
RUN_ID_METADATA_KEY = "langgraph_runner_run_id"
"""Checkpoint metadata key of the run that wrote the checkpoint (``run()`` sets it)."""
_COLUMNS = "run_id, thread_id, tenant, graph, status, reason, started_at, updated_at, nodes"
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " run_id TEXT PRIMARY KEY, thread_id TEXT, tenant TEXT, graph TEXT,"
    " status TEXT NOT NULL, reason TEXT, started_at DOUBLE PRECISION NOT NULL,"
    " updated_at DOUBLE PRECISION NOT NULL, cancel_requested INTEGER NOT NULL DEFAULT 0,"
    " cancel_reason TEXT, nodes TEXT)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_thread ON {TABLE} (thread_id, started_at)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_started ON {TABLE} (started_at)",
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunRecord:
    """One run as the runs table keeps it."""

    run_id: str
    thread_id: str | None
    tenant: str | None
    graph: str | None
    status: str
    reason: str | None
    started_at: float
    updated_at: float
    nodes: tuple[str, ...] = ()  # the graph's steps (nodes), so a report can say "x of N"


class RunStore:
    """The runs of one checkpointer's database (see the module docstring)."""

    def __init__(self, sql: Db, *, shared: bool, key: tuple[Any, ...] | None = None) -> None:
        self._sql = sql
        self.shared = shared  # False: the process-local store of an in-memory saver
        self._key = key  # set: a connection this process keeps for every run (PostgreSQL)

    def close(self) -> None:
        """Close the store's connection (a kept or process-local one stays open)."""
        if self.shared and self._key is None:
            self._sql.close()

    def discard(self) -> None:
        """Close the connection for good (it failed): the next open makes a new one."""
        if self._key is not None:
            with _KEPT_GUARD:
                if _KEPT.get(self._key) is self:
                    del _KEPT[self._key]
        if self.shared:
            with contextlib.suppress(Exception):  # already broken
                self._sql.close()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._sql.run(sql, params)[1]

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(
        self,
        run_id: str,
        thread_id: str | None,
        tenant: str | None,
        graph: str | None,
        nodes: Sequence[str] = (),
    ) -> None:
        """Record a run as ``running`` (a run id seen before starts again)."""
        now = time.time()
        self._sql.run(
            f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, 'running', NULL, ?, ?, ?)"
            " ON CONFLICT (run_id) DO UPDATE SET status = 'running', reason = NULL,"
            " updated_at = excluded.updated_at, cancel_requested = 0, cancel_reason = NULL",
            (run_id, thread_id, tenant, graph, now, now, json.dumps(list(nodes))),
        )

    def finish(self, run_id: str, status: str, reason: str | None) -> None:
        """Record how a run ended."""
        self._sql.run(
            f"UPDATE {TABLE} SET status = ?, reason = ?, updated_at = ? WHERE run_id = ?",
            (status, reason, time.time(), run_id),
        )

    def request_cancel(self, run_id: str, reason: str, *, tenant: str | None = None) -> RunRecord:
        """Set the cancel flag of a run; its loop stops before its next step.

        Raises:
            LookupError: No such run (or not the tenant's).
        """
        row = self.get(run_id, tenant=tenant)
        if row is None:
            raise LookupError(f"no run {run_id!r}")
        self._sql.run(
            f"UPDATE {TABLE} SET cancel_requested = 1, cancel_reason = ?"
            " WHERE run_id = ? AND status = 'running'",
            (reason, run_id),
        )
        return row

    def cancel_requested(self, run_id: str) -> str | None:
        """The reason given to ``request_cancel`` for this run, or None."""
        rows = self._rows(
            f"SELECT cancel_requested, cancel_reason FROM {TABLE} WHERE run_id = ?", (run_id,)
        )
        if rows and int(_at(rows[0], 0, "cancel_requested") or 0):
            return str(_at(rows[0], 1, "cancel_reason") or "cancelled")
        return None

    def get(self, run_id: str, *, tenant: str | None = None) -> RunRecord | None:
        """One run by id (None if unknown, or another tenant's when ``tenant`` is given)."""
        rows = self._rows(f"SELECT {_COLUMNS} FROM {TABLE} WHERE run_id = ?", (run_id,))
        row = _row(rows[0]) if rows else None
        if row is not None and tenant is not None and row.tenant != tenant:
            return None
        return row

    def latest(self, thread_id: str) -> RunRecord | None:
        """The thread's latest run."""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM {TABLE} WHERE thread_id = ? ORDER BY started_at DESC LIMIT 1",
            (thread_id,),
        )
        return _row(rows[0]) if rows else None

    def runs(
        self, *, tenant: str | None = None, thread_id: str | None = None, limit: int = 100
    ) -> list[RunRecord]:
        """Runs, newest first, optionally one tenant's or one thread's."""
        where, params = [], []
        if tenant is not None:
            where.append("tenant = ?")
            params.append(tenant)
        if thread_id is not None:
            where.append("thread_id = ?")
            params.append(thread_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM {TABLE}{clause} ORDER BY started_at DESC LIMIT ?",
            (*params, int(limit)),
        )
        return [_row(r) for r in rows]

    def threads(self, *, limit: int = 100) -> list[tuple[str, float | None]]:
        """Threads the checkpoints hold (top level), newest first, with their latest time.

        Reads LangGraph's own ``checkpoints`` table in the same database; an in-process
        store (an in-memory saver) lists none.
        """
        if not self.shared:
            return []
        rows = self._rows(
            "SELECT thread_id, MAX(checkpoint_id) AS latest FROM checkpoints"
            " WHERE checkpoint_ns = '' GROUP BY thread_id ORDER BY latest DESC LIMIT ?",
            (int(limit),),
        )
        return [(str(_at(r, 0, "thread_id")), uuid6_time(str(_at(r, 1, "latest")))) for r in rows]


def uuid6_time(checkpoint_id: str) -> float | None:
    """Epoch seconds of a LangGraph checkpoint id (a UUID v6, time-ordered), or None."""
    try:
        value = int(checkpoint_id.replace("-", ""), 16)
    except ValueError:
        return None
    if (value >> 76) & 0xF != 6:
        return None
    ticks = ((value >> 80) << 12) | ((value >> 64) & 0x0FFF)  # 100 ns since 1582-10-15
    return (ticks - 0x01B21DD213814000) / 1e7


def _at(row: Any, index: int, name: str) -> Any:
    return row[name] if isinstance(row, dict) else row[index]


def _row(row: Any) -> RunRecord:
    names = [c.strip() for c in _COLUMNS.split(",")]
    values = {n: _at(row, i, n) for i, n in enumerate(names)}
    values["started_at"] = float(values["started_at"])
    values["updated_at"] = float(values["updated_at"])
    try:
        nodes = json.loads(values["nodes"] or "[]")
    except ValueError:
        nodes = []
    values["nodes"] = tuple(str(n) for n in nodes) if isinstance(nodes, list) else ()
    return RunRecord(**values)


# In-memory savers: one store per saver object, in this process.
_LOCAL: weakref.WeakKeyDictionary[Any, RunStore] = weakref.WeakKeyDictionary()
_LOCAL_BY_ID: dict[int, RunStore] = {}
_LOCAL_GUARD = threading.Lock()


def _local(saver: Any) -> RunStore:
    with _LOCAL_GUARD:
        try:
            store = _LOCAL.get(saver)
        except TypeError:  # not weak-referenceable
            store = _LOCAL_BY_ID.get(id(saver))
        if store is None:
            store = RunStore(open_sqlite(":memory:"), shared=False)
            store._sql.setup(_DDL, TABLE)
            try:
                _LOCAL[saver] = store
            except TypeError:
                _LOCAL_BY_ID[id(saver)] = store
        return store


def open_sqlite_store(path: str) -> RunStore:
    """The runs table of the SQLite database file at ``path``."""
    store = RunStore(open_sqlite(path), shared=True)
    store._sql.setup(_DDL, TABLE)
    return store


# PostgreSQL: one connection per database and process, kept for every run (opening one
# costs more than a small run); a connection that fails is discarded and made again.
_KEPT: dict[tuple[Any, ...], RunStore] = {}
_KEPT_GUARD = threading.Lock()


def open_postgres_store(conninfo: str, **kwargs: Any) -> RunStore:
    """The runs table of a PostgreSQL database (needs the ``postgres`` extra)."""
    key = (os.getpid(), conninfo, repr(sorted(kwargs.items())))
    with _KEPT_GUARD:
        store = _KEPT.get(key)
        if store is not None and not store._sql.conn.closed:
            return store
        store = RunStore(open_postgres(conninfo, **kwargs), shared=True, key=key)
        store._sql.setup(_DDL, TABLE)
        _KEPT[key] = store
        return store


def open_run_store(saver: Any, *, sqlite_path: str | None = None) -> RunStore | None:
    """The runs table of ``saver``'s database; None without a saver.

    Args:
        saver: A LangGraph checkpoint saver (or None).
        sqlite_path: The database file of an ``AsyncSqliteSaver``, which must be asked
            for it on its own event loop (``asqlite_file``); "" for in memory.
    """
    if saver is None:
        return None
    kind = saver_kind(saver)
    if kind == "postgres":
        conninfo, kwargs = postgres_settings(saver.conn)
        return open_postgres_store(conninfo, **kwargs)
    if kind == "sqlite":
        path = sqlite_path
        if path is None:
            try:
                path = sqlite_file(saver)
            except TypeError:
                path = ""
        return open_sqlite_store(path) if path else _local(saver)
    return _local(saver)
