"""``NodeSpec``: everything ``create_node`` validated, fixed for the node's lifetime.

``build_spec`` is the one place options are checked (at factory time, with
errors naming the option); everything below it in the engine reads the frozen
spec and never validates again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable
from langgraph.types import TimeoutPolicy
from typing_extensions import Unpack

from langgraph_runner._cache.node_cache import NodeCache, code_fingerprint
from langgraph_runner._engine.node_options import OPTION_NAMES, BreakerOption, Fallback, NodeOptions
from langgraph_runner._internal import compat as _compat
from langgraph_runner._internal.checks import check_text
from langgraph_runner._internal.durations import optional_seconds
from langgraph_runner._limits.guard import LimitGuard, coerce_budgets, coerce_limits
from langgraph_runner._policies.circuit import (
    CircuitBreaker,
    CircuitBreakerConfig,
    get_circuit_breaker,
)
from langgraph_runner._policies.context import NodeContext
from langgraph_runner._policies.retry import RetryAttempt, RetryConfig
from langgraph_runner._policies.run_scope import (
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    FailureStreaks,
    check_max_failures,
)
from langgraph_runner._records.logs import EventLogger, get_event_logger
from langgraph_runner._records.record import NodeError

__all__ = [
    "BreakerOption",
    "Fallback",
    "NodeSpec",
    "build_spec",
    "check_fallback",
    "check_hook",
    "check_methods",
    "check_option_names",
    "check_seconds",
    "check_timeout",
    "fn_name",
    "resolve_breaker",
]

Accepts = dict[str, tuple[str, Any]]
"""Keyword -> (runtime attribute, default): what LangGraph would inject into a function."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSpec:
    """Everything ``create_node`` validated, fixed for the node's lifetime."""

    fn: Callable[..., Any]
    name: str | None
    is_async: bool
    accepts: Accepts
    retry: RetryConfig | None
    on_retry_attempt: Callable[[RetryAttempt], Any] | None
    on_error: str
    log: EventLogger
    cache: NodeCache | None = None
    fingerprint: str = ""
    metrics: Any = None
    timeout: float | None = None
    idle_timeout: float | None = None
    refresh_on: str = "auto"
    deadline: float | None = None
    on_timeout: Callable[[NodeContext], Any] | None = None
    breaker: CircuitBreaker | None = None
    fallback: Fallback | None = None
    fallback_accepts: Accepts | None = None
    fallback_is_async: bool = False
    on_failure: Callable[[NodeError, Any], Any] | None = None
    streaks: FailureStreaks | None = None
    limits: LimitGuard | None = None
    item_key: str | None = None

    @property
    def unlimited(self) -> bool:
        """No time limit on an attempt (no run or idle limit, no ``deadline``)."""
        return self.timeout is None and self.idle_timeout is None and self.deadline is None


def fn_name(fn: object) -> str:
    """The name ``fn`` gives a node: a Runnable's ``name`` (LangGraph's function
    shells and nodes built by ``create_node``), else its ``__name__``, else its class's."""
    if isinstance(fn, Runnable):
        name = getattr(fn, "name", None)
        if isinstance(name, str) and name:
            return name
    return str(getattr(fn, "__name__", type(fn).__name__))


def check_seconds(value: object, field: str) -> float | None:
    """``timeout=``/``deadline=``: None, or a duration (``_internal.durations``) of at most
    ``threading.TIMEOUT_MAX``, the longest wait a thread can be given.

    Raises:
        TypeError: Not a number of seconds or a timedelta (a bool is refused).
        ValueError: Not finite, not greater than 0, or above ``threading.TIMEOUT_MAX``.
    """
    return optional_seconds(value, field, owner="create_node", maximum=threading.TIMEOUT_MAX)


_COLLECTOR_METHODS = ("record_success", "record_failure", "record_retry")
_LOGGER_METHODS = ("debug", "info", "warning", "error")


def check_methods(value: object, field: str, methods: tuple[str, ...], what: str) -> None:
    """``metrics=``/``logger=``: None, or an object with the callables ``methods``.

    Raises:
        TypeError: A method is missing (names the first one).
    """
    if value is None:
        return
    for method in methods:
        if not callable(getattr(value, method, None)):
            raise TypeError(
                f"create_node: {field} must be {what} (with a {method}() method), "
                f"got {type(value).__name__}"
            )


def check_timeout(value: object) -> tuple[float | None, float | None, str]:
    """``timeout=``: seconds or a timedelta (the run limit of each attempt), or LangGraph's
    ``TimeoutPolicy`` (``run_timeout``, ``idle_timeout``, ``refresh_on``).

    Returns:
        ``(run limit, idle limit, refresh_on)``.

    Raises:
        TypeError: Not seconds, a timedelta or a TimeoutPolicy.
        ValueError: A limit that is not finite, not > 0 or above ``threading.TIMEOUT_MAX``,
            or a TimeoutPolicy with neither limit.
    """
    if not isinstance(value, TimeoutPolicy):
        return check_seconds(value, "timeout"), None, "auto"
    if value.refresh_on not in ("auto", "heartbeat"):
        raise ValueError(
            f"create_node: timeout.refresh_on must be 'auto' or 'heartbeat', "
            f"got {value.refresh_on!r}"
        )
    run = check_seconds(value.run_timeout, "timeout.run_timeout")
    idle = check_seconds(value.idle_timeout, "timeout.idle_timeout")
    if run is None and idle is None:
        raise ValueError(
            "create_node: timeout=TimeoutPolicy(...) needs run_timeout or idle_timeout"
        )
    return run, idle, value.refresh_on


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


def check_fallback(fallback: object) -> Fallback | None:
    """Validate ``create_node(fallback=...)`` at factory time.

    Raises:
        ValueError: An empty node name.
        TypeError: Neither a node name nor a callable.
    """
    if fallback is None:
        return None
    if isinstance(fallback, str):
        if not fallback:
            raise ValueError("create_node: fallback must be a non-empty node name or a callable")
        return fallback
    if isinstance(fallback, type) or not callable(fallback):
        raise TypeError(
            "create_node: fallback must be a node name (str) or a function, "
            f"got {type(fallback).__name__}"
        )
    return fallback


def check_option_names(options: dict[str, Any], caller: str = "create_node") -> None:
    """Refuse a keyword that is not one of ``NodeOptions`` (a misspelt option).

    Raises:
        TypeError: Names the unknown option(s) and lists the ones there are.
    """
    unknown = sorted(set(options) - OPTION_NAMES)
    if unknown:
        raise TypeError(
            f"{caller}: unknown option(s) {', '.join(unknown)}; "
            f"create_node takes {', '.join(sorted(OPTION_NAMES))}"
        )


def build_spec(fn: Callable[..., Any], /, **options: Unpack[NodeOptions]) -> NodeSpec:
    """Check every ``create_node`` option and freeze them into a ``NodeSpec``.

    Raises:
        TypeError: ``fn`` is not a function, an option is unknown or has the wrong type.
        ValueError: An option has a wrong value.
        pydantic.ValidationError: A config value is invalid.
    """
    check_option_names(dict(options))
    name = options.get("name")
    on_error = options.get("on_error", "record")
    cache = options.get("cache")
    metrics = options.get("metrics")
    logger = options.get("logger")
    if not callable(fn):
        raise TypeError(f"create_node: fn must be callable, got {type(fn).__name__}")
    if isinstance(fn, type):
        raise TypeError(f"create_node: fn must be a function, not the class {fn.__name__}")
    if on_error not in ("record", "raise"):
        raise ValueError(f"create_node: on_error must be 'record' or 'raise', got {on_error!r}")
    if cache is not None and not isinstance(cache, NodeCache):
        raise TypeError(f"create_node: cache must be a NodeCache, got {type(cache).__name__}")
    if name is not None:
        check_text(name, "name", "create_node")
    check_methods(metrics, "metrics", _COLLECTOR_METHODS, "a NodeMetricsCollector")
    check_methods(logger, "logger", _LOGGER_METHODS, "a structlog-style logger")
    fallback = check_fallback(options.get("fallback"))
    limit = check_max_failures(
        options.get("max_consecutive_failures", DEFAULT_MAX_CONSECUTIVE_FAILURES)
    )
    item_key = options.get("item_key")
    if item_key is not None:
        check_text(item_key, "item_key", "create_node")
    display = name or fn_name(fn)
    run_limit, idle_limit, refresh_on = check_timeout(options.get("timeout"))
    log = get_event_logger(logger)
    guard = LimitGuard(
        coerce_limits(options.get("rate_limit")), coerce_budgets(options.get("budget")), log
    )
    return NodeSpec(
        fn=guard.wrap(fn) if guard else fn,
        name=name,
        is_async=_compat.is_async_callable(fn),
        accepts=_compat.func_accepts(fn),
        retry=RetryConfig.coerce(options.get("retry")),
        on_retry_attempt=check_hook(options.get("on_retry_attempt"), "on_retry_attempt"),
        on_error=on_error,
        log=log,
        cache=cache,
        metrics=metrics,
        fingerprint=code_fingerprint(fn) if cache is not None and cache.version is None else "",
        timeout=run_limit,
        idle_timeout=idle_limit,
        refresh_on=refresh_on,
        deadline=check_seconds(options.get("deadline"), "deadline"),
        on_timeout=check_hook(options.get("on_timeout"), "on_timeout"),
        breaker=resolve_breaker(options.get("circuit_breaker"), display),
        fallback=fallback,
        fallback_accepts=(_compat.func_accepts(fallback) if callable(fallback) else None),
        fallback_is_async=callable(fallback) and _compat.is_async_callable(fallback),
        on_failure=check_hook(options.get("on_failure"), "on_failure"),
        streaks=None if limit is None else FailureStreaks(limit),
        limits=guard if guard else None,
        item_key=item_key,
    )
