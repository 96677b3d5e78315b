"""``create_app``: the run engine over HTTP (FastAPI), runs executed by in-process workers.

Every route serves only the caller's tenant (``authenticate(request) -> tenant``);
another tenant's run reads like a missing one (404). Thread ids are the tenant's own:
the workers store tenant ``t``'s thread ``x`` as ``scoped_thread_id(t, x)``, and every
answer shows ``x``. A run's page reads that run's own checkpoints (``run_report(run_id=)``)
and a rebuild plans from that run (its last checkpoint), never from a later run on its
thread. Errors are JSON ``{"detail": ..., "field": ...}``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from langgraph.checkpoint.base import BaseCheckpointSaver

from langgraph_runner._internal.durations import optional_seconds
from langgraph_runner._limits.budget import Budget
from langgraph_runner._rebuild.history import run_checkpoint
from langgraph_runner._rebuild.partial import Change, plan
from langgraph_runner._records.exceptions import RequestRefused as _Failure
from langgraph_runner._records.exceptions import RunNotCompletedError, ThreadNotFoundError
from langgraph_runner._reports.report import run_report
from langgraph_runner._runs.control import cancel_run
from langgraph_runner._runs.graph_shape import graph_drawing, load_shape
from langgraph_runner._runs.run_store import RunRecord, open_run_store
from langgraph_runner._runs.tenancy import shown_thread_id
from langgraph_runner._service.auth import Unauthenticated, api_key_auth
from langgraph_runner._service.events import event_stream
from langgraph_runner._service.schemas import (
    ArtifactBody,
    BudgetBody,
    ErrorBody,
    GraphBody,
    RunCreate,
    RunDetail,
    RunList,
    RunSummary,
    RunUpdate,
    StepBody,
    WorkflowBody,
)
from langgraph_runner._service.ui import ui_router
from langgraph_runner._service.workers import Pending, Workers

__all__ = ["create_app"]

RunState = enum.Enum(  # type: ignore[misc]
    "RunState",
    {
        s.upper(): s
        for s in (
            "pending",
            "running",
            "completed",
            "failed",
            "blocked",
            "interrupted",
            "cancelled",
            "abandoned",
        )
    },
    type=str,
)
StepState = enum.Enum(  # type: ignore[misc]
    "StepState",
    {
        s.upper(): s
        for s in (
            "succeeded",
            "cached",
            "reused",
            "failed",
            "cancelled",
            "skipped",
            "pending",
            "interrupted",
            "running",
        )
    },
    type=str,
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    422: {"model": ErrorBody},
}


def _graphs(workflows: Any, checkpointer: Any) -> dict[str, Any]:
    if not isinstance(workflows, Mapping) or not workflows:
        raise ValueError("create_app: workflows must be a non-empty mapping of name -> graph")
    if checkpointer is not None and not isinstance(checkpointer, BaseCheckpointSaver):
        raise TypeError(
            f"create_app: checkpointer must be a LangGraph checkpoint saver, got {checkpointer!r}"
        )
    graphs: dict[str, Any] = {}
    for name, graph in workflows.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"create_app: workflows keys must be non-empty strings, got {name!r}")
        if not callable(getattr(graph, "copy", None)) or not callable(
            getattr(graph, "get_graph", None)
        ):
            raise TypeError(f"create_app: workflows[{name!r}] must be a compiled graph")
        saver = checkpointer or getattr(graph, "checkpointer", None)
        if not isinstance(saver, BaseCheckpointSaver):
            raise ValueError(
                f"create_app: workflows[{name!r}] has no checkpointer; pass checkpointer="
            )
        # Rows name the workflow (the runs table's graph column): filters and listing.
        graphs[name] = graph.copy(update={"checkpointer": saver, "name": name})
    savers = {id(g.checkpointer) for g in graphs.values()}
    if len(savers) != 1:
        raise ValueError("create_app: every workflow must use one checkpointer; pass checkpointer=")
    return graphs


def create_app(
    *,
    workflows: Mapping[str, Any],
    checkpointer: Any = None,
    authenticate: Callable[[Request], str] | None = None,
    api_keys: Mapping[str, str] | None = None,
    workers: int = 4,
    queue: str = "default",
    lease: float = 30.0,
    poll_interval: float = 0.5,
    budgets: Iterable[Budget] = (),
    time_limit: float | None = None,
    title: str = "langgraph-runner runs",
) -> FastAPI:
    """Build the runs service: trigger, list, read, cancel runs; list workflows.

    Args:
        workflows: Workflow name -> compiled graph.
        checkpointer: The saver every workflow runs with (default: the graphs' own,
            which must then be one and the same).
        authenticate: ``authenticate(request) -> tenant``; raise
            ``Unauthenticated`` for 401. Default: ``api_key_auth(api_keys)``.
        api_keys: API key -> tenant, for the default ``authenticate``.
        workers: Worker threads of this process taking triggered runs from the run
            queue (0: none; ``langgraph-runner worker`` processes execute them).
        queue: The run queue's name, in the checkpointer's database: every process
            serving one queue on one database shares its runs.
        lease: Seconds a worker's claim on a run lasts without renewal; a run whose
            worker stopped is resumed by another one after this long.
        poll_interval: Seconds between reads of a run its event stream follows.
        budgets: ``Budget`` objects whose standing ``GET /runs/{id}`` reports for the
            run, its thread or its tenant, as each budget's ``per`` says (the nodes
            enforce them; the service only reads their spend).
        time_limit: Seconds each triggered run may take (``run(time_limit=)``);
            None: no limit. ``GET /runs/{id}`` reports it.
        title: The OpenAPI document's title.

    Returns:
        The FastAPI app; ``app.state.workers`` runs the triggered runs.

    Raises:
        ValueError: No workflows, no checkpointer, neither ``authenticate`` nor
            ``api_keys``, ``workers`` below 0, an empty ``queue``, or ``lease`` not
            in [1, 3600] seconds, or a ``time_limit`` that is not a positive duration.
        TypeError: A workflow that is not a compiled graph, a checkpointer that is not a
            saver, a ``budgets`` item that is not a ``Budget``.
    """
    graphs = _graphs(workflows, checkpointer)
    auth = _authenticate(authenticate, api_keys)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"create_app: workers must be an int >= 0, got {workers!r}")
    if not isinstance(queue, str) or not queue:
        raise ValueError(f"create_app: queue must be a non-empty string, got {queue!r}")
    if isinstance(lease, bool) or not isinstance(lease, (int, float)):
        raise TypeError(f"create_app: lease must be seconds, got {lease!r}")
    if not 1 <= lease <= 3600:
        raise ValueError(f"create_app: lease must be in [1, 3600] s, got {lease!r}")
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)):
        raise TypeError(f"create_app: poll_interval must be seconds, got {poll_interval!r}")
    if not 0 < poll_interval <= 60:
        raise ValueError(f"create_app: poll_interval must be in (0, 60] s, got {poll_interval!r}")
    ctx = _Ctx(graphs, next(iter(graphs.values())).checkpointer)
    ctx.poll_interval = float(poll_interval)
    ctx.budgets = _budgets(budgets)
    ctx.time_limit = optional_seconds(time_limit, "time_limit", owner="create_app")
    ctx.pool = Workers(
        graphs,
        ctx.saver,
        workers=workers,
        queue=queue,
        lease=float(lease),
        time_limit=ctx.time_limit,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        ctx.pool.start()
        yield
        ctx.pool.close()

    app = FastAPI(title=title, lifespan=lifespan, responses=_ERRORS)
    app.state.workers = ctx.pool
    _handlers(app)

    def tenant_of(request: Request) -> str:
        return auth(request)

    tenant = Depends(tenant_of)
    _run_routes(app, ctx, tenant)
    _read_routes(app, ctx, tenant)
    _artifact_routes(app, ctx, tenant)
    _rebuild_routes(app, ctx, tenant)
    _workflow_routes(app, ctx, tenant)
    app.include_router(ui_router())  # the browser UI: /ui
    return app


def _budgets(budgets: Any) -> tuple[Budget, ...]:
    if isinstance(budgets, (str, bytes, Budget)) or not isinstance(budgets, Iterable):
        raise TypeError(f"create_app: budgets must be a sequence of Budget, got {budgets!r}")
    found = tuple(budgets)
    for i, budget in enumerate(found):
        if not isinstance(budget, Budget):
            raise TypeError(f"create_app: budgets[{i}] must be a Budget, got {budget!r}")
    return found


def _authenticate(
    authenticate: Callable[[Request], str] | None, api_keys: Mapping[str, str] | None
) -> Callable[[Request], str]:
    if authenticate is None:
        if api_keys is None:
            raise ValueError("create_app: pass authenticate= or api_keys=")
        return api_key_auth(api_keys)
    if not callable(authenticate):
        raise TypeError(f"create_app: authenticate must be callable, got {authenticate!r}")
    return authenticate


class _Ctx:
    """What the routes share: the workflows, their saver, the workers."""

    def __init__(self, graphs: dict[str, Any], saver: Any) -> None:
        self.graphs = graphs
        self.saver = saver
        self.pool: Workers
        self.poll_interval = 0.5
        self.budgets: tuple[Budget, ...] = ()
        self.time_limit: float | None = None


def _run_routes(app: FastAPI, ctx: _Ctx, tenant_dep: Any) -> None:
    @app.post("/runs", status_code=202, response_model=RunDetail)
    def create_run(body: RunCreate, tenant: str = tenant_dep) -> RunDetail:
        """Trigger a run: answered at once with its id and its steps pending."""
        if body.workflow not in ctx.graphs:
            raise _Failure(404, f"no workflow {body.workflow!r}", "workflow")
        item = ctx.pool.submit(body.workflow, tenant, body.input, body.thread_id)
        return _pending(item, ctx.graphs[body.workflow])

    @app.post("/runs/{run_id}/cancel", status_code=202, response_model=RunSummary)
    def cancel(run_id: str, tenant: str = tenant_dep) -> RunSummary:
        """Ask a run to stop: it starts no further step and ends cancelled."""
        item = ctx.pool.cancel_pending(run_id, tenant)
        if item is not None:
            return _pending(item, ctx.graphs.get(item.workflow))
        try:
            row = cancel_run(ctx.saver, run_id, "cancelled over HTTP", tenant=tenant)
        except ThreadNotFoundError:
            raise _Failure(404, f"no run {run_id!r}", "run_id") from None
        return _summary(row)


def _rebuild_routes(app: FastAPI, ctx: _Ctx, tenant_dep: Any) -> None:
    @app.post("/runs/{run_id}/update", status_code=202, response_model=RunDetail)
    def update(run_id: str, body: RunUpdate, tenant: str = tenant_dep) -> RunDetail:
        """A partial rebuild of a completed run: only the steps the change reaches execute."""
        store = _store(ctx.saver)
        try:
            row = store.get(run_id, tenant=tenant)
        finally:
            store.close()
        if row is None:
            raise _Failure(404, f"no run {run_id!r}", "run_id")
        if row.status != "completed":
            why = f": {row.reason}" if row.reason else ""
            raise _Failure(
                409,
                f"run {run_id!r} is {row.status}{why}; only a completed run can be rebuilt",
                "run_id",
            )
        graph = ctx.graphs.get(row.graph or "")
        if graph is None:
            raise _Failure(
                409, f"run {run_id!r} ran workflow {row.graph!r}, not served here", "run_id"
            )
        base = run_checkpoint(ctx.saver, row.thread_id or "", row.run_id)
        if base is None:  # completed, yet its checkpoints are gone
            raise _Failure(409, f"run {run_id!r} has no checkpoint to rebuild from", "run_id")
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
        )
        pending = _pending(item, graph)
        return pending.model_copy(update={"plan": the_plan.to_dict()})


def _read_routes(app: FastAPI, ctx: _Ctx, tenant_dep: Any) -> None:
    @app.get("/runs", response_model=RunList)
    def list_runs(
        tenant: str = tenant_dep,
        status: RunState | None = Query(default=None),  # noqa: B008
        workflow: str | None = None,
        limit: int = Query(default=50, ge=1, le=500),
        before: float | None = Query(default=None, description="next_before of a page"),
    ) -> RunList:
        """The tenant's runs, newest first, by status and workflow, a page at a time."""
        wanted = None if status is None else str(status.value)
        return _page(ctx, tenant, wanted, workflow, before, limit)

    @app.get("/runs/{run_id}", response_model=RunDetail)
    def get_run(run_id: str, tenant: str = tenant_dep) -> RunDetail:
        """A run: status, x of N steps, reason, each step."""
        return _detail(ctx, run_id, tenant)

    @app.get("/runs/{run_id}/steps", response_model=list[StepBody])
    def get_steps(
        run_id: str,
        tenant: str = tenant_dep,
        status: StepState | None = Query(default=None),  # noqa: B008
    ) -> list[StepBody]:
        """A run's steps, optionally only those in one status."""
        steps = _detail(ctx, run_id, tenant).steps
        return [s for s in steps if status is None or s.status == status.value]


def _artifact_routes(app: FastAPI, ctx: _Ctx, tenant_dep: Any) -> None:
    @app.get("/runs/{run_id}/artifacts", response_model=list[ArtifactBody])
    def get_artifacts(run_id: str, tenant: str = tenant_dep) -> list[ArtifactBody]:
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

    @app.get("/runs/{run_id}/events", response_model=None)
    def get_events(run_id: str, tenant: str = tenant_dep) -> Any:
        """The run as server-sent events (``run``), each time it changes, until it ends."""
        first = _detail(ctx, run_id, tenant)  # 404 before any stream starts
        return event_stream(lambda: _detail(ctx, run_id, tenant), first, interval=ctx.poll_interval)


def _workflow_routes(app: FastAPI, ctx: _Ctx, tenant_dep: Any) -> None:
    @app.get("/workflows", response_model=list[WorkflowBody])
    def list_workflows(tenant: str = tenant_dep) -> list[WorkflowBody]:
        """The workflows this service runs."""
        return [_workflow(name, graph, schema=False) for name, graph in ctx.graphs.items()]

    @app.get("/workflows/{name}", response_model=WorkflowBody)
    def get_workflow(name: str, tenant: str = tenant_dep) -> WorkflowBody:
        """A workflow's steps, edges, drawing (mermaid) and input schema."""
        if name not in ctx.graphs:
            raise _Failure(404, f"no workflow {name!r}", "name")
        return _workflow(name, ctx.graphs[name], schema=True)


def _page(
    ctx: _Ctx,
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
            _pending(p, ctx.graphs.get(p.workflow))
            for p in waiting
            if workflow in (None, p.workflow)
        ]
    if status != "pending":
        store = _store(ctx.saver)
        try:
            found = store.page(
                tenant=tenant, status=status, graph=workflow, before=before, limit=limit
            )
        finally:
            store.close()
        started = {r.run_id for r in found}  # started since the queue was read
        rows = [r for r in rows if r.run_id not in started] + [_summary(r) for r in found]
    rows = rows[:limit]
    last = rows[-1].started_at if len(rows) == limit else None
    return RunList(runs=rows, next_before=last)


def _row(ctx: _Ctx, run_id: str, tenant: str) -> RunRecord | None:
    store = _store(ctx.saver)
    try:
        return store.get(run_id, tenant=tenant)  # type: ignore[no-any-return]
    finally:
        store.close()


def _detail(ctx: _Ctx, run_id: str, tenant: str) -> RunDetail:
    row = _row(ctx, run_id, tenant)
    if row is None:  # queued, or started (and maybe ended) since the runs table was read
        item = ctx.pool.pending(run_id, tenant)
        if item is not None:
            return _pending(item, ctx.graphs.get(item.workflow))
        row = _row(ctx, run_id, tenant)
        if row is None:
            raise _Failure(404, f"no run {run_id!r}", "run_id")
    detail = RunDetail(**_summary(row).model_dump(), time_limit=ctx.time_limit)
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


def _stored_graph(ctx: _Ctx, row: RunRecord) -> GraphBody | None:
    """The shape the run stored when it started (a run with no checkpoint yet)."""
    if not row.shape:
        return None
    store = _store(ctx.saver)
    try:
        return _graph(load_shape(store, row.shape))
    finally:
        store.close()


def _store(saver: Any) -> Any:
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


def _pending(item: Pending, graph: Any) -> RunDetail:
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


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(_Failure)
    async def failure(request: Request, exc: _Failure) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, "field": exc.field}, status_code=exc.status)

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(request: Request, exc: Unauthenticated) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=401)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(where) or None
        message = str(first.get("msg", "invalid request"))
        detail = f"{field}: {message}" if field else message
        return JSONResponse({"detail": detail, "field": field}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail), "field": None}, status_code=exc.status_code)
