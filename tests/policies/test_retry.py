"""RetryConfig: validation, the backoff schedule with upward jitter, Retry-After hints, retry_on."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langgraph.errors import GraphInterrupt
from pydantic import BaseModel, ValidationError
from tenacity import RetryCallState

from langgraph_runner import create_node
from langgraph_runner._engine.waits import waits_disabled
from langgraph_runner._policies.context import NodeContext
from langgraph_runner._policies.retry import (
    _NO_RETRYING,
    Retrier,
    Retry,
    RetryAttempt,
    RetryConfig,
)
from langgraph_runner._records.exceptions import CircuitOpenError, NodeAbortedError
from langgraph_runner.testing import no_wait


class Hinted(Exception):
    """Carries a Retry-After hint."""

    def __init__(self, retry_after: Any) -> None:
        super().__init__("slow down")
        self.retry_after = retry_after


class Status(Exception):
    """Carries an HTTP status."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


def _validation_error() -> ValidationError:
    class M(BaseModel):
        n: int

    try:
        M.model_validate({"n": "x"})
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- construction


def test_defaults_match_the_spec() -> None:
    """Defaults: 3 attempts, 0.5 s initial, factor 2, 30 s cap, 25% jitter, default predicate."""
    config = RetryConfig()
    assert (
        config.max_attempts,
        config.initial_interval,
        config.backoff_factor,
        config.max_interval,
        config.jitter,
        config.retry_on,
    ) == (3, 0.5, 2.0, 30.0, 0.25, None)


def test_is_frozen() -> None:
    """A config cannot be changed after creation."""
    config = RetryConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_attempts = 5  # type: ignore[misc]


def test_is_keyword_only() -> None:
    """Positional arguments are refused."""
    with pytest.raises(TypeError):
        RetryConfig(5)  # type: ignore[call-arg]


def test_equal_configs_are_equal_and_hashable() -> None:
    """Frozen configs compare by value and can be hashed (used as keys, shared safely)."""
    assert RetryConfig(max_attempts=4) == RetryConfig(max_attempts=4)
    assert hash(RetryConfig(max_attempts=4)) == hash(RetryConfig(max_attempts=4))


@pytest.mark.parametrize(
    ("field", "value", "seconds"),
    [
        ("initial_interval", 2, 2.0),
        ("initial_interval", 0.25, 0.25),
        ("initial_interval", 0, 0.0),
        ("initial_interval", timedelta(milliseconds=250), 0.25),
        ("max_interval", timedelta(minutes=2), 120.0),
        ("max_interval", 60.0, 60.0),
    ],
)
def test_times_accept_seconds_or_timedelta(field: str, value: Any, seconds: float) -> None:
    """Intervals are float/int seconds or a timedelta, stored as float seconds."""
    stored = getattr(RetryConfig(**_any({field: value})), field)
    assert stored == seconds
    assert type(stored) is float


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("max_attempts", 0, ValueError),
        ("max_attempts", -1, ValueError),
        ("max_attempts", 1001, ValueError),
        ("max_attempts", 1.5, TypeError),
        ("max_attempts", 3.0, TypeError),
        ("max_attempts", True, TypeError),
        ("max_attempts", "3", TypeError),
        ("initial_interval", -0.1, ValueError),
        ("initial_interval", "0.5", TypeError),
        ("initial_interval", float("nan"), ValueError),
        ("initial_interval", True, TypeError),
        ("initial_interval", None, TypeError),
        ("initial_interval", timedelta(seconds=-1), ValueError),
        ("max_interval", -5, ValueError),
        ("max_interval", "30s", TypeError),
        ("backoff_factor", 0.5, ValueError),
        ("backoff_factor", float("nan"), ValueError),
        ("backoff_factor", float("inf"), ValueError),
        ("backoff_factor", "2", TypeError),
        ("jitter", -0.1, ValueError),
        ("jitter", 1.5, ValueError),
        ("jitter", float("nan"), ValueError),
        ("jitter", float("inf"), ValueError),
        ("retry_on", int, TypeError),
        ("retry_on", "ValueError", ValueError),
        ("retry_on", (ValueError, 3), TypeError),
        ("retry_on", (), ValueError),
        ("retry_on", 42, TypeError),
    ],
)
def test_bad_values_raise_the_rule_error_naming_the_field(
    field: str, value: Any, error: type[Exception]
) -> None:
    """A wrong type is a TypeError, a wrong value a ValueError; both name owner and field."""
    with pytest.raises(error, match=f"^RetryConfig: {field} "):
        RetryConfig(**_any({field: value}))


def test_an_unknown_keyword_is_a_type_error_naming_it() -> None:
    """A misspelt option is refused, named as typed."""
    with pytest.raises(TypeError, match="max_attemps"):
        RetryConfig(max_attemps=3)  # type: ignore[call-arg]


@pytest.mark.parametrize("field", ["backoff_factor", "jitter"])
def test_bool_is_not_a_number_for_factor_and_jitter(field: str) -> None:
    """A bool is a bad value for backoff_factor and jitter, as it is for the intervals."""
    with pytest.raises(TypeError, match=field):
        RetryConfig(**_any({field: True}))


def test_ceiling_below_initial_interval_is_rejected() -> None:
    """max_interval below initial_interval is refused with a message naming both fields."""
    with pytest.raises(ValueError, match="max_interval") as info:
        RetryConfig(initial_interval=5, max_interval=1)
    assert "initial_interval" in str(info.value)


def test_the_pydantic_era_calls_still_work() -> None:
    """model_copy (validated again), model_dump and model_validate keep working."""
    config = RetryConfig(max_attempts=4, initial_interval=timedelta(seconds=2))
    dumped = config.model_dump()
    assert dumped["max_attempts"] == 4 and dumped["initial_interval"] == 2.0
    assert RetryConfig.model_validate(dumped) == config
    assert config.model_copy(update={"jitter": 0.0}).jitter == 0.0
    with pytest.raises(ValueError, match="jitter"):
        config.model_copy(update={"jitter": 2.0})


@pytest.mark.parametrize(
    ("value", "seconds"), [(1, 1.0), (0.5, 0.5), (timedelta(seconds=3), 3.0), (0, 0.0)]
)
def test_intervals_become_float_seconds_and_zero_means_at_once(value: Any, seconds: float) -> None:
    """An interval of numbers or a timedelta is float seconds; 0 retries at once."""
    assert RetryConfig(initial_interval=value).initial_interval == seconds


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), True, timedelta(seconds=-2)])
def test_bad_intervals_are_refused_with_the_field_named(value: Any) -> None:
    """Negative, NaN, infinite and bool intervals are refused naming the field."""
    with pytest.raises((TypeError, ValueError), match="max_interval"):
        RetryConfig(max_interval=value)


# ---------------------------------------------------------------- the schedule


def spec_delay(config: RetryConfig, attempt: int, u: float) -> float:
    """The spec's formula, written out independently."""
    base = config.initial_interval * config.backoff_factor ** (attempt - 1)
    return min(config.max_interval, base * (1 + u * config.jitter))


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("u", [0.0, 0.3, 1.0])
@pytest.mark.parametrize(
    "config",
    [
        RetryConfig(),
        RetryConfig(initial_interval=1.0, backoff_factor=3.0, max_interval=20.0, jitter=0.5),
        RetryConfig(initial_interval=0.1, backoff_factor=1.0, jitter=0.0),
        RetryConfig(initial_interval=2.0, max_interval=2.0, jitter=1.0),
    ],
    ids=["default", "factor3", "constant", "capped"],
)
def test_compute_delay_follows_the_formula(config: RetryConfig, attempt: int, u: float) -> None:
    """wait after attempt n = min(max_interval, initial * factor**(n-1) * (1 + U*jitter))."""
    assert config.compute_delay(attempt, random_value=u) == pytest.approx(
        spec_delay(config, attempt, u)
    )


def test_compute_delay_default_schedule() -> None:
    """With no jitter drawn, the default schedule is 0.5, 1, 2, 4, ... capped at 30 s."""
    config = RetryConfig()
    floors = [config.compute_delay(n, random_value=0.0) for n in range(1, 9)]
    assert floors == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert config.compute_delay(1, random_value=1.0) == 0.625


def test_jitter_is_upward_only_and_bounded() -> None:
    """Drawn delays stay within [floor, floor * (1 + jitter)] and the cap, and do vary."""
    config = RetryConfig(initial_interval=1.0, jitter=0.25, max_interval=30.0)
    for attempt in (1, 2, 3):
        floor = spec_delay(config, attempt, 0.0)
        draws = [config.compute_delay(attempt) for _ in range(200)]
        assert all(floor <= d <= floor * 1.25 for d in draws)
        assert len(set(draws)) > 1
    capped = RetryConfig(initial_interval=10.0, max_interval=10.0, jitter=1.0)
    assert all(capped.compute_delay(1) == 10.0 for _ in range(50))


def test_zero_jitter_is_deterministic() -> None:
    """jitter=0 makes the schedule exact whatever the random draw."""
    config = RetryConfig(jitter=0.0)
    assert {config.compute_delay(2) for _ in range(50)} == {1.0}


def test_zero_initial_interval_means_no_wait() -> None:
    """initial_interval=0 gives a zero wait at every attempt."""
    config = RetryConfig(initial_interval=0, max_interval=0)
    assert [config.compute_delay(n, random_value=1.0) for n in (1, 2, 3)] == [0.0, 0.0, 0.0]


def test_compute_delay_never_overflows() -> None:
    """Even a late attempt with a steep factor waits max_interval, without raising."""
    config = RetryConfig(max_attempts=1000, backoff_factor=10.0, max_interval=60.0)
    assert config.compute_delay(400, random_value=0.0) == 60.0


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (3, 3.0),
        (0, 0.0),
        (timedelta(seconds=7), 7.0),
        ("12", 12.0),
        (-4, 0.0),
        (500, 30.0),
    ],
)
def test_retry_after_hint_sets_the_wait(hint: Any, expected: float) -> None:
    """A Retry-After hint replaces the schedule (no jitter), capped at max_interval."""
    config = RetryConfig()
    assert config.compute_delay(1, Hinted(hint), random_value=1.0) == expected
    assert config.compute_delay(5, Hinted(hint), random_value=0.0) == expected


def test_retry_after_header_sets_the_wait() -> None:
    """A Retry-After header on the error's response sets the wait too."""

    class Response:
        status_code = 429
        headers: ClassVar[dict[str, str]] = {"Retry-After": "9"}

    class TooMany(Exception):
        response = Response()

    assert RetryConfig().compute_delay(1, TooMany(), random_value=1.0) == 9.0


@pytest.mark.parametrize("error", [Hinted("soon"), Hinted(None), ValueError("no hint")])
def test_unusable_hint_falls_back_to_the_schedule(error: BaseException) -> None:
    """Without a usable hint the formula applies."""
    assert RetryConfig().compute_delay(2, error, random_value=0.5) == pytest.approx(
        1.0 * (1 + 0.5 * 0.25)
    )


def test_circuit_open_hint_is_capped() -> None:
    """A CircuitOpenError's retry_after is a hint like any other, capped at max_interval."""
    config = RetryConfig(max_interval=5.0)
    assert config.compute_delay(1, CircuitOpenError("b", 100.0), random_value=0.0) == 5.0


# ---------------------------------------------------------------- what is retried

NEVER = [
    GraphInterrupt(()),
    asyncio.CancelledError(),
    KeyboardInterrupt(),
    SystemExit(1),
    NodeAbortedError("n"),
    CircuitOpenError("b", 1.0),
]


@pytest.mark.parametrize(
    "exc",
    [TimeoutError(), ConnectionResetError(), Status(503), Status(429), RuntimeError()],
    ids=lambda e: type(e).__name__,
)
def test_default_retries_what_is_retryable(exc: BaseException) -> None:
    """By default, is_retryable_node_error decides: transient errors are retried."""
    assert RetryConfig().should_retry(exc) is True


@pytest.mark.parametrize(
    "exc",
    [TypeError(), KeyError("k"), Status(404), _validation_error(), *NEVER],
    ids=lambda e: type(e).__name__,
)
def test_default_does_not_retry_the_rest(exc: BaseException) -> None:
    """By default, programming errors, 4xx, validation and control flow are not retried."""
    assert RetryConfig().should_retry(exc) is False


def test_retry_on_types() -> None:
    """retry_on with exception types retries exactly those (and subclasses)."""
    config = RetryConfig(retry_on=(KeyError, Status))
    assert config.should_retry(KeyError("k"))
    assert config.should_retry(Status(404))
    assert not config.should_retry(TimeoutError())
    assert RetryConfig(retry_on=LookupError).should_retry(IndexError())


def test_retry_on_predicate() -> None:
    """retry_on as a predicate decides with the exception."""
    seen: list[BaseException] = []

    def only_teapots(exc: BaseException) -> bool:
        seen.append(exc)
        return getattr(exc, "status_code", None) == 418

    config = RetryConfig(retry_on=only_teapots)
    assert config.should_retry(Status(418))
    assert not config.should_retry(Status(503))
    assert [getattr(e, "status_code", None) for e in seen] == [418, 503]


@pytest.mark.parametrize(
    "retry_on",
    [BaseException, Exception, (Exception, BaseException), lambda exc: True],
    ids=["BaseException", "Exception", "tuple", "predicate"],
)
@pytest.mark.parametrize("exc", NEVER, ids=lambda e: type(e).__name__)
def test_control_flow_abort_and_open_circuit_are_never_retried(
    retry_on: Any, exc: BaseException
) -> None:
    """Whatever retry_on says, control flow, aborts and open circuits are not retried."""
    assert RetryConfig(retry_on=retry_on).should_retry(exc) is False


# ---------------------------------------------------------------- coerce, RetryAttempt, waits


@pytest.mark.parametrize("value", [None, RetryConfig(max_attempts=7)])
def test_coerce_passes_configs_and_none_through(value: Any) -> None:
    """coerce returns None and configs as they are."""
    assert RetryConfig.coerce(value) is value


@pytest.mark.parametrize("attempts", [1, 2, 10])
def test_coerce_int_is_max_attempts(attempts: int) -> None:
    """An int means max_attempts with every other default."""
    assert RetryConfig.coerce(attempts) == RetryConfig(max_attempts=attempts)


@pytest.mark.parametrize("value", [True, 2.0, "3", [3]])
def test_coerce_rejects_other_types(value: Any) -> None:
    """Bools, floats, strings and the like are a TypeError naming what was given."""
    with pytest.raises(TypeError, match=type(value).__name__):
        RetryConfig.coerce(value)


@pytest.mark.parametrize("value", [0, -1, 1001])
def test_coerce_out_of_range_names_retry_as_typed(value: int) -> None:
    """An int out of range is a ValueError naming create_node and retry= as the user wrote it."""
    with pytest.raises(ValueError, match=rf"^create_node: retry={value} "):
        RetryConfig.coerce(value)


def test_retry_attempt_is_frozen() -> None:
    """RetryAttempt is an immutable record of one failed attempt."""
    ctx = NodeContext(node="n", trace_id="t", graph_execution_id="g", started_at=0.0)
    attempt = RetryAttempt(node="n", attempt=1, error=ValueError("x"), next_delay=0.5, context=ctx)
    with pytest.raises(dataclasses.FrozenInstanceError):
        attempt.attempt = 2  # type: ignore[misc]
    assert math.isclose(attempt.next_delay, 0.5)


def test_waits_are_enabled_by_default() -> None:
    """Outside no_wait(), waits are real."""
    assert waits_disabled() is False


@pytest.mark.parametrize(
    ("exc", "ours", "langgraph"),
    [
        (ConnectionError("reset"), True, True),
        (ValueError("bad"), True, False),
        (RuntimeError("boom"), True, False),
        (KeyError("k"), False, False),
        (TypeError("t"), False, False),
    ],
)
def test_retry_on_langgraph_selects_langgraphs_own_predicate(
    exc: Exception, ours: bool, langgraph: bool
) -> None:
    """retry_on='langgraph' is LangGraph's default_retry_on; the default is ours."""
    from langgraph._internal._retry import default_retry_on

    assert RetryConfig().should_retry(exc) is ours
    assert RetryConfig(retry_on="langgraph").should_retry(exc) is langgraph
    assert bool(default_retry_on(exc)) is langgraph


def test_retry_on_refuses_other_strings() -> None:
    """Only 'langgraph' is a named predicate."""
    with pytest.raises(ValueError, match="'langgraph'"):
        RetryConfig(retry_on="default")  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["initial_interval", "max_interval"])
def test_intervals_must_be_finite(field: str) -> None:
    """An infinite interval is refused when the config is built, naming the field."""
    with pytest.raises(ValueError, match=field):
        RetryConfig(**_any({field: float("inf")}))


def _any(options: dict[str, Any]) -> Any:
    """Options typed loosely, for the calls that pass a wrong type on purpose."""
    return options


# ---------------------------------------------------------------- the one decision


class _Call:
    """The little of a node call ``Retrier.decide`` reads, with no graph around it."""

    def __init__(self, deadline_at: float | None = None) -> None:
        self.config: Any = None
        self.run_signal: Any = None
        self.deadline_at = deadline_at
        self.events: list[str] = []

    def check_run_signal(self) -> None:
        raise AssertionError("no run signal here")

    def check_drain(self) -> None:
        raise AssertionError("no drain here")

    def deadline_error(self, cause: BaseException | None = None) -> BaseException:
        return TimeoutError(f"deadline after {cause!r}")

    def node(self) -> str:
        return "n"

    def event(self, level: int, event: str, **fields: Any) -> None:
        self.events.append(event)


class _Switch:
    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.sinks: list[list[float]] = [[]]


def _state(attempt: int) -> RetryCallState:
    state = RetryCallState(_NO_RETRYING, None, (), {})
    state.attempt_number = attempt
    return state


def test_compute_delay_asks_the_retrier_the_engine_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait has one rule: RetryConfig.compute_delay and a node's retry both get
    Retrier.delay's answer."""
    monkeypatch.setattr(Retrier, "delay", lambda self, state, exc, u=None: 4.25)
    assert RetryConfig().compute_delay(1) == 4.25
    calls: list[int] = []

    def flaky(state: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        raise ConnectionError("down")

    node: Any = create_node(flaky, retry=RetryConfig(max_attempts=3), on_error="record")
    with no_wait() as skipped:
        node.invoke({})
    assert skipped == [4.25, 4.25]
    assert len(calls) == 3


@given(
    initial=st.floats(min_value=0.0, max_value=100.0),
    factor=st.floats(min_value=1.0, max_value=10.0),
    extra=st.floats(min_value=0.0, max_value=1000.0),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    attempt=st.integers(min_value=1, max_value=2000),
    u=st.floats(min_value=0.0, max_value=1.0),
)
def test_the_delay_is_the_formula_for_every_input(
    initial: float, factor: float, extra: float, jitter: float, attempt: int, u: float
) -> None:
    """Tenacity's exponential wait times the upward jitter, capped: the documented formula."""
    config = RetryConfig(
        initial_interval=initial,
        backoff_factor=factor,
        max_interval=initial + extra,
        jitter=jitter,
    )
    got = Retrier(config).delay(_state(attempt), ConnectionError("down"), u)
    try:
        expected = spec_delay(config, attempt, u)
    except OverflowError:  # far past any ceiling
        expected = config.max_interval
    assert 0.0 <= got <= config.max_interval
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_decide_retries_until_the_last_attempt() -> None:
    """A retryable error is retried after the schedule's wait, until max_attempts."""
    retrier = Retrier(RetryConfig(max_attempts=3, initial_interval=1.0, jitter=0.0))
    call, exc = _Call(), ConnectionError("down")
    step = retrier.decide(call, None, exc)
    assert isinstance(step, Retry)
    assert (step.delay, step.wait, step.state.attempt_number) == (1.0, 1.0, 1)
    step.state.prepare_for_next_attempt()
    second = retrier.decide(call, step.state, exc)
    assert isinstance(second, Retry)
    assert second.delay == 2.0
    second.state.prepare_for_next_attempt()
    assert retrier.decide(call, second.state, exc) is exc


@pytest.mark.parametrize(
    "config", [None, RetryConfig(max_attempts=1), RetryConfig(retry_on=KeyError)]
)
def test_decide_gives_up_at_once_without_a_retry_to_make(config: RetryConfig | None) -> None:
    """No policy, one attempt, or an error retry_on refuses: the error itself ends the call."""
    exc = ConnectionError("down")
    assert Retrier(config).decide(_Call(), None, exc) is exc


def test_decide_never_waits_past_the_deadline() -> None:
    """A wait that would end after the deadline ends the call with the deadline's error."""
    retrier = Retrier(RetryConfig(initial_interval=5.0, jitter=0.0))
    exc = ConnectionError("down")
    ended = retrier.decide(_Call(deadline_at=time.monotonic() + 1.0), None, exc)
    assert isinstance(ended, TimeoutError)
    assert isinstance(retrier.decide(_Call(deadline_at=time.monotonic() + 60), None, exc), Retry)


def test_decide_lets_an_abort_out() -> None:
    """NodeAbortedError is raised, never retried."""
    with pytest.raises(NodeAbortedError):
        Retrier(RetryConfig()).decide(_Call(), None, NodeAbortedError("n", reason="stop"))


@pytest.mark.parametrize("depth", [0, 1])
def test_the_no_wait_switch_zeroes_the_wait_and_collects_the_delay(depth: int) -> None:
    """Inside the switch the wait is zero and the delay collected; outside, it is slept."""
    switch = _Switch(depth)
    retrier = Retrier(RetryConfig(initial_interval=0.5, jitter=0.0), no_wait=switch)
    step = retrier.decide(_Call(), None, ConnectionError("down"))
    assert isinstance(step, Retry)
    assert step.delay == 0.5
    assert step.wait == (0.0 if depth else 0.5)
    assert switch.sinks == ([[0.5]] if depth else [[]])
