"""One rule for every options class: a wrong type is a TypeError, a wrong value a ValueError.

Each message starts with the owner and the field the user typed. Checked for all
inputs with hypothesis, over RetryConfig, CircuitBreakerConfig, Budget and RateLimit
(and ``create_node(retry=...)``, which names ``retry=`` as typed).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from langgraph_runner import (
    Budget,
    CircuitBreakerConfig,
    RateLimit,
    RetryConfig,
    create_node,
)
from langgraph_runner._internal.checks import (
    check_choice,
    check_count,
    check_positive,
    check_text,
)

# Values of a type no numeric option takes (bool included: True is not 1).
NOT_A_NUMBER = st.one_of(
    st.booleans(),
    st.text(max_size=5),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
NOT_A_STRING = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(st.text(), max_size=1)
)
NON_FINITE = st.sampled_from([math.inf, -math.inf, math.nan])


def _raises(error: type[Exception], owner: str, field: str, make: Any) -> None:
    with pytest.raises(error) as info:
        make()
    assert str(info.value).startswith(f"{owner}: {field}"), str(info.value)


@given(
    field=st.sampled_from(["initial_interval", "max_interval", "backoff_factor", "jitter"]),
    value=NOT_A_NUMBER,
)
def test_retry_config_number_of_the_wrong_type_is_a_type_error(field: str, value: Any) -> None:
    """Every RetryConfig number field refuses a non-number with a TypeError naming it."""
    _raises(TypeError, "RetryConfig", field, lambda: RetryConfig(**_any({field: value})))


@given(
    field=st.sampled_from(["initial_interval", "max_interval", "backoff_factor", "jitter"]),
    value=NON_FINITE,
)
def test_retry_config_refuses_non_finite_numbers(field: str, value: float) -> None:
    """NaN and infinities are a ValueError naming the field (backoff_factor=inf too)."""
    _raises(ValueError, "RetryConfig", field, lambda: RetryConfig(**_any({field: value})))


@given(value=st.one_of(st.integers(max_value=0), st.integers(min_value=1001)))
def test_retry_config_max_attempts_out_of_range(value: int) -> None:
    """max_attempts outside 1..1000 is a ValueError; through create_node it names retry=."""
    _raises(ValueError, "RetryConfig", "max_attempts", lambda: RetryConfig(max_attempts=value))
    _raises(ValueError, "create_node", f"retry={value}", lambda: create_node(_fn, retry=value))


@given(value=st.one_of(st.floats(), st.text(max_size=3), st.booleans()))
def test_create_node_retry_of_the_wrong_type(value: Any) -> None:
    """create_node(retry=<not a RetryConfig, int or None>) is a TypeError naming retry."""
    _raises(TypeError, "create_node", "retry", lambda: create_node(_fn, retry=value))


@given(
    value=st.one_of(
        st.floats(max_value=1.0, exclude_max=True, allow_nan=False), st.floats(min_value=1e309)
    )
)
def test_retry_config_backoff_factor_below_one(value: float) -> None:
    """A factor below 1 (or infinite) is a ValueError naming backoff_factor."""
    _raises(ValueError, "RetryConfig", "backoff_factor", lambda: RetryConfig(backoff_factor=value))


@given(
    field=st.sampled_from(["failure_threshold", "half_open_max_calls"]),
    value=st.one_of(NOT_A_NUMBER, st.floats()),
)
def test_breaker_config_counts_of_the_wrong_type(field: str, value: Any) -> None:
    """A count that is not an int is a TypeError naming it."""
    _raises(
        TypeError,
        "CircuitBreakerConfig",
        field,
        lambda: CircuitBreakerConfig(**_any({field: value})),
    )


@given(
    field=st.sampled_from(["failure_threshold", "half_open_max_calls"]),
    value=st.integers(max_value=0),
)
def test_breaker_config_counts_below_one(field: str, value: int) -> None:
    """A count below 1 is a ValueError naming it."""
    _raises(
        ValueError,
        "CircuitBreakerConfig",
        field,
        lambda: CircuitBreakerConfig(**_any({field: value})),
    )


@given(value=st.one_of(NON_FINITE, st.floats(max_value=0.0), st.integers(max_value=0)))
def test_breaker_config_recovery_timeout_out_of_range(value: float) -> None:
    """recovery_timeout must be finite and > 0."""
    _raises(
        ValueError,
        "CircuitBreakerConfig",
        "recovery_timeout",
        lambda: CircuitBreakerConfig(recovery_timeout=value),
    )


@given(field=st.sampled_from(["name", "tenant_key"]), value=NOT_A_STRING)
def test_budget_text_of_the_wrong_type_is_a_type_error(field: str, value: Any) -> None:
    """Budget(name=3) is a TypeError naming name (the stated rule), tenant_key too."""
    _raises(TypeError, "Budget", field, lambda: Budget(**_any({field: value, "calls": 1})))


@given(field=st.sampled_from(["per", "on_exhausted"]), value=st.text(max_size=8))
def test_budget_choices(field: str, value: str) -> None:
    """A string that is no choice is a ValueError; a non-string a TypeError."""
    if value in ("run", "thread", "tenant", "record", "raise"):
        return
    _raises(ValueError, "Budget", field, lambda: Budget(**_any({field: value, "calls": 1})))
    _raises(TypeError, "Budget", field, lambda: Budget(**_any({field: 1, "calls": 1})))


@given(value=NOT_A_STRING)
def test_rate_limit_key_of_the_wrong_type(value: Any) -> None:
    """RateLimit(key=3) is a TypeError naming key; an empty key a ValueError."""
    _raises(TypeError, "RateLimit", "key", lambda: RateLimit(key=value, requests_per_second=1))
    _raises(ValueError, "RateLimit", "key", lambda: RateLimit(key="", requests_per_second=1))


@given(value=st.text(max_size=6).filter(lambda v: v not in ("wait", "fail")))
def test_rate_limit_on_limit(value: str) -> None:
    """on_limit other than 'wait'/'fail' is a ValueError naming it."""
    _raises(
        ValueError,
        "RateLimit",
        "on_limit",
        lambda: RateLimit(key="k", requests_per_second=1, on_limit=value),  # type: ignore[arg-type]
    )


def test_check_text_and_choice_answer_the_value() -> None:
    """The helpers return what they accept."""
    assert check_text("x", "name", "Owner") == "x"
    assert check_choice("a", "mode", "Owner", ("a", "b")) == "a"


def test_check_count_answers_an_int_from_its_least_and_names_the_field() -> None:
    """An int of ``least`` or more comes back; a bool or other type, or less, is refused."""
    assert check_count(1, "calls", "Owner") == 1
    assert check_count(0, "retries", "Owner", least=0) == 0
    with pytest.raises(TypeError, match=r"^Owner: calls must be an int, got bool$"):
        check_count(True, "calls", "Owner")
    with pytest.raises(ValueError, match=r"^Owner: calls must be >= 1, got 0$"):
        check_count(0, "calls", "Owner")


def test_check_positive_answers_a_finite_amount_as_a_float_and_none_as_none() -> None:
    """A finite number > 0 comes back as a float, None as None; a bool, 0 or inf is refused."""
    assert check_positive(2, "cost", "Owner") == 2.0
    assert check_positive(None, "cost", "Owner") is None
    with pytest.raises(TypeError, match=r"^Owner: cost must be a number, got bool$"):
        check_positive(True, "cost", "Owner")
    for bad in (0, math.inf):
        with pytest.raises(ValueError, match=r"^Owner: cost must be finite and > 0, got "):
            check_positive(bad, "cost", "Owner")


def _fn(state: Any) -> Any:
    return state


def _any(options: dict[str, Any]) -> Any:
    """Options typed loosely, for the calls that pass a wrong type on purpose."""
    return options
