"""The effect ledger's table and connection: SQL shared by SQLite and PostgreSQL.

Private to ``langgraph_runner._runs.effects``; every statement runs autocommitted on a
connection of the ledger's own, and each one is atomic on its own.
"""

from __future__ import annotations

from langgraph_runner._runs.sql import Db, open_postgres, open_sqlite

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
