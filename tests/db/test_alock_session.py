"""_db/alock_session.py: an async saver's thread locks on one async connection of its own.

Only the lock session's own backend is terminated (by its pid): the shared server is
never stopped or reconfigured.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, create_node
from langgraph_runner._db.alock_session import AsyncLockSession, asessions
from langgraph_runner._db.lock_session import LockHolder, was_lost
from langgraph_runner._records.exceptions import ThreadBusyError
from langgraph_runner._runs import run_watch
from langgraph_runner._runs.thread_lock import lock_key
from langgraph_runner.runs import arun, open_async_checkpointer, thread_lock
from tests.services import postgres_url, terminate_backend


def _admin() -> Any:
    import psycopg

    return psycopg.connect(postgres_url(), autocommit=True)


def _session(saver: Any) -> AsyncLockSession:
    session = saver.lock_session
    assert isinstance(session, AsyncLockSession)
    return session


def _config(thread: str) -> Any:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}


def test_fifty_locks_of_an_async_saver_hold_one_connection_closed_with_the_saver() -> None:
    """50 threads locked at once through one async saver: one lock connection with 50
    advisory locks that no other session can take; the saver's close frees them all."""
    prefix = f"amany-{uuid.uuid4().hex[:8]}"

    async def main() -> tuple[int, int]:
        async with open_async_checkpointer(postgres_url()) as saver:
            session = _session(saver)
            async with contextlib.AsyncExitStack() as stack:
                locks = [thread_lock(saver, _config(f"{prefix}-{i}")) for i in range(50)]
                await asyncio.gather(*(stack.enter_async_context(lock) for lock in locks))
                assert session.held == 50 and session in asessions()
                pid = session._conn.info.backend_pid
                with _admin() as admin:
                    held = admin.execute(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s",
                        (pid,),
                    ).fetchone()[0]
                    taken = admin.execute(
                        "SELECT pg_try_advisory_lock(%s)", (locks[7].key,)
                    ).fetchone()[0]
                assert session.held == 50
            assert session.held == 0  # let go, connection kept for the next runs
            async with thread_lock(saver, _config(f"{prefix}-again")):
                assert session._conn.info.backend_pid == pid
        assert session.closed and session not in asessions()
        return held, taken

    held, taken = asyncio.run(main())
    assert held == 50
    assert taken is False


def test_a_thread_is_locked_once_within_the_saver_and_against_other_sessions() -> None:
    """A second holder of the same thread waits (or is refused), in this saver's runs and
    while another session holds it."""
    thread = f"aonce-{uuid.uuid4().hex}"

    async def main() -> None:
        async with open_async_checkpointer(postgres_url()) as saver:
            go = asyncio.Event()

            async def second() -> None:  # made before the lock: a context that holds none
                await go.wait()
                async with thread_lock(saver, _config(thread)):
                    pass  # pragma: no cover - refused

            other_run = asyncio.create_task(second())
            async with thread_lock(saver, _config(thread)):
                go.set()
                with pytest.raises(ThreadBusyError):
                    await other_run
            with _admin() as other:
                assert other.execute(
                    "SELECT pg_try_advisory_lock(%s)", (lock_key(thread, ""),)
                ).fetchone()[0]
                with pytest.raises(ThreadBusyError):
                    async with thread_lock(saver, _config(thread), wait=0.05):
                        pass  # pragma: no cover - refused
                other.execute("SELECT pg_advisory_unlock(%s)", (lock_key(thread, ""),))
            async with thread_lock(saver, _config(thread)):
                pass

    asyncio.run(main())


def test_a_broken_lock_connection_is_reopened_with_its_locks() -> None:
    """The lock connection's backend is terminated and nobody else took the lock: the
    watcher's check (scheduled on the saver's loop) takes it again on a new connection."""
    thread = f"aretake-{uuid.uuid4().hex}"
    lost: list[str] = []

    async def main() -> bool:
        async with open_async_checkpointer(postgres_url()) as saver:
            lock = thread_lock(saver, _config(thread))
            lock.on_lost = lambda: lost.append(thread)
            async with lock:
                session = _session(saver)
                old = session._conn.info.backend_pid
                await asyncio.to_thread(terminate_backend, old)
                await asyncio.to_thread(run_watch.tick)  # schedules session.check here
                deadline = time.monotonic() + 10
                while session.reconnects == 0:
                    assert time.monotonic() < deadline, "the watcher's check did not run"
                    await asyncio.sleep(0.01)
                assert session._conn.info.backend_pid != old
                with _admin() as admin:
                    return bool(
                        admin.execute("SELECT pg_try_advisory_lock(%s)", (lock.key,)).fetchone()[0]
                    )

    assert asyncio.run(main()) is False  # held again by this saver
    assert lost == []


def test_a_run_whose_lock_is_lost_is_cancelled_and_its_writes_refused() -> None:
    """arun holds its thread's lock; the lock's connection dies and another session takes
    the lock: the run is told at once, its running step is aborted, it ends ``cancelled``
    saying why, and the saver refuses that thread's writes meanwhile (no second writer)."""
    thread = f"alost-run-{uuid.uuid4().hex}"
    key = lock_key(thread, "")

    async def main() -> Any:
        started = asyncio.Event()

        async def wait(state: GraphState) -> dict[str, Any]:
            started.set()
            await asyncio.sleep(30)  # aborted when the lock is lost
            return {}

        builder = StateGraph(GraphState)
        builder.add_node("wait", create_node(wait, name="wait", on_error="raise"))
        builder.add_edge(START, "wait")
        builder.add_edge("wait", END)
        async with open_async_checkpointer(postgres_url()) as saver:
            graph = builder.compile(checkpointer=saver)
            task = asyncio.create_task(
                arun(graph, {}, {"configurable": {"thread_id": thread}}, raise_on_error=False)
            )
            await asyncio.wait_for(started.wait(), 10)
            session = _session(saver)
            assert key in session._held
            await asyncio.to_thread(terminate_backend, session._conn.info.backend_pid)
            with _admin() as other:
                assert other.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
                await session.check()
                assert was_lost(session.database, key)
                with pytest.raises(ThreadBusyError):
                    await saver.aput_writes(_config(thread), [("x", 1)], str(uuid.uuid4()))
                result = await asyncio.wait_for(task, 10)
                other.execute("SELECT pg_advisory_unlock(%s)", (key,))
            assert not was_lost(session.database, key)  # the run let go
            await saver.adelete_thread(thread)
            return result

    result = asyncio.run(main())
    assert result.status == "cancelled"
    assert result.reason == "thread lock lost with its database connection"


def test_a_closed_saver_takes_no_more_locks_and_its_loop_is_its_own() -> None:
    """After the saver's close a lock is refused with a clear error; a session answers only
    on the event loop that first used it (its saver's)."""
    thread = f"aclosed-{uuid.uuid4().hex}"

    async def closed() -> None:
        async with (
            open_async_checkpointer(postgres_url()) as saver,
            thread_lock(saver, _config(thread)),
        ):
            pass
        with pytest.raises(RuntimeError, match="is closed"):
            async with thread_lock(saver, _config(thread)):
                pass  # pragma: no cover - refused

    asyncio.run(closed())

    session = AsyncLockSession(postgres_url(), {}, "test")
    holder = LockHolder(lock_key(thread, "x"), thread)
    own = asyncio.new_event_loop()
    try:
        assert own.run_until_complete(session.try_lock(holder))
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(session.unlock(holder))
        own.run_until_complete(session.unlock(holder))
        own.run_until_complete(session.aclose())
    finally:
        own.close()


def test_a_take_whose_caller_was_cancelled_leaves_no_lock_behind() -> None:
    """A caller cancelled while its take is under way: the lock, taken by the statement
    anyway, is let go again, so no thread stays locked by a run that never started."""
    thread = f"acancel-{uuid.uuid4().hex}"
    key = lock_key(thread, "")

    async def main() -> tuple[int, bool]:
        async with open_async_checkpointer(postgres_url()) as saver:
            session = _session(saver)
            async with thread_lock(saver, _config(f"{thread}-warm")):
                pass  # the connection is open: the next take is one statement away
            holder = LockHolder(key, thread)
            taking = asyncio.create_task(session.try_lock(holder))
            await asyncio.sleep(0)  # submitted: the statement is under way
            taking.cancel()
            with pytest.raises(asyncio.CancelledError):
                await taking
            deadline = time.monotonic() + 10
            while session.held or (session._flusher and not session._flusher.done()):
                assert time.monotonic() < deadline, "the late take was not let go"
                await asyncio.sleep(0.01)
            # The take's statement ran. The let-go is asked for by a callback of its answer, so
            # it may still be on its way (not even queued yet): poll until the key is free and
            # no longer held here, up to the same deadline.
            with _admin() as other:
                while True:
                    row = other.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                    free = bool(row[0])
                    if free:
                        other.execute("SELECT pg_advisory_unlock(%s)", (key,))
                    if (free and not session.held) or time.monotonic() >= deadline:
                        break
                    await asyncio.sleep(0.01)
            return session.held, free

    held, free = asyncio.run(main())
    assert held == 0
    assert free
