"""Every PostgreSQL thread lock of a process on one connection: advisory locks, one session.

A session-level advisory lock lives as long as its connection, so a connection per
running run (the simple way) costs one PostgreSQL connection per run. Here each
database gets one lock connection per process, holding the advisory locks of all the
process's runs on it (``pg_try_advisory_lock``/``pg_advisory_unlock``); a lock is
taken at most once per process (the server would let one session take it twice).

When that connection breaks (a terminated backend, a restarted server) its locks are
gone: another process may take them. The next use, or the process's watcher within
``run_watch.INTERVAL`` seconds, opens a new connection and takes every lock again;
a lock another process took in between is *lost*: its run is told to stop, and the
checkpointers ``open_checkpointer`` makes refuse to write that thread's checkpoints.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from langgraph_runner._db.broken import is_broken, raise_last, retry_broken, server_down
from langgraph_runner._db.pool import database_name, settings_key
from langgraph_runner._internal.extras import require_extra

__all__ = [
    "LOCK_WAIT",
    "HeldLocks",
    "LockHolder",
    "LockSession",
    "any_lost",
    "let_go_if_idle",
    "lock_session",
    "lost",
    "sessions",
]

_log = logging.getLogger("langgraph_runner.runs")

LOCK_WAIT = 10.0
"""Seconds a lock session waits for its connection before the server counts as down."""


def one_session(kwargs: dict[str, Any]) -> dict[str, Any]:
    """psycopg_pool settings of a lock session's pool: one connection, autocommitted,
    held by the session as long as it holds locks."""
    return {
        "kwargs": {**kwargs, "autocommit": True},
        "min_size": 1,
        "max_size": 1,
        "timeout": LOCK_WAIT,
        "name": "langgraph-runner-locks",
        "open": False,
        "num_workers": 1,
    }


class LockHolder:
    """One held lock: its key and thread, whether it was lost, whom to tell."""

    def __init__(self, key: int, thread_id: str, on_lost: Callable[[], None] | None = None):
        self.key = key
        self.thread_id = thread_id
        self.on_lost = on_lost
        self.lost = False


class HeldLocks:
    """What a lock session keeps of its locks, sync (``LockSession``) or async
    (``alock_session.AsyncLockSession``): the holders by key, how often its connection was
    opened again, and what a broken connection does to them."""

    def __init__(self, database: str) -> None:
        self.database = database
        self._held: dict[int, LockHolder] = {}
        self.reconnects = 0
        # How a statement on the session is retried (``retry_broken``'s settings): the
        # session, then one new session, with its broken connection dropped in between.
        self._retrying: dict[str, Any] = {
            "database": database,
            "attempts": 2,
            "on_retry": self._drop,
            "giving_up": raise_last,
        }

    def _drop(self) -> Any:
        """Give back the session's connection, closed (the async session's: a coroutine)."""
        raise NotImplementedError

    def _retaken(self, taken: Mapping[int, bool]) -> list[LockHolder]:
        """On a new connection each held key was tried again (``taken``): those another
        session took meanwhile are lost; the holders that lost theirs."""
        lost: list[LockHolder] = []
        for key, ok in taken.items():
            if not ok:
                holder = self._held.pop(key)
                holder.lost = True
                lost.append(holder)
        if self._held or lost:
            self.reconnects += 1
            _log.warning(
                "thread lock connection to %s was broken: %d locks taken again, %d lost",
                self.database,
                len(self._held),
                len(lost),
            )
        return lost

    def _in_doubt(self, exc: Exception) -> list[LockHolder]:
        """A check failed with ``exc``: if the connection is still down (broken), every
        lock is in doubt, their holders returned; any other error is raised."""
        if not is_broken(exc):
            raise exc
        lost = list(self._held.values())
        for holder in lost:
            holder.lost = True
        self._held.clear()
        return lost

    @staticmethod
    def _tell(lost: list[LockHolder]) -> None:
        for holder in lost:
            if holder.on_lost is not None:
                try:
                    holder.on_lost()
                except Exception:  # a callback's failure must not stop the others
                    _log.exception("thread lock lost callback failed")

    @property
    def held(self) -> int:
        return len(self._held)


class LockSession(HeldLocks):
    """The advisory locks of one process on one database (see the module docstring)."""

    def __init__(self, conninfo: str, kwargs: dict[str, Any]) -> None:
        super().__init__(database_name(conninfo, kwargs))
        self.conninfo = conninfo
        self.kwargs = kwargs
        require_extra("postgres", "psycopg_pool")
        self._guard = threading.Lock()
        self._pool: Any = None
        self._conn: Any = None

    def _connect(self) -> list[LockHolder]:
        """A new session that takes every held lock again; the holders that lost theirs."""
        self._drop()
        self._conn = self._take()
        taken = {
            key: bool(self._conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])
            for key in list(self._held)
        }
        return self._retaken(taken)

    def _take(self) -> Any:
        """The session's connection, from its pool of one (opened on first use)."""
        from psycopg_pool import ConnectionPool, PoolTimeout

        if self._pool is None:
            self._pool = ConnectionPool(self.conninfo, **one_session(self.kwargs))
            self._pool.open(wait=False)
        try:
            return self._pool.getconn()
        except PoolTimeout as exc:  # the server is down: as a broken connection
            raise server_down(self.database) from exc

    def _drop(self) -> None:
        """Give back the session's connection, closed (a broken one, or its locks in doubt):
        the pool opens a new one for the next statement."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
            with contextlib.suppress(Exception):
                self._pool.putconn(conn)

    def _close_pool(self) -> None:
        """Close the session's connection and its pool: none is kept open."""
        conn, self._conn = self._conn, None
        pool, self._pool = self._pool, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.close()

    def _fetch(self, sql: str, key: int | None, lost: list[LockHolder]) -> Any:
        """``sql`` on the session (a new one if it has none: ``lost`` gets the holders
        that lost their lock meanwhile); its one row. No ``sql``: the new session or a
        round trip proves it alive."""
        if self._conn is None or self._conn.closed:
            lost += self._connect()
            if not sql:
                return None
        cursor = self._conn.execute(sql, () if key is None else (key,))
        return cursor.fetchone() if sql else None

    def _execute(self, sql: str, key: int) -> tuple[bool, list[LockHolder]]:
        lost: list[LockHolder] = []
        row = retry_broken(self._fetch, sql, key, lost, **self._retrying)
        return bool(row[0]), lost

    def try_lock(self, holder: LockHolder) -> bool:
        """Take ``holder.key`` (False: this process or another holds it)."""
        with self._guard:
            if holder.key in self._held:
                return False
            taken, lost = self._execute("SELECT pg_try_advisory_lock(%s)", holder.key)
            if taken:
                self._held[holder.key] = holder
        self._tell(lost)
        return taken

    def unlock(self, holder: LockHolder) -> None:
        """Let go of ``holder``'s lock (nothing if it was lost)."""
        with self._guard:
            if self._held.get(holder.key) is not holder:
                return
            del self._held[holder.key]
            if self._conn is None or self._conn.closed:
                return  # the session ended: the server freed the lock
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (holder.key,))
            except Exception as exc:
                if not is_broken(exc):
                    raise
                # The session broke: its locks are gone; the others are taken again on
                # the next use or check.
                self._drop()

    def check(self) -> None:
        """Prove the session alive (one round trip); else take every lock again."""
        lost: list[LockHolder] = []
        with self._guard:
            if not self._held:
                return
            try:
                retry_broken(self._fetch, "", None, lost, **self._retrying)
            except Exception as exc:
                lost = self._in_doubt(exc)
        self._tell(lost)

    def close_if_idle(self) -> None:
        """Close the session's connection if it holds no lock; the next take opens one."""
        with self._guard:
            if self._held or self._conn is None:
                return
            self._close_pool()

    def close(self) -> None:
        with self._guard:
            self._held.clear()
            self._close_pool()


_SESSIONS: dict[tuple[Any, ...], LockSession] = {}
_SESSIONS_GUARD = threading.Lock()
_LOST: dict[str, set[int]] = {}


def lock_session(conninfo: str, kwargs: dict[str, Any]) -> LockSession:
    """This process's lock session on the database ``conninfo`` names."""
    key = settings_key(conninfo, kwargs)
    with _SESSIONS_GUARD:
        session = _SESSIONS.get(key)
        if session is None:
            session = _SESSIONS[key] = LockSession(conninfo, kwargs)
        return session


def let_go_if_idle(key: tuple[Any, ...]) -> None:
    """The last checkpointer opened here on the settings ``key`` names (``settings_key``)
    closed: their lock session, if any, closes its connection unless it holds a lock."""
    with _SESSIONS_GUARD:
        session = _SESSIONS.get(key)
    if session is not None:
        session.close_if_idle()


def sessions() -> list[LockSession]:
    """This process's lock sessions."""
    pid = os.getpid()
    with _SESSIONS_GUARD:
        return [s for k, s in _SESSIONS.items() if k[0] == pid]


def lost(database: str, thread_id: str, key: int) -> None:
    """Record that this process lost the lock on ``key`` of ``database`` (``thread_id``)."""
    with _SESSIONS_GUARD:
        _LOST.setdefault(database, set()).add(key)


def found_again(database: str, key: int) -> None:
    """The lock on ``key`` was taken again (a new run): its checkpoints may be written."""
    with _SESSIONS_GUARD:
        keys = _LOST.get(database)
        if keys is not None:
            keys.discard(key)


def any_lost(database: str) -> bool:
    """Whether this process lost any lock on ``database`` (a read without the guard: a
    write's check costs nothing while no lock was ever lost)."""
    return bool(_LOST.get(database))


def was_lost(database: str, key: int) -> bool:
    """Whether this process lost the lock on ``key`` and has not taken it again."""
    with _SESSIONS_GUARD:
        return key in _LOST.get(database, set())
