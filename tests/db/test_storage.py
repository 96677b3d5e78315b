"""_saver_storage.py: a saver's kind, SQLite file and PostgreSQL settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from langgraph_runner._db.storage import (
    asqlite_file,
    postgres_settings,
    saver_kind,
    sqlite_file,
)
from tests import services
from tests.conftest import SqliteConnect


def test_kinds_follow_the_savers_package(tmp_path: Path, sqlite_connect: SqliteConnect) -> None:
    """LangGraph's savers and their subclasses by package; anything else is 'other'."""

    class MySqlite(SqliteSaver):
        pass

    conn = sqlite_connect(tmp_path / "cp.db")
    assert saver_kind(SqliteSaver(conn)) == "sqlite"
    assert saver_kind(MySqlite(conn)) == "sqlite"
    assert saver_kind(InMemorySaver()) == "other"


def test_sqlite_file_is_the_main_database_or_empty_in_memory(
    tmp_path: Path, sqlite_connect: SqliteConnect
) -> None:
    """A file saver names its file; an in-memory one names none."""
    on_file = SqliteSaver(sqlite_connect(tmp_path / "cp.db"))
    in_memory = SqliteSaver(sqlite_connect())
    assert Path(sqlite_file(on_file)) == tmp_path / "cp.db"
    assert sqlite_file(in_memory) == ""


async def test_an_async_saver_is_asked_on_its_own_loop(tmp_path: Path) -> None:
    """On the saver's loop only the async form works, and the error says what to use."""
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "cp.db")) as saver:
        assert Path(await asqlite_file(saver.conn)) == tmp_path / "cp.db"
        with pytest.raises(TypeError, match="AsyncSqliteSaver is async: use this instead"):
            sqlite_file(saver, on_its_loop="use this instead")
        found = await asyncio.to_thread(sqlite_file, saver)  # from another thread: fine
        assert Path(found) == tmp_path / "cp.db"


def test_postgres_settings_open_the_same_database() -> None:
    """A connection's and a pool's settings reach the same server and database."""
    psycopg = pytest.importorskip("psycopg")
    pool_mod = pytest.importorskip("psycopg_pool")
    url = services.postgres_url()
    with psycopg.connect(url, autocommit=True) as conn:
        conninfo, kwargs = postgres_settings(conn)
        assert kwargs == {}
        with psycopg.connect(conninfo) as again:
            assert again.info.dbname == conn.info.dbname
            assert again.info.port == conn.info.port
    with pool_mod.ConnectionPool(url, kwargs={"autocommit": True}, open=True) as pool:
        conninfo, kwargs = postgres_settings(pool)
        assert (conninfo, kwargs) == (url, {})  # autocommit shapes use, not where to go
