"""``RunStatus``: how a run ended, or where a thread stands; one type for runs and reports."""

from __future__ import annotations

from typing import Any

from langgraph.errors import GraphDrained

from langgraph_runner._db.pool import DatabaseUnavailableError
from langgraph_runner._internal.value_enum import ValueEnum
from langgraph_runner._records.exceptions import NodeAbortedError
from langgraph_runner._records.sanitize import sanitize_message

__all__ = [
    "RunStatus",
    "cancel_reason",
    "interrupted",
    "ran_out",
    "row_reason",
]


class RunStatus(ValueEnum):
    """How a run ended (``RunResult.status``) or where a thread stands (``RunReport.status``).

    ``run``/``arun`` end a run ``completed``, ``interrupted``, ``failed`` or ``cancelled``
    (task cancelled, abort signal, drain, time limit: distinct from ``failed``, where a
    node or step failed). ``run_report`` also reads ``blocked`` (the graph ended with a
    failure recorded) and ``running`` (not finished yet). ``abandoned``: the runs
    table's row of a run whose process died (it stopped renewing the row's lease);
    resuming the thread continues the run from its last checkpoint. Members are strings:
    ``result.status == "completed"`` holds, and they print as their value.
    """

    COMPLETED = "completed"
    FAILED = "failed"
    BLOCKED = "blocked"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    RUNNING = "running"
    ABANDONED = "abandoned"


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
