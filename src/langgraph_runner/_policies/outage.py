"""An outage of a shared store's Redis: one warning when it starts, one note when it ends.

The Redis-shared breaker store and limit store both work on when Redis is gone (local
state, or their ``on_unavailable`` rule) and try it again after ``reconnect_interval``.
``Outage`` keeps that bookkeeping in one place; ``down`` is read without the lock on the
hot path (a stale read only costs one more try or one more skip).
"""

from __future__ import annotations

import logging
import threading
import time

from langgraph_runner._records.egress import egress_text
from langgraph_runner._records.logs import get_event_logger

__all__ = ["Outage"]


class Outage:
    """Whether a store's Redis is unreachable, and when to try it again.

    Args:
        events: The events' prefix: ``"<events>.store_unreachable"`` and
            ``"<events>.store_recovered"``.
        store: The store's name in the events (its key prefix).
        reconnect_interval: Seconds to skip Redis after a failure.
        fallback: What the store does meanwhile, for the warning.
    """

    __slots__ = ("_lock", "down", "events", "fallback", "reconnect_interval", "retry_at", "store")

    def __init__(
        self, *, events: str, store: str, reconnect_interval: float, fallback: str
    ) -> None:
        self.events = events
        self.store = store
        self.reconnect_interval = reconnect_interval
        self.fallback = fallback
        self._lock = threading.Lock()
        self.down = False  # read lock-free
        self.retry_at = 0.0  # while down: the monotonic time from which Redis is tried again

    def skip(self) -> bool:
        """Whether to skip Redis now: it is down and not due for another try."""
        return self.down and time.monotonic() < self.retry_at

    def lost(self, exc: BaseException) -> None:
        """Redis failed: warn once per outage, try again after ``reconnect_interval``."""
        with self._lock:
            self.retry_at = time.monotonic() + self.reconnect_interval
            if self.down:
                return
            self.down = True
        get_event_logger().emit(
            logging.WARNING,
            f"{self.events}.store_unreachable",
            store=self.store,
            error_type=type(exc).__name__,
            error=egress_text(str(exc), max_length=200),
            fallback=self.fallback,
        )

    def back(self) -> None:
        """Redis answered: end the outage (noted once); lock-free while Redis is up."""
        if not self.down:
            return
        with self._lock:
            if not self.down:
                return
            self.down = False
        get_event_logger().emit(logging.INFO, f"{self.events}.store_recovered", store=self.store)
