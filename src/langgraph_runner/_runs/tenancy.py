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
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from langgraph_runner._policies.context import TENANT_KEY
from langgraph_runner._records.exceptions import ThreadNotFoundError
from langgraph_runner._runs.run_store import open_run_store
from langgraph_runner._runs.saver_storage import (
    asqlite_file,
    postgres_settings,
    saver_kind,
    sqlite_file,
)
from langgraph_runner._runs.sql import Db, open_postgres, open_sqlite

__all__ = [
    "MAX_TENANT_LENGTH",
    "NO_TENANT",
    "THREADS_TABLE",
    "aadmit",
    "admit",
    "aowner",
    "check_tenant",
    "config_tenant",
    "not_found",
    "owner",
    "sees",
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


def not_found(thread_id: str) -> ThreadNotFoundError:
    """What a missing thread and another tenant's thread both raise."""
    return ThreadNotFoundError(f"no checkpoints for thread {thread_id!r}")


def sees(owner_id: str | None, tenant: str | None) -> bool:
    """Whether a read for ``tenant`` (None: the operator's, unscoped) may see the thread."""
    return tenant is None or owner_id is None or owner_id == tenant


# ---------------------------------------------------------------------- storage


class _Threads:
    """The threads table of one database, through a connection of its own."""

    def __init__(self, db: Db, *, kept: bool) -> None:
        self.db = db
        self.kept = kept  # a connection kept for the process (PostgreSQL, memory)
        db.setup(_DDL, THREADS_TABLE)

    def close(self) -> None:
        if not self.kept:
            self.db.close()

    def owner(self, thread_id: str) -> str | None:
        rows = self.db.run(f"SELECT tenant FROM {THREADS_TABLE} WHERE thread_id = ?", (thread_id,))[
            1
        ]
        return None if not rows else str(_first(rows[0]))

    def claim(self, thread_id: str, tenant: str) -> str:
        """Own ``thread_id`` for ``tenant`` unless it is owned already; the owner."""
        self.db.run(
            f"INSERT INTO {THREADS_TABLE} (thread_id, tenant, claimed_at) VALUES (?, ?, ?)"
            " ON CONFLICT (thread_id) DO NOTHING",
            (thread_id, tenant, time.time()),
        )
        found = self.owner(thread_id)
        return tenant if found is None else found


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


_LEGACY_RUNS = 100_000  # runs of one thread read to find its first, before its owner row

_LOCAL: weakref.WeakKeyDictionary[Any, _Threads] = weakref.WeakKeyDictionary()
_LOCAL_BY_ID: dict[int, _Threads] = {}
_KEPT: dict[tuple[Any, ...], _Threads] = {}
_GUARD = threading.Lock()


def _local(saver: Any) -> _Threads:
    with _GUARD:
        try:
            found = _LOCAL.get(saver)
        except TypeError:  # not weak-referenceable
            found = _LOCAL_BY_ID.get(id(saver))
        if found is None:
            found = _Threads(open_sqlite(":memory:"), kept=True)
            try:
                _LOCAL[saver] = found
            except TypeError:
                _LOCAL_BY_ID[id(saver)] = found
        return found


def _postgres(saver: Any) -> _Threads:
    conninfo, kwargs = postgres_settings(saver.conn)
    key = (os.getpid(), conninfo, repr(sorted(kwargs.items())))
    with _GUARD:
        found = _KEPT.get(key)
        if found is None or found.db.conn.closed:
            found = _KEPT[key] = _Threads(open_postgres(conninfo, **kwargs), kept=True)
        return found


def _drop(threads: _Threads) -> None:
    """A kept connection failed: the next use opens a new one."""
    with _GUARD:
        for key, found in list(_KEPT.items()):
            if found is threads:
                del _KEPT[key]
    with contextlib.suppress(Exception):  # already broken
        threads.db.close()


def _open(saver: Any, sqlite_path: str | None) -> _Threads:
    kind = saver_kind(saver)
    if kind == "postgres":
        return _postgres(saver)
    if kind == "sqlite":
        path = sqlite_path
        if path is None:
            try:
                path = sqlite_file(saver)
            except TypeError:
                path = ""
        if path:
            return _Threads(open_sqlite(path), kept=False)
    return _local(saver)


async def _apath(saver: Any) -> str | None:
    """The file of an ``AsyncSqliteSaver``, asked on its own loop (this one)."""
    if saver_kind(saver) == "sqlite" and hasattr(saver, "loop"):
        try:
            return await asqlite_file(getattr(saver, "conn"))  # noqa: B009
        except Exception:
            return ""
    return None


def _recorded(threads: _Threads, saver: Any, thread_id: str, path: str | None) -> str | None:
    """The thread's owner row, else (older data) its first recorded run's tenant."""
    found = threads.owner(thread_id)
    if found is not None:
        return found
    try:  # the runs table is bookkeeping: unreadable, the checkpoints decide
        store = open_run_store(saver, sqlite_path=path)
    except Exception:
        return None
    if store is None:
        return None
    try:  # newest first: the first run is the last row (read once per thread, then claimed)
        runs = store.runs(thread_id=thread_id, limit=_LEGACY_RUNS)
    except Exception:
        return None
    finally:
        store.close()
    return None if not runs else (runs[-1].tenant or NO_TENANT)


def _from_checkpoint(saved: Any) -> str | None:
    """The owner a thread's latest checkpoint implies; None for a thread with none."""
    if saved is None:
        return None
    tenant = (getattr(saved, "metadata", None) or {}).get(TENANT_KEY)
    return NO_TENANT if tenant is None else str(tenant)


def _run_id_taken(saver: Any, run_id: str | None, path: str | None) -> bool:
    if run_id is None:
        return False
    try:  # the runs table is bookkeeping: unreadable, it holds no run to overwrite
        store = open_run_store(saver, sqlite_path=path)
    except Exception:
        return False
    if store is None:
        return False
    try:
        return store.get(run_id) is not None
    except Exception:
        return False
    finally:
        store.close()


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
    threads = _open(saver, None)
    try:
        return _recorded(threads, saver, thread_id, None)
    except Exception:
        if threads.kept:
            _drop(threads)
        raise
    finally:
        threads.close()


async def aowner(saver: Any, thread_id: str) -> str | None:
    """``owner`` for a saver whose files are asked on its own event loop."""
    if not isinstance(saver, BaseCheckpointSaver):
        return None
    path = await _apath(saver)
    threads = _open(saver, path)
    try:
        return _recorded(threads, saver, thread_id, path)
    except Exception:
        if threads.kept:
            _drop(threads)
        raise
    finally:
        threads.close()


def _settle(threads: _Threads, thread_id: str, tenant: str | None, first: str | None) -> None:
    """Claim the thread (for its first owner if it has one); refuse another tenant."""
    found = threads.claim(thread_id, (tenant or NO_TENANT) if first is None else first)
    if found != (tenant or NO_TENANT):
        raise not_found(thread_id)


def admit(saver: Any, thread_id: str | None, tenant: str | None, run_id: str | None) -> None:
    """Let a run (or re-run) for ``tenant`` write ``thread_id``, claiming it if it is new.

    Raises:
        ThreadNotFoundError: The thread is another tenant's (or no tenant's, for a
            tenant's run, and the other way round).
        ValueError: ``run_id`` was used by a run already.
    """
    if not isinstance(saver, BaseCheckpointSaver):
        return
    if _run_id_taken(saver, run_id, None):
        raise _refused_run_id(str(run_id))
    if thread_id is None:
        return
    threads = _open(saver, None)
    try:
        first = _recorded(threads, saver, thread_id, None)
        if first is None:
            first = _from_checkpoint(saver.get_tuple(_thread_config(thread_id)))
        _settle(threads, thread_id, tenant, first)
    except ThreadNotFoundError:
        raise
    except Exception:
        if threads.kept:
            _drop(threads)
        raise
    finally:
        threads.close()


async def aadmit(saver: Any, thread_id: str | None, tenant: str | None, run_id: str | None) -> None:
    """The async ``admit``: the checkpoint is read with ``aget_tuple``."""
    if not isinstance(saver, BaseCheckpointSaver):
        return
    path = await _apath(saver)
    if _run_id_taken(saver, run_id, path):
        raise _refused_run_id(str(run_id))
    if thread_id is None:
        return
    threads = _open(saver, path)
    try:
        first = _recorded(threads, saver, thread_id, path)
        if first is None:
            first = _from_checkpoint(await saver.aget_tuple(_thread_config(thread_id)))
        _settle(threads, thread_id, tenant, first)
    except ThreadNotFoundError:
        raise
    except Exception:
        if threads.kept:
            _drop(threads)
        raise
    finally:
        threads.close()
