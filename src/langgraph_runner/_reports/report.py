"""Run reports: what happened on one thread, read back from its checkpoints.

``run_report`` follows the thread's checkpoint chain (parent links from the latest
checkpoint, so abandoned fork branches are ignored). Each checkpoint opens a
superstep; its saved task writes say which tasks finished, raised or hit
``interrupt()``; tasks superseded by ``update_state``, a fork or new input never ran.
Overall status, first match wins: ``interrupted`` (a latest-step task waits on
``interrupt()``), ``cancelled`` (every latest-step task that raised was aborted:
``NodeAbortedError`` or ``CancelledError``), ``failed`` (a latest-step task
raised), ``running`` (the latest step still has tasks: in progress, or the process
died and ``graph.invoke(None, config)`` resumes it), ``cancelled`` (done, blocked,
and an unrecovered ``NODE_ABORTED`` record), ``blocked`` (done and
``routing_flags["blocked"]``), else ``completed``. A run cancelled from outside
(its asyncio task cancelled, its process killed) leaves no trace in the
checkpoints and reports ``running``. A node's times are its own where its run
(``run()``/``arun()``) recorded them (``task_times``); otherwise checkpoint times (a
node's step opens and closes with one), so parallel nodes share them. While a run
that records them is ``running``, a node whose start it wrote and whose end it has not
yet is ``running`` too (not ``pending``). Only the top-level graph is reported, not
subgraph namespaces.

A node is ``cached`` (``reused`` in a rebuild) when its own writes say so (its output
lists its name under the ``cache_hits`` state key, ``CACHE_HITS_KEY``, or its
``step_marks`` entry says ``hit``/``reused``), or, for any state schema, when its
run (``run()``/``arun()``/``rebuild``) recorded that its ``NodeCache`` served it
(``task_times``). Otherwise a hit (a graph invoked without ``run()``, or LangGraph's
own ``CachePolicy``) saves the same writes a run would, with no marker, so the node
reports ``succeeded``. Hits are visible while the run happens: the
``node.cache_hit`` event, the metrics collector's ``cache_hits``, and (for
``CachePolicy`` only) ``{"__metadata__": {"cached": True}}`` in LangGraph's
``updates`` stream.

Artifacts: a node's ``artifact_paths`` writes (name -> path) are listed on its
entry, with any ``artifact_paths`` its error records carry; the run's are the
final state's ``artifact_paths``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

from langgraph_runner._limits.budget import Budget
from langgraph_runner._records.egress import egress, egress_text
from langgraph_runner._records.exceptions import ThreadNotFoundError
from langgraph_runner._records.record import record_cause
from langgraph_runner._reports.report_types import NodeReport, NodeStatus, RunReport
from langgraph_runner._reports.steps import (
    ABORTED,
    ARTIFACTS_KEY,
    CACHE_HITS_KEY,
    Step,
    Task,
    from_graph,
    from_graph_saver,
    from_saver,
    read_artifacts,
    read_records,
)
from langgraph_runner._reports.stored import stored, with_times
from langgraph_runner._runs.graph_shape import graph_drawing
from langgraph_runner._runs.run_store import RunRecord
from langgraph_runner._runs.status import RunStatus
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.tenancy import check_tenant, not_found, owner

__all__ = [
    "ARTIFACTS_KEY",
    "CACHE_HITS_KEY",
    "NodeReport",
    "NodeStatus",
    "RunReport",
    "RunStatus",
    "ThreadNotFoundError",
    "run_report",
]


def run_report(
    source: Any,
    config: Mapping[str, Any] | str,
    *,
    status: Iterable[NodeStatus | str] | None = None,
    tenant: str | None = None,
    budgets: Iterable[Budget] = (),
    run_id: str | None = None,
) -> RunReport:
    """Build a ``RunReport`` for one thread (or one run of it: ``run_id``).

    Args:
        source: A compiled graph with a checkpointer (its history is decoded from
            the checkpointer, the latest step read through the graph; a graph the
            decoding cannot follow is read through ``get_state_history``; reports
            never-run nodes as skipped) or a bare
            LangGraph checkpoint saver (read through ``list``; no graph import
            needed, nodes are those seen in the history).
        config: ``{"configurable": {"thread_id": ...}}`` or the thread id.
        status: List only nodes with these statuses (``summary`` counts all).
        tenant: Read the thread only if it is this tenant's; another tenant's thread
            raises ``ThreadNotFoundError`` exactly like a missing one.
        budgets: Budgets whose standing to report (``RunReport.budgets``): each is
            read from its store for the report's run, thread or tenant, as ``per``
            says; one with no id to count under (a tenant budget on a thread with
            no tenant) is left out.

    Returns:
        The report; ``report.model_dump(mode="json")`` is plain JSON data.

    Raises:
        ThreadNotFoundError: No checkpoint for the thread (or not ``tenant``'s; or none
            written by ``run_id``).
        TypeError: ``source`` is neither a graph nor a checkpoint saver.
        ValueError: A ``status`` that is not a ``NodeStatus`` value.
    """
    statuses = None if status is None else [NodeStatus(s) for s in status]
    tenant = check_tenant(tenant, owner="run_report")
    if isinstance(config, str):
        config = {"configurable": {"thread_id": config}}
    thread_id = str((config.get("configurable") or {}).get("thread_id", ""))
    if not thread_id:
        raise ValueError("config must name a thread: {'configurable': {'thread_id': ...}}")
    cfg: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    graph_nodes: list[str] | None = None
    is_saver = isinstance(source, BaseCheckpointSaver)
    if not is_saver and not callable(getattr(source, "get_state_history", None)):
        raise TypeError(f"expected a compiled graph or a checkpoint saver, got {type(source)!r}")
    saver: Any = source if is_saver else getattr(source, "checkpointer", None)
    # The run's row before its checkpoints: a run writes its last checkpoint before its
    # final status, so a row that says the run ended comes with every step it took.
    row = _latest_run(saver, thread_id, run_id)
    if is_saver:
        steps, values = from_saver(source, cfg, run_id)
    else:
        steps, values = from_graph_saver(source, cfg, run_id) or from_graph(source, cfg, run_id)
        graph_nodes = [n for n in getattr(source, "nodes", {}) if not n.startswith("__")]
    if not steps:
        raise not_found(thread_id)
    if tenant is not None and _owner(saver, thread_id, steps[-1], row) != tenant:
        raise not_found(thread_id)  # another tenant's thread reads like a missing one
    report = _build(thread_id, steps, values, graph_nodes)
    report = _with_run(report, steps[-1], row, graph_nodes)
    drawing, times = stored(saver, row, steps)
    if times:
        live = NodeStatus.RUNNING if report.status is RunStatus.RUNNING else None
        nodes = with_times(report.nodes, steps, times, running=live)
        summary = {str(s): sum(n.status is s for n in nodes) for s in NodeStatus}
        report = report.model_copy(update={"nodes": nodes, "summary": summary})
    standing = _budget_standing(report, budgets)
    if standing:
        report = report.model_copy(update={"budgets": standing})
    if graph_nodes is not None:
        report._drawing = graph_drawing(source)
    elif drawing is not None:
        report._drawing = drawing  # the shape stored when the run started
    return report if statuses is None else report.filter(*statuses)


def _budget_standing(report: RunReport, budgets: Iterable[Budget]) -> list[dict[str, Any]]:
    """Each budget's status for the report's run, thread or tenant (JSON data)."""
    standing: list[dict[str, Any]] = []
    for budget in budgets:
        tenant = {budget.tenant_key: report.tenant} if report.tenant else {}
        scope = budget.scope_id(
            run=report.run_id, thread=report.thread_id, config={"configurable": tenant}
        )
        if scope is not None:
            standing.append(budget.status(scope)._asdict())
    return standing


def _owner(saver: Any, thread_id: str, latest: Step, row: RunRecord | None) -> str | None:
    """Whose thread it is: the database's owner row, else what its latest run says."""
    if isinstance(saver, BaseCheckpointSaver):
        recorded = owner(saver, thread_id)
        if recorded is not None:
            return recorded
    return latest.tenant or (row.tenant if row is not None else None)


def _latest_run(saver: Any, thread_id: str, run_id: str | None = None) -> RunRecord | None:
    """The thread's latest run in the runs table, or run ``run_id`` (None without one)."""
    if not isinstance(saver, BaseCheckpointSaver):
        return None
    try:
        store = open_run_store(saver)
    except Exception:  # the runs table is bookkeeping: the checkpoints still tell the rest
        return None
    if store is None:
        return None
    try:
        if run_id is not None:
            row = store.get(run_id)
            return row if row is not None and row.thread_id == thread_id else None
        return store.latest(thread_id)
    except Exception:  # an unreadable runs table never hides the checkpoints' report
        store.discard()
        return None
    finally:
        store.close()


_DONE = (NodeStatus.SUCCEEDED, NodeStatus.CACHED, NodeStatus.REUSED)
_STOPPED = {"failed": RunStatus.FAILED, "cancelled": RunStatus.CANCELLED}


def _with_run(
    report: RunReport, latest: Step, row: RunRecord | None, graph_nodes: list[str] | None
) -> RunReport:
    """What the runs table adds: how a run that stopped between steps ended, x of N."""
    update: dict[str, Any] = {"run_id": latest.run_id, "tenant": latest.tenant}
    if row is not None and row.run_id == latest.run_id:
        update["tenant"] = row.tenant or latest.tenant
        stopped = _STOPPED.get(row.status)
        if row.status == RunStatus.ABANDONED and report.status is RunStatus.RUNNING:
            # Its process died between steps: the checkpoints look unfinished for good.
            update["status"] = RunStatus.ABANDONED
            update["reason"] = row.reason
        elif stopped is not None and report.status in (
            RunStatus.RUNNING,
            RunStatus.COMPLETED,
            RunStatus.BLOCKED,
        ):
            # The run stopped after a failed step (or a cancel) between steps: its
            # checkpoints alone look unfinished (or finished); the run says how it ended.
            update["status"] = stopped
        if stopped is not None:
            update["reason"] = row.reason
    names = graph_nodes if graph_nodes is not None else list(row.nodes) if row else []
    seen = {n.name for n in report.nodes}
    if names:
        update["steps_total"] = len(set(names) | seen)
    update["steps_done"] = sum(n.status in _DONE for n in report.nodes)
    if names and graph_nodes is None:  # a bare saver: the steps that never started
        extra = [n for n in names if n not in seen]
        over = update.get("status", report.status) in (RunStatus.COMPLETED, RunStatus.BLOCKED)
        status = NodeStatus.SKIPPED if over else NodeStatus.PENDING
        nodes = [
            *report.nodes,
            *(NodeReport(name=n, status=status, attempts=0, runs=0) for n in extra),
        ]
        update["nodes"] = nodes
        update["summary"] = {str(s): sum(n.status is s for n in nodes) for s in NodeStatus}
    copy = report.model_copy(update=update)
    copy._drawing = report._drawing
    return copy


_FAILING = (NodeStatus.FAILED, NodeStatus.CANCELLED)


def _cause(own: list[dict[str, Any]], error: str | None) -> str | None:
    """The redacted cause of a failure: its latest unrecovered record, else the exception
    (a ``StateSchemaError``'s: the node's own error it names, then why it has no record)."""
    unrecovered = [r for r in own if not r.get("recovered")]
    cause = record_cause(unrecovered[-1]) if unrecovered else None
    if cause or not error:
        return cause
    unrecordable = _UNRECORDABLE.match(error)
    if unrecordable is not None:
        error = (
            f"{unrecordable['cause']} (StateSchemaError: not recorded, the graph state has no"
            f" {unrecordable['missing']} channel(s); build it on GraphState)"
        )
    return egress_text(error, max_length=300)


# The text a checkpoint keeps of a StateSchemaError that names the node's own error.
_UNRECORDABLE = re.compile(
    r"StateSchemaError\(.Node \\?'.*?\\?' failed \((?P<cause>.+?)\) and wants to record the"
    r" failure, but the graph state has no (?P<missing>.+?) channel\(s\)"
)


def _ms(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return round(delta.total_seconds() * 1000, 3)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return egress_text(repr(value))
    # JSON data too leaves through the egress point: a value under "password" goes.
    return egress(value, max_length=_INTERRUPT_TEXT)


_INTERRUPT_TEXT = 10_000  # an interrupt's longest text in a report


def _own(record: dict[str, Any], task: str) -> bool:
    """Whether a record in a task's writes is that task's own failure.

    Its node is the task's name, or the name it was built with
    (``create_node(name=...)``): any name without ``/``, since the records a
    subgraph passes up are named by their path (``child/inner``).
    """
    node = record.get("node")
    return node == task or (isinstance(node, str) and "/" not in node)


def _aliases(steps: list[Step]) -> dict[Any, str]:
    """Record node name -> graph node name, for nodes built with another ``name=``."""
    found: dict[Any, str] = {}
    for step in steps:
        for task in step.tasks:
            for record in task.records:
                node = record.get("node")
                if node != task.name and _own(record, task.name):
                    found.setdefault(node, task.name)
    return found


def _task_status(task: Task, step_done: bool) -> NodeStatus:
    if task.error is not None and not task.finished:
        return NodeStatus.CANCELLED if ABORTED.match(task.error) else NodeStatus.FAILED
    if step_done or task.finished:
        own = [r for r in task.records if _own(r, task.name)]
        unrecovered = [r for r in own if not r.get("recovered")]
        if unrecovered:
            aborted = unrecovered[-1].get("code") == "NODE_ABORTED"
            return NodeStatus.CANCELLED if aborted else NodeStatus.FAILED
        if task.cached:
            return NodeStatus.REUSED if task.reused else NodeStatus.CACHED
        return NodeStatus.SUCCEEDED
    return NodeStatus.INTERRUPTED if task.interrupts else NodeStatus.PENDING


_RANK = {
    NodeStatus.FAILED: 4,
    NodeStatus.CANCELLED: 3,
    NodeStatus.INTERRUPTED: 2,
    NodeStatus.PENDING: 1,
}


def _build(
    thread_id: str,
    steps: list[Step],
    values: Mapping[str, Any],
    graph_nodes: Iterable[str] | None,
) -> RunReport:
    latest = steps[-1]
    records = [r for r in read_records(values.get("errors")) if isinstance(r, dict)]
    records += [r for t in latest.tasks if t.finished for r in t.records]
    flags = values.get("routing_flags")
    blocked = bool(isinstance(flags, dict) and flags.get("blocked"))
    entries = _entries(steps)
    unfinished = [t for t in latest.tasks if not t.finished and not t.name.startswith("__")]
    interrupts = [i for t in unfinished if t.error is None for i in t.interrupts]
    run_status = _run_status(latest, unfinished, records, blocked)
    nodes = _node_reports(entries, records, _aliases(steps))
    if graph_nodes is not None:
        over = run_status in (RunStatus.COMPLETED, RunStatus.BLOCKED)
        never = NodeStatus.SKIPPED if over else NodeStatus.PENDING
        nodes += [
            NodeReport(name=n, status=never, attempts=0, runs=0)
            for n in graph_nodes
            if n not in entries
        ]
    return RunReport(
        thread_id=thread_id,
        checkpoint_id=latest.checkpoint_id,
        status=run_status,
        step=latest.step,
        started_at=steps[0].created_at,
        updated_at=latest.created_at,
        duration_ms=_ms(steps[0].created_at, latest.created_at),
        blocked=blocked,
        next=list(dict.fromkeys(t.name for t in unfinished)),
        interrupts=[{"id": i.id, "value": _jsonable(i.value)} for i in interrupts],
        errors=records,
        nodes=nodes,
        summary={str(s): sum(n.status is s for n in nodes) for s in NodeStatus},
        artifacts=dict(read_artifacts([values.get(ARTIFACTS_KEY)], ())),
    )


def _entries(steps: list[Step]) -> dict[str, dict[str, Any]]:
    """Per node, what its latest execution says (step, status, runs, times, error, artifacts)."""
    entries: dict[str, dict[str, Any]] = {}
    for i, st in enumerate(steps):
        child = steps[i + 1] if i + 1 < len(steps) else None
        # Only a "loop" child means the step ran to completion; after update_state,
        # a fork or new input, the step's unfinished tasks never ran.
        done = child is not None and child.source == "loop"
        finished_at = child.created_at if done and child else None
        for task in st.tasks:
            # A task of an earlier step that saved nothing never ran: after update_state,
            # a fork or new input; or a join the stored checkpoint shows ready too early
            # (with durability="async" LangGraph may save a barrier's later value).
            # A task that ran saved at least LangGraph's "no writes" marker.
            unrun = not task.finished and (not done or (task.error is None and not task.interrupts))
            if task.name.startswith("__") or (child and unrun):
                continue
            e = entries.setdefault(task.name, {"runs": 0, "step": None, "artifacts": {}})
            _add_task(e, st, task, done, finished_at)
    return entries


def _add_task(e: dict[str, Any], st: Step, task: Any, done: bool, finished_at: Any) -> None:
    """Fold one task of step ``st`` into its node's entry ``e``."""
    status = _task_status(task, done)
    raised = task.error is not None and not task.finished
    ran = (done or task.finished) and not raised
    if e["step"] != st.step:  # first task of this node in this step
        e.update(step=st.step, status=status, error=None, started_at=st.created_at)
    elif _RANK.get(status, 0) > _RANK.get(e["status"], 0):
        e["status"] = status
    e["runs"] += int(ran)
    e["finished_at"] = finished_at if ran else None
    e["error"] = task.error or e["error"]
    e["artifacts"].update(task.artifacts)
    if ran:
        e["marked"] = task.attempts


def _run_status(
    latest: Step, unfinished: list[Any], records: list[dict[str, Any]], blocked: bool
) -> RunStatus:
    """How the thread stands, from its latest checkpoint (see the module docstring)."""
    if any(t.error is None and t.interrupts for t in unfinished):
        return RunStatus.INTERRUPTED
    errored = [t.error for t in unfinished if t.error is not None]
    if errored:
        aborted = all(ABORTED.match(e) for e in errored)
        return RunStatus.CANCELLED if aborted else RunStatus.FAILED
    if latest.tasks:
        # A finished step always gets a new checkpoint, so any task left on the
        # latest one (even with all its writes saved) means the run is not over.
        return RunStatus.RUNNING
    if blocked and any(r.get("code") == "NODE_ABORTED" and not r.get("recovered") for r in records):
        return RunStatus.CANCELLED
    return RunStatus.BLOCKED if blocked else RunStatus.COMPLETED


def _node_reports(
    entries: dict[str, dict[str, Any]], records: list[dict[str, Any]], aliases: Mapping[Any, Any]
) -> list[NodeReport]:
    """One ``NodeReport`` per node that ran, with its own error records."""
    nodes = []
    for name, e in entries.items():
        own = [r for r in records if aliases.get(r.get("node"), r.get("node")) == name]
        ran = e["status"] is not NodeStatus.PENDING
        marked = e.pop("marked", None)
        attempts = int(own[-1].get("attempts") or 1) if own and ran else int(ran)
        if marked and ran and not own:
            attempts = marked  # retries that ended in success (step_marks)
        duration = _ms(e["started_at"], e["finished_at"])
        e["artifacts"].update(read_artifacts((), own))
        cause = _cause(own, e["error"]) if e["status"] in _FAILING else None
        nodes.append(
            NodeReport(
                name=name, attempts=attempts, duration_ms=duration, errors=own, cause=cause, **e
            )
        )
    return nodes
