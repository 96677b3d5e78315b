"""``RunStatus``: how a run ended, or where a thread stands; one type for runs and reports."""

from __future__ import annotations

import enum

__all__ = ["RunStatus"]


class RunStatus(str, enum.Enum):
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

    def __str__(self) -> str:
        return str(self.value)
