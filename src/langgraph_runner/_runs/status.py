"""``RunStatus``: how a run ended, or where a thread stands; one type for runs and reports."""

from __future__ import annotations

import enum

__all__ = ["RunStatus"]


class RunStatus(str, enum.Enum):
    """How a run ended (``RunResult.status``) or where a thread stands (``RunReport.status``).

    ``run``/``arun`` end a run ``completed``, ``interrupted``, ``failed`` or ``cancelled``
    (task cancelled, abort signal, drain, time limit: distinct from ``failed``, where a
    node or step failed). ``run_report`` also reads ``blocked`` (the graph ended with a
    failure recorded) and ``running`` (not finished yet). Members are strings:
    ``result.status == "completed"`` holds, and they print as their value.
    """

    COMPLETED = "completed"
    FAILED = "failed"
    BLOCKED = "blocked"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    RUNNING = "running"

    def __str__(self) -> str:
        return str(self.value)
