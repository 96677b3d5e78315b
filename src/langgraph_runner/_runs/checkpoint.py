"""Open LangGraph's own checkpoint savers from a URL, set up and ready to use.

Supported URLs::

    sqlite:///relative/path.db      SqliteSaver on a file relative to the working directory
    sqlite:////absolute/path.db     SqliteSaver on an absolute path
    sqlite:///:memory:  (or :memory:)  SqliteSaver in memory (lost when the context exits)
    postgresql://user@host:5432/db  PostgresSaver (``postgres://`` works too; needs the
                                    ``postgres`` extra)

The savers are LangGraph's: anything LangGraph documents for them
(``graph.compile(checkpointer=saver)``, ``saver.list``, ``saver.delete_thread``)
applies unchanged. On PostgreSQL they are subclasses on a ``psycopg_pool`` pool of at
most ``max_connections`` connections whose reads and writes are retried on a fresh
connection after a break (``pg_savers``). ``saved_tasks`` (re-exported from
``checkpoint_tasks``) decodes what a stored checkpoint says about the tasks of its
superstep.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import unquote

from langgraph.checkpoint.sqlite import SqliteSaver

from langgraph_runner._db.pool import (
    DEFAULT_CHECK_IDLE,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_POOL_TIMEOUT,
    FirstConnect,
    PoolOptions,
    async_pool,
    database_name,
    pool_options,
    sync_pool,
)
from langgraph_runner._internal.extras import require_extra
from langgraph_runner._records.sanitize import scrub_url_password
from langgraph_runner._runs.checkpoint_tasks import SavedTask, saved_tasks

if TYPE_CHECKING:
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

__all__ = [
    "CheckpointerURL",
    "SavedTask",
    "open_async_checkpointer",
    "open_checkpointer",
    "parse_checkpointer_url",
    "saved_tasks",
]

_SUPPORTED = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite:///:memory:, "
    "postgresql://user@host:port/dbname, postgres://..."
)
_MEMORY = ":memory:"
SQLITE_BUSY_TIMEOUT = 30.0
"""Seconds a SQLite writer waits for another process's write ("database is locked")."""
# An RFC 3986 scheme; a single letter is a Windows drive (C:\x.db), not a scheme.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class CheckpointerURL:
    """A parsed checkpointer URL.

    Attributes:
        backend: ``"sqlite"`` or ``"postgres"``.
        target: The SQLite path (``":memory:"`` for an in-memory database) or the
            PostgreSQL connection string, passed to psycopg unchanged.
    """

    backend: Literal["sqlite", "postgres"]
    target: str

    @property
    def in_memory(self) -> bool:
        """True for an in-memory SQLite database."""
        return self.backend == "sqlite" and self.target == _MEMORY


def parse_checkpointer_url(url: str) -> CheckpointerURL:
    """Parse and validate a checkpointer URL without opening anything.

    Args:
        url: See the module docstring for the accepted forms.

    Returns:
        The backend and its target.

    Raises:
        ValueError: The URL is empty, the scheme is missing or unsupported, or a
            SQLite URL has a host (``sqlite://x.db``: two slashes instead of three),
            query options or no path. The message names the scheme (never the whole
            URL, which may hold a password) and the supported forms.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"Empty checkpointer URL (no scheme); supported forms: {_SUPPORTED}")
    url = url.strip()
    if url == _MEMORY:
        return CheckpointerURL(backend="sqlite", target=_MEMORY)
    scheme, sep, rest = url.partition("://")
    if not sep:
        named = _SCHEME.match(url)
        if named:  # "sqlite:x.db", "postgresql:/db": a scheme without "//"
            raise ValueError(
                f"Checkpointer URL scheme {named.group(1).lower()!r} must be followed by '://'; "
                f"supported forms: {_SUPPORTED}"
            )
        raise ValueError(
            f"Checkpointer URL has no scheme (expected '<scheme>://...'); "
            f"supported forms: {_SUPPORTED}"
        )
    scheme = scheme.lower()
    if scheme in ("postgresql", "postgres"):
        return CheckpointerURL(backend="postgres", target=url)
    if scheme != "sqlite":
        raise ValueError(
            f"Unsupported checkpointer URL scheme {scheme!r}; supported forms: {_SUPPORTED}"
        )
    host, slash, path = rest.partition("/")
    if host or (rest and not slash):
        # "sqlite://x.db" is the usual slip: the path needs a third slash.
        hint = f" (did you mean 'sqlite:///{rest}'?)" if rest and "@" not in rest else ""
        raise ValueError(
            f"Checkpointer URL scheme 'sqlite' takes no host{hint}: use "
            "sqlite:///relative/path.db, sqlite:////absolute/path.db or sqlite:///:memory:"
        )
    if "?" in path or "#" in path:
        raise ValueError(
            "Checkpointer URL scheme 'sqlite' takes no query options or fragment: "
            "use sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    path = unquote(path)
    if not path:
        raise ValueError(
            "Checkpointer URL scheme 'sqlite' needs a path, and this URL has no path: use "
            "sqlite:///relative/path.db, sqlite:////absolute/path.db or sqlite:///:memory:"
        )
    return CheckpointerURL(backend="sqlite", target=path)


def _sqlite_target(target: str) -> str:
    # Creating the parent folder keeps a first run from failing on a fresh checkout.
    if target != _MEMORY:
        Path(target).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return str(Path(target).expanduser())
    return target


def _without_password(exc: Exception, url: str) -> Exception:
    """``exc`` (failing to open ``url``) with no piece of the URL's password in its text.

    A driver quotes what it could not parse (``invalid integer value "..." for
    connection option "port"`` when a password holds a ``/``). The result has the
    same type when it can be built from one message, else it is a ``RuntimeError``.
    """
    text = str(exc)
    clean = scrub_url_password(text, url)
    if clean == text:
        return exc
    try:
        return type(exc)(clean)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {clean}")


def _saver_kwargs() -> dict[str, Any]:
    # What LangGraph's PostgreSQL savers need of each connection (as from_conn_string).
    rows = require_extra("postgres", "psycopg.rows")
    return {"autocommit": True, "prepare_threshold": 0, "row_factory": rows.dict_row}


def _saver_pool(
    make: Callable[..., T], target: str, options: PoolOptions, first: FirstConnect
) -> T:
    """The saver's pool as ``make`` (``sync_pool``, or ``async_pool``: awaited by the
    caller) opens it, named after its database (``pool.database``). ``first`` hears how
    its first connection went: a bad URL or password fails the opener at once, with the
    driver's words (no piece of the password in them, nor in the pool's log)."""
    database = database_name(target)
    return make(
        target,
        _saver_kwargs(),
        options,
        name=f"langgraph-runner-checkpoints-{database}",
        database=database,
        first=first,
    )


def _first(target: str) -> FirstConnect:
    return FirstConnect(lambda exc: _without_password(exc, target))


def _setup_postgres(pool: Any, first: FirstConnect, options: PoolOptions) -> None:
    """Run the saver's migrations on a connection of its pool, once the first came."""
    pg = require_extra("postgres", "langgraph.checkpoint.postgres")
    first.wait(options.pool_timeout)
    with pool.connection() as conn:
        pg.PostgresSaver(conn).setup()


async def _asetup_postgres(pool: Any, first: FirstConnect, options: PoolOptions) -> None:
    pg_aio = require_extra("postgres", "langgraph.checkpoint.postgres.aio")
    await first.await_first(options.pool_timeout)
    async with pool.connection() as conn:
        await pg_aio.AsyncPostgresSaver(conn).setup()


def _options(
    owner: str, max_connections: int, pool_timeout: float, check_idle: float
) -> PoolOptions:
    return pool_options(
        owner, max_connections=max_connections, pool_timeout=pool_timeout, check_idle=check_idle
    )


@contextmanager
def open_checkpointer(
    url: str,
    *,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    pool_timeout: float = DEFAULT_POOL_TIMEOUT,
    check_idle: float = DEFAULT_CHECK_IDLE,
) -> Iterator[SqliteSaver | PostgresSaver]:
    """Open a LangGraph checkpoint saver for ``url``, with its tables created.

    SQLite connections are opened with ``check_same_thread=False`` (LangGraph runs
    sync nodes and checkpoint writes in a thread pool; the saver serialises access
    with its own lock) and ``setup()`` switches the database to WAL journaling, so a
    killed process leaves the last committed checkpoint intact; a writer waits up to
    30 s for another process's write. PostgreSQL gets a ``PostgresSaver`` on a
    ``psycopg_pool`` pool of autocommit connections with ``prepare_threshold=0`` and
    dict rows (as the saver requires); ``setup()`` runs its migrations. A connection
    idle ``check_idle`` seconds or more is checked before it is handed out, and a read
    or write that meets a broken connection (a terminated backend, a restarted
    server) runs again on a fresh one.

    These savers serve ``invoke``/``stream``; for ``ainvoke``/``astream`` use
    ``open_async_checkpointer`` (``SqliteSaver`` has no async methods).

    Args:
        url: A checkpointer URL (see ``parse_checkpointer_url``).
        max_connections: PostgreSQL: the most connections the saver's pool opens.
        pool_timeout: PostgreSQL: seconds a read or write waits for a connection while
            the pool frees none (waits behind other statements go on while connections
            come back); then the run fails with ``DatabaseUnavailableError`` naming the
            database and this setting.
        check_idle: PostgreSQL: a connection idle this many seconds or more is
            proven alive (one round trip) before use; 0 checks every checkout.

    Yields:
        A ready ``SqliteSaver`` or ``PostgresSaver``; its connections close on exit.

    Raises:
        ValueError: Bad or unsupported URL, or a pool option out of range.
        TypeError: A pool option of the wrong type.
        ImportError: A PostgreSQL URL without the ``postgres`` extra installed.

    Example:
        >>> with open_checkpointer("sqlite:///:memory:") as saver:
        ...     graph = builder.compile(checkpointer=saver)  # doctest: +SKIP
    """
    parsed = parse_checkpointer_url(url)
    options = _options("open_checkpointer", max_connections, pool_timeout, check_idle)
    if parsed.backend == "sqlite":
        conn = sqlite3.connect(
            _sqlite_target(parsed.target), check_same_thread=False, timeout=SQLITE_BUSY_TIMEOUT
        )
        with closing(conn):
            saver = SqliteSaver(conn)
            saver.setup()
            yield saver
        return
    require_extra("postgres", "langgraph.checkpoint.postgres")
    from langgraph_runner._db.storage import postgres_settings
    from langgraph_runner._runs.pg_savers import RetryingPostgresSaver
    from langgraph_runner._runs.store_registry import hold_postgres

    with ExitStack() as stack:
        failed = None
        try:
            first = _first(parsed.target)
            pool = _saver_pool(sync_pool, parsed.target, options, first)
            stack.callback(pool.close)
            _setup_postgres(pool, first, options)
            pg_saver = RetryingPostgresSaver(pool)
            pg_saver.database = pool.database
            stack.callback(_let_go, hold_postgres(*postgres_settings(pool)))
        except Exception as exc:
            failed = _without_password(exc, parsed.target)
        if failed is not None:  # raised outside the handler: the original is not chained
            raise failed
        yield pg_saver


def _let_go(key: tuple[Any, ...], saver: Any = None) -> None:
    """A PostgreSQL checkpointer opened here closes: what this process kept for its
    database settings ``key`` (the runs store's pool, the lock session's connection) goes
    with the last one open on them, once no run uses it."""
    from langgraph_runner._db.lock_session import let_go_if_idle
    from langgraph_runner._runs import arows
    from langgraph_runner._runs.store_registry import release_postgres

    if saver is not None:
        arows.forget(saver)
    if release_postgres(key):
        let_go_if_idle(key)


@asynccontextmanager
async def open_async_checkpointer(
    url: str,
    *,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    pool_timeout: float = DEFAULT_POOL_TIMEOUT,
    check_idle: float = DEFAULT_CHECK_IDLE,
) -> AsyncIterator[AsyncSqliteSaver | AsyncPostgresSaver]:
    """Async twin of ``open_checkpointer`` for ``ainvoke``/``astream``.

    PostgreSQL: an ``AsyncPostgresSaver`` on a ``psycopg_pool.AsyncConnectionPool``,
    checked and retried as ``open_checkpointer`` says.

    Args:
        url: A checkpointer URL (see ``parse_checkpointer_url``).
        max_connections: PostgreSQL: the most connections the saver's pool opens.
        pool_timeout: PostgreSQL: seconds to wait for a connection while the pool
            frees none (see ``open_checkpointer``).
        check_idle: PostgreSQL: check a connection idle this long before use.

    Yields:
        A ready ``AsyncSqliteSaver`` or ``AsyncPostgresSaver``.

    Raises:
        ValueError: Bad or unsupported URL, or a pool option out of range.
        TypeError: A pool option of the wrong type.
        ImportError: A PostgreSQL URL without the ``postgres`` extra installed.
    """
    parsed = parse_checkpointer_url(url)
    options = _options("open_async_checkpointer", max_connections, pool_timeout, check_idle)
    if parsed.backend == "sqlite":
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with aiosqlite.connect(
            _sqlite_target(parsed.target), timeout=SQLITE_BUSY_TIMEOUT
        ) as conn:
            saver = AsyncSqliteSaver(conn)
            await saver.setup()
            yield saver
        return
    require_extra("postgres", "langgraph.checkpoint.postgres.aio")
    from langgraph_runner._db.alock_session import AsyncLockSession
    from langgraph_runner._db.storage import postgres_settings
    from langgraph_runner._runs.pg_savers import RetryingAsyncPostgresSaver
    from langgraph_runner._runs.store_registry import hold_postgres

    async with AsyncExitStack() as stack:
        failed = None
        try:
            first = _first(parsed.target)
            pool = await _saver_pool(async_pool, parsed.target, options, first)
            stack.push_async_callback(pool.close)
            await _asetup_postgres(pool, first, options)
            pg_saver = RetryingAsyncPostgresSaver(pool)
            pg_saver.database = pool.database
            conninfo, kwargs = postgres_settings(pool)
            pg_saver.lock_session = AsyncLockSession(conninfo, kwargs, pool.database)
            stack.push_async_callback(pg_saver.lock_session.aclose)  # before the pool
            # First of all on exit: the runs store its runs used lets go of it.
            stack.callback(_let_go, hold_postgres(conninfo, kwargs), pg_saver)
        except Exception as exc:
            failed = _without_password(exc, parsed.target)
        if failed is not None:
            raise failed
        yield pg_saver
