"""The loop of one wrapped-node call: what a recorded failure leaves behind."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, create_node
from langgraph_runner._policies.context import RUN_TRACKER_KEY
from langgraph_runner.testing import no_wait

REFS: list[weakref.ref[BaseException]] = []


class Tracked(ConnectionError):
    """A retryable error that lets the test see when it is freed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        REFS.append(weakref.ref(self))


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    """Only reference counting frees objects while the test runs."""
    REFS.clear()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("retry", [None, 2], ids=["no-retry", "one-retry"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_recorded_failure_frees_its_exception_at_once(
    retry: int | None, is_async: bool, no_cycle_collector: None
) -> None:
    """The error of a recorded failure (every attempt's) is freed when the call ends,
    not left in a reference cycle for the garbage collector (which LangGraph's own
    update would not cost)."""
    if is_async:

        async def node(state: Any) -> dict[str, Any]:
            raise Tracked("down")

    else:

        def node(state: Any) -> dict[str, Any]:  # type: ignore[misc]  # the sync twin
            raise Tracked("down")

    g = StateGraph(GraphState)
    wrapped: Any = create_node(node, retry=retry)
    g.add_node("n", wrapped)
    g.add_edge(START, "n")
    g.add_edge("n", END)
    graph = g.compile()
    with no_wait():
        out = await graph.ainvoke({}) if is_async else graph.invoke({})
    assert out["errors"][0]["code"] == "RETRY_EXHAUSTED"
    assert len(REFS) == (retry or 1)
    assert [ref() for ref in REFS] == [None] * len(REFS)


class _Heard:
    """A stand-in for ``runs.run``'s tracker: what the loop tells it of failed attempts."""

    def __init__(self, *, broken: bool = False) -> None:
        self.told: list[tuple[int, dict[str, Any], float | None]] = []
        self.broken = broken

    def attempt_failed(
        self, config: Any, number: int, record: dict[str, Any], wait: float | None
    ) -> None:
        if self.broken:
            raise RuntimeError("the run's bookkeeping is down")
        self.told.append((number, dict(record), wait))


def _erring(*errors: BaseException, is_async: bool) -> Any:
    """A node that raises ``errors`` one call at a time, then succeeds."""
    left = list(errors)

    def body() -> dict[str, Any]:
        if left:
            raise left.pop(0)
        return {}

    if is_async:

        async def anode(state: dict[str, Any]) -> dict[str, Any]:
            return body()

        return anode

    def node(state: dict[str, Any]) -> dict[str, Any]:
        return body()

    return node


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_the_runs_tracker_hears_each_failed_attempt_with_its_own_record(
    is_async: bool,
) -> None:
    """Two failures of their own, then a success: two records, the wait after each; a
    node out of attempts: its last one told as ending the call (no wait)."""
    secret = "sk-live-0123456789abcdefghijklmnop"
    errors = (ConnectionError(f"refused, key {secret}"), TimeoutError("read timed out"))
    heard = _Heard()
    config: Any = {"configurable": {RUN_TRACKER_KEY: heard}}
    flaky = create_node(_erring(*errors, is_async=is_async), retry=3, name="flaky")
    broken = create_node(
        _erring(*errors, is_async=is_async), retry=2, name="broken", on_error="record"
    )
    with no_wait():
        for node in (flaky, broken):
            await node.ainvoke({}, config) if is_async else node.invoke({}, config)
    assert [(n, r["error_type"], w) for n, r, w in heard.told] == [
        (1, "ConnectionError", 0.0),
        (2, "TimeoutError", 0.0),
        (1, "ConnectionError", 0.0),
        (2, "TimeoutError", None),
    ]
    assert [r["category"] for _, r, _ in heard.told] == ["network", "timeout"] * 2
    assert {r["code"] for _, r, _ in heard.told} == {"RETRY_EXHAUSTED"}
    assert "read timed out" in heard.told[1][1]["message"]
    assert all(secret not in str(r) for _, r, _ in heard.told)
    assert "[REDACTED]" in heard.told[0][1]["message"]


def test_a_broken_tracker_never_fails_the_node() -> None:
    """The tracker raises on every attempt it is told of: the node still retries and
    succeeds."""
    config: Any = {"configurable": {RUN_TRACKER_KEY: _Heard(broken=True)}}
    node = create_node(_erring(ConnectionError("down"), is_async=False), retry=2)
    with no_wait():
        assert node.invoke({}, config) == {}
