"""One runs table store per database and process: opened on first use, kept, let go.

``open_run_store(saver)`` finds the store of a saver's database: one per SQLite file or
PostgreSQL settings (their connections shared by every run of the process), one per
in-memory saver object. ``hold_postgres``/``release_postgres`` count the savers that
use a PostgreSQL store, so the last one closed closes its pool.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from langgraph_runner._db.connection import Db, add_sqlite_columns, open_sqlite
from langgraph_runner._db.pool import (
    STORE_MAX_CONNECTIONS,
    PooledDb,
    database_name,
    pool_options,
    settings_key,
    sync_pool,
)
from langgraph_runner._db.storage import postgres_settings, saver_kind, sqlite_file
from langgraph_runner._runs.run_store import (
    ADDED,
    DDL,
    DDL_AFTER,
    KEPT,
    KEPT_GUARD,
    PG_DDL,
    STORE_POOL_TIMEOUT,
    TABLE,
    RunStore,
)

__all__ = [
    "hold_postgres",
    "open_postgres_store",
    "open_run_store",
    "open_sqlite_store",
    "release_postgres",
]

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
            store._sql.setup(DDL, TABLE)
            _add_sqlite_columns(store._sql)
            try:
                _LOCAL[saver] = store
            except TypeError:
                _LOCAL_BY_ID[id(saver)] = store
        return store


def _add_sqlite_columns(sql: Db | PooledDb) -> None:
    add_sqlite_columns(sql, TABLE, ADDED)
    sql.setup(DDL_AFTER, TABLE)


def _sqlite_store(path: str, key: tuple[Any, ...] | None) -> RunStore:
    sql = open_sqlite(path)
    sql.setup(DDL, TABLE)
    _add_sqlite_columns(sql)
    return RunStore(sql, shared=True, key=key, database=f"sqlite:{path}")


# One store per database and process, kept for every run (opening a connection costs
# more than a small run): a pool for PostgreSQL, one connection (one writer) for SQLite.
# A SQLite store closes with its last user; a PostgreSQL pool with its last user once the
# last checkpointer opened here on its settings closed (``release_postgres``).


def open_sqlite_store(path: str) -> RunStore:
    """The runs table of the SQLite database file at ``path`` (kept for this process)."""
    key = (os.getpid(), "sqlite", os.path.realpath(path))
    with KEPT_GUARD:
        store = KEPT.get(key)
        if store is None:
            store = KEPT[key] = _sqlite_store(path, key)
        store.users += 1
        return store


def open_postgres_store(conninfo: str, **kwargs: Any) -> RunStore:
    """The runs table of a PostgreSQL database (needs the ``postgres`` extra).

    A pool of at most ``STORE_MAX_CONNECTIONS`` connections per database settings and
    process, kept while a checkpointer opened here on them is open (``hold_postgres``),
    else for the process; ``RunStore.close`` lets go of it.
    """
    key = settings_key(conninfo, kwargs)
    with KEPT_GUARD:
        store = KEPT.get(key)
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
            sql.setup(PG_DDL, TABLE)
        except BaseException:
            pool.close()
            raise
        store = RunStore(sql, shared=True, key=key, database=database)
        store.users = 1
        KEPT[key] = store
        return store


# Checkpointers ``open_checkpointer``/``open_async_checkpointer`` opened and not yet
# closed, by database settings (``settings_key``).
_HELD: dict[tuple[Any, ...], int] = {}


def hold_postgres(conninfo: str, kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """A checkpointer opened here uses these database settings: their runs store stays
    open until it closes (``release_postgres``). Returns the settings' key."""
    key = settings_key(conninfo, kwargs)
    with KEPT_GUARD:
        _HELD[key] = _HELD.get(key, 0) + 1
        store = KEPT.get(key)
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
    with KEPT_GUARD:
        left = _HELD.get(key, 0) - 1
        if left > 0:
            _HELD[key] = left
            return False
        _HELD.pop(key, None)
        store = KEPT.get(key)  # under these settings, always a pool
        if store is None:
            return True
        store.released = True
        if store.users > 0:
            return True
        del KEPT[key]
    store._sql.close()
    return True


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
