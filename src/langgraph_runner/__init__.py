"""langgraph_runner: production-grade LangGraph nodes.

This module only re-exports; see the README for the guide.
"""

from langgraph_runner.cache import NodeCache
from langgraph_runner.classify import classify_error, is_retryable_node_error
from langgraph_runner.context import NodeContext, get_node_context
from langgraph_runner.errors import (
    ErrorCategory,
    ErrorCode,
    LangGraphRunnerError,
    NodeError,
    StateSchemaError,
)
from langgraph_runner.logs import configure_logging
from langgraph_runner.node import create_node
from langgraph_runner.retry import RetryAttempt, RetryConfig
from langgraph_runner.sanitize import sanitize_message, sanitize_stack
from langgraph_runner.state import GraphState, route_on_blocked, update_state

__all__ = [
    "ErrorCategory",
    "ErrorCode",
    "GraphState",
    "LangGraphRunnerError",
    "NodeCache",
    "NodeContext",
    "NodeError",
    "RetryAttempt",
    "RetryConfig",
    "StateSchemaError",
    "classify_error",
    "configure_logging",
    "create_node",
    "get_node_context",
    "is_retryable_node_error",
    "route_on_blocked",
    "sanitize_message",
    "sanitize_stack",
    "update_state",
]
