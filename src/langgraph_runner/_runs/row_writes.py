"""Writing a run's row when the database is slow or flaky: bounded retries, clear errors.

A run's row is written before any node runs (``RunStore.start``) and its final status
when it ends (``RunStore.finish``). Both go through the store's bounded wait for a
connection and its retry on a broken one (``pool``); the final status is also tried
again a few times with a growing pause, since the run's work is done and only its
record is missing. If it still cannot be written, the row stays ``running`` until its
lease runs out and a reader marks it ``abandoned``.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph_runner._db.pool import DatabaseUnavailableError
from langgraph_runner._db.storage import postgres_settings, saver_kind, sqlite_file
from langgraph_runner._runs.run_store import RunStore

__all__ = ["FINISH_DELAYS", "finish_with_retries", "saver_database", "store_unavailable"]

FINISH_DELAYS = (0.1, 0.5, 2.0)
"""Pauses between the attempts at a run's final status (one more attempt than pauses)."""
_sleep = time.sleep  # tests replace it: retry waits never really sleep there


def finish_with_retries(store: RunStore, run_id: str, status: str, reason: str | None) -> None:
    """``store.finish``, tried again after each of ``FINISH_DELAYS`` if it raises."""
    for delay in (*FINISH_DELAYS, None):
        try:
            store.finish(run_id, status, reason)
            return
        except Exception:
            if delay is None:
                raise
            _sleep(delay)


def saver_database(saver: Any) -> str:
    """The database a saver writes to, named without a password (``postgres:h:p/db``)."""
    kind = saver_kind(saver)
    if kind == "postgres":
        from langgraph_runner._db.pool import database_name

        try:
            conninfo, kwargs = postgres_settings(saver.conn)
        except Exception:
            return "postgres"
        return database_name(conninfo, kwargs)
    if kind == "sqlite":
        try:
            return f"sqlite:{sqlite_file(saver) or ':memory:'}"
        except Exception:  # an async saver asked on its own loop
            return "sqlite"
    return kind


def store_unavailable(exc: BaseException, database: str) -> BaseException:
    """The error a run raises when its row cannot be written: no node ran."""
    if isinstance(exc, DatabaseUnavailableError):
        database = exc.database
    return DatabaseUnavailableError(
        database,
        f"the run's row could not be written to the runs table ({type(exc).__name__}); "
        "no node ran: start the run again (on its thread it resumes from its last checkpoint)",
    )
