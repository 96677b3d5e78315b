"""Run reports: what happened on one thread, read back from its checkpoints.

``run_report`` follows the thread's checkpoint chain (parent links from the latest
checkpoint, so abandoned fork branches are ignored). Each checkpoint opens a
superstep; its saved task writes say which tasks finished, raised or hit
``interrupt()``; tasks superseded by ``update_state``, a fork or new input never ran.
Overall status, first match wins: ``interrupted`` (a latest-step task waits on
``interrupt()``), ``failed`` (a latest-step task raised), ``running`` (the latest
step still has tasks: in progress, or the process died and
``graph.invoke(None, config)`` resumes it), ``blocked`` (done and
``routing_flags["blocked"]``), else ``completed``. Times are checkpoint times (a
node's step opens and closes with one), so parallel nodes share them. Only the
top-level graph is reported, not subgraph namespaces.

There is no ``cached`` node status: checkpoints do not say whether a node ran or
was served from a cache. A hit (``NodeCache`` or LangGraph's own ``CachePolicy``)
saves the same writes a run would, with no marker, so a cached node reports
``succeeded``. Hits are visible while the run happens: the ``node.cache_hit``
event, the metrics collector's ``cache_hits``, and (for ``CachePolicy`` only)
``{"__metadata__": {"cached": True}}`` in LangGraph's ``updates`` stream.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.types import Interrupt, PregelTask, StateSnapshot
from pydantic import BaseModel, ConfigDict, Field

from langgraph_runner.checkpoint_tasks import saved_tasks
from langgraph_runner.errors import LangGraphRunnerError
from langgraph_runner.sanitize import sanitize_message

__all__ = [
    "NodeReport",
    "NodeStatus",
    "RunReport",
    "RunStatus",
    "ThreadNotFoundError",
    "run_report",
]


class _StrEnum(str, enum.Enum):
    def __str__(self) -> str:
        return str(self.value)


class RunStatus(_StrEnum):
    """Overall state of a thread (see the module docstring for the rules)."""

    COMPLETED = "completed"
    FAILED = "failed"
    BLOCKED = "blocked"
    INTERRUPTED = "interrupted"
    RUNNING = "running"


class NodeStatus(_StrEnum):
    """State of one node's latest execution on a thread."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    PENDING = "pending"
    INTERRUPTED = "interrupted"


class ThreadNotFoundError(LangGraphRunnerError, LookupError):
    """The checkpointer holds no checkpoint for the requested thread."""


class NodeReport(BaseModel):
    """One node's line in a ``RunReport``."""

    model_config = ConfigDict(frozen=True)

    name: str
    status: NodeStatus
    attempts: int = Field(ge=0, description="From its latest error record, else 1 if run, else 0.")
    runs: int = Field(ge=0, description="Executions that finished (loops and Send fan-out add up).")
    step: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: float | None = None
    error: str | None = Field(default=None, description="Sanitized exception the task raised.")
    errors: list[dict[str, Any]] = Field(default_factory=list)


class RunReport(BaseModel):
    """What happened on one thread: overall status and one entry per node."""

    model_config = ConfigDict(frozen=True)

    thread_id: str
    checkpoint_id: str
    status: RunStatus
    step: int
    started_at: str | None = None
    updated_at: str | None = None
    duration_ms: float | None = None
    blocked: bool = False
    next: list[str] = Field(default_factory=list)
    interrupts: list[dict[str, Any]] = Field(default_factory=list)
    errors: list[dict[str, Any]] = Field(default_factory=list)
    nodes: list[NodeReport] = Field(default_factory=list)

    def node(self, name: str) -> NodeReport:
        """Return the entry for node ``name`` (KeyError if it is not in the report)."""
        for entry in self.nodes:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def to_table(self) -> str:
        """Render a fixed-width text table, one row per node."""
        head = f"thread {self.thread_id}: {self.status} at step {self.step}"
        if self.duration_ms is not None:
            head += f", {self.duration_ms:.0f} ms"
        cols = ("NODE", "STATUS", "ATTEMPTS", "RUNS", "STEP", "STARTED", "DURATION_MS", "ERROR")
        rows = [cols] + [_row(n) for n in self.nodes]
        widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
        lines = [head, ""]
        lines += [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        if self.next:
            lines.append(f"next: {', '.join(self.next)}")
        if self.interrupts:
            lines.append(f"pending interrupts: {len(self.interrupts)}")
        return "\n".join(lines) + "\n"


def _row(n: NodeReport) -> tuple[str, ...]:
    err = n.error or ""
    if n.errors:
        last = n.errors[-1]
        err = f"{last.get('code', '')}: {last.get('message', '')}".strip(": ")
    if len(err) > 60:
        err = err[:57] + "..."
    dur = "" if n.duration_ms is None else f"{n.duration_ms:.1f}"
    step = "" if n.step is None else str(n.step)
    started = n.started_at or ""
    return (n.name, str(n.status), str(n.attempts), str(n.runs), step, started, dur, err)


@dataclass(frozen=True)
class _Task:
    name: str
    finished: bool
    error: str | None = None
    interrupts: tuple[Interrupt, ...] = ()
    records: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class _Step:
    step: int
    source: str  # "input", "loop", "update" or "fork" (checkpoint metadata)
    checkpoint_id: str
    created_at: str | None
    tasks: tuple[_Task, ...]  # sorted by name, so both sources list nodes alike


def run_report(source: Any, config: Mapping[str, Any] | str) -> RunReport:
    """Build a ``RunReport`` for one thread.

    Args:
        source: A compiled graph with a checkpointer (read through
            ``get_state_history``; reports never-run nodes as skipped) or a bare
            LangGraph checkpoint saver (read through ``list``; no graph import
            needed, nodes are those seen in the history).
        config: ``{"configurable": {"thread_id": ...}}`` or the thread id.

    Returns:
        The report; ``report.model_dump(mode="json")`` is plain JSON data.

    Raises:
        ThreadNotFoundError: No checkpoint for the thread.
        TypeError: ``source`` is neither a graph nor a checkpoint saver.
    """
    if isinstance(config, str):
        config = {"configurable": {"thread_id": config}}
    thread_id = str((config.get("configurable") or {}).get("thread_id", ""))
    if not thread_id:
        raise ValueError("config must name a thread: {'configurable': {'thread_id': ...}}")
    cfg: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    graph_nodes: list[str] | None = None
    if isinstance(source, BaseCheckpointSaver):
        steps, values = _from_saver(source, cfg)
    elif callable(getattr(source, "get_state_history", None)):
        steps, values = _from_graph(source, cfg)
        graph_nodes = [n for n in getattr(source, "nodes", {}) if not n.startswith("__")]
    else:
        raise TypeError(f"expected a compiled graph or a checkpoint saver, got {type(source)!r}")
    if not steps:
        raise ThreadNotFoundError(f"no checkpoints for thread {thread_id!r}")
    return _build(thread_id, steps, values, graph_nodes)


def _chain(items: Sequence[Any], key: Any, parent: Any) -> list[Any]:
    """Latest item back through parent links, returned oldest first."""
    by_id = {key(i): i for i in items}
    out, cur = [], items[0] if items else None
    while cur is not None:
        out.append(cur)
        pid = parent(cur)
        cur = by_id.get(pid) if pid else None
    return out[::-1]


def _cid(cfg: RunnableConfig | None) -> str | None:
    return None if cfg is None else (cfg.get("configurable") or {}).get("checkpoint_id")


def _from_graph(graph: Any, cfg: RunnableConfig) -> tuple[list[_Step], dict[str, Any]]:
    snaps: list[StateSnapshot] = _chain(
        list(graph.get_state_history(cfg)),
        lambda s: _cid(s.config),
        lambda s: _cid(s.parent_config),
    )
    steps = [
        _step(s.metadata, _cid(s.config), s.created_at, map(_graph_task, s.tasks)) for s in snaps
    ]
    values = snaps[-1].values if snaps and isinstance(snaps[-1].values, dict) else {}
    return steps, values


def _graph_task(t: PregelTask) -> _Task:
    result = t.result.get("errors") if isinstance(t.result, dict) else None
    error = None if t.error is None else _error_text(t.error)
    return _Task(t.name, t.result is not None, error, tuple(t.interrupts), _records(result))


def _step(md: Mapping[str, Any] | None, cid: Any, ts: str | None, tasks: Iterable[_Task]) -> _Step:
    md = md or {}
    ordered = tuple(sorted(tasks, key=lambda t: t.name))
    return _Step(int(md.get("step", -1)), str(md.get("source", "loop")), str(cid), ts, ordered)


def _from_saver(
    saver: BaseCheckpointSaver[Any], cfg: RunnableConfig
) -> tuple[list[_Step], dict[str, Any]]:
    tuples: list[CheckpointTuple] = _chain(
        list(saver.list(cfg)), lambda t: _cid(t.config), lambda t: _cid(t.parent_config)
    )
    steps = [_saver_step(t) for t in tuples]
    values = dict(tuples[-1].checkpoint["channel_values"]) if tuples else {}
    return steps, values


def _saver_step(tup: CheckpointTuple) -> _Step:
    tasks = [
        _Task(
            t.name,
            t.finished,
            None if t.error is None else _error_text(t.error),
            t.interrupts,
            _records([v for c, v in t.writes if c == "errors"]),
        )
        for t in saved_tasks(tup)
    ]
    return _step(tup.metadata, tup.checkpoint["id"], tup.checkpoint.get("ts"), tasks)


def _records(value: Any) -> tuple[dict[str, Any], ...]:
    """Flatten error records out of a channel write (a list, nested lists, {'$writes': [...]})."""
    if isinstance(value, dict):
        if "$writes" in value:
            return _records(value["$writes"])
        return (value,) if "node" in value else ()
    if isinstance(value, (list, tuple)):
        return tuple(r for item in value for r in _records(item))
    return ()


def _error_text(error: Any) -> str:
    return sanitize_message(repr(error) if isinstance(error, BaseException) else error)


def _ms(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return round(delta.total_seconds() * 1000, 3)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return sanitize_message(repr(value))
    return value


def _task_status(task: _Task, step_done: bool) -> NodeStatus:
    if task.error is not None and not task.finished:
        return NodeStatus.FAILED
    if step_done or task.finished:
        own = [r for r in task.records if r.get("node") == task.name]
        return (
            NodeStatus.FAILED if any(not r.get("recovered") for r in own) else NodeStatus.SUCCEEDED
        )
    return NodeStatus.INTERRUPTED if task.interrupts else NodeStatus.PENDING


_RANK = {NodeStatus.FAILED: 3, NodeStatus.INTERRUPTED: 2, NodeStatus.PENDING: 1}


def _build(
    thread_id: str,
    steps: list[_Step],
    values: Mapping[str, Any],
    graph_nodes: Iterable[str] | None,
) -> RunReport:
    latest = steps[-1]
    records = [r for r in _records(values.get("errors")) if isinstance(r, dict)]
    records += [r for t in latest.tasks if t.finished for r in t.records]
    flags = values.get("routing_flags")
    blocked = bool(isinstance(flags, dict) and flags.get("blocked"))
    entries: dict[str, dict[str, Any]] = {}
    for i, st in enumerate(steps):
        child = steps[i + 1] if i + 1 < len(steps) else None
        # Only a "loop" child means the step ran to completion; after update_state,
        # a fork or new input, the step's unfinished tasks never ran.
        done = child is not None and child.source == "loop"
        finished_at = child.created_at if done and child else None
        for task in st.tasks:
            if task.name.startswith("__") or (child and not done and not task.finished):
                continue
            status = _task_status(task, done)
            raised = task.error is not None and not task.finished
            ran = (done or task.finished) and not raised
            e = entries.setdefault(task.name, {"runs": 0, "step": None})
            if e["step"] != st.step:  # first task of this node in this step
                e.update(step=st.step, status=status, error=None, started_at=st.created_at)
            elif _RANK.get(status, 0) > _RANK.get(e["status"], 0):
                e["status"] = status
            e["runs"] += int(ran)
            e["finished_at"] = finished_at if ran else None
            e["error"] = task.error or e["error"]
    unfinished = [t for t in latest.tasks if not t.finished and not t.name.startswith("__")]
    interrupts = [i for t in unfinished if t.error is None for i in t.interrupts]
    if interrupts:
        run_status = RunStatus.INTERRUPTED
    elif any(t.error is not None for t in unfinished):
        run_status = RunStatus.FAILED
    elif latest.tasks:
        # A finished step always gets a new checkpoint, so any task left on the
        # latest one (even with all its writes saved) means the run is not over.
        run_status = RunStatus.RUNNING
    else:
        run_status = RunStatus.BLOCKED if blocked else RunStatus.COMPLETED
    nodes = []
    for name, e in entries.items():
        own = [r for r in records if r.get("node") == name]
        ran = e["status"] is not NodeStatus.PENDING
        attempts = int(own[-1].get("attempts") or 1) if own and ran else int(ran)
        duration = _ms(e["started_at"], e["finished_at"])
        nodes.append(
            NodeReport(name=name, attempts=attempts, duration_ms=duration, errors=own, **e)
        )
    if graph_nodes is not None and run_status in (RunStatus.COMPLETED, RunStatus.BLOCKED):
        nodes += [
            NodeReport(name=n, status=NodeStatus.SKIPPED, attempts=0, runs=0)
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
    )
