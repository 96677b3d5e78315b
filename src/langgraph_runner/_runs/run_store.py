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
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from langgraph_runner._db.connection import Db, open_sqlite, where_in
from langgraph_runner._db.pool import (
    STORE_MAX_CONNECTIONS,
    PooledDb,
    database_name,
    pool_options,
    settings_key,
    sync_pool,
)
from langgraph_runner._db.storage import postgres_settings, saver_kind, sqlite_file

__all__ = [
    "RUN_ID_METADATA_KEY",
    "TABLE",
    "RunRecord",
    "RunStore",
    "finish_statement",
    "open_run_store",
    "start_statement",
]

TABLE = "langgraph_runner_runs"
RUN_ID_METADATA_KEY = "langgraph_runner_run_id"
"""Checkpoint metadata key of the run that wrote the checkpoint (``run()`` sets it)."""
_COLUMNS = "run_id, thread_id, tenant, graph, status, reason, started_at, updated_at, nodes, shape"
_DDL = (
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
_ADDED = (("owner", "TEXT"), ("heartbeat_at", "DOUBLE PRECISION"), ("shape", "TEXT"))
_DDL_AFTER = (f"CREATE INDEX IF NOT EXISTS {TABLE}_status ON {TABLE} (status)",)
_PG_DDL = (
    *_DDL,
    *(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {n} {t}" for n, t in _ADDED),
    *_DDL_AFTER,
)

STORE_POOL_TIMEOUT = 30.0
"""Seconds a run waits for a runs-table connection (none free, or the server down)."""
HEARTBEAT_SECONDS = 5.0
"""How often a process vouches for its running rows (``run_watch``)."""
LEASE_SECONDS = 30.0
"""A ``running`` row with no heartbeat for this long is ``abandoned`` (its process died)."""
ABANDONED_REASON = "its process stopped (no heartbeat)"
_now = time.time  # the clock rows are stamped and leases judged with (tests replace it)
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
        with _KEPT_GUARD:
            self.users = max(self.users - 1, 0)
            if self.users > 0 or (pooled and not self.released):
                return
            if _KEPT.get(self._key) is self:
                del _KEPT[self._key]
        self._sql.close()

    def reuse(self) -> None:
        """One more user of a store already open (a run on a saver's cached store);
        ``close`` lets go of it."""
        with _KEPT_GUARD:
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
            _add_sqlite_columns(store._sql)
            try:
                _LOCAL[saver] = store
            except TypeError:
                _LOCAL_BY_ID[id(saver)] = store
        return store


def _add_sqlite_columns(sql: Db | PooledDb) -> None:
    _, rows = sql.run(f"PRAGMA table_info({TABLE})")
    have = {str(r[1]) for r in rows}
    for name, kind in _ADDED:
        if name not in have:
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it
                sql.run(f"ALTER TABLE {TABLE} ADD COLUMN {name} {kind}")
    sql.setup(_DDL_AFTER, TABLE)


def _sqlite_store(path: str, key: tuple[Any, ...] | None) -> RunStore:
    sql = open_sqlite(path)
    sql.setup(_DDL, TABLE)
    _add_sqlite_columns(sql)
    return RunStore(sql, shared=True, key=key, database=f"sqlite:{path}")


# One store per database and process, kept for every run (opening a connection costs
# more than a small run): a pool for PostgreSQL, one connection (one writer) for SQLite.
# A SQLite store closes with its last user; a PostgreSQL pool with its last user once the
# last checkpointer opened here on its settings closed (``release_postgres``).
_KEPT: dict[tuple[Any, ...], RunStore] = {}
_KEPT_GUARD = threading.Lock()


def open_sqlite_store(path: str) -> RunStore:
    """The runs table of the SQLite database file at ``path`` (kept for this process)."""
    key = (os.getpid(), "sqlite", os.path.realpath(path))
    with _KEPT_GUARD:
        store = _KEPT.get(key)
        if store is None:
            store = _KEPT[key] = _sqlite_store(path, key)
        store.users += 1
        return store


def open_postgres_store(conninfo: str, **kwargs: Any) -> RunStore:
    """The runs table of a PostgreSQL database (needs the ``postgres`` extra).

    A pool of at most ``STORE_MAX_CONNECTIONS`` connections per database settings and
    process, kept while a checkpointer opened here on them is open (``hold_postgres``),
    else for the process; ``RunStore.close`` lets go of it.
    """
    key = settings_key(conninfo, kwargs)
    with _KEPT_GUARD:
        store = _KEPT.get(key)
        if store is not None and isinstance(store._sql, PooledDb) and not store._sql.closed:
            store.users += 1
            return store
        database = database_name(conninfo, kwargs)
        options = pool_options(
            "runs table", max_connections=STORE_MAX_CONNECTIONS, pool_timeout=STORE_POOL_TIMEOUT
        )
        pool = sync_pool(
            conninfo,
            {**kwargs, "autocommit": True},
            options,
            name=f"langgraph-runner-runs-{database}",
        )
        sql = PooledDb(pool, database)
        try:
            sql.setup(_PG_DDL, TABLE)
        except BaseException:
            pool.close()
            raise
        store = RunStore(sql, shared=True, key=key, database=database)
        store.users = 1
        _KEPT[key] = store
        return store


# Checkpointers ``open_checkpointer``/``open_async_checkpointer`` opened and not yet
# closed, by database settings (``settings_key``).
_HELD: dict[tuple[Any, ...], int] = {}


def hold_postgres(conninfo: str, kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """A checkpointer opened here uses these database settings: their runs store stays
    open until it closes (``release_postgres``). Returns the settings' key."""
    key = settings_key(conninfo, kwargs)
    with _KEPT_GUARD:
        _HELD[key] = _HELD.get(key, 0) + 1
        store = _KEPT.get(key)
        if store is not None:
            store.released = False
    return key


def release_postgres(key: tuple[Any, ...]) -> bool:
    """A checkpointer ``hold_postgres`` counted closed. When it was the last one on its
    settings, their kept runs store closes (its pool's connections and threads), now if
    nothing uses it, else when its last user lets go; a later run opens a new one.

    Returns:
        True when it was the last checkpointer open on those settings.
    """
    with _KEPT_GUARD:
        left = _HELD.get(key, 0) - 1
        if left > 0:
            _HELD[key] = left
            return False
        _HELD.pop(key, None)
        store = _KEPT.get(key)  # under these settings, always a pool
        if store is None:
            return True
        store.released = True
        if store.users > 0:
            return True
        del _KEPT[key]
    store._sql.close()
    return True


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
