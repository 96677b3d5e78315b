"""What the service adds to a run's detail: its input and output, its worker, its attempts.

- ``input``: the run as queued (``POST /runs``'s input; ``{"resume": value}`` for a
  resume; a rebuild's ``{"change": ...}``), redacted through ``egress`` like every
  record the package writes;
- ``output``: the state at the run's own last checkpoint (not a later run's on its
  thread), once the run ended, redacted the same way;
- ``worker``: the state of the worker process holding a running run (``liveness``): a
  run whose worker missed its heartbeat reads ``worker: dead`` at once;
- a step's attempts, from what the run keeps: the step's latest execution in the run's
  checkpoints and its error records. LangGraph's ``RetryPolicy`` keeps no record of an
  attempt it retried, so those read ``retried`` with no error; the last attempt carries
  the step's outcome, its error record (code, category, message; a node with no record:
  its redacted exception as the message) and its times.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from langgraph_runner._rebuild.history import run_checkpoint
from langgraph_runner._records.egress import egress
from langgraph_runner._reports.report_types import NodeReport
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._service.liveness import worker_states
from langgraph_runner._service.schemas import AttemptBody, RunDetail, RunSummary
from langgraph_runner._service.workers import Workers

__all__ = ["MAX_SHOWN", "attempts_of", "with_io", "with_workers", "worker_state"]

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


def attempts_of(node: NodeReport) -> list[AttemptBody]:
    """A step's attempts in a run (see the module docstring)."""
    if node.attempts < 1:
        return []
    record = node.errors[-1] if node.errors else None
    status = str(node.status)
    outcome = status if status in _KEPT else "failed"
    if record is not None and record.get("recovered"):
        outcome = "recovered"
    found = [AttemptBody(number=n, outcome="retried") for n in range(1, node.attempts)]
    failing = record is not None and outcome in ("failed", "recovered", "cancelled")
    cause = node.cause if outcome in ("failed", "cancelled") else None  # no record: the error
    found.append(
        AttemptBody(
            number=node.attempts,
            outcome=outcome,
            code=str(record.get("code")) if failing and record else None,
            category=str(record.get("category")) if failing and record else None,
            message=str(egress(record.get("message"))) if failing and record else cause,
            started_at=node.started_at,
            ended_at=node.finished_at or (str(record.get("timestamp")) if record else None),
        )
    )
    return found
