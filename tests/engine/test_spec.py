"""options.py: create_node's resilience options validated once, at factory time."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

import pytest

from langgraph_runner import CircuitBreaker, CircuitBreakerConfig, create_node, get_circuit_breaker
from langgraph_runner._engine.spec import check_hook, check_seconds, resolve_breaker


def _fn(state: Any) -> Any:
    return None


def _key() -> str:
    return f"test-options-{uuid.uuid4().hex}"


# --------------------------------------------------------------------------- check_seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        (2.5, 2.5),
        (3, 3.0),
        (timedelta(milliseconds=250), 0.25),
        (timedelta(minutes=1), 60.0),
        (1e-9, 1e-9),
    ],
)
def test_check_seconds_accepts_numbers_and_timedeltas(value: Any, seconds: float | None) -> None:
    """None passes through; int, float and timedelta become float seconds."""
    result = check_seconds(value, "timeout")
    assert result == seconds
    assert result is None or type(result) is float


@pytest.mark.parametrize(
    "value",
    [0, 0.0, -1, -0.5, timedelta(0), timedelta(seconds=-3), math.nan, math.inf, -math.inf],
)
def test_check_seconds_rejects_non_positive_and_non_finite(value: Any) -> None:
    """0, negative, NaN and infinite limits are a ValueError naming the field."""
    with pytest.raises(ValueError, match=r"deadline must be a finite number of seconds > 0"):
        check_seconds(value, "deadline")


@pytest.mark.parametrize("value", [True, False, "5", b"5", [1], object()])
def test_check_seconds_rejects_bools_and_other_types(value: Any) -> None:
    """A bool, str or any other object is a TypeError naming the field and the type."""
    with pytest.raises(TypeError, match=rf"timeout must be seconds .* got {type(value).__name__}"):
        check_seconds(value, "timeout")


# --------------------------------------------------------------------------- check_hook


async def _async_hook(*args: Any) -> None:
    return None


@pytest.mark.parametrize("hook", [None, print, _async_hook, lambda *a: None])
def test_check_hook_accepts_none_and_callables(hook: Any) -> None:
    """None and any callable (sync or async) are returned unchanged."""
    assert check_hook(hook, "on_timeout") is hook


@pytest.mark.parametrize("hook", ["alert", 5, ["fn"]])
def test_check_hook_rejects_non_callables(hook: Any) -> None:
    """A non-callable hook is a TypeError naming the field and the type."""
    with pytest.raises(TypeError, match=rf"on_failure must be callable, got {type(hook).__name__}"):
        check_hook(hook, "on_failure")


# --------------------------------------------------------------------------- resolve_breaker


def test_resolve_breaker_none_is_none() -> None:
    """No breaker option, no breaker."""
    assert resolve_breaker(None, "fetch") is None


def test_resolve_breaker_config_makes_a_node_local_breaker() -> None:
    """A config gives a new breaker named after the node, with that config, each time."""
    config = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=5)
    first = resolve_breaker(config, "fetch")
    second = resolve_breaker(config, "fetch")
    assert isinstance(first, CircuitBreaker)
    assert first.name == "fetch"
    assert first.config is config
    assert second is not first


def test_resolve_breaker_instance_is_used_as_is() -> None:
    """A CircuitBreaker instance is the node's breaker, unchanged (its own name kept)."""
    breaker = CircuitBreaker("billing")
    assert resolve_breaker(breaker, "fetch") is breaker
    assert breaker.name == "billing"


def test_resolve_breaker_key_is_the_shared_breaker() -> None:
    """A key resolves to get_circuit_breaker(key); two nodes naming it share one breaker."""
    key = _key()
    first = resolve_breaker(key, "fetch")
    second = resolve_breaker(key, "parse")
    assert first is second is get_circuit_breaker(key)
    assert first is not None and first.name == key


def test_resolve_breaker_key_keeps_a_preconfigured_shared_breaker() -> None:
    """A key created earlier with its own config resolves to that breaker and config."""
    key = _key()
    config = CircuitBreakerConfig(failure_threshold=7)
    made = get_circuit_breaker(key, config)
    resolved = resolve_breaker(key, "fetch")
    assert resolved is made
    assert resolved.config == config


def test_resolve_breaker_empty_key_is_value_error() -> None:
    """An empty key is a ValueError naming circuit_breaker."""
    with pytest.raises(ValueError, match="circuit_breaker key must be a non-empty string"):
        resolve_breaker("", "fetch")


@pytest.mark.parametrize("value", [3, 2.5, True, {"failure_threshold": 3}, CircuitBreaker])
def test_resolve_breaker_other_types_are_type_error(value: Any) -> None:
    """Anything else is a TypeError naming circuit_breaker, the accepted kinds and the type."""
    pattern = rf"circuit_breaker must be a CircuitBreakerConfig, .* got {type(value).__name__}"
    with pytest.raises(TypeError, match=pattern):
        resolve_breaker(value, "fetch")


# --------------------------------------------------------------------------- through create_node


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"timeout": -1}, ValueError, "timeout must be a finite number of seconds > 0"),
        ({"timeout": 0}, ValueError, "timeout must be a finite number"),
        ({"timeout": math.nan}, ValueError, "timeout must be a finite number"),
        ({"timeout": True}, TypeError, "timeout must be seconds"),
        ({"deadline": "5"}, TypeError, "deadline must be seconds .* got str"),
        ({"deadline": timedelta(0)}, ValueError, "deadline must be a finite number"),
        ({"circuit_breaker": 3}, TypeError, "circuit_breaker must be a CircuitBreakerConfig"),
        ({"circuit_breaker": ""}, ValueError, "circuit_breaker key must be a non-empty"),
        ({"fallback": ""}, ValueError, "fallback must be a non-empty node name"),
        ({"fallback": 123}, TypeError, "fallback must be a node name .* got int"),
        ({"on_failure": 5}, TypeError, "on_failure must be callable, got int"),
        ({"on_timeout": "x"}, TypeError, "on_timeout must be callable, got str"),
    ],
)
def test_create_node_refuses_bad_options_at_factory_time(
    kwargs: dict[str, Any], error: type[Exception], pattern: str
) -> None:
    """create_node raises the option's error (naming it) before any graph is built."""
    with pytest.raises(error, match=pattern):
        create_node(_fn, **kwargs)


@pytest.mark.parametrize("is_async", [False, True])
def test_create_node_accepts_good_options(is_async: bool) -> None:
    """Valid timeouts, deadlines, hooks and breakers of each kind build a node."""

    async def afn(state: Any) -> Any:
        return None

    fn = afn if is_async else _fn
    for breaker in (CircuitBreakerConfig(), CircuitBreaker("b"), _key()):
        node = create_node(
            fn,
            timeout=timedelta(seconds=1),
            deadline=3,
            on_timeout=_async_hook,
            on_failure=print,
            circuit_breaker=breaker,
            fallback="recover",
        )
        assert node.name == fn.__name__


@pytest.mark.parametrize("field", ["timeout", "deadline"])
def test_limits_above_threading_timeout_max_are_refused(field: str) -> None:
    """A limit no thread can wait for fails at factory time, naming the option."""
    import threading

    from langgraph_runner import create_node

    with pytest.raises(
        ValueError, match=rf"{field} must be at most {int(threading.TIMEOUT_MAX)} s"
    ):
        create_node(_fn, **{field: threading.TIMEOUT_MAX * 2})


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("metrics", 5, r"metrics must be a NodeMetricsCollector \(with a record_success"),
        ("metrics", object(), r"metrics must be a NodeMetricsCollector"),
        ("logger", "x", r"logger must be a structlog-style logger \(with a debug"),
    ],
)
def test_metrics_and_logger_of_the_wrong_type_are_refused(
    option: str, value: Any, message: str
) -> None:
    """metrics= and logger= are checked at factory time instead of silently dropped."""
    from langgraph_runner import create_node

    with pytest.raises(TypeError, match=message):
        create_node(_fn, **{option: value})


def test_a_real_collector_and_a_structlog_logger_are_accepted() -> None:
    """What the options are for passes the check."""
    import structlog

    from langgraph_runner import create_node
    from langgraph_runner.metrics import NodeMetricsCollector

    create_node(_fn, metrics=NodeMetricsCollector(), logger=structlog.get_logger())
