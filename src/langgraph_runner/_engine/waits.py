"""Retry waits that an abort ends at once and a LangGraph drain request within a poll.

The process-wide no-wait switch lives here too: inside
``langgraph_runner.testing.no_wait()`` (built on :func:`no_wait_scope`) a wait is
skipped and its delay collected. LangGraph's drain request can only be polled, so a wait inside a
graph checks it every ``DRAIN_POLL_INTERVAL`` seconds; the run's abort signal
wakes the wait directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

from langgraph_runner._engine.call import Call
from langgraph_runner._internal import compat as _compat

__all__ = [
    "DRAIN_POLL_INTERVAL",
    "no_wait_scope",
    "skip_wait",
    "wait_async",
    "wait_sync",
    "waits_disabled",
]

DRAIN_POLL_INTERVAL = 0.1
"""Seconds between checks for a LangGraph drain request during a retry wait."""


class _NoWait:
    """The no-wait switch: process-wide, not a contextvar, because sync nodes under
    ``ainvoke`` run attempts in worker threads and a test's ``with no_wait():`` must
    reach them too."""

    __slots__ = ("depth", "lock", "sinks")

    def __init__(self) -> None:
        self.depth = 0
        self.lock = threading.Lock()
        self.sinks: list[list[float]] = []  # one list per open scope


_NO_WAIT = _NoWait()


@contextlib.contextmanager
def no_wait_scope(*, enabled: bool = True) -> Iterator[list[float]]:
    """Skip every retry wait inside the block (or, with ``enabled=False``, really wait).

    Re-entrant; ``enabled=False`` turns waits back on inside an outer scope.

    Yields:
        The list of skipped delays, in seconds.
    """
    skipped: list[float] = []
    with _NO_WAIT.lock:
        depth = _NO_WAIT.depth
        _NO_WAIT.depth = depth + 1 if enabled else 0
        _NO_WAIT.sinks.append(skipped)
    try:
        yield skipped
    finally:
        with _NO_WAIT.lock:
            _NO_WAIT.depth = depth
            _NO_WAIT.sinks.remove(skipped)


def waits_disabled() -> bool:
    """True inside a no-wait scope: every retry wait is zero."""
    return _NO_WAIT.depth > 0


def skip_wait(delay: float) -> bool:
    """Whether a retry wait of ``delay`` seconds must be skipped (inside a no-wait scope).

    A skipped delay is appended to the list every open scope yields.
    """
    if _NO_WAIT.depth <= 0:
        return False
    for sink in tuple(_NO_WAIT.sinks):
        sink.append(delay)
    return True


def wait_sync(call: Call, delay: float) -> None:
    """Sleep ``delay`` seconds; an abort ends the wait at once, a drain within a poll."""
    if delay <= 0 or skip_wait(delay):
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
    if delay <= 0 or skip_wait(delay):
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
