"""``RetryConfig`` (a node's retry policy), ``Retrier`` (the one place a retry is decided)
and ``RetryAttempt`` (what hooks see).

The schedule follows LangGraph's vocabulary (max_attempts, initial_interval,
backoff_factor, max_interval) with bounded, proportional, upward-only jitter:

    wait before attempt n+1 = min(max_interval,
                                  initial_interval * backoff_factor**(n-1) * (1 + U(0, jitter)))

A ``retry_after`` hint carried by the exception (or an HTTP response's
Retry-After header) replaces the computed wait, still capped by max_interval.

The rule is written once, in :class:`Retrier`, on tenacity's pieces (built once
per node)::

    retry = retry_if_exception(retryable)   stop = stop_after_attempt(max_attempts)
    wait  = min(max_interval, wait_exponential(initial_interval, backoff_factor,
                                               max_interval)(state) * (1 + U(0, jitter)))
            or the exception's Retry-After hint (capped)

``RetryConfig.compute_delay`` asks a ``Retrier`` for its answer; the engine asks
the node's ``Retrier`` after every failed attempt (``Retrier.decide``).
"""

from __future__ import annotations

import logging
import math
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, Protocol, TypeVar, Union

import tenacity
from langchain_core.runnables import RunnableConfig
from tenacity import RetryCallState

from langgraph_runner._internal import compat as _compat
from langgraph_runner._internal.checks import PydanticEraAPI
from langgraph_runner._internal.durations import seconds
from langgraph_runner._records.classify import (
    classified_by_class,
    is_control_flow,
    is_retryable_node_error,
    keep,
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
    "Retrier",
    "Retry",
    "RetryAttempt",
    "RetryCall",
    "RetryConfig",
    "RetryOn",
    "WaitSwitch",
]

RetryOn = Union[  # noqa: UP007 - a runtime alias must work on Python 3.10
    type[BaseException],
    tuple[type[BaseException], ...],
    Callable[[BaseException], bool],
]
"""Exception types, or a predicate ``exc -> bool``, that decide what is retried."""

_RANDOM = random.Random()
_NO_RETRYING: Any = None  # a RetryCallState's Retrying: none drives our loop
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
class RetryConfig(PydanticEraAPI):
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
            Seconds to wait, never above ``max_interval`` (``Retrier.delay``'s answer).
        """
        state = RetryCallState(_NO_RETRYING, None, (), {})
        state.attempt_number = max(1, attempt)
        return Retrier(self).delay(state, error, random_value)

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


# ---------------------------------------------------------------------- the decision

_HINT_NAMES = ("retry_after", "response", "headers")  # what retry_after_seconds reads
_DEFAULT_FACTS: dict[type[BaseException], bool] = {}  # class -> retried (default rule, no hint)


class Retry(NamedTuple):
    """Try again: ``delay`` is the policy's wait, ``wait`` what is slept (0 under no_wait)."""

    state: RetryCallState
    delay: float
    wait: float


class RetryCall(Protocol):
    """What :meth:`Retrier.decide` reads of the call it decides for (the engine's ``Call``)."""

    @property
    def config(self) -> RunnableConfig | None: ...

    @property
    def run_signal(self) -> object: ...

    @property
    def deadline_at(self) -> float | None: ...

    def check_run_signal(self) -> None: ...

    def check_drain(self) -> None: ...

    def deadline_error(self, cause: BaseException | None = None) -> BaseException: ...

    def node(self) -> str: ...

    def event(self, level: int, event: str, **fields: Any) -> None: ...


class WaitSwitch(Protocol):
    """The switch of ``testing.no_wait()``: waits are zero while ``depth`` > 0, and each
    skipped delay is appended to every list in ``sinks``."""

    depth: int
    sinks: list[list[float]]


_CallT = TypeVar("_CallT", bound=RetryCall)


def _hintless_class(cls: type[BaseException]) -> bool:
    """No class in the MRO defines an attribute ``retry_after_seconds`` reads."""
    return not any(name in vars(c) for c in cls.__mro__ for name in _HINT_NAMES)


_NO_RETRY = RetryConfig(max_attempts=1)


class Retrier(Generic[_CallT]):
    """The one place a retry is decided: whether to try again, and after how long.

    Built once (per node) from a ``RetryConfig`` on tenacity's stop, retry and wait
    pieces; :meth:`decide` asks them after a failed attempt, inside the caller's
    own loop (no ``Retrying`` drives it, so the re-raised exception keeps its own
    traceback), and :meth:`delay` is the schedule's one rule, which
    ``RetryConfig.compute_delay`` asks too. Whether an exception of a plain class
    (no attributes of its own) is retried, and that it carries no Retry-After
    hint, is answered once per class.

    Generic in the call it decides for (``RetryCall``; the engine's ``Call``).

    Args:
        config: The retry policy (None: never retry).
        no_wait: The switch of ``testing.no_wait()`` (the engine's), if any.
    """

    __slots__ = ("_default", "_no_wait", "_warned", "config", "retry", "stop", "wait")

    def __init__(self, config: RetryConfig | None, *, no_wait: WaitSwitch | None = None) -> None:
        config = _NO_RETRY if config is None else config
        self.config = config
        self._no_wait = no_wait
        self._warned = False
        self._default = config.retry_on is None
        self.wait = tenacity.wait_exponential(
            multiplier=config.initial_interval,
            exp_base=config.backoff_factor,
            max=config.max_interval,
        )
        self.retry = tenacity.retry_if_exception(self.retryable)
        # None: one attempt only, nothing to ask.
        self.stop = (
            tenacity.stop_after_attempt(config.max_attempts) if config.max_attempts > 1 else None
        )

    def retryable(self, exc: BaseException) -> bool:
        """``RetryConfig.should_retry``, kept per class where the class alone decides."""
        default = self._default
        if default and not exc.__dict__:
            found = _DEFAULT_FACTS.get(type(exc))
            if found is not None:
                return found
        answer = self.config.should_retry(exc)
        if default and classified_by_class(exc) and _hintless_class(type(exc)):
            keep(_DEFAULT_FACTS, type(exc), answer)
        return answer

    def delay(
        self, state: RetryCallState, exc: BaseException | None, u: float | None = None
    ) -> float:
        """Seconds to wait after the failed attempt ``state.attempt_number``.

        Args:
            state: Tenacity's state of the call (its ``attempt_number`` is read).
            exc: The attempt's exception; a Retry-After hint on it sets the wait.
            u: The jitter's U(0, 1) sample (drawn when None).
        """
        config = self.config
        # A plain instance of a class kept as hintless carries no hint.
        if exc is not None and (exc.__dict__ or type(exc) not in _DEFAULT_FACTS):
            hint = retry_after_seconds(exc)
            if hint is not None:
                return min(config.max_interval, hint)
        base = self.wait(state)  # min(max_interval, initial * factor ** (n - 1))
        if u is None:
            u = _RANDOM.random()
        return min(config.max_interval, base * (1.0 + u * config.jitter))

    def decide(
        self, call: _CallT, state: RetryCallState | None, exc: BaseException
    ) -> Retry | BaseException:
        """Decide after a failed attempt of ``call`` (``state`` is None at its first failure).

        Returns:
            A ``Retry``, or the exception that ends the call (``exc``, or the
            deadline's ``NodeTimeoutError`` when no wait fits before it).

        Raises:
            NodeAbortedError: The run was aborted (never retried, never recorded).
            GraphDrained: LangGraph asked the run to drain.
        """
        if isinstance(exc, NodeAbortedError):
            raise exc  # logged once, where the call loop lets it out
        # An attempt that failed *because* the run was aborted (the connection it
        # used was closed, ...) is an abort too: never recorded, no fallback.
        if call.run_signal is not None:
            call.check_run_signal()
        stop = self.stop
        if stop is None:
            return exc
        config = call.config
        conf = config.get(_compat.CONF) if config else None
        runtime = conf.get(_compat.CONFIG_KEY_RUNTIME) if conf else None  # runtime_of()
        if state is None:  # the first failure of the call
            # LangGraph's count of its own executions of the node (1 unless it re-ran it)
            native = getattr(getattr(runtime, "execution_info", None), "node_attempt", 1)
            if native and native > 1 and not self._warned:
                self._warn_multiplied(call, native)
            state = RetryCallState(_NO_RETRYING, None, (), {})
        state.set_exception((type(exc), exc, exc.__traceback__))
        if not self.retry(state) or stop(state):
            return exc  # re-raised as it is, with its own traceback
        delay = self.delay(state, exc)
        deadline = call.deadline_at
        if deadline is not None and delay >= deadline - time.monotonic():
            return call.deadline_error(exc)  # no wait sleeps past the deadline
        control = getattr(runtime, "control", None)
        if control is not None and control.drain_requested:
            call.check_drain()
        if call.run_signal is not None:
            call.check_run_signal()
        wait = delay
        switch = self._no_wait
        if switch is not None and switch.depth > 0:  # no_wait(): collected by every scope
            for sink in tuple(switch.sinks):
                sink.append(delay)
            wait = 0.0
        state.upcoming_sleep = wait
        state.idle_for += wait
        return Retry(state, delay, wait)

    def _warn_multiplied(self, call: _CallT, native: int) -> None:
        """Warn once when LangGraph's own RetryPolicy re-runs a node that retries itself.

        LangGraph counts its executions of a node in ``execution_info.node_attempt``;
        above 1, our ``max_attempts`` attempts are being repeated per native attempt.
        That is first visible on the re-run's first failure.
        """
        self._warned = True
        attempts = self.config.max_attempts
        message = (
            f"node {call.node()!r} has retry= (max_attempts={attempts}) and LangGraph re-ran "
            f"it (node_attempt={native}): a native RetryPolicy multiplies the attempts "
            f"({attempts} x its max_attempts). Keep one of the two."
        )
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        call.event(logging.WARNING, "node.retry_multiplied", native=native)
