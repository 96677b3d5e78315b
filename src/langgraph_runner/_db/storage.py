"""Where a LangGraph checkpoint saver keeps its checkpoints: its kind, file or server.

Private helper of ``thread_lock`` and ``effects``, which both open a connection of
their own to the saver's storage (a lock beside the checkpoints, a ledger table in the
same database) and so must find that storage the same way.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any, Literal

from langgraph_runner._internal.extras import require_extra

__all__ = ["PostgresSettings", "asqlite_file", "postgres_settings", "saver_kind", "sqlite_file"]

SaverKind = Literal["postgres", "sqlite", "other"]
PostgresSettings = tuple[str, dict[str, Any]]
"""``(conninfo, connect keyword arguments)`` that open a new connection like the saver's."""

# Pool keyword arguments that shape how the saver uses its connections, not where they go.
_POOL_ONLY = {"autocommit", "row_factory", "prepare_threshold", "cursor_factory", "context"}


def saver_kind(saver: object) -> SaverKind:
    """``"postgres"`` or ``"sqlite"`` for LangGraph's savers (and subclasses), else ``"other"``."""
    for cls in type(saver).__mro__:
        if cls.__module__.startswith("langgraph.checkpoint.postgres"):
            return "postgres"
        if cls.__module__.startswith("langgraph.checkpoint.sqlite"):
            return "sqlite"
    return "other"


def _main_file(rows: Any) -> str:
    """The main database's file from ``PRAGMA database_list`` ("" in memory)."""
    return next((str(r[2] or "") for r in rows if r[1] == "main"), "")


async def asqlite_file(conn: Any) -> str:
    """The database file of an aiosqlite connection ("" in memory)."""
    async with conn.execute("PRAGMA database_list") as cursor:
        return _main_file(await cursor.fetchall())


def sqlite_file(saver: Any, *, on_its_loop: str = "ask from an async context") -> str:
    """The database file of a ``SqliteSaver`` or ``AsyncSqliteSaver`` ("" in memory).

    Raises:
        TypeError: An ``AsyncSqliteSaver`` asked from its own event loop, where the
            caller must use ``asqlite_file(saver.conn)``; ``on_its_loop`` says how.
    """
    conn = saver.conn
    if isinstance(conn, sqlite3.Connection):
        with saver.lock:
            return _main_file(conn.execute("PRAGMA database_list").fetchall())
    loop = getattr(saver, "loop", None)  # AsyncSqliteSaver: ask on its own event loop
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is None or running is loop:
        raise TypeError(f"{type(saver).__name__} is async: {on_its_loop}")
    return asyncio.run_coroutine_threadsafe(asqlite_file(conn), loop).result()


def postgres_settings(conn: Any) -> PostgresSettings:
    """How to open a connection to the server and database of a psycopg connection or pool.

    A pool keeps the string and keyword arguments it was given; a connection gives its
    settings, with the password its dsn leaves out.
    """
    if hasattr(conn, "conninfo") and hasattr(conn, "kwargs"):  # a psycopg_pool pool
        kwargs = {k: v for k, v in (conn.kwargs or {}).items() if k not in _POOL_ONLY}
        return str(conn.conninfo), kwargs
    conninfo = require_extra("postgres", "psycopg.conninfo")
    info = conn.info
    extra = {"password": info.password} if info.password else {}
    return str(conninfo.make_conninfo(info.dsn, **extra)), {}
