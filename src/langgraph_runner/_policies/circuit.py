"""Circuit breakers: stop calling a dependency that keeps failing, then probe it.

A breaker is consulted around every attempt (it sits inside the retry loop, so
each attempt is recorded): ``before_call(node)`` raises ``CircuitOpenError`` when
open; then ``on_success()``, or ``on_failure()`` for a retryable error or a
timeout, or ``on_ignored()`` for a non-retryable error, an abort or cancellation.

States: ``closed`` (calls pass; ``failure_threshold`` consecutive failures open
it), ``open`` (calls are rejected with ``CircuitOpenError`` until
``recovery_timeout`` has passed), ``half_open`` (up to ``half_open_max_calls``
probes are let through; any probe failure re-opens it for a fresh
``recovery_timeout``; it closes once ``half_open_max_calls`` probes succeeded,
so the default of 1 closes on the first success, like Polly). A rejected call is
not a failure. Probes are tracked per thread/task (a context variable), so call
``before_call`` and the matching ``on_*`` from the same thread or task.

Breakers obtained with ``get_circuit_breaker(key)`` are shared process-wide by
every node using the same key; with ``store=`` (``circuit_redis``) by processes too.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from langgraph_runner._internal.checks import PydanticEraAPI, check_count
from langgraph_runner._internal.durations import seconds
from langgraph_runner._internal.value_enum import ValueEnum
from langgraph_runner._records.egress import egress_text
from langgraph_runner._records.exceptions import CircuitOpenError
from langgraph_runner._records.logs import get_event_logger

__all__ = [
    "BreakerStore",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitState",
    "get_circuit_breaker",
    "reset_circuit_breakers",
]


class CircuitState(ValueEnum):
    """The state of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, init=False)
class CircuitBreakerConfig(PydanticEraAPI):
    """How a circuit breaker opens and recovers. Frozen, keyword-only, validated once.

    Args:
        failure_threshold: Consecutive failures (retryable errors and timeouts)
            that open a closed circuit. At least 1.
        recovery_timeout: How long an open circuit rejects calls before letting
            probes through, as float seconds or a ``timedelta``. Finite and greater
            than 0; stored as float seconds.
        half_open_max_calls: Probes admitted in the half-open state; that many
            must succeed to close the circuit. At least 1.

    Raises:
        TypeError: A value of the wrong type (or an unknown keyword); the message
            names ``CircuitBreakerConfig`` and the field.
        ValueError: A value out of range; the message names ``CircuitBreakerConfig``
            and the field.
    """

    failure_threshold: int = 5
    recovery_timeout: float = 30.0
    half_open_max_calls: int = 1

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        recovery_timeout: float | timedelta = 30.0,
        half_open_max_calls: int = 1,
    ) -> None:
        object.__setattr__(
            self,
            "failure_threshold",
            check_count(failure_threshold, "failure_threshold", "CircuitBreakerConfig"),
        )
        recovery = seconds(recovery_timeout, "recovery_timeout", owner="CircuitBreakerConfig")
        object.__setattr__(self, "recovery_timeout", recovery)
        calls = check_count(half_open_max_calls, "half_open_max_calls", "CircuitBreakerConfig")
        object.__setattr__(self, "half_open_max_calls", calls)


Transition = Callable[[CircuitState, CircuitState], object]

_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN


class CircuitBreaker:
    """A thread- and task-safe circuit breaker (see the module docstring).

    Args:
        name: Shown in errors, logs and snapshots (the key for shared breakers).
        config: Thresholds; ``CircuitBreakerConfig()`` defaults when None.
        clock: Monotonic seconds; inject a fake one in tests.
    """

    def __init__(
        self,
        name: str = "default",
        config: CircuitBreakerConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._config = config if config is not None else CircuitBreakerConfig()
        self._threshold = self._config.failure_threshold
        self._recovery = self._config.recovery_timeout
        self._max_probes = self._config.half_open_max_calls
        self._clock = clock
        self._lock = threading.Lock()
        self._state = _CLOSED
        self._failures = 0
        self.settled = True
        """Closed with no failure counted: ``before_call`` admits and ``on_success``
        has nothing to record. Read lock-free by a node's hot path, which calls
        neither while it holds; written under the lock with every change."""
        self._opened_at = 0.0  # clock() value
        self._opened_wall: float | None = None  # time.time(), for snapshots
        self._generation = 0  # bumped on every entry into half-open
        self._probes = 0  # probe slots taken in this half-open generation
        self._successes = 0  # probes of this generation that succeeded
        # Which half-open generation the current thread/task holds a probe slot of.
        self._probe: contextvars.ContextVar[int] = contextvars.ContextVar(
            f"langgraph_runner_circuit_probe_{name}", default=-1
        )
        self._listeners: list[Transition] = []

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self._name!r} {self._state.value}>"

    @property
    def name(self) -> str:
        """The breaker's name."""
        return self._name

    @property
    def config(self) -> CircuitBreakerConfig:
        """The breaker's configuration."""
        return self._config

    @property
    def state(self) -> CircuitState:
        """The current state.

        An open circuit whose recovery timeout has passed still reports ``open``
        until the next ``before_call`` moves it to ``half_open``.
        """
        return self._state

    def before_call(self, node: str | Callable[[], str] | None = None) -> None:
        """Admit an attempt, or reject it.

        Args:
            node: The calling node, for the error; or a function returning it,
                called only when the call is rejected (the closed path stays free).

        Raises:
            CircuitOpenError: The circuit is open, or half-open with every probe
                slot taken. Not a failure: nothing is counted.
        """
        # Lock-free fast path: reading one attribute is atomic, and admitting a
        # call that races with the transition to open is harmless.
        if self._state is _CLOSED:
            return
        changed: tuple[CircuitState, CircuitState] | None = None
        with self._lock:
            state = self._state
            if state is _CLOSED:
                return
            now = self._clock()
            if state is _OPEN:
                remaining = self._opened_at + self._recovery - now
                if remaining > 0:
                    raise CircuitOpenError(self._name, remaining, node=_name_of(node))
                self._state = _HALF_OPEN
                self._generation += 1
                self._probes = 0
                self._successes = 0
                changed = (_OPEN, _HALF_OPEN)
            if self._probes >= self._max_probes:
                # A probe is in flight: its outcome decides; retry shortly.
                raise CircuitOpenError(self._name, 0.0, node=_name_of(node))
            self._probes += 1
            self._probe.set(self._generation)
        if changed is not None:
            self._notify(*changed)

    def on_success(self) -> None:
        """Record a successful attempt."""
        if self.settled:  # lock-free fast path
            return
        changed: tuple[CircuitState, CircuitState] | None = None
        with self._lock:
            state = self._state
            if state is _CLOSED:
                self._failures = 0
                self.settled = True
            elif state is _HALF_OPEN and self._take_probe():
                self._successes += 1
                if self._successes >= self._max_probes:
                    self._state = _CLOSED
                    self._failures = 0
                    self.settled = True
                    self._opened_wall = None
                    changed = (_HALF_OPEN, _CLOSED)
            # Open, or a half-open outcome of a call that was not a probe (it was
            # admitted before the circuit opened): it does not decide anything.
        if changed is not None:
            self._notify(*changed)

    def on_failure(self) -> None:
        """Record a failed attempt (a retryable error or a timeout)."""
        changed: tuple[CircuitState, CircuitState] | None = None
        with self._lock:
            state = self._state
            if state is _CLOSED:
                self._failures += 1
                self.settled = False
                if self._failures >= self._threshold:
                    self._open()
                    changed = (_CLOSED, _OPEN)
            elif state is _HALF_OPEN and self._take_probe():
                self._failures += 1
                self._open()
                changed = (_HALF_OPEN, _OPEN)
        if changed is not None:
            self._notify(*changed)

    def on_ignored(self) -> None:
        """Record an outcome that must not count (non-retryable error, abort, cancel).

        A half-open probe that ends this way gives its slot back, so another call
        may probe.
        """
        if self._state is _CLOSED:
            return
        with self._lock:
            if self._state is _HALF_OPEN and self._take_probe():
                self._probes -= 1

    def _take_probe(self) -> bool:
        """Whether this thread/task holds a probe slot of the current generation.

        Caller holds the lock. Clears the slot marker so an outcome counts once.
        """
        if self._probe.get() != self._generation:
            return False
        self._probe.set(-1)
        return True

    def _open(self) -> None:  # caller holds the lock
        self._state = _OPEN
        self.settled = False
        self._opened_at = self._clock()
        self._opened_wall = time.time()

    def reset(self) -> None:
        """Force the circuit closed and forget every count."""
        with self._lock:
            old = self._state
            self._state = _CLOSED
            self._failures = 0
            self.settled = True
            self._opened_wall = None
            self._generation += 1  # outstanding probes no longer count
            self._probes = 0
            self._successes = 0
        if old is not _CLOSED:
            self._notify(old, _CLOSED)

    def snapshot(self) -> dict[str, Any]:
        """The breaker's state as JSON-serializable data.

        Returns:
            ``name``, ``state``, ``consecutive_failures``, ``opened_at`` (Unix time
            the circuit last opened, None when closed), ``retry_after`` (seconds
            until probes are admitted, 0.0 when half-open, None when closed),
            ``half_open_calls`` and ``config``.
        """
        with self._lock:
            state = self._state
            retry_after: float | None = None
            if state is _OPEN:
                retry_after = max(0.0, self._opened_at + self._recovery - self._clock())
            elif state is _HALF_OPEN:
                retry_after = 0.0
            return {
                "name": self._name,
                "state": state.value,
                "consecutive_failures": self._failures,
                "opened_at": self._opened_wall,
                "retry_after": retry_after,
                "half_open_calls": self._probes if state is _HALF_OPEN else 0,
                "config": self._config.model_dump(mode="json"),
            }

    def add_listener(self, callback: Transition) -> Callable[[], None]:
        """Call ``callback(old_state, new_state)`` after every transition.

        Runs in the thread that caused the transition, outside the breaker's
        lock; exceptions are logged as ``circuit.listener_failed``, never raised.

        Returns:
            A function that removes the listener.
        """
        with self._lock:
            self._listeners = [*self._listeners, callback]

        def remove() -> None:
            with self._lock:
                self._listeners = [cb for cb in self._listeners if cb is not callback]

        return remove

    def _notify(self, old: CircuitState, new: CircuitState) -> None:
        # The listener list is copy-on-write: safe to hand over without the lock.
        _announce(self._name, old, new, self._listeners, self.snapshot)


_LEVELS = {"open": logging.WARNING, "half_open": logging.INFO, "closed": logging.INFO}


def _announce(
    breaker: str,
    old: CircuitState,
    new: CircuitState,
    listeners: Sequence[Transition],
    snapshot: Callable[[], dict[str, Any]],
) -> None:
    """Log ``circuit.opened``/``circuit.half_open``/``circuit.closed``, then call the listeners.

    ``snapshot`` is called only when the event is logged. A listener that raises is
    logged as ``circuit.listener_failed``, never raised: a metrics hook must never
    break a node.
    """
    logger = get_event_logger()
    level = _LEVELS[new.value]
    if logger.enabled(level):
        snap = snapshot()
        logger.emit(
            level,
            "circuit.opened" if new.value == "open" else f"circuit.{new.value}",
            breaker=breaker,
            previous=old.value,
            consecutive_failures=snap["consecutive_failures"],
            retry_after=snap["retry_after"],
        )
    for callback in listeners:
        try:
            callback(old, new)
        except Exception as exc:
            logger.emit(
                logging.ERROR,
                "circuit.listener_failed",
                breaker=breaker,
                error_type=type(exc).__name__,
                error=egress_text(str(exc)),
            )


def _name_of(node: str | Callable[[], str] | None) -> str | None:
    return node() if callable(node) else node


class BreakerStore(Protocol):
    """Where keyed breakers keep their state so processes share it (``RedisBreakerStore``)."""

    def breaker(self, key: str, config: CircuitBreakerConfig | None = None) -> CircuitBreaker:
        """A new breaker named ``key`` whose state lives in the store."""
        ...

    def owns(self, breaker: CircuitBreaker) -> bool:
        """Whether ``breaker`` keeps its state in this store."""
        ...


_REGISTRY: dict[str, CircuitBreaker] = {}
_REGISTRY_LOCK = threading.Lock()


def get_circuit_breaker(
    key: str, config: CircuitBreakerConfig | None = None, *, store: BreakerStore | None = None
) -> CircuitBreaker:
    """The process-wide breaker for ``key``, created on first use.

    Every node that names the same key (usually a dependency: ``"openai"``,
    ``"billing-db"``) shares one breaker.

    Args:
        key: The breaker's name.
        config: The configuration; None accepts whatever the breaker already has
            (defaults when it is created now).
        store: Keep the breaker's state in a store shared by processes (a
            ``langgraph_runner._policies.circuit_redis.RedisBreakerStore``), so every worker
            trips and recovers together; None keeps it in this process. Once
            created, ``get_circuit_breaker(key)`` and ``circuit_breaker=key`` return
            the shared breaker too.

    Returns:
        The shared breaker.

    Raises:
        ValueError: The breaker for ``key`` exists with a different config, or
            ``store`` is given and the breaker exists without it.
    """
    with _REGISTRY_LOCK:
        breaker = _REGISTRY.get(key)
        if breaker is None:
            made = CircuitBreaker(key, config) if store is None else store.breaker(key, config)
            _REGISTRY[key] = made
            return made
    if config is not None and config != breaker.config:
        raise ValueError(
            f"circuit breaker {key!r} already exists with {breaker.config!r}; "
            f"cannot reuse it with {config!r} (use another key, or pass config=None)"
        )
    if store is not None and not store.owns(breaker):
        raise ValueError(f"circuit breaker {key!r} already exists without this store")
    return breaker


def reset_circuit_breakers() -> None:
    """Forget every shared breaker (for tests); later calls create fresh ones."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
