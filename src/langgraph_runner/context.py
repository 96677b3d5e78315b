"""The execution context a wrapped node sees: ``NodeContext`` and ``get_node_context()``."""

from __future__ import annotations

import contextvars
import itertools
import os
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

__all__ = ["ContextSource", "NodeContext", "get_node_context", "ids_from_config", "new_trace_id"]


class NodeContext(NamedTuple):
    """What a wrapped node knows about the call it is running in. Immutable.

    (A NamedTuple rather than a frozen dataclass: it is built on every node call,
    and tuple construction is several times cheaper.)

    Attributes:
        node: The node's name.
        attempt: 1-based number of the current attempt.
        max_attempts: Attempts allowed for this call.
        trace_id: Correlates logs, records and metrics of one run (see README).
        graph_execution_id: The thread id, else the run id, else the trace id.
        thread_id: ``configurable.thread_id`` when the run has one.
        run_id: The LangChain run id of the graph invocation, when known.
        task_id: LangGraph's task id for this node execution, when known.
        started_at: ``time.time()`` when the call (first attempt) started.
        deadline: ``time.monotonic()`` value at which the whole call must end, if any.
        abort_signal: The attempt's own abort signal: fires when the run's signal
            fires or the attempt times out.
        primary_error: Inside a fallback, the exception that made the node fail.
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
    abort_signal: Any = None  # an AbortSignal (langgraph_runner.abort) when one is in use
    primary_error: BaseException | None = None

    def evolve(self, **changes: Any) -> NodeContext:
        """A copy with some fields changed."""
        return self._replace(**changes)


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


_CURRENT: contextvars.ContextVar[ContextSource | None] = contextvars.ContextVar(
    "langgraph_runner_node_context", default=None
)


def get_node_context() -> NodeContext | None:
    """The ``NodeContext`` of the wrapped node running in this thread or task.

    Works in sync nodes (also inside the worker thread a timeout uses) and async
    nodes alike.

    Returns:
        The context, or None outside a node created by ``create_node``.
    """
    source = _CURRENT.get()
    return None if source is None else source.get()


def _set_context(source: ContextSource | NodeContext) -> contextvars.Token[ContextSource | None]:
    if isinstance(source, NodeContext):
        source = _Fixed(source)
    return _CURRENT.set(source)


def _reset_context(token: contextvars.Token[ContextSource | None]) -> None:
    _CURRENT.reset(token)


# Generated trace ids: a random per-process prefix and a counter, unique without the
# cost of uuid4 on every node call.
_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count(1)


def new_trace_id() -> str:
    """A fresh trace id (32 hex chars), unique across processes."""
    return f"{_PREFIX}{next(_COUNTER):016x}"


def _reseed_after_fork() -> None:
    global _PREFIX
    _PREFIX = os.urandom(8).hex()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_after_fork)


def ids_from_config(
    config: Mapping[str, Any] | None, *, run_id: str | None = None
) -> tuple[str, str, str | None, str | None]:
    """Derive ``(trace_id, graph_execution_id, thread_id, run_id)`` from a RunnableConfig.

    trace_id: ``configurable["trace_id"]``, else ``metadata["trace_id"]``, else the
    run id, else a fresh id. graph_execution_id: the thread id, else the run id, else
    the trace id. ``run_id`` is the fallback run id when the config carries none
    (inside a graph LangGraph keeps it in ``runtime.execution_info``).
    """
    if not config:
        trace = run_id or new_trace_id()
        return trace, trace, None, run_id
    configurable: Mapping[str, Any] = config.get("configurable") or _EMPTY
    metadata: Mapping[str, Any] = config.get("metadata") or _EMPTY
    raw_run = config.get("run_id") or metadata.get("run_id")
    if raw_run is not None:
        run_id = str(raw_run)
    raw_thread = configurable.get("thread_id") or metadata.get("thread_id")
    thread_id = None if raw_thread is None else str(raw_thread)
    raw_trace = configurable.get("trace_id") or metadata.get("trace_id")
    trace_id = str(raw_trace) if raw_trace else (run_id or new_trace_id())
    return trace_id, thread_id or run_id or trace_id, thread_id, run_id


_EMPTY: Mapping[str, Any] = {}
