"""Validating ``create_node``'s resilience options once, at factory time."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from langgraph_runner.circuit import CircuitBreaker, CircuitBreakerConfig, get_circuit_breaker

__all__ = ["BreakerOption", "check_hook", "check_seconds", "resolve_breaker"]

BreakerOption = CircuitBreakerConfig | CircuitBreaker | str
"""``circuit_breaker=``: a config (node-local breaker), a breaker, or a shared key."""


def check_seconds(value: object, field: str) -> float | None:
    """``timeout=``/``deadline=``: None, or float seconds / a timedelta greater than 0.

    Raises:
        TypeError: Not a number of seconds or a timedelta (a bool is refused).
        ValueError: Not finite, or not greater than 0.
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(
            f"create_node: {field} must be seconds (int or float) or a datetime.timedelta, "
            f"got {type(value).__name__}"
        )
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            f"create_node: {field} must be a finite number of seconds > 0, got {value!r}"
        )
    return seconds


def check_hook(value: object, field: str) -> Callable[..., Any] | None:
    """A hook option: None or a callable (sync or async).

    Raises:
        TypeError: Not callable.
    """
    if value is not None and not callable(value):
        raise TypeError(f"create_node: {field} must be callable, got {type(value).__name__}")
    return value


def resolve_breaker(value: object, node: str) -> CircuitBreaker | None:
    """The breaker a node uses.

    A ``CircuitBreakerConfig`` makes a breaker of the node's own (named after it),
    a ``CircuitBreaker`` is used as it is (share it between nodes by passing the
    same instance), a string names the process-wide breaker of that key
    (``get_circuit_breaker``), so every node naming "crm-api" trips together.

    Raises:
        ValueError: An empty key.
        TypeError: Anything else.
    """
    if value is None or isinstance(value, CircuitBreaker):
        return value
    if isinstance(value, CircuitBreakerConfig):
        return CircuitBreaker(node, value)
    if isinstance(value, str):
        if not value:
            raise ValueError("create_node: circuit_breaker key must be a non-empty string")
        return get_circuit_breaker(value)
    raise TypeError(
        "create_node: circuit_breaker must be a CircuitBreakerConfig, a CircuitBreaker or a "
        f"shared breaker key (str), got {type(value).__name__}"
    )
