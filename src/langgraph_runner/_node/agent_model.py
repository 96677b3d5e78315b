"""A hardened agent's model node ends the agent when its model call fails for good.

An agent's router decides after the model node from the last message: tool calls
go to the tools, none ends the loop. A recorded failure that writes no message
leaves the previous turn's message last; create_agent's router then finds that
turn's tool calls all answered and returns ``"model"``, which is not one of that
branch's destinations (a ``KeyError`` that hides the record). So the model node of
a known agent shape (``create_agent``, ``create_react_agent``) answers a recorded
failure as ``RunnerMiddleware`` does: an ``AIMessage`` with the redacted error and
no tool calls, next to the record and the ``blocked`` routing flag. Raise mode and
successful calls are untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage

from langgraph_runner._node.factory import with_result_hook

__all__ = ["error_ai_message", "is_agent_model", "with_error_message"]

# The model nodes' functions of the agent factories we know: module -> function names.
_AGENT_MODELS = {
    "langchain.agents.factory": ("model_node", "amodel_node"),
    "langgraph.prebuilt.chat_agent_executor": ("call_model", "acall_model"),
}
MESSAGES_KEY = "messages"


def is_agent_model(fn: Any) -> bool:
    """Whether ``fn`` is the model node function of a prebuilt agent (or LangGraph's
    function shell around it)."""
    for candidate in (fn, getattr(fn, "func", None), getattr(fn, "afunc", None)):
        names = _AGENT_MODELS.get(getattr(candidate, "__module__", None) or "")
        if names is not None and getattr(candidate, "__name__", None) in names:
            return True
    return False


def error_ai_message(records: Any) -> AIMessage:
    """The message that ends an agent after a model failure: the last record's text."""
    last: Mapping[str, Any] = records[-1] if records else {}
    return AIMessage(
        content=f"Error: {last.get('message', 'the model call failed')}",
        response_metadata={"langgraph_runner": {"error": last.get("code", "ERROR")}},
    )


def _ended(result: Any) -> Any:
    """A recorded failure's update with the error message added (other results as they are)."""
    if type(result) is not dict or "errors" not in result or MESSAGES_KEY in result:
        return result
    flags = result.get("routing_flags")
    if not isinstance(flags, Mapping) or not flags.get("blocked"):
        return result  # a recovered record (a fallback answered): the fallback decides
    return {**result, MESSAGES_KEY: [error_ai_message(result["errors"])]}


def with_error_message(node: Any) -> Any:
    """``node`` (made by ``create_node``) whose recorded failure also ends the agent.

    The node's entry points are replaced in place, so it stays the Runnable LangGraph
    and ``harden`` know (its name, signature, drawing and ``__wrapped__``).
    """
    node = with_result_hook(node, _ended)
    node.langgraph_runner_result_hook = _ended  # applied by the Temporal activity body
    return node
