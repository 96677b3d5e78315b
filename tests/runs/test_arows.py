"""_runs/arows.py: arun's rows on PostgreSQL, on the loop through the saver's connections."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState
from langgraph_runner._runs import arows, run_store, store_registry
from langgraph_runner._runs.tenancy import owner
from langgraph_runner.runs import arun, list_runs, open_async_checkpointer, open_checkpointer
from tests.services import postgres_url

pytest.importorskip("langgraph.checkpoint.postgres")


def _graph(saver: Any) -> Any:
    async def a(state: GraphState) -> dict[str, Any]:
        return {}

    builder = StateGraph(GraphState)
    builder.add_node("a", a)
    builder.add_edge(START, "a")
    builder.add_edge("a", END)
    return builder.compile(checkpointer=saver)


def _ended(thread: str) -> tuple[str, str | None, str | None, int]:
    """The thread's one row (status, reason, tenant) and how many node-time rows it has."""
    from langgraph_runner._runs.task_times import load_times

    with open_checkpointer(postgres_url()) as saver:
        (row,) = list_runs(saver, thread_id=thread)
        store = store_registry.open_run_store(saver)
        assert store is not None
        times = load_times(store, [row.run_id]).get(row.run_id, {})
        return row.status, row.reason, row.tenant, len(times)


def _cleanup(thread: str) -> None:
    with open_checkpointer(postgres_url()) as saver:
        saver.delete_thread(thread)


def test_it_applies_to_async_postgres_savers_only() -> None:
    """The pooled and the one-connection async savers write here; sync and in-memory do not."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async def main() -> list[bool]:
        async with (
            open_async_checkpointer(postgres_url()) as pooled,
            AsyncPostgresSaver.from_conn_string(postgres_url()) as single,
        ):
            return [arows.applies(pooled), arows.applies(single)]

    assert asyncio.run(main()) == [True, True]
    with open_checkpointer(postgres_url()) as sync:
        assert not arows.applies(sync)
    assert not arows.applies(InMemorySaver())


def test_a_run_on_one_connection_writes_its_rows_under_the_savers_lock() -> None:
    """LangGraph's own AsyncPostgresSaver on one connection: the run is admitted (its
    thread claimed for its tenant), its row ends completed with its node's time."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    thread = f"arows-one-{uuid.uuid4().hex}"

    async def main() -> str:
        async with AsyncPostgresSaver.from_conn_string(postgres_url()) as saver:
            await saver.setup()
            graph = _graph(saver)
            runs = [arun(graph, {}, {"configurable": {"thread_id": thread}}, tenant="acme")]
            results = await asyncio.gather(*runs)
            return str(results[0].status)

    try:
        assert asyncio.run(main()) == "completed"
        assert _ended(thread) == ("completed", None, "acme", 1)
        with open_checkpointer(postgres_url()) as saver:
            assert owner(saver, thread) == "acme"
    finally:
        _cleanup(thread)


@pytest.mark.parametrize("statement", ["row", "final status"])
def test_a_row_the_savers_connections_cannot_take_goes_through_the_stores_own(
    statement: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The saver's connections refuse the row (or its final status): it is written
    through the runs store's own pool instead, and the run's record is whole."""
    import psycopg

    real = arows._run
    prefix = f"INSERT INTO {run_store.TABLE} " if statement == "row" else "WITH times AS"
    refused: list[str] = []

    async def refusing(saver: Any, database: str, sql: str, params: Any) -> list[Any]:
        if sql.startswith(prefix):
            refused.append(sql)
            raise psycopg.OperationalError("no connection for this one")
        return await real(saver, database, sql, params)

    monkeypatch.setattr(arows, "_run", refusing)
    thread = f"arows-fallback-{uuid.uuid4().hex}"

    async def main() -> str:
        async with open_async_checkpointer(postgres_url()) as saver:
            result = await arun(_graph(saver), {}, {"configurable": {"thread_id": thread}})
            return str(result.status)

    try:
        assert asyncio.run(main()) == "completed"
        assert len(refused) == 1
        assert _ended(thread) == ("completed", None, None, 1)
    finally:
        _cleanup(thread)


def test_a_nodes_failed_attempts_are_written_with_the_final_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No live writes: the run's one final statement writes its node's attempts (two
    failures with their records, then the success) beside its times."""
    from langgraph_runner import RetryConfig, create_node
    from langgraph_runner._runs.task_times import load_attempts
    from langgraph_runner._runs.tracker import Tracker
    from langgraph_runner.testing import fail_times, no_wait

    monkeypatch.setattr(Tracker, "live", False)
    thread = f"arows-attempts-{uuid.uuid4().hex}"
    flaky = fail_times(2, ConnectionError("refused"), is_async=True)

    async def main() -> str:
        async with open_async_checkpointer(postgres_url()) as saver:
            builder = StateGraph(GraphState)
            builder.add_node("a", create_node(flaky, retry=RetryConfig(max_attempts=3)))
            builder.add_edge(START, "a")
            builder.add_edge("a", END)
            graph = builder.compile(checkpointer=saver)
            result = await arun(graph, {}, {"configurable": {"thread_id": thread}})
            return result.run_id

    try:
        with no_wait():
            run_id = asyncio.run(main())
        with open_checkpointer(postgres_url()) as saver:
            store = store_registry.open_run_store(saver)
            assert store is not None
            try:
                attempts = load_attempts(store, run_id, "a", 0)
            finally:
                store.close()
        assert [(a["number"], a["outcome"], a["error_type"]) for a in attempts] == [
            (1, "retried", "ConnectionError"),
            (2, "retried", "ConnectionError"),
            (3, "succeeded", None),
        ]
    finally:
        _cleanup(thread)
