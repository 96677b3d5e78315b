"""Pools whose waits for a connection keep their turn and are bounded by a stall.

``psycopg_pool`` queues the statements that find every connection busy, first come
first served. Under load (many runs at once, a busy CPU) that queue can be long and
still moving: a fixed bound on each statement's wait would fail runs only because the
process is busy. So here ``pool_timeout`` bounds how long a wait goes on while the pool
frees no connection at all (the server down or unreachable, every connection stuck in
a statement): as long as connections come back to the pool, a waiting statement waits
on. A stalled wait fails with ``DatabaseUnavailableError`` naming the database and the
``pool_timeout`` setting; waits are told to their run (``pool_wait``).

Both pools use psycopg_pool's public API only (``getconn``, ``putconn``, ``timeout``,
``max_size``). The async pool bounds its statements the way procrastinate bounds its
jobs with a semaphore: ``max_size`` turns stand in front of ``getconn``. A statement
that finds every turn taken waits for one, first come first served, as one future in
the pool's own queue, and ``putconn`` hands a returned connection (open, no transaction
left) straight to the first waiting statement with its turn; anything else goes back
through psycopg_pool (reset or replaced) and the turn passes on. psycopg_pool's own wait
(a task, a timer and a condition per statement, which under many runs at once cost more
CPU than the round trips the pool saves) serves only a statement holding a turn while
its connection is being opened or replaced. One watcher task per pool, while
statements wait, tells the waits that lasted a notice and stops those of a stalled pool.

The sync pool cannot watch while it waits: it waits in psycopg_pool's own queue and,
after a stall window in which connections still came back, asks again.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolClosed, PoolTimeout

from langgraph_runner._db.pool_wait import Telling, stalled

__all__ = ["PatientAsyncPool", "PatientPool"]


class _Patient:
    """What both patient pools are made with beside psycopg_pool's own arguments: the
    database their errors name, when a wait is told, whom to tell of a returned
    connection; and when one was last returned (a wait stalls without one)."""

    def __init__(
        self,
        *args: Any,
        database: str = "postgres",
        notice: float = 1.0,
        on_return: Callable[[Any], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)  # psycopg_pool's pool
        self.database = database
        self.notice = notice
        self.on_return = on_return  # told of each connection that goes back to the pool
        self.freed_at = time.monotonic()


class PatientPool(_Patient, ConnectionPool):
    """A ``ConnectionPool`` whose waits are bounded by a stall, not by their length."""

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Any]:
        """psycopg_pool's ``connection()``, on this pool's own ``getconn``/``putconn``."""
        conn = self.getconn(timeout)
        try:
            with conn:  # commit, or roll back on an error (the pool's own behaviour)
                yield conn
        finally:
            self.putconn(conn)

    def putconn(self, conn: Any) -> None:
        self.freed_at = time.monotonic()
        if self.on_return is not None:
            self.on_return(conn)
        super().putconn(conn)  # back at once: idle for the next statement, reset or replaced

    def getconn(self, timeout: float | None = None) -> Any:
        stall = float(self.timeout if timeout is None else timeout)
        told = Telling(self.database, self.notice)
        while True:
            since = max(told.started, self.freed_at)
            window = stall - (time.monotonic() - since)
            if not told.told:
                window = min(window, self.notice)
            try:
                conn = super().getconn(timeout=max(window, 0.001))
            except PoolTimeout:
                told.tick()
                if time.monotonic() - max(told.started, self.freed_at) >= stall:
                    raise stalled(self.database, stall, self.max_size) from None
                continue
            told.over()
            return conn


class PatientAsyncPool(_Patient, AsyncConnectionPool):
    """An ``AsyncConnectionPool`` whose waits are bounded by a stall, not by their length;
    a waiting statement keeps its place in the queue.

    A statement takes one of ``max_size`` turns, then a connection; ``putconn`` hands
    the connection, with its turn, straight to the first statement waiting (when it is
    open and out of any transaction), else gives back the connection, then the turn. One
    watcher task per pool (while statements wait) tells the waits that lasted a notice
    and, when the pool stalls, stops them (they fail naming ``pool_timeout``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns = self.max_size  # turns free: at most max_size statements hold one
        self._queue: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._passing: set[asyncio.Future[None]] = set()
        self._waits: dict[asyncio.Task[Any], Telling] = {}
        self._watcher: asyncio.Future[None] | None = None

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[Any]:
        """psycopg_pool's ``connection()``, on this pool's own ``getconn``/``putconn``."""
        conn = await self.getconn(timeout)
        try:
            async with conn:  # commit, or roll back on an error (the pool's own behaviour)
                yield conn
        finally:
            await self.putconn(conn)

    async def getconn(self, timeout: float | None = None) -> Any:
        stall = float(self.timeout if timeout is None else timeout)
        if self._turns > 0 and not self._someone_waits():
            self._turns -= 1  # a turn is free, nobody waits
            conn = None
        else:
            conn = await self._wait_for_turn(stall)
            if conn is not None:
                return conn  # handed over, with its turn
        try:
            # A turn held: a connection is idle, or being opened (grown or replaced).
            return await super().getconn(timeout=stall)
        except PoolTimeout:
            self._give_turn()
            raise stalled(self.database, stall, self.max_size) from None
        except BaseException:
            self._give_turn()
            raise

    async def putconn(self, conn: Any) -> None:
        self.freed_at = time.monotonic()
        if self._queue and _reusable(conn):
            waiter = self._next_waiter()
            if waiter is not None:
                waiter.set_result(conn)  # still lent: to the next statement, with the turn
                return
        if self.on_return is not None:
            self.on_return(conn)
        try:
            await super().putconn(conn)  # idle, reset or replaced
        finally:
            self._give_turn()

    def _give_turn(self) -> None:
        """A turn ends: the first statement waiting takes it (and asks the pool)."""
        waiter = self._next_waiter()
        if waiter is not None:
            waiter.set_result(None)
        else:
            self._turns += 1

    def _someone_waits(self) -> bool:
        """Whether a statement waits in the queue (stopped waits dropped from its head)."""
        queue = self._queue
        while queue and queue[0].done():
            queue.popleft()
        return bool(queue)

    def _next_waiter(self) -> asyncio.Future[Any] | None:
        while self._queue:
            waiter = self._queue.popleft()
            if not waiter.done():
                return waiter
        return None

    async def close(self, timeout: float = 5.0) -> None:
        """psycopg_pool's ``close()``; the statements still waiting for a turn fail at once
        with ``PoolClosed``, as those waiting in psycopg_pool's own queue do."""
        await super().close(timeout)
        for task, told in list(self._waits.items()):
            if not told.stalled:
                told.stalled = True
                task.cancel()

    async def _wait_for_turn(self, stall: float) -> Any:
        """Wait for a turn, first come first served; told to the run, failed on a stall.
        A connection handed over with the turn, or None (ask the pool)."""
        me = asyncio.current_task()
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(waiter)
        told = Telling(self.database, self.notice)
        told.stall = stall
        if me is not None:
            self._waits[me] = told
            if self._watcher is None or self._watcher.done():
                self._watcher = asyncio.ensure_future(self._watch())
        try:
            conn = await waiter
        except asyncio.CancelledError:
            self._pass_on(waiter)
            if me is not None and told.stalled and not _still_cancelled(me):
                if self.closed:
                    raise PoolClosed(f"the pool {self.name!r} is closed") from None
                raise stalled(self.database, stall, self.max_size) from None
            raise
        finally:
            if me is not None:
                self._waits.pop(me, None)
        told.over()
        return conn

    def _pass_on(self, waiter: asyncio.Future[Any]) -> None:
        """A wait stopped just as its turn came: pass the turn (and a connection handed
        with it) to the next statement."""
        if not waiter.done() or waiter.cancelled():
            return
        handed = waiter.result()
        if handed is None:
            self._give_turn()
        else:
            self._passing.add(task := asyncio.ensure_future(self.putconn(handed)))
            task.add_done_callback(self._passing.discard)

    async def _watch(self) -> None:
        """While statements wait: tell each wait past its notice; on a stall, stop them."""
        while self._waits:
            every = min([self.notice, *(t.stall for t in self._waits.values())])
            await asyncio.sleep(every)
            now = time.monotonic()
            for task, told in list(self._waits.items()):
                told.tick()
                if not told.stalled and now - max(told.started, self.freed_at) >= told.stall:
                    told.stalled = True
                    task.cancel()


def _reusable(conn: Any) -> bool:
    """Whether a returned connection may serve the next statement as it is: open, idle, no
    transaction left (else the pool resets or replaces it)."""
    from psycopg.pq import TransactionStatus

    return not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE


def _still_cancelled(task: asyncio.Task[Any]) -> bool:
    """Undo the watcher's cancel; whether someone else asked ``task`` to stop too
    (Python 3.11+ counts the requests; before, the watcher's is the only one seen)."""
    uncancel = getattr(task, "uncancel", None)
    return bool(uncancel()) if uncancel is not None else False
