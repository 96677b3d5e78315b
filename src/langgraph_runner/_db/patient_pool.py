"""Pools whose waits for a connection keep their turn and are bounded by a stall.

``psycopg_pool`` queues the statements that find every connection busy, first come
first served. Under load (many runs at once, a busy CPU) that queue can be long and
still moving: a fixed bound on each statement's wait would fail runs only because the
process is busy. So here ``pool_timeout`` bounds how long a wait goes on while the pool
frees no connection at all (the server down or unreachable, every connection stuck in
a statement): as long as connections come back to the pool, a waiting statement waits
on. A stalled wait fails with ``DatabaseUnavailableError`` naming the database and the
``pool_timeout`` setting; waits are told to their run (``pool_wait``).

The async pool's waits keep their place in the queue while one watcher per pool looks
for a stall. While every connection is lent out (psycopg_pool's own count: none idle,
none being opened), and while anyone already waits there, a statement waits in the
pool's own queue, and a returned connection (open, idle, no transaction left) is handed
straight to the first in it: psycopg_pool's own wait costs a task, a timer and a
condition per statement, which under many runs at once cost more CPU, and kept more
objects alive for the garbage collector, than the round trips the pool saves. Anything
else goes through psycopg_pool (reset, replaced); a connection that lands idle in it
(returned, fresh or a replacement) is asked for by the first statement waiting here.

The sync pool cannot watch while it waits: after a stall window in which
connections still came back, it asks again.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from typing import Any

from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from langgraph_runner._db.pool_wait import Telling, stalled

__all__ = ["PatientAsyncPool", "PatientPool"]

FOREVER = 365 * 24 * 3600.0
"""psycopg_pool's own bound on a wait here: none in practice (the stall bounds it)."""


class PatientPool(ConnectionPool):
    """A ``ConnectionPool`` whose waits are bounded by a stall, not by their length."""

    def __init__(
        self, *args: Any, database: str = "postgres", notice: float = 1.0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.database = database
        self.notice = notice
        self.freed_at = time.monotonic()

    def putconn(self, conn: Any) -> None:
        self.freed_at = time.monotonic()
        super().putconn(conn)

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


class PatientAsyncPool(AsyncConnectionPool):
    """An ``AsyncConnectionPool`` whose waits are bounded by a stall, not by their length;
    a waiting statement keeps its place in the queue.

    One watcher task per pool (while statements wait) tells the waits that lasted a
    notice and, when the pool stalls, stops them (they fail naming ``pool_timeout``).
    """

    def __init__(
        self,
        *args: Any,
        database: str = "postgres",
        notice: float = 1.0,
        on_return: Callable[[Any], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.database = database
        self.notice = notice
        self.on_return = on_return  # told of each connection that goes back idle
        self.freed_at = time.monotonic()
        self._waits: dict[asyncio.Task[Any], Telling] = {}
        self._watcher: asyncio.Future[None] | None = None
        self._queue: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._passing: set[asyncio.Future[None]] = set()
        self._their_turn = False

    async def putconn(self, conn: Any) -> None:
        self.freed_at = time.monotonic()
        theirs = bool(getattr(self, "_waiting", None))  # waits in psycopg_pool's own queue
        if self._queue and _reusable(conn) and not (theirs and self._their_turn):
            self._their_turn = True  # (when both queues wait, they take turns)
            waiter = self._next_waiter()
            if waiter is not None:  # straight to the next statement waiting here
                waiter.set_result(conn)  # still lent: to the waiter
                return
        self._their_turn = False
        if self.on_return is not None:
            self.on_return(conn)
        await super().putconn(conn)  # idle, reset, replaced or to psycopg_pool's first waiter

    async def _add_to_pool(self, conn: Any) -> None:
        """psycopg_pool's own: a connection (returned, fresh or a replacement) goes to its
        first waiter, else into the idle pool; then one statement waiting here asks for it."""
        await super()._add_to_pool(conn)
        self._wake_if_idle()

    def _wake_if_idle(self) -> None:
        """While a connection is idle, the first statement waiting here asks the pool for it."""
        if getattr(self, "_pool", None):
            waiter = self._next_waiter()
            if waiter is not None:
                waiter.set_result(None)

    def _waiting_here(self) -> bool:
        """Whether a statement waits in this pool's own queue (stopped waits dropped)."""
        queue = self._queue
        while queue and queue[0].done():
            queue.popleft()
        return bool(queue)

    def _next_waiter(self) -> asyncio.Future[Any] | None:
        """The longest waiting statement of this pool's own queue still waiting."""
        while self._queue:
            waiter = self._queue.popleft()
            if not waiter.done():
                return waiter
        return None

    def _all_lent(self) -> bool:
        """Whether every connection the pool may open is open and lent out: none idle, none
        being opened (a connection handed to one of psycopg_pool's own waiters counts as
        lent from that moment, not only once its waiter resumes)."""
        return (
            not getattr(self, "_pool", True)
            and getattr(self, "_nconns", 0) >= self.max_size
            and not getattr(self, "_growing", True)
        )

    async def getconn(self, timeout: float | None = None) -> Any:
        stall = float(self.timeout if timeout is None else timeout)
        if (
            getattr(self, "_pool", None)
            and not getattr(self, "_waiting", True)
            and not self._waiting_here()
        ):
            return await super().getconn(timeout=stall)  # free, nobody waits: nothing to watch
        me = asyncio.current_task()
        if me is None:  # pragma: no cover - always in a task under asyncio
            return await super().getconn(timeout=stall)
        told = Telling(self.database, self.notice)
        told.stall = stall
        self._waits[me] = told
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.ensure_future(self._watch())
        try:
            if self._waiting_here() or self._all_lent():
                # Every connection is lent out (each comes back through ``putconn``), or a
                # statement already waits here: wait in this pool's own queue, where
                # ``putconn`` hands a connection straight over and one landing idle wakes
                # the first waiter (None: ask the pool). In this coroutine, not one of its
                # own: thousands wait at once, each kept alive for the garbage collector.
                waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                self._queue.append(waiter)
                try:
                    conn = await waiter
                except asyncio.CancelledError:
                    self._pass_on(waiter)
                    raise
            else:
                conn = None  # a connection is free or coming: the pool gives it
            if conn is None:
                conn = await super().getconn(timeout=FOREVER)
        except asyncio.CancelledError:
            self._wake_if_idle()  # it may have been woken for an idle connection: pass that on
            if told.stalled and not _still_cancelled(me):
                raise stalled(self.database, stall, self.max_size) from None
            raise
        finally:
            self._waits.pop(me, None)
        told.over()
        return conn

    def _pass_on(self, waiter: asyncio.Future[Any]) -> None:
        """A wait stopped just as a connection was handed to it: give that to the next."""
        if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
            handed = waiter.result()
            self._passing.add(task := asyncio.ensure_future(self.putconn(handed)))
            task.add_done_callback(self._passing.discard)

    async def _watch(self) -> None:
        """While statements wait: tell each wait past its notice; on a stall, stop them
        (psycopg_pool gives back a connection handed to a stopped wait)."""
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
