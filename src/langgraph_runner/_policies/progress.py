"""Progress of a node attempt: heartbeats, idle limits, and muting an abandoned attempt.

An attempt with an idle limit fails when no progress signal came for that long:
``heartbeat()`` (for functions that don't take LangGraph's ``runtime``),
``runtime.heartbeat()``, a stream write or a callback event (the latter two
unless ``refresh_on="heartbeat"``, as in LangGraph's ``TimeoutPolicy``). From
its timeout on, an attempt's ``Progress`` is closed: what its abandoned thread
still writes or reports is dropped.

A host that runs the node may relay its beats elsewhere (``set_relay``: Temporal's
activity heartbeats): a ``Progress`` made while a relay is set calls it on each
beat, and ``heartbeat()`` calls it even in an attempt without a ``Progress``.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable

from langgraph_runner._records.exceptions import NodeTimeoutError

__all__ = [
    "ExpiryTimer",
    "Progress",
    "expiry",
    "heartbeat",
    "reset_progress",
    "reset_relay",
    "set_progress",
    "set_relay",
    "timeout_error",
]


class Progress:
    """Progress of one attempt: beats reset its idle limit; closed from its timeout on.

    Args:
        idle: The idle limit in seconds, or None (no idle limit: beats only keep
            the gate for muting an abandoned attempt).
    """

    __slots__ = ("idle", "last", "open", "relay")

    def __init__(self, idle: float | None = None) -> None:
        self.idle = idle
        self.last = time.monotonic()
        self.open = True
        self.relay = _RELAY.get()

    def beat(self) -> None:
        """Record progress now (nothing once the attempt timed out)."""
        if self.open:
            self.last = time.monotonic()
            if self.relay is not None:
                self.relay()

    def due(self, start: float, timeout: float | None) -> tuple[float | None, str]:
        """When the attempt expires (monotonic seconds, or None) and which limit that is."""
        run_due = None if timeout is None else start + timeout
        if self.idle is None:
            return run_due, "run"
        idle_due = self.last + self.idle
        if run_due is None or idle_due < run_due:
            return idle_due, "idle"
        return run_due, "run"


_PROGRESS: contextvars.ContextVar[Progress | None] = contextvars.ContextVar(
    "langgraph_runner_progress", default=None
)
_RELAY: contextvars.ContextVar[Callable[[], object] | None] = contextvars.ContextVar(
    "langgraph_runner_progress_relay", default=None
)


def heartbeat() -> None:
    """Tell the running attempt it is making progress (resets its idle limit).

    For node functions that don't take LangGraph's ``runtime`` (whose
    ``runtime.heartbeat()`` does the same). Under Temporal (``for_temporal``) the
    beat also reaches the activity's heartbeat. A no-op elsewhere outside an
    attempt with an idle limit.
    """
    progress = _PROGRESS.get()
    if progress is not None:
        progress.beat()
        return
    relay = _RELAY.get()
    if relay is not None:
        relay()


def set_progress(progress: Progress | None) -> contextvars.Token[Progress | None]:
    """Make ``progress`` the one ``heartbeat()`` reaches (the engine's side of it)."""
    return _PROGRESS.set(progress)


def reset_progress(token: contextvars.Token[Progress | None]) -> None:
    """Undo the ``set_progress`` that returned ``token``."""
    _PROGRESS.reset(token)


def set_relay(relay: Callable[[], object] | None) -> contextvars.Token[Callable[[], object] | None]:
    """Relay the beats of attempts started from here on to ``relay`` (called on each beat,
    from any thread: it must be cheap and thread-safe)."""
    return _RELAY.set(relay)


def reset_relay(token: contextvars.Token[Callable[[], object] | None]) -> None:
    """Undo the ``set_relay`` that returned ``token``."""
    _RELAY.reset(token)


def expiry(
    start: float, timeout: float | None, progress: Progress | None
) -> tuple[float | None, str]:
    if progress is None:
        return (None if timeout is None else start + timeout), "run"
    return progress.due(start, timeout)


def timeout_error(
    node: str,
    attempt: int,
    kind: str,
    start: float,
    timeout: float | None,
    progress: Progress | None,
) -> NodeTimeoutError:
    limit = progress.idle if kind == "idle" and progress is not None else timeout
    return NodeTimeoutError(
        node,
        timeout=limit or 0.0,
        elapsed=time.monotonic() - start,
        attempt=attempt,
        kind="idle" if kind == "idle" else "run",
    )


class ExpiryTimer:
    """Calls ``expire(kind)`` on the loop when the attempt's limit passes.

    With an idle limit the timer is re-armed when it fires after a beat moved
    the limit on, so a beat costs nothing but a clock read.
    """

    __slots__ = ("_expire", "_handle", "_loop", "_progress", "_start", "_timeout")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        start: float,
        timeout: float | None,
        progress: Progress | None,
        expire: Callable[[str], object],
    ) -> None:
        self._loop, self._start, self._timeout = loop, start, timeout
        self._progress, self._expire = progress, expire
        self._handle: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        due, kind = expiry(self._start, self._timeout, self._progress)
        if due is not None:
            delay = max(0.0, due - time.monotonic())
            self._handle = self._loop.call_later(delay, self._fire, due, kind)

    def _fire(self, due: float, kind: str) -> None:
        if expiry(self._start, self._timeout, self._progress)[0] != due:
            self._arm()  # a beat moved the idle limit on
        else:
            self._expire(kind)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
