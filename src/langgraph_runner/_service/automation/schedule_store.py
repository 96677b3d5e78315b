"""The schedules table: a cron expression per workflow and input, and the runs each tick fired.

A schedule row belongs to one tenant and one run queue (``queue``: the processes
serving that queue on that database fire it) and holds ``next_run_at``, the tick due
next. Firing a tick takes three statements, each safe to repeat or to race:

1. ``claim_tick``: a row in ``langgraph_runner_schedule_runs`` keyed by (schedule,
   tick), naming the run the tick fires (its id is derived from both, so every process
   names the same run). One process inserts it; the others find it there.
2. The run is queued under that id (the queue's primary key refuses a second one).
3. ``advance``: a compare-and-set of ``next_run_at`` from the tick to the next one
   (``... WHERE schedule_id = ? AND next_run_at = <tick>``): a process that read the
   schedule before another moved it on updates nothing.

So a tick fires exactly one run on SQLite and on PostgreSQL, however many processes
look, and a process that stops between two statements leaves the tick for the next
pass to finish (``Scheduler`` in ``schedules``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from langgraph_runner._db.connection import Db
from langgraph_runner._db.pool import PooledDb
from langgraph_runner._runs.store_registry import open_run_store

__all__ = ["FIRED_TABLE", "SCHEDULES_TABLE", "Fired", "Schedule", "ScheduleStore"]

SCHEDULES_TABLE = "langgraph_runner_schedules"
FIRED_TABLE = "langgraph_runner_schedule_runs"
_COLUMNS = (
    "schedule_id, tenant, queue, workflow, cron, input, thread_id, webhook, created_at,"
    " next_run_at, last_run_id, last_run_at, fired"
)
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {SCHEDULES_TABLE} ("
    " schedule_id TEXT PRIMARY KEY, tenant TEXT, queue TEXT NOT NULL, workflow TEXT NOT NULL,"
    " cron TEXT NOT NULL, input TEXT, thread_id TEXT, webhook TEXT,"
    " created_at DOUBLE PRECISION NOT NULL, next_run_at DOUBLE PRECISION NOT NULL,"
    " last_run_id TEXT, last_run_at DOUBLE PRECISION, fired INTEGER NOT NULL DEFAULT 0)",
    f"CREATE INDEX IF NOT EXISTS {SCHEDULES_TABLE}_due ON {SCHEDULES_TABLE} (queue, next_run_at)",
    f"CREATE INDEX IF NOT EXISTS {SCHEDULES_TABLE}_tenant"
    f" ON {SCHEDULES_TABLE} (tenant, created_at)",
    f"CREATE TABLE IF NOT EXISTS {FIRED_TABLE} ("
    " schedule_id TEXT NOT NULL, due_at DOUBLE PRECISION NOT NULL, run_id TEXT NOT NULL,"
    " tenant TEXT, fired_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (schedule_id, due_at))",
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Schedule:
    """One schedule row."""

    schedule_id: str
    tenant: str | None
    queue: str
    workflow: str
    cron: str
    input: Any = None
    thread_id: str | None = None  # the tenant's own thread id (None: a new thread per run)
    webhook: str | None = None  # the runs' webhook (None: the app's, if any)
    created_at: float = 0.0
    next_run_at: float = 0.0
    last_run_id: str | None = None
    last_run_at: float | None = None
    fired: int = 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Fired:
    """A run a schedule's tick fired."""

    run_id: str
    due_at: float
    fired_at: float


class ScheduleStore:
    """The schedules of one checkpointer's database (see the module docstring)."""

    def __init__(self, saver: Any) -> None:
        store = open_run_store(saver)
        if store is None:  # pragma: no cover - a saver always has a store
            raise ValueError("schedules: no database for this checkpointer")
        self._store = store
        self._sql: Db | PooledDb = store.sql
        self._sql.setup(_DDL, SCHEDULES_TABLE)

    def close(self) -> None:
        """Let go of the database connection."""
        self._store.close()

    def add(self, schedule: Schedule) -> None:
        """Store a new schedule."""
        self._sql.run(
            f"INSERT INTO {SCHEDULES_TABLE} ({_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                schedule.schedule_id,
                schedule.tenant,
                schedule.queue,
                schedule.workflow,
                schedule.cron,
                json.dumps(schedule.input),
                schedule.thread_id,
                schedule.webhook,
                schedule.created_at,
                schedule.next_run_at,
                None,
                None,
                0,
            ),
        )

    def get(self, schedule_id: str, tenant: str | None, queue: str) -> Schedule | None:
        """A schedule of ``tenant`` on ``queue`` (None: no such one, or another's)."""
        _, rows = self._sql.run(
            f"SELECT {_COLUMNS} FROM {SCHEDULES_TABLE}"
            " WHERE schedule_id = ? AND tenant = ? AND queue = ?",
            (schedule_id, tenant, queue),
        )
        return _schedule(rows[0]) if rows else None

    def of(self, tenant: str | None, queue: str, *, limit: int = 100) -> list[Schedule]:
        """The tenant's schedules on ``queue``, newest first."""
        _, rows = self._sql.run(
            f"SELECT {_COLUMNS} FROM {SCHEDULES_TABLE} WHERE tenant = ? AND queue = ?"
            " ORDER BY created_at DESC, schedule_id LIMIT ?",
            (tenant, queue, int(limit)),
        )
        return [_schedule(r) for r in rows]

    def count(self, tenant: str | None, queue: str) -> int:
        """How many schedules the tenant has on ``queue``."""
        _, rows = self._sql.run(
            f"SELECT COUNT(*) FROM {SCHEDULES_TABLE} WHERE tenant = ? AND queue = ?",
            (tenant, queue),
        )
        return int(_at(rows[0], 0, "count")) if rows else 0

    def delete(self, schedule_id: str, tenant: str | None, queue: str) -> bool:
        """Delete a schedule of ``tenant``; False if there was none."""
        count, _ = self._sql.run(
            f"DELETE FROM {SCHEDULES_TABLE} WHERE schedule_id = ? AND tenant = ? AND queue = ?",
            (schedule_id, tenant, queue),
        )
        return count == 1

    def due(self, queue: str, now: float, *, limit: int = 100) -> list[Schedule]:
        """The schedules of ``queue`` whose next tick is due at ``now``, longest-due first."""
        _, rows = self._sql.run(
            f"SELECT {_COLUMNS} FROM {SCHEDULES_TABLE} WHERE queue = ? AND next_run_at <= ?"
            " ORDER BY next_run_at LIMIT ?",
            (queue, now, int(limit)),
        )
        return [_schedule(r) for r in rows]

    def claim_tick(self, schedule: Schedule, run_id: str, now: float) -> bool:
        """Name the run of the schedule's due tick; False if a process named it first."""
        count, _ = self._sql.run(
            f"INSERT INTO {FIRED_TABLE} (schedule_id, due_at, run_id, tenant, fired_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (schedule_id, due_at) DO NOTHING",
            (schedule.schedule_id, schedule.next_run_at, run_id, schedule.tenant, now),
        )
        return count == 1

    def advance(self, schedule: Schedule, next_run_at: float, run_id: str, now: float) -> bool:
        """Move the schedule from its due tick to ``next_run_at`` (compare-and-set); False
        if another process moved it first."""
        count, _ = self._sql.run(
            f"UPDATE {SCHEDULES_TABLE} SET next_run_at = ?, last_run_id = ?, last_run_at = ?,"
            " fired = fired + 1 WHERE schedule_id = ? AND next_run_at = ?",
            (next_run_at, run_id, now, schedule.schedule_id, schedule.next_run_at),
        )
        return count == 1

    def fired(self, schedule_id: str, *, limit: int = 20) -> list[Fired]:
        """The runs the schedule's ticks fired, newest first."""
        _, rows = self._sql.run(
            f"SELECT run_id, due_at, fired_at FROM {FIRED_TABLE} WHERE schedule_id = ?"
            " ORDER BY due_at DESC LIMIT ?",
            (schedule_id, int(limit)),
        )
        return [
            Fired(
                run_id=str(_at(r, 0, "run_id")),
                due_at=float(_at(r, 1, "due_at")),
                fired_at=float(_at(r, 2, "fired_at")),
            )
            for r in rows
        ]

    def purge(self, queue: str) -> int:
        """Delete every schedule of ``queue`` and the record of what they fired (their
        runs stay); how many schedules went."""
        self._sql.run(
            f"DELETE FROM {FIRED_TABLE} WHERE schedule_id IN"
            f" (SELECT schedule_id FROM {SCHEDULES_TABLE} WHERE queue = ?)",
            (queue,),
        )
        count, _ = self._sql.run(f"DELETE FROM {SCHEDULES_TABLE} WHERE queue = ?", (queue,))
        return max(count, 0)

    def forget(self, schedule_id: str) -> None:
        """Delete the record of the runs a schedule fired (its runs stay)."""
        self._sql.run(f"DELETE FROM {FIRED_TABLE} WHERE schedule_id = ?", (schedule_id,))


def _at(row: Any, index: int, name: str) -> Any:
    return row[name] if isinstance(row, dict) else row[index]


def _schedule(row: Any) -> Schedule:
    names = [c.strip() for c in _COLUMNS.split(",")]
    found = {n: _at(row, i, n) for i, n in enumerate(names)}
    # Text columns come back as str and DOUBLE PRECISION as float from both databases.
    found["input"] = None if found["input"] is None else json.loads(found["input"])
    found["fired"] = int(found["fired"] or 0)
    return Schedule(**found)
