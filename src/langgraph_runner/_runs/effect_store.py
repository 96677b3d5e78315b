"""The effect ledger's table and connection: SQL shared by SQLite and PostgreSQL.

Private to ``langgraph_runner._runs.effects``; every statement runs autocommitted on a
connection of the ledger's own, and each one is atomic on its own.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from langgraph_runner._internal.extras import require_extra

__all__ = [
    "CLAIM",
    "COMPLETE",
    "DDL",
    "DELETE_THREAD",
    "READ",
    "RELEASE",
    "TABLE",
    "TAKE_OVER",
    "Db",
    "open_postgres",
    "open_sqlite",
]

TABLE = "langgraph_runner_effects"
"""The name of the ledger's table, created beside the checkpointer's own tables."""

DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " idempotency_key TEXT NOT NULL, effect TEXT NOT NULL, thread_id TEXT,"
    " state TEXT NOT NULL, owner TEXT NOT NULL, claimed_at DOUBLE PRECISION NOT NULL,"
    " completed_at DOUBLE PRECISION, result TEXT,"
    " PRIMARY KEY (idempotency_key, effect))",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_thread ON {TABLE} (thread_id)",
)
CLAIM = (
    f"INSERT INTO {TABLE} (idempotency_key, effect, thread_id, state, owner, claimed_at)"
    " VALUES (?, ?, ?, 'claimed', ?, ?) ON CONFLICT (idempotency_key, effect) DO NOTHING"
)
READ = f"SELECT state, result FROM {TABLE} WHERE idempotency_key = ? AND effect = ?"
TAKE_OVER = (
    f"UPDATE {TABLE} SET owner = ?, claimed_at = ?"
    " WHERE idempotency_key = ? AND effect = ? AND state = 'claimed' AND claimed_at < ?"
)
COMPLETE = (
    f"UPDATE {TABLE} SET state = 'done', completed_at = ?, result = ?"
    " WHERE idempotency_key = ? AND effect = ? AND owner = ?"
)
RELEASE = (
    f"DELETE FROM {TABLE}"
    " WHERE idempotency_key = ? AND effect = ? AND owner = ? AND state = 'claimed'"
)
DELETE_THREAD = f"DELETE FROM {TABLE} WHERE thread_id = ?"


class Db:
    """One connection of the ledger's own: SQLite or PostgreSQL, every statement autocommitted."""

    def __init__(self, conn: Any, placeholder: str) -> None:
        self._conn = conn
        self._placeholder = placeholder
        self._lock = threading.Lock()

    def run(self, sql: str, params: Sequence[Any] = ()) -> tuple[int, list[Any]]:
        """Execute one statement; its row count and its rows."""
        if self._placeholder != "?":
            sql = sql.replace("?", self._placeholder)
        with self._lock:
            cur = self._conn.execute(sql, tuple(params))
            rows = cur.fetchall() if cur.description else []
            return cur.rowcount, list(rows)

    def setup(self) -> None:
        """Create the table and its index if missing (PostgreSQL: one worker at a time)."""
        with self._lock:
            if self._placeholder == "?":
                for statement in DDL:
                    self._conn.execute(statement)
                return
            with self._conn.transaction():  # concurrent CREATE ... IF NOT EXISTS can collide
                self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
                for statement in DDL:
                    self._conn.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_sqlite(path: str) -> Db:
    """A connection of the ledger's own to the SQLite file at ``path``."""
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30.0, isolation_level=None)
    return Db(conn, "?")


def open_postgres(conninfo: str, **kwargs: Any) -> Db:
    """A connection of the ledger's own to PostgreSQL (needs the ``postgres`` extra)."""
    psycopg = require_extra("postgres", "psycopg")
    return Db(psycopg.connect(conninfo, autocommit=True, **kwargs), "%s")
