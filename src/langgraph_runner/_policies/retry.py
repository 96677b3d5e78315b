"""``RetryConfig`` (the retry policy of a wrapped node) and ``RetryAttempt`` (what hooks see).

The schedule follows LangGraph's vocabulary (max_attempts, initial_interval,
backoff_factor, max_interval) with bounded, proportional, upward-only jitter:

    wait before attempt n+1 = min(max_interval,
                                  initial_interval * backoff_factor**(n-1) * (1 + U(0, jitter)))

A ``retry_after`` hint carried by the exception (or an HTTP response's
Retry-After header) replaces the computed wait, still capped by max_interval.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Union

from langgraph_runner._internal import compat as _compat
from langgraph_runner._internal.durations import seconds
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
_MAX_ATTEMPTS = 1000


def _number(value: object, field: str) -> float:
    """``value`` as a float: an int or float, never a bool (True is not 1.0)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"RetryConfig: {field} must be a number, got {type(value).__name__}")


def _retry_on(value: object) -> None:
    if value is None or value == "langgraph":
        return
    if isinstance(value, str):
        raise ValueError(
            f"RetryConfig: retry_on must be exception types, a predicate exc -> bool or "
            f"'langgraph', got {value!r}"
        )
    types = value if isinstance(value, tuple) else (value,)
    if not types:
        raise ValueError("RetryConfig: retry_on must name at least one exception type, got ()")
    if all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
        return
    if callable(value) and not isinstance(value, (type, tuple)):
        return
    raise TypeError(
        "RetryConfig: retry_on must be exception types, a predicate exc -> bool or "
        f"'langgraph', got {value!r}"
    )


@dataclass(frozen=True, init=False)
class RetryConfig:
    """How a wrapped node retries. Frozen, keyword-only, validated once.

    Args:
        max_attempts: Attempts in total, including the first (1 to 1000).
        initial_interval: Wait before the second attempt, in seconds (float or timedelta).
        backoff_factor: Multiplier of the wait per further attempt (finite, >= 1).
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

    Raises:
        TypeError: A value of the wrong type (or an unknown keyword); the message
            names ``RetryConfig`` and the field.
        ValueError: A value out of range (a negative, NaN or infinite number
            included); the message names ``RetryConfig`` and the field.
    """

    max_attempts: int = 3
    initial_interval: float = 0.5
    backoff_factor: float = 2.0
    max_interval: float = 30.0
    jitter: float = 0.25
    retry_on: RetryOn | Literal["langgraph"] | None = None

    def __init__(
        self,
        *,
        max_attempts: int = 3,
        initial_interval: float | timedelta = 0.5,
        backoff_factor: float = 2.0,
        max_interval: float | timedelta = 30.0,
        jitter: float = 0.25,
        retry_on: RetryOn | Literal["langgraph"] | None = None,
    ) -> None:
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool):
            raise TypeError(
                f"RetryConfig: max_attempts must be an int, got {type(max_attempts).__name__}"
            )
        if not 1 <= max_attempts <= _MAX_ATTEMPTS:
            raise ValueError(
                f"RetryConfig: max_attempts must be between 1 and {_MAX_ATTEMPTS}, "
                f"got {max_attempts}"
            )
        # 0 seconds: retry at once
        initial = seconds(initial_interval, "initial_interval", owner="RetryConfig", zero=True)
        ceiling = seconds(max_interval, "max_interval", owner="RetryConfig", zero=True)
        factor = _number(backoff_factor, "backoff_factor")
        if not (math.isfinite(factor) and factor >= 1.0):
            raise ValueError(
                f"RetryConfig: backoff_factor must be a finite number >= 1, got {factor!r}"
            )
        spread = _number(jitter, "jitter")
        if not 0.0 <= spread <= 1.0:  # NaN fails both comparisons
            raise ValueError(f"RetryConfig: jitter must be between 0 and 1, got {spread!r}")
        _retry_on(retry_on)
        if ceiling < initial:
            raise ValueError(
                f"RetryConfig: max_interval ({ceiling}) must be >= initial_interval ({initial})"
            )
        for field, value in (
            ("max_attempts", max_attempts),
            ("initial_interval", initial),
            ("backoff_factor", factor),
            ("max_interval", ceiling),
            ("jitter", spread),
            ("retry_on", retry_on),
        ):
            object.__setattr__(self, field, value)

    # ---------------------------------------------------------------- pydantic-era API
    # RetryConfig was a pydantic model before 0.3: the calls code written then makes
    # keep working (a ValueError, not a pydantic ValidationError, for a bad value).

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> RetryConfig:
        """A copy with ``update`` applied, validated again (``dataclasses.replace``)."""
        return dataclasses.replace(self, **(update or {}))

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]:
        """The fields as a dict (``mode`` is accepted for compatibility and ignored)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def model_validate(cls, data: Mapping[str, Any]) -> RetryConfig:
        """``RetryConfig(**data)``."""
        return cls(**data)

    # ---------------------------------------------------------------- the policy

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
    def coerce(
        cls, value: RetryConfig | int | None, owner: str = "create_node"
    ) -> RetryConfig | None:
        """``create_node``'s ``retry=`` argument: a config, an int (max_attempts) or None.

        Raises:
            TypeError: Another type; the message names ``owner`` and ``retry=``.
            ValueError: An int out of range, named as the user typed it
                (``create_node: retry=-1 ...``).
        """
        if value is None or isinstance(value, RetryConfig):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= _MAX_ATTEMPTS:
                raise ValueError(
                    f"{owner}: retry={value!r} must be between 1 and {_MAX_ATTEMPTS} "
                    "(it is max_attempts), or a RetryConfig, or None"
                )
            return cls(max_attempts=value)
        raise TypeError(
            f"{owner}: retry must be a RetryConfig, an int (max_attempts) or None, "
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
