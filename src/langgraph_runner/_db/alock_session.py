"""The thread locks of an async PostgreSQL saver's runs, held on one async connection.

``lock_session`` holds a process's advisory locks on one sync connection, so an ``arun``
reaches it through a worker thread twice per run (take, let go). A worker thread's
statement, once answered, waits for the interpreter lock behind the busy event loop,
and with many runs in flight those waits made up most of what ``arun`` cost over a
bare ``ainvoke``. The savers ``open_async_checkpointer`` opens on PostgreSQL have a
session of their own instead: one ``psycopg.AsyncConnection``, opened on first use on
the saver's event loop and closed with the saver, holding the advisory locks of every
run on that saver. Takes and let-goes are statements awaited on the loop, and those
asked for while one is under way go together in the next: one round trip for many runs
however far the busy loop lags behind.

What ``lock_session`` says about broken connections holds here too: the next use, a
saver's retried write, or the process's watcher (``run_watch``, which schedules
``check`` on the session's loop) opens a new connection and takes every lock again;
a lock another process took in between is lost (its run told, its writes refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from typing import Any

from langgraph_runner._db.broken import aretry_broken, is_broken, server_down
from langgraph_runner._db.lock_session import HeldLocks, LockHolder, one_session
from langgraph_runner._internal.extras import require_extra

__all__ = ["AsyncLockSession", "asessions"]

_log = logging.getLogger("langgraph_runner.runs")

_OPEN: weakref.WeakSet[AsyncLockSession] = weakref.WeakSet()
_OPEN_GUARD = threading.Lock()
_LATE: set[asyncio.Future[None]] = set()  # let-goes of takes whose caller was cancelled


class AsyncLockSession(HeldLocks):
    """The advisory locks of one async saver's runs on one connection (see above)."""

    def __init__(self, conninfo: str, kwargs: dict[str, Any], database: str) -> None:
        super().__init__(database)
        self.conninfo = conninfo
        self.kwargs = kwargs
        require_extra("postgres", "psycopg_pool")
        self._pool: Any = None
        self._conn: Any = None
        self._guard: asyncio.Lock | None = None
        self._queue: list[tuple[int, bool, asyncio.Future[bool]]] = []
        self._taking: set[int] = set()
        self._flusher: asyncio.Future[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._checking: Any = None  # the watcher's pending check, if any
        self.closed = False

    def _bind(self) -> asyncio.Lock:
        """The guard of this session's statements; the session is bound to the first
        loop that uses it (its saver's loop)."""
        loop = asyncio.get_running_loop()
        if self.loop is None:
            self.loop, self._guard = loop, asyncio.Lock()
            with _OPEN_GUARD:
                _OPEN.add(self)
        elif self.loop is not loop:
            raise RuntimeError(
                "the saver's thread locks are used from another event loop than its own"
            )
        assert self._guard is not None
        return self._guard

    async def _connect(self) -> list[LockHolder]:
        """A new connection that takes every held lock again; the holders that lost theirs."""
        await self._drop()
        self._conn = await self._take()
        taken: dict[int, bool] = {}
        if self._held:
            cursor = await self._conn.execute(
                "SELECT k, pg_try_advisory_lock(k) FROM unnest(%s::bigint[]) AS k",
                (list(self._held),),
            )
            taken = {key: bool(ok) for key, ok in await cursor.fetchall()}
        return self._retaken(taken)

    async def _take(self) -> Any:
        """The session's connection, from its pool of one (opened on first use, on the
        saver's loop)."""
        from psycopg_pool import AsyncConnectionPool, PoolTimeout

        if self._pool is None:
            self._pool = AsyncConnectionPool(self.conninfo, **one_session(self.kwargs))
            await self._pool.open(wait=False)
        try:
            return await self._pool.getconn()
        except PoolTimeout as exc:  # the server is down: as a broken connection
            raise server_down(self.database) from exc

    async def _drop(self) -> None:
        """Give back the connection, closed (a broken one, or its locks in doubt): the pool
        opens a new one for the next statement."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
            with contextlib.suppress(Exception):
                await self._pool.putconn(conn)

    async def _close_pool(self) -> None:
        """Close the connection and its pool (the locks end with it)."""
        conn, self._conn = self._conn, None
        pool, self._pool = self._pool, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
        if pool is not None:
            with contextlib.suppress(Exception):
                await pool.close()

    async def _statement(self, ops: list[tuple[int, bool]]) -> tuple[list[bool], list[LockHolder]]:
        """Take (True) or let go (False) each key, in one statement; the answers and the
        holders a reconnect found lost. Its keys are distinct (see ``try_lock``)."""
        sql = (
            "SELECT CASE WHEN op THEN pg_try_advisory_lock(k) ELSE pg_advisory_unlock(k) END "
            "FROM unnest(%s::bigint[], %s::boolean[]) WITH ORDINALITY AS t(k, op, i) ORDER BY i"
        )
        params = ([k for k, _ in ops], [op for _, op in ops])
        lost: list[LockHolder] = []
        rows = await aretry_broken(self._fetch, sql, params, lost, **self._retrying)
        return [bool(row[0]) for row in rows], lost

    async def _fetch(self, sql: str, params: Any, lost: list[LockHolder]) -> list[Any]:
        """``sql`` on the session's connection (a new one if it has none: ``lost`` gets the
        holders that lost their lock meanwhile); its rows. No ``sql``: the new connection
        or a round trip proves it alive."""
        if self._conn is None or self._conn.closed:
            lost += await self._connect()
            if not sql:
                return []
        cursor = await self._conn.execute(sql, params)
        return list(await cursor.fetchall()) if sql else []

    def _submit(self, key: int, take: bool) -> asyncio.Future[bool]:
        """Queue one take or let-go for the next statement; its answer."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((key, take, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        return future

    async def _flush(self) -> None:
        """Run the queued takes and let-goes, all those queued meanwhile in one statement."""
        guard = self._bind()
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                async with guard:
                    answers, lost = await self._statement([(k, take) for k, take, _ in batch])
            except Exception as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)
            self._tell(lost)

    async def try_lock(self, holder: LockHolder) -> bool:
        """Take ``holder.key`` (False: this saver's runs or another session hold it).

        Takes and let-goes asked for while a statement is under way go together in the
        next one: one round trip for many runs, whatever the event loop's lag.

        Raises:
            RuntimeError: The saver was closed.
        """
        if self.closed:
            raise RuntimeError(f"the checkpointer on {self.database} is closed")
        self._bind()
        key = holder.key
        # Held (also while being let go) or being taken here: refused, so that a statement
        # never holds the same key twice and its order does not matter.
        if key in self._held or key in self._taking:
            return False
        self._taking.add(key)
        future = self._submit(key, True)
        try:
            taken = await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(lambda done: self._taken_too_late(holder, done))
            raise
        finally:
            self._taking.discard(key)
        if taken:
            self._held[key] = holder
        return taken

    def _taken_too_late(self, holder: LockHolder, done: asyncio.Future[bool]) -> None:
        """A take whose caller was cancelled: let the lock go again if it was taken."""
        if done.cancelled() or done.exception() is not None or not done.result():
            return
        self._held[holder.key] = holder
        task = asyncio.ensure_future(self.unlock(holder))
        _LATE.add(task)
        task.add_done_callback(_LATE.discard)

    async def unlock(self, holder: LockHolder) -> None:
        """Let go of ``holder``'s lock (nothing if it was lost)."""
        key = holder.key
        if self._held.get(key) is not holder:
            return
        self._bind()
        if self._conn is None or self._conn.closed:
            del self._held[key]  # the connection ended: the server freed the lock
            return
        future = self._submit(key, False)
        # Held until the statement ran, also when the caller is cancelled meanwhile: a
        # take of the same key waits for the next statement.
        future.add_done_callback(lambda done: self._let_go(holder, done))
        try:
            await asyncio.shield(future)
        except Exception as exc:
            if not is_broken(exc):
                raise
            # The connection broke: its locks are gone; the others are taken again on the
            # next use or check.

    def _let_go(self, holder: LockHolder, done: asyncio.Future[bool]) -> None:
        if not done.cancelled():
            done.exception()  # seen here, also when the caller stopped waiting
        if self._held.get(holder.key) is holder:
            del self._held[holder.key]

    async def check(self) -> None:
        """Prove the connection alive (one round trip); else take every lock again."""
        if not self._held or self.closed:
            return
        lost: list[LockHolder] = []
        async with self._bind():
            if not self._held:
                return
            try:
                await aretry_broken(self._fetch, "", (), lost, **self._retrying)
            except Exception as exc:
                lost = self._in_doubt(exc)
        self._tell(lost)

    def check_soon(self) -> None:
        """Schedule ``check`` on the session's loop, from any thread (the watcher's): at
        most one pending at a time; nothing if the loop is gone."""
        loop = self.loop
        if loop is None or loop.is_closed() or not self._held or self.closed:
            return
        pending = self._checking
        if pending is not None and not pending.done():
            return
        try:
            self._checking = asyncio.run_coroutine_threadsafe(self.check(), loop)
        except RuntimeError:  # the loop closed meanwhile
            return
        self._checking.add_done_callback(_seen)

    async def aclose(self) -> None:
        """Close the connection (its locks end with it); the session takes no more locks."""
        self.closed = True
        self._held.clear()
        guard = self._guard
        if guard is not None and self.loop is asyncio.get_running_loop():
            async with guard:  # after the statement under way, if any
                await self._close_pool()
        else:  # never used, or its loop is not this one: nothing runs on it here
            await self._close_pool()
        with _OPEN_GUARD:
            _OPEN.discard(self)


def _seen(done: Any) -> None:
    if not done.cancelled() and done.exception() is not None:
        _log.debug("async lock session unchecked: %s", type(done.exception()).__name__)


def asessions() -> list[AsyncLockSession]:
    """The async lock sessions in use now (for the process's watcher)."""
    with _OPEN_GUARD:
        return [s for s in _OPEN if not s.closed]
