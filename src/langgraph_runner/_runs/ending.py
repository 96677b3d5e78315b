"""How a run ended: its status and reason, read from what ``graph.invoke`` returned or raised."""

from __future__ import annotations

from typing import Any

from langgraph.errors import GraphDrained

from langgraph_runner._records.exceptions import NodeAbortedError
from langgraph_runner._records.sanitize import sanitize_message
from langgraph_runner._runs.pool import DatabaseUnavailableError

__all__ = ["cancel_reason", "interrupted", "ran_out", "row_reason"]


def row_reason(status: str, reason: str | None, error: BaseException | None) -> str | None:
    """What the run's row says of how it ended: a database that failed it is named."""
    if status == "failed" and isinstance(error, DatabaseUnavailableError):
        return sanitize_message(str(error), max_length=200)
    return reason


def ran_out(error: BaseException) -> bool:
    """Whether a node gave up because what was left of the run's time limit ran out."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if getattr(current, "run_deadline", False):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def interrupted(output: Any) -> bool:
    """Whether the run stopped at an interrupt (its output carries ``__interrupt__``)."""
    return isinstance(output, dict) and bool(output.get("__interrupt__"))


def cancel_reason(error: BaseException) -> str:
    """Why a cancelled run stopped, from the error that ended it."""
    if isinstance(error, NodeAbortedError):
        return sanitize_message(str(error.reason or "aborted"), max_length=200)
    if isinstance(error, GraphDrained):
        return sanitize_message(str(error) or "drained", max_length=200)
    if isinstance(error, KeyboardInterrupt):
        return "keyboard interrupt"
    return "task cancelled"
