"""Agents: LangChain v1 middleware, and a tools node's failure handed to the model.

Three ways in, from the most to the least automatic (``docs/agents.md``):

- ``RunnerMiddleware``: a LangChain v1 ``AgentMiddleware`` for ``create_agent`` that
  runs each model call and each tool call under ``create_node``'s options. It needs
  LangChain (``pip install "langgraph-runner[agents]"``) and is imported on first use.
- ``harden(agent)``: a compiled agent (``create_agent``, ``create_react_agent``)
  hardened node by node, its ``ToolNode`` per tool call.
- ``create_node`` in a hand-built loop, with ``tool_error_messages`` as the tools
  node's fallback when the model should see the failure.

Modules::

    _middleware   RunnerMiddleware: create_node's options for each model and tool call
    _agent_shape  what create_agent is building, seen by a middleware while it is built
    _order        middleware orders around RunnerMiddleware that would switch one off
    _tool_errors  tool_error_messages: a whole tools node's failure handed to the model
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph_runner.agents._tool_errors import tool_error_messages

if TYPE_CHECKING:
    from langgraph_runner.agents._middleware import RunnerMiddleware, RunnerMiddlewareConfig

__all__ = ["RunnerMiddleware", "RunnerMiddlewareConfig", "tool_error_messages"]

_LAZY = {"RunnerMiddleware", "RunnerMiddlewareConfig"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from langgraph_runner._internal.extras import require_extra

        module = require_extra("agents", "langgraph_runner.agents._middleware")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
