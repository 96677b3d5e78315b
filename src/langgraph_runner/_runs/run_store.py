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
the process's watcher (``run_watch``) reads for all its runs at once. ``owner`` names
the process that runs it and ``heartbeat_at`` says when that process last vouched for
it: a ``running`` row whose heartbeat is older than ``LEASE_SECONDS`` belongs to a
process that died, and any reader marks it ``abandoned``.

Connections: one pool per PostgreSQL database and process (``pool``), and one
connection per SQLite file and process, shared by every run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langgraph_runner._db.connection import Db, where_in
from langgraph_runner._db.pool import (
    PooledDb,
)

__all__ = [
    "RUN_ID_METADATA_KEY",
    "TABLE",
    "RunRecord",
    "RunStore",
    "finish_statement",
    "start_statement",
]

TABLE = "langgraph_runner_runs"
RUN_ID_METADATA_KEY = "langgraph_runner_run_id"
"""Checkpoint metadata key of the run that wrote the checkpoint (``run()`` sets it)."""
_COLUMNS = "run_id, thread_id, tenant, graph, status, reason, started_at, updated_at, nodes, shape"
DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " run_id TEXT PRIMARY KEY, thread_id TEXT, tenant TEXT, graph TEXT,"
    " status TEXT NOT NULL, reason TEXT, started_at DOUBLE PRECISION NOT NULL,"
    " updated_at DOUBLE PRECISION NOT NULL, cancel_requested INTEGER NOT NULL DEFAULT 0,"
    " cancel_reason TEXT, nodes TEXT)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_thread ON {TABLE} (thread_id, started_at)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_started ON {TABLE} (started_at)",
)
# Added columns (older tables get them on first use): who runs a row, when it last said so,
# the digest of its graph's shape (``graph_shape``).
ADDED = (("owner", "TEXT"), ("heartbeat_at", "DOUBLE PRECISION"), ("shape", "TEXT"))
DDL_AFTER = (f"CREATE INDEX IF NOT EXISTS {TABLE}_status ON {TABLE} (status)",)
PG_DDL = (
    *DDL,
    *(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {n} {t}" for n, t in ADDED),
    *DDL_AFTER,
)

STORE_POOL_TIMEOUT = 30.0
"""Seconds a run waits for a runs-table connection (none free, or the server down)."""
HEARTBEAT_SECONDS = 5.0
"""How often a process vouches for its running rows (``run_watch``)."""
LEASE_SECONDS = 30.0
"""A ``running`` row with no heartbeat for this long is ``abandoned`` (its process died)."""
ABANDONED_REASON = "its process stopped (no heartbeat)"
_now = time.time  # the clock rows are stamped and leases judged with (tests replace it)
KEPT: dict[tuple[Any, ...], RunStore] = {}
"""The store kept for each database (its settings key), shared by the process's runs."""
KEPT_GUARD = threading.Lock()
_OWNERS: dict[int, str] = {}


def owner() -> str:
    """This process's owner id (a new one after a fork)."""
    pid = os.getpid()
    found = _OWNERS.get(pid)
    if found is None:
        found = _OWNERS[pid] = f"{pid}-{uuid.uuid4().hex[:12]}"
    return found


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
    shape: str | None = None  # digest of the graph's stored shape (graph_shape)


class RunStore:
    """The runs of one checkpointer's database (see the module docstring)."""

    def __init__(
        self,
        sql: Db | PooledDb,
        *,
        shared: bool,
        key: tuple[Any, ...] | None = None,
        database: str = "",
    ) -> None:
        self._sql = sql
        self.shared = shared  # False: the process-local store of an in-memory saver
        self._key = key  # set: a store this process keeps for every run
        self.database = database or ("local" if not shared else "")
        self.users = 0  # a kept store: the runs and readers using it now
        # A kept pool: no checkpointer opened here on its database is open any more
        # (``release_postgres``); it closes with its last user.
        self.released = False

    def close(self) -> None:
        """Let go of the store. A kept SQLite connection closes when its last user lets
        go; a kept PostgreSQL pool too, once no checkpointer that ``open_checkpointer``
        or ``open_async_checkpointer`` opened on its database is open
        (``release_postgres``); a process-local store stays open."""
        if not self.shared:
            return
        pooled = isinstance(self._sql, PooledDb)
        if self._key is None:
            if not pooled:
                self._sql.close()
            return
        with KEPT_GUARD:
            self.users = max(self.users - 1, 0)
            if self.users > 0 or (pooled and not self.released):
                return
            if KEPT.get(self._key) is self:
                del KEPT[self._key]
        self._sql.close()

    def reuse(self) -> None:
        """One more user of a store already open (a run on a saver's cached store);
        ``close`` lets go of it."""
        with KEPT_GUARD:
            self.users += 1

    def discard(self) -> None:
        """Close the connection for good (it failed): the next open makes a new one.

        A kept store stays: a pool replaces broken connections by itself, and a
        SQLite connection is shared by the runs using it (``close`` ends it).
        """
        if self._key is not None:
            return
        if self.shared:
            with contextlib.suppress(Exception):  # already broken
                self._sql.close()

    @property
    def key(self) -> tuple[Any, ...]:
        """Identifies the store's database in this process."""
        return self._key if self._key is not None else ("store", id(self))

    @property
    def closed(self) -> bool:
        """Whether the store's connection (or pool) is closed: a new open makes another."""
        return bool(getattr(self._sql, "closed", False))

    @property
    def sql(self) -> Db | PooledDb:
        """The store's connection (or pool): the threads table (``tenancy``) shares it."""
        return self._sql

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
        *,
        on_wait: Callable[[str, float], None] | None = None,
        shape: str | None = None,
    ) -> None:
        """Record a run as ``running`` by this process (a run id seen before starts again).

        ``on_wait(database, seconds)`` is told when no connection was free at once;
        ``shape`` is the digest of the graph's stored shape (``graph_shape``).
        """
        self._write(*start_statement(run_id, thread_id, tenant, graph, nodes, shape), on_wait)

    def _write(
        self, sql: str, params: Sequence[Any], on_wait: Callable[[str, float], None] | None
    ) -> None:
        if isinstance(self._sql, PooledDb):
            self._sql.run(sql, params, on_wait=on_wait)
        else:
            self._sql.run(sql, params)

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Vouch for these running rows of this process (their lease starts again)."""
        now = _now()
        for where, params in where_in(self._sql.postgres, "run_id", list(run_ids)):
            self._sql.run(
                f"UPDATE {TABLE} SET heartbeat_at = ? WHERE status = 'running' AND {where}",
                (now, *params),
            )

    def cancels(self) -> dict[str, str]:
        """Run id to cancel reason of this process's running rows with the flag set."""
        rows = self._rows(
            f"SELECT run_id, cancel_reason FROM {TABLE}"
            " WHERE owner = ? AND status = 'running' AND cancel_requested = 1",
            (owner(),),
        )
        return {
            str(_at(r, 0, "run_id")): str(_at(r, 1, "cancel_reason") or "cancelled") for r in rows
        }

    def sweep(self) -> int:
        """Mark ``abandoned`` the running rows whose process stopped vouching for them."""
        now = _now()
        count, _ = self._sql.run(
            f"UPDATE {TABLE} SET status = 'abandoned', reason = ?, updated_at = ?"
            " WHERE status = 'running' AND COALESCE(heartbeat_at, updated_at) < ?",
            (ABANDONED_REASON, now, now - LEASE_SECONDS),
        )
        return max(count, 0)

    def finish(self, run_id: str, status: str, reason: str | None) -> None:
        """Record how a run ended."""
        self._sql.run(*finish_statement(run_id, status, reason))

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
        self.sweep()
        rows = self._rows(f"SELECT {_COLUMNS} FROM {TABLE} WHERE run_id = ?", (run_id,))
        row = _row(rows[0]) if rows else None
        if row is not None and tenant is not None and row.tenant != tenant:
            return None
        return row

    def latest(self, thread_id: str) -> RunRecord | None:
        """The thread's latest run."""
        self.sweep()
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
        self.sweep()
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM {TABLE}{clause} ORDER BY started_at DESC LIMIT ?",
            (*params, int(limit)),
        )
        return [_row(r) for r in rows]

    def page(
        self,
        *,
        tenant: str | None,
        status: str | None = None,
        graph: str | None = None,
        before: float | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        """One page of runs, newest first: a tenant's (None: those with no tenant),
        filtered by status and graph, started before ``before`` (the previous page's last)."""
        where = ["tenant IS NULL" if tenant is None else "tenant = ?"]
        params: list[Any] = [] if tenant is None else [tenant]
        for column, value in (("status", status), ("graph", graph)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if before is not None:
            where.append("started_at < ?")
            params.append(float(before))
        self.sweep()
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM {TABLE} WHERE {' AND '.join(where)}"
            " ORDER BY started_at DESC LIMIT ?",
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


def start_statement(
    run_id: str,
    thread_id: str | None,
    tenant: str | None,
    graph: str | None,
    nodes: Sequence[str],
    shape: str | None,
) -> tuple[str, tuple[Any, ...]]:
    """``RunStore.start``'s statement (``?`` placeholders) and its parameters."""
    now = _now()
    return (
        f"INSERT INTO {TABLE} ({_COLUMNS}, owner, heartbeat_at)"
        " VALUES (?, ?, ?, ?, 'running', NULL, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (run_id) DO UPDATE SET status = 'running', reason = NULL,"
        " updated_at = excluded.updated_at, cancel_requested = 0, cancel_reason = NULL,"
        " owner = excluded.owner, heartbeat_at = excluded.heartbeat_at, shape = excluded.shape",
        (run_id, thread_id, tenant, graph, now, now, json.dumps(list(nodes)), shape, owner(), now),
    )


def finish_statement(run_id: str, status: str, reason: str | None) -> tuple[str, tuple[Any, ...]]:
    """``RunStore.finish``'s statement (``?`` placeholders) and its parameters."""
    return (
        f"UPDATE {TABLE} SET status = ?, reason = ?, updated_at = ? WHERE run_id = ?",
        (status, reason, _now(), run_id),
    )
