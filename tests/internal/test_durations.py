"""_internal/durations.py: one rule for every option that takes float seconds or a timedelta."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langgraph.checkpoint.memory import InMemorySaver

from langgraph_runner import CircuitBreakerConfig, NodeCache, RetryConfig, create_node
from langgraph_runner._internal.durations import (
    optional_seconds,
    seconds,
    whole_seconds,
)
from langgraph_runner.runs import run, thread_lock

POSITIVE_FLOATS = st.floats(min_value=0, exclude_min=True, allow_nan=False, allow_infinity=False)
POSITIVE_TIMEDELTAS = st.timedeltas(min_value=timedelta(microseconds=1))
FIELD = st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True)


@given(value=POSITIVE_FLOATS, field=FIELD)
def test_any_finite_positive_float_is_kept_exactly(value: float, field: str) -> None:
    """A finite float > 0 comes back as the same float."""
    result = seconds(value, field)
    assert result == value
    assert type(result) is float


@given(value=st.integers(min_value=1, max_value=2**53))
def test_any_positive_int_becomes_the_same_float(value: int) -> None:
    """An int number of seconds becomes exactly that float."""
    assert seconds(value, "ttl") == float(value)


@given(value=POSITIVE_TIMEDELTAS)
def test_any_positive_timedelta_converts_exactly(value: timedelta) -> None:
    """A timedelta > 0 becomes its exact length in seconds (timedelta division)."""
    result = seconds(value, "timeout")
    assert result == value / timedelta(seconds=1)
    assert result == value.total_seconds()


@given(
    value=st.one_of(
        st.just(math.nan),
        st.just(math.inf),
        st.just(-math.inf),
        st.floats(max_value=0, allow_nan=False, allow_infinity=False),
        st.integers(max_value=0),
        st.timedeltas(max_value=timedelta(0)),
    ),
    field=FIELD,
)
def test_nan_infinite_negative_and_zero_are_value_errors_naming_the_field(
    value: Any, field: str
) -> None:
    """NaN, an infinity, a negative value or zero is a ValueError that names owner and field."""
    with pytest.raises(ValueError, match=rf"^Owner: {field} must be a finite number of seconds"):
        seconds(value, field, owner="Owner")


@given(
    value=st.one_of(st.booleans(), st.text(), st.binary(), st.none(), st.lists(st.integers())),
    field=FIELD,
)
def test_bools_strings_and_other_types_are_type_errors_naming_the_field(
    value: Any, field: str
) -> None:
    """A bool (True is not one second), a str or any other object: TypeError naming the field."""
    with pytest.raises(TypeError, match=rf"^Owner: {field} must be seconds .* got "):
        seconds(value, field, owner="Owner")


def test_zero_and_infinity_only_where_the_field_gives_them_a_meaning() -> None:
    """zero=True lets 0 through ("no wait"); infinite=True lets math.inf through ("no limit")."""
    assert seconds(0, "wait", zero=True) == 0.0
    assert seconds(timedelta(0), "wait", zero=True) == 0.0
    assert seconds(math.inf, "wait", infinite=True) == math.inf
    with pytest.raises(ValueError, match="wait must be a number of seconds >= 0"):
        seconds(-1, "wait", zero=True, infinite=True)
    with pytest.raises(ValueError, match="> 0"):
        seconds(math.nan, "wait", infinite=True)


def test_maximum_is_enforced_with_the_field_named() -> None:
    """A value above the field's maximum is a ValueError saying the maximum."""
    assert seconds(10, "timeout", maximum=10) == 10.0
    with pytest.raises(ValueError, match="create_node: timeout must be at most 10 seconds"):
        seconds(10.5, "timeout", owner="create_node", maximum=10)


def test_optional_seconds_passes_none() -> None:
    """None means "no limit" and is returned as None; anything else follows the rule."""
    assert optional_seconds(None, "deadline") is None
    assert optional_seconds(timedelta(minutes=1), "deadline") == 60.0


@pytest.mark.parametrize(
    ("value", "result"),
    [(1, 1), (60.0, 60), (timedelta(hours=1), 3600), (timedelta(days=2), 172800)],
)
def test_whole_seconds_for_cache_ttls(value: Any, result: int) -> None:
    """A cache ttl is whole seconds >= 1, returned as an int."""
    assert whole_seconds(value, "ttl") == result
    assert type(whole_seconds(value, "ttl")) is int


@pytest.mark.parametrize("value", [0.5, 1.5, timedelta(milliseconds=1500), 0, True])
def test_whole_seconds_refuses_fractions_and_less_than_a_second(value: Any) -> None:
    """A fraction of a second, 0 or a bool is refused with the field named."""
    with pytest.raises((TypeError, ValueError), match="NodeCache: ttl must be"):
        whole_seconds(value, "ttl", owner="NodeCache")


def _retry(value: Any) -> Any:
    return RetryConfig(initial_interval=value)


def _breaker(value: Any) -> Any:
    return CircuitBreakerConfig(recovery_timeout=value)


def _node(value: Any) -> Any:
    return create_node(lambda state: None, timeout=value)


def _deadline(value: Any) -> Any:
    return create_node(lambda state: None, deadline=value)


def _cache(value: Any) -> Any:
    return NodeCache(ttl=value)


def _lock(value: Any) -> Any:
    return thread_lock(InMemorySaver(), {"configurable": {"thread_id": "t"}}, wait=value)


def _run(value: Any) -> Any:
    return run(object(), {}, time_limit=value)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (_retry, "initial_interval"),
        (_breaker, "recovery_timeout"),
        (_node, "timeout"),
        (_deadline, "deadline"),
        (_cache, "ttl"),
        (_lock, "wait"),
        (_run, "time_limit"),
    ],
)
@pytest.mark.parametrize("bad", [True, "5", math.nan, -1.0])
def test_every_config_refuses_with_the_same_words(make: Any, field: str, bad: Any) -> None:
    """Each config that takes a duration refuses a bad one with this module's message."""
    with pytest.raises((TypeError, ValueError)) as info:
        make(bad)
    message = str(info.value)
    assert f"{field} must be" in message
    assert (
        "must be seconds (int or float) or a datetime.timedelta" in message
        or "number of seconds" in message
    )
