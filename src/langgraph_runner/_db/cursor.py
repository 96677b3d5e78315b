"""A PostgreSQL saver's cursor on a pool: a connection straight from the pool, one object.

LangGraph's savers open each statement's cursor through three nested generator context
managers (the saver's ``_cursor``, ``get_connection`` and the pool's ``connection()``),
each with its generator, its frame and its awaitable, all alive while the statement
waits for a connection. With many runs in flight thousands of statements wait at once,
and every full garbage collection walks them. Here one object takes a connection from the
pool (``getconn``), opens what LangGraph's ``_cursor`` opens on it (a pipeline, or a
transaction where pipelines are not supported, when asked for; a binary ``dict_row``
cursor) and gives it back (``putconn``), which resets a connection left in a transaction
or replaces a broken one. Like ``connection()`` it commits a transaction left open by a
statement that succeeded and rolls back one left by a statement that failed (on the
pools the package opens, in autocommit mode, there is none).

Both cursors give the connection back through one generator of the steps
(``_releasing``): the sync cursor runs it through, the async one awaits each step.

``pg_savers`` uses it for savers on a pool; a saver on one connection (or in pipeline
mode) keeps LangGraph's own ``_cursor``.
"""

from __future__ import annotations

from collections.abc import Generator
from types import TracebackType
from typing import Any

from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

__all__ = ["AsyncPooledCursor", "PooledCursor"]


class _Cursor:
    """What both cursors hold: the pool, what to open, and what was opened."""

    __slots__ = ("_block", "_conn", "_cur", "_pipeline", "_pool", "_supports_pipeline")

    def __init__(self, pool: Any, pipeline: bool, supports_pipeline: bool) -> None:
        self._pool = pool
        self._pipeline = pipeline
        self._supports_pipeline = supports_pipeline
        self._conn: Any = None
        self._block: Any = None
        self._cur: Any = None

    def _opened(self, conn: Any) -> Any:
        """The block ``pipeline=True`` asks for: a pipeline, else a transaction."""
        return conn.pipeline() if self._supports_pipeline else conn.transaction()

    def _releasing(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> Generator[Any, None, None]:
        """Give the connection back, in order: close the cursor, leave the block, end a
        transaction left open (commit after success, roll back after a failure), put the
        connection back. Yields what each of those calls returns: None from a sync
        connection, an awaitable from an async one, which ``AsyncPooledCursor`` awaits
        (throwing back in what it raises, so the later steps still run)."""
        conn, self._conn = self._conn, None
        try:
            try:
                if self._cur is not None:
                    yield self._cur.close()
            finally:
                if self._block is not None:
                    yield self._left(self._block, kind, error, tb)
            if _in_transaction(conn):
                yield conn.commit() if kind is None else conn.rollback()
        finally:
            self._cur = self._block = None
            yield self._pool.putconn(conn)

    def _left(self, block: Any, *exc_info: Any) -> Any:
        """``block``'s exit (``__exit__``; ``__aexit__`` on the async cursor)."""
        return block.__exit__(*exc_info)


class PooledCursor(_Cursor):
    """``with PooledCursor(pool, pipeline, supports_pipeline) as cur:``, on a sync pool."""

    __slots__ = ()

    def __enter__(self) -> Any:
        conn = self._conn = self._pool.getconn()
        try:
            if self._pipeline:
                block = self._opened(conn)
                block.__enter__()
                self._block = block
            self._cur = conn.cursor(binary=True, row_factory=dict_row)
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self._cur

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for _ in self._releasing(kind, error, tb):  # each step ran as it was yielded
            pass


class AsyncPooledCursor(_Cursor):
    """``async with AsyncPooledCursor(pool, pipeline, supports_pipeline) as cur:``."""

    __slots__ = ()

    async def __aenter__(self) -> Any:
        conn = self._conn = await self._pool.getconn()
        try:
            if self._pipeline:
                block = self._opened(conn)
                await block.__aenter__()
                self._block = block
            self._cur = conn.cursor(binary=True, row_factory=dict_row)
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self._cur

    def _left(self, block: Any, *exc_info: Any) -> Any:
        return block.__aexit__(*exc_info)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        steps = self._releasing(kind, error, tb)
        step = next(steps)  # there is always a step: putting the connection back
        while True:
            try:
                await step
            except BaseException as exc:
                step = steps.throw(exc)  # re-raised once the steps after it ran
            else:
                step = next(steps, _DONE)
            if step is _DONE:
                return


_DONE: Any = object()


def _in_transaction(conn: Any) -> bool:
    """Whether a transaction is open on ``conn`` (never in autocommit mode)."""
    status = conn.pgconn.transaction_status
    return bool(status == TransactionStatus.INTRANS or status == TransactionStatus.INERROR)
