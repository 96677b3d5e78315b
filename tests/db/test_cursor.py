"""_db/cursor.py: a pooled saver's cursor, a connection straight from the pool.

Each test works in a table of its own (a unique name, dropped after) on the test
PostgreSQL, through a pool of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.services import postgres_url

psycopg = pytest.importorskip("psycopg")
psycopg_pool = pytest.importorskip("psycopg_pool")

from psycopg.pq import TransactionStatus  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from langgraph_runner._db.cursor import AsyncPooledCursor, PooledCursor  # noqa: E402
from langgraph_runner.runs import open_async_checkpointer, open_checkpointer  # noqa: E402


@pytest.fixture
def table() -> Iterator[str]:
    name = f"lgr_cursor_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
    try:
        yield name
    finally:
        with psycopg.connect(postgres_url(), autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {name}")


def _values(table: str) -> dict[str, int]:
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        return dict(conn.execute(f"SELECT k, v FROM {table}").fetchall())  # type: ignore[arg-type]


def _two_inserts(cursor: PooledCursor, table: str, first: str) -> None:
    """Insert ``first``, then 'a' again: the second fails when 'a' is there already."""
    with cursor as cur:
        cur.execute(f"INSERT INTO {table} VALUES (%s, 2)", (first,))
        cur.execute(f"INSERT INTO {table} VALUES ('a', 3)")


async def _atwo_inserts(cursor: AsyncPooledCursor, table: str, first: str) -> None:
    async with cursor as cur:
        await cur.execute(f"INSERT INTO {table} VALUES (%s, 2)", (first,))
        await cur.execute(f"INSERT INTO {table} VALUES ('a', 3)")


@pytest.mark.parametrize("autocommit", [True, False])
@pytest.mark.parametrize("pipeline", [True, False])
def test_sync_statements_land_and_failures_leave_nothing(
    table: str, autocommit: bool, pipeline: bool
) -> None:
    """A statement that succeeded is committed (also on a pool not in autocommit mode);
    one that failed leaves no row and no transaction, and the connection serves the next."""
    kwargs = {"autocommit": autocommit}
    with psycopg_pool.ConnectionPool(postgres_url(), min_size=1, max_size=1, kwargs=kwargs) as pool:
        with PooledCursor(pool, pipeline, True) as cur:
            assert cur.row_factory is dict_row
            cur.execute(f"INSERT INTO {table} VALUES ('a', 1)")
        assert _values(table) == {"a": 1}
        with pytest.raises(psycopg.errors.UniqueViolation):
            _two_inserts(PooledCursor(pool, pipeline, True), table, "b")
        expected = {"a": 1} if pipeline or not autocommit else {"a": 1, "b": 2}
        assert _values(table) == expected  # one transaction (pipeline) or each its own
        with pool.connection() as conn:  # back in the pool, idle, usable
            assert conn.info.transaction_status == TransactionStatus.IDLE
        with PooledCursor(pool, pipeline, True) as cur:
            cur.execute(f"SELECT v FROM {table} WHERE k = 'a'")
            assert cur.fetchall() == [{"v": 1}]
        assert pool.get_stats()["pool_available"] == 1


@pytest.mark.parametrize("autocommit", [True, False])
@pytest.mark.parametrize("pipeline", [True, False])
def test_async_statements_land_and_failures_leave_nothing(
    table: str, autocommit: bool, pipeline: bool
) -> None:
    async def main() -> None:
        kwargs = {"autocommit": autocommit}
        async with psycopg_pool.AsyncConnectionPool(
            postgres_url(), min_size=1, max_size=1, kwargs=kwargs, open=False
        ) as pool:
            async with AsyncPooledCursor(pool, pipeline, True) as cur:
                await cur.execute(f"INSERT INTO {table} VALUES ('a', 1)")
            assert _values(table) == {"a": 1}
            with pytest.raises(psycopg.errors.UniqueViolation):
                await _atwo_inserts(AsyncPooledCursor(pool, pipeline, True), table, "b")
            expected = {"a": 1} if pipeline or not autocommit else {"a": 1, "b": 2}
            assert _values(table) == expected
            async with pool.connection() as conn:
                assert conn.info.transaction_status == TransactionStatus.IDLE
            async with AsyncPooledCursor(pool, pipeline, True) as cur:
                await cur.execute(f"SELECT v FROM {table} WHERE k = 'a'")
                assert await cur.fetchall() == [{"v": 1}]
            assert pool.get_stats()["pool_available"] == 1

    asyncio.run(main())


def test_without_pipelines_a_transaction_groups_the_statements(table: str) -> None:
    """Where libpq has no pipeline mode, ``pipeline=True`` opens a transaction instead
    (as LangGraph's ``_cursor`` does): a failure undoes the block's earlier statements."""
    with psycopg_pool.ConnectionPool(
        postgres_url(), min_size=1, max_size=1, kwargs={"autocommit": True}
    ) as pool:
        with pytest.raises(psycopg.errors.UniqueViolation):
            _two_inserts(PooledCursor(pool, True, False), table, "a")
        assert _values(table) == {}
        with PooledCursor(pool, True, False) as cur:
            cur.execute(f"INSERT INTO {table} VALUES ('a', 1)")
        assert _values(table) == {"a": 1}


def test_a_cancelled_wait_for_a_connection_takes_none(table: str) -> None:
    """A statement cancelled while it waits for the pool's one connection never gets one;
    the holder gives it back and the pool serves the next statement."""

    async def main() -> None:
        async with psycopg_pool.AsyncConnectionPool(
            postgres_url(), min_size=1, max_size=1, kwargs={"autocommit": True}, open=False
        ) as pool:
            held = await pool.getconn()
            waiting = asyncio.ensure_future(_insert(pool, table, "w"))
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await pool.putconn(held)
            await _insert(pool, table, "next")
            assert pool.get_stats()["pool_available"] == 1
        assert _values(table) == {"next": 1}

    asyncio.run(main())


async def _insert(pool: Any, table: str, key: str) -> None:
    async with AsyncPooledCursor(pool, True, True) as cur:
        await cur.execute(f"INSERT INTO {table} VALUES (%s, 1)", (key,))


def test_the_savers_on_a_pool_write_and_read_checkpoints_through_it() -> None:
    """The savers ``open_checkpointer`` opens on PostgreSQL use it for every statement:
    a checkpoint and its writes round-trip, sync and async."""
    from langgraph.checkpoint.base import empty_checkpoint

    thread = f"cursor-{uuid.uuid4().hex}"
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    with open_checkpointer(postgres_url()) as saver:
        assert isinstance(saver._cursor(), PooledCursor)
        stored = saver.put(config, empty_checkpoint(), {"step": 1}, {})
        saver.put_writes(stored, [("x", 1)], "task-1")
        found = saver.get_tuple(config)
        assert found is not None and found.pending_writes == [("task-1", "x", 1)]

        async def read() -> Any:
            async with open_async_checkpointer(postgres_url()) as asaver:
                assert isinstance(asaver._cursor(), AsyncPooledCursor)
                await asaver.aput_writes(stored, [("y", 2)], "task-2")
                return await asaver.aget_tuple(config)

        found = asyncio.run(read())
        assert found is not None
        assert sorted(found.pending_writes) == [("task-1", "x", 1), ("task-2", "y", 2)]
        saver.delete_thread(thread)
