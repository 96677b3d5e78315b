"""The execution context a wrapped node sees: ``NodeContext`` and ``get_node_context()``."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langgraph_runner.abort import AbortSignal

__all__ = ["NodeContext", "get_node_context", "ids_from_config"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeContext:
    """What a wrapped node knows about the call it is running in.

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
    attempt: int = 1
    max_attempts: int = 1
    trace_id: str
    graph_execution_id: str
    thread_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    started_at: float
    deadline: float | None = None
    abort_signal: AbortSignal | None = None
    primary_error: BaseException | None = None

    def evolve(self, **changes: Any) -> NodeContext:
        """A copy with some fields changed."""
        return replace(self, **changes)


_CURRENT: contextvars.ContextVar[NodeContext | None] = contextvars.ContextVar(
    "langgraph_runner_node_context", default=None
)


def get_node_context() -> NodeContext | None:
    """The ``NodeContext`` of the wrapped node running in this thread or task.

    Works in sync nodes (also inside the worker thread a timeout uses) and async
    nodes alike.

    Returns:
        The context, or None outside a node created by ``create_node``.
    """
    return _CURRENT.get()


def _set_context(ctx: NodeContext) -> contextvars.Token[NodeContext | None]:
    return _CURRENT.set(ctx)


def _reset_context(token: contextvars.Token[NodeContext | None]) -> None:
    _CURRENT.reset(token)


def _as_str(value: Any) -> str | None:
    return None if value is None else str(value)


def ids_from_config(config: Mapping[str, Any] | None) -> tuple[str, str, str | None, str | None]:
    """Derive ``(trace_id, graph_execution_id, thread_id, run_id)`` from a RunnableConfig.

    trace_id: ``configurable["trace_id"]``, else ``metadata["trace_id"]``, else the
    run id, else a fresh uuid4 hex. graph_execution_id: the thread id, else the run
    id, else the trace id.
    """
    configurable: Mapping[str, Any] = {}
    metadata: Mapping[str, Any] = {}
    run_id: str | None = None
    if config:
        configurable = config.get("configurable") or {}
        metadata = config.get("metadata") or {}
        run_id = _as_str(config.get("run_id") or metadata.get("run_id"))
    thread_id = _as_str(configurable.get("thread_id") or metadata.get("thread_id"))
    trace_id = (
        _as_str(configurable.get("trace_id"))
        or _as_str(metadata.get("trace_id"))
        or run_id
        or uuid.uuid4().hex
    )
    return trace_id, thread_id or run_id or trace_id, thread_id, run_id
