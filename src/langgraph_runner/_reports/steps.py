"""Read one thread's supersteps back from a compiled graph or a bare checkpoint saver.

Private helper of ``langgraph_runner._reports.report``: each checkpoint of the thread's chain
becomes a ``_Step`` whose ``_Task``s say what each task saved (finished, raised,
interrupted, error records, artifacts, cache-hit marker).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.graph import StateGraph
from langgraph.types import Interrupt, PregelTask, Send, StateSnapshot

from langgraph_runner._internal.compat import TASKS
from langgraph_runner._records.sanitize import sanitize_message
from langgraph_runner._runs.checkpoint_tasks import saved_tasks
from langgraph_runner._state.bounded import saved_records

ARTIFACTS_KEY = "artifact_paths"
CACHE_HITS_KEY = "cache_hits"
STEP_MARKS_KEY = "step_marks"
RUN_ID_KEY = "langgraph_runner_run_id"  # checkpoint metadata (run_store.RUN_ID_METADATA_KEY)
TENANT_KEY = "tenant_id"  # checkpoint metadata, from config["configurable"]
BASE_THREAD_KEY = "langgraph_runner_base_thread_id"  # a rebuild's checkpoints carry it


@dataclass(frozen=True)
class Task:
    name: str
    finished: bool
    error: str | None = None
    interrupts: tuple[Interrupt, ...] = ()
    records: tuple[dict[str, Any], ...] = ()
    artifacts: tuple[tuple[str, str], ...] = ()
    cached: bool = False
    reused: bool = False  # served from a rebuild's base run (step_marks)
    attempts: int | None = None  # attempts of a success after retries (step_marks)


@dataclass(frozen=True)
class Step:
    step: int
    source: str  # "input", "loop", "update" or "fork" (checkpoint metadata)
    checkpoint_id: str
    created_at: str | None
    tasks: tuple[Task, ...]  # sorted by name, so both sources list nodes alike
    run_id: str | None = None  # the run() that wrote the checkpoint
    tenant: str | None = None
    rebuild_of: str | None = None  # a rebuild's base thread


class _Saved(Protocol):
    """A checkpoint as ``get_state_history`` (a snapshot) or ``saver.list`` (a tuple) gives it."""

    @property
    def config(self) -> RunnableConfig: ...

    @property
    def parent_config(self) -> RunnableConfig | None: ...

    @property
    def metadata(self) -> Any: ...


T = TypeVar("T", bound=_Saved)


def _run_chain(newest_first: Sequence[T], run_id: str | None) -> list[T]:
    """The thread's checkpoints (snapshots or saver tuples, newest first) as one chain,
    oldest first, from the latest back through parent links: run ``run_id``'s steps
    (all without one)."""
    items = _newest_of_run(newest_first, run_id)
    by_id = {_cid(i.config): i for i in items}
    out, cur = [], items[0] if items else None
    while cur is not None:
        out.append(cur)
        pid = _cid(cur.parent_config)
        cur = by_id.get(pid) if pid else None
    return _own_run(out[::-1], run_id)


def _newest_of_run(items: Sequence[T], run_id: str | None) -> Sequence[T]:
    """``items`` (newest first) from the newest one run ``run_id`` wrote (all without one;
    none when the run wrote none): later runs on the thread are not its steps."""
    if run_id is None:
        return items
    for i, item in enumerate(items):
        if (item.metadata or {}).get(RUN_ID_KEY) == run_id:
            return items[i:]
    return []


def _own_run(chain: list[T], run_id: str | None) -> list[T]:
    """``chain`` (oldest first) from the first checkpoint run ``run_id`` wrote: earlier
    runs on the thread are not its steps. A run that resumed an earlier run's step (its
    first checkpoint is not an ``input`` one) keeps that step: it ran its tasks."""
    if run_id is None:
        return chain
    for i, item in enumerate(chain):
        md = item.metadata or {}
        if md.get(RUN_ID_KEY) == run_id:
            return chain[i - 1 :] if i > 0 and md.get("source") != "input" else chain[i:]
    return []


def _cid(cfg: RunnableConfig | None) -> str | None:
    return None if cfg is None else (cfg.get("configurable") or {}).get("checkpoint_id")


def from_graph(
    graph: Any, cfg: RunnableConfig, run_id: str | None = None
) -> tuple[list[Step], dict[str, Any]]:
    """The thread's steps through the graph (``run_id``: only that run's, see ``_own_run``)."""
    snaps: list[StateSnapshot] = _run_chain(list(graph.get_state_history(cfg)), run_id)
    steps = [
        _step(s.metadata, _cid(s.config), s.created_at, map(_graph_task, s.tasks)) for s in snaps
    ]
    values = snaps[-1].values if snaps and isinstance(snaps[-1].values, dict) else {}
    return steps, values


def from_graph_saver(
    graph: Any, cfg: RunnableConfig, run_id: str | None = None
) -> tuple[list[Step], dict[str, Any]] | None:
    """The same as ``from_graph``, reading the history from the graph's saver.

    ``get_state_history`` rebuilds every checkpoint's tasks through the graph
    (about 0.2 ms each); decoding them from the saver's writes is several times
    faster. The latest step, which decides the run's status, still comes from the
    graph (``get_state_history(limit=1)``). None, so the caller reads the graph instead, when the
    graph is not a StateGraph with a checkpoint saver, a task of the history cannot
    be named from its checkpoint, or a new checkpoint lands while reading.
    """
    saver = getattr(graph, "checkpointer", None)
    if not isinstance(saver, BaseCheckpointSaver) or not isinstance(
        getattr(graph, "builder", None), StateGraph
    ):
        return None
    steps, _ = from_saver(saver, cfg, run_id)
    if not steps:
        return steps, {}
    if any(t.name.startswith("<task ") for st in steps[:-1] for t in st.tasks):
        return None
    # The latest snapshot as get_state_history gives it: values without the pending
    # writes of the step's finished tasks (get_state applies them). One run's: its last.
    last = cfg
    if run_id is not None:
        conf = {**(cfg.get("configurable") or {}), "checkpoint_id": steps[-1].checkpoint_id}
        last = {"configurable": conf}
    latest = next(iter(graph.get_state_history(last, limit=1)), None)
    if latest is None or _cid(latest.config) != steps[-1].checkpoint_id:
        return None
    steps[-1] = _step(
        latest.metadata, _cid(latest.config), latest.created_at, map(_graph_task, latest.tasks)
    )
    return steps, latest.values if isinstance(latest.values, dict) else {}


def _graph_task(t: PregelTask) -> Task:
    out = t.result if isinstance(t.result, dict) else {}
    error = None if t.error is None else error_text(t.error)
    records = read_records(out.get("errors"))
    mark = read_mark(t.name, [out.get(STEP_MARKS_KEY)])
    return Task(
        t.name,
        t.result is not None,
        error,
        tuple(t.interrupts),
        records,
        read_artifacts([out.get(ARTIFACTS_KEY)], records),
        _cached(t.name, [out.get(CACHE_HITS_KEY)]) or mark.get("cache") in ("hit", "reused"),
        mark.get("cache") == "reused",
        _int(mark.get("attempts")),
    )


def _step(md: Mapping[str, Any] | None, cid: Any, ts: str | None, tasks: Iterable[Task]) -> Step:
    md = md or {}
    ordered = tuple(sorted(tasks, key=lambda t: t.name))
    return Step(
        int(md.get("step", -1)),
        str(md.get("source", "loop")),
        str(cid),
        ts,
        ordered,
        _str(md.get(RUN_ID_KEY)),
        _str(md.get(TENANT_KEY)),
        _str(md.get(BASE_THREAD_KEY)),
    )


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def from_saver(
    saver: BaseCheckpointSaver[Any], cfg: RunnableConfig, run_id: str | None = None
) -> tuple[list[Step], dict[str, Any]]:
    """The thread's steps from the saver (``run_id``: only that run's, see ``_own_run``)."""
    tuples: list[CheckpointTuple] = _run_chain(list(saver.list(cfg)), run_id)
    steps = [
        _saver_step(t, _ran_unsaved(t, tuples[i + 1] if i + 1 < len(tuples) else None))
        for i, t in enumerate(tuples)
    ]
    values = dict(tuples[-1].checkpoint["channel_values"]) if tuples else {}
    return steps, values


def _ran_unsaved(tup: CheckpointTuple, child: CheckpointTuple | None) -> frozenset[str]:
    """Nodes the checkpoint's step ran, as its next checkpoint shows, saved writes or not.

    With ``durability="async"`` LangGraph saves a task's writes and the next
    checkpoint in parallel: a process killed between the two leaves the next
    checkpoint (the step's outcome is in it) without the writes of the task that
    finished last, which would read as a task that never ran. The next checkpoint of
    the loop tells: a node that ran in the step consumed its triggers, so its
    ``versions_seen`` changed; a ``Send`` packet's task ran if the step was followed by
    the loop at all. A join the stored checkpoint shows ready too early (a barrier's
    later value) consumed nothing, so it still reads as not run.
    """
    if child is None or (child.metadata or {}).get("source") != "loop":
        return frozenset()
    before = tup.checkpoint.get("versions_seen") or {}
    after = child.checkpoint.get("versions_seen") or {}
    ran = {name for name, seen in after.items() if seen != before.get(name)}
    packets = tup.checkpoint.get("channel_values", {}).get(TASKS) or ()
    ran.update(p.node for p in packets if isinstance(p, Send))
    return frozenset(ran)


def _saver_step(tup: CheckpointTuple, ran_unsaved: frozenset[str] = frozenset()) -> Step:
    tasks = []
    for t in saved_tasks(tup):
        records = read_records([v for c, v in t.writes if c == "errors"])
        mark = read_mark(t.name, [v for c, v in t.writes if c == STEP_MARKS_KEY])
        finished = t.finished or (
            t.error is None and not t.interrupts and t.name in ran_unsaved
        )  # its writes lost to a crash, its outcome in the next checkpoint
        tasks.append(
            Task(
                t.name,
                finished,
                None if t.error is None else error_text(t.error),
                t.interrupts,
                records,
                read_artifacts([v for c, v in t.writes if c == ARTIFACTS_KEY], records),
                _cached(t.name, [v for c, v in t.writes if c == CACHE_HITS_KEY])
                or mark.get("cache") in ("hit", "reused"),
                mark.get("cache") == "reused",
                _int(mark.get("attempts")),
            )
        )
    return _step(tup.metadata, tup.checkpoint["id"], tup.checkpoint.get("ts"), tasks)


def read_records(value: Any) -> tuple[dict[str, Any], ...]:
    """Flatten error records out of a channel write (a list, nested lists, {'$writes': [...]})."""
    if isinstance(value, dict):
        if "$writes" in value:
            return read_records(value["$writes"])
        saved = saved_records(value)  # the bounded errors channel's checkpoint
        if saved is not None:
            return read_records(saved)
        return (value,) if "node" in value else ()
    if isinstance(value, (list, tuple)):
        return tuple(r for item in value for r in read_records(item))
    return ()


def read_artifacts(writes: Iterable[Any], records: Iterable[Mapping[str, Any]]) -> tuple[Any, ...]:
    """(name, path) pairs from ``artifact_paths`` writes and records; None removes a name."""
    out: dict[str, str] = {}
    for value in [*writes, *(r.get(ARTIFACTS_KEY) for r in records)]:
        if isinstance(value, Mapping):
            for name, path in value.items():
                if path is None:
                    out.pop(str(name), None)
                else:
                    out[str(name)] = str(path)
    return tuple(out.items())


def read_mark(name: str, writes: Iterable[Any]) -> dict[str, Any]:
    """What ``step_marks`` writes say about node ``name`` (the latest write wins)."""
    out: dict[str, Any] = {}
    for value in writes:
        if isinstance(value, Mapping) and isinstance(value.get(name), Mapping):
            out = dict(value[name])
    return out


def _cached(name: str, writes: Iterable[Any]) -> bool:
    for value in writes:
        names = [value] if isinstance(value, str) else value
        if isinstance(names, (list, tuple)) and name in names:
            return True
    return False


ABORTED = re.compile(r"^(NodeAbortedError|CancelledError)\(")


def error_text(error: Any) -> str:
    return sanitize_message(repr(error) if isinstance(error, BaseException) else error)
