"""Tenancy as a wall: a thread belongs to the tenant that first ran it, kept in its database.

The owner of each thread is one row of the ``langgraph_runner_threads`` table, beside
the checkpoints (SQLite file or PostgreSQL; a table in this process for an in-memory
saver), written atomically by the first ``run()``/``arun()``/``rebuild``/
``rerun_blocked`` on the thread (``INSERT ... ON CONFLICT DO NOTHING``, then the row is
read back: of two tenants racing for a new thread, one wins, the other is refused).
A thread first run without a tenant is owned by "no tenant" (``""``).

- A run, resume or re-run (a write) whose tenant is not the owner is refused before it
  takes the thread's lock, with the ``ThreadNotFoundError`` a missing thread gets in
  ``run_report``: nothing runs, nothing is read, no event is logged.
- A read given ``tenant=`` (report, listing, cancel, plan, blocked nodes) sees another
  tenant's thread as missing. A read without ``tenant=`` is the operator's view.
- A thread with checkpoints but no owner row (written before this table existed, or
  by a plain ``graph.invoke``) is owned by its first recorded run's tenant, else by the
  ``tenant_id`` its latest checkpoint's metadata carries, else by no tenant.
- A run id names one run: a ``config["run_id"]`` already in the runs table is refused.

Tenant ids are validated once, at each entry point: a non-empty ``str`` of at most
``MAX_TENANT_LENGTH`` printable characters (no control, format, line-separator
characters; NUL included).

The wall above is for callers that pick thread ids themselves (``run(tenant=...)`` in
process: a refusal is an exception the caller sees at once). The runs service never
lets tenants meet at the wall: it keys every thread a tenant names by
``scoped_thread_id(tenant, thread_id)`` (checkpoints, thread lock, runs and queue rows),
so two tenants' threads of one name are two threads, and shows ``shown_thread_id`` of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import urllib.parse
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from langgraph_runner._db.pool import DatabaseUnavailableError
from langgraph_runner._db.storage import asqlite_file, saver_kind
from langgraph_runner._policies.context import TENANT_KEY
from langgraph_runner._records.exceptions import ThreadNotFoundError
from langgraph_runner._runs.row_writes import saver_database
from langgraph_runner._runs.run_store import TABLE as RUNS_TABLE
from langgraph_runner._runs.run_store import RunStore
from langgraph_runner._runs.store_registry import open_run_store

__all__ = [
    "MAX_TENANT_LENGTH",
    "NO_TENANT",
    "THREADS_TABLE",
    "aadmit",
    "aadmit_at_once",
    "admit",
    "aowner",
    "check_tenant",
    "config_tenant",
    "not_found",
    "owner",
    "prepare",
    "scoped_thread_id",
    "shown_thread_id",
]

THREADS_TABLE = "langgraph_runner_threads"
MAX_TENANT_LENGTH = 256
"""The longest tenant id accepted, in characters."""
NO_TENANT = ""
"""The owner of a thread first run without a tenant."""
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {THREADS_TABLE} ("
    " thread_id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
    " claimed_at DOUBLE PRECISION NOT NULL)",
)


def check_tenant(tenant: object, *, owner: str) -> str | None:
    """``tenant`` if it is a valid tenant id (or None); else a clear error naming ``owner``.

    Raises:
        TypeError: Not a ``str``.
        ValueError: Empty, longer than ``MAX_TENANT_LENGTH``, or holding a control,
            format or line-separator character (NUL, ESC, newline, U+202E ...).
    """
    if tenant is None:
        return None
    if not isinstance(tenant, str):
        raise TypeError(f"{owner}: tenant must be a str, got {type(tenant).__name__}")
    if not tenant:
        raise ValueError(f"{owner}: tenant must not be empty (use None for no tenant)")
    if len(tenant) > MAX_TENANT_LENGTH:
        raise ValueError(
            f"{owner}: tenant must be at most {MAX_TENANT_LENGTH} characters, got {len(tenant)}"
        )
    if not tenant.isprintable():
        shown = ascii(tenant[:40])
        raise ValueError(
            f"{owner}: tenant must be printable text (no control, format or line-separator "
            f"characters), got {shown}"
        )
    return tenant


def config_tenant(config: Mapping[str, Any] | None, *, owner: str) -> str | None:
    """The validated tenant of ``config["configurable"]["tenant_id"]`` (None without one)."""
    conf = (config or {}).get("configurable") or {}
    return check_tenant(conf.get(TENANT_KEY), owner=owner)


_SCOPE = "tenant:"
"""The prefix of a tenant-scoped thread id: ``tenant:<tenant, percent-encoded>/<thread id>``."""


def scoped_thread_id(tenant: str | None, thread_id: str) -> str:
    """The thread id ``tenant``'s thread ``thread_id`` is stored under (no tenant: as given).

    ``tenant:<tenant>/<thread_id>`` with the tenant percent-encoded (no ``/`` in it), so
    two (tenant, thread id) pairs never give one id and ``shown_thread_id`` gives the
    thread id back.
    """
    if tenant is None:
        return thread_id
    return f"{_SCOPE}{urllib.parse.quote(tenant, safe='')}/{thread_id}"


def shown_thread_id(stored: str) -> str:
    """The thread id a tenant named, from the id it is stored under (others: as they are)."""
    if not stored.startswith(_SCOPE) or "/" not in stored:
        return stored
    return stored.partition("/")[2]


def not_found(thread_id: str) -> ThreadNotFoundError:
    """What a missing thread and another tenant's thread both raise."""
    return ThreadNotFoundError(f"no checkpoints for thread {thread_id!r}")


# ---------------------------------------------------------------------- storage

_READY: weakref.WeakSet[Any] = weakref.WeakSet()  # connections whose threads table exists
_READY_GUARD = threading.Lock()


class _Threads:
    """The threads table, through the runs table's connection (or pool) of the database."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.db = store.sql
        with _READY_GUARD:
            if self.db not in _READY:
                self.db.setup(_DDL, THREADS_TABLE)
                _READY.add(self.db)

    def owner(self, thread_id: str) -> str | None:
        """The owner row's tenant, else (older data) the thread's first recorded run's."""
        rows = self.db.run(f"SELECT tenant FROM {THREADS_TABLE} WHERE thread_id = ?", (thread_id,))
        if rows[1]:
            return str(_first(rows[1][0]))
        first = self.db.run(
            f"SELECT tenant FROM {RUNS_TABLE} WHERE thread_id = ? ORDER BY started_at LIMIT 1",
            (thread_id,),
        )
        return str(_first(first[1][0]) or NO_TENANT) if first[1] else None

    def claim(self, thread_id: str, tenant: str) -> str:
        """Own ``thread_id`` for ``tenant`` unless it is owned already; the owner."""
        inserted, _ = self.db.run(
            f"INSERT INTO {THREADS_TABLE} (thread_id, tenant, claimed_at) VALUES (?, ?, ?)"
            " ON CONFLICT (thread_id) DO NOTHING",
            (thread_id, tenant, time.time()),
        )
        if inserted == 1:  # the row is ours: no need to read it back
            return tenant
        rows = self.db.run(f"SELECT tenant FROM {THREADS_TABLE} WHERE thread_id = ?", (thread_id,))
        return str(_first(rows[1][0])) if rows[1] else tenant

    def look(
        self, thread_id: str | None, run_id: str | None
    ) -> tuple[str | None, str | None, bool]:
        """In one round trip: the owner row's tenant, the thread's first recorded run's
        tenant (``NO_TENANT`` for a run without one; None: no owner row, no run) and
        whether ``run_id`` names a run already."""
        rows = self.db.run(
            f"SELECT (SELECT tenant FROM {THREADS_TABLE} WHERE thread_id = ?),"
            f" (SELECT COALESCE(tenant, '') FROM {RUNS_TABLE} WHERE thread_id = ?"
            " ORDER BY started_at LIMIT 1),"
            f" (SELECT 1 FROM {RUNS_TABLE} WHERE run_id = ?)",
            (thread_id, thread_id, run_id),
        )[1]
        found, first, taken = _values(rows[0])
        return (
            None if found is None else str(found),
            None if first is None else str(first),
            taken is not None,
        )

    def admit_at_once(
        self, thread_id: str, tenant: str | None, run_id: str | None
    ) -> tuple[Any, bool]:
        """PostgreSQL, in one round trip: claim ``thread_id`` unless it is owned (for its
        first recorded run's tenant, else its latest checkpoint's, else ``tenant``) and
        ``run_id`` is new; the thread's owner and whether ``run_id`` was used already.

        Reads the saver's ``checkpoints`` table beside the threads table (the same
        database); where it is missing, the caller falls back to ``look``/``claim``.
        """
        rows = self.db.run(_ADMIT_AT_ONCE, _admit_params(thread_id, tenant, run_id))[1]
        found, taken = _admitted(rows[0])
        if found is None and not taken:  # another run claimed it in the same instant
            found = self.owner(thread_id)
        return found, taken


# ``admit_at_once``: the owner row, the first run, the latest root checkpoint's tenant
# (``_from_checkpoint``) and the run id, read in one statement that also claims the thread.
_ADMIT_AT_ONCE = (
    f"WITH prior AS (SELECT tenant FROM {THREADS_TABLE} WHERE thread_id = ?),"
    f" first_run AS (SELECT COALESCE(tenant, '') AS tenant FROM {RUNS_TABLE}"
    " WHERE thread_id = ? ORDER BY started_at LIMIT 1),"
    " saved AS (SELECT COALESCE(metadata ->> 'tenant_id', '') AS tenant FROM checkpoints"
    " WHERE thread_id = ? AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1),"
    f" taken AS (SELECT 1 AS one FROM {RUNS_TABLE} WHERE run_id = ?),"
    f" claimed AS (INSERT INTO {THREADS_TABLE} (thread_id, tenant, claimed_at)"
    " SELECT ?, COALESCE((SELECT tenant FROM first_run), (SELECT tenant FROM saved), ?), ?"
    " WHERE NOT EXISTS (SELECT 1 FROM prior) AND NOT EXISTS (SELECT 1 FROM taken)"
    " ON CONFLICT (thread_id) DO NOTHING RETURNING tenant)"
    " SELECT (SELECT tenant FROM prior) AS owner, (SELECT tenant FROM claimed) AS claimed,"
    " EXISTS (SELECT 1 FROM taken) AS taken"
)


def _admit_params(thread_id: str, tenant: str | None, run_id: str | None) -> tuple[Any, ...]:
    """``_ADMIT_AT_ONCE``'s parameters."""
    return (thread_id, thread_id, thread_id, run_id, thread_id, tenant or NO_TENANT, time.time())


def _admitted(row: Any) -> tuple[Any, bool]:
    """``_ADMIT_AT_ONCE``'s answer: the owner (None: another run claimed the thread in the
    same instant, read it again) and whether the run id was used already."""
    prior, claimed, taken = _values(row)
    return (prior if prior is not None else claimed), bool(taken)


def _judge(found: Any, taken: bool, thread_id: str, tenant: str | None, run_id: str | None) -> None:
    """Refuse a run id used already, and a thread owned by anyone else (as a missing one)."""
    if taken:
        raise _refused_run_id(str(run_id))
    if ("" if found is None else str(found)) != (tenant or NO_TENANT):
        raise not_found(thread_id)


def _no_table(exc: Exception) -> bool:
    """Whether ``exc`` says a table is missing (the saver's tables are not set up)."""
    return type(exc).__name__ == "UndefinedTable"


def _values(row: Any) -> list[Any]:
    return list(row.values()) if isinstance(row, dict) else list(row)


def prepare(store: RunStore) -> None:
    """Make the threads table in the store's database if it is missing (once per process)."""
    _Threads(store)


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


Unavailable = Callable[[Exception], None]
"""Told the driver's error when the database cannot be reached (before it is raised)."""


@contextlib.contextmanager
def _threads(
    saver: Any, sqlite_path: str | None, on_unavailable: Unavailable | None = None
) -> Iterator[_Threads | None]:
    """The saver's threads table; a database that cannot be reached is named, no node runs."""
    try:
        store = open_run_store(saver, sqlite_path=sqlite_path)
        threads = None if store is None else _Threads(store)
    except Exception as exc:
        raise _unavailable(exc, saver, on_unavailable) from exc
    if store is None:
        yield None
        return
    try:
        yield threads
    except (ThreadNotFoundError, ValueError):
        raise
    except Exception as exc:
        raise _unavailable(exc, saver, on_unavailable) from exc
    finally:
        store.close()


def _unavailable(
    exc: Exception, saver: Any, on_unavailable: Unavailable | None
) -> DatabaseUnavailableError:
    if on_unavailable is not None:
        on_unavailable(exc)
    database = exc.database if isinstance(exc, DatabaseUnavailableError) else None
    return DatabaseUnavailableError(
        database or saver_database(saver),
        f"the thread's owner could not be read ({type(exc).__name__}); no node ran",
    )


async def _apath(saver: Any) -> str | None:
    """The file of an ``AsyncSqliteSaver``, asked on its own loop (this one)."""
    if saver_kind(saver) == "sqlite" and hasattr(saver, "loop"):
        try:
            return await asqlite_file(getattr(saver, "conn"))  # noqa: B009
        except Exception:
            return ""
    return None


def _from_checkpoint(saved: Any) -> str | None:
    """The owner a thread's latest checkpoint implies; None for a thread with none."""
    if saved is None:
        return None
    tenant = (getattr(saved, "metadata", None) or {}).get(TENANT_KEY)
    return NO_TENANT if tenant is None else str(tenant)


def _refused_run_id(run_id: str) -> ValueError:
    return ValueError(
        f"config['run_id'] {run_id!r} was already used by a run: each run needs its own id "
        "(leave run_id out to get a new one)"
    )


def _thread_config(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}


def owner(saver: Any, thread_id: str) -> str | None:
    """The owner the database records for a thread (None: no row, no recorded run)."""
    if not isinstance(saver, BaseCheckpointSaver):
        return None
    with _threads(saver, None) as threads:
        return None if threads is None else threads.owner(thread_id)


async def aowner(saver: Any, thread_id: str) -> str | None:
    """``owner`` for a saver whose files are asked on its own event loop."""
    if not isinstance(saver, BaseCheckpointSaver):
        return None
    with _threads(saver, await _apath(saver)) as threads:
        return None if threads is None else threads.owner(thread_id)


def _settle(threads: _Threads, thread_id: str, tenant: str | None, first: str | None) -> None:
    """Claim the thread (for its first owner if it has one); refuse another tenant."""
    found = threads.claim(thread_id, (tenant or NO_TENANT) if first is None else first)
    if found != (tenant or NO_TENANT):
        raise not_found(thread_id)


def admit(
    saver: Any,
    thread_id: str | None,
    tenant: str | None,
    run_id: str | None,
    on_unavailable: Unavailable | None = None,
) -> None:
    """Let a run (or re-run) for ``tenant`` write ``thread_id``, claiming it if it is new.

    Raises:
        DatabaseUnavailableError: The database cannot be reached (``on_unavailable``
            is told the driver's error first).
        ThreadNotFoundError: The thread is another tenant's (or no tenant's, for a
            tenant's run, and the other way round).
        ValueError: ``run_id`` was used by a run already.
    """
    if not isinstance(saver, BaseCheckpointSaver):
        return
    _admit(
        saver, None, thread_id, tenant, run_id, on_unavailable,
        lambda: saver.get_tuple(_thread_config(str(thread_id))),
    )  # fmt: skip


def _admit(
    saver: Any,
    sqlite_path: str | None,
    thread_id: str | None,
    tenant: str | None,
    run_id: str | None,
    on_unavailable: Unavailable | None,
    saved: Callable[[], Any],
) -> None:
    """``admit``'s steps; ``saved()`` gives the thread's latest checkpoint (asked only
    when the threads table has no owner for it)."""
    with _threads(saver, sqlite_path, on_unavailable) as threads:
        if threads is None:
            return
        if thread_id is not None and saver_kind(saver) == "postgres":
            at_once = _admit_at_once(threads, thread_id, tenant, run_id)
            if at_once is not None:
                _judge(*at_once, thread_id, tenant, run_id)
                return
        found, first, taken = threads.look(thread_id, run_id)
        if taken:
            raise _refused_run_id(str(run_id))
        if thread_id is None:
            return
        if found is not None:  # owned already: nothing to write
            if found != (tenant or NO_TENANT):
                raise not_found(thread_id)
            return
        if first is None:
            first = _from_checkpoint(saved())
        _settle(threads, thread_id, tenant, first)


def _admit_at_once(
    threads: _Threads, thread_id: str, tenant: str | None, run_id: str | None
) -> tuple[Any, bool] | None:
    """``_Threads.admit_at_once``; None where the saver's tables are not set up."""
    try:
        return threads.admit_at_once(thread_id, tenant, run_id)
    except Exception as exc:
        if not _no_table(exc):
            raise
        return None


async def aadmit(
    saver: Any,
    thread_id: str | None,
    tenant: str | None,
    run_id: str | None,
    on_unavailable: Unavailable | None = None,
) -> None:
    """The async ``admit``: the checkpoint is read with ``aget_tuple`` on the loop, and the
    threads table in a worker thread (``aadmit_at_once``: on PostgreSQL, one statement).

    The threads table is written through a blocking connection. On the loop it could wait
    (SQLite's busy timeout) for a write transaction of the saver's own aiosqlite
    connection that only the blocked loop can finish: "database is locked" after 30 s.
    """
    if not isinstance(saver, BaseCheckpointSaver):
        return
    path = await _apath(saver)
    found = None if thread_id is None else await saver.aget_tuple(_thread_config(thread_id))
    await asyncio.to_thread(
        _admit, saver, path, thread_id, tenant, run_id, on_unavailable, lambda: found
    )


RunSql = Callable[[str, tuple[Any, ...]], Awaitable[list[Any]]]
"""Runs one statement (``?`` placeholders) on an async connection; its rows."""


async def aadmit_at_once(
    run_sql: RunSql,
    saver: Any,
    thread_id: str | None,
    tenant: str | None,
    run_id: str | None,
    on_unavailable: Unavailable | None = None,
) -> bool:
    """``admit`` on PostgreSQL in one statement through ``run_sql`` (``arows``: on the
    event loop, on the saver's own connections); False where that cannot be done (no
    thread, or the saver's tables are missing): the caller uses ``aadmit``.

    Raises:
        DatabaseUnavailableError, ThreadNotFoundError, ValueError: As ``admit``.
    """
    if thread_id is None:
        return False
    try:
        rows = await run_sql(_ADMIT_AT_ONCE, _admit_params(thread_id, tenant, run_id))
        found, taken = _admitted(rows[0])
        if found is None and not taken:  # another run claimed it in the same instant
            again = await run_sql(
                f"SELECT tenant FROM {THREADS_TABLE} WHERE thread_id = ?", (thread_id,)
            )
            found = _first(again[0]) if again else None
    except DatabaseUnavailableError as exc:  # it names the database and what to change
        if on_unavailable is not None:
            on_unavailable(exc)
        raise
    except Exception as exc:
        if _no_table(exc):
            return False
        raise _unavailable(exc, saver, on_unavailable) from exc
    _judge(found, taken, thread_id, tenant, run_id)
    return True
