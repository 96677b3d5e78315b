"""The execution context a wrapped node sees: ``NodeContext`` and ``get_node_context()``."""

from __future__ import annotations

import contextvars
import hashlib
from typing import Any, NamedTuple, Protocol

__all__ = [
    "BUDGET_VIEW",
    "CURRENT",
    "RUN_DEADLINE_KEY",
    "RUN_TRACKER_KEY",
    "TENANT_KEY",
    "ContextSource",
    "NodeContext",
    "get_node_context",
    "idempotency_key_for",
    "reset_context",
    "set_context",
]

#: The ``configurable`` key of a run's tenant (``run(tenant=...)`` sets it).
TENANT_KEY = "tenant_id"

RUN_DEADLINE_KEY = "langgraph_runner_run_deadline"
"""``config["configurable"]`` key of the run's deadline: a ``time.monotonic()`` value.

Every wrapped node caps its attempts and retry waits by what is left of it
(``langgraph_runner._runs.lifecycle.run(..., time_limit=)`` sets it).
"""

RUN_TRACKER_KEY = "langgraph_runner_run_tracker"
"""``config["configurable"]`` key of the object ``runs.run`` uses to learn node cache outcomes."""


class NodeContext(NamedTuple):
    """What a wrapped node knows about the call it is running in. Immutable.

    (A NamedTuple rather than a frozen dataclass: it is built on every node call,
    and tuple construction is several times cheaper.)

    Attributes:
        node: The node's name.
        attempt: 1-based number of the current attempt.
        max_attempts: Attempts allowed for this call.
        trace_id: Correlates logs, records and metrics of one run (see the logging guide).
        graph_execution_id: The thread id, else the run id, else the trace id.
        thread_id: ``configurable.thread_id`` when the run has one.
        run_id: The LangChain run id of the graph invocation, when known.
        task_id: LangGraph's task id for this node execution, when known.
        started_at: ``time.time()`` when the call (first attempt) started.
        deadline: ``time.monotonic()`` value at which the whole call must end, if any.
        abort_signal: The attempt's own abort signal: fires when the run's signal
            fires or the attempt times out.
        primary_error: Inside a fallback, the exception that made the node fail.
        idempotency_key: A stable key for this LangGraph task (32 hex chars): the same
            on every attempt of the node (``retry=`` and LangGraph's ``RetryPolicy``),
            when a crashed run is resumed from its checkpoint, and when a queue
            delivers the task again; different for every other task (another step,
            another ``Send`` item, another thread, another subgraph). Derived from the
            thread id, the task's checkpoint namespace and LangGraph's deterministic
            task id, never from a random id. None outside a LangGraph task (a node
            called directly). ``langgraph_runner._runs.effects.EffectLedger`` keys
            completed side effects by it.
    """

    node: str
    trace_id: str
    graph_execution_id: str
    started_at: float
    attempt: int = 1
    max_attempts: int = 1
    thread_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    deadline: float | None = None
    abort_signal: Any = None  # an AbortSignal (langgraph_runner._policies.abort) when one is in use
    primary_error: BaseException | None = None
    idempotency_key: str | None = None

    def evolve(self, **changes: Any) -> NodeContext:
        """A copy with some fields changed."""
        return self._replace(**changes)

    @property
    def budgets(self) -> Any:
        """The node's budgets as they stand now: ``{name: BudgetStatus}`` (spent,
        remaining, exhausted), read fresh from their store; empty without budgets."""
        view = BUDGET_VIEW.get()
        return {} if view is None else view()


class ContextSource(Protocol):
    """What the contextvar holds: builds the NodeContext on first use.

    Building it lazily keeps the success path cheap when nobody asks for it
    (logs filtered, no hook, fn never calls get_node_context()).
    """

    def get(self) -> NodeContext: ...


class _Fixed:
    __slots__ = ("_ctx",)

    def __init__(self, ctx: NodeContext) -> None:
        self._ctx = ctx

    def get(self) -> NodeContext:
        return self._ctx


BUDGET_VIEW: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "langgraph_runner_budget_view", default=None
)
"""``() -> {name: BudgetStatus}`` of the running node's budgets (set by ``_limits.guard``)."""

CURRENT: contextvars.ContextVar[ContextSource | None] = contextvars.ContextVar(
    "langgraph_runner_node_context", default=None
)
"""What ``get_node_context()`` reads; the engine sets it for each call and attempt."""


def get_node_context() -> NodeContext | None:
    """The ``NodeContext`` of the wrapped node running in this thread or task.

    Works in sync nodes (also inside the worker thread a timeout uses) and async
    nodes alike.

    Returns:
        The context, or None outside a node created by ``create_node``.
    """
    source = CURRENT.get()
    return None if source is None else source.get()


def set_context(source: ContextSource | NodeContext) -> contextvars.Token[ContextSource | None]:
    """Make ``source`` what ``get_node_context()`` reads (the engine's side of it)."""
    if isinstance(source, NodeContext):
        source = _Fixed(source)
    return CURRENT.set(source)


def reset_context(token: contextvars.Token[ContextSource | None]) -> None:
    """Undo the ``set_context`` that returned ``token``."""
    CURRENT.reset(token)


def idempotency_key_for(thread_id: str | None, checkpoint_ns: str | None, task_id: str) -> str:
    """The ``NodeContext.idempotency_key`` of a LangGraph task: 32 hex chars.

    A BLAKE2b digest of the thread id, the task's checkpoint namespace (which holds
    the ids of the parent tasks of a subgraph) and LangGraph's task id. LangGraph
    derives the task id from the checkpoint that scheduled the task, its step,
    node and triggers (or ``Send`` index), so a re-run of the same task from the
    same checkpoint gets the same key.
    """
    raw = f"{thread_id or ''}\x00{checkpoint_ns or ''}\x00{task_id}".encode()
    return hashlib.blake2b(raw, digest_size=16).hexdigest()
