"""One writer per thread: a lock one run holds on one thread, exclusive across processes.

Two processes that resume the same thread at once would both run its remaining nodes,
so their side effects would happen twice. ``thread_lock(checkpointer, config)`` takes
the thread's lock for the duration of a ``with`` (or ``async with``) block, and
``run``/``arun`` hold it for every run on a thread. The lock lives where the
checkpoints live, so it covers every process that shares them:

- ``PostgresSaver``/``AsyncPostgresSaver``: a PostgreSQL session-level advisory lock
  (``pg_try_advisory_lock``) on a 64-bit hash of the thread id and checkpoint
  namespace, taken on the process's one lock connection to that database
  (``lock_session``), opened with the saver's connection settings; a saver
  ``open_async_checkpointer`` opened has a lock connection of its own, used from its
  event loop (``alock_session``). The server frees a lock when its connection closes,
  also when the process dies.
- ``SqliteSaver``/``AsyncSqliteSaver`` on a file: an OS file lock (``flock``) on
  ``<database>.threads/<hash>.lock``, which the OS frees when the process dies. The
  file is removed when the lock is let go.
- Any other saver (``InMemorySaver``, SQLite in memory): a lock within this process,
  since no other process can reach that storage. (Windows has no ``flock``: there a
  SQLite file gets this process-local lock too, which does not cover other processes.)

A block that already holds the lock for the same thread may take it again (in the
same task or thread): a ``run`` inside ``with thread_lock(...)`` does not wait for itself.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from langgraph_runner._db.lock_session import LockHolder, found_again, lock_session, lost
from langgraph_runner._db.storage import (
    asqlite_file,
    postgres_settings,
    saver_kind,
    sqlite_file,
)
from langgraph_runner._internal.durations import optional_seconds
from langgraph_runner._records.exceptions import ThreadBusyError

__all__ = ["ThreadLock", "thread_lock"]

_POLL_FIRST = 0.01
_POLL_MAX = 0.2
_MASK = (1 << 64) - 1
# Locks this context holds, as (storage, key): taking one again is a no-op.
_HELD: contextvars.ContextVar[frozenset[tuple[str, int]]] = contextvars.ContextVar(
    "langgraph_runner_thread_locks", default=frozenset()
)
_LOCAL_HELD: set[tuple[str, int]] = set()
_LOCAL_GUARD = threading.Lock()


def _key(thread_id: str, checkpoint_ns: str) -> int:
    digest = hashlib.blake2b(
        f"{thread_id}\x00{checkpoint_ns}".encode(), digest_size=8, person=b"lgr-thread-lock"
    ).digest()
    return int.from_bytes(digest, "big", signed=True)  # PostgreSQL's bigint is signed


lock_key = _key
"""The 64-bit lock key of a thread id and checkpoint namespace."""


def _wait_seconds(wait: float | timedelta | None) -> float:
    # 0 (or None): fail at once; math.inf: wait for as long as it takes.
    found = optional_seconds(wait, "wait", owner="thread_lock", zero=True, infinite=True)
    return 0.0 if found is None else found


class _Backend:
    """One way to hold a thread's lock; ``ident`` names the storage it guards."""

    ident = ""

    def acquire(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    async def aacquire(self) -> bool:
        return self.acquire()  # file and local locks never block

    async def arelease(self) -> None:
        self.release()


class _Local(_Backend):
    def __init__(self, saver: object, key: int) -> None:
        self.ident = f"local:{id(saver)}"
        self.item = (self.ident, key)
        self.held = False

    def acquire(self) -> bool:
        with _LOCAL_GUARD:
            if self.item in _LOCAL_HELD:
                return False
            _LOCAL_HELD.add(self.item)
            self.held = True
            return True

    def release(self) -> None:
        if self.held:
            with _LOCAL_GUARD:
                _LOCAL_HELD.discard(self.item)
            self.held = False


class _File(_Backend):
    def __init__(self, database: str, key: int) -> None:
        self.ident = f"sqlite:{os.path.realpath(database)}"
        self.path = Path(f"{database}.threads") / f"{key & _MASK:016x}.lock"
        self.fd: int | None = None

    def acquire(self) -> bool:
        import fcntl

        self.path.parent.mkdir(exist_ok=True)
        for _ in range(5):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
            try:
                mine = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                mine = False
            if mine:
                self.fd = fd
                return True
            os.close(fd)  # the holder removed this file as it let go: lock the new one
        return False

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is None:
            return
        try:  # removed while still held, so a waiter that opened it sees it is stale
            self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)


class _Postgres(_Backend):
    """An advisory lock on the process's lock session of the saver's database."""

    def __init__(
        self, conn: Any, key: int, thread_id: str, on_lost: Callable[[], None] | None
    ) -> None:
        conninfo, kwargs = postgres_settings(conn)
        self.session = lock_session(conninfo, kwargs)
        self._hold(self.session.database, key, thread_id, on_lost)

    def _hold(
        self, database: str, key: int, thread_id: str, on_lost: Callable[[], None] | None
    ) -> None:
        self.ident = database
        # Not a bound method of this backend: the holder would make a reference cycle, one
        # more for the garbage collector to find per run.
        told = functools.partial(_lost, database, thread_id, key, on_lost)
        self.holder = LockHolder(key, thread_id, told)
        self.held = False

    def _note(self, taken: bool) -> bool:
        self.held = taken
        if taken:
            found_again(self.ident, self.holder.key)
        return taken

    def _letting_go(self) -> bool:
        """Whether the lock is held (and is let go now)."""
        held, self.held = self.held, False
        return held

    def _freed(self) -> None:
        if self.holder.lost:  # this run stopped: the thread may be written again
            found_again(self.ident, self.holder.key)

    def acquire(self) -> bool:
        return self._note(self.session.try_lock(self.holder))

    def release(self) -> None:
        if self._letting_go():
            self.session.unlock(self.holder)
            self._freed()

    # A round trip on the lock session: off the event loop, which runs other runs meanwhile.
    async def aacquire(self) -> bool:
        return await asyncio.to_thread(self.acquire)

    async def arelease(self) -> None:
        await asyncio.to_thread(self.release)


def _lost(database: str, thread_id: str, key: int, on_lost: Callable[[], None] | None) -> None:
    """A held lock went with its connection: its thread's writes are refused; tell the run."""
    lost(database, thread_id, key)
    if on_lost is not None:
        on_lost()


class _AsyncPostgres(_Postgres):
    """An advisory lock on an async saver's own lock session (``alock_session``): taken
    and let go by statements awaited on the event loop, no worker thread."""

    def __init__(
        self, session: Any, key: int, thread_id: str, on_lost: Callable[[], None] | None
    ) -> None:
        self.asession = session
        self._hold(session.database, key, thread_id, on_lost)

    def acquire(self) -> bool:
        raise RuntimeError("an async checkpointer's thread lock is taken with 'async with'")

    def release(self) -> None:
        raise RuntimeError("an async checkpointer's thread lock is let go with 'async with'")

    async def aacquire(self) -> bool:
        return self._note(await self.asession.try_lock(self.holder))

    async def arelease(self) -> None:
        if self._letting_go():
            await self.asession.unlock(self.holder)
            self._freed()


def _file_or_local(saver: object, database: str, key: int) -> _Backend:
    # Without fcntl (Windows) a SQLite file gets the process-local lock.
    return _File(database, key) if database and os.name == "posix" else _Local(saver, key)


def _backend(
    saver: Any, key: int, thread_id: str = "", on_lost: Callable[[], None] | None = None
) -> _Backend:
    kind = saver_kind(saver)
    if kind == "postgres":
        return _Postgres(saver.conn, key, thread_id, on_lost)
    if kind == "sqlite":
        database = sqlite_file(saver, on_its_loop="use 'async with thread_lock(...)'")
        return _file_or_local(saver, database, key)
    return _Local(saver, key)


async def _abackend(
    saver: Any, key: int, thread_id: str, on_lost: Callable[[], None] | None
) -> _Backend:
    if saver_kind(saver) == "sqlite" and not isinstance(saver.conn, sqlite3.Connection):
        return _file_or_local(saver, await asqlite_file(saver.conn), key)
    session = getattr(saver, "lock_session", None)
    if session is not None:  # an async saver open_async_checkpointer opened
        return _AsyncPostgres(session, key, thread_id, on_lost)
    return _backend(saver, key, thread_id, on_lost)


class ThreadLock:
    """The lock on one thread of one checkpointer; ``with`` or ``async with`` holds it.

    Made by ``thread_lock``. One object serves one holder at a time; entering it
    again after it was let go takes the lock again.

    Attributes:
        thread_id: The thread the lock guards ("" for a no-op lock).
        checkpoint_ns: Its checkpoint namespace ("" for a root graph).
        wait: Seconds to wait for the lock before raising ``ThreadBusyError``.
        key: The 64-bit lock key (the PostgreSQL advisory lock key), from the
            thread id and namespace.
    """

    def __init__(
        self,
        checkpointer: BaseCheckpointSaver[Any] | None,
        config: Mapping[str, Any] | None,
        *,
        wait: float | timedelta | None = None,
    ) -> None:
        if checkpointer is not None and not isinstance(checkpointer, BaseCheckpointSaver):
            raise TypeError(
                "checkpointer must be a LangGraph checkpoint saver or None, "
                f"got {type(checkpointer).__name__}"
            )
        self.wait = _wait_seconds(wait)
        self._saver = checkpointer
        conf = (config or {}).get("configurable") or {}
        thread = conf.get("thread_id")
        if checkpointer is not None and (thread is None or thread == ""):
            raise ValueError(
                "thread_lock needs the thread to lock: config['configurable']['thread_id']"
            )
        self.thread_id = "" if thread is None else str(thread)
        self.checkpoint_ns = str(conf.get("checkpoint_ns") or "")
        self.key = _key(self.thread_id, self.checkpoint_ns)
        self._backend: _Backend | None = None
        # Called when the lock was lost with its connection (PostgreSQL): stop the run.
        self.on_lost: Callable[[], None] | None = None

    def _busy(self) -> ThreadBusyError:
        return ThreadBusyError(self.thread_id, checkpoint_ns=self.checkpoint_ns, waited=self.wait)

    def _begin(self, backend: _Backend) -> bool:
        """Whether the lock must be taken (False: this context holds it already)."""
        if self._backend is not None:
            raise RuntimeError("this ThreadLock is held already; make one per holder")
        return (backend.ident, self.key) not in _HELD.get()

    def _taken(self, backend: _Backend) -> None:
        self._backend = backend
        _HELD.set(_HELD.get() | {(backend.ident, self.key)})

    def _let_go(self) -> _Backend | None:
        backend, self._backend = self._backend, None
        if backend is not None:
            _HELD.set(_HELD.get() - {(backend.ident, self.key)})
        return backend

    def __enter__(self) -> ThreadLock:
        if self._saver is None:
            return self
        backend = _backend(self._saver, self.key, self.thread_id, self.on_lost)
        if not self._begin(backend):
            return self
        deadline, delay = time.monotonic() + self.wait, _POLL_FIRST
        try:
            while not backend.acquire():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._busy()
                time.sleep(min(delay, left))
                delay = min(delay * 2, _POLL_MAX)
        except BaseException:
            backend.release()
            raise
        self._taken(backend)
        return self

    def __exit__(self, *exc_info: object) -> None:
        backend = self._let_go()
        if backend is not None:
            backend.release()

    async def __aenter__(self) -> ThreadLock:
        if self._saver is None:
            return self
        backend = await _abackend(self._saver, self.key, self.thread_id, self.on_lost)
        if not self._begin(backend):
            return self
        deadline, delay = time.monotonic() + self.wait, _POLL_FIRST
        try:
            while not await backend.aacquire():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._busy()
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, _POLL_MAX)
        except BaseException:
            await backend.arelease()
            raise
        self._taken(backend)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        backend = self._let_go()
        if backend is not None:
            await backend.arelease()


def thread_lock(
    checkpointer: BaseCheckpointSaver[Any] | None,
    config: Mapping[str, Any] | None,
    *,
    wait: float | timedelta | None = None,
) -> ThreadLock:
    """The lock on ``config``'s thread: hold it with ``with`` (or ``async with``) to run it.

    ``run``/``arun`` take it for you; use it around your own ``graph.invoke`` or
    ``graph.stream`` so that no other process runs the thread at the same time.

    Args:
        checkpointer: The graph's saver (``graph.checkpointer``). None makes a
            lock that does nothing: without a saver there is no shared thread.
        config: The run's config; ``configurable.thread_id`` (and
            ``checkpoint_ns``, if any) name the thread.
        wait: How long to wait for the lock (float seconds or a timedelta):
            None or 0 fails at once, a positive value polls until it passes
            (``math.inf`` waits for as long as it takes).

    Returns:
        A ``ThreadLock``, not yet taken.

    Raises:
        TypeError: ``checkpointer`` is not a saver, or ``wait`` is not seconds.
        ValueError: ``wait`` is negative, or a saver is given and the config has
            no thread id.

    Entering the lock raises ``ThreadBusyError`` when another process (or
    another run in this process) holds it and it did not come free in time.

    Example:
        >>> with thread_lock(graph.checkpointer, config, wait=30):  # doctest: +SKIP
        ...     graph.invoke(None, config)
    """
    return ThreadLock(checkpointer, config, wait=wait)
