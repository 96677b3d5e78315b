"""_runs/run_store.py on SQLite under load: one writer at a time, runs queue, none is lost."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from langgraph_runner.runs import arun, list_runs, open_async_checkpointer, open_checkpointer, run


class S(TypedDict, total=False):
    n: int


def _builder() -> StateGraph[Any]:
    g: StateGraph[Any] = StateGraph(S)
    g.add_node("a", lambda s: {"n": 1})
    g.add_node("b", lambda s: {"n": 2})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", END)
    return g


def test_sync_runs_from_many_threads_on_one_sqlite_file(tmp_path: Path) -> None:
    """run() from 20 threads at once on one SQLite file: all complete and are recorded
    (writers queue for the database lock; never "database is locked")."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    out: list[Any] = []
    with open_checkpointer(url) as saver:
        graph = _builder().compile(checkpointer=saver)

        def one(i: int) -> None:
            out.append(run(graph, {"n": 0}, {"configurable": {"thread_id": f"t{i}"}}))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows = list_runs(saver, limit=100)
    assert [r.status for r in out] == ["completed"] * 20
    assert len(rows) == 20 and {r.status for r in rows} == {"completed"}


def test_async_runs_at_once_on_one_sqlite_file(tmp_path: Path) -> None:
    """50 arun() at once on an AsyncSqliteSaver: all complete and are recorded."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"

    async def main() -> list[Any]:
        async with open_async_checkpointer(url) as saver:
            graph = _builder().compile(checkpointer=saver)
            results = await asyncio.gather(
                *(
                    arun(graph, {"n": 0}, {"configurable": {"thread_id": f"a{i}"}})
                    for i in range(50)
                )
            )
            return list(results)

    results = asyncio.run(main())
    with open_checkpointer(url) as saver:  # the table as another process reads it
        rows = list_runs(saver, limit=100)
    assert [r.status for r in results] == ["completed"] * 50
    assert len(rows) == 50 and {r.status for r in rows} == {"completed"}
