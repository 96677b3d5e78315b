"""Tests for langgraph_runner._policies.circuit."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from langgraph_runner._policies.circuit import (
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitState,
    get_circuit_breaker,
    reset_circuit_breakers,
)
from langgraph_runner._records.exceptions import CircuitOpenError
from tests.fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    reset_circuit_breakers()
    yield
    reset_circuit_breakers()


def make(clock: FakeClock, **config: Any) -> CircuitBreaker:
    cfg = CircuitBreakerConfig(**{"failure_threshold": 3, "recovery_timeout": 10.0, **config})
    return CircuitBreaker("dep", cfg, clock=clock)


def trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.config.failure_threshold):
        breaker.before_call()
        breaker.on_failure()


def _events(caplog: pytest.LogCaptureFixture) -> list[tuple[int, dict[str, Any]]]:
    return [(r.levelno, r.lgr_fields) for r in caplog.records if hasattr(r, "lgr_fields")]


# ------------------------------------------------------------------ config


def test_config_defaults() -> None:
    """Defaults are 5 failures, 30 s recovery, one half-open probe."""
    cfg = CircuitBreakerConfig()
    assert (cfg.failure_threshold, cfg.recovery_timeout, cfg.half_open_max_calls) == (5, 30.0, 1)


def test_config_accepts_timedelta_as_seconds() -> None:
    """recovery_timeout given as a timedelta is stored as float seconds."""
    cfg = CircuitBreakerConfig(recovery_timeout=timedelta(minutes=1, milliseconds=500))
    assert cfg.recovery_timeout == 60.5
    assert isinstance(cfg.recovery_timeout, float)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("failure_threshold", 0, ValueError),
        ("failure_threshold", True, TypeError),
        ("failure_threshold", 2.5, TypeError),
        ("recovery_timeout", 0, ValueError),
        ("recovery_timeout", -1.0, ValueError),
        ("recovery_timeout", timedelta(0), ValueError),
        ("recovery_timeout", "30", TypeError),
        ("recovery_timeout", True, TypeError),
        ("recovery_timeout", float("inf"), ValueError),
        ("recovery_timeout", float("nan"), ValueError),
        ("half_open_max_calls", 0, ValueError),
        ("half_open_max_calls", "1", TypeError),
    ],
)
def test_config_rejects_invalid_values_naming_field(
    field: str, value: Any, error: type[Exception]
) -> None:
    """A wrong type is a TypeError, a wrong value a ValueError; both name owner and field."""
    with pytest.raises(error, match=f"^CircuitBreakerConfig: {field} "):
        CircuitBreakerConfig(**{field: value})


def test_config_is_frozen_keyword_only_and_closed() -> None:
    """The config is immutable, keyword-only and rejects unknown fields."""
    cfg = CircuitBreakerConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.failure_threshold = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        CircuitBreakerConfig(3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="failure_treshold"):
        CircuitBreakerConfig.model_validate({"failure_treshold": 3})


def test_config_keeps_its_pydantic_era_calls() -> None:
    """model_copy (validated again), model_dump and model_validate still work."""
    cfg = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=timedelta(seconds=4))
    assert cfg.model_dump() == {
        "failure_threshold": 2,
        "recovery_timeout": 4.0,
        "half_open_max_calls": 1,
    }
    assert CircuitBreakerConfig.model_validate(cfg.model_dump()) == cfg
    assert cfg.model_copy(update={"failure_threshold": 9}).failure_threshold == 9
    with pytest.raises(ValueError, match="failure_threshold"):
        cfg.model_copy(update={"failure_threshold": 0})


# ------------------------------------------------------------------ state machine


def test_opens_after_threshold_consecutive_failures(clock: FakeClock) -> None:
    """failure_threshold consecutive failures open the circuit."""
    breaker = make(clock)
    for _ in range(2):
        breaker.before_call()
        breaker.on_failure()
    assert breaker.state is CircuitState.CLOSED
    breaker.before_call()
    breaker.on_failure()
    assert breaker.state is CircuitState.OPEN


def test_node_name_function_is_called_only_on_rejection(clock: FakeClock) -> None:
    """before_call takes a function for the node name and calls it only to build the error."""
    breaker = make(clock)
    asked: list[int] = []

    def name() -> str:
        asked.append(1)
        return "fetch"

    breaker.before_call(name)
    assert asked == []
    for _ in range(3):
        breaker.on_failure()
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call(name)
    assert asked == [1]
    assert info.value.node == "fetch"


def test_success_resets_consecutive_count(clock: FakeClock) -> None:
    """A success in the closed state restarts the failure count."""
    breaker = make(clock)
    for outcome in ("f", "f", "s", "f", "f"):
        breaker.before_call()
        breaker.on_failure() if outcome == "f" else breaker.on_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.snapshot()["consecutive_failures"] == 2


def test_settled_only_while_closed_with_nothing_counted(clock: FakeClock) -> None:
    """settled (what a node's hot path reads) follows every transition and count change."""
    breaker = make(clock, failure_threshold=2)
    seen = [breaker.settled]
    breaker.on_failure()  # closed, 1 failure counted
    seen.append(breaker.settled)
    breaker.on_success()  # count restarts
    seen.append(breaker.settled)
    trip(breaker)  # open
    seen.append(breaker.settled)
    clock.advance(10.0)
    breaker.before_call()  # half-open probe
    seen.append(breaker.settled)
    breaker.on_success()  # closes
    seen.append(breaker.settled)
    trip(breaker)
    breaker.reset()
    seen.append(breaker.settled)
    assert seen == [True, False, True, False, False, True, True]


def test_ignored_outcomes_do_not_count(clock: FakeClock) -> None:
    """on_ignored (non-retryable, abort, cancel) never moves a closed circuit."""
    breaker = make(clock)
    for _ in range(10):
        breaker.before_call()
        breaker.on_ignored()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.snapshot()["consecutive_failures"] == 0


def test_open_rejects_with_retry_after_and_rejection_is_not_failure(clock: FakeClock) -> None:
    """An open circuit fails fast with the remaining time; rejections are not counted."""
    breaker = make(clock)
    trip(breaker)
    clock.advance(4.0)
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call("fetch")
    assert info.value.breaker == "dep"
    assert info.value.node == "fetch"
    assert info.value.retry_after == pytest.approx(6.0)
    assert breaker.snapshot()["consecutive_failures"] == 3


def test_recovery_admits_exactly_one_probe_then_success_closes(clock: FakeClock) -> None:
    """After recovery_timeout one probe passes, others are rejected, its success closes."""
    breaker = make(clock)
    trip(breaker)
    clock.advance(10.0)
    breaker.before_call()
    assert breaker.state is CircuitState.HALF_OPEN
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call()
    assert info.value.retry_after == 0.0
    breaker.on_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.snapshot()["consecutive_failures"] == 0
    breaker.before_call()


def test_failed_probe_reopens_with_fresh_window(clock: FakeClock) -> None:
    """A failed probe re-opens the circuit for a full recovery_timeout."""
    breaker = make(clock)
    trip(breaker)
    clock.advance(15.0)
    breaker.before_call()
    breaker.on_failure()
    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call()
    assert info.value.retry_after == pytest.approx(10.0)
    clock.advance(9.9)
    with pytest.raises(CircuitOpenError):
        breaker.before_call()


def test_ignored_probe_releases_its_slot(clock: FakeClock) -> None:
    """A probe ending in an ignored outcome lets another call probe."""
    breaker = make(clock)
    trip(breaker)
    clock.advance(10.0)
    breaker.before_call()
    breaker.on_ignored()
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.before_call()
    breaker.on_success()
    assert breaker.state is CircuitState.CLOSED


def test_outcome_of_non_probe_does_not_decide_half_open(clock: FakeClock) -> None:
    """A call admitted before the circuit opened cannot close or free a probe slot."""
    breaker = make(clock)
    stale_done = threading.Event()
    result: list[str] = []

    def stale_call() -> None:
        breaker.before_call()  # admitted while closed, finishes later
        stale_done.wait(5)
        breaker.on_ignored()
        breaker.on_success()
        result.append(breaker.state.value)

    thread = threading.Thread(target=stale_call)
    thread.start()
    trip(breaker)
    clock.advance(10.0)
    breaker.before_call()  # the probe, in this thread
    stale_done.set()
    thread.join()
    assert result == ["half_open"]
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # the probe slot is still taken


def test_half_open_admits_exactly_n_probes_under_thread_concurrency(clock: FakeClock) -> None:
    """With half_open_max_calls=3, exactly 3 of 32 racing threads probe."""
    breaker = make(clock, half_open_max_calls=3)
    trip(breaker)
    clock.advance(10.0)
    barrier = threading.Barrier(32)
    admitted: list[int] = []
    rejected: list[int] = []
    release = threading.Event()

    def worker(i: int) -> None:
        barrier.wait()
        try:
            breaker.before_call()
        except CircuitOpenError:
            rejected.append(i)
            return
        admitted.append(i)
        release.wait(5)
        breaker.on_success()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    while len(admitted) + len(rejected) < 32:
        threading.Event().wait(0.001)
    assert len(admitted) == 3
    assert breaker.state is CircuitState.HALF_OPEN
    release.set()
    for t in threads:
        t.join()
    assert breaker.state is CircuitState.CLOSED


def test_half_open_closes_only_after_n_successes(clock: FakeClock) -> None:
    """With several probes, all must succeed to close; one failure re-opens."""
    breaker = make(clock, half_open_max_calls=2)
    trip(breaker)
    clock.advance(10.0)
    breaker.before_call()
    breaker.on_success()
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.before_call()
    breaker.on_failure()
    assert breaker.state is CircuitState.OPEN


async def test_probe_slots_are_tracked_per_task(clock: FakeClock) -> None:
    """Concurrent asyncio tasks: one probe runs, the others are rejected."""
    breaker = make(clock)
    trip(breaker)
    clock.advance(10.0)
    gate = asyncio.Event()

    async def call() -> str:
        try:
            breaker.before_call()
        except CircuitOpenError:
            return "rejected"
        await gate.wait()
        breaker.on_success()
        return "probed"

    tasks = [asyncio.create_task(call()) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    assert sorted(await asyncio.gather(*tasks)) == ["probed"] + ["rejected"] * 4
    assert breaker.state is CircuitState.CLOSED


def test_reset_closes(clock: FakeClock) -> None:
    """reset() closes an open circuit and clears its counts."""
    breaker = make(clock)
    trip(breaker)
    breaker.reset()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.snapshot()["consecutive_failures"] == 0
    breaker.before_call()


# ------------------------------------------------------------------ observability


def test_snapshot_is_json_serializable_in_every_state(clock: FakeClock) -> None:
    """snapshot() dumps to JSON in closed, open and half-open states."""
    breaker = make(clock)
    closed = json.loads(json.dumps(breaker.snapshot()))
    assert closed["state"] == "closed"
    assert closed["retry_after"] is None
    assert closed["config"] == {
        "failure_threshold": 3,
        "recovery_timeout": 10.0,
        "half_open_max_calls": 1,
    }
    trip(breaker)
    clock.advance(2.5)
    opened = json.loads(json.dumps(breaker.snapshot()))
    assert opened["state"] == "open"
    assert opened["retry_after"] == pytest.approx(7.5)
    assert isinstance(opened["opened_at"], float)
    clock.advance(10.0)
    breaker.before_call()
    half = json.loads(json.dumps(breaker.snapshot()))
    assert (half["state"], half["half_open_calls"], half["name"]) == ("half_open", 1, "dep")


def test_transitions_are_logged(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    """circuit.opened (WARNING), circuit.half_open and circuit.closed (INFO) are emitted."""
    caplog.set_level(logging.DEBUG, logger="langgraph_runner")
    breaker = make(clock)
    trip(breaker)
    clock.advance(10.0)
    breaker.before_call()
    breaker.on_success()
    events = [(lvl, e["event"], e["breaker"]) for lvl, e in _events(caplog)]
    assert events == [
        (logging.WARNING, "circuit.opened", "dep"),
        (logging.INFO, "circuit.half_open", "dep"),
        (logging.INFO, "circuit.closed", "dep"),
    ]


def test_listeners_see_transitions_and_errors_are_logged(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Listeners get (old, new); a raising listener is logged; remove() unsubscribes."""
    caplog.set_level(logging.DEBUG, logger="langgraph_runner")
    breaker = make(clock)
    seen: list[tuple[str, str]] = []

    def broken(_old: CircuitState, _new: CircuitState) -> None:
        raise ValueError("metrics down")

    breaker.add_listener(broken)
    remove = breaker.add_listener(lambda old, new: seen.append((old.value, new.value)))
    trip(breaker)
    clock.advance(10.0)
    breaker.before_call()
    breaker.on_failure()
    remove()
    breaker.reset()
    assert seen == [("closed", "open"), ("open", "half_open"), ("half_open", "open")]
    failures = [e for _, e in _events(caplog) if e["event"] == "circuit.listener_failed"]
    assert len(failures) == 4


def test_a_listener_error_is_logged_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """A secret in a failing listener's error text never reaches the log."""
    caplog.set_level(logging.DEBUG, logger="langgraph_runner")
    clock = FakeClock()
    breaker = CircuitBreaker(f"leak-{uuid.uuid4().hex}", CircuitBreakerConfig(), clock=clock)

    def broken(_old: CircuitState, _new: CircuitState) -> None:
        raise ValueError("push failed: api_key=sk-live-abcdef0123456789abcdef")

    breaker.add_listener(broken)
    trip(breaker)
    failures = [e for _, e in _events(caplog) if e["event"] == "circuit.listener_failed"]
    assert failures
    assert all("sk-live-abcdef0123456789abcdef" not in e["error"] for e in failures)


# ------------------------------------------------------------------ registry


def test_registry_shares_one_breaker_per_key() -> None:
    """The same key gives the same breaker; another key gives another."""
    key = f"dep-{uuid.uuid4().hex}"
    a = get_circuit_breaker(key)
    assert get_circuit_breaker(key) is a
    assert get_circuit_breaker(key, CircuitBreakerConfig()) is a
    assert get_circuit_breaker(f"{key}-other") is not a
    assert a.name == key


def test_registry_config_mismatch_names_key() -> None:
    """Asking for an existing key with another explicit config raises ValueError."""
    key = f"dep-{uuid.uuid4().hex}"
    a = get_circuit_breaker(key, CircuitBreakerConfig(failure_threshold=2))
    assert get_circuit_breaker(key) is a
    with pytest.raises(ValueError, match=key):
        get_circuit_breaker(key, CircuitBreakerConfig(failure_threshold=3))


def test_registry_creation_is_thread_safe() -> None:
    """Threads racing to create a key all get the same breaker."""
    key = f"dep-{uuid.uuid4().hex}"
    barrier = threading.Barrier(16)
    got: list[CircuitBreaker] = []

    def worker() -> None:
        barrier.wait()
        got.append(get_circuit_breaker(key))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(b) for b in got}) == 1


def test_reset_circuit_breakers_forgets_state() -> None:
    """After reset_circuit_breakers() a key gets a fresh, closed breaker."""
    key = f"dep-{uuid.uuid4().hex}"
    a = get_circuit_breaker(key, CircuitBreakerConfig(failure_threshold=1))
    a.before_call()
    a.on_failure()
    reset_circuit_breakers()
    b = get_circuit_breaker(key, CircuitBreakerConfig(failure_threshold=5))
    assert b is not a
    assert b.state is CircuitState.CLOSED
