"""_db/pool.py: bounded PostgreSQL connections under load, and a database blip survived.

The tests tag their connections with a unique ``application_name`` and count (or
terminate) only those backends: the shared server is never stopped or reconfigured.
"""

from __future__ import annotations

import asyncio
import operator
import threading
import uuid
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from langgraph_runner._db.pool import (
    STORE_MAX_CONNECTIONS,
    DatabaseUnavailableError,
    pool_options,
)
from langgraph_runner._runs import run_store
from langgraph_runner.runs import arun, list_runs, open_async_checkpointer, open_checkpointer, run
from tests.services import postgres_url


class State(TypedDict, total=False):
    n: int
    items: Annotated[list[int], operator.add]


def _graph(gate: asyncio.Event | None = None, fan: int = 4, entered: Any = None) -> StateGraph[Any]:
    async def first(state: State) -> dict[str, Any]:
        if entered is not None:
            entered()
        if gate is not None:
            await gate.wait()
        return {"n": 1}

    async def item(state: dict[str, Any]) -> dict[str, Any]:
        return {"items": [state["i"]]}

    async def last(state: State) -> dict[str, Any]:
        return {"n": state.get("n", 0) + 1}

    g: StateGraph[Any] = StateGraph(State)
    g.add_node("first", first)
    g.add_node("item", item)  # type: ignore[type-var]
    g.add_node("last", last)
    g.add_edge(START, "first")
    g.add_conditional_edges("first", lambda s: [Send("item", {"i": i}) for i in range(fan)])
    g.add_edge("item", "last")
    g.add_edge("last", END)
    return g


def _tagged(url: str) -> tuple[str, str]:
    app = f"lgr-test-{uuid.uuid4().hex[:12]}"
    return f"{url}{'&' if '?' in url else '?'}application_name={app}", app


def _backends(app: str) -> list[int]:
    """This test's backends, counted from an untagged admin connection."""
    import psycopg

    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def _terminate(app: str) -> int:
    """Terminate the backends of this test's own application_name only."""
    import psycopg

    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database()",
            (app,),
        ).fetchall()
    return sum(1 for r in rows if r[0])


def test_pool_options_are_validated_naming_the_owner_and_field() -> None:
    with pytest.raises(ValueError, match="open_checkpointer: max_connections"):
        pool_options("open_checkpointer", max_connections=0)
    with pytest.raises(TypeError, match="open_checkpointer: max_connections"):
        pool_options("open_checkpointer", max_connections=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="open_async_checkpointer: pool_timeout"):
        pool_options("open_async_checkpointer", pool_timeout=0)
    with pytest.raises(ValueError, match="check_idle"):
        pool_options("x", check_idle=-1)
    with (
        pytest.raises(ValueError, match="max_connections"),
        open_checkpointer(":memory:", max_connections=-3),
    ):
        pass


def test_200_concurrent_runs_go_through_a_few_connections() -> None:
    """200 arun() at once on a 3-connection checkpointer pool: every run completes and is
    recorded, the process never holds more than the pools' bounds, one watcher thread."""
    url, app = _tagged(postgres_url())
    prefix = f"load-{uuid.uuid4().hex[:8]}"
    seen: list[int] = []
    before = {t.ident for t in threading.enumerate()}

    async def main() -> list[Any]:
        async with open_async_checkpointer(url, max_connections=3) as saver:
            graph = _graph().compile(checkpointer=saver)
            done = asyncio.Event()

            async def sample() -> None:
                while not done.is_set():
                    seen.append(len(await asyncio.to_thread(_backends, app)))
                    await asyncio.sleep(0.02)

            sampler = asyncio.create_task(sample())
            results = await asyncio.gather(
                *(
                    arun(graph, {"n": 0}, {"configurable": {"thread_id": f"{prefix}-{i}"}})
                    for i in range(200)
                )
            )
            done.set()
            await sampler
            rows = list_runs(saver, limit=1000)
            for i in range(200):
                await saver.adelete_thread(f"{prefix}-{i}")
            return [results, rows]

    results, rows = asyncio.run(main())
    assert [r.status for r in results] == ["completed"] * 200
    mine = [r for r in rows if (r.thread_id or "").startswith(prefix)]
    assert len(mine) == 200 and {r.status for r in mine} == {"completed"}
    # 3 checkpointer + 2 runs-table + 1 lock + 1 thread-owners connection, whatever
    # the concurrency.
    assert seen and max(seen) <= 3 + STORE_MAX_CONNECTIONS + 2
    names = [t.name for t in threading.enumerate() if t.ident not in before]
    assert not [n for n in names if n.startswith("langgraph-runner-cancel")]
    assert names.count("langgraph-runner-run-watch") <= 1


def test_runs_in_flight_survive_their_backends_being_terminated() -> None:
    """Mid-run, every backend of this test's application is terminated (a failover, a
    proxy restart): the checkpointer, runs table and thread locks reconnect, and the
    runs in flight and those started after complete."""
    url, app = _tagged(postgres_url())
    prefix = f"blip-{uuid.uuid4().hex[:8]}"

    async def main() -> tuple[list[Any], list[Any], int]:
        async with open_async_checkpointer(url, max_connections=3) as saver:
            gate, all_in, count = asyncio.Event(), asyncio.Event(), [0]

            def entered() -> None:
                count[0] += 1
                if count[0] == 40:
                    all_in.set()

            graph = _graph(gate, entered=entered).compile(checkpointer=saver)
            tasks = [
                asyncio.create_task(
                    arun(
                        graph,
                        {"n": 0},
                        {"configurable": {"thread_id": f"{prefix}-{i}"}},
                        raise_on_error=False,
                    )
                )
                for i in range(40)
            ]
            await all_in.wait()  # every run is inside its first node
            killed = await asyncio.to_thread(_terminate, app)
            gate.set()
            during = await asyncio.gather(*tasks)
            after = await asyncio.gather(
                *(
                    arun(graph, {"n": 0}, {"configurable": {"thread_id": f"{prefix}-after-{i}"}})
                    for i in range(20)
                )
            )
            for i in range(40):
                await saver.adelete_thread(f"{prefix}-{i}")
            for i in range(20):
                await saver.adelete_thread(f"{prefix}-after-{i}")
            return during, after, killed

    during, after, killed = asyncio.run(main())
    assert killed >= 2  # at least the runs table's and the thread lock connection
    failed = [r for r in during if r.status != "completed"]
    assert not failed, [f"{type(r.error).__name__}: {r.error}" for r in failed]
    assert [r.status for r in after] == ["completed"] * 20


def test_sync_runs_from_many_threads_share_the_pool() -> None:
    """run() from 30 threads at once on a 2-connection pool: all complete, all recorded."""
    url, app = _tagged(postgres_url())
    prefix = f"threads-{uuid.uuid4().hex[:8]}"

    def one(i: int, graph: Any, out: list[Any]) -> None:
        out.append(run(graph, {"n": 0}, {"configurable": {"thread_id": f"{prefix}-{i}"}}))

    with open_checkpointer(url, max_connections=2) as saver:
        g: StateGraph[Any] = StateGraph(State)
        g.add_node("a", lambda s: {"n": 1})
        g.add_node("b", lambda s: {"n": 2})
        g.add_edge(START, "a")
        g.add_edge("a", "b")
        g.add_edge("b", END)
        graph = g.compile(checkpointer=saver)
        out: list[Any] = []
        threads = [threading.Thread(target=one, args=(i, graph, out)) for i in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows = [r for r in list_runs(saver, limit=1000) if (r.thread_id or "").startswith(prefix)]
        peak = len(_backends(app))
        for i in range(30):
            saver.delete_thread(f"{prefix}-{i}")
    assert [r.status for r in out] == ["completed"] * 30
    assert len(rows) == 30 and {r.status for r in rows} == {"completed"}
    assert peak <= 2 + STORE_MAX_CONNECTIONS + 2


def test_a_database_that_stays_down_fails_the_run_before_any_node_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No server at the address: the run's row cannot be written (after the bounded
    wait), so no node runs and the error names the database (never a password)."""
    monkeypatch.setattr(run_store, "STORE_POOL_TIMEOUT", 0.2)
    from langgraph.checkpoint.postgres import PostgresSaver

    ran: list[str] = []
    g: StateGraph[Any] = StateGraph(State)

    def a(state: State) -> dict[str, Any]:
        ran.append("a")
        return {"n": 1}

    g.add_node("a", a)
    g.add_edge(START, "a")
    g.add_edge("a", END)
    import psycopg_pool

    pool = psycopg_pool.ConnectionPool(
        "postgresql://nobody:s3cret@127.0.0.1:1/nowhere?connect_timeout=1",
        open=False,
        timeout=0.5,
    )
    graph = g.compile(checkpointer=PostgresSaver(pool))  # type: ignore[arg-type]
    import psycopg

    # The thread-ownership check (tenancy) may meet the dead server first: its driver
    # error names the server too.
    with pytest.raises((DatabaseUnavailableError, psycopg.OperationalError)) as caught:
        run(graph, {"n": 0}, {"configurable": {"thread_id": f"down-{uuid.uuid4().hex}"}})
    assert ran == []
    if isinstance(caught.value, DatabaseUnavailableError):
        assert caught.value.database == "postgres:127.0.0.1:1/nowhere"
    assert "127.0.0.1" in str(caught.value) and "s3cret" not in str(caught.value)


def test_statements_queueing_for_connections_are_told_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Backpressure is visible: statements waiting for a pool's connections log one
    warning naming the database, at most every 10 s (the pool read at most once a second)."""
    from langgraph_runner._db.pool import WaitNotice

    class Busy:
        looks = 0

        def get_stats(self) -> dict[str, int]:
            Busy.looks += 1
            return {"requests_waiting": 12, "pool_max": 4}

    now = [100.0]
    notice = WaitNotice(clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="langgraph_runner.runs"):
        for step in (0.0, 0.5, 1.0, 5.0, 11.0):
            now[0] = 100.0 + step
            notice(Busy(), "postgres:db:5432/x")
    told = [r.getMessage() for r in caplog.records if "wait for a connection" in r.getMessage()]
    assert (
        told
        == [
            "12 statements wait for a connection to postgres:db:5432/x (all 4 busy): raise"
            " max_connections or run fewer at once"
        ]
        * 2
    )
    assert Busy.looks == 4  # not at +0.5 s


def test_a_closed_pool_fails_at_once_without_retries(caplog: pytest.LogCaptureFixture) -> None:
    """A statement on a closed pool raises psycopg_pool's PoolClosed at once: no retry on
    a "fresh connection" (a closed pool opens none), no warning that says so."""
    from psycopg_pool import PoolClosed

    from langgraph_runner._db.pool import PooledDb, pool_options, sync_pool

    url = postgres_url()
    pool = sync_pool(url, {"autocommit": True}, pool_options("test"), name="lgr-test-closed")
    db = PooledDb(pool, "test")
    assert db.run("SELECT 1", ())[1] == [(1,)]
    pool.close()
    with caplog.at_level("WARNING", logger="langgraph_runner.runs"), pytest.raises(PoolClosed):
        db.run("SELECT 1", ())
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]


def test_a_returned_connection_serves_the_next_statement_at_once() -> None:
    """Statements one after another on a sync pool use one connection: a connection given
    back is idle again before putconn returns (not later, in a worker thread, which let
    the next statement find none idle and open another)."""
    from langgraph_runner._db.pool import PooledDb, pool_options, sync_pool

    pool = sync_pool(postgres_url(), {"autocommit": True}, pool_options("test"), name="lgr-next")
    try:
        pool.wait()
        db = PooledDb(pool, "test")
        for n in range(50):
            assert db.run("SELECT ?", (n,))[1] == [(n,)]
        stats = pool.get_stats()
    finally:
        pool.close()
    assert stats["pool_size"] == 1 and stats.get("requests_queued", 0) == 0
