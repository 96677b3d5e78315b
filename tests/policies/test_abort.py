"""Tests for langgraph_runner._policies.abort."""

from __future__ import annotations

import asyncio
import copy
import gc
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from langgraph_runner._policies.abort import ABORT_SIGNAL_KEY, AbortController, AbortSignal
from langgraph_runner._policies.context import NodeContext, reset_context, set_context
from langgraph_runner._records.exceptions import NodeAbortedError


@pytest.fixture
def node_context() -> Iterator[NodeContext]:
    ctx = NodeContext(
        node="fetch", attempt=2, trace_id="t", graph_execution_id="g", started_at=time.time()
    )
    token = set_context(ctx)
    yield ctx
    reset_context(token)


def _events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.lgr_fields for r in caplog.records if hasattr(r, "lgr_fields")]


def test_key_name() -> None:
    """The configurable key is the documented one."""
    assert ABORT_SIGNAL_KEY == "abort_signal"


def test_abort_sets_state_and_first_reason_wins() -> None:
    """abort() fires once; later calls keep the first reason and return False."""
    ctl = AbortController()
    assert not ctl.signal.aborted
    assert ctl.signal.reason is None
    assert ctl.abort("first") is True
    assert ctl.abort("second") is False
    assert ctl.signal.aborted
    assert ctl.signal.reason == "first"


def test_concurrent_aborts_fire_listeners_exactly_once() -> None:
    """Many threads aborting at once: one wins, each listener runs exactly once."""
    ctl = AbortController()
    calls: list[Any] = []
    ctl.signal.add_listener(calls.append)
    barrier = threading.Barrier(16)
    wins: list[bool] = []

    def worker(i: int) -> None:
        barrier.wait()
        wins.append(ctl.abort(i))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1
    assert calls == [ctl.signal.reason]


def test_listener_called_immediately_when_already_aborted() -> None:
    """A listener added after the abort is called at once with the reason."""
    ctl = AbortController()
    ctl.abort("done")
    calls: list[Any] = []
    unsubscribe = ctl.signal.add_listener(calls.append)
    assert calls == ["done"]
    unsubscribe()  # a no-op, must not raise


def test_unsubscribe_prevents_call() -> None:
    """An unsubscribed listener is not called and no longer counted."""
    ctl = AbortController()
    calls: list[Any] = []
    unsubscribe = ctl.signal.add_listener(calls.append)
    assert ctl.signal.listener_count() == 1
    unsubscribe()
    unsubscribe()
    assert ctl.signal.listener_count() == 0
    ctl.abort("x")
    assert calls == []


def test_listener_exception_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """A failing listener is logged as abort.listener_failed; the others still run."""
    caplog.set_level(logging.DEBUG, logger="langgraph_runner")
    ctl = AbortController()
    calls: list[Any] = []

    def broken(_reason: Any) -> None:
        raise RuntimeError("listener bug")

    ctl.signal.add_listener(broken)
    ctl.signal.add_listener(calls.append)
    assert ctl.abort("r") is True
    assert calls == ["r"]
    failed = [e for e in _events(caplog) if e["event"] == "abort.listener_failed"]
    assert len(failed) == 1
    assert failed[0]["error_type"] == "RuntimeError"


def test_a_listener_error_is_logged_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """A secret in a failing listener's error text never reaches the log."""
    caplog.set_level(logging.DEBUG, logger="langgraph_runner")
    ctl = AbortController()

    def broken(_reason: Any) -> None:
        raise RuntimeError("cannot reach postgresql://app:hunter2secret@db/x")

    ctl.signal.add_listener(broken)
    ctl.abort("r")
    (failed,) = [e for e in _events(caplog) if e["event"] == "abort.listener_failed"]
    assert "hunter2secret" not in failed["error"]
    assert "postgresql://" in failed["error"]


def test_throw_if_aborted_outside_node() -> None:
    """Outside a node the error names '<unknown>' and attempt 1."""
    ctl = AbortController()
    ctl.signal.throw_if_aborted()  # not aborted: nothing happens
    ctl.abort("stop")
    with pytest.raises(NodeAbortedError) as info:
        ctl.signal.throw_if_aborted()
    assert (info.value.node, info.value.reason, info.value.attempt) == ("<unknown>", "stop", 1)


def test_throw_if_aborted_uses_node_context(node_context: NodeContext) -> None:
    """Inside a node the error carries its name and attempt, caused by an exception reason."""
    reason = TimeoutError("slow")
    ctl = AbortController()
    ctl.abort(reason)
    with pytest.raises(NodeAbortedError) as info:
        ctl.signal.throw_if_aborted()
    assert info.value.node == "fetch"
    assert info.value.attempt == 2
    assert info.value.reason is reason
    assert info.value.__cause__ is reason


def test_wait_sync_times_out_then_wakes_from_other_thread() -> None:
    """wait_sync returns False on timeout and True when another thread aborts."""
    ctl = AbortController()
    assert ctl.signal.wait_sync(0.01) is False
    timer = threading.Timer(0.05, ctl.abort, args=("late",))
    timer.start()
    assert ctl.signal.wait_sync(5) is True
    assert ctl.signal.wait_sync(0) is True
    timer.join()


async def test_async_wait_woken_from_another_thread() -> None:
    """await wait() returns the reason when a different thread aborts."""
    ctl = AbortController()
    timer = threading.Timer(0.05, ctl.abort, args=("from thread",))
    timer.start()
    assert await asyncio.wait_for(ctl.signal.wait(), 5) == "from thread"
    timer.join()
    assert await ctl.signal.wait() == "from thread"  # already aborted: immediate


async def test_async_wait_cancelled_leaves_nothing_behind() -> None:
    """Cancelling a waiter unsubscribes it from the signal."""
    ctl = AbortController()
    waiter = asyncio.ensure_future(ctl.signal.wait())
    await asyncio.sleep(0)
    assert ctl.signal.listener_count() == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert ctl.signal.listener_count() == 0


def test_child_follows_parent_reason() -> None:
    """A child controller aborts with its parent's reason."""
    run = AbortController()
    child = AbortController(parent=run.signal)
    run.abort("user cancelled")
    assert child.signal.aborted
    assert child.signal.reason == "user cancelled"


def test_child_of_aborted_parent_is_aborted_at_once() -> None:
    """A parent that already fired aborts the child during construction."""
    run = AbortController()
    run.abort("gone")
    child = AbortController(parent=run.signal)
    assert child.signal.reason == "gone"
    assert run.signal.listener_count() == 0


def test_child_abort_does_not_abort_parent_and_detaches() -> None:
    """Aborting a child leaves the parent alone and removes the child's link."""
    run = AbortController()
    child = AbortController(parent=run.signal)
    child.abort("attempt timeout")
    assert not run.signal.aborted
    assert run.signal.listener_count() == 0


def test_close_detaches_thousands_of_children() -> None:
    """Closing many attempt controllers leaves no listener on the run signal."""
    run = AbortController()
    for _ in range(5000):
        with AbortController(parent=run.signal) as child:
            assert not child.signal.aborted
    assert run.signal.listener_count() == 0
    closed = AbortController(parent=run.signal)
    closed.close()
    run.abort("x")
    assert not closed.signal.aborted


def test_dropped_children_do_not_leak() -> None:
    """Children dropped without close() are purged from the parent once collected."""
    run = AbortController()
    for _ in range(1000):
        AbortController(parent=run.signal)
    gc.collect()
    assert run.signal.listener_count() == 0


def test_any_fires_with_first_reason_and_detaches() -> None:
    """AbortSignal.any fires when one source fires, then leaves the others."""
    a, b = AbortController(), AbortController()
    combined = AbortSignal.any(a.signal, b.signal)
    assert not combined.aborted
    b.abort("b")
    assert combined.reason == "b"
    assert a.signal.listener_count() == 0
    a.abort("a")
    assert combined.reason == "b"


def test_any_of_aborted_signal_is_aborted() -> None:
    """AbortSignal.any of an already aborted signal is aborted immediately."""
    a, b = AbortController(), AbortController()
    a.abort("early")
    combined = AbortSignal.any(b.signal, a.signal)
    assert combined.reason == "early"
    assert b.signal.listener_count() == 0


def test_copies_keep_identity() -> None:
    """copy/deepcopy of a config keep pointing at the same signal."""
    signal = AbortController().signal
    config = {"configurable": {ABORT_SIGNAL_KEY: signal}}
    assert copy.deepcopy(config)["configurable"][ABORT_SIGNAL_KEY] is signal
    assert copy.copy(signal) is signal


_CHECKPOINT_SCRIPT = """
import sqlite3, sys
from typing import Any, TypedDict
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph_runner._policies.abort import ABORT_SIGNAL_KEY, AbortController

class S(TypedDict):
    n: int
    x: Any

seen = []
def node(state):
    seen.append(get_config()["configurable"].get(ABORT_SIGNAL_KEY))
    return {"n": state["n"] + 1}

g = StateGraph(S)
g.add_node("a", node)
g.add_node("b", node)
g.add_edge(START, "a"); g.add_edge("a", "b"); g.add_edge("b", END)
ctl = AbortController()
db = sys.argv[1]
with SqliteSaver.from_conn_string(db) as saver:
    app = g.compile(checkpointer=saver)
    out = app.invoke({"n": 0}, {"configurable": {"thread_id": "t", ABORT_SIGNAL_KEY: ctl.signal}})
    assert out["n"] == 2, out
    assert len(seen) == 2 and all(s is ctl.signal for s in seen)
    rows = [bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
            for tbl in ("checkpoints", "writes")
            for row in sqlite3.connect(db).execute(f"select * from {tbl}") for v in row]
    assert rows and not any(b"AbortSignal" in r or b"abort_signal" in r for r in rows)
    print("CONFIG-OK")
    try:  # control: the same object in STATE is refused by the strict serializer
        app.invoke({"n": 0, "x": ctl.signal}, {"configurable": {"thread_id": "t2"}})
    except TypeError as exc:
        print("STATE-REFUSED", exc)
"""


def test_signal_in_configurable_is_never_checkpointed(tmp_path: Path) -> None:
    """With SqliteSaver and LANGGRAPH_STRICT_MSGPACK, a config signal is not serialized."""
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(_CHECKPOINT_SCRIPT))
    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true"}
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "cp.sqlite")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "CONFIG-OK" in proc.stdout
    assert "STATE-REFUSED" in proc.stdout
