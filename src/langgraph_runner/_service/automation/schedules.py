"""Scheduled runs: ``POST/GET /schedules``, ``GET/DELETE /schedules/{id}``, and the ticking.

A schedule is a cron expression (five fields, UTC, as ``croniter`` reads it) for a
workflow and an input, the tenant's own. A ``Scheduler`` thread per process looks every
``SCHEDULE_POLL`` seconds for the schedules of its queue that are due and fires each
due tick as one normal run of the schedule's tenant (``GET /runs`` lists it;
``GET /schedules/{id}`` names the runs it fired). However many processes serve the
queue, a tick fires exactly one run (``schedule_store``). A tick missed while no process
was up fires once when one is, and the schedule goes on from the next tick after now.
The clock is ``Scheduler.clock`` (tests replace it: no test waits for a minute).
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any

from croniter import croniter
from fastapi import FastAPI, Path, Query, Response
from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from langgraph_runner._records.exceptions import RequestRefused as _Failure
from langgraph_runner._service.automation.outbox import shown_url
from langgraph_runner._service.automation.schedule_store import Schedule, ScheduleStore
from langgraph_runner._service.automation.ticker import Ticker
from langgraph_runner._service.automation.webhooks import Dispatcher
from langgraph_runner._service.guards import MAX_ID, SAFE_TEXT, shown
from langgraph_runner._service.routes import Ctx, store_of
from langgraph_runner._service.schemas import RunCreate

__all__ = [
    "CRON_PATTERN",
    "MAX_SCHEDULES",
    "SCHEDULE_POLL",
    "ScheduleBody",
    "ScheduleCreate",
    "ScheduleList",
    "Scheduler",
    "add_schedule_routes",
    "check_cron",
    "next_tick",
]

SCHEDULE_POLL = 1.0
"""Seconds between two looks of a process's scheduler at the schedules table."""
MAX_SCHEDULES = 1000
"""Schedules one tenant may have on one queue."""
MAX_CRON = 200


def _field(number: str) -> str:
    item = rf"(\*|{number}(-{number})?)(/[1-9][0-9]?)?"
    return rf"{item}(,{item})*"


CRON_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|hourly)|"
    + " ".join(
        _field(n)
        for n in (
            r"[0-5]?[0-9]",
            r"(1?[0-9]|2[0-3])",
            r"([1-9]|[12][0-9]|3[01])",
            r"([1-9]|1[0-2])",
            "[0-7]",
        )
    )
    + ")$"
)
"""What ``cron`` may be, as a pattern of the OpenAPI document: five fields (minute 0-59,
hour 0-23, day of month 1-31, month 1-12, day of week 0-7, Sunday 0 or 7), each ``*``, a
number or a range, with an optional ``/step``, or a comma-separated list of those; or an
alias (``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@yearly``)."""
_CRON = re.compile(CRON_PATTERN)
_NAMESPACE = uuid.UUID("6b1f0d5e-4f0a-4c59-9a55-2b8d0c5e7a11")  # a tick's run id

ScheduleId = Annotated[
    str, Path(max_length=MAX_ID, pattern=SAFE_TEXT, description="A schedule's id.")
]


def next_tick(cron: str, after: float) -> float:
    """The first tick of ``cron`` after ``after`` (unix seconds, UTC)."""
    start = datetime.fromtimestamp(after, tz=timezone.utc)
    return float(croniter(cron, start).get_next(float))


def check_cron(cron: object) -> str:
    """``cron`` if it matches ``CRON_PATTERN`` and fires at some time (not on February 30).

    Raises:
        ValueError: Why not, naming ``cron``.
    """
    if not isinstance(cron, str):
        raise ValueError("cron: must be a string")
    if len(cron) > MAX_CRON:
        raise ValueError(f"cron: at most {MAX_CRON} characters, got {len(cron)}")
    if _CRON.fullmatch(cron) is None:
        raise ValueError(
            "cron: five fields (minute hour day-of-month month day-of-week: numbers, *, "
            f"ranges, lists, /steps) or an alias like @hourly expected, got {shown(cron)}"
        )
    if not croniter.is_valid(cron):
        raise ValueError(f"cron: not a cron expression: {shown(cron)}")
    try:
        next_tick(cron, time.time())
    except Exception:  # croniter finds no such date (Feb 30): it never fires
        raise ValueError(f"cron: {shown(cron)} never fires") from None
    return cron


class ScheduleCreate(RunCreate):
    """``POST /schedules``: run a workflow on an input at each tick of a cron expression
    (``thread_id``: every run on that thread, default a new one per run; ``webhook``: the
    runs' webhook, default the app's)."""

    cron: Annotated[
        str,
        BeforeValidator(check_cron),
        WithJsonSchema({"type": "string", "pattern": CRON_PATTERN, "maxLength": MAX_CRON}),
    ] = Field(
        description="Five fields, UTC: minute hour day-of-month month day-of-week "
        "(e.g. '*/15 * * * *'), or an alias such as '@hourly'."
    )


class ScheduledRunBody(BaseModel):
    """A run a schedule's tick fired."""

    run_id: str
    due_at: float = Field(description="The tick (unix seconds).")
    fired_at: float


class ScheduleBody(BaseModel):
    """A schedule: what it runs, when next, what it fired."""

    schedule_id: str
    workflow: str
    cron: str
    input: dict[str, Any] = Field(default_factory=dict)
    thread_id: str | None = None
    webhook: str | None = Field(
        default=None, description="The runs' webhook, as logged (None: the app's)."
    )
    created_at: float
    next_run_at: float = Field(description="The next tick (unix seconds, UTC).")
    last_run_id: str | None = None
    last_run_at: float | None = None
    fired: int = Field(default=0, description="Runs fired so far.")
    runs: list[ScheduledRunBody] = Field(
        default_factory=list, description="The latest runs it fired (GET /schedules/{id})."
    )


class ScheduleList(BaseModel):
    """The tenant's schedules, newest first."""

    schedules: list[ScheduleBody]


class Scheduler(Ticker):
    """A process's scheduler (see the module docstring).

    Args:
        ctx: The routes' shared state (the saver, the workers and their queue).
        dispatcher: Subscribes each fired run's webhook.
        interval: Seconds between two passes.
        clock: The time (unix seconds) ticks are judged by.
    """

    def __init__(
        self,
        ctx: Ctx,
        dispatcher: Dispatcher,
        *,
        interval: float = SCHEDULE_POLL,
        clock: Any = time.time,
    ) -> None:
        super().__init__("lgr-scheduler", interval, clock)
        self._ctx = ctx
        self.dispatcher = dispatcher
        self.store = ScheduleStore(ctx.saver)
        self.queue = ctx.pool.queue.queue

    def close(self) -> None:
        """Stop firing and let go of the database."""
        self.stop()
        self.store.close()

    def step(self) -> list[str]:
        """One pass (``tick``)."""
        return self.tick()

    def tick(self) -> list[str]:
        """One pass: fire every due tick of this queue's schedules; the runs this process
        queued (a tick another process fired is not among them)."""
        now = self.clock()
        queued: list[str] = []
        for schedule in self.store.due(self.queue, now):
            run_id = str(uuid.uuid5(_NAMESPACE, f"{schedule.schedule_id}@{schedule.next_run_at!r}"))
            mine = self.store.claim_tick(schedule, run_id, now) or self._lost(run_id)
            if mine and self._queue(schedule, run_id):
                queued.append(run_id)
            try:
                after = next_tick(schedule.cron, max(now, schedule.next_run_at))
            except Exception:  # pragma: no cover - checked when it was made
                after = float("inf")
            self.store.advance(schedule, after, run_id, now)
        return queued

    def _lost(self, run_id: str) -> bool:
        """Whether a tick another process claimed never queued its run (it stopped)."""
        if self._ctx.pool.queue.get(run_id) is not None:
            return False
        store = store_of(self._ctx.saver)
        try:
            return store.get(run_id) is None
        finally:
            store.close()

    def _queue(self, schedule: Schedule, run_id: str) -> bool:
        """Queue the tick's run; False if another process queued it first."""
        try:
            self.dispatcher.subscribe(run_id, schedule.tenant, schedule.webhook)
            self._ctx.pool.submit(
                schedule.workflow,
                schedule.tenant,
                schedule.input,
                schedule.thread_id,
                run_id=run_id,
            )
        except Exception:
            if self._ctx.pool.queue.get(run_id) is None:
                raise
            return False
        return True


def _body(schedule: Schedule, scheduler: Scheduler, *, runs: bool = False) -> ScheduleBody:
    fired = scheduler.store.fired(schedule.schedule_id) if runs else []
    fields = dataclasses.asdict(schedule)  # its tenant and queue are not shown
    fields.update(
        input=schedule.input or {},
        webhook=None if schedule.webhook is None else shown_url(schedule.webhook),
        runs=[ScheduledRunBody(**dataclasses.asdict(f)) for f in fired],
    )
    return ScheduleBody(**fields)


def add_schedule_routes(app: FastAPI, ctx: Ctx, tenant_dep: Any, scheduler: Scheduler) -> None:
    """Put ``/schedules`` and ``/schedules/{id}`` on ``app``."""
    store, queue = scheduler.store, scheduler.queue

    @app.post("/schedules", status_code=201, response_model=ScheduleBody)
    def create_schedule(body: ScheduleCreate, tenant: str = tenant_dep) -> ScheduleBody:
        """Run a workflow on an input at each tick of a cron expression (UTC)."""
        if body.workflow not in ctx.graphs:
            raise _Failure(404, f"no workflow {shown(body.workflow)}", "workflow")
        if body.webhook is not None and scheduler.dispatcher.settings.secret is None:
            raise _Failure(
                422, "webhook: this service has no webhook_secret to sign deliveries", "webhook"
            )
        if store.count(tenant, queue) >= MAX_SCHEDULES:
            raise _Failure(409, f"at most {MAX_SCHEDULES} schedules per tenant")
        now = scheduler.clock()
        schedule = Schedule(
            schedule_id=str(uuid.uuid4()),
            tenant=tenant,
            queue=queue,
            workflow=body.workflow,
            cron=body.cron,
            input=body.input,
            thread_id=body.thread_id,
            webhook=body.webhook,
            created_at=now,
            next_run_at=next_tick(body.cron, now),
        )
        store.add(schedule)
        return _body(schedule, scheduler)

    @app.get("/schedules", response_model=ScheduleList)
    def list_schedules(
        tenant: str = tenant_dep, limit: int = Query(default=100, ge=1, le=MAX_SCHEDULES)
    ) -> ScheduleList:
        """The tenant's schedules, newest first."""
        return ScheduleList(
            schedules=[_body(s, scheduler) for s in store.of(tenant, queue, limit=limit)]
        )

    @app.get("/schedules/{schedule_id}", response_model=ScheduleBody)
    def get_schedule(schedule_id: ScheduleId, tenant: str = tenant_dep) -> ScheduleBody:
        """A schedule, with the latest runs it fired."""
        schedule = store.get(schedule_id, tenant, queue)
        if schedule is None:
            raise _Failure(404, f"no schedule {shown(schedule_id)}", "schedule_id")
        return _body(schedule, scheduler, runs=True)

    @app.delete(
        "/schedules/{schedule_id}",
        status_code=204,
        response_class=Response,
        responses={204: {"description": "Deleted: no further tick fires (its runs stay)."}},
    )
    def delete_schedule(schedule_id: ScheduleId, tenant: str = tenant_dep) -> Response:
        """Delete a schedule: no further tick fires; the runs it fired stay."""
        if not store.delete(schedule_id, tenant, queue):
            raise _Failure(404, f"no schedule {shown(schedule_id)}", "schedule_id")
        store.forget(schedule_id)
        return Response(status_code=204)
