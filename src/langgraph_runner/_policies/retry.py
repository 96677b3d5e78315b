"""``RetryConfig`` (the retry policy of a wrapped node) and ``RetryAttempt`` (what hooks see).

The schedule follows LangGraph's vocabulary (max_attempts, initial_interval,
backoff_factor, max_interval) with bounded, proportional, upward-only jitter:

    wait before attempt n+1 = min(max_interval,
                                  initial_interval * backoff_factor**(n-1) * (1 + U(0, jitter)))

A ``retry_after`` hint carried by the exception (or an HTTP response's
Retry-After header) replaces the computed wait, still capped by max_interval.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from langgraph_runner._internal import compat as _compat
from langgraph_runner._internal.durations import pydantic_seconds
from langgraph_runner._records.classify import (
    is_control_flow,
    is_retryable_node_error,
    retry_after_seconds,
)
from langgraph_runner._records.exceptions import (
    BudgetExceededError,
    CircuitOpenError,
    NodeAbortedError,
    RateLimitedError,
)

if TYPE_CHECKING:
    from langgraph_runner._policies.context import NodeContext

__all__ = [
    "RetryAttempt",
    "RetryConfig",
    "RetryOn",
]

RetryOn = Union[  # noqa: UP007 - a runtime alias must work on Python 3.10
    type[BaseException],
    tuple[type[BaseException], ...],
    Callable[[BaseException], bool],
]
"""Exception types, or a predicate ``exc -> bool``, that decide what is retried."""

_RANDOM = random.Random()


class RetryConfig(BaseModel):
    """How a wrapped node retries. Frozen, keyword-only, validated once.

    Args:
        max_attempts: Attempts in total, including the first (>= 1).
        initial_interval: Wait before the second attempt, in seconds (float or timedelta).
        backoff_factor: Multiplier of the wait per further attempt (>= 1).
        max_interval: Hard ceiling of any wait, in seconds (float or timedelta).
        jitter: Upward proportional jitter, a fraction in [0, 1].
        retry_on: Exception types, a predicate, or ``"langgraph"`` for LangGraph's own
            ``default_retry_on`` (which, unlike our default ``is_retryable_node_error``,
            does not retry ValueError, TypeError, LookupError, RuntimeError, OSError
            and the like, and retries HTTP 5xx but not 429). Default:
            ``is_retryable_node_error``. LangGraph control flow, cancellation,
            ``NodeAbortedError``, ``CircuitOpenError``, ``RateLimitedError`` and
            ``BudgetExceededError`` are never retried, whatever
            this says.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    max_attempts: int = Field(default=3, ge=1, le=1000, strict=True)
    initial_interval: float = 0.5
    backoff_factor: float = Field(default=2.0, ge=1.0)
    max_interval: float = 30.0
    jitter: float = Field(default=0.25, ge=0.0, le=1.0)
    retry_on: RetryOn | Literal["langgraph"] | None = None

    def __init__(self, **data: Any) -> None:  # keyword-only, like LangGraph's policies
        super().__init__(**data)

    @field_validator("initial_interval", "max_interval", mode="before")
    @classmethod
    def _seconds(cls, value: Any, info: Any) -> float:
        return pydantic_seconds(value, info.field_name, zero=True)  # 0: retry at once

    @field_validator("backoff_factor", "jitter", mode="before")
    @classmethod
    def _not_bool(cls, value: Any, info: Any) -> Any:
        if isinstance(value, bool):  # True would silently mean 1.0 (100% jitter)
            raise ValueError(f"{info.field_name} must be a number, not a bool")
        return value

    @field_validator("retry_on")
    @classmethod
    def _retry_on(cls, value: Any) -> Any:
        if value is None or value == "langgraph":
            return value
        types = value if isinstance(value, tuple) else (value,)
        if all(isinstance(t, type) and issubclass(t, BaseException) for t in types) and types:
            return value
        if callable(value) and not isinstance(value, type):
            return value
        raise ValueError("retry_on must be exception types, a predicate exc -> bool or 'langgraph'")

    @model_validator(mode="after")
    def _ceiling(self) -> RetryConfig:
        if self.max_interval < self.initial_interval:
            raise ValueError(
                f"max_interval ({self.max_interval}) must be >= initial_interval "
                f"({self.initial_interval})"
            )
        return self

    def should_retry(self, exc: BaseException) -> bool:
        """Whether ``exc`` may be retried under this policy (attempts aside)."""
        if is_control_flow(exc) or isinstance(
            exc, (NodeAbortedError, CircuitOpenError, RateLimitedError, BudgetExceededError)
        ):
            return False
        rule = self.retry_on
        if rule is None:
            return is_retryable_node_error(exc)
        if isinstance(rule, str):  # "langgraph"
            return isinstance(exc, Exception) and bool(_compat.default_retry_on(exc))
        if isinstance(rule, (type, tuple)):
            return isinstance(exc, rule)
        return bool(rule(exc))

    def compute_delay(
        self,
        attempt: int,
        error: BaseException | None = None,
        *,
        random_value: float | None = None,
    ) -> float:
        """The wait after failed attempt ``attempt`` (1-based), in seconds.

        Args:
            attempt: The attempt that failed.
            error: Its exception; a Retry-After hint on it sets the wait.
            random_value: U(0, 1) sample for the jitter (drawn when None).

        Returns:
            Seconds to wait, never above ``max_interval``.
        """
        if error is not None:
            hint = retry_after_seconds(error)
            if hint is not None:
                return min(self.max_interval, hint)
        try:
            base = self.initial_interval * self.backoff_factor ** max(0, attempt - 1)
        except OverflowError:  # a late attempt with a steep factor: past any ceiling
            return self.max_interval
        u = _RANDOM.random() if random_value is None else random_value
        return min(self.max_interval, base * (1.0 + u * self.jitter))

    @classmethod
    def coerce(cls, value: RetryConfig | int | None) -> RetryConfig | None:
        """``create_node``'s ``retry=`` argument: a config, an int (max_attempts) or None."""
        if value is None or isinstance(value, RetryConfig):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(max_attempts=value)
        raise TypeError(
            "retry must be a RetryConfig, an int (max_attempts) or None, "
            f"got {type(value).__name__}"
        )


@dataclass(frozen=True, slots=True)
class RetryAttempt:
    """What ``on_retry_attempt`` receives before each wait.

    Attributes:
        node: The node's name.
        attempt: 1-based number of the attempt that failed.
        error: The exception it raised (unsanitized, live).
        next_delay: Seconds the wrapper will wait before the next attempt.
        context: The node's context for the failed attempt.
    """

    node: str
    attempt: int
    error: BaseException
    next_delay: float
    context: NodeContext
