"""The operator's routes: ``GET /workers`` and ``GET /runs/{id}/steps/{name}/attempts``.

``GET /workers`` lists the worker processes on the service's run queue (``liveness``),
each with its host, pid, start, last heartbeat, state (alive, draining, dead, stopped)
and the runs it holds: a count of every tenant's, and the run ids of the caller's alone,
so no tenant learns another's run ids. A step's attempts are the ones its run kept, each
with its own error record, else read from the run's checkpoints and records (``run_facts``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Query

from langgraph_runner._records.exceptions import RequestRefused as _Failure
from langgraph_runner._records.exceptions import ThreadNotFoundError
from langgraph_runner._reports.report import run_report
from langgraph_runner._service.guards import MAX_ID, SAFE_TEXT, shown
from langgraph_runner._service.liveness import workers_of
from langgraph_runner._service.routes import Ctx, RunId, run_row
from langgraph_runner._service.run_facts import attempts_of, kept_attempts
from langgraph_runner._service.schemas import AttemptBody, WorkerBody

__all__ = ["add_ops_routes"]

StepName = Annotated[str, Path(max_length=MAX_ID, pattern=SAFE_TEXT, description="A step's name.")]


def add_ops_routes(app: FastAPI, ctx: Ctx, tenant_dep: Any) -> None:
    """Put ``GET /workers`` and a step's attempts on ``app``."""

    @app.get("/workers", response_model=list[WorkerBody])
    def list_workers(
        tenant: str = tenant_dep, limit: int = Query(default=100, ge=1, le=500)
    ) -> list[WorkerBody]:
        """The worker processes on this service's run queue, live ones first."""
        return [
            WorkerBody(
                worker_id=w.worker_id,
                host=w.host,
                pid=w.pid,
                threads=w.threads,
                started_at=w.started_at,
                heartbeat_at=w.heartbeat_at,
                state=w.state,
                runs=w.runs,
                your_runs=list(w.own_runs),
            )
            for w in workers_of(ctx.pool.queue, tenant, limit=limit)
        ]

    @app.get("/runs/{run_id}/steps/{name}/attempts", response_model=list[AttemptBody])
    def get_attempts(run_id: RunId, name: StepName, tenant: str = tenant_dep) -> list[AttemptBody]:
        """A step's attempts in its latest execution in the run, in order: each one's
        number, outcome, start, end and duration, and for one that failed its own error
        record (code, category, error type, redacted message). At most 10 are kept per
        step, the first five and the latest five: the numbers say which were left out.
        Another tenant's run, or a name that is not one of the run's steps, answers 404."""
        row = run_row(ctx, run_id, tenant)
        if row is None:  # queued: no attempts yet
            item = ctx.pool.pending(run_id, tenant)
            if item is None:
                raise _Failure(404, f"no run {shown(run_id)}", "run_id")
            graph = ctx.graphs.get(item.workflow)
            steps = {str(n) for n in getattr(graph, "nodes", ()) if not str(n).startswith("__")}
            if name not in steps:
                raise _Failure(404, f"run {shown(run_id)} has no step {shown(name)}", "name")
            return []
        if name not in row.nodes:
            raise _Failure(404, f"run {shown(run_id)} has no step {shown(name)}", "name")
        try:
            report = run_report(ctx.saver, row.thread_id or "", tenant=tenant, run_id=row.run_id)
        except ThreadNotFoundError:  # started, no checkpoint yet
            return []
        for node in report.nodes:
            if node.name == name:
                return attempts_of(node, kept_attempts(ctx.saver, row.run_id, name, node.step))
        return []
