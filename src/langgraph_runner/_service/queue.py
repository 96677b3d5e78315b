"""The run queue: triggered runs kept in a table beside the runs table, claimed under a lease.

``POST /runs`` puts a row in ``langgraph_runner_queue``, in the checkpointer's own
database (the runs table's connection: SQLite or PostgreSQL), so a queued run outlives
the process that took the request and any process on that database can execute it.

A row is ``queued``, then ``claimed`` by one worker (``owner``) until ``lease_until``;
the worker's process renews the leases of all its claims at once, on its heartbeat
(``renew_all``), while the runs go on, and marks a row ``done`` at its run's end.
A claimed row whose lease ran out belongs to a worker that stopped: the next claim
takes it again (``attempts`` counts the claims) and the run resumes from its last
checkpoint. A queued row can be ``cancelled`` before any worker takes it.

Claims are one statement each: on PostgreSQL an ``UPDATE`` of the row a
``SELECT ... FOR UPDATE SKIP LOCKED`` picked (concurrent workers skip each other's rows);
on SQLite a compare-and-set ``UPDATE`` of the oldest claimable row, which the database
runs as a single-writer transaction (a worker that loses the race tries the next row).
Leases compare the workers' clocks, so the machines' clocks must agree (NTP).

A run queued with ``on_busy`` (multitask reject, interrupt, rollback) is one decision with
its thread's runs not ended: one statement on SQLite (a write statement takes the write
lock before it reads), one transaction on PostgreSQL that first takes an advisory lock
of the queue and thread (``pg_advisory_xact_lock`` of two keys, a form no other lock of
the package uses). A plain ``enqueue`` looks at nothing and takes no lock.

On PostgreSQL a new run, and a cancel of a claimed one, is also a notification on the
channel named for the table (``CHANNEL``, the payload naming the queue): idle workers
``LISTEN`` on one connection per process (``Listener``) and take the run at once, and a
worker's process passes the cancel on at once. Polling stays as the fallback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langgraph_runner._db.broken import retry_broken
from langgraph_runner._db.connection import Db, where_in
from langgraph_runner._db.listen import Listener
from langgraph_runner._db.pool import PooledDb
from langgraph_runner._db.storage import postgres_settings
from langgraph_runner._records.exceptions import ThreadInUse
from langgraph_runner._runs.run_store import TABLE as RUNS_TABLE
from langgraph_runner._runs.run_store import RunStore, owner
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._traces.carrier import trace_id_of

__all__ = ["CANCEL", "CHANNEL", "QUEUE_TABLE", "OnBusy", "QueuedRun", "RunQueue"]

QUEUE_TABLE = "langgraph_runner_queue"
CHANNEL = QUEUE_TABLE
"""The PostgreSQL notification channel of the queue table: the payload is a queue's name
(a run was queued) or ``CANCEL`` and the name (a claimed run was asked to stop)."""
CANCEL = "cancel:"
_COLUMNS = (
    "run_id, queue, workflow, tenant, thread_id, input, change, base_thread, status,"
    " created_at, owner, lease_until, attempts, cancel_requested, trace_context, displaced"
)
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {QUEUE_TABLE} ("
    " run_id TEXT PRIMARY KEY, queue TEXT NOT NULL, workflow TEXT NOT NULL, tenant TEXT,"
    " thread_id TEXT NOT NULL, input TEXT, change TEXT, base_thread TEXT,"
    " status TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, owner TEXT,"
    " lease_until DOUBLE PRECISION, attempts INTEGER NOT NULL DEFAULT 0,"
    " cancel_requested INTEGER NOT NULL DEFAULT 0, finished_at DOUBLE PRECISION)",
    f"CREATE INDEX IF NOT EXISTS {QUEUE_TABLE}_ready ON {QUEUE_TABLE} (queue, status, created_at)",
    f"CREATE INDEX IF NOT EXISTS {QUEUE_TABLE}_tenant ON {QUEUE_TABLE} (tenant, created_at)",
    f"CREATE INDEX IF NOT EXISTS {QUEUE_TABLE}_thread ON {QUEUE_TABLE} (thread_id, status)",
)
# Added columns (older tables get them on first use): the W3C trace context a run was
# triggered under (JSON: ``traceparent``, ``tracestate``), which its worker continues; the
# runs it displaced when it was queued (a JSON list of ids: interrupt, rollback).
_ADDED = (("trace_context", "TEXT"), ("displaced", "TEXT"))
_PG_ADDED = tuple(f"ALTER TABLE {QUEUE_TABLE} ADD COLUMN IF NOT EXISTS {n} {t}" for n, t in _ADDED)
_CLAIMABLE = "(status = 'queued' OR (status = 'claimed' AND lease_until < ?))"
# One run of a thread at a time, in the order they were queued: a row waits while another
# row of its thread is claimed, or was queued before it (the multitask policy ``enqueue``).
_SERIAL = (
    f"NOT EXISTS (SELECT 1 FROM {QUEUE_TABLE} o WHERE o.queue = {QUEUE_TABLE}.queue"
    f" AND o.thread_id = {QUEUE_TABLE}.thread_id AND o.run_id <> {QUEUE_TABLE}.run_id"
    " AND (o.status = 'claimed'"
    f" OR (o.status = 'queued' AND o.created_at < {QUEUE_TABLE}.created_at)))"
)
_INSERT = (
    f"INSERT INTO {QUEUE_TABLE} (run_id, queue, workflow, tenant, thread_id, input,"
    " change, base_thread, status, created_at, trace_context"
)
# A thread's runs not ended (``busy``), and their ids, oldest first, as a JSON list.
_BUSY = f"FROM {QUEUE_TABLE} WHERE queue = ? AND thread_id = ? AND status IN ('queued', 'claimed')"
_BUSY_IDS = {
    False: f"(SELECT json_group_array(run_id) FROM (SELECT run_id {_BUSY} ORDER BY created_at))",
    True: f"(SELECT json_agg(run_id ORDER BY created_at)::text {_BUSY})",
}
_now = time.time  # the clock leases are judged with (tests replace it)

OnBusy = Literal["refuse", "displace"]
"""What ``RunQueue.enqueue`` does, in one decision, if the thread has runs not ended: queue
nothing (``ThreadInUse``), or queue the run with their ids (``QueuedRun.displaced``)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class QueuedRun:
    """One row of the queue."""

    run_id: str
    queue: str
    workflow: str
    tenant: str | None
    thread_id: str
    input: Any = None
    change: Mapping[str, Any] | None = None  # a rebuild: {"inputs": ..., "versions": ...}
    base_thread: str | None = None  # a rebuild's base run's thread
    status: str = "queued"  # queued, claimed, done or cancelled
    created_at: float = 0.0
    owner: str | None = None
    lease_until: float | None = None
    attempts: int = 0  # claims so far: above 1, an earlier worker stopped mid-run
    cancel_requested: bool = False
    trace_context: Mapping[str, str] | None = None  # W3C traceparent/tracestate to continue
    displaced: tuple[str, ...] = ()  # the thread's runs not ended when it was queued (on_busy)

    @property
    def trace_id(self) -> str:
        """The trace id the run's records and spans carry: its trigger's, else its run id."""
        return trace_id_of(self.trace_context) or self.run_id


class RunQueue:
    """The queue table of one checkpointer's database (see the module docstring).

    Args:
        saver: The checkpoint saver the runs execute with (its database holds the queue).
        queue: The queue's name: workers take only this queue's runs.
        lease: Seconds a claim holds without renewal.
    """

    def __init__(self, saver: Any, *, queue: str = "default", lease: float = 30.0) -> None:
        store = open_run_store(saver)
        if store is None:  # pragma: no cover - a saver always has a store
            raise ValueError("RunQueue: no database for this checkpointer")
        self._store: RunStore = store
        self._sql: Db | PooledDb = store.sql
        self._postgres = isinstance(self._sql, PooledDb)
        self.queue = queue
        self.lease = float(lease)
        self.owner = owner()
        self._sql.setup(_DDL, QUEUE_TABLE)
        self._add_columns()
        self._saver = saver

    def _add_columns(self) -> None:
        """Give a queue table made by an older version the columns added since."""
        if self._postgres:
            self._sql.setup(_PG_ADDED, QUEUE_TABLE)
            return
        _, rows = self._sql.run(f"PRAGMA table_info({QUEUE_TABLE})")
        have = {str(_at(r, 1, "name")) for r in rows}
        for name, kind in _ADDED:
            if name not in have:
                with contextlib.suppress(sqlite3.OperationalError):  # another process added it
                    self._sql.run(f"ALTER TABLE {QUEUE_TABLE} ADD COLUMN {name} {kind}")

    @property
    def sql(self) -> Db | PooledDb:
        """The queue's database connection (the runs table's)."""
        return self._sql

    @property
    def postgres(self) -> bool:
        """Whether the queue is in PostgreSQL (notifications wake its workers)."""
        return self._postgres

    def listener(self) -> Listener | None:
        """A new ``Listener`` on the queue's database (None on SQLite: workers poll)."""
        if not self._postgres:
            return None
        conninfo, kwargs = postgres_settings(self._saver.conn)
        return Listener(conninfo, kwargs, CHANNEL)

    def notify(self) -> None:
        """Wake this queue's listening workers (PostgreSQL; nothing on SQLite)."""
        if self._postgres:
            self._sql.run("SELECT pg_notify(?, ?)", (CHANNEL, self.queue))

    def close(self) -> None:
        """Let go of the database connection."""
        self._store.close()

    def enqueue(
        self,
        run_id: str,
        workflow: str,
        tenant: str | None,
        thread_id: str,
        inp: Any = None,
        *,
        change: Mapping[str, Any] | None = None,
        base_thread: str | None = None,
        trace_context: Mapping[str, str] | None = None,
        on_busy: OnBusy | None = None,
    ) -> QueuedRun:
        """Add a run to the queue (its input and change must be JSON; ``trace_context``:
        the W3C trace context its worker runs it under; ``on_busy``: see ``OnBusy``).

        Raises:
            ThreadInUse: ``on_busy="refuse"`` and the thread has runs not ended.
        """
        item = QueuedRun(
            run_id=run_id,
            queue=self.queue,
            workflow=workflow,
            tenant=tenant,
            thread_id=thread_id,
            input=inp,
            change=change,
            base_thread=base_thread,
            created_at=_now(),
            trace_context=dict(trace_context) if trace_context else None,
        )
        values: tuple[Any, ...] = (run_id, self.queue, workflow, tenant, thread_id, json.dumps(inp))
        values += (_json(change), base_thread, item.created_at, _json(item.trace_context))
        if on_busy is not None:
            return self._decide(item, values, on_busy)
        insert = f"{_INSERT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)"
        self._sql.run(
            # PostgreSQL: the row and its notification in one statement (sent at commit).
            f"WITH added AS ({insert} RETURNING run_id) SELECT pg_notify(?, ?) FROM added"
            if self._postgres
            else insert,
            (*values, *((CHANNEL, self.queue) if self._postgres else ())),
        )
        return item

    def _decide(self, item: QueuedRun, values: tuple[Any, ...], on_busy: OnBusy) -> QueuedRun:
        """``enqueue`` with ``on_busy``: one statement (SQLite), one locked transaction."""
        refuse = on_busy == "refuse"
        insert = (
            f"{_INSERT}, displaced) SELECT ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?,"
            f" {'NULL' if refuse else _BUSY_IDS[self._postgres]}"
            f"{f' WHERE NOT EXISTS (SELECT 1 {_BUSY})' if refuse else ''} RETURNING displaced"
        )
        params = (*values, self.queue, item.thread_id)
        if isinstance(self._sql, PooledDb):
            pool = self._sql.pool
            on = {"database": self._sql.database, "on_retry": pool.check}
            rows = retry_broken(_locked, pool, insert, params, self.queue, **on)
        else:
            rows = self._sql.run(insert, params)[1]
        if not rows:  # refused: name the run that holds the thread, if it is still there
            busy = [(b.run_id, b.status) for b in self.busy(item.thread_id)[:1]]
            raise ThreadInUse(item.thread_id, *(busy[0] if busy else (None, None)))
        ids = json.loads(_at(rows[0], 0, "displaced") or "[]")
        return dataclasses.replace(item, displaced=tuple(str(i) for i in ids))

    def claim(self, workflows: Sequence[str]) -> QueuedRun | None:
        """Take the oldest claimable run of these workflows (None if there is none)."""
        names = list(workflows)
        if not names:
            return None
        marks = ", ".join("?" * len(names))
        now = _now()
        pick = (
            f"SELECT run_id FROM {QUEUE_TABLE} WHERE queue = ? AND workflow IN ({marks})"
            f" AND {_CLAIMABLE} AND {_SERIAL} ORDER BY created_at LIMIT 1"
        )
        take = (
            f"UPDATE {QUEUE_TABLE} SET status = 'claimed', owner = ?, lease_until = ?,"
            " attempts = attempts + 1"
        )
        if self._postgres:
            _, rows = self._sql.run(
                f"{take} WHERE run_id = ({pick} FOR UPDATE SKIP LOCKED) AND {_CLAIMABLE}"
                f" RETURNING {_COLUMNS}",
                (self.owner, now + self.lease, self.queue, *names, now, now),
            )
            return _queued(rows[0]) if rows else None
        for _ in range(8):  # lost races: another worker took the row first
            _, found = self._sql.run(pick, (self.queue, *names, now))
            if not found:
                return None
            run_id = str(_at(found[0], 0, "run_id"))
            count, _ = self._sql.run(
                f"{take} WHERE run_id = ? AND {_CLAIMABLE} AND {_SERIAL}",
                (self.owner, now + self.lease, run_id, now),
            )
            if count == 1:
                return self.get(run_id)
        return None

    def renew(self, run_id: str) -> bool:
        """Extend this worker's lease on a run; False if the claim is no longer its own."""
        return run_id in self.renew_all([run_id])

    def renew_all(self, run_ids: Sequence[str]) -> dict[str, bool]:
        """Extend this worker's leases on these runs, in one statement (PostgreSQL; SQLite:
        one per 500 runs): run id -> whether a cancel was asked, for the claims still its
        own (a run left out is no longer its claim)."""
        held: dict[str, bool] = {}
        until = _now() + self.lease
        for where, params in where_in(self._postgres, "run_id", list(run_ids)):
            _, rows = self._sql.run(
                f"UPDATE {QUEUE_TABLE} SET lease_until = ?"
                f" WHERE owner = ? AND status = 'claimed' AND {where}"
                " RETURNING run_id, cancel_requested",
                (until, self.owner, *params),
            )
            for row in rows:
                held[str(_at(row, 0, "run_id"))] = bool(int(_at(row, 1, "cancel_requested") or 0))
        return held

    def complete(self, run_id: str) -> None:
        """Mark a run this worker executed ``done``."""
        self._sql.run(
            f"UPDATE {QUEUE_TABLE} SET status = 'done', finished_at = ?, lease_until = NULL"
            " WHERE run_id = ? AND owner = ? AND status = 'claimed'",
            (_now(), run_id, self.owner),
        )

    def cancel(self, run_id: str, tenant: str | None) -> QueuedRun | None:
        """Stop the run from starting: the cancelled row if it was still ``queued``, else
        None (after flagging a claimed run, whose worker then cancels it)."""
        count, _ = self._sql.run(
            f"UPDATE {QUEUE_TABLE} SET status = 'cancelled', cancel_requested = 1,"
            f" finished_at = ? WHERE run_id = ? AND {_tenant_is(tenant)} AND status = 'queued'",
            (_now(), run_id, *_tenant_arg(tenant)),
        )
        if count == 1:
            return self.get(run_id)
        flag = (
            f"UPDATE {QUEUE_TABLE} SET cancel_requested = 1"
            f" WHERE run_id = ? AND {_tenant_is(tenant)} AND status = 'claimed'"
        )
        if self._postgres:  # its worker's process hears it and passes it on at once
            self._sql.run(
                f"WITH flagged AS ({flag} RETURNING run_id) SELECT pg_notify(?, ?) FROM flagged",
                (run_id, *_tenant_arg(tenant), CHANNEL, CANCEL + self.queue),
            )
        else:
            self._sql.run(flag, (run_id, *_tenant_arg(tenant)))
        return None

    def busy(self, thread_id: str) -> list[QueuedRun]:
        """The thread's runs not ended yet (queued or claimed), oldest first; ``thread_id``
        as stored (a tenant's own: ``scoped_thread_id``)."""
        _, rows = self._sql.run(
            f"SELECT {_COLUMNS} FROM {QUEUE_TABLE} WHERE queue = ? AND thread_id = ?"
            " AND status IN ('queued', 'claimed') ORDER BY created_at",
            (self.queue, thread_id),
        )
        return [_queued(r) for r in rows]

    def release(self, run_id: str) -> bool:
        """Hand a run this worker claimed back to the queue (a draining worker): the next
        claim takes it at once and resumes its thread from its last checkpoint."""
        count, _ = self._sql.run(
            f"UPDATE {QUEUE_TABLE} SET status = 'queued', owner = NULL, lease_until = NULL"
            " WHERE run_id = ? AND owner = ? AND status = 'claimed'",
            (run_id, self.owner),
        )
        if count == 1:
            self.notify()
        return count == 1

    def purge(self, before: float | None = None) -> int:
        """Delete this queue's finished rows (``done`` or ``cancelled``), those finished
        before ``before`` (epoch seconds) if given; how many went."""
        sql = f"DELETE FROM {QUEUE_TABLE} WHERE queue = ? AND status IN ('done', 'cancelled')"
        if before is None:
            count, _ = self._sql.run(sql, (self.queue,))
        else:
            count, _ = self._sql.run(f"{sql} AND finished_at < ?", (self.queue, float(before)))
        return max(count, 0)

    def get(self, run_id: str) -> QueuedRun | None:
        """One row by id (None if unknown)."""
        _, rows = self._sql.run(f"SELECT {_COLUMNS} FROM {QUEUE_TABLE} WHERE run_id = ?", (run_id,))
        return _queued(rows[0]) if rows else None

    def waiting(self, tenant: str | None, *, limit: int = 50) -> list[QueuedRun]:
        """The tenant's runs no worker has started yet (queued, or claimed with no row
        in the runs table so far), newest first."""
        _, rows = self._sql.run(
            f"SELECT {', '.join('q.' + c.strip() for c in _COLUMNS.split(','))}"
            f" FROM {QUEUE_TABLE} q LEFT JOIN {RUNS_TABLE} r ON r.run_id = q.run_id"
            f" WHERE q.queue = ? AND {_tenant_is(tenant, 'q.')}"
            " AND q.status IN ('queued', 'claimed') AND r.run_id IS NULL"
            " ORDER BY q.created_at DESC LIMIT ?",
            (self.queue, *_tenant_arg(tenant), int(limit)),
        )
        return [_queued(r) for r in rows]


def _locked(pool: Any, insert: str, params: tuple[Any, ...], queue: str) -> list[Any]:
    """``insert``'s rows (and its notification), in a transaction that first takes the
    advisory lock of its queue and thread (its last two parameters)."""
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", params[-2:])
        notified = f"WITH added AS ({insert}) SELECT displaced, pg_notify(?, ?) FROM added"
        return list(conn.execute(notified.replace("?", "%s"), (*params, CHANNEL, queue)))


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _tenant_is(tenant: str | None, prefix: str = "") -> str:
    return f"{prefix}tenant IS NULL" if tenant is None else f"{prefix}tenant = ?"


def _tenant_arg(tenant: str | None) -> tuple[str, ...]:
    return () if tenant is None else (tenant,)


def _at(row: Any, index: int, name: str) -> Any:
    return row[name] if isinstance(row, dict) else row[index]


def _queued(row: Any) -> QueuedRun:
    names = [c.strip() for c in _COLUMNS.split(",")]
    v = {n: _at(row, i, n) for i, n in enumerate(names)}
    return QueuedRun(
        run_id=str(v["run_id"]),
        queue=str(v["queue"]),
        workflow=str(v["workflow"]),
        tenant=None if v["tenant"] is None else str(v["tenant"]),
        thread_id=str(v["thread_id"]),
        input=None if v["input"] is None else json.loads(v["input"]),
        change=None if v["change"] is None else json.loads(v["change"]),
        base_thread=None if v["base_thread"] is None else str(v["base_thread"]),
        status=str(v["status"]),
        created_at=float(v["created_at"]),
        owner=None if v["owner"] is None else str(v["owner"]),
        lease_until=None if v["lease_until"] is None else float(v["lease_until"]),
        attempts=int(v["attempts"] or 0),
        cancel_requested=bool(int(v["cancel_requested"] or 0)),
        trace_context=_trace_context(v["trace_context"]),
        displaced=tuple(str(i) for i in json.loads(v["displaced"] or "[]")),
    )


def _trace_context(raw: Any) -> dict[str, str] | None:
    """A stored trace context, or None (none stored, or not the JSON object of strings it was)."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str)} or None
