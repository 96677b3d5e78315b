"""``tool_error_messages``: hand a whole tools node's failure to the model.

By default a wrapped tools node that fails terminally records the failure and
sets ``routing_flags["blocked"]``; route on it (``route_on_blocked``) to end the
run or reach a handler. For an agent that should *see* the failure and decide
what to do, use ``tool_error_messages`` as the node's fallback::

    tools = create_node(ToolNode([search]), retry=3, fallback=tool_error_messages)

Each tool call of the last AI message then gets an error ``ToolMessage`` with the
sanitized failure (secrets redacted, no stack), the record is kept (marked
``recovered``) and the loop goes back to the model. The loop guard still counts
these failures: a model that keeps calling a tool that keeps failing stops after
``max_consecutive_failures`` of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage

from langgraph_runner._policies.context import get_node_context
from langgraph_runner._records.egress import egress_error

__all__ = ["tool_error_messages"]


def _messages(state: Any) -> Sequence[Any]:
    if isinstance(state, Mapping):
        found = state.get("messages")
    elif isinstance(state, Sequence) and not isinstance(state, str):
        found = state  # a ToolNode called with a bare list of messages
    else:
        found = getattr(state, "messages", None)
    return found or ()


def tool_error_messages(state: Any) -> dict[str, list[ToolMessage]]:
    """A fallback for a tools node: one error ``ToolMessage`` per pending tool call.

    Use it as ``create_node(tools_node, fallback=tool_error_messages)``. It reads
    the failure from ``get_node_context().primary_error`` and answers every tool
    call of the last AI message in ``state["messages"]`` with
    ``"Error: <ErrorType>: <sanitized message>"`` and ``status="error"``.

    Args:
        state: The tools node's input (a dict or object with ``messages``).

    Returns:
        ``{"messages": [ToolMessage, ...]}``; no messages when the last message
        asks for no tool call.
    """
    ctx = get_node_context()
    error = ctx.primary_error if ctx is not None else None
    content = f"Error: {egress_error(error, max_length=500)}"
    last = next((m for m in reversed(_messages(state)) if isinstance(m, AIMessage)), None)
    calls = last.tool_calls if last is not None else []
    return {
        "messages": [
            ToolMessage(
                content=content, name=tc["name"], tool_call_id=str(tc["id"]), status="error"
            )
            for tc in calls
        ]
    }
