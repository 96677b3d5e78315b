"""Calling user hooks (sync or async) so that they can never break a node.

A hook's exception is logged and swallowed; a hook may be a plain function or a
coroutine function whichever side (sync or async node) calls it.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

from langgraph_runner.logs import EventLogger

__all__ = ["acall_hook", "call_hook"]


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


def _run_coroutine_blocking(coro: Any, limit: float | None) -> Any:
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


def call_hook(
    hook: Callable[..., Any] | None,
    *args: Any,
    log: EventLogger,
    hook_name: str,
    node: str | None = None,
    limit: float | None = None,
) -> Any:
    """Call a sync or async hook from sync code; log and swallow its errors.

    Returns:
        What the hook returned, or None when it failed or there is no hook.
    """
    if hook is None:
        return None
    try:
        result = hook(*args)
        if inspect.isawaitable(result):
            result = _run_coroutine_blocking(result, limit)
        return result
    except Exception as exc:
        _log_failure(log, hook_name, exc, node)
        return None


async def acall_hook(
    hook: Callable[..., Any] | None,
    *args: Any,
    log: EventLogger,
    hook_name: str,
    node: str | None = None,
    limit: float | None = None,
) -> Any:
    """Call a sync or async hook from async code; log and swallow its errors.

    Cancellation of the caller still propagates.

    Returns:
        What the hook returned, or None when it failed or there is no hook.
    """
    if hook is None:
        return None
    try:
        result = hook(*args)
        if inspect.isawaitable(result):
            result = await (asyncio.wait_for(result, limit) if limit else result)
        return result
    except Exception as exc:
        _log_failure(log, hook_name, exc, node)
        return None
