"""A database of a table's own: SQLite or PostgreSQL, every statement autocommitted.

The effect ledger (``effects``) and the runs table (``run_store``) keep their rows beside
the checkpointer's tables through a connection like this one: on SQLite one connection
(``Db``); on PostgreSQL a pool of one connection (``pool.PooledDb``: a broken connection
is replaced and its statement run again).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from langgraph_runner._db.pool import PooledDb, database_name, pool_options, sync_pool

__all__ = ["Db", "add_sqlite_columns", "open_postgres", "open_sqlite", "rows_creating", "where_in"]


class Db:
    """One connection: SQLite (``?`` placeholders) or PostgreSQL, statements autocommitted."""

    def __init__(self, conn: Any, placeholder: str) -> None:
        self.conn = conn
        self._placeholder = placeholder
        self._lock = threading.Lock()

    @property
    def postgres(self) -> bool:
        """Whether the connection is PostgreSQL's (else SQLite's)."""
        return self._placeholder != "?"

    def run(self, sql: str, params: Sequence[Any] = ()) -> tuple[int, list[Any]]:
        """Execute one statement (written with ``?``); its row count and its rows."""
        if self._placeholder != "?":
            sql = sql.replace("?", self._placeholder)
        with self._lock:
            cur = self.conn.execute(sql, tuple(params))
            rows = cur.fetchall() if cur.description else []
            return cur.rowcount, list(rows)

    def setup(self, ddl: Sequence[str], table: str) -> None:
        """Run ``ddl`` (idempotent statements); on PostgreSQL one worker at a time."""
        with self._lock:
            if self._placeholder == "?":
                for statement in ddl:
                    self.conn.execute(statement)
                return
            with self.conn.transaction():  # concurrent CREATE ... IF NOT EXISTS can collide
                self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (table,))
                for statement in ddl:
                    self.conn.execute(statement)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.conn.close()


def open_sqlite(path: str) -> Db:
    """A connection to the SQLite file at ``path`` (``":memory:"``: a private database)."""
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30.0, isolation_level=None)
    return Db(conn, "?")


def open_postgres(conninfo: str, **kwargs: Any) -> PooledDb:
    """PostgreSQL on a pool of one connection, autocommitted (needs the ``postgres`` extra)."""
    database = database_name(conninfo, kwargs)
    pool = sync_pool(
        conninfo,
        {**kwargs, "autocommit": True},
        pool_options("open_postgres", max_connections=1),
        name="langgraph-runner-db",
        database=database,
    )
    return PooledDb(pool, database)


def rows_creating(
    db: Db | PooledDb, ddl: Sequence[str], table: str, sql: str, params: Sequence[Any]
) -> list[Any]:
    """The rows of one statement on ``db``, creating ``table`` (``ddl``) first if it is missing."""
    try:
        return db.run(sql, params)[1]
    except Exception:  # no table yet (a new database): create it and try once more
        db.setup(ddl, table)
        return db.run(sql, params)[1]


def add_sqlite_columns(db: Db | PooledDb, table: str, added: Iterable[tuple[str, str]]) -> None:
    """Give a SQLite ``table`` made by an older version the ``(name, type)`` columns it lacks
    (PostgreSQL says ``ADD COLUMN IF NOT EXISTS`` in its DDL instead)."""
    _, rows = db.run(f"PRAGMA table_info({table})")
    have = {str(r[1]) for r in rows}
    for name, kind in added:
        if name not in have:
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it
                db.run(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


IN_CHUNK = 500
"""Values per ``IN (...)`` list on SQLite (its limit on parameters is 999 in old builds)."""


def where_in(
    postgres: bool, column: str, values: Sequence[Any]
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """``column`` among ``values``, as conditions (``?`` placeholders) and their parameters.

    PostgreSQL: one condition on one array (``= ANY(?)``), the same text for any number of
    values, which psycopg parses once (it parses a statement of more than 50 parameters
    anew on every call). SQLite: ``IN`` lists of up to ``IN_CHUNK`` values. No values: none.
    """
    if not values:
        return
    if postgres:
        yield f"{column} = ANY(?)", (list(values),)
        return
    for at in range(0, len(values), IN_CHUNK):
        chunk = tuple(values[at : at + IN_CHUNK])
        yield f"{column} IN ({', '.join('?' * len(chunk))})", chunk
