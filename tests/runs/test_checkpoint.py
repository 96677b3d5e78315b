"""Tests for langgraph_runner._runs.checkpoint: URL parsing and ready-to-use LangGraph savers."""

from __future__ import annotations

import asyncio
import operator
import os
import re
import sqlite3
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph

from langgraph_runner._runs.checkpoint import (
    CheckpointerURL,
    open_async_checkpointer,
    open_checkpointer,
    parse_checkpointer_url,
)
from tests import services

PG_URL = services.POSTGRES_URL


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def _builder(failing: str | None = None) -> StateGraph[State]:
    """a -> (p1, p2, p3 in parallel) -> z: parallel sync nodes share the saver across threads."""

    def step(name: str) -> Any:
        def node(state: State) -> dict[str, list[str]]:
            if name == failing:
                raise ConnectionError("down")
            return {"log": [name]}

        return node

    builder = StateGraph(State)
    for name in ["a", "p1", "p2", "p3", "z"]:
        builder.add_node(name, step(name))
    builder.add_edge(START, "a")
    for p in ["p1", "p2", "p3"]:
        builder.add_edge("a", p)
    builder.add_edge(["p1", "p2", "p3"], "z")
    builder.add_edge("z", END)
    return builder


FINAL = ["a", "p1", "p2", "p3", "z"]


def _config() -> Any:
    return {"configurable": {"thread_id": f"cp-{uuid.uuid4().hex}"}}


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("sqlite:///relative/path.db", "relative/path.db"),
        ("sqlite:////absolute/path.db", "/absolute/path.db"),
        ("sqlite:///:memory:", ":memory:"),
        (":memory:", ":memory:"),
        ("sqlite:///with%20space.db", "with space.db"),
    ],
)
def test_parse_sqlite_urls(url: str, target: str) -> None:
    """SQLite URLs map to the path SQLAlchemy conventions give them."""
    assert parse_checkpointer_url(url) == CheckpointerURL(backend="sqlite", target=target)


@pytest.mark.parametrize("url", ["postgresql://u@h:5432/db", "postgres://u@h/db", "POSTGRES://h"])
def test_parse_postgres_urls(url: str) -> None:
    """Both PostgreSQL schemes are accepted and passed to psycopg unchanged."""
    assert parse_checkpointer_url(url) == CheckpointerURL(backend="postgres", target=url)


def test_unsupported_scheme_names_it_and_lists_supported_ones() -> None:
    """A bad scheme gets a ValueError naming it, listing the supported forms, hiding the URL."""
    with pytest.raises(ValueError, match="'mysql'") as info:
        parse_checkpointer_url("mysql://user:hunter2@db/app")
    assert "sqlite:///" in str(info.value)
    assert "postgresql://" in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("checkpoints.db", "no scheme"),
        ("", "Empty checkpointer URL (no scheme)"),
        ("   ", "Empty checkpointer URL (no scheme)"),
        ("sqlite:checkpoints.db", "scheme 'sqlite' must be followed by '://'"),
        ("sqlite://relative-without-third-slash", "scheme 'sqlite' takes no host"),
        ("sqlite://host/path.db", "scheme 'sqlite' takes no host"),
        ("sqlite://", "scheme 'sqlite' needs a path"),
        ("sqlite:///", "scheme 'sqlite' needs a path"),
        ("sqlite:///x.db?mode=ro", "scheme 'sqlite' takes no query"),
        ("mysql://x", "Unsupported checkpointer URL scheme 'mysql'"),
        ("postgresql+psycopg://u@h/db", "scheme 'postgresql+psycopg'"),
    ],
)
def test_malformed_urls_are_rejected_naming_the_scheme(url: str, message: str) -> None:
    """Malformed URLs raise ValueError naming the scheme (or its absence) and the valid forms."""
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        parse_checkpointer_url(url)
    assert "sqlite:///relative/path.db" in str(info.value)


def test_two_slash_sqlite_url_suggests_the_three_slash_form() -> None:
    """sqlite://x.db (a relative path missing its third slash) suggests sqlite:///x.db."""
    with pytest.raises(ValueError, match=re.escape("did you mean 'sqlite:///runs/x.db'?")):
        parse_checkpointer_url("sqlite://runs/x.db")


BAD_URLS = ["", "sqlite://relative.db", "mysql://x", "redis://localhost"]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_urls_fail_before_opening_anything(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """open_checkpointer raises the ValueError on entry and creates no file."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="scheme"), open_checkpointer(url):
        pass
    assert list(tmp_path.iterdir()) == []


def test_relative_sqlite_file_gets_parent_dirs_wal_and_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative SQLite URL creates missing folders, uses WAL and has the tables ready."""
    monkeypatch.chdir(tmp_path)
    with open_checkpointer("sqlite:///state/deep/checkpoints.db") as saver:
        assert isinstance(saver, SqliteSaver)
        assert saver.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in saver.conn.execute("SELECT name FROM sqlite_master")}
        assert {"checkpoints", "writes"} <= tables
    assert (tmp_path / "state/deep/checkpoints.db").is_file()


def test_sqlite_state_survives_reopening(tmp_path: Path) -> None:
    """A thread written through one connection resumes from a new one (absolute URL)."""
    url = f"sqlite:///{tmp_path}/runs/cp.db"
    assert url.startswith("sqlite:////")
    config = _config()
    with open_checkpointer(url) as saver:
        assert _builder().compile(checkpointer=saver).invoke({"log": []}, config) == {"log": FINAL}
    with open_checkpointer(url) as saver:
        graph = _builder().compile(checkpointer=saver)
        assert graph.get_state(config).values == {"log": FINAL}


def test_sqlite_connection_is_usable_from_other_threads() -> None:
    """The connection allows LangGraph's worker threads (check_same_thread=False)."""
    errors: list[BaseException] = []
    with open_checkpointer("sqlite:///:memory:") as saver:

        def use() -> None:
            try:
                list(saver.list(_config()))
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)

        thread = threading.Thread(target=use)
        thread.start()
        thread.join()
    assert errors == []


def test_sqlite_connection_closes_on_exit() -> None:
    """Leaving the context closes the connection."""
    with open_checkpointer(":memory:") as saver:
        assert isinstance(saver, SqliteSaver)
        conn = saver.conn
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")


def test_postgres_saver_is_set_up_and_persists() -> None:
    """A PostgreSQL URL yields a set-up PostgresSaver; a thread survives reconnecting."""
    services.postgres_url()
    config = _config()
    thread_id = config["configurable"]["thread_id"]
    try:
        with open_checkpointer(PG_URL) as saver:
            assert isinstance(saver, PostgresSaver)
            _builder().compile(checkpointer=saver).invoke({"log": []}, config)
        with open_checkpointer(PG_URL) as saver:
            graph = _builder().compile(checkpointer=saver)
            assert graph.get_state(config).values == {"log": FINAL}
    finally:
        with open_checkpointer(PG_URL) as saver:
            saver.delete_thread(thread_id)
            assert saver.get_tuple(config) is None


async def test_async_sqlite_saver_runs_ainvoke(tmp_path: Path) -> None:
    """open_async_checkpointer yields a set-up AsyncSqliteSaver usable with ainvoke."""
    config = _config()
    async with open_async_checkpointer(f"sqlite:///{tmp_path}/a/cp.db") as saver:
        assert isinstance(saver, AsyncSqliteSaver)
        graph = _builder().compile(checkpointer=saver)
        assert await graph.ainvoke({"log": []}, config) == {"log": FINAL}
        assert (await graph.aget_state(config)).values == {"log": FINAL}


async def test_async_postgres_saver_runs_ainvoke() -> None:
    """open_async_checkpointer yields a set-up AsyncPostgresSaver usable with ainvoke."""
    services.postgres_url()
    config = _config()
    async with open_async_checkpointer(PG_URL) as saver:
        assert isinstance(saver, AsyncPostgresSaver)
        try:
            graph = _builder().compile(checkpointer=saver)
            assert await graph.ainvoke({"log": []}, config) == {"log": FINAL}
        finally:
            await saver.adelete_thread(config["configurable"]["thread_id"])


@pytest.fixture(params=["sqlite", "postgres"])
def async_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file URL or the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/async/cp.db"
    return services.postgres_url()


async def test_async_saver_resumes_a_failed_run_in_a_new_connection(async_url: str) -> None:
    """ainvoke fails mid-run; a new async saver resumes with ainvoke(None) without redoing nodes."""
    runs: list[str] = []
    broken = {"p2"}

    def step(name: str) -> Any:
        async def node(state: State) -> dict[str, list[str]]:
            runs.append(name)
            if name in broken:
                raise ConnectionError("down")
            return {"log": [name]}

        return node

    builder = StateGraph(State)
    for name in FINAL:
        builder.add_node(name, step(name))
    builder.add_edge(START, "a")
    builder.add_edge("a", "p1")
    builder.add_edge("a", "p2")
    builder.add_edge("a", "p3")
    builder.add_edge(["p1", "p2", "p3"], "z")
    builder.add_edge("z", END)
    config = _config()
    try:
        async with open_async_checkpointer(async_url) as saver:
            with pytest.raises(ConnectionError):
                await builder.compile(checkpointer=saver).ainvoke({"log": []}, config)
        assert sorted(runs) == ["a", "p1", "p2", "p3"]
        broken.clear()
        runs.clear()
        async with open_async_checkpointer(async_url) as saver:
            graph = builder.compile(checkpointer=saver)
            assert await graph.ainvoke(None, config) == {"log": FINAL}
        assert runs == ["p2", "z"]  # a, p1 and p3 had saved their writes
    finally:
        async with open_async_checkpointer(async_url) as saver:
            await saver.adelete_thread(config["configurable"]["thread_id"])


def test_missing_postgres_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the postgres extra, a PostgreSQL URL raises ImportError naming the extra."""
    monkeypatch.setitem(sys.modules, "langgraph.checkpoint.postgres", None)
    with (
        pytest.raises(ImportError, match=r"langgraph-runner\[postgres\]"),
        open_checkpointer(PG_URL),
    ):
        pass


async def test_missing_postgres_extra_async(monkeypatch: pytest.MonkeyPatch) -> None:
    """The async opener gives the same ImportError hint."""
    monkeypatch.setitem(sys.modules, "langgraph.checkpoint.postgres.aio", None)
    with pytest.raises(ImportError, match=r"langgraph-runner\[postgres\]"):
        async with open_async_checkpointer(PG_URL):
            pass


@pytest.mark.parametrize("url", BAD_URLS)
async def test_async_bad_url_raises_the_same_error(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The async opener validates URLs exactly like the sync one, before opening anything."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="scheme") as expected:
        parse_checkpointer_url(url)
    with pytest.raises(ValueError, match=re.escape(str(expected.value))):
        async with open_async_checkpointer(url):
            pass
    assert os.listdir(tmp_path) == []


def _secret_url() -> str:
    base = services.postgres_url()
    scheme, rest = base.split("://", 1)
    host = rest.rpartition("@")[2]
    return f"{scheme}://app:Secr3tPiece9@{host}?sslmode=Secr3tPiece9"  # libpq echoes the value


@pytest.mark.parametrize("opener", ["sync", "async"])
async def test_a_driver_error_quoting_the_password_is_scrubbed(
    opener: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The opener fails at the first connection with the driver's words, never quoting a
    piece of the URL's password (psycopg does), neither in its error nor in the pool's log.

    The pool waits up to ``pool_timeout`` (here 600 s) for a connection that is merely
    slow; a failed first attempt ends the wait at once.
    """
    caplog.set_level("DEBUG", logger="psycopg.pool")

    async def open_it() -> None:
        if opener == "sync":
            with open_checkpointer(_secret_url(), pool_timeout=600):
                pass
        else:
            async with open_async_checkpointer(_secret_url(), pool_timeout=600):
                pass

    with pytest.raises(Exception) as info:  # noqa: PT011 - psycopg's own type
        await open_it()
    assert "Secr3tPiece9" not in str(info.value)
    assert "sslmode" in str(info.value)
    assert info.value.__context__ is None
    assert "sslmode" in caplog.text  # the pool logged the failed attempt ...
    assert "Secr3tPiece9" not in caplog.text  # ... as the opener's error says it


@pytest.mark.parametrize("opener", ["sync", "async"])
async def test_every_connection_a_checkpointer_opens_comes_from_its_pool(
    opener: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set-up included: each psycopg connect of an opened (and used) checkpointer is
    made by psycopg_pool, none directly."""
    import psycopg

    pooled: list[bool] = []  # per connect: whether psycopg_pool is making it

    def who() -> None:
        frame: Any = sys._getframe(1)
        while frame is not None and not frame.f_globals.get("__name__", "").startswith(
            "psycopg_pool"
        ):
            frame = frame.f_back
        pooled.append(frame is not None)

    sync_connect = psycopg.Connection.connect.__func__  # type: ignore[attr-defined]
    async_connect = psycopg.AsyncConnection.connect.__func__  # type: ignore[attr-defined]

    def counted(cls: Any, *args: Any, **kwargs: Any) -> Any:
        who()
        return sync_connect(cls, *args, **kwargs)

    async def acounted(cls: Any, *args: Any, **kwargs: Any) -> Any:
        who()
        return await async_connect(cls, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(counted))
    monkeypatch.setattr(psycopg.AsyncConnection, "connect", classmethod(acounted))
    config: Any = {"configurable": {"thread_id": f"t-{uuid.uuid4().hex}"}}
    if opener == "sync":
        with open_checkpointer(PG_URL) as saver:
            saver.get_tuple(config)
    else:
        async with open_async_checkpointer(PG_URL) as asaver:
            await asaver.aget_tuple(config)
    assert pooled  # connections were made (through the patched classmethod)
    assert all(pooled), pooled


# What a run keeps for its checkpointer's database settings (the runs store's pool, the
# lock session's connection) goes with the last checkpointer opened on them.


def _tagged(app: str) -> str:
    return f"{PG_URL}{'&' if '?' in PG_URL else '?'}application_name={app}"


def _backends(app: str) -> int:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)
        ).fetchone()
    return int(row[0]) if row else 0


def _backends_gone(app: str) -> bool:
    """Whether the server has no session of ``app`` left (a closed one ends at once, but
    the server may show it for a moment)."""
    for _ in range(100):
        if _backends(app) == 0:
            return True
        time.sleep(0.02)
    return False


def _runs_pool_threads() -> list[str]:
    names = (thread.name for thread in threading.enumerate())
    return sorted(name for name in names if name.startswith("langgraph-runner-runs-"))


def _forget_thread(thread_id: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for table in ("checkpoint_writes", "checkpoint_blobs", "checkpoints"):
            conn.execute(f"DELETE FROM {table} WHERE thread_id = %s", (thread_id,))
        conn.execute("DELETE FROM langgraph_runner_runs WHERE thread_id = %s", (thread_id,))
        conn.execute("DELETE FROM langgraph_runner_threads WHERE thread_id = %s", (thread_id,))


async def test_closing_an_async_checkpointer_lets_go_of_its_runs_store(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three open/arun/close cycles, each on other settings (another application name),
    four runs at once (all asking for the saver's runs store first): after each, no
    session of its own is left on the server and no runs-store thread; nothing tries a
    closed store again (the live node times of ended runs are not written late)."""
    from langgraph_runner._runs.task_times import flush_marks
    from langgraph_runner.runs import arun

    services.postgres_url()
    caplog.set_level("WARNING", logger="langgraph_runner")
    before = _runs_pool_threads()
    for _ in range(3):
        app = f"lgr-let-go-{uuid.uuid4().hex[:10]}"
        configs = [_config() for _ in range(4)]
        try:
            async with open_async_checkpointer(_tagged(app)) as saver:
                graph = _builder().compile(checkpointer=saver)
                results = await asyncio.gather(*(arun(graph, {"log": []}, c) for c in configs))
                assert [result.status for result in results] == ["completed"] * 4
                assert len(_runs_pool_threads()) > len(before)  # the runs opened a store
            assert _backends_gone(app), f"{_backends(app)} sessions of {app} left open"
            assert _runs_pool_threads() == before
            await asyncio.to_thread(flush_marks)
            assert not [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
        finally:
            for config in configs:
                _forget_thread(config["configurable"]["thread_id"])


def test_closing_a_checkpointer_lets_go_of_its_runs_store_and_lock_session() -> None:
    """The same for ``run()`` on ``open_checkpointer``: its thread lock's session too."""
    from langgraph_runner.runs import run

    services.postgres_url()
    before = _runs_pool_threads()
    for _ in range(2):
        app = f"lgr-let-go-{uuid.uuid4().hex[:10]}"
        config = _config()
        try:
            with open_checkpointer(_tagged(app)) as saver:
                result = run(_builder().compile(checkpointer=saver), {"log": []}, config)
                assert result.status == "completed"
            assert _backends_gone(app), f"{_backends(app)} sessions of {app} left open"
            assert _runs_pool_threads() == before
        finally:
            _forget_thread(config["configurable"]["thread_id"])


async def test_a_runs_store_stays_while_another_checkpointer_on_its_settings_is_open() -> None:
    """Two checkpointers on the same settings: closing one leaves the other's runs working
    and recorded; closing the other lets go."""
    from langgraph_runner.runs import arun, list_runs

    services.postgres_url()
    app = f"lgr-let-go-{uuid.uuid4().hex[:10]}"
    first, second = _config(), _config()
    try:
        async with open_async_checkpointer(_tagged(app)) as other:
            async with open_async_checkpointer(_tagged(app)) as saver:
                done = await arun(_builder().compile(checkpointer=saver), {"log": []}, first)
                assert done.status == "completed"
            graph = _builder().compile(checkpointer=other)
            again = await arun(graph, {"log": []}, second)
            assert again.status == "completed"
            thread = second["configurable"]["thread_id"]
            rows = await asyncio.to_thread(list_runs, other, thread_id=thread)
            assert [row.status for row in rows] == ["completed"]
            assert _backends(app) > 0
        assert _backends_gone(app), f"{_backends(app)} sessions of {app} left open"
    finally:
        _forget_thread(first["configurable"]["thread_id"])
        _forget_thread(second["configurable"]["thread_id"])


def test_a_released_runs_store_closes_with_its_last_user() -> None:
    """Released while a run still uses it, the store stays open for that run and closes
    when it lets go; the next open makes a new one."""
    from langgraph_runner._runs.store_registry import (
        hold_postgres,
        open_postgres_store,
        release_postgres,
    )

    services.postgres_url()
    app = f"lgr-let-go-{uuid.uuid4().hex[:10]}"
    conninfo = _tagged(app)
    key = hold_postgres(conninfo, {})
    store = open_postgres_store(conninfo)
    try:
        assert release_postgres(key)  # the last checkpointer on these settings
        assert not store.sql.closed
        assert store.get(str(uuid.uuid4())) is None  # the run using it still reads and writes
    finally:
        store.close()
    assert store.sql.closed
    assert _backends_gone(app)
    fresh = open_postgres_store(conninfo)
    try:
        assert fresh is not store and not fresh.sql.closed
    finally:
        fresh.close()  # never held: kept for the process, as for a saver built by hand
    assert not fresh.sql.closed
    fresh.sql.close()
