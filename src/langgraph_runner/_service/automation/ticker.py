"""``Ticker``: a thread of this process that makes one pass every ``interval`` seconds.

The webhook dispatcher and the scheduler are tickers: each pass (``step``) reads its table
and acts, a pass that fails (the database is down) is logged and the next one tries
again, ``wake`` makes the next pass at once (this process's worker ended a run), and
``stop`` ends the thread after the pass under way. ``clock`` is the time the
passes judge by (unix seconds); tests replace it and call ``step`` themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Ticker"]

_log = logging.getLogger("langgraph_runner.service")


class Ticker:
    """One background thread calling ``step()`` every ``interval`` seconds.

    Args:
        name: The thread's name (and the log's word for a failed pass).
        interval: Seconds between two passes.
        clock: The time the passes judge by.
    """

    def __init__(self, name: str, interval: float, clock: Callable[[], float]) -> None:
        self.name = name
        self.interval = interval
        self.clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> Any:
        """One pass (subclasses say what it does)."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def wake(self, *_: object) -> None:
        """Make the next pass now (a pass under way is followed by another at once)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread after the pass under way."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # a wake from here on means another pass
            started = time.monotonic()
            try:
                self.step()
            except Exception:  # the database is down: the next pass tries again
                took = time.monotonic() - started
                _log.exception("%s: a pass failed after %.1f s", self.name, took)
            self._wake.wait(self.interval)
