"""Calling user hooks (sync or async) so that they can never break a node.

A hook's exception is logged and swallowed; a hook may be a plain function or a
coroutine function whichever side (sync or async node) calls it. With a ``limit``
the hook runs under its own time limit (a sync hook in a worker thread that is
abandoned when the limit passes), and running out of time is logged like an error.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any, TypedDict

from typing_extensions import Required, Unpack

from langgraph_runner._policies.timeouts import arun_sync_attempt, run_sync_attempt
from langgraph_runner._records.exceptions import NodeTimeoutError
from langgraph_runner._records.logs import EventLogger

__all__ = ["HookCall", "acall_hook", "call_hook", "run_coroutine_blocking"]


def _log_failure(log: EventLogger, hook_name: str, exc: BaseException, node: str | None) -> None:
    log.emit(
        logging.WARNING,
        "hook.failed",
        hook=hook_name,
        node=node,
        error_type=type(exc).__name__,
    )


async def _await(awaitable: Any, limit: float | None) -> Any:
    # asyncio.run() takes only coroutines; a hook may return any awaitable.
    return await (asyncio.wait_for(awaitable, limit) if limit else awaitable)


def run_coroutine_blocking(coro: Any, limit: float | None) -> Any:
    """Run an awaitable to completion from sync code, even under a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(coro, limit))
    # A loop runs in this thread (a sync node called from async code): use another thread.
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["value"] = asyncio.run(_await(coro, limit))
        except BaseException as exc:  # re-raised in the caller's thread below
            box["error"] = exc

    # Carry the caller's contextvars (get_node_context(), tracing spans) into the thread.
    context = contextvars.copy_context()
    t = threading.Thread(
        target=context.run, args=(runner,), name="langgraph-runner-hook", daemon=True
    )
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _label(hook_name: str) -> str:
    return f"<hook {hook_name}>"


def _over_limit(exc: BaseException, hook_name: str, limit: float) -> BaseException:
    """Our worker-thread timeout as a plain TimeoutError; anything else unchanged."""
    if isinstance(exc, NodeTimeoutError) and exc.node == _label(hook_name):
        return TimeoutError(f"hook {hook_name} ran past its limit of {limit}s")
    return exc


class HookCall(TypedDict, total=False):
    """How ``call_hook``/``acall_hook`` call a hook: the ``log`` its failure is told to
    and the ``hook_name`` that names it there (both required), the ``node`` it runs for,
    its time ``limit`` in seconds."""

    log: Required[EventLogger]
    hook_name: Required[str]
    node: str | None
    limit: float | None


def _failed(how: HookCall, exc: BaseException) -> None:
    """Log a hook's failure (running out of time as a ``TimeoutError``)."""
    name = how["hook_name"]
    _log_failure(how["log"], name, _over_limit(exc, name, how.get("limit") or 0.0), how.get("node"))


def call_hook(hook: Callable[..., Any] | None, *args: Any, **how: Unpack[HookCall]) -> Any:
    """Call a sync or async hook from sync code; log and swallow its errors.

    With ``limit``, a sync hook runs in a worker thread abandoned after ``limit``
    seconds, an async one under ``asyncio.wait_for``; either way running out of
    time is logged as a ``TimeoutError``.

    Returns:
        What the hook returned, or None when it failed or there is no hook.
    """
    if hook is None:
        return None
    limit = how.get("limit")

    def invoke() -> Any:
        result = hook(*args)
        if inspect.isawaitable(result):
            result = run_coroutine_blocking(result, limit)
        return result

    try:
        if limit is None or inspect.iscoroutinefunction(hook):
            return invoke()
        return run_sync_attempt(
            invoke, node=_label(how["hook_name"]), attempt=1, timeout=limit, controller=None
        )
    except Exception as exc:
        _failed(how, exc)
        return None


async def acall_hook(hook: Callable[..., Any] | None, *args: Any, **how: Unpack[HookCall]) -> Any:
    """Call a sync or async hook from async code; log and swallow its errors.

    Cancellation of the caller still propagates. With ``limit``, a sync hook
    runs in a worker thread (it never blocks the event loop) abandoned after
    ``limit`` seconds.

    Returns:
        What the hook returned, or None when it failed or there is no hook.
    """
    if hook is None:
        return None
    limit = how.get("limit")
    try:
        if limit is None or inspect.iscoroutinefunction(hook):
            result = hook(*args)
        else:
            result = await arun_sync_attempt(
                lambda: hook(*args),
                node=_label(how["hook_name"]),
                attempt=1,
                timeout=limit,
                controller=None,
            )
        if inspect.isawaitable(result):
            result = await (asyncio.wait_for(result, limit) if limit else result)
        return result
    except Exception as exc:
        _failed(how, exc)
        return None
