"""Helpers for testing code that uses langgraph_runner (yours and ours).

``no_wait()`` makes every retry wait zero, so retry tests run instantly without
monkeypatching ``time.sleep``; the computed delays are still reported to
``on_retry_attempt``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from langgraph_runner import retry as _retry

__all__ = ["no_wait"]

_lock = threading.Lock()


@contextmanager
def no_wait() -> Iterator[None]:
    """Inside this block, every retry wait of every wrapped node is zero.

    Process-wide (it reaches worker threads too) and re-entrant.
    """
    with _lock:
        _retry._no_wait_depth += 1
    try:
        yield
    finally:
        with _lock:
            _retry._no_wait_depth -= 1
