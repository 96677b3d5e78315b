"""LangGraph's PostgreSQL savers on a pool, with a write that meets a broken connection retried.

``PostgresSaver``/``AsyncPostgresSaver`` on one connection never recover once a
backend is terminated or the server restarts (langgraph#5675). The savers
``open_checkpointer`` opens are those same classes (subclasses: everything LangGraph
documents for them applies), given a ``psycopg_pool`` pool (``pool``) and one change:
a read or write that meets a broken connection runs again on a fresh one from the
pool (``broken.RETRIES`` attempts in all). Their writes are upserts
(``INSERT ... ON CONFLICT DO UPDATE``/``DO NOTHING``), so doing one twice is harmless.
On a pool, statements do not queue behind the saver's one lock (LangGraph's
savers take it around every statement, which a single connection needs): each has a
connection of its own, so up to ``max_connections`` run at once; each takes it from
the pool through one small object (``pg_cursor``) rather than LangGraph's three nested
generator context managers, which thousands of waiting statements kept alive. When the attempts
are spent the error is a ``DatabaseUnavailableError`` naming the
database, and the run can be resumed from its last checkpoint.

Before a write, and before retrying one, a saver makes sure the thread's lock (held on
the process's lock session, ``lock_session``) was not lost to another process with its
connection: a lost lock refuses the write with ``ThreadBusyError`` (never two writers
on a thread).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.base import CheckpointTuple as _Tuple
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from langgraph_runner._db.alock_session import AsyncLockSession
from langgraph_runner._db.broken import aretry_broken, retry_broken
from langgraph_runner._db.cursor import AsyncPooledCursor, PooledCursor
from langgraph_runner._db.lock_session import any_lost, sessions, was_lost
from langgraph_runner._db.pool import DatabaseUnavailableError, WaitNotice
from langgraph_runner._internal.compat import saver_cursor
from langgraph_runner._records.exceptions import ThreadBusyError
from langgraph_runner._runs.thread_lock import lock_key

__all__ = ["RetryingAsyncPostgresSaver", "RetryingPostgresSaver"]

T = TypeVar("T")


class _NoLock:
    """Stands in for the saver's one lock on a pool: each statement has a connection of
    its own there, so reads and writes need not wait for each other."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None

    def locked(self) -> bool:
        return False


def _refuse_if_lost(database: str, config: RunnableConfig) -> None:
    if not any_lost(database):
        return
    conf = config.get("configurable") or {}
    thread = conf.get("thread_id")
    if thread is None:
        return
    thread_id = str(thread)
    for ns in {"", str(conf.get("checkpoint_ns") or "")}:
        if was_lost(database, lock_key(thread_id, ns)):
            raise ThreadBusyError(thread_id, checkpoint_ns=ns)


def _check_locks(database: str) -> None:
    for session in sessions():
        if session.database == database:
            session.check()


def _gave_up(database: str, attempts: int, exc: BaseException) -> DatabaseUnavailableError:
    return DatabaseUnavailableError(
        database,
        f"the checkpointer's connection broke {attempts} times in a row ({type(exc).__name__}); "
        "resume the thread to continue from its last checkpoint",
    )


class _OnPool:
    """What both savers change in LangGraph's: on a pool, no lock and each statement's
    cursor straight from the pool (``_db.cursor``); before a statement, a word when
    statements queue for the pool and a write refused whose thread lock was lost."""

    database = "postgres"
    conn: Any
    pipe: Any
    lock: Any
    supports_pipeline: bool
    _saver: type[Any]  # LangGraph's saver class (its own ``_cursor``)
    _pooled_cursor: type[PooledCursor] | type[AsyncPooledCursor]

    def __init__(self, conn: Any, *args: Any, **kwargs: Any) -> None:
        """LangGraph's ``__init__`` on ``conn`` (a pool, or one connection), then ours."""
        self._saver.__init__(self, conn, *args, **kwargs)
        self._pooled = hasattr(conn, "getconn") and self.pipe is None
        if hasattr(conn, "getconn"):  # a pool: no need to queue every statement behind one
            self.lock = _NoLock()
        self._notice = WaitNotice()

    def _cursor(self, *, pipeline: bool = False) -> Any:
        if self._pooled:
            return self._pooled_cursor(self.conn, pipeline, self.supports_pipeline)
        return saver_cursor(self._saver, self, pipeline=pipeline)

    def _before(self, config: RunnableConfig | None) -> None:
        self._notice(self.conn, self.database)
        if config is not None:
            _refuse_if_lost(self.database, config)


class RetryingPostgresSaver(_OnPool, PostgresSaver):
    """``PostgresSaver`` on a pool; broken-connection reads and writes are retried."""

    _saver = PostgresSaver
    _pooled_cursor = PooledCursor

    def _retry(
        self, once: Callable[..., T], args: tuple[Any, ...], config: RunnableConfig | None
    ) -> T:
        self._before(config)
        return retry_broken(
            once,
            self,
            *args,
            database=self.database,
            on_retry=self._fresh if config is None else partial(self._fresh, config),
            giving_up=_gave_up,
        )

    def _fresh(self, config: RunnableConfig | None = None) -> None:
        """Before a retry: the pool drops its other broken connections, the thread locks
        are checked, and a write whose lock was lost meanwhile is refused."""
        if hasattr(self.conn, "check"):  # a pool
            self.conn.check()
        _check_locks(self.database)
        if config is not None:
            _refuse_if_lost(self.database, config)

    def get_tuple(self, config: RunnableConfig) -> _Tuple | None:
        return self._retry(PostgresSaver.get_tuple, (config,), None)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._retry(PostgresSaver.put, (config, checkpoint, metadata, new_versions), config)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._retry(PostgresSaver.put_writes, (config, writes, task_id, task_path), config)

    def delete_thread(self, thread_id: str) -> None:
        self._retry(PostgresSaver.delete_thread, (thread_id,), None)


class RetryingAsyncPostgresSaver(_OnPool, AsyncPostgresSaver):
    """``AsyncPostgresSaver`` on a pool; broken-connection reads and writes are retried.

    ``lock_session`` holds its runs' thread locks on one async connection of its own
    (``alock_session``), closed with the saver.
    """

    lock_session: AsyncLockSession | None = None
    _saver = AsyncPostgresSaver
    _pooled_cursor = AsyncPooledCursor

    def _aretry(
        self,
        once: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        config: RunnableConfig | None,
    ) -> Awaitable[T]:
        # ``once(self, *args)``, not a closure, and no coroutine of its own here: a
        # statement waiting for a connection keeps fewer objects alive (thousands wait at
        # once with many runs in flight).
        self._before(config)
        return aretry_broken(
            once,
            self,
            *args,
            database=self.database,
            on_retry=self._afresh if config is None else partial(self._afresh, config),
            giving_up=_gave_up,
        )

    async def _afresh(self, config: RunnableConfig | None = None) -> None:
        """Before a retry: the pool drops its other broken connections, the thread locks
        are checked, and a write whose lock was lost meanwhile is refused."""
        if hasattr(self.conn, "check"):  # a pool
            await self.conn.check()
        if self.lock_session is not None:
            await self.lock_session.check()
        else:
            _check_locks(self.database)
        if config is not None:
            _refuse_if_lost(self.database, config)

    async def aget_tuple(self, config: RunnableConfig) -> _Tuple | None:
        return await self._aretry(AsyncPostgresSaver.aget_tuple, (config,), None)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._aretry(
            AsyncPostgresSaver.aput, (config, checkpoint, metadata, new_versions), config
        )

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._aretry(
            AsyncPostgresSaver.aput_writes, (config, writes, task_id, task_path), config
        )

    async def adelete_thread(self, thread_id: str) -> None:
        await self._aretry(AsyncPostgresSaver.adelete_thread, (thread_id,), None)
