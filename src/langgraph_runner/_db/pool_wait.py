"""A wait for a pooled connection: told to the run it belongs to, failed on a stall.

The run a statement belongs to is told (``listening``): ``waiting(database, seconds)``
once a wait has lasted ``pool.WAIT_NOTICE`` seconds, ``waited(database, seconds)`` when
such a wait is over. ``run``/``arun`` log the first as ``run.waiting_for_connection``
and add the second to the run's ``connection_wait_ms``. The listener travels in a
context variable, so checkpoint writes made in the run's tasks and worker threads
reach it. A wait in which no connection came free for ``pool_timeout`` seconds fails
with ``stalled``'s error (``patient_pool``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from langgraph_runner._records.exceptions import DatabaseUnavailableError

__all__ = ["Telling", "WaitListener", "current_listener", "listening", "stalled"]


class WaitListener(Protocol):
    """Who is told that a statement waits for a pooled connection (a run)."""

    def waiting(self, database: str, seconds: float) -> None:
        """The wait has lasted ``seconds`` (``WAIT_NOTICE``) and goes on."""

    def waited(self, database: str, seconds: float) -> None:
        """A wait that was told is over: it lasted ``seconds``."""


_LISTENER: ContextVar[WaitListener | None] = ContextVar("langgraph_runner_pool_wait", default=None)


@contextmanager
def listening(listener: WaitListener | None) -> Iterator[None]:
    """Tell ``listener`` about the waits for a connection of the statements made in this
    context (and in the tasks and threads it starts, which copy it)."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def current_listener() -> WaitListener | None:
    """The listener ``listening`` set for this context, if any."""
    return _LISTENER.get()


def stalled(database: str, pool_timeout: float, size: int) -> DatabaseUnavailableError:
    """The error of a wait in which no connection came free for ``pool_timeout`` seconds."""
    return DatabaseUnavailableError(
        database,
        f"no connection came free for {pool_timeout:g} s (pool_timeout; all {size}"
        " connections busy, or the server unreachable): raise pool_timeout or"
        " max_connections, or run fewer at once",
    )


class Telling:
    """One wait's telling: once it lasted ``notice`` seconds, and its end if told."""

    __slots__ = ("database", "listener", "notice", "stall", "stalled", "started", "told")

    def __init__(self, database: str, notice: float) -> None:
        self.database = database
        self.notice = notice
        self.listener = current_listener()
        self.started = time.monotonic()
        self.told = False
        self.stall = float("inf")  # seconds without a connection freed before it fails
        self.stalled = False

    def tick(self) -> None:
        """The wait goes on: tell it once it lasted ``notice`` seconds."""
        if not self.told and time.monotonic() - self.started >= self.notice:
            self.told = True
            if self.listener is not None:
                self.listener.waiting(self.database, self.notice)

    def over(self) -> None:
        """The wait is over: tell how long it lasted, if it was told."""
        if self.told and self.listener is not None:
            self.listener.waited(self.database, time.monotonic() - self.started)
