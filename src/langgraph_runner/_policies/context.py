"""The execution context a wrapped node sees: ``NodeContext`` and ``get_node_context()``."""

from __future__ import annotations

import collections
import contextvars
import hashlib
import itertools
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

__all__ = [
    "BUDGET_VIEW",
    "CURRENT",
    "RUN_DEADLINE_KEY",
    "RUN_TRACKER_KEY",
    "TENANT_KEY",
    "ContextSource",
    "NodeContext",
    "RunScope",
    "forget_oldest",
    "get_node_context",
    "idempotency_key_for",
    "ids_from_config",
    "new_trace_id",
    "reset_context",
    "run_ids",
    "run_scope",
    "set_context",
    "trace_id_for_run",
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


# Generated trace ids: a random per-process prefix and a counter, unique without the
# cost of uuid4 on every node call.
# The prefix fills the top 64 bits of a 128-bit number, the counter the rest.
_PREFIX = int.from_bytes(os.urandom(8), "big") << 64
_COUNTER = itertools.count(1)


def new_trace_id() -> str:
    """A fresh trace id (32 hex chars), unique across processes."""
    return (_PREFIX | next(_COUNTER)).to_bytes(16, "big").hex()


def _reseed_after_fork() -> None:
    global _PREFIX
    _PREFIX = int.from_bytes(os.urandom(8), "big") << 64


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_after_fork)


# One generated trace id per graph run. LangGraph gives every invocation (and the
# subgraphs it calls) one ``RunControl`` object, but a node cannot see the root run's
# id when the caller gave none; the control object is the run's identity instead.
# RunControl has __slots__ and no __weakref__, so the registry holds the objects
# themselves (a strong reference also keeps their id() from being reused) and is
# bounded: the oldest runs are forgotten first, 4096 at a time once it holds twice as
# many (one pass over old entries now and then, instead of one on every new run).
_RUNS_MAX = 4096
_RUNS: collections.OrderedDict[int, RunScope] = collections.OrderedDict()
_RUNS_LOCK = threading.Lock()


class RunScope(NamedTuple):
    """A graph run this process generated the trace id of, and what is kept for it.

    Attributes:
        anchor: LangGraph's ``RunControl`` of the run (its identity).
        trace_id: The run's generated trace id.
        data: Bookkeeping kept for the run and forgotten with it (the loop guard's
            counts of failures in a row).
    """

    anchor: object
    trace_id: str
    data: dict[Any, Any]


_new_scope = tuple.__new__  # RunScope(...) without NamedTuple's Python-level __new__


def run_scope(anchor: object) -> RunScope:
    """The ``RunScope`` of the run whose identity object is ``anchor``.

    The same object always gets the same scope, and so the same trace id (while
    it is among the last 4096 runs).
    """
    key = id(anchor)
    with _RUNS_LOCK:
        found = _RUNS.get(key)
        if found is not None and found.anchor is anchor:
            _RUNS.move_to_end(key)
            return found
        trace = (_PREFIX | next(_COUNTER)).to_bytes(16, "big").hex()  # new_trace_id(), inlined
        scope = _RUNS[key] = _new_scope(RunScope, (anchor, trace, {}))
        if len(_RUNS) >= 2 * _RUNS_MAX:
            forget_oldest(_RUNS, _RUNS_MAX)
        return scope


def trace_id_for_run(anchor: object) -> str:
    """The trace id generated for the run whose identity object is ``anchor``.

    The same object always gets the same id (while it is among the last 4096 runs).
    """
    return run_scope(anchor).trace_id


def forget_oldest(entries: collections.OrderedDict[Any, Any], keep: int) -> None:
    """Drop the oldest entries of ``entries`` until ``keep`` are left."""
    pop = entries.popitem
    for _ in range(len(entries) - keep):
        pop(last=False)


def ids_from_config(
    config: Mapping[str, Any] | None,
    *,
    run_id: str | None = None,
    run_anchor: object = None,
) -> tuple[str, str, str | None, str | None]:
    """Derive ``(trace_id, graph_execution_id, thread_id, run_id)`` from a RunnableConfig.

    trace_id: ``configurable["trace_id"]``, else ``metadata["trace_id"]``, else the
    trace id of the current OpenTelemetry span (when one is current), else the
    run id, else the id generated once for ``run_anchor`` (LangGraph's per-run
    ``RunControl``), else a fresh id. graph_execution_id: the thread id, else the
    run id, else the trace id. ``run_id`` is the fallback run id when the config
    carries none (inside a graph LangGraph keeps it in ``runtime.execution_info``).
    """
    trace_id, exec_id, thread_id, run, _scope = run_ids(
        config, run_id=run_id, run_anchor=run_anchor
    )
    return trace_id, exec_id, thread_id, run


def run_ids(
    config: Mapping[str, Any] | None,
    *,
    run_id: str | None = None,
    run_anchor: object = None,
) -> tuple[str, str, str | None, str | None, RunScope | None]:
    """``ids_from_config``'s four ids, and the run's ``RunScope`` when its id was generated.

    A run is named when its trace id came from the caller (a trace or run id in
    the config, or the current span's trace) or from ``run_id``: another process
    may then be running (resuming) the same run, and the scope is None. Otherwise
    the trace id was generated here, once per ``run_anchor``, and the scope is that
    run's (None without an anchor: a fresh id for a call outside any graph run).
    """
    scope = None
    if not config:
        # The current span's trace (read here, not through _traces: one module fewer on
        # every failure's path).
        if (
            _OTEL in _MODULES
            and (span := _MODULES[_OTEL].get_current_span().get_span_context()).is_valid
        ):
            span_trace = f"{span.trace_id:032x}"
            return span_trace, run_id or span_trace, None, run_id, None
        if run_id:
            return run_id, run_id, None, run_id, None
        if run_anchor is not None:
            scope = run_scope(run_anchor)
            return scope.trace_id, scope.trace_id, None, None, scope
        trace = new_trace_id()
        return trace, trace, None, None, None
    configurable: Mapping[str, Any] = config.get("configurable") or _EMPTY
    metadata: Mapping[str, Any] = config.get("metadata") or _EMPTY
    raw_run = config.get("run_id") or metadata.get("run_id")
    if raw_run is not None:
        run_id = str(raw_run)
    raw_thread = configurable.get("thread_id") or metadata.get("thread_id")
    thread_id = None if raw_thread is None else str(raw_thread)
    raw_trace = configurable.get("trace_id") or metadata.get("trace_id")
    if raw_trace:
        trace_id = str(raw_trace)
    elif (
        _OTEL in _MODULES
        and (span := _MODULES[_OTEL].get_current_span().get_span_context()).is_valid
    ):
        trace_id = f"{span.trace_id:032x}"
    elif run_id:
        trace_id = run_id
    elif run_anchor is not None:
        scope = run_scope(run_anchor)
        trace_id = scope.trace_id
    else:
        trace_id = new_trace_id()
    return trace_id, thread_id or run_id or trace_id, thread_id, run_id, scope


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


_EMPTY: Mapping[str, Any] = {}
# Whether OpenTelemetry is in use: one dict lookup, so a run without it pays nothing more.
_MODULES = sys.modules
_OTEL = "opentelemetry.trace"
