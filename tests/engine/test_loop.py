"""The loop of one wrapped-node call: what a recorded failure leaves behind."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, create_node
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
