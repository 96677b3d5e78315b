"""The routes of the runs service: runs, their steps, artifacts and events, rebuilds, workflows.

``add_routes`` puts them on the app ``create_app`` builds; each reads the caller's tenant
from ``tenant_dep`` and serves only that tenant's runs. ``GET /runs/{id}/events`` streams
a run's progress as server-sent events: the run is read every ``LIVE`` seconds (the same
read as ``GET /runs/{id}``), an event ``run`` carries the whole run whenever it changed,
and the stream ends after the event that shows it over.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from langgraph_runner._limits.budget import Budget
from langgraph_runner._rebuild.history import run_checkpoint
from langgraph_runner._rebuild.partial import Change, plan
from langgraph_runner._records.exceptions import RequestRefused as _Failure
from langgraph_runner._records.exceptions import RunNotCompletedError, ThreadNotFoundError
from langgraph_runner._reports.report import run_report
from langgraph_runner._reports.report_types import NodeStatus
from langgraph_runner._runs.control import cancel_run
from langgraph_runner._runs.graph_shape import graph_drawing, load_shape
from langgraph_runner._runs.run_store import RunRecord
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.tenancy import shown_thread_id
from langgraph_runner._service.guards import MAX_ID, SAFE_TEXT, shown
from langgraph_runner._service.multitask import DEFAULT_STRATEGY, submit_run
from langgraph_runner._service.run_facts import with_io, with_workers, worker_state
from langgraph_runner._service.schemas import (
    ArtifactBody,
    BudgetBody,
    GraphBody,
    InterruptBody,
    RunCreate,
    RunDetail,
    RunList,
    RunState,
    RunSummary,
    RunUpdate,
    StepBody,
    WorkflowBody,
)
from langgraph_runner._service.workers import Pending, Workers
from langgraph_runner._traces.carrier import trigger

__all__ = [
    "LIVE",
    "Ctx",
    "RunId",
    "add_routes",
    "event_stream",
    "pending_detail",
    "run_row",
    "store_of",
    "trace_of",
]


RunId = Annotated[str, Path(max_length=MAX_ID, pattern=SAFE_TEXT, description="A run's id.")]
Name = Annotated[str, Path(max_length=MAX_ID, pattern=SAFE_TEXT, description="A workflow's name.")]


def add_routes(app: FastAPI, ctx: Ctx, tenant_dep: Any) -> None:
    """Put every run, rebuild and workflow route on ``app``."""
    _run_routes(app, ctx, tenant_dep)
    _read_routes(app, ctx, tenant_dep)
    _artifact_routes(app, ctx, tenant_dep)
    _rebuild_routes(app, ctx, tenant_dep)
    _workflow_routes(app, ctx, tenant_dep)


class Ctx:
    """What the routes share: the workflows, their saver, the workers."""

    def __init__(self, graphs: dict[str, Any], saver: Any) -> None:
        self.graphs = graphs
        self.saver = saver
        self.pool: Workers
        self.poll_interval = 0.5
        self.budgets: tuple[Budget, ...] = ()
        self.time_limit: float | None = None
        self.multitask_strategy = DEFAULT_STRATEGY  # a run posted on a busy thread
        # Called with (run id, tenant, the run's webhook URL or None) before a run is queued,
        # and with its id if the queue then refused it (multitask reject).
        self.on_new_run: Callable[[str, str, str | None], None] | None = None
        self.on_refused_run: Callable[[str], None] | None = None

    def new_run(self, tenant: str, webhook: str | None = None) -> str:
        """A new run's id, after ``on_new_run`` saw it (its webhook is subscribed first)."""
        run_id = str(uuid.uuid4())
        if self.on_new_run is not None:
            self.on_new_run(run_id, tenant, webhook)
        return run_id


MAX_WAIT = 300.0
"""The longest ``GET /runs/{id}/wait`` may hold a request, in seconds."""
TRIGGER_SPAN = "langgraph_runner.trigger"
"""The span of a run's trigger (``POST /runs``) when spans are made; the run's span is its child."""

_CANCELLABLE = frozenset({"pending", "running", "cancelled", "interrupted"})
"""A run in one of these answers a cancel 202 (an ended one: 409, nothing changes)."""


def _run_routes(app: FastAPI, ctx: Ctx, tenant_dep: Any) -> None:
    @app.post("/runs", status_code=202, response_model=RunDetail)
    def create_run(body: RunCreate, request: Request, tenant: str = tenant_dep) -> RunDetail:
        """Trigger a run: answered at once with its id and its steps pending.

        The run continues the request's trace (its ``traceparent``/``tracestate``). On a
        thread with a pending or running run, ``multitask_strategy`` decides (409: reject).
        """
        if body.workflow not in ctx.graphs:
            raise _Failure(404, f"no workflow {shown(body.workflow)}", "workflow")
        item = submit_run(
            ctx.pool,
            ctx.saver,
            body.multitask_strategy or ctx.multitask_strategy,
            workflow=body.workflow,
            tenant=tenant,
            inp=body.input,
            thread_id=body.thread_id,
            trace_context=trace_of(request, body.workflow),
            new_run_id=lambda: ctx.new_run(tenant, body.webhook),
            refused=ctx.on_refused_run,
        )
        return pending_detail(item, ctx.graphs[body.workflow], ctx.time_limit)

    @app.post("/runs/{run_id}/cancel", status_code=202, response_model=RunSummary)
    def cancel(run_id: RunId, tenant: str = tenant_dep) -> RunSummary:
        """Ask a run to stop: it starts no further step and ends cancelled."""
        item = ctx.pool.cancel_pending(run_id, tenant)
        if item is not None:
            return pending_detail(item, ctx.graphs.get(item.workflow), ctx.time_limit)
        try:
            row = cancel_run(ctx.saver, run_id, "cancelled over HTTP", tenant=tenant)
        except ThreadNotFoundError:
            raise _Failure(404, f"no run {shown(run_id)}", "run_id") from None
        if row.status not in _CANCELLABLE:
            raise _Failure(409, f"run {shown(run_id)} already ended {row.status}", "run_id")
        return _summary(row)


def _rebuild_routes(app: FastAPI, ctx: Ctx, tenant_dep: Any) -> None:
    @app.post("/runs/{run_id}/update", status_code=202, response_model=RunDetail)
    def update(
        run_id: RunId, body: RunUpdate, request: Request, tenant: str = tenant_dep
    ) -> RunDetail:
        """A partial rebuild of a completed run: only the steps the change reaches execute."""
        store = store_of(ctx.saver)
        try:
            row = store.get(run_id, tenant=tenant)
        finally:
            store.close()
        if row is None:
            raise _Failure(404, f"no run {shown(run_id)}", "run_id")
        if row.status != "completed":
            why = f": {row.reason}" if row.reason else ""
            raise _Failure(
                409,
                f"run {shown(run_id)} is {row.status}{why}; only a completed run can be rebuilt",
                "run_id",
            )
        graph = ctx.graphs.get(row.graph or "")
        if graph is None:
            raise _Failure(
                409, f"run {shown(run_id)} ran workflow {row.graph!r}, not served here", "run_id"
            )
        base = run_checkpoint(ctx.saver, row.thread_id or "", row.run_id)
        if base is None:  # completed, yet its checkpoints are gone
            raise _Failure(409, f"run {shown(run_id)} has no checkpoint to rebuild from", "run_id")
        try:
            change = Change(inputs=body.inputs, versions=body.versions)
            base_config: Any = {"configurable": {"thread_id": row.thread_id, "checkpoint_id": base}}
            the_plan = plan(graph, base_config, change, tenant=tenant)
        except RunNotCompletedError as exc:
            raise _Failure(409, str(exc), "run_id") from None
        except (TypeError, ValueError) as exc:
            field = "versions" if "versions" in str(exc) else "inputs"
            raise _Failure(422, str(exc), field) from None
        item = ctx.pool.submit(
            row.graph or "",
            tenant,
            None,
            None,
            change=change,
            base_thread=row.thread_id,
            base_checkpoint=base,
            trace_context=trace_of(request, row.graph or ""),
            run_id=ctx.new_run(tenant),
        )
        pending = pending_detail(item, graph, ctx.time_limit)
        return pending.model_copy(update={"plan": the_plan.to_dict()})


def _read_routes(app: FastAPI, ctx: Ctx, tenant_dep: Any) -> None:
    @app.get("/runs", response_model=RunList)
    def list_runs(
        tenant: str = tenant_dep,
        status: RunState | None = Query(default=None),  # noqa: B008
        workflow: Annotated[str | None, Query(max_length=MAX_ID, pattern=SAFE_TEXT)] = None,
        limit: int = Query(default=50, ge=1, le=500),
        before: float | None = Query(default=None, description="next_before of a page"),
    ) -> RunList:
        """The tenant's runs, newest first, by status and workflow, a page at a time."""
        wanted = None if status is None else str(status.value)
        return _page(ctx, tenant, wanted, workflow, before, limit)

    @app.get("/runs/{run_id}", response_model=RunDetail)
    def get_run(run_id: RunId, tenant: str = tenant_dep) -> RunDetail:
        """A run: status, x of N steps, reason, each step, its input and output."""
        return with_io(ctx.pool, ctx.graphs, _detail(ctx, run_id, tenant), tenant)

    @app.get("/runs/{run_id}/wait", response_model=RunDetail)
    async def wait_for_run(
        run_id: RunId,
        tenant: str = tenant_dep,
        timeout: float = Query(
            default=30.0, ge=0, le=MAX_WAIT, description="Seconds to wait at the most."
        ),
    ) -> RunDetail:
        """The run once it has ended, or as it stands after ``timeout`` seconds (its status
        then still ``pending`` or ``running``: ask again)."""
        deadline = time.monotonic() + timeout
        while True:
            detail = await run_in_threadpool(_detail, ctx, run_id, tenant)
            left = deadline - time.monotonic()
            if detail.status not in LIVE or left <= 0:
                return await run_in_threadpool(with_io, ctx.pool, ctx.graphs, detail, tenant)
            await asyncio.sleep(min(ctx.poll_interval, left))

    @app.get("/runs/{run_id}/steps", response_model=list[StepBody])
    def get_steps(
        run_id: RunId,
        tenant: str = tenant_dep,
        status: NodeStatus | None = Query(default=None),  # noqa: B008
    ) -> list[StepBody]:
        """A run's steps, optionally only those in one status."""
        steps = _detail(ctx, run_id, tenant).steps
        return [s for s in steps if status is None or s.status == status.value]


def _artifact_routes(app: FastAPI, ctx: Ctx, tenant_dep: Any) -> None:
    @app.get("/runs/{run_id}/artifacts", response_model=list[ArtifactBody])
    def get_artifacts(run_id: RunId, tenant: str = tenant_dep) -> list[ArtifactBody]:
        """The artifacts the run's steps wrote, then the final state's."""
        run = _detail(ctx, run_id, tenant)
        found = [
            ArtifactBody(step=s.name, name=k, path=v)
            for s in run.steps
            for k, v in s.artifacts.items()
        ]
        written = {(a.name, a.path) for a in found}
        found += [
            ArtifactBody(step=None, name=k, path=v)
            for k, v in run.artifacts.items()
            if (k, v) not in written
        ]
        return found

    @app.get(
        "/runs/{run_id}/events",
        response_model=None,
        response_class=EventSourceResponse,
        responses={
            200: {
                "description": "Server-sent events: ``event: run`` with the run (JSON), "
                "each time it changes, until it ends.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        },
    )
    def get_events(run_id: RunId, tenant: str = tenant_dep) -> Any:
        """The run as server-sent events (``run``), each time it changes, until it ends."""
        first = _detail(ctx, run_id, tenant)  # 404 before any stream starts
        return event_stream(lambda: _detail(ctx, run_id, tenant), first, interval=ctx.poll_interval)


def _workflow_routes(app: FastAPI, ctx: Ctx, tenant_dep: Any) -> None:
    @app.get("/workflows", response_model=list[WorkflowBody])
    def list_workflows(tenant: str = tenant_dep) -> list[WorkflowBody]:
        """The workflows this service runs."""
        return [_workflow(name, graph, schema=False) for name, graph in ctx.graphs.items()]

    @app.get("/workflows/{name}", response_model=WorkflowBody)
    def get_workflow(name: Name, tenant: str = tenant_dep) -> WorkflowBody:
        """A workflow's steps, edges, drawing (mermaid) and input schema."""
        if name not in ctx.graphs:
            raise _Failure(404, f"no workflow {shown(name)}", "name")
        return _workflow(name, ctx.graphs[name], schema=True)


def _page(
    ctx: Ctx,
    tenant: str,
    status: str | None,
    workflow: str | None,
    before: float | None,
    limit: int,
) -> RunList:
    rows: list[RunSummary] = []
    if before is None and status in (None, "pending"):  # queued: no row in the runs table
        waiting = ctx.pool.pending_of(tenant, limit)
        rows += [
            pending_detail(p, ctx.graphs.get(p.workflow), ctx.time_limit)
            for p in waiting
            if workflow in (None, p.workflow)
        ]
    if status != "pending":
        store = store_of(ctx.saver)
        try:
            found = store.page(
                tenant=tenant, status=status, graph=workflow, before=before, limit=limit
            )
        finally:
            store.close()
        started = {r.run_id for r in found}  # started since the queue was read
        rows = [r for r in rows if r.run_id not in started] + [_summary(r) for r in found]
    rows = with_workers(ctx.pool, rows[:limit])  # a dead worker's runs say so
    last = rows[-1].started_at if len(rows) == limit else None
    return RunList(runs=rows, next_before=last)


def trace_of(request: Request, workflow: str) -> dict[str, str] | None:
    """The trace context a run triggered by ``request`` keeps (``_traces.carrier.trigger``);
    the trigger span names the request by OpenTelemetry's HTTP attributes (method, route)."""
    route = getattr(request.scope.get("route"), "path", None)
    http = {"http.request.method": request.method, "http.route": route}
    return trigger(request.headers, TRIGGER_SPAN, {"langgraph_runner.graph.name": workflow, **http})


def _trace_id(ctx: Ctx, run_id: str, tenant: str) -> str | None:
    """The trace id of a run the service queued (None: a run started some other way)."""
    item = ctx.pool.queue.get(run_id)
    return None if item is None or item.tenant != tenant else item.trace_id


def run_row(ctx: Ctx, run_id: str, tenant: str) -> RunRecord | None:
    store = store_of(ctx.saver)
    try:
        row: RunRecord | None = store.get(run_id, tenant=tenant)
        return row
    finally:
        store.close()


def _detail(ctx: Ctx, run_id: str, tenant: str) -> RunDetail:
    row = run_row(ctx, run_id, tenant)
    if row is None:  # queued, or started (and maybe ended) since the runs table was read
        item = ctx.pool.pending(run_id, tenant)
        if item is not None:
            return pending_detail(item, ctx.graphs.get(item.workflow), ctx.time_limit)
        row = run_row(ctx, run_id, tenant)
        if row is None:
            raise _Failure(404, f"no run {shown(run_id)}", "run_id")
    detail = RunDetail(
        **_summary(row).model_dump(exclude={"worker"}),
        time_limit=ctx.time_limit,
        trace_id=_trace_id(ctx, row.run_id, tenant),
        worker=worker_state(ctx.pool, row.run_id, row.status),
    )
    try:
        report = run_report(
            ctx.saver, row.thread_id or "", tenant=tenant, budgets=ctx.budgets, run_id=row.run_id
        )
    except ThreadNotFoundError:  # started, no checkpoint yet (or it never started)
        steps = [StepBody(name=n, status="pending") for n in row.nodes]
        update = {"steps": steps, "steps_total": len(row.nodes), "graph": _stored_graph(ctx, row)}
        return detail.model_copy(update=update)
    steps = [
        StepBody(
            name=n.name,
            status=str(n.status),
            attempts=n.attempts,
            started_at=n.started_at,
            duration_ms=n.duration_ms,
            cause=n.cause,
            artifacts=n.artifacts,
        )
        for n in report.nodes
    ]
    return detail.model_copy(
        update={
            "steps": steps,
            "steps_done": report.steps_done,
            "steps_total": report.steps_total,
            "artifacts": report.artifacts,
            "interrupts": [
                InterruptBody(id=str(i.get("id", "")), value=i.get("value"))
                for i in report.interrupts
            ]
            if row.status == "interrupted"
            else [],
            "graph": _graph(report._drawing),
            "budgets": [BudgetBody(**b) for b in report.budgets],
        }
    )


def _graph(drawing: Mapping[str, Any] | None) -> GraphBody | None:
    if not drawing:
        return None
    return GraphBody(
        nodes=[str(n) for n in drawing["nodes"] if not str(n).startswith("__")],
        edges=[(str(a), str(b), bool(c)) for a, b, c in drawing["edges"]],
    )


def _stored_graph(ctx: Ctx, row: RunRecord) -> GraphBody | None:
    """The shape the run stored when it started (a run with no checkpoint yet)."""
    if not row.shape:
        return None
    store = store_of(ctx.saver)
    try:
        return _graph(load_shape(store, row.shape))
    finally:
        store.close()


def store_of(saver: Any) -> Any:
    store = open_run_store(saver)
    if store is None:  # pragma: no cover - a saver always has a store
        raise _Failure(500, "no runs table for this checkpointer")
    return store


def _summary(row: RunRecord) -> RunSummary:
    return RunSummary(
        run_id=row.run_id,
        thread_id=None if row.thread_id is None else shown_thread_id(row.thread_id),
        workflow=row.graph,
        status=row.status,
        reason=row.reason,
        started_at=row.started_at,
        updated_at=row.updated_at,
    )


def pending_detail(item: Pending, graph: Any, time_limit: float | None) -> RunDetail:
    nodes = [str(n) for n in getattr(graph, "nodes", ()) if not str(n).startswith("__")]
    return RunDetail(
        run_id=item.run_id,
        thread_id=item.thread_id,
        workflow=item.workflow,
        status="cancelled" if item.cancelled else "pending",
        started_at=item.created_at,
        updated_at=item.created_at,
        steps_total=len(nodes),
        steps=[StepBody(name=n, status="pending") for n in nodes],
        time_limit=time_limit,
        trace_id=item.trace_id,
    )


def _workflow(name: str, graph: Any, *, schema: bool) -> WorkflowBody:
    drawing = graph_drawing(graph) or {"nodes": list(graph.nodes), "edges": [], "mermaid": None}
    input_schema = None
    if schema:
        try:
            input_schema = graph.get_input_jsonschema()
        except Exception:  # a schema pydantic cannot describe: the rest still answers
            input_schema = None
    return WorkflowBody(
        name=name,
        nodes=[n for n in drawing["nodes"] if not n.startswith("__")],
        edges=[tuple(e) for e in drawing["edges"]],
        mermaid=drawing["mermaid"],
        input_schema=input_schema,
    )


LIVE = ("pending", "running")


def event_stream(read: Callable[[], Any], first: Any, *, interval: float) -> EventSourceResponse:
    """Stream ``read()`` (a ``RunDetail``) as ``run`` events, starting from ``first``."""

    async def events() -> AsyncIterator[ServerSentEvent]:
        current, last = first, None
        while True:
            text = current.model_dump_json()
            if text != last:
                yield ServerSentEvent(data=text, event="run")
                last = text
            if current.status not in LIVE:
                return
            await asyncio.sleep(interval)
            current = await run_in_threadpool(read)

    return EventSourceResponse(events())
