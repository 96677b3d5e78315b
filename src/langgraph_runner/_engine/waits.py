"""Retry waits that an abort ends at once and a LangGraph drain request within a poll.

The wait itself is decided by ``policy`` (zero inside ``langgraph_runner.testing.no_wait()``,
whose switch lives in ``nowait`` and is re-exported here). LangGraph's drain
request can only be polled, so a wait inside a graph checks it every
``DRAIN_POLL_INTERVAL`` seconds; the run's abort signal wakes the wait directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from langgraph_runner._engine.call import Call
from langgraph_runner._engine.nowait import no_wait_scope, waits_disabled
from langgraph_runner._internal import compat as _compat

__all__ = [
    "DRAIN_POLL_INTERVAL",
    "no_wait_scope",
    "wait_async",
    "wait_sync",
    "waits_disabled",
]

DRAIN_POLL_INTERVAL = 0.1
"""Seconds between checks for a LangGraph drain request during a retry wait."""


def wait_sync(call: Call, delay: float) -> None:
    """Sleep ``delay`` seconds; an abort ends the wait at once, a drain within a poll."""
    if delay <= 0:
        # No wait, but the retry hook may have aborted or drained the run meanwhile.
        call.check_run_signal()
        call.check_drain()
        return
    end = time.monotonic() + delay
    signal = call.run_signal
    poll = _compat.runtime_of(call.config) is not None
    while (left := end - time.monotonic()) > 0:
        step = min(left, DRAIN_POLL_INTERVAL) if poll else left
        if signal is not None:
            signal.wait_sync(step)
        else:
            time.sleep(step)
        call.check_run_signal()
        call.check_drain()


async def wait_async(call: Call, delay: float) -> None:
    """The async ``wait_sync``; cancellation ends it at once too."""
    if delay <= 0:
        # No wait, but the retry hook may have aborted or drained the run meanwhile.
        call.check_run_signal()
        call.check_drain()
        return
    loop = asyncio.get_running_loop()
    end = loop.time() + delay
    signal = call.run_signal
    poll = _compat.runtime_of(call.config) is not None
    woken: asyncio.Future[None] = loop.create_future()
    unsubscribe = signal.add_listener(lambda _r: _wake(loop, woken)) if signal is not None else None
    try:
        while (left := end - loop.time()) > 0:
            step = min(left, DRAIN_POLL_INTERVAL) if poll else left
            await asyncio.wait({woken}, timeout=step)
            call.check_run_signal()
            call.check_drain()
    finally:
        if unsubscribe is not None:
            unsubscribe()
        woken.cancel()


def _wake(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None]) -> None:
    def settle() -> None:
        if not fut.done():
            fut.set_result(None)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(settle)
