"""The webhook outbox: one row per run that has a webhook, and a row per delivery attempt.

A run gets its row (``subscribe``) before it is queued, so it cannot end unseen: the URL
is the run's own (``POST /runs`` ``webhook``) or else the app's (``create_app(webhook_url=)``).
The row is ``waiting`` while the run has not ended. When the run's queue row reads
``done`` or ``cancelled``, one process turns it ``pending`` (``fire``: a compare-and-set,
so only one process does) with the payload (the run's summary) and the time it is due.
A process then claims it under a lease (``claim``, compare-and-set again), posts it and
records the attempt (``attempted``): ``delivered``, ``pending`` again with a later due
time, or ``failed`` after the last attempt. A process that stops mid-delivery lets its
lease run out and another one delivers it again: at least once, under one idempotency
key per run end (``idempotency_key``).

The tables live in the checkpointer's database, beside the run queue (SQLite or
PostgreSQL, through the runs table's connection: a broken PostgreSQL connection is
replaced and the statement run again). Nothing secret is stored: the attempt log keeps
the URL without its user info or query values (``shown_url``) and no signature.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from langgraph_runner._db.connection import Db
from langgraph_runner._db.pool import PooledDb
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._service.guards import MAX_URL, URL_PATTERN, WebhookUrl, check_url
from langgraph_runner._service.queue import QUEUE_TABLE

__all__ = [
    "ATTEMPTS_TABLE",
    "HOOKS_TABLE",
    "MAX_URL",
    "URL_PATTERN",
    "Attempt",
    "Hook",
    "Outbox",
    "WebhookUrl",
    "check_url",
    "idempotency_key",
    "payload_of",
    "shown_url",
]

HOOKS_TABLE = "langgraph_runner_webhooks"
ATTEMPTS_TABLE = "langgraph_runner_webhook_attempts"
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {HOOKS_TABLE} ("
    " run_id TEXT PRIMARY KEY, tenant TEXT, url TEXT NOT NULL, state TEXT NOT NULL,"
    " payload TEXT, created_at DOUBLE PRECISION NOT NULL, ended_at DOUBLE PRECISION,"
    " next_at DOUBLE PRECISION, owner TEXT, lease_until DOUBLE PRECISION,"
    " attempts INTEGER NOT NULL DEFAULT 0, delivered_at DOUBLE PRECISION)",
    f"CREATE INDEX IF NOT EXISTS {HOOKS_TABLE}_due ON {HOOKS_TABLE} (state, next_at)",
    f"CREATE TABLE IF NOT EXISTS {ATTEMPTS_TABLE} ("
    " run_id TEXT NOT NULL, attempt INTEGER NOT NULL, at DOUBLE PRECISION NOT NULL,"
    " url TEXT NOT NULL, status_code INTEGER, error TEXT, duration_ms DOUBLE PRECISION,"
    " PRIMARY KEY (run_id, attempt))",
)
_HOOK_COLUMNS = "run_id, tenant, url, state, payload, next_at, attempts, ended_at, delivered_at"
_BATCH = 100


def shown_url(url: str) -> str:
    """The URL as the attempt log keeps it: no user info, query values replaced by ``***``
    (a token in a URL is a secret), no fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    query = "&".join(
        f"{pair.split('=', 1)[0]}=***" if "=" in pair else pair
        for pair in parts.query.split("&")
        if pair
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def idempotency_key(run_id: str) -> str:
    """The key every delivery of a run's end carries (the same on every attempt)."""
    return f"run-ended:{run_id}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Hook:
    """A run's webhook: where it goes, how far its delivery is."""

    run_id: str
    tenant: str | None
    url: str
    state: str  # waiting, pending, delivered or failed
    payload: str | None = None  # the JSON body, once the run ended
    next_at: float | None = None  # when the next attempt is due (pending)
    attempts: int = 0
    ended_at: float | None = None
    delivered_at: float | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Attempt:
    """One delivery attempt, as the log keeps it."""

    attempt: int
    at: float
    url: str
    status_code: int | None
    error: str | None
    duration_ms: float | None


class Outbox:
    """The webhook tables of one checkpointer's database (see the module docstring).

    Args:
        saver: The checkpoint saver the runs execute with (its database holds the tables).
        owner: Who claims deliveries (this process).
    """

    def __init__(self, saver: Any, *, owner: str) -> None:
        store = open_run_store(saver)
        if store is None:  # pragma: no cover - a saver always has a store
            raise ValueError("webhooks: no database for this checkpointer")
        self._store = store
        self._sql: Db | PooledDb = store.sql
        self.owner = owner
        self._sql.setup(_DDL, HOOKS_TABLE)

    def close(self) -> None:
        """Let go of the database connection."""
        self._store.close()

    def subscribe(self, run_id: str, tenant: str | None, url: str, now: float) -> None:
        """Give a run about to be queued its webhook (once: a second call changes nothing)."""
        self._sql.run(
            f"INSERT INTO {HOOKS_TABLE} (run_id, tenant, url, state, created_at)"
            " VALUES (?, ?, ?, 'waiting', ?) ON CONFLICT (run_id) DO NOTHING",
            (run_id, tenant, url, now),
        )

    def ended(self) -> list[tuple[str, str | None, str]]:
        """Waiting webhooks whose run has ended: (run id, tenant, the queue's status)."""
        _, rows = self._sql.run(
            f"SELECT h.run_id, h.tenant, q.status FROM {HOOKS_TABLE} h"
            f" JOIN {QUEUE_TABLE} q ON q.run_id = h.run_id"
            " WHERE h.state = 'waiting' AND q.status IN ('done', 'cancelled') LIMIT ?",
            (_BATCH,),
        )
        return [
            (str(_at(r, 0, "run_id")), _text(_at(r, 1, "tenant")), str(_at(r, 2, "status")))
            for r in rows
        ]

    def fire(self, run_id: str, payload: str, now: float) -> bool:
        """Make a waiting webhook due now with its payload; False if another process did."""
        count, _ = self._sql.run(
            f"UPDATE {HOOKS_TABLE} SET state = 'pending', payload = ?, ended_at = ?, next_at = ?"
            " WHERE run_id = ? AND state = 'waiting'",
            (payload, now, now, run_id),
        )
        return count == 1

    def claim(self, now: float, lease: float) -> Hook | None:
        """Take the longest-due pending delivery under a lease (None: nothing is due)."""
        free = "(lease_until IS NULL OR lease_until < ?)"
        for _ in range(8):  # lost races: another process took the row first
            _, found = self._sql.run(
                f"SELECT run_id FROM {HOOKS_TABLE} WHERE state = 'pending' AND next_at <= ?"
                f" AND {free} ORDER BY next_at LIMIT 1",
                (now, now),
            )
            if not found:
                return None
            run_id = str(_at(found[0], 0, "run_id"))
            count, _ = self._sql.run(
                f"UPDATE {HOOKS_TABLE} SET owner = ?, lease_until = ?"
                f" WHERE run_id = ? AND state = 'pending' AND next_at <= ? AND {free}",
                (self.owner, now + lease, run_id, now, now),
            )
            if count == 1:
                return self.get(run_id)
        return None

    def attempted(self, hook: Hook, attempt: Attempt, state: str, next_at: float | None) -> None:
        """Log an attempt and set where the delivery stands (``delivered``, ``pending``
        with ``next_at``, or ``failed``), letting go of the lease."""
        self._sql.run(
            f"INSERT INTO {ATTEMPTS_TABLE} (run_id, attempt, at, url, status_code, error,"
            " duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, attempt) DO NOTHING",
            (
                hook.run_id,
                attempt.attempt,
                attempt.at,
                attempt.url,
                attempt.status_code,
                attempt.error,
                attempt.duration_ms,
            ),
        )
        self._sql.run(
            f"UPDATE {HOOKS_TABLE} SET state = ?, attempts = ?, next_at = ?, owner = NULL,"
            " lease_until = NULL, delivered_at = ? WHERE run_id = ? AND owner = ?",
            (
                state,
                attempt.attempt,
                next_at,
                attempt.at if state == "delivered" else None,
                hook.run_id,
                self.owner,
            ),
        )

    def get(self, run_id: str) -> Hook | None:
        """A run's webhook (None: it has none)."""
        _, rows = self._sql.run(
            f"SELECT {_HOOK_COLUMNS} FROM {HOOKS_TABLE} WHERE run_id = ?", (run_id,)
        )
        return _hook(rows[0]) if rows else None

    def attempts(self, run_id: str) -> list[Attempt]:
        """A run's delivery attempts, first first."""
        _, rows = self._sql.run(
            f"SELECT attempt, at, url, status_code, error, duration_ms FROM {ATTEMPTS_TABLE}"
            " WHERE run_id = ? ORDER BY attempt",
            (run_id,),
        )
        return [_attempt(r) for r in rows]

    def purge(self, run_ids: Sequence[str]) -> None:
        """Forget these runs' webhooks and their attempts (tests; a retention job)."""
        for run_id in run_ids:
            self._sql.run(f"DELETE FROM {ATTEMPTS_TABLE} WHERE run_id = ?", (run_id,))
            self._sql.run(f"DELETE FROM {HOOKS_TABLE} WHERE run_id = ?", (run_id,))


def _at(row: Any, index: int, name: str) -> Any:
    return row[name] if isinstance(row, dict) else row[index]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _hook(row: Any) -> Hook:
    names = [c.strip() for c in _HOOK_COLUMNS.split(",")]

    def v(name: str) -> Any:
        return _at(row, names.index(name), name)

    return Hook(
        run_id=str(v("run_id")),
        tenant=_text(v("tenant")),
        url=str(v("url")),
        state=str(v("state")),
        payload=_text(v("payload")),
        next_at=_number(v("next_at")),
        attempts=int(v("attempts") or 0),
        ended_at=_number(v("ended_at")),
        delivered_at=_number(v("delivered_at")),
    )


def _attempt(row: Any) -> Attempt:
    code = _at(row, 3, "status_code")
    return Attempt(
        attempt=int(_at(row, 0, "attempt")),
        at=float(_at(row, 1, "at")),
        url=str(_at(row, 2, "url")),
        status_code=None if code is None else int(code),
        error=_text(_at(row, 4, "error")),
        duration_ms=_number(_at(row, 5, "duration_ms")),
    )


def payload_of(summary: dict[str, Any], run_id: str) -> str:
    """The body a run's end is delivered with: the event and the run's summary."""
    return json.dumps(
        {"type": "run.ended", "idempotency_key": idempotency_key(run_id), "run": summary},
        separators=(",", ":"),
        sort_keys=True,
    )
