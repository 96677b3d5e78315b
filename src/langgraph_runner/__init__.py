"""langgraph_runner: production-grade LangGraph nodes.

This module only re-exports; the guides are in the documentation (docs/index.md).
"""

import sys

from langgraph_runner._cache.node_cache import (
    CacheKey,
    NodeCache,
    PostgresCache,
    TieredCache,
    code_fingerprint,
)
from langgraph_runner._internal import moved as _moved
from langgraph_runner._limits.budget import Budget, BudgetStatus
from langgraph_runner._limits.ratelimit import RateLimit
from langgraph_runner._limits.redis_store import RedisLimitStore
from langgraph_runner._limits.stores import InProcessLimitStore
from langgraph_runner._node.factory import NodeFactory, NodeOptions, create_node, node_factory
from langgraph_runner._node.harden import harden
from langgraph_runner._policies.abort import ABORT_SIGNAL_KEY, AbortController, AbortSignal
from langgraph_runner._policies.circuit import (
    BreakerStore,
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitState,
    get_circuit_breaker,
)
from langgraph_runner._policies.circuit_redis import RedisBreakerStore, SharedCircuitBreaker
from langgraph_runner._policies.context import NodeContext, get_node_context
from langgraph_runner._policies.progress import heartbeat
from langgraph_runner._policies.retry import RetryAttempt, RetryConfig
from langgraph_runner._records.classify import (
    classify_error,
    classify_failure,
    is_retryable_node_error,
)
from langgraph_runner._records.exceptions import (
    BudgetExceededError,
    CircuitOpenError,
    FailureLoopError,
    LangGraphRunnerError,
    LimitStoreUnavailableError,
    NodeAbortedError,
    NodeTimeoutError,
    RateLimitedError,
    RunNotCompletedError,
    StateSchemaError,
    StepFailedError,
    ThreadBusyError,
    ThreadNotFoundError,
)
from langgraph_runner._records.items import failed_sends
from langgraph_runner._records.logs import LOGGER_NAME, configure_logging
from langgraph_runner._records.record import ErrorCategory, ErrorCode, NodeError
from langgraph_runner._records.sanitize import sanitize_message, sanitize_stack
from langgraph_runner._runs.checkpoint import open_async_checkpointer, open_checkpointer
from langgraph_runner._runs.control import RunRecord, cancel_run, list_runs
from langgraph_runner._runs.effects import EffectLedger
from langgraph_runner._runs.lifecycle import (
    RUN_DEADLINE_KEY,
    RunResult,
    arun,
    run,
)
from langgraph_runner._runs.rebuild import (
    Change,
    Plan,
    RebuildResult,
    arebuild,
    plan,
    rebuild,
)
from langgraph_runner._runs.report import (
    NodeReport,
    NodeStatus,
    RunReport,
    run_report,
)
from langgraph_runner._runs.rerun import (
    FailedItem,
    ablocked_nodes,
    afailed_items,
    arerun_blocked,
    blocked_nodes,
    failed_items,
    rerun_blocked,
)
from langgraph_runner._runs.status import RunStatus
from langgraph_runner._runs.thread_lock import ThreadLock, thread_lock
from langgraph_runner._state.bounded import (
    DEFAULT_ERRORS_LIMIT,
    BoundedErrors,
    aerrors_dropped,
    bounded_errors,
    errors_dropped,
)
from langgraph_runner._state.channels import (
    STATE_CHANNELS,
    GraphState,
    append_errors,
    append_unique,
    merge_dicts,
    merge_flags,
    route_on_blocked,
    update_state,
)
from langgraph_runner._state.models import GraphStateFields, GraphStateModel
from langgraph_runner._version import __version__ as __version__
from langgraph_runner.agents import tool_error_messages
from langgraph_runner.metrics import METRICS_COLLECTOR_KEY, NodeMetrics, NodeMetricsCollector

__all__ = [
    "ABORT_SIGNAL_KEY",
    "AbortController",
    "AbortSignal",
    "BoundedErrors",
    "BreakerStore",
    "Budget",
    "BudgetExceededError",
    "BudgetStatus",
    "CacheKey",
    "Change",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitOpenError",
    "CircuitState",
    "DEFAULT_ERRORS_LIMIT",
    "EffectLedger",
    "ErrorCategory",
    "ErrorCode",
    "FailedItem",
    "FailureLoopError",
    "GraphState",
    "GraphStateFields",
    "GraphStateModel",
    "InProcessLimitStore",
    "LOGGER_NAME",
    "LangGraphRunnerError",
    "LimitStoreUnavailableError",
    "METRICS_COLLECTOR_KEY",
    "NodeAbortedError",
    "NodeCache",
    "NodeContext",
    "NodeError",
    "NodeFactory",
    "NodeMetrics",
    "NodeMetricsCollector",
    "NodeOptions",
    "NodeReport",
    "NodeStatus",
    "NodeTimeoutError",
    "Plan",
    "PostgresCache",
    "RUN_DEADLINE_KEY",
    "RateLimit",
    "RateLimitedError",
    "RebuildResult",
    "RedisBreakerStore",
    "RedisLimitStore",
    "RetryAttempt",
    "RetryConfig",
    "RunNotCompletedError",
    "RunRecord",
    "RunReport",
    "RunResult",
    "RunStatus",
    "STATE_CHANNELS",
    "SharedCircuitBreaker",
    "StateSchemaError",
    "StepFailedError",
    "ThreadBusyError",
    "ThreadLock",
    "ThreadNotFoundError",
    "TieredCache",
    "ablocked_nodes",
    "aerrors_dropped",
    "afailed_items",
    "append_errors",
    "append_unique",
    "arebuild",
    "arerun_blocked",
    "arun",
    "blocked_nodes",
    "bounded_errors",
    "cancel_run",
    "classify_error",
    "classify_failure",
    "code_fingerprint",
    "configure_logging",
    "create_node",
    "errors_dropped",
    "failed_items",
    "failed_sends",
    "get_circuit_breaker",
    "get_node_context",
    "harden",
    "heartbeat",
    "is_retryable_node_error",
    "list_runs",
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

_moved.install(sys.modules[__name__])


def __getattr__(name: str) -> object:
    """The old public modules (``langgraph_runner.retry`` ...), deprecated (``_internal.moved``)."""
    return _moved.old_module(name)
