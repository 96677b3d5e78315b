"""Running threshold callbacks and listener methods for a collector, never failing a record.

Called by ``NodeMetricsCollector`` after the node's lock is released:

* ``notify`` runs a threshold callback. A sync callback runs in the recording
  thread. An async callback (or one returning an awaitable) is scheduled as a task
  on the running event loop, or, with no loop running in the recording thread, run
  by ``asyncio.run`` in a short-lived daemon thread (interpreter exit may cut it
  short); recording never waits for it. Errors are logged as
  ``metrics.callback_failed``.
* ``tell`` calls a listener method (sync by contract); errors are logged as
  ``metrics.listener_failed``.

LangGraph control flow (``interrupt()`` and friends) and cancellation raised by a
callback pass through untouched (``langgraph_runner._records.classify.is_control_flow``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from langgraph_runner._records.classify import is_control_flow
from langgraph_runner._records.egress import egress_text
from langgraph_runner._records.logs import get_event_logger


def _shown(exc: BaseException) -> str:
    """``repr(exc)`` redacted: a listener's error text may carry a secret like any other."""
    try:
        text = repr(exc)
    except Exception:
        text = f"<unprintable {type(exc).__name__}>"
    return egress_text(text)


__all__ = ["notify", "tell"]

_BACKGROUND: set[asyncio.Task[Any]] = set()
_LOG = get_event_logger()


def notify(fn: Callable[..., Any], *args: Any) -> None:
    """Run a threshold callback; log its errors, schedule the awaitable it returns."""
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            _schedule(result)
    except Exception as exc:
        if is_control_flow(exc):
            raise
        _LOG.emit(logging.WARNING, "metrics.callback_failed", callback=repr(fn), error=_shown(exc))


def tell(method: Callable[..., None], *args: Any) -> None:
    """Call a listener method; log its errors."""
    try:
        method(*args)
    except Exception as exc:
        if is_control_flow(exc):
            raise
        _LOG.emit(
            logging.WARNING, "metrics.listener_failed", listener=repr(method), error=_shown(exc)
        )


async def _guarded(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except Exception as exc:
        if is_control_flow(exc):
            raise
        _LOG.emit(logging.WARNING, "metrics.callback_failed", error=_shown(exc))


def _schedule(awaitable: Awaitable[Any]) -> None:
    """Run an async callback's awaitable without making the recorder wait for it."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        thread = threading.Thread(
            target=asyncio.run,
            args=(_guarded(awaitable),),
            name="langgraph-runner-metrics-callback",
            daemon=True,
        )
        thread.start()
        return
    task = loop.create_task(_guarded(awaitable))
    _BACKGROUND.add(task)  # keep a reference until done, or the task may be collected
    task.add_done_callback(_BACKGROUND.discard)


if hasattr(os, "register_at_fork"):
    # The parent's tasks belong to a loop that does not run in the child.
    os.register_at_fork(after_in_child=_BACKGROUND.clear)
