"""Tests for langgraph_runner._policies.timeouts."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypedDict

import pytest
from langgraph.errors import GraphInterrupt
from langgraph.graph import END, START, StateGraph

from langgraph_runner._policies import timeouts
from langgraph_runner._policies.abort import AbortController
from langgraph_runner._policies.context import (
    NodeContext,
    get_node_context,
    reset_context,
    set_context,
)
from langgraph_runner._policies.timeouts import (
    abandoned_thread_count,
    arun_async_attempt,
    arun_sync_attempt,
    run_sync_attempt,
    running_abandoned_thread_count,
    wait_for_abandoned_threads,
)
from langgraph_runner._records.exceptions import NodeAbortedError, NodeTimeoutError

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("test_timeouts_var", default="unset")


def _cancelling() -> int:
    """Pending cancellation requests of the current task (0 where unsupported)."""
    return int(getattr(asyncio.current_task(), "cancelling", lambda: 0)())


class Boom(Exception):
    pass


class Fatal(BaseException):
    pass


@pytest.fixture(autouse=True)
def _no_thread_left_behind() -> Iterator[None]:
    yield
    # Every abandoned function in these tests honours the abort signal or is
    # released by its test: none may still be running afterwards.
    assert wait_for_abandoned_threads(5)


@pytest.fixture
def events(caplog: pytest.LogCaptureFixture) -> Callable[[str], list[dict[str, Any]]]:
    caplog.set_level(logging.DEBUG, logger="langgraph_runner")

    def get(name: str) -> list[dict[str, Any]]:
        return [
            r.lgr_fields
            for r in caplog.records
            if getattr(r, "lgr_fields", {}).get("event") == name
        ]

    return get


def call_sync(func: Callable[[], Any], **kw: Any) -> Any:
    kw.setdefault("timeout", 5.0)
    kw.setdefault("controller", None)
    return run_sync_attempt(func, node="n", attempt=kw.pop("attempt", 1), **kw)


async def call_async_sync(func: Callable[[], Any], **kw: Any) -> Any:
    kw.setdefault("timeout", 5.0)
    kw.setdefault("controller", None)
    return await arun_sync_attempt(func, node="n", attempt=kw.pop("attempt", 1), **kw)


@pytest.fixture(params=["sync", "async"])
def run_in_thread(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Run a sync func via run_sync_attempt, or via arun_sync_attempt in a fresh loop."""
    if request.param == "sync":
        return call_sync
    return lambda func, **kw: asyncio.run(call_async_sync(func, **kw))


# ------------------------------------------------------------------ sync functions


def test_no_timeout_no_signal_runs_in_caller_thread() -> None:
    """Without timeout and run signal the function runs directly in the caller's thread."""
    assert call_sync(threading.get_ident, timeout=None) == threading.get_ident()


def test_result_and_thread_reuse(run_in_thread: Callable[..., Any]) -> None:
    """Worker threads are named, daemon and reused by the next call."""
    first = run_in_thread(threading.current_thread)
    second = run_in_thread(threading.current_thread)
    assert first is second
    assert first is not threading.current_thread()
    assert first.daemon
    assert first.name.startswith("langgraph_runner-worker-")


@pytest.mark.parametrize("exc", [Boom("x"), Fatal("y"), GraphInterrupt(())])
def test_exceptions_propagate_unchanged(run_in_thread: Callable[..., Any], exc: Any) -> None:
    """Errors, BaseExceptions and LangGraph control flow come back as the same object."""

    def fail() -> None:
        raise exc

    with pytest.raises(type(exc)) as info:
        run_in_thread(fail)
    assert info.value is exc


def test_contextvars_and_node_context_visible_in_worker(run_in_thread: Callable[..., Any]) -> None:
    """The worker sees the caller's context variables, NodeContext included."""
    ctx = NodeContext(node="n", attempt=3, trace_id="t", graph_execution_id="g", started_at=0.0)
    token = set_context(ctx)
    var_token = VAR.set("from caller")
    try:
        seen = run_in_thread(lambda: (VAR.get(), get_node_context()))
    finally:
        VAR.reset(var_token)
        reset_context(token)
    assert seen == ("from caller", ctx)


def test_langgraph_config_visible_in_worker() -> None:
    """get_config() works in the worker thread, under invoke and ainvoke."""
    from langgraph.config import get_config

    class S(TypedDict):
        tid: str

    def node(state: S) -> S:
        return {"tid": call_sync(lambda: get_config()["configurable"]["thread_id"])}

    graph = StateGraph(S)
    graph.add_node("node", node)
    graph.add_edge(START, "node")
    graph.add_edge("node", END)
    app = graph.compile()
    config: Any = {"configurable": {"thread_id": "tid-1"}}
    assert app.invoke({"tid": ""}, config) == {"tid": "tid-1"}
    if sys.version_info >= (3, 11):  # LangGraph's get_config() fails under ainvoke on 3.10
        assert asyncio.run(app.ainvoke({"tid": ""}, config)) == {"tid": "tid-1"}

        async def anode(state: S) -> S:
            tid = await call_async_sync(lambda: get_config()["configurable"]["thread_id"])
            return {"tid": tid}

        agraph = StateGraph(S)
        agraph.add_node("anode", anode)
        agraph.add_edge(START, "anode")
        agraph.add_edge("anode", END)
        assert asyncio.run(agraph.compile().ainvoke({"tid": ""}, config)) == {"tid": "tid-1"}


def test_timeout_raises_aborts_and_abandons(
    run_in_thread: Callable[..., Any], events: Callable[[str], list[dict[str, Any]]]
) -> None:
    """At the timeout: NodeTimeoutError, controller aborted with it, node.abandoned logged."""
    controller = AbortController()
    before = abandoned_thread_count()
    with pytest.raises(NodeTimeoutError) as info:
        run_in_thread(
            lambda: controller.signal.wait_sync(5), timeout=0.05, controller=controller, attempt=2
        )
    err = info.value
    assert (err.node, err.attempt, err.kind) == ("n", 2, "run")
    assert err.elapsed >= 0.05
    assert controller.signal.reason is err
    assert abandoned_thread_count() == before + 1
    assert [(e["node"], e["attempt"], e["why"]) for e in events("node.abandoned")] == [
        ("n", 2, "timeout")
    ]
    # The function honoured the abort signal, so its thread is done soon.
    assert wait_for_abandoned_threads(5)
    assert running_abandoned_thread_count() == 0


def test_late_result_and_late_error_are_discarded(run_in_thread: Callable[..., Any]) -> None:
    """A late return value or exception goes nowhere: no excepthook, no unraisable."""
    hooked: list[Any] = []
    old_hook = threading.excepthook
    threading.excepthook = hooked.append
    try:
        for outcome in ("value", "error"):
            started, release = threading.Event(), threading.Event()

            def slow(
                outcome: str = outcome,
                started: threading.Event = started,
                release: threading.Event = release,
            ) -> str:
                started.set()
                release.wait(5)
                if outcome == "error":
                    raise Boom("late")
                return "late"

            # 0.3 s, not 0.02 s: a call abandoned before its worker thread starts it never
            # runs, and then nothing would be late. It ends only once released, after this.
            with pytest.raises(NodeTimeoutError):
                run_in_thread(slow, timeout=0.3)
            assert started.wait(5), "the function never ran: no late outcome was tested"
            release.set()
            assert wait_for_abandoned_threads(5)
    finally:
        threading.excepthook = old_hook
    assert hooked == []


def test_abandoned_thread_does_not_block_later_calls(run_in_thread: Callable[..., Any]) -> None:
    """While an abandoned function is still stuck, later calls run on other workers."""
    release = threading.Event()
    # 0.3 s, not 0.02 s: the function must have started (a call abandoned while it waits
    # for its worker thread never runs, and a starved thread can take longer to start).
    with pytest.raises(NodeTimeoutError):
        run_in_thread(lambda: release.wait(5), timeout=0.3)
    assert running_abandoned_thread_count() == 1
    assert run_in_thread(lambda: "fresh") == "fresh"
    assert running_abandoned_thread_count() == 1
    release.set()
    assert wait_for_abandoned_threads(5)


def test_run_signal_from_other_thread_interrupts_wait(run_in_thread: Callable[..., Any]) -> None:
    """The run signal fired from another thread ends the wait with NodeAbortedError."""
    run = AbortController()
    controller = AbortController(parent=run.signal)
    timer = threading.Timer(0.05, run.abort, args=("user cancelled",))
    timer.start()
    started = time.monotonic()
    with pytest.raises(NodeAbortedError) as info:
        run_in_thread(
            lambda: controller.signal.wait_sync(5),
            timeout=None,
            controller=controller,
            run_signal=run.signal,
        )
    timer.join()
    assert time.monotonic() - started < 4
    assert info.value.reason == "user cancelled"
    assert controller.signal.aborted
    assert run.signal.listener_count() == 0


def test_already_aborted_run_signal_does_not_start(run_in_thread: Callable[..., Any]) -> None:
    """An aborted run signal raises NodeAbortedError without calling the function."""
    run = AbortController()
    run.abort("stop")
    controller = AbortController()
    calls: list[int] = []
    with pytest.raises(NodeAbortedError):
        run_in_thread(lambda: calls.append(1), controller=controller, run_signal=run.signal)
    assert calls == []
    assert controller.signal.aborted


async def test_cancelling_async_wait_abandons_thread(
    events: Callable[[str], list[dict[str, Any]]],
) -> None:
    """Cancelling the awaiting task aborts the controller and re-raises CancelledError."""
    controller = AbortController()
    task = asyncio.ensure_future(
        call_async_sync(lambda: controller.signal.wait_sync(5), timeout=None, controller=controller)
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert controller.signal.reason == "cancelled"
    assert [e["why"] for e in events("node.abandoned")] == ["cancelled"]


# ------------------------------------------------------------------ coroutines


@pytest.fixture(params=["same_task", "child_task"])
def arun(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """arun_async_attempt, in its 3.11+ form and in its Python 3.10 fallback form."""
    if request.param == "child_task":
        monkeypatch.setattr(timeouts, "_HAS_UNCANCEL", False)

    async def call(factory: Callable[[], Awaitable[Any]], **kw: Any) -> Any:
        kw.setdefault("timeout", 5.0)
        kw.setdefault("controller", None)
        return await arun_async_attempt(factory, node="n", attempt=kw.pop("attempt", 1), **kw)

    return call


async def test_no_timeout_no_signal_just_awaits() -> None:
    """Without timeout and run signal the awaitable runs in the current task."""

    async def which() -> Any:
        return asyncio.current_task()

    result = await arun_async_attempt(which, node="n", attempt=1, timeout=None, controller=None)
    assert result is asyncio.current_task()


async def test_timeout_runs_in_current_task_from_311() -> None:
    """With a timeout the awaitable runs in the caller's task (a child task on 3.10)."""

    async def which() -> Any:
        return asyncio.current_task()

    result = await arun_async_attempt(which, node="n", attempt=1, timeout=5.0, controller=None)
    assert (result is asyncio.current_task()) == (sys.version_info >= (3, 11))


async def test_async_result_and_errors(arun: Any) -> None:
    """Results come back; errors and control flow propagate as the same object."""

    async def ok() -> str:
        await asyncio.sleep(0)
        return "ok"

    assert await arun(ok) == "ok"
    for exc in (Boom("x"), GraphInterrupt(()), Fatal("y")):

        async def fail(exc: BaseException = exc) -> None:
            raise exc

        with pytest.raises(type(exc)) as info:
            await arun(fail)
        assert info.value is exc


async def test_async_timeout_aborts_controller_before_cancelling(arun: Any) -> None:
    """At the timeout the coroutine sees an aborted signal, then NodeTimeoutError is raised."""
    controller = AbortController()
    seen: list[bool] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            seen.append(controller.signal.aborted)
            raise

    with pytest.raises(NodeTimeoutError) as info:
        await arun(slow, timeout=0.05, controller=controller, attempt=3)
    assert seen == [True]
    assert info.value.attempt == 3
    assert controller.signal.reason is info.value
    assert _cancelling() == 0  # our cancellation was taken back
    await asyncio.sleep(0)  # and does not hit a later await


async def test_async_run_signal_from_thread_cancels(arun: Any) -> None:
    """The run signal fired from another thread cancels the coroutine: NodeAbortedError."""
    run = AbortController()
    controller = AbortController(parent=run.signal)
    timer = threading.Timer(0.05, run.abort, args=("stop",))
    timer.start()
    started = time.monotonic()
    with pytest.raises(NodeAbortedError) as info:
        await arun(
            lambda: asyncio.sleep(5), timeout=None, controller=controller, run_signal=run.signal
        )
    timer.join()
    assert time.monotonic() - started < 4
    assert info.value.reason == "stop"
    assert run.signal.listener_count() == 0


async def test_async_already_aborted_run_signal(arun: Any) -> None:
    """An aborted run signal raises NodeAbortedError without creating the coroutine."""
    run = AbortController()
    run.abort("stop")
    calls: list[int] = []

    def factory() -> Awaitable[None]:
        calls.append(1)
        return asyncio.sleep(0)

    with pytest.raises(NodeAbortedError):
        await arun(factory, run_signal=run.signal)
    assert calls == []


async def test_external_cancel_propagates(arun: Any) -> None:
    """Cancelling the task from outside gives CancelledError, never a timeout or abort."""
    run = AbortController()
    task = asyncio.ensure_future(arun(lambda: asyncio.sleep(5), timeout=1.0, run_signal=run.signal))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert run.signal.listener_count() == 0


async def test_external_cancel_racing_timeout_propagates(arun: Any) -> None:
    """An outside cancel due in the same loop iteration as the timeout still wins."""
    loop = asyncio.get_running_loop()

    async def attempt() -> None:
        time.sleep(0.1)  # noqa: ASYNC251 - block the loop so both callbacks are due together
        await asyncio.sleep(5)

    async def outer() -> None:
        await arun(attempt, timeout=0.02)

    task = asyncio.ensure_future(outer())
    loop.call_later(0.03, task.cancel)
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_swallowed_cancellation_returns_value(arun: Any) -> None:
    """An attempt that swallows the timeout's cancellation returns its value, task stays clean."""

    async def stubborn() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return "swallowed"
        return "slept"

    assert await arun(stubborn, timeout=0.02) == "swallowed"
    assert _cancelling() == 0
    await asyncio.sleep(0)
