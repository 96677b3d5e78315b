"""Tests for _policies.circuit_redis, against the real Redis of tests/services.py."""

from __future__ import annotations

import logging
import multiprocessing
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from langgraph_runner import CircuitBreakerConfig, GraphState, create_node
from langgraph_runner._policies import circuit_redis
from langgraph_runner._policies.circuit import (
    CircuitState,
    get_circuit_breaker,
    reset_circuit_breakers,
)
from langgraph_runner._policies.circuit_redis import RedisBreakerStore, SharedCircuitBreaker
from langgraph_runner._records.exceptions import CircuitOpenError
from langgraph_runner.testing import no_wait
from tests import services
from tests.fakes import FakeClock

K = 4  # worker processes
THRESHOLD = 8
# In one process an opened breaker stays open through every check (a starved test may take
# seconds between two calls); a test that needs it half-open lets the time pass with elapse().
RECOVERY = 30.0
PROBE_RECOVERY = 0.3  # the lease test's probe is taken in another process: it really waits
SLOW_RECOVERY = 1.0  # across processes: a worker stalled this long is not let in as a probe
# Workers start from a fork server that imported this module once: K fresh interpreters
# would each spend seconds importing LangGraph.
LEASE = 3.0  # the probe lease when its holder is killed
# On a loaded machine a Redis call can outlast the 0.25 s default, and the breaker then falls
# back to its local state (by design): across processes every worker would probe, and in one
# process the breakers would stop sharing their state. Tests not about an outage use this.
STORE_TIMEOUT = 5.0
SPAWN = multiprocessing.get_context("forkserver")
SPAWN.set_forkserver_preload([__name__])


@pytest.fixture
def url() -> str:
    return services.redis_url()


@pytest.fixture
def prefix(url: str) -> Iterator[str]:
    """A unique key prefix; every key under it is deleted afterwards."""
    with services.redis_prefix(url, "breaker") as prefix:
        yield prefix


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    reset_circuit_breakers()
    yield
    reset_circuit_breakers()


def config(**overrides: Any) -> CircuitBreakerConfig:
    return CircuitBreakerConfig(
        **{"failure_threshold": THRESHOLD, "recovery_timeout": RECOVERY, **overrides}
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The shared breakers' local clock, which times how long they trust what Redis said."""
    fake = FakeClock()
    monkeypatch.setattr(circuit_redis, "_monotonic", fake)
    return fake


def elapse(store: RedisBreakerStore, key: str, clock: FakeClock, seconds: float) -> None:
    """Let ``seconds`` pass for breaker ``key`` without waiting for them.

    Redis times the open period with its own clock, from the hash's ``o`` field (when it
    opened, server ms): that moves back by ``seconds``. The local clock moves on as much.
    """
    base = store.keys(key)[0]
    opened = store.client.hget(base, "o")
    assert opened is not None, "the breaker never opened"
    store.client.hset(base, "o", int(opened) - round(seconds * 1000))
    clock.advance(seconds)


def trip(breaker: SharedCircuitBreaker) -> None:
    for _ in range(breaker.config.failure_threshold):
        breaker.before_call()
        breaker.on_failure()


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    fields = (getattr(r, "lgr_fields", {}) for r in caplog.records)
    return [f for f in fields if f.get("event") == name]


# ---------------------------------------------------------------- worker processes


def _hammer(url: str, prefix: str, barrier: Any, results: Any) -> None:
    """One worker: fail until the breaker rejects; then take part in one probe round."""
    store = RedisBreakerStore(url, prefix=prefix, timeout=STORE_TIMEOUT)
    breaker = get_circuit_breaker("dep", config(recovery_timeout=SLOW_RECOVERY), store=store)
    barrier.wait()
    admitted = 0
    while True:
        try:
            breaker.before_call()
        except CircuitOpenError:
            break
        admitted += 1
        breaker.on_failure()
    barrier.wait()  # every worker saw it open
    time.sleep(SLOW_RECOVERY + 0.1)
    barrier.wait()
    try:
        breaker.before_call()
        probe = True
    except CircuitOpenError:
        probe = False
    barrier.wait()  # every worker asked while the probe is in flight
    if probe:
        breaker.on_success()
    barrier.wait()  # the probe succeeded
    breaker.before_call()  # closed for everyone: raises otherwise
    breaker.on_success()
    results.put((admitted, probe, breaker.state.value))


def _take_probe_and_hang(url: str, prefix: str, taken: Any) -> None:
    """Take the half-open probe, say so, and never report its outcome."""
    store = RedisBreakerStore(url, prefix=prefix, probe_lease=LEASE, timeout=STORE_TIMEOUT)
    asked_at = time.monotonic()  # system-wide on Linux: the parent can compare it
    store.breaker("dep", config(recovery_timeout=PROBE_RECOVERY)).before_call()
    taken.put(asked_at)
    time.sleep(60)


# ---------------------------------------------------------------- across processes


def test_processes_share_one_failure_window_and_one_probe(url: str, prefix: str) -> None:
    """K processes open the breaker together after THRESHOLD failures in all, then one probes."""
    barrier = SPAWN.Barrier(K)
    results = SPAWN.Queue()
    workers = [
        SPAWN.Process(target=_hammer, args=(url, prefix, barrier, results)) for _ in range(K)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
        assert worker.exitcode == 0
    admitted = sum(n for n, _, _ in outcomes)
    # THRESHOLD failures open it; each other worker may finish the one call it had in flight.
    # Breakers per process would have admitted K * THRESHOLD.
    assert THRESHOLD <= admitted <= THRESHOLD + K - 1
    assert sum(probe for _, probe, _ in outcomes) == 1
    assert {state for _, _, state in outcomes} == {"closed"}


def test_lease_expires_when_the_probe_holder_dies(url: str, prefix: str) -> None:
    """A probe whose process is killed blocks others only until its lease expires."""
    store = RedisBreakerStore(url, prefix=prefix, probe_lease=LEASE, timeout=STORE_TIMEOUT)
    breaker = store.breaker("dep", config(recovery_timeout=PROBE_RECOVERY))
    trip(breaker)
    time.sleep(PROBE_RECOVERY + 0.05)
    taken = SPAWN.Queue()
    holder = SPAWN.Process(target=_take_probe_and_hang, args=(url, prefix, taken))
    holder.start()
    try:
        asked_at = taken.get(timeout=60)  # the lease was taken no earlier than this
    finally:
        holder.kill()
        holder.join(timeout=10)
    # The dead holder's lease still stands while it lasts: a call is refused, or admitted only
    # once the lease (taken no earlier than asked_at) has surely run out. On a starved machine
    # the hand-over, the kill and the call itself can outlast it: the expiry is checked below.
    refused: CircuitOpenError | None = None
    try:
        breaker.before_call()
    except CircuitOpenError as exc:
        refused = exc
    if refused is not None:
        assert refused.retry_after == 0.0
        assert breaker.snapshot()["half_open_calls"] == 1
    else:
        admitted_after = time.monotonic() - asked_at
        assert admitted_after >= LEASE, f"admitted {admitted_after:.2f} s into a {LEASE} s lease"
        breaker.on_success()
        assert breaker.state is CircuitState.CLOSED
        return
    deadline = time.monotonic() + 10
    while True:
        try:
            breaker.before_call()
            break
        except CircuitOpenError:
            assert time.monotonic() < deadline, "the lease never expired"
            time.sleep(0.05)
    breaker.on_success()
    assert breaker.state is CircuitState.CLOSED


# ---------------------------------------------------------------- in one process


def test_breakers_share_the_count_and_open_for_everyone(url: str, prefix: str) -> None:
    """Two breakers of one key (two workers) count failures together; both see it open."""
    store = RedisBreakerStore(url, prefix=prefix, cache_ttl=0, timeout=STORE_TIMEOUT)
    one, two = (store.breaker("dep", config(failure_threshold=2)) for _ in range(2))
    one.before_call()
    one.on_failure()
    assert two.snapshot()["consecutive_failures"] == 1
    two.before_call()
    two.on_failure()
    with pytest.raises(CircuitOpenError) as rejected:
        one.before_call()
    assert 0 < rejected.value.retry_after <= RECOVERY
    assert one.state is two.state is CircuitState.OPEN
    snap = two.snapshot()
    assert snap["store"] == "redis"
    assert snap["opened_at"] == pytest.approx(time.time(), abs=5)


def test_success_resets_the_shared_count(url: str, prefix: str) -> None:
    """A success told to Redis resets the consecutive count for every worker."""
    store = RedisBreakerStore(url, prefix=prefix, cache_ttl=0, timeout=STORE_TIMEOUT)
    one, two = store.breaker("dep", config()), store.breaker("dep", config())
    one.before_call()
    one.on_failure()
    assert not two.settled
    two.before_call()
    two.on_success()
    assert one.snapshot()["consecutive_failures"] == 0


def test_probe_failure_reopens_and_ignored_probe_gives_the_lease_back(
    url: str, prefix: str, clock: FakeClock
) -> None:
    """A failed probe re-opens for a fresh recovery; an ignored probe lets another one in."""
    store = RedisBreakerStore(url, prefix=prefix, timeout=STORE_TIMEOUT)
    one, two = store.breaker("dep", config()), store.breaker("dep", config())
    trip(one)
    elapse(store, "dep", clock, RECOVERY)
    one.before_call()
    with pytest.raises(CircuitOpenError):
        two.before_call()
    one.on_ignored()
    two.before_call()  # the lease came back
    two.on_failure()
    assert one.state is CircuitState.OPEN
    assert one.snapshot()["consecutive_failures"] == THRESHOLD + 1


def test_cached_closed_state_skips_redis_and_state_changes_reach_it(
    url: str, prefix: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Settled after one closed answer; transitions this process causes are logged."""
    caplog.set_level(logging.INFO, logger="langgraph_runner")
    store = RedisBreakerStore(url, prefix=prefix, cache_ttl=5, timeout=STORE_TIMEOUT)
    breaker = store.breaker("dep", config(failure_threshold=1))
    seen: list[tuple[str, str]] = []
    breaker.add_listener(lambda old, new: seen.append((old.value, new.value)))
    assert not breaker.settled  # nothing read from Redis yet
    breaker.before_call()
    assert breaker.settled
    breaker.on_failure()
    assert not breaker.settled
    elapse(store, "dep", clock, RECOVERY)
    breaker.before_call()
    breaker.on_success()
    assert seen == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert [e["event"] for e in events(caplog, "circuit.opened")] == ["circuit.opened"]


def test_get_circuit_breaker_keeps_the_shared_breaker_per_key(url: str, prefix: str) -> None:
    """store= makes the keyed breaker shared; the key alone then finds it; mixing is refused."""
    store = RedisBreakerStore(url, prefix=prefix, timeout=STORE_TIMEOUT)
    breaker = get_circuit_breaker("dep", config(), store=store)
    assert isinstance(breaker, SharedCircuitBreaker)
    assert get_circuit_breaker("dep") is breaker
    assert get_circuit_breaker("dep", store=store) is breaker
    get_circuit_breaker("local")
    with pytest.raises(ValueError, match="without this store"):
        get_circuit_breaker("local", store=store)
    with pytest.raises(ValueError, match="without this store"):
        get_circuit_breaker("dep", store=RedisBreakerStore(url, prefix=prefix))


def test_reset_closes_it_for_everyone(url: str, prefix: str) -> None:
    """reset() deletes the shared state."""
    store = RedisBreakerStore(url, prefix=prefix, cache_ttl=0, timeout=STORE_TIMEOUT)
    one, two = store.breaker("dep", config()), store.breaker("dep", config())
    trip(one)
    two.reset()
    one.before_call()
    assert one.state is CircuitState.CLOSED


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"cache_ttl": -1}, ValueError, "cache_ttl"),
        ({"probe_lease": 0}, ValueError, "probe_lease"),
        ({"reconnect_interval": float("inf")}, ValueError, "reconnect_interval"),
        ({"timeout": "1"}, TypeError, "timeout"),
        ({"prefix": ""}, ValueError, "prefix"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, Any], error: type, match: str) -> None:
    """Options are checked in the constructor, naming the option."""
    with pytest.raises(error, match=match):
        RedisBreakerStore("redis://127.0.0.1:6379/0", **kwargs)


def test_bad_client_is_refused() -> None:
    """A client must be a sync redis.Redis or a URL."""
    with pytest.raises(TypeError, match=r"redis\.Redis"):
        RedisBreakerStore(object())  # type: ignore[arg-type]


# ---------------------------------------------------------------- through a graph


def _graph(breaker: SharedCircuitBreaker, calls: list[str], fail: bool, retry: int = 1) -> Any:
    from langgraph.graph import END, START, StateGraph

    def call_dependency(state: GraphState) -> dict[str, Any]:
        calls.append("called")
        if fail:
            raise ConnectionError("dependency down")
        return {}

    g = StateGraph(GraphState)
    g.add_node("call", create_node(call_dependency, retry=retry, circuit_breaker=breaker))
    g.add_edge(START, "call")
    g.add_edge("call", END)
    return g.compile()


def _codes(graph: Any) -> list[str]:
    """The error codes one run of ``graph`` recorded."""
    return [record["code"] for record in (graph.invoke({}) or {}).get("errors", [])]


def test_graph_nodes_in_two_workers_trip_together(url: str, prefix: str, clock: FakeClock) -> None:
    """One worker's failing node opens the breaker for another worker's node."""
    store = RedisBreakerStore(url, prefix=prefix, timeout=STORE_TIMEOUT)
    failing_calls: list[str] = []
    other_calls: list[str] = []
    failing = _graph(store.breaker("dep", config(failure_threshold=3)), failing_calls, True, 3)
    other = _graph(store.breaker("dep", config(failure_threshold=3)), other_calls, False)
    with no_wait():
        assert _codes(failing) == ["RETRY_EXHAUSTED"]  # three attempts: the third opens it
        assert _codes(other) == ["CIRCUIT_OPEN"]
    assert other_calls == []
    elapse(store, "dep", clock, RECOVERY)
    assert _codes(other) == []  # the probe succeeds and closes it
    assert other_calls == ["called"]
    assert store.breaker("dep", config()).state is CircuitState.CLOSED


def test_unreachable_redis_falls_back_to_local_state(caplog: pytest.LogCaptureFixture) -> None:
    """Redis down: nodes still run on a local breaker, and the outage is logged once."""
    caplog.set_level(logging.INFO, logger="langgraph_runner")
    store = RedisBreakerStore("redis://127.0.0.1:1/0", reconnect_interval=60)
    calls: list[str] = []
    graph = _graph(store.breaker("dep", config(failure_threshold=2)), calls, False)
    for _ in range(3):
        assert _codes(graph) == []
    assert calls == ["called"] * 3
    assert store.unreachable
    failing = _graph(store.breaker("other", config(failure_threshold=2)), [], True)
    with no_wait():
        codes = [code for _ in range(3) for code in _codes(failing)]
    assert codes == [
        "RETRY_EXHAUSTED",
        "RETRY_EXHAUSTED",
        "CIRCUIT_OPEN",
    ]  # the local breaker opened
    assert store.breaker("other", config()).snapshot()["store"] == "local"
    warnings = events(caplog, "circuit.store_unreachable")
    assert len(warnings) == 1
    assert warnings[0]["error_type"] == "ConnectionError"


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        dst.close()


def _forward(listener: socket.socket, url: str) -> None:
    """Accept connections and relay each to the Redis at ``url``, until the listener closes."""
    parts = urlsplit(url)
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        server = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379))
        for a, b in ((client, server), (server, client)):
            threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def test_outage_is_logged_once_and_its_end_once(
    url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis unreachable, then back: one warning, local counts meanwhile, one info, Redis again."""
    caplog.set_level(logging.INFO, logger="langgraph_runner")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
    port = listener.getsockname()[1]
    try:
        store = RedisBreakerStore(
            f"redis://127.0.0.1:{port}/0",
            prefix=prefix,
            reconnect_interval=0.05,
            timeout=STORE_TIMEOUT,  # refused at once; once relayed, a slow reply is no outage
        )
        breaker = store.breaker("dep", config())
        for _ in range(3):  # each failure comes after a reconnect try is due
            time.sleep(0.06)
            breaker.before_call()
            breaker.on_failure()
        assert store.unreachable
        assert breaker.snapshot()["store"] == "local"
        assert breaker.snapshot()["consecutive_failures"] == 3
        listener.listen()
        threading.Thread(target=_forward, args=(listener, url), daemon=True).start()
        time.sleep(0.06)
        breaker.before_call()
        breaker.on_success()
        assert not store.unreachable
        snap = breaker.snapshot()
        assert (snap["store"], snap["consecutive_failures"]) == ("redis", 0)
    finally:
        listener.close()
    assert len(events(caplog, "circuit.store_unreachable")) == 1
    assert len(events(caplog, "circuit.store_recovered")) == 1
