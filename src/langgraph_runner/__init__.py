"""langgraph_runner: production-grade LangGraph nodes.

This module only re-exports; the guides are in the documentation (docs/index.md).
"""

from langgraph_runner._version import __version__ as __version__
from langgraph_runner.abort import ABORT_SIGNAL_KEY, AbortController, AbortSignal
from langgraph_runner.agents import tool_error_messages
from langgraph_runner.bounded import (
    DEFAULT_ERRORS_LIMIT,
    BoundedErrors,
    aerrors_dropped,
    bounded_errors,
    errors_dropped,
)
from langgraph_runner.cache import NodeCache
from langgraph_runner.checkpoint import open_async_checkpointer, open_checkpointer
from langgraph_runner.circuit import (
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitState,
    get_circuit_breaker,
)
from langgraph_runner.circuit_redis import RedisBreakerStore, SharedCircuitBreaker
from langgraph_runner.classify import classify_error, is_retryable_node_error
from langgraph_runner.context import NodeContext, get_node_context
from langgraph_runner.effects import EffectLedger
from langgraph_runner.errors import (
    CircuitOpenError,
    ErrorCategory,
    ErrorCode,
    FailureLoopError,
    LangGraphRunnerError,
    NodeAbortedError,
    NodeError,
    NodeTimeoutError,
    StateSchemaError,
    ThreadBusyError,
)
from langgraph_runner.harden import harden
from langgraph_runner.logs import configure_logging
from langgraph_runner.metrics import METRICS_COLLECTOR_KEY, NodeMetrics, NodeMetricsCollector
from langgraph_runner.node import NodeFactory, create_node, node_factory
from langgraph_runner.progress import heartbeat
from langgraph_runner.rebuild import (
    Change,
    Plan,
    RebuildResult,
    RunNotCompletedError,
    arebuild,
    plan,
    rebuild,
)
from langgraph_runner.report import RunReport, run_report
from langgraph_runner.rerun import ablocked_nodes, arerun_blocked, blocked_nodes, rerun_blocked
from langgraph_runner.retry import RetryAttempt, RetryConfig
from langgraph_runner.runs import RUN_DEADLINE_KEY, RunResult, arun, run
from langgraph_runner.sanitize import sanitize_message, sanitize_stack
from langgraph_runner.state import (
    STATE_CHANNELS,
    GraphState,
    append_errors,
    append_unique,
    merge_dicts,
    merge_flags,
    route_on_blocked,
    update_state,
)
from langgraph_runner.state_models import GraphStateFields, GraphStateModel
from langgraph_runner.thread_lock import thread_lock

__all__ = [
    "ABORT_SIGNAL_KEY",
    "AbortController",
    "AbortSignal",
    "BoundedErrors",
    "Change",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitOpenError",
    "CircuitState",
    "DEFAULT_ERRORS_LIMIT",
    "EffectLedger",
    "ErrorCategory",
    "ErrorCode",
    "FailureLoopError",
    "GraphState",
    "GraphStateFields",
    "GraphStateModel",
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
    "Plan",
    "RUN_DEADLINE_KEY",
    "RebuildResult",
    "RedisBreakerStore",
    "RetryAttempt",
    "RetryConfig",
    "RunNotCompletedError",
    "RunReport",
    "RunResult",
    "STATE_CHANNELS",
    "SharedCircuitBreaker",
    "StateSchemaError",
    "ThreadBusyError",
    "ablocked_nodes",
    "aerrors_dropped",
    "append_errors",
    "append_unique",
    "arebuild",
    "arerun_blocked",
    "arun",
    "blocked_nodes",
    "bounded_errors",
    "classify_error",
    "configure_logging",
    "create_node",
    "errors_dropped",
    "get_circuit_breaker",
    "get_node_context",
    "harden",
    "heartbeat",
    "is_retryable_node_error",
    "merge_dicts",
    "merge_flags",
    "node_factory",
    "open_async_checkpointer",
    "open_checkpointer",
    "plan",
    "rebuild",
    "rerun_blocked",
    "route_on_blocked",
    "run",
    "run_report",
    "sanitize_message",
    "sanitize_stack",
    "thread_lock",
    "tool_error_messages",
    "update_state",
]
