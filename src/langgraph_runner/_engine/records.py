"""Turning a terminal failure into a sanitized ``NodeError`` record (and a safe exception)."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from langgraph.errors import NodeTimeoutError as _LGNodeTimeoutError
from pydantic import ValidationError

from langgraph_runner._redact_exc import redact_tree, replacement
from langgraph_runner.classify import classify_error, is_retryable_node_error
from langgraph_runner.context import NodeContext
from langgraph_runner.errors import (
    CircuitOpenError,
    ErrorCategory,
    ErrorCode,
    NodeAbortedError,
    NodeError,
    error_from_fields,
)
from langgraph_runner.retry import RetryConfig
from langgraph_runner.sanitize import sanitize_message, sanitize_stack

__all__ = ["add_note", "build_record", "error_code", "redact_exception"]

_RECOVERABLE = frozenset(
    {ErrorCode.RETRY_EXHAUSTED, ErrorCode.NODE_TIMEOUT, ErrorCode.CIRCUIT_OPEN}
)


def error_code(exc: BaseException, retry: RetryConfig | None) -> ErrorCode:
    """The record code for a terminal failure."""
    if isinstance(exc, _LGNodeTimeoutError):
        return ErrorCode.NODE_TIMEOUT
    if isinstance(exc, CircuitOpenError):
        return ErrorCode.CIRCUIT_OPEN
    if isinstance(exc, NodeAbortedError):
        return ErrorCode.NODE_ABORTED
    if isinstance(exc, ValidationError):
        return ErrorCode.VALIDATION_FAILED
    retryable = retry.should_retry(exc) if retry is not None else is_retryable_node_error(exc)
    return ErrorCode.RETRY_EXHAUSTED if retryable else ErrorCode.NON_RETRYABLE


def _retry_after(exc: BaseException) -> float | None:
    after = exc.retry_after if isinstance(exc, CircuitOpenError) else None
    return None if after is None else float(after)


def build_record(
    exc: BaseException,
    *,
    ctx: NodeContext,
    attempts: int,
    duration_ms: float,
    retry: RetryConfig | None,
    code: ErrorCode | None = None,
    include_stack: bool = True,
    recovered: bool = False,
) -> NodeError:
    """A sanitized record of ``exc``: no secret of its message reaches state."""
    code = code or error_code(exc, retry)
    category = classify_error(exc)
    if code is ErrorCode.NODE_TIMEOUT:
        category = ErrorCategory.TIMEOUT
    text = sanitize_message(exc, max_length=400)
    error_type = type(exc).__name__
    # Every field is built right here, from trusted values, in declaration order:
    # no validation (error_from_fields checks at import that this equals pydantic's).
    return error_from_fields(
        {
            "node": ctx.node,
            "code": code,
            "message": code.render(node=ctx.node, attempts=attempts, error=f"{error_type}: {text}"),
            "error_type": error_type,
            "category": category,
            "recoverable": code in _RECOVERABLE,
            "attempts": max(0, attempts),
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "duration_ms": max(0.0, float(duration_ms)),
            "stack": sanitize_stack(exc, message=sanitize_message(text, max_length=300))
            if include_stack
            else None,
            "trace_id": ctx.trace_id,
            "graph_execution_id": ctx.graph_execution_id,
            "retry_after": _retry_after(exc),
            "recovered": recovered,
        }
    )


def add_note(exc: BaseException, note: str) -> None:
    """``exc.add_note`` on 3.11+, the same list by hand on 3.10."""
    if sys.version_info >= (3, 11):
        exc.add_note(note)
    else:  # pragma: no cover - exercised on 3.10 only
        notes = getattr(exc, "__notes__", None)
        if not isinstance(notes, list):
            notes = []
            exc.__notes__ = notes  # type: ignore[attr-defined]
        notes.append(note)


def redact_exception(exc: BaseException) -> BaseException:
    """Redact secrets from everything ``exc`` shows, in place, before it leaves a node.

    Covers what LangGraph stores (``repr(exc)`` in the checkpoint) and what a
    traceback prints: string, bytes, dict and nested ``args``, attributes,
    ``__notes__``, the ``__cause__``/``__context__`` chain and ``ExceptionGroup``
    members. Each exception keeps its identity, its type (for ``except`` clauses
    and LangGraph's ``error_handler``) and its chain. A class whose ``__str__`` or
    ``__repr__`` still shows a secret built from somewhere else is swapped for a
    subclass of the same name that prints the redacted text. Safe on any
    exception: nothing here raises.

    One kind cannot be fixed in place: pydantic's ``ValidationError`` builds its
    text from the inputs inside pydantic-core. For it the function returns a new
    ``ValidationError`` (same type, same errors, inputs hidden, same traceback and
    cause, implicit context suppressed); raise what it returns.

    Args:
        exc: The exception about to leave the node.

    Returns:
        The exception to raise: ``exc`` itself, redacted, or its replacement.
    """
    redact_tree(exc)
    return replacement(exc)
