"""After a failed attempt: retry or give up, and the warning when LangGraph retries too."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.graph import START, StateGraph
from langgraph.types import RetryPolicy
from typing_extensions import TypedDict

from langgraph_runner import RetryConfig, create_node
from langgraph_runner.testing import no_wait


class S(TypedDict, total=False):
    x: int


def test_native_retry_policy_on_a_retrying_node_warns_once_and_multiplies() -> None:
    """retry=2 under RetryPolicy(max_attempts=3) runs 6 times, with one RuntimeWarning."""
    calls: list[int] = []

    def always(state: S) -> dict[str, Any]:
        calls.append(1)
        raise ConnectionError("down")

    node = create_node(always, retry=RetryConfig(max_attempts=2), on_error="raise")
    g = StateGraph(S)
    g.add_node("n", node, retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.0))
    g.add_edge(START, "n")
    compiled = g.compile()
    with (
        no_wait(),
        pytest.warns(RuntimeWarning, match=r"'n'.*multiplies") as caught,
        pytest.raises(ConnectionError),
    ):
        compiled.invoke({})
    assert len(calls) == 6
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1


def test_no_warning_without_a_native_retry_policy(recwarn: pytest.WarningsRecorder) -> None:
    """Our own retries alone never warn."""

    def always(state: S) -> dict[str, Any]:
        raise ConnectionError("down")

    g = StateGraph(S)
    g.add_node("n", create_node(always, retry=RetryConfig(max_attempts=3), on_error="raise"))
    g.add_edge(START, "n")
    with no_wait(), pytest.raises(ConnectionError):
        g.compile().invoke({})
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
