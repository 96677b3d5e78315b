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
from langgraph_runner._records.logs import LOGGER_NAME, add_event_fields, configure_logging
from langgraph_runner._records.record import ErrorCategory, ErrorCode, NodeError
from langgraph_runner._records.sanitize import sanitize_message, sanitize_stack
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
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitOpenError",
    "CircuitState",
    "DEFAULT_ERRORS_LIMIT",
    "ErrorCategory",
    "ErrorCode",
    "FailureLoopError",
    "GraphState",
    "GraphStateFields",
    "GraphStateModel",
    "InProcessLimitStore",
    "LOGGER_NAME",
    "LangGraphRunnerError",
    "LimitStoreUnavailableError",
    "NodeAbortedError",
    "NodeCache",
    "NodeContext",
    "NodeError",
    "NodeFactory",
    "NodeOptions",
    "NodeTimeoutError",
    "PostgresCache",
    "RateLimit",
    "RateLimitedError",
    "RedisBreakerStore",
    "RedisLimitStore",
    "RetryAttempt",
    "RetryConfig",
    "RunNotCompletedError",
    "STATE_CHANNELS",
    "SharedCircuitBreaker",
    "StateSchemaError",
    "StepFailedError",
    "ThreadBusyError",
    "ThreadNotFoundError",
    "TieredCache",
    "add_event_fields",
    "aerrors_dropped",
    "append_errors",
    "append_unique",
    "bounded_errors",
    "classify_error",
    "classify_failure",
    "code_fingerprint",
    "configure_logging",
    "create_node",
    "errors_dropped",
    "failed_sends",
    "get_circuit_breaker",
    "get_node_context",
    "harden",
    "heartbeat",
    "is_retryable_node_error",
    "merge_dicts",
    "merge_flags",
    "node_factory",
    "route_on_blocked",
    "sanitize_message",
    "sanitize_stack",
    "update_state",
]

_moved.install(sys.modules[__name__])


def __getattr__(name: str) -> object:
    """Names moved to ``runs``, ``metrics`` or ``agents`` and the old public modules
    (``langgraph_runner.retry`` ...), deprecated (``_internal.moved``).
    """
    return _moved.package_getattr(name)
