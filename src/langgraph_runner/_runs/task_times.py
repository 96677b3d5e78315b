"""Each node's own start and end in a run, so parallel nodes do not share their step's time.

Checkpoints are written once per superstep: a report read from them alone gives every
node of a step the step's duration. ``run()``'s tracker notes when each top-level node
task starts and ends (callbacks, wall clock) and hands it to the process's writer
thread (``mark_time``), which writes what changed in the last ``GATHER`` seconds in one
statement per database to the ``langgraph_runner_task_times`` table beside the runs table (the
node's own thread never waits on it): a report of a live run shows the nodes that
finished with their own times and the ones under way as ``running``. One row per node
and superstep (a node's ``Send`` tasks in one step span from the first start to the
last end). When the run ends (completed, failed, cancelled or interrupted) all its rows
are written once more in one statement, so a live write that failed is made good. A
report reads them for the runs of its thread and falls back to the step's checkpoint
times for a node without a row (a run whose process died, a graph invoked without
``run()``).

A row also says whether the node's cache served it (``cache``: ``cached``, or ``reused`` in
a rebuild), as the tracker learns it from the engine: a report shows it for any state
schema, also one without the ``step_marks``/``cache_hits`` channels a checkpoint would say
it in. A table made before that column existed gains it on first use.

A node whose attempts failed has them in its row (``attempts``, JSON text, ``AttemptLog``):
each failed attempt with its own record (code, category, error type, message: the
redacted record the package writes), start and end, and the attempt that ended its task.
The tracker hears each failure from the engine. The row keeps ``ATTEMPTS_KEPT`` of them
(the first half and the latest ones); the numbers say which were left out. A node that
never failed writes none.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from langgraph_runner._db.connection import add_sqlite_columns, where_in
from langgraph_runner._runs.run_store import RunStore

__all__ = [
    "ATTEMPTS_KEPT",
    "GATHER",
    "TIMES_TABLE",
    "AttemptLog",
    "flush_marks",
    "load_attempts",
    "load_rows",
    "load_times",
    "mark_time",
    "record_times",
    "save_attempts",
    "save_times",
    "setup",
    "upsert_statements",
]

TIMES_TABLE = "langgraph_runner_task_times"
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TIMES_TABLE} ("
    " run_id TEXT NOT NULL, node TEXT NOT NULL, step INTEGER NOT NULL,"
    " started_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION,"
    " PRIMARY KEY (run_id, node, step))",
)
# Added columns (older tables get them on first use): how the node's cache served it, and
# its attempts when one failed (JSON text, AttemptLog).
_ADDED = (("cache", "TEXT"), ("attempts", "TEXT"))
_PG_DDL = (
    *_DDL,
    *(f"ALTER TABLE {TIMES_TABLE} ADD COLUMN IF NOT EXISTS {n} {t}" for n, t in _ADDED),
)
_BATCH = 200  # rows per INSERT statement
GATHER = 0.1
"""Seconds the writer thread gathers node times before it writes them (live lag)."""

Times = Mapping[tuple[str, int], tuple[float, float | None]]
"""(node, step) -> (started_at, finished_at) in epoch seconds (finished None: never ended)."""
Served = Mapping[tuple[str, int], str | None]
"""(node, step) -> how its cache served it: ``cached``, ``reused``, or None (it ran)."""
Attempts = Mapping[tuple[str, int], str | None]
"""(node, step) -> its attempts as ``AttemptLog.text()``, or None (none failed)."""


def _run(store: RunStore, sql: str, params: tuple[Any, ...]) -> list[Any]:
    try:
        return store.sql.run(sql, params)[1]
    except Exception:  # no table yet, or one without the added columns: make them, again
        setup(store)
        return store.sql.run(sql, params)[1]


def save_times(
    store: RunStore,
    run_id: str,
    times: Times,
    served: Served | None = None,
    attempts: Attempts | None = None,
) -> None:
    """Write one run's node times, how each node's cache served it (``served``) and its
    attempts (``attempts``; a run id written before is overwritten row by row, its
    attempts kept where none are given)."""
    _upsert(store, time_rows(run_id, times, served, attempts), guarded=False)


def time_rows(
    run_id: str, times: Times, served: Served | None = None, attempts: Attempts | None = None
) -> list[tuple[Any, ...]]:
    """The rows ``upsert_statements`` writes for one run's node times."""
    cache, tries = served or {}, attempts or {}
    return [
        (run_id, node, step, start, end, cache.get((node, step)), tries.get((node, step)))
        for (node, step), (start, end) in times.items()
    ]


def _upsert(store: RunStore, rows: list[tuple[Any, ...]], *, guarded: bool) -> None:
    for sql, params in upsert_statements(rows, guarded=guarded, postgres=store.sql.postgres):
        _run(store, sql, params)


def upsert_statements(
    rows: list[tuple[Any, ...]], *, guarded: bool = False, postgres: bool = False
) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements (``?`` placeholders) that write these (run_id, node, step, start,
    end, cache, attempts) rows (``time_rows``); ``guarded``: never back to running or an
    earlier end. A row's attempts stay as they were where a row gives None.

    On PostgreSQL one statement of seven array parameters (``unnest``) for up to
    ``_PG_BATCH`` rows: the same text whatever the number of rows, which the driver
    parses once (psycopg parses a statement of more than 50 parameters anew on every
    call). On SQLite ``_BATCH`` rows of ``VALUES`` each.
    """
    tail = _UPSERT_TAIL + (_GUARDED if guarded else "")
    if postgres:
        return [
            (_PG_UPSERT + tail, _arrays(rows[at : at + _PG_BATCH]))
            for at in range(0, len(rows), _PG_BATCH)
        ]
    out = []
    for at in range(0, len(rows), _BATCH):
        chunk = rows[at : at + _BATCH]
        marks = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
        out.append(
            (
                f"INSERT INTO {TIMES_TABLE} ({_COLUMNS}) VALUES {marks}{tail}",
                tuple(v for row in chunk for v in row),
            )
        )
    return out


def _arrays(rows: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The rows as ``_PG_UPSERT``'s seven arrays, each of one type (psycopg dumps no list
    of mixed types: a start given as an int among floats would fail the write)."""
    return (
        [str(row[0]) for row in rows],
        [str(row[1]) for row in rows],
        [int(row[2]) for row in rows],
        [float(row[3]) for row in rows],
        [None if row[4] is None else float(row[4]) for row in rows],
        [None if row[5] is None else str(row[5]) for row in rows],
        [None if row[6] is None else str(row[6]) for row in rows],
    )


_READ = "run_id, node, step, started_at, finished_at, cache"
_COLUMNS = f"{_READ}, attempts"
_PG_BATCH = 5000  # rows per statement on PostgreSQL (seven arrays of this length)
_PG_UPSERT = (
    f"INSERT INTO {TIMES_TABLE} ({_COLUMNS})"
    " SELECT * FROM unnest(?::text[], ?::text[], ?::integer[],"
    " ?::double precision[], ?::double precision[], ?::text[], ?::text[])"
)
_UPSERT_TAIL = (
    " ON CONFLICT (run_id, node, step) DO UPDATE SET"
    " started_at = excluded.started_at, finished_at = excluded.finished_at,"
    f" cache = excluded.cache, attempts = COALESCE(excluded.attempts, {TIMES_TABLE}.attempts)"
)


def setup(store: RunStore) -> None:
    """Make the node-times table in the store's database if it is missing, and give a
    table made by an older version the columns added since."""
    sql = store.sql
    if sql.postgres:
        sql.setup(_PG_DDL, TIMES_TABLE)
        return
    sql.setup(_DDL, TIMES_TABLE)
    add_sqlite_columns(sql, TIMES_TABLE, _ADDED)


_GUARDED = (
    f" WHERE {TIMES_TABLE}.finished_at IS NULL OR (excluded.finished_at IS NOT NULL"
    f" AND excluded.finished_at >= {TIMES_TABLE}.finished_at)"
)
_log = logging.getLogger("langgraph_runner.runs")


class _Writer:
    """One daemon thread per process writing live node times, latest value per row."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        """The state of a process that has written nothing yet."""
        self.guard = threading.Lock()
        self.pending: dict[tuple[int, str, str, int], tuple[RunStore, Any]] = {}
        self.wake = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        self.asleep = True  # no mark since the writer took its last batch: wake it
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()

    def note(self, store: RunStore, run_id: str, node: str, step: int, times: Any) -> None:
        with self.guard:
            self.pending[(id(store), run_id, node, step)] = (store, times)
            if not self.asleep:  # the writer will take it with the rest: nothing else to do
                return
            self.asleep = False
            self.idle.clear()
            if self.thread is None or not self.thread.is_alive() or self.pid != os.getpid():
                self.pid = os.getpid()
                self.thread = threading.Thread(
                    target=self.loop, name="langgraph-runner-task-times", daemon=True
                )
                self.thread.start()
            self.wake.set()

    def loop(self) -> None:
        try:
            self._loop()
        finally:  # never expected: the next mark starts a new writer
            with self.guard:
                self.asleep = True

    def _loop(self) -> None:
        while True:
            self.wake.wait()
            time.sleep(GATHER)  # gather what changes meanwhile: one statement for it all
            with self.guard:
                self.wake.clear()
                batch, self.pending = self.pending, {}
                self.asleep = True
            by_store: dict[int, tuple[RunStore, list[tuple[Any, ...]]]] = {}
            for (sid, run_id, node, step), (store, (start, end, served, tries)) in batch.items():
                row = (run_id, node, step, start, end, served, tries)
                by_store.setdefault(sid, (store, []))[1].append(row)
            for store, rows in by_store.values():
                if store.closed:
                    continue  # its runs ended: their last statement wrote their times
                try:
                    _upsert(store, rows, guarded=True)
                except Exception as exc:  # bookkeeping: the run's end writes its times again
                    _log.debug("live node times unwritten: %s", type(exc).__name__)
            with self.guard:
                if self.asleep:  # nothing came meanwhile
                    self.idle.set()

    def forget(self) -> None:
        """In a forked child: no writer thread yet, nothing pending (the parent writes its own)."""
        self._reset()


_WRITER = _Writer()
if hasattr(os, "register_at_fork"):  # a child starts its own writer on its first mark
    os.register_at_fork(after_in_child=_WRITER.forget)


def mark_time(
    store: RunStore,
    run_id: str,
    node: str,
    step: int,
    times: tuple[float, float | None],
    served: str | None = None,
    attempts: str | None = None,
) -> None:
    """Hand one node's start (and end, how its cache served it, its attempts) to the
    writer thread as it happens (no I/O here).

    Rows changed since the writer's last write go in one statement per database; a
    row never goes back from ended to running, nor to an earlier end (the run's own
    final write may land first).
    """
    _WRITER.note(store, run_id, node, step, (*times, served, attempts))


def flush_marks(timeout: float = 10.0) -> bool:
    """Wait until the writer has written every time handed to it (True) or ``timeout``."""
    return _WRITER.idle.wait(timeout)


def load_times(store: RunStore, run_ids: Iterable[str]) -> dict[str, dict[Any, Any]]:
    """Run id -> {(node, step): (started_at, finished_at)} for these runs."""
    rows = load_rows(store, run_ids).items()
    return {r: {k: (row[0], row[1]) for k, row in found.items()} for r, found in rows}


def load_rows(store: RunStore, run_ids: Iterable[str]) -> dict[str, dict[Any, Any]]:
    """Run id -> {(node, step): (started_at, finished_at, cache, attempts)} for these runs
    (``cache``: ``cached`` or ``reused`` when the node's cache served it, else None;
    ``attempts``: the number of the latest attempt its row keeps, 0 when none failed)."""
    out: dict[str, dict[Any, Any]] = {}
    for where, params in where_in(store.sql.postgres, "run_id", sorted(set(run_ids))):
        rows = _run(store, f"SELECT {_COLUMNS} FROM {TIMES_TABLE} WHERE {where}", params)
        for row in rows:
            values = list(row.values()) if isinstance(row, dict) else list(row)
            run_id, node, step, start, end, served, tries = values
            finished = None if end is None else float(end)
            kept = None if served is None else str(served)
            out.setdefault(str(run_id), {})[(str(node), int(step))] = (
                float(start),
                finished,
                kept,
                _latest_number(tries),
            )
    return out


def _latest_number(text: str | None) -> int:
    """The highest attempt ``number`` in a row's ``attempts`` (0: none kept, or unreadable)."""
    try:
        return max((int(a["number"]) for a in _attempts_in(text)), default=0)
    except (ValueError, TypeError, KeyError):
        return 0


def _attempts_in(text: str | None) -> list[dict[str, Any]]:
    """The attempts a row's ``attempts`` text holds (none: empty, or not ours)."""
    try:
        found = json.loads(text) if text else []
    except ValueError:
        return []
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def record_times(
    store: RunStore,
    run_id: str,
    times: Times,
    on_error: Callable[[Exception, str], None],
    served: Served | None = None,
    attempts: Attempts | None = None,
) -> None:
    """Write a run's node times (and ``served``, ``attempts``) as it ends; a failure is told
    to ``on_error(exc, "times")`` (its report then shows the steps' times)."""
    if not times:
        return
    try:
        save_times(store, run_id, dict(times), served, attempts)
    except Exception as exc:  # bookkeeping: the run's ending is still recorded
        on_error(exc, "times")


ATTEMPTS_KEPT = 10
"""Attempts a node's row keeps per step: its first five and its latest five (each with a
record of at most a few hundred characters), however many it made (``max_attempts`` is up
to 1000)."""
_FIRST = ATTEMPTS_KEPT // 2


class AttemptLog:
    """A node's attempts in one step (``Tracker``), bounded by ``ATTEMPTS_KEPT``.

    Each attempt is a dict: ``number``, ``outcome``, ``started_at``, ``ended_at`` (epoch
    seconds), ``wait`` (a retried one's: seconds before the next attempt), ``task``
    (LangGraph's task id), ``code``, ``category``, ``error_type``, ``message`` (None for
    an attempt that did not fail). An entry stays the same object while kept, so the
    tracker can give the last one its task's ending.
    """

    __slots__ = ("first", "latest")

    def __init__(self) -> None:
        self.first: list[dict[str, Any]] = []
        self.latest: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=ATTEMPTS_KEPT - _FIRST
        )

    def add(self, entry: dict[str, Any]) -> None:
        """Keep ``entry`` (the oldest of the latest ones goes, once the log is full)."""
        (self.first if len(self.first) < _FIRST else self.latest).append(entry)

    def text(self) -> str:
        """The kept attempts as the row's ``attempts`` (JSON text)."""
        return json.dumps([*self.first, *self.latest], separators=(",", ":"))


def save_attempts(store: RunStore, run_id: str, node: str, step: int, text: str) -> None:
    """Write a node's attempts (``AttemptLog.text()``) into its row for ``step``, written
    by then (its times are the writer's of the row, left as they are)."""
    _run(
        store,
        f"UPDATE {TIMES_TABLE} SET attempts = ? WHERE run_id = ? AND node = ? AND step = ?",
        (text, run_id, node, step),
    )


def load_attempts(store: RunStore, run_id: str, node: str, step: int) -> list[dict[str, Any]]:
    """The attempts a node's row keeps for ``run_id`` and ``step`` (``AttemptLog``; none:
    no attempt of it failed, or no row)."""
    rows = _run(
        store,
        f"SELECT attempts FROM {TIMES_TABLE} WHERE run_id = ? AND node = ? AND step = ?",
        (run_id, node, step),
    )
    return _attempts_in(next((r["attempts"] if isinstance(r, dict) else r[0] for r in rows), None))
