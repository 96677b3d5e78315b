"""Error records and the exception tree, under the names earlier code imports.

The record (``NodeError``, ``ErrorCode``, ``ErrorCategory``) lives in
``_records.record`` and every exception in ``_records.exceptions``, whose
docstring draws the tree; this module re-exports both.
"""

from __future__ import annotations

from langgraph_runner._records.exceptions import (
    BudgetExceededError,
    CircuitOpenError,
    FailureLoopError,
    LangGraphRunnerError,
    LimitStoreUnavailableError,
    NodeAbortedError,
    NodeTimeoutError,
    RateLimitedError,
    StateSchemaError,
    ThreadBusyError,
)
from langgraph_runner._records.record import ErrorCategory, ErrorCode, NodeError, error_from_fields

__all__ = [
    "BudgetExceededError",
    "CircuitOpenError",
    "ErrorCategory",
    "ErrorCode",
    "FailureLoopError",
    "LangGraphRunnerError",
    "LimitStoreUnavailableError",
    "NodeAbortedError",
    "NodeError",
    "NodeTimeoutError",
    "RateLimitedError",
    "StateSchemaError",
    "ThreadBusyError",
    "error_from_fields",
]
