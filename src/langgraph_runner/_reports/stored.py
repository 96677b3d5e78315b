"""What a report reads beside the checkpoints: the graph's stored shape, each node's own times.

Private helper of ``langgraph_runner._reports.report``. Both are bookkeeping written by
``run()`` (``graph_shape``, ``task_times``): a report without them (a graph invoked
without ``run()``, an unreadable table) falls back to the execution order and the
steps' checkpoint times. A node's time row also says when its cache served it: a node
its checkpoint shows ``succeeded`` (a state without the ``step_marks``/``cache_hits``
channels cannot say more) reads ``cached`` or ``reused`` from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar

from langgraph.checkpoint.base import BaseCheckpointSaver

from langgraph_runner._reports.report_types import NodeStatus
from langgraph_runner._reports.steps import Step
from langgraph_runner._runs.graph_shape import load_shape
from langgraph_runner._runs.run_store import RunRecord
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.task_times import load_rows

__all__ = ["iso_time", "stored", "with_times"]

_Node = TypeVar("_Node", bound="_Copyable")


class _Copyable(Protocol):
    """A report node: a pydantic model whose copy takes an update."""

    def model_copy(self: _Node, *, update: Mapping[str, Any] | None = None) -> _Node: ...


def stored(
    saver: Any, row: RunRecord | None, steps: Sequence[Step]
) -> tuple[dict[str, Any] | None, dict[str, dict[Any, Any]]]:
    """The graph's stored shape (the latest run's) and the node time rows of the thread's
    runs (``task_times.load_rows``)."""
    run_ids = {st.run_id for st in steps if st.run_id}
    if not isinstance(saver, BaseCheckpointSaver) or (not run_ids and row is None):
        return None, {}
    try:
        store = open_run_store(saver)
    except Exception:  # bookkeeping only: the checkpoints still tell the rest
        return None, {}
    if store is None:
        return None, {}
    drawing: dict[str, Any] | None = None
    times: dict[str, dict[Any, Any]] = {}
    try:
        if row is not None and row.shape:
            drawing = load_shape(store, row.shape)
        if run_ids:
            times = load_rows(store, run_ids)
    except Exception:  # an unreadable table never hides the checkpoints' report
        store.discard()
    finally:
        store.close()
    return drawing, times


_SERVED = {"cached": NodeStatus.CACHED, "reused": NodeStatus.REUSED}


def iso_time(epoch: float) -> str:
    """An epoch time as the reports and the service show it (ISO-8601, UTC)."""
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def with_times(
    nodes: Sequence[_Node],
    steps: Sequence[Step],
    times: Mapping[str, Mapping[Any, Any]],
    running: Any = None,
) -> list[_Node]:
    """Each node's own start, end and duration, where its run recorded them; ``cached``
    or ``reused`` for a node the checkpoint says ``succeeded`` whose cache served it.

    ``nodes`` are ``NodeReport``s (``name``, ``step``, ``status``, ``finished_at``,
    ``model_copy``); ``times`` rows of ``task_times.load_rows``. ``running``: the status a
    pending node gets when its run recorded its start and no end (None: the run is over,
    nothing is under way).
    """
    run_of = {st.step: st.run_id for st in steps}
    out: list[_Node] = []
    for n in nodes:
        name, step = getattr(n, "name", None), getattr(n, "step", None)
        # The run that closed the step ran its tasks (a resume runs an earlier run's step).
        runs = [] if step is None else [run_of.get(step + 1), run_of.get(step)]
        found = (times[r].get((name, step)) for r in runs if r is not None and r in times)
        own = next((f for f in found if f is not None), None)
        if own is None:
            out.append(n)
            continue
        start, end, served, tries = own
        update: dict[str, Any] = {"started_at": iso_time(start)}
        if tries > (getattr(n, "attempts", 0) or 0):  # the run kept more than the state told
            update["attempts"] = tries
        status = str(getattr(n, "status", ""))
        pending = status == "pending"
        if served in _SERVED and status == "succeeded":
            update["status"] = _SERVED[served]
        if end is not None and (getattr(n, "finished_at", None) is not None or not pending):
            # ended: its step closed, or it saved its writes while a sibling still runs
            update["finished_at"] = iso_time(end)
            update["duration_ms"] = round((end - start) * 1000, 3)
        elif end is None and pending and running is not None:
            update["status"] = running
        out.append(n.model_copy(update=update))
    return out
