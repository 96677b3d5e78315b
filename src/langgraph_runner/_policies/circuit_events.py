"""How a circuit breaker announces a transition: one log event, then its listeners."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from langgraph_runner._records.logs import get_event_logger

__all__ = ["announce"]

S = TypeVar("S", bound=enum.Enum)

_LEVELS = {"open": logging.WARNING, "half_open": logging.INFO, "closed": logging.INFO}


def announce(
    breaker: str,
    old: S,
    new: S,
    listeners: Sequence[Callable[[S, S], object]],
    snapshot: Callable[[], dict[str, Any]],
) -> None:
    """Log ``circuit.opened``/``circuit.half_open``/``circuit.closed``, then call the listeners.

    ``snapshot`` is called only when the event is logged. A listener that raises is
    logged as ``circuit.listener_failed``, never raised: a metrics hook must never
    break a node.
    """
    logger = get_event_logger()
    level = _LEVELS[new.value]
    if logger.enabled(level):
        snap = snapshot()
        logger.emit(
            level,
            "circuit.opened" if new.value == "open" else f"circuit.{new.value}",
            breaker=breaker,
            previous=old.value,
            consecutive_failures=snap["consecutive_failures"],
            retry_after=snap["retry_after"],
        )
    for callback in listeners:
        try:
            callback(old, new)
        except Exception as exc:
            logger.emit(
                logging.ERROR,
                "circuit.listener_failed",
                breaker=breaker,
                error_type=type(exc).__name__,
                error=str(exc),
            )
