"""Exactly-once side effects: ``EffectLedger`` records what a node has already done.

A node that LangGraph runs again (a retry, a resumed crash, a task a queue
delivers twice) would repeat its side effects: send the email twice, charge the
card twice. ``EffectLedger`` keeps a table of completed effects in the run's own
database (SQLite or PostgreSQL), keyed by the node's
``NodeContext.idempotency_key`` and an effect name, so the re-executed node
skips what it already did::

    ledger = EffectLedger.for_checkpointer(saver)

    def notify(state):
        with ledger.effect("welcome-email") as done:
            if not done:
                send_email(state["user"])
        return {"notified": True}

How it works: entering ``effect()`` claims the row for (key, name) with one
atomic ``INSERT ... ON CONFLICT DO NOTHING`` (the primary key lets exactly one
execution win); the winner runs the effect, and only when the block ends without
an exception is the row marked done. A block that raises gives its claim back, so
a retry runs the effect again. A second execution that finds the row done gets
``done=True``; one that finds it claimed by an execution still running waits for
it (polling) and then sees it done.

The honest limit: recording the completion is a second write after the effect.
If the process dies after the effect happened but before the row is marked done,
the claim stays behind; once its ``lease`` has run out, the next execution takes
it over and runs the effect again. Such effects are at-least-once; everything
else is exactly-once. Pass the key on to the remote side too (an
``Idempotency-Key`` header) where the service supports it, to close the window.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any, NamedTuple, TypedDict, TypeVar, overload

from typing_extensions import Unpack

from langgraph_runner._db.connection import Db, open_postgres, open_sqlite
from langgraph_runner._db.pool import PooledDb
from langgraph_runner._db.storage import postgres_settings, saver_kind, sqlite_file
from langgraph_runner._internal.checks import check_text
from langgraph_runner._internal.durations import seconds
from langgraph_runner._policies.context import get_node_context

__all__ = [
    "CLAIM",
    "COMPLETE",
    "DDL",
    "DELETE_THREAD",
    "Db",
    "EffectLedger",
    "LedgerTiming",
    "READ",
    "RELEASE",
    "TABLE",
    "TAKE_OVER",
    "open_postgres",
    "open_sqlite",
]

T = TypeVar("T")
"""The name of the ledger's table, created beside the checkpointer's own tables."""

_logger = logging.getLogger("langgraph_runner._runs.effects")


class _Claim(NamedTuple):
    """Where ``_step`` left an effect: ``owner`` set when this execution must run it."""

    key: str
    name: str
    owner: str | None
    done: bool
    result: str | None


class LedgerTiming(TypedDict, total=False):
    """``EffectLedger``'s timing options, for its constructors (see the class)."""

    lease: float | timedelta
    poll_interval: float | timedelta


class EffectLedger:
    """Completed side effects, recorded in the run's own database.

    Build one with ``for_checkpointer(saver)`` (the same SQLite file or PostgreSQL
    database as the checkpoints), ``sqlite(path)`` or ``postgres(conninfo)``, once
    per process, and share it between nodes and threads. Rows are keyed by
    (``NodeContext.idempotency_key``, effect name); in a Temporal activity whose
    node the package did not build, the key comes from the activity's workflow run
    id, activity id and type.

    Use ``effect()``/``once()`` in sync nodes and ``aeffect()``/``aonce()`` in async
    nodes (the database calls then run in a worker thread).

    Args:
        lease: Seconds after which a claim whose execution never finished (its
            process died inside the effect) may be taken over by the next execution,
            which then runs the effect again. Must be longer than the slowest effect:
            a claim taken over while its effect still runs lets the effect run twice.
        poll_interval: Seconds between looks at an effect that another execution is
            running right now.
    """

    def __init__(
        self,
        db: Db | PooledDb,
        *,
        lease: float | timedelta = 300.0,
        poll_interval: float | timedelta = 0.05,
    ) -> None:
        try:
            self.lease = seconds(lease, "lease", owner="EffectLedger")
            self.poll_interval = seconds(poll_interval, "poll_interval", owner="EffectLedger")
        except (TypeError, ValueError):
            db.close()
            raise
        self._db = db
        try:
            db.setup(DDL, TABLE)
        except BaseException:
            db.close()
            raise

    # ------------------------------------------------------------------ constructors

    @classmethod
    def sqlite(cls, path: str, **timing: Unpack[LedgerTiming]) -> EffectLedger:
        """A ledger in the SQLite database file at ``path`` (its own connection).

        Args:
            path: The database file; use the checkpointer's file to keep one database per run.
            **timing: ``lease`` and ``poll_interval``, as the class takes them.
        """
        return cls(open_sqlite(path), **timing)

    @classmethod
    def postgres(cls, conninfo: str, **timing: Unpack[LedgerTiming]) -> EffectLedger:
        """A ledger in the PostgreSQL database ``conninfo`` names (needs the ``postgres`` extra).

        Args:
            conninfo: A libpq connection string or URL (``postgresql://user@host:5432/db``).
            **timing: ``lease`` and ``poll_interval``, as the class takes them.

        Raises:
            ImportError: The ``postgres`` extra is not installed.
        """
        return cls(open_postgres(conninfo), **timing)

    @classmethod
    def for_checkpointer(cls, checkpointer: Any, **timing: Unpack[LedgerTiming]) -> EffectLedger:
        """A ledger in the database of ``checkpointer``, through a connection of its own.

        Args:
            checkpointer: A ``SqliteSaver`` on a file, or a ``PostgresSaver`` /
                ``AsyncPostgresSaver`` (on a connection or a pool).
            **timing: ``lease`` and ``poll_interval``, as the class takes them.

        Raises:
            TypeError: A saver without a database of its own (``InMemorySaver``) or one
                this helper doesn't know; use ``sqlite(path)`` or ``postgres(conninfo)``.
            ValueError: A ``SqliteSaver`` on an in-memory database, which a second
                connection can't reach and a crash would lose anyway.
        """
        kind = saver_kind(checkpointer)
        if kind == "sqlite" and isinstance(checkpointer.conn, sqlite3.Connection):
            path = sqlite_file(checkpointer)
            if not path:
                raise ValueError(
                    "EffectLedger.for_checkpointer: the SqliteSaver uses an in-memory database; "
                    "open it on a file (sqlite:///path.db) so the ledger can share it"
                )
            return cls.sqlite(path, **timing)
        if kind == "postgres":
            conninfo, kwargs = postgres_settings(checkpointer.conn)
            db = open_postgres(conninfo, **kwargs)
            return cls(db, **timing)
        raise TypeError(
            "EffectLedger.for_checkpointer needs a SqliteSaver or a PostgresSaver, "
            f"got {type(checkpointer).__name__}; "
            "use EffectLedger.sqlite(path) or EffectLedger.postgres(conninfo) instead"
        )

    def close(self) -> None:
        """Close the ledger's connection."""
        self._db.close()

    def __enter__(self) -> EffectLedger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ sync API

    @contextmanager
    def effect(self, name: str, *, key: str | None = None) -> Iterator[bool]:
        """Claim effect ``name`` of this task; yield whether it was already done.

        Run the effect in the block only when the yielded value is False. The
        completion is recorded when the block exits without an exception; an
        exception gives the claim back (the next attempt runs the effect again).

        Args:
            name: The effect's name, unique within the node (``"welcome-email"``).
            key: The idempotency key; defaults to the running node's
                ``NodeContext.idempotency_key``.

        Yields:
            True when an earlier execution of the same task already made the effect.

        Raises:
            RuntimeError: No key given and none known (not inside a wrapped node
                running in a LangGraph graph).
        """
        claim = self._acquire(name, key)
        try:
            yield claim.done
        except BaseException:
            self._settle(claim, failed=True)
            raise
        self._settle(claim)

    def once(self, name: str, fn: Callable[[], T], *, key: str | None = None) -> T | Any:
        """Call ``fn()`` unless this task already made effect ``name``.

        Args:
            name: The effect's name, unique within the node.
            fn: The effect; its return value is recorded as JSON.
            key: The idempotency key; defaults to the running node's.

        Returns:
            What ``fn()`` returned; on a skip, the JSON copy of what it returned the
            first time (None if that value had no JSON form).
        """
        claim = self._acquire(name, key)
        if claim.done:
            return _loads(claim.result)
        try:
            value = fn()
        except BaseException:
            self._settle(claim, failed=True)
            raise
        self._settle(claim, _dumps(value))
        return value

    def done(self, name: str, *, key: str | None = None) -> bool:
        """Whether effect ``name`` of the task (default: the running node's) is recorded as done."""
        found, _ = self._read(_key_of(key), _name_of(name))
        return found == "done"

    def delete_thread(self, thread_id: str) -> int:
        """Forget the effects of a thread (as ``saver.delete_thread`` does); the rows removed."""
        return self._db.run(DELETE_THREAD, (str(thread_id),))[0]

    # ------------------------------------------------------------------ async API

    @asynccontextmanager
    async def aeffect(self, name: str, *, key: str | None = None) -> AsyncIterator[bool]:
        """Async twin of ``effect()``: the database calls run in a worker thread."""
        claim = await self._aacquire(name, key)
        try:
            yield claim.done
        except BaseException:
            await self._asettle(claim, failed=True)
            raise
        await self._asettle(claim)

    @overload
    async def aonce(
        self, name: str, fn: Callable[[], Awaitable[T]], *, key: str | None = None
    ) -> T | Any: ...

    @overload
    async def aonce(self, name: str, fn: Callable[[], T], *, key: str | None = None) -> T | Any: ...

    async def aonce(self, name: str, fn: Callable[[], Any], *, key: str | None = None) -> Any:
        """Async twin of ``once()``: ``fn`` may be a coroutine function or a plain one."""
        claim = await self._aacquire(name, key)
        if claim.done:
            return _loads(claim.result)
        try:
            value = fn()
            if inspect.isawaitable(value):
                value = await value
        except BaseException:
            await self._asettle(claim, failed=True)
            raise
        await self._asettle(claim, _dumps(value))
        return value

    # ------------------------------------------------------------------ claims

    def _acquire(self, name: str, key: str | None) -> _Claim:
        start = self._start(name, key)
        while True:
            claim = self._step(*start)
            if claim is not None:
                return claim
            time.sleep(self.poll_interval)

    async def _aacquire(self, name: str, key: str | None) -> _Claim:
        start = self._start(name, key)
        while True:
            claim = await asyncio.to_thread(self._step, *start)
            if claim is not None:
                return claim
            await asyncio.sleep(self.poll_interval)

    def _start(self, name: str, key: str | None) -> tuple[str, str, str | None, str]:
        ctx = get_node_context()
        thread_id = ctx.thread_id if ctx is not None else None
        return _key_of(key), _name_of(name), thread_id, uuid.uuid4().hex

    def _step(self, key: str, name: str, thread_id: str | None, owner: str) -> _Claim | None:
        """One look: claim the effect, find it done, take over a stale claim, or None (busy)."""
        now = time.time()
        if self._db.run(CLAIM, (key, name, thread_id, owner, now))[0] == 1:
            return _Claim(key, name, owner, False, None)
        state, result = self._read(key, name)
        if state == "done":
            return _Claim(key, name, None, True, result)
        if state is None:  # released between the two statements: claim again at once
            return self._step(key, name, thread_id, owner)
        stale = now - self.lease
        if self._db.run(TAKE_OVER, (owner, now, key, name, stale))[0] == 1:
            _logger.warning(
                "effect %r: an earlier execution claimed it and never finished within the "
                "lease (%.1f s); running it again",
                name,
                self.lease,
            )
            return _Claim(key, name, owner, False, None)
        return None

    def _read(self, key: str, name: str) -> tuple[str | None, str | None]:
        rows = self._db.run(READ, (key, name))[1]
        if not rows:
            return None, None
        return rows[0][0], rows[0][1]

    def _settle(self, claim: _Claim, result: str | None = None, *, failed: bool = False) -> None:
        """After the effect's block (every API ends here): nothing to record for an effect
        found done; a failed one gives its claim back (the next attempt runs it again);
        else the row is marked done, with ``result``."""
        if claim.done:
            return
        if failed:
            self._db.run(RELEASE, (claim.key, claim.name, claim.owner))
            return
        updated = self._db.run(COMPLETE, (time.time(), result, claim.key, claim.name, claim.owner))
        if updated[0] != 1:
            _logger.warning(
                "effect %r outlived its lease (%.1f s) and another execution took it over: "
                "it may have run twice; raise EffectLedger(lease=)",
                claim.name,
                self.lease,
            )

    async def _asettle(
        self, claim: _Claim, result: str | None = None, *, failed: bool = False
    ) -> None:
        """``_settle`` in a worker thread; an effect found done needs none."""
        if not claim.done:
            await asyncio.to_thread(self._settle, claim, result, failed=failed)


def _key_of(key: str | None) -> str:
    if key is not None:
        return check_text(key, "key", "EffectLedger")
    ctx = get_node_context()
    found = ctx.idempotency_key if ctx is not None else None
    if found is None:
        found = _activity_key()
    if found is None:
        raise RuntimeError(
            "EffectLedger needs an idempotency key: call it inside a node made by "
            "create_node and run by a LangGraph graph or a Temporal activity, or pass key="
        )
    return found


def _activity_key() -> str | None:
    """Inside a Temporal activity without a node's key (a node the package did not
    build): 32 hex chars of its workflow run id, activity id and type (the node).

    Temporal retries an activity under the same ids, on any worker. The run id, not
    only the workflow id: activity ids start again at each run (continue-as-new).
    Temporal is looked up, never imported: only a process running it has an activity.
    """
    found = sys.modules.get("temporalio.activity")
    if found is None or not found.in_activity():
        return None
    info = found.info()
    raw = f"{info.workflow_run_id or ''}\x00{info.activity_id}\x00{info.activity_type}"
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


def _name_of(name: str) -> str:
    return check_text(name, "name", "EffectLedger")


def _dumps(value: Any) -> str | None:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return None


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


TABLE = "langgraph_runner_effects"


"""The name of the ledger's table, created beside the checkpointer's own tables."""


DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " idempotency_key TEXT NOT NULL, effect TEXT NOT NULL, thread_id TEXT,"
    " state TEXT NOT NULL, owner TEXT NOT NULL, claimed_at DOUBLE PRECISION NOT NULL,"
    " completed_at DOUBLE PRECISION, result TEXT,"
    " PRIMARY KEY (idempotency_key, effect))",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_thread ON {TABLE} (thread_id)",
)


CLAIM = (
    f"INSERT INTO {TABLE} (idempotency_key, effect, thread_id, state, owner, claimed_at)"
    " VALUES (?, ?, ?, 'claimed', ?, ?) ON CONFLICT (idempotency_key, effect) DO NOTHING"
)


READ = f"SELECT state, result FROM {TABLE} WHERE idempotency_key = ? AND effect = ?"


TAKE_OVER = (
    f"UPDATE {TABLE} SET owner = ?, claimed_at = ?"
    " WHERE idempotency_key = ? AND effect = ? AND state = 'claimed' AND claimed_at < ?"
)


COMPLETE = (
    f"UPDATE {TABLE} SET state = 'done', completed_at = ?, result = ?"
    " WHERE idempotency_key = ? AND effect = ? AND owner = ?"
)


RELEASE = (
    f"DELETE FROM {TABLE}"
    " WHERE idempotency_key = ? AND effect = ? AND owner = ? AND state = 'claimed'"
)


DELETE_THREAD = f"DELETE FROM {TABLE} WHERE thread_id = ?"
