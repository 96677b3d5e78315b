"""Bounded PostgreSQL connections: psycopg_pool pools, cheap health checks, retry on a break.

Every PostgreSQL connection the package keeps comes from a psycopg_pool pool of a bounded
size, used through its public API: the checkpointer's (``open_checkpointer(url,
max_connections=...)``), the runs table's (one small pool per database and process,
shared by every run), the node cache's (``PostgresCache``) and the effect ledger's (a pool
of one, ``connection.open_postgres``); a lock session takes its one connection from a
pool of one too (``lock_session``). A pool made here hands out a
connection that sat idle longer than ``check_idle`` seconds only after a round trip
proves it alive (checking every checkout costs a quarter of the throughput; a busy
connection is checked by its own use instead), and a statement that meets a broken
connection (a terminated backend, a restarted server) is retried on a fresh one (``broken``).
A statement with no connection free waits its turn, told to its run (``pool_wait``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from typing_extensions import Required, Unpack

from langgraph_runner._db.broken import retry_broken
from langgraph_runner._db.pool_wait import WaitListener, current_listener, listening
from langgraph_runner._internal.extras import require_extra
from langgraph_runner._records.exceptions import DatabaseUnavailableError

__all__ = [
    "FirstConnect",
    "PoolNames",
    "DEFAULT_CHECK_IDLE",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_POOL_TIMEOUT",
    "DatabaseUnavailableError",
    "PoolOptions",
    "PooledDb",
    "WaitListener",
    "current_listener",
    "database_name",
    "listening",
    "pool_options",
    "settings_key",
]

DEFAULT_MAX_CONNECTIONS = 4
"""Connections a checkpointer's pool opens at most (``open_checkpointer``)."""
DEFAULT_POOL_TIMEOUT = 30.0
"""Seconds a caller waits while the pool frees no connection at all, before giving up."""
DEFAULT_CHECK_IDLE = 5.0
"""A connection idle longer than this is checked (one round trip) before it is handed out."""
STORE_MAX_CONNECTIONS = 2
"""Connections the runs table's pool opens at most, per database and process."""
WAIT_NOTICE = 1.0
"""Seconds a run waits for a free connection before it says so (and waits on)."""

_log = logging.getLogger("langgraph_runner.runs")
_IDLE_SINCE: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, kw_only=True)
class PoolOptions:
    """How a pool is sized and checked (validated once, by ``pool_options``)."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    pool_timeout: float = DEFAULT_POOL_TIMEOUT
    check_idle: float = DEFAULT_CHECK_IDLE


def pool_options(
    owner: str,
    *,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    pool_timeout: float = DEFAULT_POOL_TIMEOUT,
    check_idle: float = DEFAULT_CHECK_IDLE,
) -> PoolOptions:
    """Validated ``PoolOptions``; errors name ``owner`` and the field."""
    if isinstance(max_connections, bool) or not isinstance(max_connections, int):
        raise TypeError(f"{owner}: max_connections must be an int, got {max_connections!r}")
    if max_connections < 1:
        raise ValueError(f"{owner}: max_connections must be 1 or more, got {max_connections}")
    for name, value in (("pool_timeout", pool_timeout), ("check_idle", check_idle)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{owner}: {name} must be seconds (a number), got {value!r}")
        if not value >= 0 or value == float("inf"):
            raise ValueError(f"{owner}: {name} must be 0 or more seconds, got {value!r}")
    if pool_timeout <= 0:
        raise ValueError(f"{owner}: pool_timeout must be more than 0 seconds, got {pool_timeout}")
    return PoolOptions(
        max_connections=max_connections,
        pool_timeout=float(pool_timeout),
        check_idle=float(check_idle),
    )


def settings_key(conninfo: str, kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """What this process keeps one runs store and one lock session per: its pid and
    the database settings (the connection string and its options)."""
    return (os.getpid(), conninfo, repr(sorted(kwargs.items())))


def database_name(conninfo: str, kwargs: dict[str, Any] | None = None) -> str:
    """``postgres:host:port/dbname`` of a connection string, without its password."""
    psycopg = require_extra("postgres", "psycopg")
    try:
        where = psycopg.conninfo.conninfo_to_dict(conninfo, **(kwargs or {}))
    except Exception:
        return "postgres:(unparsable connection string)"
    return f"postgres:{where.get('host')}:{where.get('port') or 5432}/{where.get('dbname')}"


class WaitNotice:
    """Says (a log warning, at most every ``every`` seconds) that statements queue for a
    pool's connections: backpressure, visible. Looks at the pool at most once a second."""

    def __init__(self, every: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self._looked = self._said = float("-inf")

    def __call__(self, pool: Any, database: str) -> None:
        now = self.clock()
        if now - self._looked < 1.0:
            return
        self._looked = now
        try:
            stats = pool.get_stats()
        except Exception:  # not a psycopg_pool pool
            return
        waiting = int(stats.get("requests_waiting", 0))
        if waiting and now - self._said >= self.every:
            self._said = now
            _log.warning(
                "%d statements wait for a connection to %s (all %s busy): raise"
                " max_connections or run fewer at once",
                waiting,
                database,
                stats.get("pool_max"),
            )


def _returned(conn: Any) -> None:
    _IDLE_SINCE[conn] = time.monotonic()


def _stale(conn: Any, check_idle: float) -> bool:
    since = _IDLE_SINCE.get(conn)
    return since is None or time.monotonic() - since >= check_idle


def _sync_check(check_idle: float) -> Callable[[Any], None]:
    def check(conn: Any) -> None:
        if _stale(conn, check_idle):
            conn.execute("")  # raises on a dead connection: the pool makes a new one

    return check


def _async_check(check_idle: float) -> Callable[[Any], Any]:
    async def check(conn: Any) -> None:
        if _stale(conn, check_idle):
            await conn.execute("")

    return check


class FirstConnect:
    """How a pool's first connection attempt went: what lets an opener fail at once.

    psycopg_pool opens connections in the background and, when one fails, logs the
    driver's error and tries again until ``reconnect_timeout``. An opener that must
    fail at once on a bad URL or password (``open_checkpointer``) gives its pool one
    of these (``sync_pool``/``async_pool``'s ``first=``) and waits for the first
    attempt instead: its error, the driver's own, is raised there. Every attempt's
    error reaches the pool (and its log) as ``clean`` made it: no piece of a password.

    Args:
        clean: The error a failed attempt raises, from the driver's.
    """

    __slots__ = ("_async", "clean", "error", "ready")

    def __init__(self, clean: Callable[[Exception], Exception]) -> None:
        self.clean = clean
        self.error: Exception | None = None
        self.ready = threading.Event()
        self._async: asyncio.Event | None = None

    def _told(self, error: Exception | None) -> None:
        if not self.ready.is_set():
            self.error = error
            self.ready.set()
            if self._async is not None:
                self._async.set()

    def wait(self, timeout: float) -> None:
        """Return once the first attempt connected (or ``timeout`` passed: the pool's own
        wait follows); raise its error if it failed."""
        self.ready.wait(timeout)
        if self.error is not None:
            raise self.error

    async def await_first(self, timeout: float) -> None:
        """``wait``, awaited (the attempt runs on this event loop)."""
        if not self.ready.is_set():
            self._async = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._async.wait(), timeout)
        if self.error is not None:
            raise self.error

    @contextlib.contextmanager
    def telling(self) -> Iterator[None]:
        """Around one ``connect``: tell its outcome; a failure leaves as ``clean`` made it
        (the opener's copy and the pool's are two objects)."""
        try:
            yield
        except Exception as exc:
            self._told(self.clean(exc))
            raise self.clean(exc) from None
        self._told(None)

    def connection_class(self, base: Any) -> Any:
        """``base`` (psycopg's ``Connection`` or ``AsyncConnection``) telling this of its
        first ``connect`` (psycopg_pool's ``connection_class=``)."""
        first = self

        if asyncio.iscoroutinefunction(base.connect):

            class _AsyncTelling(base):  # type: ignore[misc]
                @classmethod
                async def connect(cls, *args: Any, **kwargs: Any) -> Any:
                    with first.telling():
                        return await super().connect(*args, **kwargs)

            return _AsyncTelling

        class _Telling(base):  # type: ignore[misc]
            @classmethod
            def connect(cls, *args: Any, **kwargs: Any) -> Any:
                with first.telling():
                    return super().connect(*args, **kwargs)

        return _Telling


def _pool_args(options: PoolOptions, name: str, min_size: int) -> dict[str, Any]:
    """The psycopg_pool settings both pool kinds share."""
    size = options.max_connections
    return {
        "min_size": min(min_size, size),
        "max_size": size,
        "timeout": options.pool_timeout,
        "name": name,
        "open": False,
        "num_workers": 1,
        "reconnect_timeout": options.pool_timeout,
    }


class PoolNames(TypedDict, total=False):
    """``sync_pool``/``async_pool``'s keyword arguments: the pool's ``name`` (required),
    the connections it keeps open (``min_size``, 1), the ``database`` its errors name
    (else from ``conninfo``), and the ``FirstConnect`` told of its first connection."""

    name: Required[str]
    min_size: int
    database: str | None
    first: FirstConnect | None


def sync_pool(
    conninfo: str, kwargs: dict[str, Any], options: PoolOptions, **names: Unpack[PoolNames]
) -> Any:
    """An open ``psycopg_pool.ConnectionPool`` sized and checked as ``options`` say, whose
    waits for a connection are told to the run and bounded by a stall (``pool_wait``)."""
    pool = _patient(False, conninfo, kwargs, options, **names)
    pool.open(wait=False)
    return pool


async def async_pool(
    conninfo: str, kwargs: dict[str, Any], options: PoolOptions, **names: Unpack[PoolNames]
) -> Any:
    """``sync_pool``'s ``psycopg_pool.AsyncConnectionPool``, opened."""
    pool = _patient(True, conninfo, kwargs, options, **names)
    await pool.open(wait=False)
    return pool


def _patient(
    is_async: bool,
    conninfo: str,
    kwargs: dict[str, Any],
    options: PoolOptions,
    *,
    name: str,
    min_size: int = 1,
    database: str | None = None,
    first: FirstConnect | None = None,
) -> Any:
    """The patient pool, sync or async, not yet open."""
    require_extra("postgres", "psycopg_pool")
    from psycopg import AsyncConnection, Connection

    from langgraph_runner._db.patient_pool import PatientAsyncPool, PatientPool

    make, check, base = (
        (PatientAsyncPool, _async_check, AsyncConnection)
        if is_async
        else (PatientPool, _sync_check, Connection)
    )
    extra = {} if first is None else {"connection_class": first.connection_class(base)}
    return make(
        conninfo,
        check=check(options.check_idle),
        database=database or database_name(conninfo, kwargs),
        notice=WAIT_NOTICE,
        kwargs=kwargs,
        # on_return, not psycopg_pool's reset=, which returns the connection in a worker
        on_return=_returned,
        **_pool_args(options, name, min_size),
        **extra,
    )


class _OnWait:
    """``on_wait(database, seconds)`` as a ``WaitListener``, naming ``database``."""

    def __init__(self, on_wait: Callable[[str, float], None], database: str) -> None:
        self.on_wait = on_wait
        self.database = database

    def waiting(self, database: str, seconds: float) -> None:
        self.on_wait(self.database, seconds)

    def waited(self, database: str, seconds: float) -> None:
        return None


class PooledDb:
    """``sql.Db``'s interface on a pool: each statement on a connection of its own.

    A statement that meets a broken connection runs again on a fresh one (the runs
    table's writes are upserts and keyed updates, so running one twice is harmless).
    """

    def __init__(self, pool: Any, database: str) -> None:
        self.pool = pool
        self.database = database
        self._setup_lock = threading.Lock()

    def run(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        on_wait: Callable[[str, float], None] | None = None,
    ) -> tuple[int, list[Any]]:
        """Execute one statement (written with ``?``); its row count and its rows.

        With no connection free at once, ``on_wait(database, seconds)`` is told after
        ``WAIT_NOTICE`` seconds and the wait goes on while the pool frees connections
        (``pool_wait``: up to the pool's timeout without one freed).
        """
        sql = sql.replace("?", "%s")

        def once() -> tuple[int, list[Any]]:
            conn = self._getconn(on_wait)
            try:
                cur = conn.execute(sql, tuple(params))
                rows = cur.fetchall() if cur.description else []
                return cur.rowcount, list(rows)
            finally:
                self.pool.putconn(conn)

        return retry_broken(once, database=self.database, on_retry=self.pool.check)

    def _getconn(self, on_wait: Callable[[str, float], None] | None) -> Any:
        if on_wait is None:
            return self.pool.getconn()
        with listening(_OnWait(on_wait, self.database)):
            return self.pool.getconn()

    def setup(self, ddl: Sequence[str], table: str) -> None:
        """Run ``ddl`` (idempotent) once, one worker at a time across processes."""

        def once() -> None:
            with self.pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (table,))
                for statement in ddl:
                    conn.execute(statement)

        with self._setup_lock:
            retry_broken(once, database=self.database, on_retry=self.pool.check)

    postgres = True
    """The pool's connections are PostgreSQL's (``Db.postgres``)."""

    @property
    def closed(self) -> bool:
        return bool(self.pool.closed)

    def close(self) -> None:
        """Close the pool."""
        self.pool.close()
