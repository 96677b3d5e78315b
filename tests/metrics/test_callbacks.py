"""Tests for langgraph_runner.metrics._callbacks (threshold callbacks and listener calls)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Generator
from typing import Any

import pytest
from langgraph.errors import GraphInterrupt

from langgraph_runner.metrics._callbacks import notify, tell


def test_sync_callback_runs_in_caller_thread() -> None:
    """A sync callback runs at once, in the recording thread, with (node, value)."""
    seen: list[tuple[str, float, int]] = []
    notify(lambda node, v: seen.append((node, v, threading.get_ident())), "a", 0.5)
    assert seen == [("a", 0.5, threading.get_ident())]


def test_failing_callback_is_logged(logged: list[dict[str, Any]]) -> None:
    """A callback that raises is logged as metrics.callback_failed, not raised."""

    def callback(node: str, v: float) -> None:
        raise RuntimeError("alert system down")

    notify(callback, "a", 1.0)
    (event,) = logged
    assert event["event"] == "metrics.callback_failed"
    assert "alert system down" in event["error"]


def test_control_flow_passes_through() -> None:
    """LangGraph control flow raised by a callback or listener is not swallowed."""

    def callback(node: str, v: float) -> None:
        raise GraphInterrupt()

    with pytest.raises(GraphInterrupt):
        notify(callback, "a", 1.0)
    with pytest.raises(GraphInterrupt):
        tell(callback, "a", 1.0)


def test_failing_listener_is_logged(logged: list[dict[str, Any]]) -> None:
    """A listener method that raises is logged as metrics.listener_failed, not raised."""
    tell(lambda node: 1 / 0, "a")
    assert [e["event"] for e in logged] == ["metrics.listener_failed"]
    assert "ZeroDivisionError" in logged[0]["error"]


async def test_async_callback_scheduled_on_running_loop() -> None:
    """An async callback becomes a task on the caller's running loop; notify does not wait."""
    done = asyncio.Event()
    seen: list[tuple[str, float, int]] = []

    async def callback(node: str, rate: float) -> None:
        seen.append((node, rate, threading.get_ident()))
        done.set()

    notify(callback, "a", 1.0)
    assert seen == []  # scheduled, not awaited
    await asyncio.wait_for(done.wait(), timeout=5)
    assert seen == [("a", 1.0, threading.get_ident())]


async def test_failing_async_callback_is_logged(logged: list[dict[str, Any]]) -> None:
    """An async callback that raises is logged once it has run."""

    async def callback(node: str, rate: float) -> None:
        raise RuntimeError("pager down")

    notify(callback, "a", 1.0)
    for _ in range(10):
        await asyncio.sleep(0)
    assert [e["event"] for e in logged] == ["metrics.callback_failed"]
    assert "pager down" in logged[0]["error"]


def test_async_callback_without_loop_runs_in_thread_and_never_blocks() -> None:
    """With no running loop, an async callback runs in a helper thread; notify returns first."""
    gate, done = threading.Event(), threading.Event()
    seen: list[int] = []

    async def callback(node: str, p99: float) -> None:
        await asyncio.get_running_loop().run_in_executor(None, gate.wait, 5)
        seen.append(threading.get_ident())
        done.set()

    notify(callback, "a", 2.0)
    assert not done.is_set()
    gate.set()
    assert done.wait(timeout=5)
    assert seen
    assert seen[0] != threading.get_ident()


def test_any_awaitable_returned_is_run() -> None:
    """A sync callback returning a non-coroutine awaitable has it awaited too."""
    done = threading.Event()

    class Ping:
        def __await__(self) -> Generator[Any, None, None]:
            yield from asyncio.sleep(0).__await__()
            done.set()

    notify(lambda node, v: Ping(), "a", 1.0)
    assert done.wait(timeout=5)


def test_a_failing_listeners_error_is_logged_redacted(logged: list[dict[str, Any]]) -> None:
    """metrics.listener_failed and callback_failed never log a secret from the error text."""

    def leaky(*args: Any) -> None:
        raise ConnectionError("push to https://ops:Hunter2pw@metrics.internal failed")

    tell(leaky, "a")
    notify(leaky, "a", 1.0)
    assert [e["event"] for e in logged] == ["metrics.listener_failed", "metrics.callback_failed"]
    for event in logged:
        assert "Hunter2pw" not in event["error"] and "ConnectionError" in event["error"]
