"""_db/broken.py: a broken connection is retried on a fresh one; anything else is not.

The fault tests terminate only the backends of their own pools (tagged with a unique
``application_name``): the shared server is never stopped or reconfigured.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from langgraph_runner._db.broken import aretry_broken, is_broken, raise_last, retry_broken
from langgraph_runner._records.exceptions import DatabaseUnavailableError
from langgraph_runner.runs import open_async_checkpointer, open_checkpointer
from tests.services import postgres_url

DB = "postgres:db:5432/x"


def _driver(mode: str) -> Callable[..., Any]:
    """The sync helper, or the async one run to its end: one signature for both."""
    if mode == "sync":
        return retry_broken

    def run(once: Callable[..., Any], *args: Any, on_retry: Any = None, **kw: Any) -> Any:
        def wrap(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
            async def call(*a: Any) -> Any:
                return fn(*a)

            return call

        retry = None if on_retry is None else wrap(on_retry)
        return asyncio.run(aretry_broken(wrap(once), *args, on_retry=retry, **kw))

    return run


def _failing(errors: list[BaseException], calls: list[tuple[Any, ...]]) -> Callable[..., str]:
    def once(*args: Any) -> str:
        calls.append(args)
        if errors:
            raise errors.pop(0)
        return "done"

    return once


def test_what_is_a_broken_connection() -> None:
    """Driver connection errors are; a bad statement, a timed-out pool are not."""
    assert is_broken(psycopg.OperationalError("server closed the connection"))
    assert is_broken(psycopg.InterfaceError("the connection is closed"))
    assert not is_broken(psycopg.errors.UndefinedTable("no such table"))
    assert not is_broken(PoolTimeout("no connection"))
    assert not is_broken(ValueError("x"))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_break_is_retried_after_getting_a_fresh_connection(mode: str) -> None:
    """Two breaks, then success: three attempts with their arguments, two fresh connections."""
    calls: list[tuple[Any, ...]] = []
    fresh: list[int] = []
    once = _failing([psycopg.OperationalError("a"), psycopg.OperationalError("b")], calls)
    out = _driver(mode)(once, 1, "x", database=DB, on_retry=lambda: fresh.append(1))
    assert out == "done" and calls == [(1, "x")] * 3 and fresh == [1, 1]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_anything_but_a_break_is_raised_at_once(mode: str) -> None:
    """A bad statement is not retried: one attempt, no fresh connection asked for."""
    calls: list[tuple[Any, ...]] = []
    fresh: list[int] = []
    once = _failing([psycopg.errors.UndefinedTable("no such table")], calls)
    with pytest.raises(psycopg.errors.UndefinedTable):
        _driver(mode)(once, database=DB, on_retry=lambda: fresh.append(1))
    assert len(calls) == 1 and fresh == []


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_spent_attempts_name_the_database(mode: str) -> None:
    """Broken every time: DatabaseUnavailableError naming the database, from the last error;
    raise_last raises the driver's own error instead."""
    calls: list[tuple[Any, ...]] = []
    once = _failing([psycopg.OperationalError(str(n)) for n in range(3)], calls)
    with pytest.raises(DatabaseUnavailableError, match="broken 3 times") as caught:
        _driver(mode)(once, database=DB)
    assert caught.value.database == DB and isinstance(caught.value.__cause__, psycopg.Error)
    once = _failing([psycopg.OperationalError("1"), psycopg.OperationalError("2")], calls)
    with pytest.raises(psycopg.OperationalError, match="2"):
        _driver(mode)(once, database=DB, attempts=2, giving_up=raise_last)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_break_while_getting_a_fresh_connection_is_an_attempt(mode: str) -> None:
    """The fresh connection fails to open (the server still down): that attempt is spent,
    the next one tries again."""
    calls: list[tuple[Any, ...]] = []
    opens = [psycopg.OperationalError("connection refused")]

    def fresh() -> None:
        if opens:
            raise opens.pop(0)

    once = _failing([psycopg.OperationalError("gone")], calls)
    assert _driver(mode)(once, database=DB, on_retry=fresh) == "done"
    assert len(calls) == 2  # the first attempt, and the third (the second broke opening)


def _tagged() -> tuple[str, str]:
    app = f"lgr-broken-{uuid.uuid4().hex[:12]}"
    url = postgres_url()
    return f"{url}{'&' if '?' in url else '?'}application_name={app}", app


def _terminate(app: str) -> int:
    """Terminate the backends of this test's own application_name only."""
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database()",
            (app,),
        ).fetchall()
    return sum(1 for r in rows if r[0])


def _config(thread: str) -> Any:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}


def _checkpoint(n: int) -> Any:
    from langgraph.checkpoint.base import empty_checkpoint

    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"n": n}
    return checkpoint


def test_a_sync_savers_reads_and_writes_survive_its_backends_being_terminated() -> None:
    """Every backend of the checkpointer's pool is terminated between writes: the next
    write and read go through on fresh connections."""
    url, app = _tagged()
    thread = f"broken-{uuid.uuid4().hex}"
    with open_checkpointer(url, max_connections=2) as saver:
        saver.put(_config(thread), _checkpoint(1), {}, {})
        assert _terminate(app) >= 1
        saver.put(_config(thread), _checkpoint(2), {}, {})
        assert _terminate(app) >= 1
        got = saver.get_tuple(_config(thread))
        saver.delete_thread(thread)
    assert got is not None and got.checkpoint["channel_values"] == {"n": 2}


def test_an_async_savers_reads_and_writes_survive_its_backends_being_terminated() -> None:
    """The async checkpointer: the same."""
    url, app = _tagged()
    thread = f"abroken-{uuid.uuid4().hex}"

    async def main() -> Any:
        async with open_async_checkpointer(url, max_connections=2) as saver:
            await saver.aput(_config(thread), _checkpoint(1), {}, {})
            assert await asyncio.to_thread(_terminate, app) >= 1
            await saver.aput(_config(thread), _checkpoint(2), {}, {})
            assert await asyncio.to_thread(_terminate, app) >= 1
            got = await saver.aget_tuple(_config(thread))
            await saver.adelete_thread(thread)
            return got

    got = asyncio.run(main())
    assert got is not None and got.checkpoint["channel_values"] == {"n": 2}
