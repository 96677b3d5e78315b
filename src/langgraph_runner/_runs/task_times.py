"""Each node's own start and end in a run, so parallel nodes do not share their step's time.

Checkpoints are written once per superstep: a report read from them alone gives every
node of a step the step's duration. ``run()``'s tracker notes when each top-level node
task starts and ends (callbacks, wall clock); when the run ends (completed, failed,
cancelled or interrupted) they are written in one statement to the
``langgraph_runner_task_times`` table beside the runs table, one row per node and
superstep (a node's ``Send`` tasks in one step span from the first start to the last
end). A report reads them for the runs of its thread and falls back to the step's
checkpoint times for a node without a row (a run whose process died, a graph invoked
without ``run()``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from langgraph_runner._runs.run_store import RunStore

__all__ = ["TIMES_TABLE", "load_times", "record_times", "save_times"]

TIMES_TABLE = "langgraph_runner_task_times"
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TIMES_TABLE} ("
    " run_id TEXT NOT NULL, node TEXT NOT NULL, step INTEGER NOT NULL,"
    " started_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION,"
    " PRIMARY KEY (run_id, node, step))",
)
_BATCH = 200  # rows per INSERT statement

Times = Mapping[tuple[str, int], tuple[float, float | None]]
"""(node, step) -> (started_at, finished_at) in epoch seconds (finished None: never ended)."""


def _run(store: RunStore, sql: str, params: tuple[Any, ...]) -> list[Any]:
    try:
        return store.sql.run(sql, params)[1]
    except Exception:  # no table yet (a new database): create it and try once more
        store.sql.setup(_DDL, TIMES_TABLE)
        return store.sql.run(sql, params)[1]


def save_times(store: RunStore, run_id: str, times: Times) -> None:
    """Write one run's node times (a run id written before is overwritten row by row)."""
    rows = [(run_id, node, step, start, end) for (node, step), (start, end) in times.items()]
    for at in range(0, len(rows), _BATCH):
        chunk = rows[at : at + _BATCH]
        marks = ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
        _run(
            store,
            f"INSERT INTO {TIMES_TABLE} (run_id, node, step, started_at, finished_at)"
            f" VALUES {marks} ON CONFLICT (run_id, node, step) DO UPDATE SET"
            " started_at = excluded.started_at, finished_at = excluded.finished_at",
            tuple(v for row in chunk for v in row),
        )


def load_times(store: RunStore, run_ids: Iterable[str]) -> dict[str, dict[Any, Any]]:
    """Run id -> {(node, step): (started_at, finished_at)} for these runs."""
    ids = sorted(set(run_ids))
    out: dict[str, dict[Any, Any]] = {}
    for at in range(0, len(ids), 500):
        chunk = ids[at : at + 500]
        marks = ", ".join("?" * len(chunk))
        rows = _run(
            store,
            f"SELECT run_id, node, step, started_at, finished_at FROM {TIMES_TABLE}"
            f" WHERE run_id IN ({marks})",
            tuple(chunk),
        )
        for row in rows:
            values = list(row.values()) if isinstance(row, dict) else list(row)
            run_id, node, step, start, end = values
            finished = None if end is None else float(end)
            out.setdefault(str(run_id), {})[(str(node), int(step))] = (float(start), finished)
    return out


def record_times(
    store: RunStore, run_id: str, times: Times, on_error: Callable[[Exception, str], None]
) -> None:
    """Write a run's node times as it ends; a failure is told to ``on_error(exc, "times")``
    (its report then shows the steps' times)."""
    if not times:
        return
    try:
        save_times(store, run_id, dict(times))
    except Exception as exc:  # bookkeeping: the run's ending is still recorded
        on_error(exc, "times")
