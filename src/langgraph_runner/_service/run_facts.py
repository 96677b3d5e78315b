"""What the service adds to a run's detail: its input and output, its worker, its attempts.

- ``input``: the run as queued (``POST /runs``'s input; ``{"resume": value}`` for a
  resume; a rebuild's ``{"change": ...}``), redacted through ``egress`` like every
  record the package writes;
- ``output``: the state at the run's own last checkpoint (not a later run's on its
  thread), once the run ended, redacted the same way;
- ``worker``: the state of the worker process holding a running run (``liveness``): a
  run whose worker missed its heartbeat reads ``worker: dead`` at once;
- a step's attempts in its latest execution, from what the run keeps. A run keeps each
  attempt of a wrapped node that failed (``task_times.AttemptLog``: its own record's
  code, category, error type and redacted message, its start and end) and the attempt
  that ended the step, ``ATTEMPTS_KEPT`` at most (the first and the latest ones: the
  numbers say which were left out); a step whose next attempt is under way shows it
  ``running``. A step with nothing kept (it never failed, a graph node without
  ``create_node``, LangGraph's ``RetryPolicy``, a run from before) is read from the run's
  checkpoints and records as before: its attempts before the last read ``retried`` with
  no error, and the last carries the step's outcome, its error record (a node with no
  record: its redacted exception as the message) and its times.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_runner._rebuild.history import run_checkpoint
from langgraph_runner._records.egress import egress
from langgraph_runner._reports.report_types import NodeReport
from langgraph_runner._reports.stored import iso_time
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.task_times import ATTEMPTS_KEPT, load_attempts
from langgraph_runner._service.liveness import worker_states
from langgraph_runner._service.schemas import AttemptBody, RunDetail, RunSummary
from langgraph_runner._service.workers import Workers

__all__ = ["MAX_SHOWN", "attempts_of", "kept_attempts", "with_io", "with_workers", "worker_state"]

MAX_SHOWN = 256 * 1024
"""The largest input or output shown, in characters of JSON; a larger one reads as a note."""
_LIVE = ("pending", "running")
_KEPT = {"succeeded", "failed", "cancelled", "interrupted", "running", "cached", "reused"}


def worker_state(pool: Workers, run_id: str, status: str) -> str | None:
    """The state of the worker holding a live run (None: none holds it, or it ended)."""
    if status not in _LIVE:
        return None
    return worker_states(pool.queue, [run_id]).get(run_id)


def with_workers(pool: Workers, rows: list[RunSummary]) -> list[RunSummary]:
    """Listed runs, each running one with its worker's state (one query for the page)."""
    states = worker_states(pool.queue, [r.run_id for r in rows if r.status in _LIVE])
    return [
        r.model_copy(update={"worker": states[r.run_id]}) if r.run_id in states else r for r in rows
    ]


def with_io(pool: Workers, graphs: Mapping[str, Any], detail: RunDetail, tenant: str) -> RunDetail:
    """``detail`` with the run's ``input`` and (once it ended) ``output``, redacted."""
    item = pool.queue.get(detail.run_id)
    inp: Any = None
    if item is not None and item.tenant == tenant:
        change = item.change or {}
        if change.get("kind") == "resume":
            inp = {"resume": change.get("value")}
        elif "inputs" in change:
            inp = {"change": {"inputs": change.get("inputs"), "versions": change.get("versions")}}
        elif not change:
            inp = item.input
    output = None if detail.status in _LIVE else _output(pool, graphs, detail)
    return detail.model_copy(update={"input": _shown(inp), "output": _shown(output)})


def _output(pool: Workers, graphs: Mapping[str, Any], detail: RunDetail) -> Any:
    graph = graphs.get(detail.workflow or "")
    store = open_run_store(pool.saver)
    if graph is None or store is None:
        return None
    try:
        row = store.get(detail.run_id)
    finally:
        store.close()
    if row is None or not row.thread_id:
        return None
    checkpoint = run_checkpoint(pool.saver, row.thread_id, row.run_id)
    if checkpoint is None:
        return None
    config = {"configurable": {"thread_id": row.thread_id, "checkpoint_id": checkpoint}}
    return graph.get_state(config).values


def _shown(value: Any) -> Any:
    """``value`` redacted and made plain JSON (a non-JSON leaf reads as its redacted repr)."""
    if value is None:
        return None
    text = json.dumps(egress(value), default=lambda o: egress(repr(o)))
    if len(text) > MAX_SHOWN:
        return {"truncated": f"{len(text)} characters of JSON, over the {MAX_SHOWN} shown"}
    return json.loads(text)


def kept_attempts(saver: Any, run_id: str, node: str, step: int | None) -> list[dict[str, Any]]:
    """The attempts run ``run_id`` kept of ``node`` in ``step`` (none: nothing kept, or an
    unreadable table: the checkpoints still tell the rest)."""
    store = None if step is None else open_run_store(saver)
    if store is None or step is None:
        return []
    try:
        return load_attempts(store, run_id, node, step)
    except Exception:  # bookkeeping only
        store.discard()
        return []
    finally:
        store.close()


def attempts_of(node: NodeReport, kept: Sequence[Mapping[str, Any]] = ()) -> list[AttemptBody]:
    """A step's attempts in a run: ``kept`` (``kept_attempts``) when the run kept any, else
    read from its report (see the module docstring)."""
    found = [_kept(a) for a in kept if isinstance(a.get("number"), int) and a["number"] >= 1]
    if found:
        last = kept[-1]
        if str(node.status) == "running" and last.get("outcome") == "retried":
            start = _float(last.get("ended_at"))
            wait = _float(last.get("wait")) or 0.0
            found.append(
                AttemptBody(
                    number=found[-1].number + 1,
                    outcome="running",
                    started_at=None if start is None else iso_time(start + wait),
                    task_id=found[-1].task_id,
                )
            )
        return found
    if node.attempts < 1:
        return []
    record = node.errors[-1] if node.errors else None
    status = str(node.status)
    outcome = status if status in _KEPT else "failed"
    if record is not None and record.get("recovered"):
        outcome = "recovered"
    first = ATTEMPTS_KEPT // 2  # as a run keeps them: the first ones and the latest
    found = [
        AttemptBody(number=n, outcome="retried")
        for n in range(1, node.attempts)
        if n <= first or n > node.attempts - (ATTEMPTS_KEPT - first)
    ]
    failing = record is not None and outcome in ("failed", "recovered", "cancelled")
    cause = node.cause if outcome in ("failed", "cancelled") else None  # no record: the error
    found.append(
        AttemptBody(
            number=node.attempts,
            outcome=outcome,
            code=str(record.get("code")) if failing and record else None,
            category=str(record.get("category")) if failing and record else None,
            error_type=str(record.get("error_type")) if failing and record else None,
            message=str(egress(record.get("message"))) if failing and record else cause,
            started_at=node.started_at,
            ended_at=node.finished_at or (str(record.get("timestamp")) if record else None),
            duration_ms=node.duration_ms if node.finished_at else None,
        )
    )
    return found


def _kept(attempt: Mapping[str, Any]) -> AttemptBody:
    """One attempt a run kept, as the API shows it (its record read through ``egress``)."""
    start, end = _float(attempt.get("started_at")), _float(attempt.get("ended_at"))

    def text(field: str) -> str | None:
        value = attempt.get(field)
        return None if value is None else str(egress(str(value)))

    return AttemptBody(
        number=int(attempt["number"]),
        outcome=str(attempt.get("outcome") or "failed"),
        code=text("code"),
        category=text("category"),
        error_type=text("error_type"),
        message=text("message"),
        started_at=None if start is None else iso_time(start),
        ended_at=None if end is None else iso_time(end),
        duration_ms=None if start is None or end is None else round(max(end - start, 0) * 1000, 3),
        task_id=text("task"),
    )


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
