"""``create_app``: the run engine over HTTP (FastAPI), runs executed by in-process workers.

Every route serves only the caller's tenant (``authenticate(request) -> tenant``);
another tenant's run reads like a missing one (404). Thread ids are the tenant's own:
the workers store tenant ``t``'s thread ``x`` as ``scoped_thread_id(t, x)``, and every
answer shows ``x``. A run's page reads that run's own checkpoints (``run_report(run_id=)``)
and a rebuild plans from that run (its last checkpoint), never from a later run on its
thread. Errors are JSON ``{"detail": ..., "field": ...}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from langgraph.checkpoint.base import BaseCheckpointSaver

from langgraph_runner._internal.durations import optional_seconds
from langgraph_runner._limits.budget import Budget
from langgraph_runner._policies.retry import RetryConfig
from langgraph_runner._records.exceptions import RequestRefused as _Failure
from langgraph_runner._service.api_docs import add_api_docs
from langgraph_runner._service.auth import Unauthenticated, api_key_auth
from langgraph_runner._service.automation.schedules import Scheduler, add_schedule_routes
from langgraph_runner._service.automation.webhooks import (
    Dispatcher,
    WebhookSettings,
    add_webhook_routes,
    webhook_settings,
)
from langgraph_runner._service.follow_up import add_follow_up_routes
from langgraph_runner._service.guards import MAX_BODY, RequestGuard
from langgraph_runner._service.multitask import DEFAULT_STRATEGY, check_strategy
from langgraph_runner._service.ops_routes import add_ops_routes
from langgraph_runner._service.routes import Ctx, add_routes
from langgraph_runner._service.schemas import (
    ErrorBody,
)
from langgraph_runner._service.ui import check_trace_link, ui_router
from langgraph_runner._service.workers import Workers

__all__ = ["create_app"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    413: {"model": ErrorBody, "description": "The request body is over max_body bytes."},
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
    executor: Any = None,
    authenticate: Callable[[Request], str] | None = None,
    api_keys: Mapping[str, str] | None = None,
    workers: int = 4,
    queue: str = "default",
    lease: float = 30.0,
    poll_interval: float = 0.5,
    budgets: Iterable[Budget] = (),
    time_limit: float | None = None,
    title: str = "langgraph-runner runs",
    max_body: int = MAX_BODY,
    trace_link: str | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | bytes | None = None,
    webhook_retry: RetryConfig | None = None,
    webhook_timeout: float = 10.0,
    multitask_strategy: str = DEFAULT_STRATEGY.value,
) -> FastAPI:
    """Build the runs service: trigger, list, read, cancel runs; list workflows.

    Args:
        workflows: Workflow name -> compiled graph.
        checkpointer: The saver every workflow runs with (default: the graphs' own,
            which must then be one and the same).
        executor: Who runs the triggered runs: None (default), this process's
            ``workers`` on the table queue; a ``TemporalExecutor``
            (``langgraph_runner.temporal``), Temporal workflows (``workers``, ``queue``
            and ``lease`` then do not apply); anything else is a TypeError.
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
        max_body: The largest request body in bytes (default 1 MiB); a larger one is
            answered 413 before it is read.
        trace_link: The address of a run's trace in your trace backend, with
            ``{trace_id}`` where the id goes (e.g. a Jaeger or Phoenix trace page); a
            run's page in the UI links its trace id there. None: the id as text.
        webhook_url: Where every run's end is posted unless the run names its own
            (``POST /runs`` ``webhook``); None: only runs that name one.
        webhook_secret: The key deliveries are signed with (HMAC-SHA256, at least 16
            bytes); without it no webhook is taken.
        webhook_retry: Attempts at one delivery and the backoff between them (default
            ``DEFAULT_WEBHOOK_RETRY``: 8 attempts, 1 s doubling up to 5 min).
        webhook_timeout: Seconds one delivery attempt waits for its receiver.
        multitask_strategy: What ``POST /runs`` does with a run on a thread that has a
            pending or running run, unless the request says: ``"enqueue"`` (default:
            it runs after them), ``"reject"`` (409, LangGraph Server's default),
            ``"interrupt"`` (they are cancelled, then it runs) or ``"rollback"`` (as
            interrupt, then they are deleted and it runs from the state before them).

    Returns:
        The FastAPI app; ``app.state.workers`` runs the triggered runs,
        ``app.state.webhooks`` delivers webhooks, ``app.state.scheduler`` fires schedules.

    Raises:
        ValueError: No workflows, no checkpointer, neither ``authenticate`` nor
            ``api_keys``, ``workers`` below 0, an empty ``queue``, or ``lease`` not
            in [1, 3600] seconds, or a ``time_limit`` that is not a positive duration;
            a ``webhook_url`` that is not http(s) or has no ``webhook_secret``, a
            ``webhook_secret`` under 16 bytes, a ``webhook_timeout`` not in (0, 300] s,
            a ``trace_link`` that is not an http(s) address with ``{trace_id}``, or an
            unknown ``multitask_strategy`` (or ``"rollback"`` with ``executor=``).
        TypeError: A workflow that is not a compiled graph, a checkpointer that is not a
            saver, a ``budgets`` item that is not a ``Budget``, a ``webhook_retry`` that
            is not a ``RetryConfig``.
    """
    graphs = _graphs(workflows, checkpointer)
    hooks = webhook_settings(webhook_url, webhook_secret, webhook_retry, webhook_timeout)
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
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1024:
        raise ValueError(f"create_app: max_body must be an int >= 1024 bytes, got {max_body!r}")
    link = check_trace_link(trace_link)
    ctx = Ctx(graphs, next(iter(graphs.values())).checkpointer)
    ctx.poll_interval = float(poll_interval)
    ctx.budgets = _budgets(budgets)
    ctx.time_limit = optional_seconds(time_limit, "time_limit", owner="create_app")
    ctx.multitask_strategy = check_strategy(multitask_strategy, temporal=executor is not None)
    ctx.pool = _bound(executor, graphs, ctx) or Workers(
        graphs,
        ctx.saver,
        workers=workers,
        queue=queue,
        lease=float(lease),
        time_limit=ctx.time_limit,
    )

    dispatcher, scheduler = _background(ctx, hooks)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        ctx.pool.start()
        scheduler.start()
        if hooks.secret is not None:  # no secret: no webhook is ever taken
            dispatcher.start()
        yield
        scheduler.close()
        dispatcher.close()
        ctx.pool.close()

    app = FastAPI(title=title, lifespan=lifespan, responses=_ERRORS, docs_url=None, redoc_url=None)
    app.state.workers = ctx.pool
    app.add_middleware(RequestGuard, max_body=max_body)
    _handlers(app)

    def tenant_of(request: Request) -> str:
        return auth(request)

    tenant = Depends(tenant_of)
    add_routes(app, ctx, tenant)
    add_follow_up_routes(app, ctx, tenant)
    add_webhook_routes(app, ctx, tenant, dispatcher)
    add_schedule_routes(app, ctx, tenant, scheduler)
    add_ops_routes(app, ctx, tenant)  # GET /workers, a step's attempts
    app.state.webhooks, app.state.scheduler = dispatcher, scheduler
    app.include_router(ui_router(link))  # the browser UI: /ui
    add_api_docs(app)  # /docs, drawn on the server: no CDN
    _documented(app.openapi())  # built once, kept by FastAPI
    return app


def _background(ctx: Ctx, hooks: WebhookSettings) -> tuple[Dispatcher, Scheduler]:
    """The webhook dispatcher (a new run's webhook subscribed before it is queued) and
    the scheduler, each a thread of its own started with the app."""
    dispatcher = Dispatcher(ctx, hooks)
    ctx.on_new_run = dispatcher.subscribe
    ctx.on_refused_run = lambda run_id: dispatcher.outbox.purge([run_id])
    ctx.pool.on_complete = dispatcher.wake  # a run of this process ended: look now
    ctx.pool.on_rolled_back = dispatcher.outbox.purge  # their webhooks go before their rows
    return dispatcher, Scheduler(ctx, dispatcher)


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
        field = _field(tuple(first.get("loc", ())))
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        detail = message if message.startswith(f"{field}") else f"{field}: {message}"
        return JSONResponse({"detail": detail, "field": field}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail), "field": None}, status_code=exc.status_code)


def _field(loc: tuple[Any, ...]) -> str:
    """The field a validation error's location names: ``input.x``, ``items[1]``, or
    ``body`` itself (a body that is not a JSON object, or not JSON at all)."""
    if loc[:1] == ("body",) and (len(loc) == 1 or isinstance(loc[1], int)):
        return "body"
    out = ""
    for part in loc[1:] if loc[:1] in (("body",), ("query",), ("path",)) else loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "request"


def _documented(doc: dict[str, Any]) -> None:
    """Make FastAPI's OpenAPI document say exactly what the service takes.

    An optional query parameter is absent, never null (a query string has no null), so
    its ``null`` branch goes; and pydantic writes a key rule as ``patternProperties``
    alone, which would let any other key through, while the service refuses those (a NUL
    in a key of a run's input).
    """
    for operation in (op for item in doc.get("paths", {}).values() for op in item.values()):
        for param in operation.get("parameters", ()) if isinstance(operation, dict) else ():
            branches = param.get("schema", {}).get("anyOf")
            if param.get("in") == "query" and branches:
                kept = [b for b in branches if b != {"type": "null"}]
                param["schema"] = (
                    {**param["schema"], "anyOf": kept}
                    if len(kept) > 1
                    else {
                        **{k: v for k, v in param["schema"].items() if k != "anyOf"},
                        **kept[0],
                    }
                )
    _closed(doc)


def _closed(node: Any) -> None:
    """Say exactly which keys an object of a run's input may have: pydantic writes a key
    rule as ``patternProperties`` alone, which would let any other key through, and the
    service refuses those (a NUL in a key)."""
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _closed(value)
    elif isinstance(node, list):
        for value in node:
            _closed(value)


def _bound(executor: Any, graphs: dict[str, Any], ctx: Ctx) -> Any:
    """What the routes call when an executor runs the runs (None: the table queue's workers)."""
    if executor is None:
        return None
    if not callable(getattr(executor, "bind", None)):
        raise TypeError(f"create_app: executor must be a TemporalExecutor, got {executor!r}")
    return executor.bind(graphs, ctx.saver, ctx.time_limit)
