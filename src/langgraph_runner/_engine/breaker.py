"""How an attempt's outcome counts for the node's circuit breaker."""

from __future__ import annotations

from langgraph.errors import NodeTimeoutError as _LGNodeTimeoutError

from langgraph_runner._policies.circuit import CircuitBreaker
from langgraph_runner._policies.retry import RetryConfig
from langgraph_runner._records.classify import is_control_flow, is_retryable_node_error

__all__ = ["counts_for_breaker", "tell_breaker"]


def counts_for_breaker(exc: BaseException, retry: RetryConfig | None) -> bool:
    """Retryable failures and timeouts open a circuit; nothing else does.

    Non-retryable errors, aborts, rejections, cancellation and LangGraph's
    control flow are ignored.
    """
    if is_control_flow(exc):
        return False
    if isinstance(exc, _LGNodeTimeoutError):
        return True
    return retry.should_retry(exc) if retry is not None else is_retryable_node_error(exc)


def tell_breaker(
    breaker: CircuitBreaker | None, retry: RetryConfig | None, exc: BaseException
) -> None:
    """Tell ``breaker`` (if any) how an attempt that raised ``exc`` counts."""
    if breaker is None:
        return
    if counts_for_breaker(exc, retry):
        breaker.on_failure()
    else:
        breaker.on_ignored()
