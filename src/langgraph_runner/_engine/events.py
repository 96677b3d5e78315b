"""Node events: one log line with the context's identifiers.

Every event the engine logs (``node.started``, ``node.retrying``,
``node.failed``, ...) goes through :func:`emit`, so each carries the same
identifiers in the same order.
"""

from __future__ import annotations

from typing import Any

from langgraph_runner._policies.context import NodeContext
from langgraph_runner._records.logs import EventLogger

__all__ = ["emit"]


def emit(log: EventLogger, level: int, event: str, ctx: NodeContext, **fields: Any) -> None:
    """Log one node event with the context's identifiers."""
    log.emit(
        level,
        event,
        node=ctx.node,
        attempt=ctx.attempt,
        **fields,
        thread_id=ctx.thread_id,
        run_id=ctx.run_id,
        trace_id=ctx.trace_id,
    )
