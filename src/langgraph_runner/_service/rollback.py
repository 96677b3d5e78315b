"""``multitask_strategy=rollback``: the runs a new run displaced go, and it starts before them.

A run posted under ``rollback`` is queued with the ids of the thread's runs not ended
(``QueuedRun.displaced``), which are cancelled at once as under ``interrupt``. The queue
starts it only once they ended; then, before it runs, its worker calls ``roll_back``:

- the thread's state goes back to before the earliest of them started: the new run starts
  from the parent of that run's first checkpoint (``configurable.checkpoint_id``: LangGraph
  forks there). When that run was the thread's first, the thread held nothing else, and
  ``saver.delete_thread`` removes its checkpoints, so the new run starts afresh;
- their rows go: runs table, node times, queue rows, and (``forget``) their webhooks,
  first, so a webhook is never posted for a run whose row is gone. Each delete names the
  tenant (its runs and its thread only).

Otherwise their checkpoints stay on the thread, a branch no later run continues (the
thread's latest checkpoint is the new run's from its first step). LangGraph's savers
offer no way to delete one run's checkpoints: ``BaseCheckpointSaver.delete_for_runs``
raises ``NotImplementedError`` in ``SqliteSaver`` and ``PostgresSaver`` (langgraph-checkpoint
4.3, -sqlite 3.1, -postgres 3.2; LangGraph Server implements it in its own checkpointer),
and checkpoint metadata keeps this package's run id, not LangGraph's.

If a run they did not displace wrote the thread after them (posted at the same instant
with ``enqueue`` and ordered first by its clock), the thread's state is left as it is:
the new run starts from its latest checkpoint, as under ``interrupt``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langgraph_runner._db.connection import where_in
from langgraph_runner._runs import task_times
from langgraph_runner._runs.run_store import RUN_ID_METADATA_KEY
from langgraph_runner._runs.run_store import TABLE as RUNS_TABLE
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._service.queue import QUEUE_TABLE, QueuedRun

__all__ = ["ROLLBACK", "fork_point", "roll_back"]

ROLLBACK = "rollback"
"""``change["kind"]`` of a queued run that rolls back the runs it displaced."""


def roll_back(
    saver: Any, item: QueuedRun, forget: Callable[[Sequence[str]], None] | None = None
) -> str | None:
    """Roll back the runs ``item`` displaced (see the module docstring); the checkpoint id
    ``item`` starts from (None: the thread's latest, if any). Safe to call again (a worker
    that stopped before the run's first checkpoint)."""
    runs = list(item.displaced)
    if not runs:
        return None
    fork, whole = fork_point(saver, item.thread_id, runs)
    if whole:
        saver.delete_thread(item.thread_id)
    if forget is not None:
        forget(runs)
    _delete_rows(saver, runs, item.tenant)
    return fork


def fork_point(saver: Any, thread_id: str, runs: Sequence[str]) -> tuple[str | None, bool]:
    """The checkpoint before the earliest of ``runs`` started on ``thread_id`` (None: the
    latest), and whether the thread holds their checkpoints only (delete it)."""
    latest = saver.get_tuple({"configurable": {"thread_id": thread_id}})
    if latest is None or (latest.metadata or {}).get(RUN_ID_METADATA_KEY) not in runs:
        return None, False  # none wrote a checkpoint, or another run went on from theirs
    root = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    first = min(
        (
            found
            for run_id in runs
            for found in saver.list(root, filter={RUN_ID_METADATA_KEY: run_id})
        ),
        key=lambda found: str(found.config["configurable"]["checkpoint_id"]),
    )
    parent = (first.parent_config or {}).get("configurable", {}).get("checkpoint_id")
    return (str(parent), False) if parent else (None, True)


def _delete_rows(saver: Any, runs: Sequence[str], tenant: str | None) -> None:
    """The runs' rows in the runs table, their node times and ended queue rows (``tenant``'s)."""
    store = open_run_store(saver)
    if store is None:  # pragma: no cover - a saver always has a store
        return
    owner = ("tenant IS NULL", ()) if tenant is None else ("tenant = ?", (tenant,))
    try:
        task_times.setup(store)  # made on a run's first node time: maybe not yet
        for where, params in where_in(store.sql.postgres, "run_id", list(runs)):
            store.sql.run(
                f"DELETE FROM {QUEUE_TABLE} WHERE {where} AND {owner[0]}"
                " AND status IN ('done', 'cancelled')",
                (*params, *owner[1]),
            )
            _, gone = store.sql.run(
                f"DELETE FROM {RUNS_TABLE} WHERE {where} AND {owner[0]} RETURNING run_id",
                (*params, *owner[1]),
            )
            ids = [str(row["run_id"] if isinstance(row, dict) else row[0]) for row in gone]
            for times, more in where_in(store.sql.postgres, "run_id", ids):
                store.sql.run(f"DELETE FROM {task_times.TIMES_TABLE} WHERE {times}", more)
    finally:
        store.close()
