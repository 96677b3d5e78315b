"""langgraph_runner.testing.no_wait(): re-entrant, process-wide, and really skipping retry waits."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, RetryAttempt, RetryConfig, create_node
from langgraph_runner._engine.waits import waits_disabled
from langgraph_runner.testing import no_wait


def test_waits_disabled_reflects_the_block() -> None:
    """waits_disabled() is True inside no_wait() and False again after it."""
    assert not waits_disabled()
    with no_wait():
        assert waits_disabled()
    assert not waits_disabled()


def test_no_wait_is_reentrant() -> None:
    """Nested blocks keep waits disabled until the outermost one ends."""
    with no_wait():
        with no_wait():
            assert waits_disabled()
        assert waits_disabled()
        with no_wait(), no_wait():
            assert waits_disabled()
        assert waits_disabled()
    assert not waits_disabled()


def test_no_wait_is_restored_after_an_exception() -> None:
    """An exception inside the block still ends it."""
    with pytest.raises(RuntimeError), no_wait():
        raise RuntimeError("test failed inside the block")
    assert not waits_disabled()


def test_no_wait_is_process_wide() -> None:
    """Another thread (not started from the block's context) sees waits disabled too."""
    seen: list[bool] = []
    inside, checked = threading.Event(), threading.Event()

    def watcher() -> None:
        inside.wait(5)
        seen.append(waits_disabled())
        checked.set()

    thread = threading.Thread(target=watcher)
    thread.start()
    with no_wait():
        inside.set()
        assert checked.wait(5)
    thread.join(5)
    assert seen == [True]


def test_overlapping_blocks_in_threads() -> None:
    """Blocks opened and closed concurrently in many threads leave waits enabled at the end."""
    barrier = threading.Barrier(8)
    states: list[bool] = []

    def worker() -> None:
        barrier.wait(5)
        for _ in range(200):
            with no_wait():
                states.append(waits_disabled())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(states) == 1600
    assert all(states)
    assert not waits_disabled()


def test_no_wait_works_as_a_decorator() -> None:
    """no_wait() also decorates a (sync) function."""

    @no_wait()
    def check() -> bool:
        return waits_disabled()

    assert check() is True
    assert not waits_disabled()


# ---------------------------------------------------------------- it really skips the waits


class S(GraphState, total=False):
    x: int


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record every time.sleep/asyncio.sleep request instead of sleeping for it."""
    requested: list[float] = []
    real_async_sleep = asyncio.sleep

    def fake_sleep(seconds: float) -> None:
        requested.append(seconds)

    async def fake_async_sleep(seconds: float, result: Any = None) -> Any:
        requested.append(seconds)
        return await real_async_sleep(0, result)

    monkeypatch.setattr(time, "sleep", fake_sleep)
    monkeypatch.setattr(asyncio, "sleep", fake_async_sleep)
    return requested


def _flaky_graph(
    kind: str, calls: list[int], delays: list[float], initial: float = 40.0, ceiling: float = 60.0
) -> Any:
    def record(attempt: RetryAttempt) -> None:
        delays.append(attempt.next_delay)

    if kind == "async":

        async def flaky(state: S) -> S:
            calls.append(1)
            if len(calls) < 3:
                raise ConnectionError("transient")
            return {"x": len(calls)}

        node: Any = flaky
    else:

        def flaky_sync(state: S) -> S:
            calls.append(1)
            if len(calls) < 3:
                raise ConnectionError("transient")
            return {"x": len(calls)}

        node = flaky_sync
    retry = RetryConfig(
        max_attempts=3,
        initial_interval=initial,
        max_interval=ceiling,
        jitter=0.0,
        backoff_factor=1.5,
    )
    builder = StateGraph(S)
    builder.add_node("flaky", create_node(node, retry=retry, on_retry_attempt=record))
    builder.add_edge(START, "flaky")
    builder.add_edge("flaky", END)
    return builder.compile()


MODES = [("sync", "invoke"), ("sync", "ainvoke"), ("async", "ainvoke")]


async def _run(graph: Any, call: str) -> Any:
    if call == "invoke":
        return graph.invoke({})
    return await graph.ainvoke({})


@pytest.mark.parametrize(("kind", "call"), MODES)
async def test_no_wait_skips_retry_waits_everywhere(
    kind: str, call: str, sleeps: list[float]
) -> None:
    """Under no_wait(), sync, worker-thread and async retries do not wait; delays still reported."""
    calls: list[int] = []
    delays: list[float] = []
    with no_wait() as skipped:
        out = await _run(_flaky_graph(kind, calls, delays), call)
    assert out["x"] == 3
    assert delays == [40.0, 60.0]
    assert skipped == [40.0, 60.0]
    assert not [s for s in sleeps if s >= 1]


def test_nested_no_wait_blocks_each_collect_the_skipped_delays() -> None:
    """Every open no_wait() block collects the delays skipped while it is open."""
    from langgraph_runner import RetryConfig, create_node

    def node_waiting(seconds: float) -> Any:
        failed: list[int] = []

        def flaky(state: dict[str, Any]) -> dict[str, Any]:
            if not failed:
                failed.append(1)
                raise ConnectionError("once")
            return state

        retry = RetryConfig(max_attempts=2, initial_interval=seconds, jitter=0.0)
        return create_node(flaky, retry=retry, on_error="raise")

    with no_wait() as outer:
        node_waiting(1.5).invoke({})
        with no_wait() as inner:
            node_waiting(2.5).invoke({})
        node_waiting(3.5).invoke({})
    assert outer == [1.5, 2.5, 3.5]
    assert inner == [2.5]


@pytest.mark.parametrize(("kind", "call"), MODES)
async def test_without_no_wait_the_waits_really_happen(kind: str, call: str) -> None:
    """Control: outside no_wait() the same retries really wait (tiny delays here)."""
    import time as _time

    calls: list[int] = []
    delays: list[float] = []
    graph = _flaky_graph(kind, calls, delays, initial=0.02, ceiling=0.03)
    t0 = _time.perf_counter()
    out = await _run(graph, call)
    assert out["x"] == 3
    assert delays == [0.02, 0.03]
    assert _time.perf_counter() - t0 >= 0.045
