"""Continuing a run on its thread: ``POST /runs/{id}/resume`` and ``POST /runs/{id}/retry``.

``resume`` answers an interrupted run's ``interrupt()`` (``Command(resume=value)``);
``retry`` re-runs the nodes whose failure a run recorded in its state (``blocked``), or
else runs a failed, cancelled or abandoned run on from its last checkpoint (the steps that
finished are not run again). Each
queues a new run on the same thread, answered 202 like ``POST /runs``; only the latest
run of a thread can be continued, and only by its tenant.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from langgraph_runner._records.exceptions import RequestRefused as _Failure
from langgraph_runner._runs.run_store import RunRecord
from langgraph_runner._service.guards import shown
from langgraph_runner._service.routes import (
    Ctx,
    RunId,
    pending_detail,
    run_row,
    store_of,
    trace_of,
)
from langgraph_runner._service.schemas import RunDetail, RunResume

__all__ = ["RETRYABLE", "add_follow_up_routes"]

RETRYABLE = frozenset({"failed", "cancelled", "abandoned", "blocked"})
"""The statuses ``POST /runs/{id}/retry`` takes."""


def add_follow_up_routes(app: FastAPI, ctx: Ctx, tenant_dep: Any) -> None:
    """Put ``resume`` and ``retry`` on ``app``."""

    @app.post("/runs/{run_id}/resume", status_code=202, response_model=RunDetail)
    def resume(
        run_id: RunId, body: RunResume, request: Request, tenant: str = tenant_dep
    ) -> RunDetail:
        """Answer an interrupted run's ``interrupt()``: a new run on its thread goes on
        from there, ``interrupt()`` returning ``value``."""
        row = _latest_of_thread(ctx, run_id, tenant, {"interrupted"}, "resumed")
        follow = {"kind": "resume", "value": body.value}
        return _queue(ctx, row, tenant, follow, trace_of(request, row.graph or ""))

    @app.post("/runs/{run_id}/retry", status_code=202, response_model=RunDetail)
    def retry(run_id: RunId, request: Request, tenant: str = tenant_dep) -> RunDetail:
        """Run a failed, cancelled or abandoned run on from its last checkpoint (finished
        steps are kept), or re-run a blocked run's blocked nodes."""
        row = _latest_of_thread(ctx, run_id, tenant, RETRYABLE, "retried")
        follow = {"kind": "retry"}
        return _queue(ctx, row, tenant, follow, trace_of(request, row.graph or ""))


def _latest_of_thread(
    ctx: Ctx, run_id: str, tenant: str, statuses: frozenset[str] | set[str], verb: str
) -> RunRecord:
    """The run, if it is ``tenant``'s, in one of ``statuses`` and its thread's latest."""
    row = run_row(ctx, run_id, tenant)
    if row is None:
        raise _Failure(404, f"no run {shown(run_id)}", "run_id")
    if row.status not in statuses:
        wanted = ", ".join(sorted(statuses))
        raise _Failure(
            409, f"run {shown(run_id)} is {row.status}; only {wanted} can be {verb}", "run_id"
        )
    if row.graph not in ctx.graphs:
        raise _Failure(
            409, f"run {shown(run_id)} ran workflow {row.graph!r}, not served here", "run_id"
        )
    store = store_of(ctx.saver)
    try:
        latest = store.latest(row.thread_id or "")
    finally:
        store.close()
    if latest is not None and latest.run_id != row.run_id:
        raise _Failure(
            409,
            f"run {shown(run_id)} is not its thread's latest (run {shown(latest.run_id)} is): "
            f"that one can be {verb}",
            "run_id",
        )
    return row


def _queue(
    ctx: Ctx,
    row: RunRecord,
    tenant: str,
    follow: dict[str, Any],
    trace_context: dict[str, str] | None,
) -> RunDetail:
    """Queue the follow-up run on ``row``'s thread, in the request's trace."""
    workflow = row.graph or ""
    item = ctx.pool.submit(
        workflow,
        tenant,
        None,
        None,
        follow=follow,
        stored_thread=row.thread_id,
        trace_context=trace_context,
        run_id=ctx.new_run(tenant),
    )
    return pending_detail(item, ctx.graphs[workflow], ctx.time_limit)
