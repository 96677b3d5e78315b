"""Operating runs: run a graph, read its report, plan and rebuild, rerun, list and cancel.

The names for people who operate runs rather than write nodes: ``run``/``arun``
(one run with run-level events, a time limit and a runs-table row), ``run_report``
(what each node did, read back from the checkpoints), ``plan``/``rebuild`` (a
partial rebuild after a change), the rerun helpers for a run with blocked nodes or
failed ``Send`` items, ``list_runs``/``cancel_run``, the checkpointer openers, the
exactly-once ``EffectLedger`` and the per-thread ``ThreadLock``. Node-level API
(``create_node``, the policies, records and state) stays in ``langgraph_runner``.

Modules::

    __init__  re-exports only: the code lives in ``langgraph_runner._runs``
"""

from __future__ import annotations

from typing import Any

from langgraph_runner._db.pool import DatabaseUnavailableError
from langgraph_runner._internal.moved import alias_getattr as _alias_getattr
from langgraph_runner._rebuild.dag import WorkflowCycleError, require_dag
from langgraph_runner._rebuild.partial import Change, Plan, RebuildResult, arebuild, plan, rebuild
from langgraph_runner._rebuild.rerun import (
    FailedItem,
    ablocked_nodes,
    afailed_items,
    arerun_blocked,
    blocked_nodes,
    failed_items,
    rerun_blocked,
)
from langgraph_runner._reports.report import NodeReport, NodeStatus, RunReport, run_report
from langgraph_runner._runs.checkpoint import open_async_checkpointer, open_checkpointer
from langgraph_runner._runs.control import RunRecord, cancel_run, list_runs
from langgraph_runner._runs.effects import EffectLedger
from langgraph_runner._runs.lifecycle import RUN_DEADLINE_KEY, arun, run
from langgraph_runner._runs.run_options import RebuildOptions, RunOptions
from langgraph_runner._runs.session import RunResult
from langgraph_runner._runs.status import RunStatus
from langgraph_runner._runs.thread_lock import ThreadLock, thread_lock

__all__ = [
    "Change",
    "DatabaseUnavailableError",
    "EffectLedger",
    "FailedItem",
    "NodeReport",
    "NodeStatus",
    "Plan",
    "RUN_DEADLINE_KEY",
    "RebuildOptions",
    "RebuildResult",
    "RunOptions",
    "RunRecord",
    "RunReport",
    "RunResult",
    "RunStatus",
    "ThreadLock",
    "WorkflowCycleError",
    "ablocked_nodes",
    "afailed_items",
    "arebuild",
    "arerun_blocked",
    "arun",
    "blocked_nodes",
    "cancel_run",
    "failed_items",
    "list_runs",
    "open_async_checkpointer",
    "open_checkpointer",
    "plan",
    "rebuild",
    "require_dag",
    "rerun_blocked",
    "run",
    "run_report",
    "thread_lock",
]

# Until 0.2 this path was the run-lifecycle module itself: its other names still resolve
# (with a DeprecationWarning naming their public home, or saying they are private).
_old_getattr = _alias_getattr("langgraph_runner.runs", "langgraph_runner._runs.lifecycle")


def __getattr__(name: str) -> Any:
    """The 0.1 names of ``langgraph_runner.runs`` that are not in ``__all__``, deprecated."""
    return _old_getattr(name)
