"""_db/patient_pool.py: a long queue that moves never fails; a stalled one does.

Each test opens its own pool of one connection (tagged with a unique
``application_name``) and holds it itself: no server setting is touched.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest

from langgraph_runner._db import pool
from langgraph_runner._db.pool import DatabaseUnavailableError
from tests.services import postgres_url


def _tagged() -> str:
    url = postgres_url()
    return f"{url}{'&' if '?' in url else '?'}application_name=lgr-queue-{uuid.uuid4().hex[:12]}"


def test_a_long_queue_that_moves_never_fails_async() -> None:
    """200 statements queue for one connection, each holding it a moment: the last waits
    far longer than pool_timeout, yet none fails (connections keep coming back)."""

    async def main() -> float:
        pool_ = await pool.async_pool(
            _tagged(),
            {"autocommit": True},
            pool.pool_options("test", max_connections=1, pool_timeout=2.0),
            name="test-queue",
        )
        try:

            async def one() -> None:
                async with pool_.connection() as conn:
                    await conn.execute("SELECT 1")
                    await asyncio.sleep(0.02)

            start = time.monotonic()
            await asyncio.gather(*(one() for _ in range(200)))
            return time.monotonic() - start
        finally:
            await pool_.close()

    assert asyncio.run(main()) >= 2.0  # the queue lasted past pool_timeout: none failed


def test_a_long_queue_that_moves_never_fails_sync() -> None:
    """The sync pool, from 40 threads: the same (a waiter asks again while the pool moves)."""
    pool_ = pool.sync_pool(
        _tagged(),
        {"autocommit": True},
        pool.pool_options("test", max_connections=1, pool_timeout=2.0),
        name="test-queue-sync",
    )
    failed: list[BaseException] = []

    def one() -> None:
        try:
            with pool_.connection() as conn:
                conn.execute("SELECT 1")
                time.sleep(0.1)
        except BaseException as exc:
            failed.append(exc)

    try:
        start = time.monotonic()
        workers = [threading.Thread(target=one) for _ in range(40)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        took = time.monotonic() - start
    finally:
        pool_.close()
    assert failed == [] and took >= 2.0  # the queue lasted past pool_timeout


def test_a_stalled_sync_wait_names_the_database_and_setting() -> None:
    """The sync pool's one connection is held: a wait fails after pool_timeout, naming
    the database and the setting; the connection held is still good afterwards."""
    url = _tagged()
    pool_ = pool.sync_pool(
        url,
        {"autocommit": True},
        pool.pool_options("test", max_connections=1, pool_timeout=0.2),
        name="test-stall-sync",
    )
    try:
        held = pool_.getconn()
        with pytest.raises(DatabaseUnavailableError, match="pool_timeout") as caught:
            pool_.getconn()
        assert caught.value.database == pool.database_name(url)
        pool_.putconn(held)
        with pool_.connection() as conn:
            assert conn.execute("SELECT 1").fetchone()[0] == 1
    finally:
        pool_.close()


def test_a_wait_cancelled_by_its_caller_is_cancelled_and_loses_no_connection() -> None:
    """A waiting statement whose task is cancelled raises CancelledError (not the stall
    error), and the pool's one connection is still there for the next statement."""

    async def main() -> int:
        pool_ = await pool.async_pool(
            _tagged(),
            {"autocommit": True},
            pool.pool_options("test", max_connections=1, pool_timeout=30),
            name="test-cancel",
        )
        try:
            held = await pool_.getconn()
            waiting = asyncio.create_task(pool_.getconn())
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await pool_.putconn(held)
            async with pool_.connection() as conn:
                row = await (await conn.execute("SELECT 1")).fetchone()
            return int(row[0])
        finally:
            await pool_.close()

    assert asyncio.run(main()) == 1


async def _async_pool(size: int, name: str) -> Any:
    return await pool.async_pool(
        _tagged(),
        {"autocommit": True},
        pool.pool_options("test", max_connections=size, pool_timeout=30),
        name=name,
        min_size=size,
    )


async def _idle_after(pool_: Any, size: int) -> int:
    """How many connections sit idle once everything is back (all ``size``: none lost)."""
    for _ in range(200):
        if pool_.get_stats()["pool_available"] == size:
            break
        await asyncio.sleep(0.01)
    return int(pool_.get_stats()["pool_available"])


def test_waiters_are_handed_returned_connections_in_their_order() -> None:
    """Every connection lent: the statements that wait get the returned ones first come,
    first served, handed straight over; afterwards every connection is back, none lost."""

    async def main() -> tuple[list[int], int]:
        pool_ = await _async_pool(2, "test-handoff")
        try:
            held = [await pool_.getconn(), await pool_.getconn()]
            served: list[int] = []

            async def one(n: int) -> None:
                async with pool_.connection() as conn:
                    served.append(n)
                    await conn.execute("SELECT 1")

            waiters = []
            for n in range(6):
                waiters.append(asyncio.create_task(one(n)))
                await asyncio.sleep(0.01)  # queued in this order
            for conn in held:
                await pool_.putconn(conn)
            await asyncio.gather(*waiters)
            return served, await _idle_after(pool_, 2)
        finally:
            await pool_.close()

    served, idle = asyncio.run(main())
    assert served == list(range(6))
    assert idle == 2


def test_a_connection_handed_to_a_cancelled_wait_goes_to_the_next() -> None:
    """A wait cancelled just as a connection is handed to it passes the connection on: the
    next waiter gets it and nothing is lost."""

    async def main() -> tuple[int, int]:
        pool_ = await _async_pool(1, "test-handoff-cancel")
        try:
            held = await pool_.getconn()
            first = asyncio.create_task(pool_.getconn())
            await asyncio.sleep(0.02)
            second = asyncio.create_task(pool_.getconn())
            await asyncio.sleep(0.02)
            await pool_.putconn(held)  # handed to first ...
            first.cancel()  # ... which is cancelled before it runs
            with pytest.raises(asyncio.CancelledError):
                await first
            conn = await asyncio.wait_for(second, 10)
            row = await (await conn.execute("SELECT 1")).fetchone()
            await pool_.putconn(conn)
            return int(row[0]), await _idle_after(pool_, 1)
        finally:
            await pool_.close()

    assert asyncio.run(main()) == (1, 1)


def test_a_connection_left_in_a_transaction_or_broken_is_not_handed_over() -> None:
    """A connection returned inside a transaction, or whose backend died, goes through the
    pool (rolled back, or replaced); the waiting statement still gets a working one."""

    async def main() -> list[str]:
        pool_ = await _async_pool(1, "test-handoff-reset")
        outcomes: list[str] = []
        try:
            for how in ("in a transaction", "broken"):
                held = await pool_.getconn()
                if how == "in a transaction":
                    await held.set_autocommit(False)
                    await held.execute("SELECT 1")  # a transaction is open now
                else:
                    import psycopg

                    from tests.services import terminate_backend

                    # This test database's backend only (datname checked), as every fault test.
                    await asyncio.to_thread(terminate_backend, held.info.backend_pid)
                    with pytest.raises(psycopg.OperationalError):
                        await held.execute("SELECT 1")
                waiting = asyncio.create_task(pool_.getconn())
                await asyncio.sleep(0.02)
                await pool_.putconn(held)
                conn = await asyncio.wait_for(waiting, 10)
                status = conn.info.transaction_status.name
                row = await (await conn.execute("SELECT 1")).fetchone()
                await pool_.putconn(conn)
                outcomes.append(f"{how}: {status} {row[0]}")
            return outcomes
        finally:
            await pool_.close()

    assert asyncio.run(main()) == ["in a transaction: IDLE 1", "broken: IDLE 1"]


def test_once_every_connection_is_lent_no_statement_waits_in_psycopg_pools_queue() -> None:
    """With many statements at once on a ready pool, those that find every connection lent
    wait for a turn in front of the pool and are handed returned connections:
    psycopg_pool's own wait (a task, a timer and a condition each) is not used, every
    statement completes, none is lost."""

    async def main() -> tuple[int, int, int]:
        pool_ = await _async_pool(2, "test-own-queue")
        try:
            await pool_.wait()  # its connections open (a connection being opened is waited for)
            done: list[int] = []

            async def one(n: int) -> None:
                async with pool_.connection() as conn:
                    await conn.execute("SELECT 1")
                    await asyncio.sleep(0)  # another statement's turn while this one holds it
                done.append(n)

            for _ in range(3):  # waves: connections returned to waiters, then idle again
                await asyncio.gather(*(one(n) for n in range(200)))
            queued = int(pool_.get_stats().get("requests_queued", 0))
            return len(done), queued, await _idle_after(pool_, 2)
        finally:
            await pool_.close()

    done, queued, idle = asyncio.run(main())
    assert done == 600
    assert queued == 0
    assert idle == 2


def test_the_pools_use_psycopg_pools_public_api_only() -> None:
    """Neither pool overrides or defines a name psycopg_pool keeps private (an upgrade
    may change those without notice): only public methods are overridden."""
    from psycopg_pool import AsyncConnectionPool, ConnectionPool

    from langgraph_runner._db.patient_pool import PatientAsyncPool, PatientPool

    for ours, theirs in ((PatientPool, ConnectionPool), (PatientAsyncPool, AsyncConnectionPool)):
        private = [
            name
            for name in vars(ours)
            if name.startswith("_") and not name.startswith("__") and hasattr(theirs, name)
        ]
        assert private == [], f"{ours.__name__} overrides psycopg_pool's private {private}"
    mine = ("_turns", "_queue", "_passing", "_waits", "_watcher")  # the async pool's own
    assert [n for n in mine if hasattr(AsyncConnectionPool("", open=False), n)] == []


def test_a_wait_on_a_pool_that_closes_fails_at_once_with_pool_closed() -> None:
    """Every connection lent and statements waiting: closing the pool fails them with
    psycopg_pool's PoolClosed at once (not after pool_timeout, not as a stall)."""
    from psycopg_pool import PoolClosed

    async def main() -> list[str]:
        pool_ = await pool.async_pool(
            _tagged(),
            {"autocommit": True},
            pool.pool_options("test", max_connections=1, pool_timeout=30),
            name="test-close",
        )
        held = await pool_.getconn()
        waiting = [asyncio.create_task(pool_.getconn()) for _ in range(3)]
        await asyncio.sleep(0.05)
        await pool_.close()
        outcomes = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 10)
        await held.close()
        return [type(o).__name__ for o in outcomes]

    assert asyncio.run(main()) == [PoolClosed.__name__] * 3
