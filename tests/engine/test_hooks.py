"""call_hook/acall_hook: sync and async hooks from sync and async callers, failures swallowed."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

from langgraph_runner._engine.hooks import acall_hook, call_hook
from langgraph_runner._records.logs import get_event_logger
from tests.conftest import EventCapture

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def sync_hook(*args: Any) -> Any:
    return ("sync", args, request_id.get())


async def async_hook(*args: Any) -> Any:
    await asyncio.sleep(0)
    return ("async", args, request_id.get())


class Awaitable42:
    """An awaitable that is not a coroutine (like a Future or a custom object)."""

    def __await__(self) -> Any:
        yield from asyncio.sleep(0).__await__()
        return 42


def returns_awaitable(*args: Any) -> Any:
    return Awaitable42()


class HookError(Exception):
    """What a broken hook raises; its message holds a secret that must not be logged."""


def sync_failing(*args: Any) -> Any:
    raise HookError("password=hunter2")


async def async_failing(*args: Any) -> Any:
    await asyncio.sleep(0)
    raise HookError("password=hunter2")


HOOKS = {"sync": sync_hook, "async": async_hook}
FAILING = {"sync": sync_failing, "async": async_failing}


async def invoke(caller: str, hook: Any, *args: Any, log: Any, limit: float | None = None) -> Any:
    """Call through call_hook (from a worker thread, or from the loop thread) or acall_hook."""
    kw = {"log": log, "hook_name": "on_retry_attempt", "node": "fetch", "limit": limit}
    if caller == "sync":
        return await asyncio.to_thread(call_hook, hook, *args, **kw)
    if caller == "sync-in-loop":
        return call_hook(hook, *args, **kw)
    return await acall_hook(hook, *args, **kw)


CALLERS = ["sync", "sync-in-loop", "async"]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_hook_runs_and_returns_its_value(
    caller: str, kind: str, events: EventCapture
) -> None:
    """Sync and async hooks run from sync and async callers and their result comes back."""
    token = request_id.set("req-1")
    try:
        result = await invoke(caller, HOOKS[kind], 1, "two", log=get_event_logger(events))
    finally:
        request_id.reset(token)
    assert result == (kind, (1, "two"), "req-1")
    assert events.events == []


@pytest.mark.parametrize("caller", CALLERS)
async def test_non_coroutine_awaitable_is_awaited(caller: str, events: EventCapture) -> None:
    """A hook returning any awaitable (not only a coroutine) is awaited."""
    assert await invoke(caller, returns_awaitable, log=get_event_logger(events)) == 42
    assert events.events == []


@pytest.mark.parametrize("caller", CALLERS)
async def test_no_hook_is_none(caller: str, events: EventCapture) -> None:
    """With no hook, nothing happens and None comes back."""
    assert await invoke(caller, None, log=get_event_logger(events)) is None
    assert events.events == []


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_hook_errors_are_logged_and_swallowed(
    caller: str, kind: str, events: EventCapture
) -> None:
    """A failing hook gives None and one hook.failed warning naming hook, node and error type."""
    assert await invoke(caller, FAILING[kind], log=get_event_logger(events)) is None
    assert events.events == [
        {
            "event": "hook.failed",
            "level": "warning",
            "hook": "on_retry_attempt",
            "node": "fetch",
            "error_type": "HookError",
        }
    ]
    assert "hunter2" not in repr(events.events)


@pytest.mark.parametrize("caller", CALLERS)
async def test_async_hook_over_its_limit_is_logged(caller: str, events: EventCapture) -> None:
    """An async hook running past its limit is stopped and logged as a TimeoutError."""
    finished: list[bool] = []

    async def slow(*args: Any) -> None:
        await asyncio.sleep(5)
        finished.append(True)

    assert await invoke(caller, slow, log=get_event_logger(events), limit=0.02) is None
    assert [(e["event"], e["error_type"]) for e in events.events] == [
        ("hook.failed", "TimeoutError")
    ]
    assert finished == []


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_from_a_hook_propagate(exc: type[BaseException]) -> None:
    """Only Exceptions are swallowed: KeyboardInterrupt and SystemExit go through."""

    def hook() -> None:
        raise exc()

    with pytest.raises(exc):
        call_hook(hook, log=get_event_logger(EventCapture()), hook_name="h")


async def test_acall_hook_propagates_cancellation(events: EventCapture) -> None:
    """Cancelling the caller cancels the running async hook and is not swallowed or logged."""
    started = asyncio.Event()
    hook_saw: list[str] = []

    async def waits_forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            hook_saw.append("cancelled")
            raise

    task = asyncio.create_task(
        acall_hook(waits_forever, log=get_event_logger(events), hook_name="h")
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hook_saw == ["cancelled"]
    assert events.events == []


async def test_acall_hook_propagates_cancellation_under_a_limit(events: EventCapture) -> None:
    """With a limit, cancelling the caller is still a cancellation, not a logged timeout."""
    started = asyncio.Event()

    async def waits_forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(
        acall_hook(waits_forever, log=get_event_logger(events), hook_name="h", limit=30.0)
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events.events == []


def test_hook_errors_use_the_default_logger(caplog: pytest.LogCaptureFixture) -> None:
    """With the default logger, hook.failed is a WARNING on the 'langgraph_runner' logger."""
    with caplog.at_level("WARNING", logger="langgraph_runner"):
        call_hook(sync_failing, log=get_event_logger(), hook_name="on_timeout", node="n")
    [record] = caplog.records
    assert record.name == "langgraph_runner"
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith("hook.failed hook=on_timeout node=n")


def test_broken_logger_does_not_break_a_hook_call() -> None:
    """Even when logging the hook failure fails, the caller gets None, not an exception."""

    class Broken:
        def warning(self, event: str, **kw: Any) -> None:
            raise RuntimeError("logger down")

    assert call_hook(sync_failing, log=get_event_logger(Broken()), hook_name="h") is None  # type: ignore[arg-type]
