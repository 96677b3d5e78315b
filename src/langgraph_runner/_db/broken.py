"""A broken connection: how to tell one, and the one retry of a statement on a fresh one.

A statement that meets a broken connection (a terminated backend, a restarted server,
a cut network) runs again on a fresh connection; any other error (a bad statement, a
pool that timed out or was closed) is raised at once. Every caller in the package goes
through ``retry_broken`` (sync) or ``aretry_broken`` (async): pooled statements
(``pool.PooledDb``, ``arun``'s rows), the checkpointers' reads and writes, the lock
sessions and the node cache. Only what a fresh connection is differs, so each caller
hands its own ``on_retry`` (check the pool, open the session again), run before each
retry inside its attempt: a break while getting the fresh connection counts as one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from langgraph_runner._internal.extras import require_extra
from langgraph_runner._records.exceptions import DatabaseUnavailableError

__all__ = [
    "RETRIES",
    "aretry_broken",
    "gave_up",
    "is_broken",
    "raise_last",
    "retry_broken",
    "server_down",
]

RETRIES = 3
"""Attempts of one statement that meets a broken connection (each on a fresh one)."""

_log = logging.getLogger("langgraph_runner.runs")
T = TypeVar("T")
GaveUp = Callable[[str, int, BaseException], BaseException]
"""``(database, attempts, last error)``: the error raised once the attempts are spent."""


def is_broken(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection broke (retry on a fresh one), not a bad statement.

    A pool that timed out is no broken connection: the wait is over, retrying waits again.
    Nor is a closed pool: no retry opens it again.
    """
    psycopg = require_extra("postgres", "psycopg")
    pool = require_extra("postgres", "psycopg_pool")
    if isinstance(exc, (pool.PoolTimeout, pool.PoolClosed)):
        return False
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


def gave_up(database: str, attempts: int, exc: BaseException) -> BaseException:
    """The default error once the attempts are spent: ``DatabaseUnavailableError``."""
    return DatabaseUnavailableError(
        database, f"connection broken {attempts} times in a row ({type(exc).__name__})"
    )


def retry_broken(
    once: Callable[..., T],
    *args: Any,
    database: str,
    attempts: int = RETRIES,
    on_retry: Callable[[], object] | None = None,
    giving_up: GaveUp = gave_up,
) -> T:
    """``once(*args)``, again after ``on_retry()`` when it met a broken connection.

    Args:
        once: One attempt (its arguments ``args``: no closure needed per call).
        database: Named in the log and the error (``postgres:host:port/db``).
        attempts: Attempts in all.
        on_retry: Gets a fresh connection before each retry (its break is an attempt's).
        giving_up: The error raised (from the last one) once the attempts are spent.
    """
    attempt = 1
    while True:
        try:
            if attempt > 1 and on_retry is not None:
                on_retry()
            return once(*args)
        except Exception as exc:
            _again_or_raise(exc, attempt, attempts, database, giving_up)
        attempt += 1


async def aretry_broken(
    once: Callable[..., Awaitable[T]],
    *args: Any,
    database: str,
    attempts: int = RETRIES,
    on_retry: Callable[[], Awaitable[object]] | None = None,
    giving_up: GaveUp = gave_up,
) -> T:
    """The async ``retry_broken``: ``await once(*args)``, again after ``await on_retry()``."""
    attempt = 1
    while True:
        try:
            if attempt > 1 and on_retry is not None:
                await on_retry()
            return await once(*args)
        except Exception as exc:
            _again_or_raise(exc, attempt, attempts, database, giving_up)
        attempt += 1


def _again_or_raise(
    exc: Exception, attempt: int, attempts: int, database: str, giving_up: GaveUp
) -> None:
    """In an ``except``: raise ``exc`` unless it is a broken connection and attempts are
    left (then say so); after the last, ``giving_up``'s error."""
    if not is_broken(exc):
        raise exc
    if attempt >= attempts:
        error = giving_up(database, attempts, exc)
        if error is exc:
            raise exc
        raise error from exc
    _log.warning("retrying on a fresh connection to %s: %s", database, type(exc).__name__)


def raise_last(database: str, attempts: int, exc: BaseException) -> BaseException:
    """A ``giving_up`` that raises the last error itself (the driver's, as it was)."""
    return exc


def server_down(database: str) -> BaseException:
    """A pool that opened no connection in time, told as a broken connection (``is_broken``):
    the caller that needs one session of its own treats both alike."""
    psycopg = require_extra("postgres", "psycopg")
    error: BaseException = psycopg.OperationalError(
        f"no connection to {database} could be opened (the server is down or unreachable)"
    )
    return error
