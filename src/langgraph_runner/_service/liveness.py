"""Workers' liveness: one row per worker process and queue, beaten on the process's heartbeat.

A process whose ``Workers`` start worker threads registers itself in the
``langgraph_runner_workers`` table beside the queue table (its id is the queue's
``owner``: the process's), with its host, pid, start time and beat interval. ``Liveness``
is a keeper of ``run_watch``, so the row's ``heartbeat_at`` is renewed on the one beat
that renews the process's claims (every third of the lease), idle or not. A draining
process says so (``draining``), a closed one ``stopped``.

Readers judge a worker with its own interval: one whose heartbeat is older than
``DEAD_AFTER_BEATS`` beats missed its heartbeat and reads ``dead`` at once, not after
its claims' lease (three beats) runs out; its runs read ``worker: dead`` until another
worker takes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import time
import weakref
from typing import Any

from langgraph_runner._db.connection import where_in
from langgraph_runner._runs import run_watch
from langgraph_runner._service.queue import QUEUE_TABLE, RunQueue

__all__ = [
    "DEAD_AFTER_BEATS",
    "WORKERS_TABLE",
    "Liveness",
    "WorkerRow",
    "worker_states",
    "workers_of",
]

WORKERS_TABLE = "langgraph_runner_workers"
DEAD_AFTER_BEATS = 2.0
"""Beats a worker's heartbeat may be late before it reads ``dead`` (one missed, one spare)."""
KEEP_STOPPED = 86400.0
"""Seconds a stopped or dead worker's row is kept (then the next worker to start drops it)."""
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {WORKERS_TABLE} ("
    " worker_id TEXT NOT NULL, queue TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,"
    " threads INTEGER NOT NULL, started_at DOUBLE PRECISION NOT NULL,"
    " heartbeat_at DOUBLE PRECISION NOT NULL, every DOUBLE PRECISION NOT NULL,"
    " state TEXT NOT NULL, PRIMARY KEY (worker_id, queue))",
)
_COLUMNS = "worker_id, host, pid, threads, started_at, heartbeat_at, every, state"
_now = time.time  # the clock heartbeats are stamped and judged with (tests replace it)


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkerRow:
    """One worker process as its row and the queue say."""

    worker_id: str
    host: str
    pid: int
    threads: int
    started_at: float
    heartbeat_at: float
    state: str  # alive, draining, stopped or dead (its heartbeat missed)
    runs: int = 0  # the runs it holds (claims), every tenant's
    own_runs: tuple[str, ...] = ()  # of those, the caller's tenant's run ids


class Liveness:
    """This process's row in the workers table, kept on the heartbeat (see the module docstring).

    Args:
        queue: The run queue the process's workers take runs from.
    """

    def __init__(self, queue: RunQueue) -> None:
        self._queue = queue
        _ensure_table(queue)
        self.state = "stopped"

    @property
    def every(self) -> float:
        """A third of the lease: the claims' beat."""
        return self._queue.lease / 3

    def start(self, threads: int) -> None:
        """Register the process as ``alive`` and beat from now on."""
        now = _now()
        self._queue.sql.run(
            f"DELETE FROM {WORKERS_TABLE} WHERE queue = ? AND heartbeat_at < ?",
            (self._queue.queue, now - KEEP_STOPPED),
        )
        self._queue.sql.run(
            f"INSERT INTO {WORKERS_TABLE} ({_COLUMNS}, queue) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (worker_id, queue) DO UPDATE SET threads = excluded.threads,"
            " started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,"
            " every = excluded.every, state = excluded.state",
            (
                self._queue.owner,
                socket.gethostname()[:200],
                os.getpid(),
                threads,
                now,
                now,
                self.every,
                "alive",
                self._queue.queue,
            ),
        )
        self.state = "alive"
        run_watch.keep(self)

    def beat(self) -> None:
        """Vouch for the process (called on ``run_watch``'s thread; it may raise)."""
        self._update(self.state)

    def draining(self) -> None:
        """Say the process takes no more runs: it finishes or hands back those it holds."""
        if self.state != "alive":
            return
        self.state = "draining"
        self._set("draining")

    def stop(self) -> None:
        """Say the process stopped (its workers closed); beat no more."""
        run_watch.unkeep(self)
        if self.state != "stopped":
            self.state = "stopped"
            self._set("stopped")

    def _set(self, state: str) -> None:
        with contextlib.suppress(Exception):  # the database is down: it reads dead soon
            self._update(state)

    def _update(self, state: str) -> None:
        self._queue.sql.run(
            f"UPDATE {WORKERS_TABLE} SET heartbeat_at = ?, state = ?"
            " WHERE worker_id = ? AND queue = ?",
            (_now(), state, self._queue.owner, self._queue.queue),
        )


_SET_UP: weakref.WeakSet[RunQueue] = weakref.WeakSet()  # queues whose database has the table


def _ensure_table(queue: RunQueue) -> None:
    """Create the workers table once per queue: an app whose runs no worker of this
    process takes (``langgraph-runner worker`` processes, or a Temporal executor) reads it
    before any worker made it."""
    if queue not in _SET_UP:
        queue.sql.setup(_DDL, WORKERS_TABLE)
        _SET_UP.add(queue)


def _state(state: str, heartbeat_at: float, every: float, now: float) -> str:
    late = now - heartbeat_at > DEAD_AFTER_BEATS * every
    return "dead" if state in ("alive", "draining") and late else state


def _at(row: Any, index: int, name: str) -> Any:
    return row[name] if isinstance(row, dict) else row[index]


def workers_of(queue: RunQueue, tenant: str | None, *, limit: int = 100) -> list[WorkerRow]:
    """The queue's worker processes, live ones first, each with the runs it holds: a count
    of every tenant's, and the run ids of ``tenant``'s alone."""
    _ensure_table(queue)
    _, rows = queue.sql.run(
        f"SELECT {_COLUMNS} FROM {WORKERS_TABLE} WHERE queue = ?"
        " ORDER BY heartbeat_at DESC LIMIT ?",
        (queue.queue, int(limit)),
    )
    _, held = queue.sql.run(
        f"SELECT owner, tenant, run_id FROM {QUEUE_TABLE} WHERE queue = ? AND status = 'claimed'",
        (queue.queue,),
    )
    counts: dict[str, int] = {}
    own: dict[str, list[str]] = {}
    for row in held:
        who = str(_at(row, 0, "owner"))
        counts[who] = counts.get(who, 0) + 1
        if _at(row, 1, "tenant") == tenant:
            own.setdefault(who, []).append(str(_at(row, 2, "run_id")))
    now = _now()
    found = []
    for row in rows:
        worker_id = str(_at(row, 0, "worker_id"))
        beat = float(_at(row, 5, "heartbeat_at"))
        found.append(
            WorkerRow(
                worker_id=worker_id,
                host=str(_at(row, 1, "host")),
                pid=int(_at(row, 2, "pid")),
                threads=int(_at(row, 3, "threads")),
                started_at=float(_at(row, 4, "started_at")),
                heartbeat_at=beat,
                state=_state(str(_at(row, 7, "state")), beat, float(_at(row, 6, "every")), now),
                runs=counts.get(worker_id, 0),
                own_runs=tuple(sorted(own.get(worker_id, ()))),
            )
        )
    order = {"alive": 0, "draining": 1, "dead": 2, "stopped": 3}
    return sorted(found, key=lambda w: order.get(w.state, 4))


def worker_states(queue: RunQueue, run_ids: list[str]) -> dict[str, str]:
    """Run id -> the state of the worker holding it, for those of ``run_ids`` claimed by a
    worker that keeps a row (one statement per 500 runs on SQLite, one on PostgreSQL)."""
    found: dict[str, str] = {}
    if not run_ids:
        return found
    _ensure_table(queue)
    now = _now()
    for where, params in where_in(queue.postgres, "q.run_id", run_ids):
        _, rows = queue.sql.run(
            f"SELECT q.run_id, w.heartbeat_at, w.every, w.state FROM {QUEUE_TABLE} q"
            f" JOIN {WORKERS_TABLE} w ON w.worker_id = q.owner AND w.queue = q.queue"
            f" WHERE q.status = 'claimed' AND {where}",
            params,
        )
        for row in rows:
            beat, every = float(_at(row, 1, "heartbeat_at")), float(_at(row, 2, "every"))
            found[str(_at(row, 0, "run_id"))] = _state(str(_at(row, 3, "state")), beat, every, now)
    return found
