"""langgraph_runner: production-grade LangGraph nodes.

This module only re-exports; see the README for the guide.
"""

from langgraph_runner.abort import ABORT_SIGNAL_KEY, AbortController, AbortSignal
from langgraph_runner.cache import NodeCache
from langgraph_runner.checkpoint import open_async_checkpointer, open_checkpointer
from langgraph_runner.circuit import (
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitState,
    get_circuit_breaker,
)
from langgraph_runner.classify import classify_error, is_retryable_node_error
from langgraph_runner.context import NodeContext, get_node_context
from langgraph_runner.errors import (
    CircuitOpenError,
    ErrorCategory,
    ErrorCode,
    LangGraphRunnerError,
    NodeAbortedError,
    NodeError,
    NodeTimeoutError,
    StateSchemaError,
)
from langgraph_runner.factory import NodeFactory, node_factory
from langgraph_runner.logs import configure_logging
from langgraph_runner.metrics import METRICS_COLLECTOR_KEY, NodeMetrics, NodeMetricsCollector
from langgraph_runner.node import create_node
from langgraph_runner.report import RunReport, run_report
from langgraph_runner.retry import RetryAttempt, RetryConfig
from langgraph_runner.sanitize import sanitize_message, sanitize_stack
from langgraph_runner.state import GraphState, route_on_blocked, update_state

__all__ = [
    "ABORT_SIGNAL_KEY",
    "AbortController",
    "AbortSignal",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitOpenError",
    "CircuitState",
    "ErrorCategory",
    "ErrorCode",
    "GraphState",
    "LangGraphRunnerError",
    "METRICS_COLLECTOR_KEY",
    "NodeAbortedError",
    "NodeCache",
    "NodeContext",
    "NodeError",
    "NodeFactory",
    "NodeMetrics",
    "NodeMetricsCollector",
    "NodeTimeoutError",
    "RetryAttempt",
    "RetryConfig",
    "RunReport",
    "StateSchemaError",
    "classify_error",
    "configure_logging",
    "create_node",
    "get_circuit_breaker",
    "get_node_context",
    "is_retryable_node_error",
    "node_factory",
    "open_async_checkpointer",
    "open_checkpointer",
    "route_on_blocked",
    "run_report",
    "sanitize_message",
    "sanitize_stack",
    "update_state",
]
