"""The process-wide no-wait switch of ``langgraph_runner.testing.no_wait()``.

Inside :func:`no_wait_scope` every retry wait is zero and its delay is collected
(``policy`` reads the switch where it decides the wait, as stamina's test mode
does in its backoff computation). Process-wide, not a contextvar: sync nodes
under ``ainvoke`` run attempts in worker threads, and a test's ``with
no_wait():`` must reach them too.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

__all__ = ["NO_WAIT", "NoWait", "no_wait_scope", "waits_disabled"]


class NoWait:
    """The switch: ``depth`` > 0 inside a scope; ``sinks`` collect the skipped delays."""

    __slots__ = ("depth", "lock", "sinks")

    def __init__(self) -> None:
        self.depth = 0
        self.lock = threading.Lock()
        self.sinks: list[list[float]] = []  # one list per open scope


NO_WAIT = NoWait()


@contextlib.contextmanager
def no_wait_scope(*, enabled: bool = True) -> Iterator[list[float]]:
    """Skip every retry wait inside the block (or, with ``enabled=False``, really wait).

    Re-entrant; ``enabled=False`` turns waits back on inside an outer scope.

    Yields:
        The list of skipped delays, in seconds.
    """
    skipped: list[float] = []
    with NO_WAIT.lock:
        depth = NO_WAIT.depth
        NO_WAIT.depth = depth + 1 if enabled else 0
        NO_WAIT.sinks.append(skipped)
    try:
        yield skipped
    finally:
        with NO_WAIT.lock:
            NO_WAIT.depth = depth
            NO_WAIT.sinks.remove(skipped)


def waits_disabled() -> bool:
    """True inside a no-wait scope: every retry wait is zero."""
    return NO_WAIT.depth > 0
