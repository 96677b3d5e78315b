"""_db/lock_session.py: every PostgreSQL thread lock of a process on one connection.

Only the lock session's own backend is terminated (by its pid): the shared server is
never stopped or reconfigured.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import pytest

from langgraph_runner._db.lock_session import LockSession, was_lost
from langgraph_runner._records.exceptions import ThreadBusyError
from langgraph_runner._runs.thread_lock import lock_key
from langgraph_runner.runs import open_checkpointer, thread_lock
from tests.services import postgres_url, terminate_backend


def _admin() -> Any:
    import psycopg

    return psycopg.connect(postgres_url(), autocommit=True)


def _session(lock: Any) -> LockSession:
    backend = lock._backend
    assert backend is not None
    session: LockSession = backend.session
    return session


def _kill_session(session: LockSession) -> None:
    """Terminate the lock session's backend and wait until it is gone (its locks freed)."""
    terminate_backend(session._conn.info.backend_pid)


def test_fifty_thread_locks_hold_one_connection() -> None:
    """50 threads locked at once by one process: one lock connection, 50 advisory locks;
    another session cannot take any of them, and all are free once let go."""
    prefix = f"many-{uuid.uuid4().hex[:8]}"
    with open_checkpointer(postgres_url()) as saver, contextlib.ExitStack() as stack:
        configs: list[Any] = [{"configurable": {"thread_id": f"{prefix}-{i}"}} for i in range(50)]
        locks = [stack.enter_context(thread_lock(saver, c)) for c in configs]
        session = _session(locks[0])
        assert all(_session(lock) is session for lock in locks)
        pid = session._conn.info.backend_pid
        with _admin() as admin:
            held = admin.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s", (pid,)
            ).fetchone()[0]
            assert held >= 50
            taken = admin.execute("SELECT pg_try_advisory_lock(%s)", (locks[7].key,)).fetchone()
            assert taken[0] is False
        stack.close()
        with _admin() as admin:
            assert admin.execute("SELECT pg_try_advisory_lock(%s)", (locks[7].key,)).fetchone()[0]


def test_a_lock_whose_connection_broke_is_taken_again() -> None:
    """The lock connection's backend is terminated and nobody else took the lock: the
    session's check takes it again on a new connection, and nothing is lost."""
    thread = f"retake-{uuid.uuid4().hex}"
    lost: list[str] = []
    with open_checkpointer(postgres_url()) as saver:
        lock = thread_lock(saver, {"configurable": {"thread_id": thread}})
        lock.on_lost = lambda: lost.append(thread)
        with lock:
            session = _session(lock)
            _kill_session(session)
            session.check()
            assert lost == [] and not was_lost(session.database, lock.key)
            with _admin() as admin:
                taken = admin.execute("SELECT pg_try_advisory_lock(%s)", (lock.key,)).fetchone()
                assert taken[0] is False  # held again by this process


def test_a_lock_lost_to_another_process_stops_its_run_and_its_writes() -> None:
    """Another process takes the lock while the connection is down: the run is told
    (on_lost), and the saver refuses that thread's checkpoint writes (never two
    writers) until the run lets go."""
    thread = f"lost-{uuid.uuid4().hex}"
    lost: list[str] = []
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    with open_checkpointer(postgres_url()) as saver, _admin() as other:
        lock = thread_lock(saver, config)
        lock.on_lost = lambda: lost.append(thread)
        with lock:
            session = _session(lock)
            _kill_session(session)
            assert other.execute("SELECT pg_try_advisory_lock(%s)", (lock.key,)).fetchone()[0]
            session.check()
            assert lost == [thread]
            assert was_lost(session.database, lock_key(thread, ""))
            with pytest.raises(ThreadBusyError):
                saver.put_writes(config, [("x", 1)], str(uuid.uuid4()))
        assert not was_lost(session.database, lock.key)  # the run let go
        other.execute("SELECT pg_advisory_unlock(%s)", (lock.key,))
        saver.delete_thread(thread)


def test_a_session_whose_server_is_down_fails_as_a_broken_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No server at the address: a take fails as a broken connection naming the database
    (never a password), and a check finds every lock in doubt instead of raising."""
    import psycopg

    from langgraph_runner._db import lock_session
    from langgraph_runner._db.broken import is_broken
    from langgraph_runner._db.lock_session import LockHolder

    monkeypatch.setattr(lock_session, "LOCK_WAIT", 0.2)
    session = LockSession("postgresql://nobody:s3cret@127.0.0.1:1/nowhere?connect_timeout=1", {})
    holder = LockHolder(1, "t")
    try:
        with pytest.raises(psycopg.OperationalError, match=r"127\.0\.0\.1:1/nowhere") as caught:
            session.try_lock(holder)
        assert is_broken(caught.value) and "s3cret" not in str(caught.value)
        session._held[holder.key] = holder  # as if taken before the server went away
        session.check()
        assert holder.lost and session.held == 0
    finally:
        session.close()
