"""The service's request and response bodies (pydantic models: the OpenAPI document)."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
)
from typing_extensions import TypeAliasType

from langgraph_runner._service.guards import MAX_ID, SAFE_TEXT, WebhookUrl, check_json

__all__ = [
    "AttemptBody",
    "InterruptBody",
    "MultitaskStrategy",
    "WorkerBody",
    "RunResume",
    "RunState",
    "ArtifactBody",
    "BudgetBody",
    "ErrorBody",
    "GraphBody",
    "RunCreate",
    "RunUpdate",
    "RunDetail",
    "RunList",
    "RunSummary",
    "StepBody",
    "WorkflowBody",
]


NO_NUL = r"^[^\x00]*$"
StorableText = Annotated[str, StringConstraints(pattern=NO_NUL)]
SafeText = Annotated[str, StringConstraints(pattern=SAFE_TEXT, max_length=MAX_ID)]
JsonValue = TypeAliasType(
    "JsonValue",
    "StorableText | int | float | bool | list[JsonValue] | dict[StorableText, JsonValue] | None",
)
"""A value of a run's input: any JSON but a NUL in a string or key (a database cannot store it)."""


def _storable(value: Any, info: ValidationInfo) -> Any:
    """Refuse a NUL anywhere in a run's input, or nesting past the limit, naming the path."""
    why = check_json(value, info.field_name or "input") if isinstance(value, dict) else None
    if why is not None:
        raise ValueError(why)
    return value


StorableInput = Annotated[dict[StorableText, JsonValue], BeforeValidator(_storable)]


class MultitaskStrategy(str, enum.Enum):
    """What ``POST /runs`` does with a run on a thread that has a pending or running run."""

    REJECT = "reject"
    ENQUEUE = "enqueue"
    INTERRUPT = "interrupt"
    ROLLBACK = "rollback"


class RunCreate(BaseModel):
    """``POST /runs``: which workflow to run, on what input, on which thread."""

    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(
        min_length=1,
        max_length=MAX_ID,
        pattern=SAFE_TEXT,
        description="A workflow name from GET /workflows.",
    )
    input: StorableInput = Field(default_factory=dict, description="The graph's input.")
    thread_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=SAFE_TEXT,
        description="Default: a new thread.",
    )
    webhook: WebhookUrl | None = Field(
        default=None,
        description="Where the run's end is posted (signed; default: the app's webhook_url). "
        "GET /runs/{id}/webhooks shows the attempts.",
    )
    multitask_strategy: MultitaskStrategy | None = Field(
        default=None,
        description="When the thread has a pending or running run: reject (409), enqueue "
        "(run after it), interrupt (cancel it at its next step boundary, then run) or "
        "rollback (as interrupt, then delete it and run from the thread's state before it). "
        "Default: the service's (create_app(multitask_strategy=), enqueue unless set).",
    )


class RunUpdate(BaseModel):
    """``POST /runs/{id}/update``: a change request for a partial rebuild of a completed run."""

    model_config = ConfigDict(extra="forbid")

    inputs: StorableInput = Field(default_factory=dict, description="Input fields that change.")
    versions: dict[SafeText, SafeText] = Field(
        default_factory=dict, description="Node -> its new NodeCache version (already deployed)."
    )


class StepBody(BaseModel):
    """One step (node) of a run."""

    name: str
    status: str = Field(
        description="succeeded, cached, reused, failed, cancelled, skipped, pending, "
        "interrupted or running (started, not ended: its duration grows from started_at)."
    )
    attempts: int = 0
    started_at: str | None = None
    duration_ms: float | None = Field(
        default=None, description="Its own time, once it ended (None while running)."
    )
    cause: str | None = None
    artifacts: dict[str, str] = Field(default_factory=dict, description="Name -> path.")


class RunSummary(BaseModel):
    """A run as listed."""

    run_id: str
    thread_id: str | None
    workflow: str | None
    status: str
    reason: str | None = None
    started_at: float
    updated_at: float
    worker: str | None = Field(
        default=None,
        description="The state of the worker holding a running run: alive, draining, "
        "dead (it missed its heartbeat: the run waits for another worker) or stopped.",
    )


class RunList(BaseModel):
    """A page of runs, newest first; ``next_before`` fetches the next page."""

    runs: list[RunSummary]
    next_before: float | None = None


class GraphBody(BaseModel):
    """A run's graph as stored when it started (edges: the graph's, not the execution order)."""

    nodes: list[str]
    edges: list[tuple[str, str, bool]] = Field(description="(source, target, conditional)")


class BudgetBody(BaseModel):
    """Where one of the service's budgets stands for a run, its thread or its tenant."""

    name: str
    per: str = Field(description="run, thread or tenant")
    scope_id: str = Field(description="The run, thread or tenant it counts for.")
    spent: dict[str, float] = Field(description="tokens, cost, calls spent so far")
    remaining: dict[str, float | None] = Field(description="Left per unit (None: no limit).")
    exhausted: bool


class InterruptBody(BaseModel):
    """One question a run's ``interrupt()`` asks."""

    id: str = Field(description="The interrupt's id.")
    value: Any = Field(default=None, description="What interrupt() was given: the question.")


class RunResume(BaseModel):
    """``POST /runs/{id}/resume``: the answer to the run's ``interrupt()``."""

    model_config = ConfigDict(extra="forbid")

    value: JsonValue = Field(
        default=None, description="What interrupt() returns in the node (any JSON)."
    )


class RunDetail(RunSummary):
    """A run with its progress and steps."""

    steps_done: int = 0
    steps_total: int | None = None
    steps: list[StepBody] = Field(default_factory=list)
    artifacts: dict[str, str] = Field(default_factory=dict)
    interrupts: list[InterruptBody] = Field(
        default_factory=list,
        description="What the run's interrupt() calls ask, while it waits for an answer "
        "(POST /runs/{id}/resume).",
    )
    plan: dict[str, Any] | None = Field(
        default=None, description="A rebuild's plan: rerun, maybe, reused, reasons."
    )
    graph: GraphBody | None = Field(
        default=None,
        description="The graph's shape stored when the run started (None: not stored yet, "
        "or a run started without it).",
    )
    budgets: list[BudgetBody] = Field(
        default_factory=list, description="The service's budgets, where each stands."
    )
    time_limit: float | None = Field(
        default=None, description="Seconds each run of this service may take (None: no limit)."
    )
    input: Any = Field(
        default=None,
        description="The run's input as queued, redacted (GET /runs/{id} only; a resume: "
        '{"resume": value}; None: a rebuild or retry, or a run not queued here).',
    )
    output: Any = Field(
        default=None,
        description="The state at the run's last checkpoint once it ended, redacted "
        "(GET /runs/{id} only; None while pending or running).",
    )
    trace_id: str | None = Field(
        default=None,
        description="The trace id (32 hex chars) the run's records, log events and "
        "OpenTelemetry spans carry: the trace of the request that triggered it, else its "
        "run id (None: a run this service did not queue, or whose queue row was purged).",
    )


class WorkflowBody(BaseModel):
    """A workflow: its steps, edges, drawing and input schema."""

    name: str
    nodes: list[str]
    edges: list[tuple[str, str, bool]] = Field(description="(source, target, conditional)")
    mermaid: str | None = None
    input_schema: dict[str, Any] | None = None


class ArtifactBody(BaseModel):
    """One artifact a run wrote: which step, its name, its path."""

    step: str | None = Field(description="The step that wrote it; None: the final state's.")
    name: str
    path: str


class ErrorBody(BaseModel):
    """Every error: what went wrong and the field it concerns, if any."""

    detail: str
    field: str | None = None


class RunState(str, enum.Enum):
    """A run's status, as ``GET /runs?status=`` filters it."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    BLOCKED = "blocked"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"


class AttemptBody(BaseModel):
    """One attempt of a step in a run, with its own error record when it failed."""

    number: int = Field(ge=1, description="1 for the first attempt.")
    outcome: str = Field(
        description="succeeded, failed, retried (it failed and a later attempt followed), "
        "recovered (its failure was handled by a fallback), cached, reused, cancelled, "
        "interrupted or running."
    )
    code: str | None = Field(
        default=None,
        description="Its error record's code (a retried attempt's: the code it would have "
        "ended the step with).",
    )
    category: str | None = Field(default=None, description="Its error record's category.")
    error_type: str | None = Field(
        default=None, description="The class name of the exception it raised."
    )
    message: str | None = Field(default=None, description="Its error record's message (redacted).")
    started_at: str | None = Field(default=None, description="ISO-8601, when known.")
    ended_at: str | None = Field(default=None, description="ISO-8601, when known.")
    duration_ms: float | None = Field(
        default=None, ge=0, description="From its start to its end, when both are known."
    )
    task_id: str | None = Field(
        default=None,
        description="LangGraph's id of the task that made it (each Send task of a step makes "
        "attempts of its own).",
    )


class WorkerBody(BaseModel):
    """One worker process on the service's run queue."""

    worker_id: str
    host: str
    pid: int
    threads: int
    started_at: float
    heartbeat_at: float = Field(description="Its last heartbeat (epoch seconds).")
    state: str = Field(
        description="alive, draining (takes no more runs), dead (missed its heartbeat) or "
        "stopped (closed)."
    )
    runs: int = Field(description="The runs it holds now, every tenant's.")
    your_runs: list[str] = Field(description="Of those, the caller's run ids.")
