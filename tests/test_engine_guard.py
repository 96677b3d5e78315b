"""guard.py: consecutive failures per run; any success resets; the limit-th raises."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langgraph_runner import ErrorCategory, ErrorCode, FailureLoopError, NodeError
from langgraph_runner._engine.guard import FailureStreaks, check_max_failures


def _record(node: str = "tools", trace_id: str = "") -> NodeError:
    return NodeError(
        trace_id=trace_id,
        node=node,
        code=ErrorCode.RETRY_EXHAUSTED,
        message=f"Node '{node}' failed after 1 attempt(s): ConnectionError: down",
        error_type="ConnectionError",
        category=ErrorCategory.NETWORK,
        recoverable=True,
        attempts=1,
        timestamp="2025-01-01T00:00:00+00:00",
        duration_ms=1.0,
    )


def _config(run: str, ns: str = "tools:task-1", thread: str = "t") -> dict[str, Any]:
    """A task config of run ``run`` (its trace id) in ``thread``."""
    return {"configurable": {"thread_id": thread, "trace_id": run, "checkpoint_ns": ns}}


def _node(streaks: FailureStreaks) -> tuple[Any, Any]:
    """run/arun like the engine's: 'fail' counts a terminal failure, anything else succeeds."""

    def run(outcome: str, config: Any = None) -> str:
        if outcome == "fail":
            streaks.failed(config, _record(trace_id=config["configurable"]["trace_id"]))
        return outcome

    async def arun(outcome: str, config: Any = None) -> str:
        return run(outcome, config)

    return streaks.watch(run, arun, lambda config: "tools")


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=6),
    outcomes=st.lists(st.sampled_from(["fail", "ok"]), max_size=40),
    use_async=st.booleans(),
)
def test_the_run_stops_exactly_at_the_limit_th_failure_in_a_row(
    limit: int, outcomes: list[str], use_async: bool
) -> None:
    """For any outcome sequence, FailureLoopError comes exactly when the streak hits the limit."""
    streaks = FailureStreaks(limit)
    run, arun = _node(streaks)
    streak = 0
    for i, outcome in enumerate(outcomes):
        streak = streak + 1 if outcome == "fail" else 0
        # task ids in the namespace change every step; the count must not
        config = _config("t", ns=f"tools:task-{i}")
        if streak >= limit:
            with pytest.raises(FailureLoopError) as info:
                asyncio.run(arun(outcome, config)) if use_async else run(outcome, config)
            assert (info.value.failures, info.value.limit, info.value.node) == (
                streak,
                limit,
                "tools",
            )
            return
        if use_async:
            assert asyncio.run(arun(outcome, config)) == outcome
        else:
            assert run(outcome, config) == outcome


def test_runs_and_namespaces_count_apart() -> None:
    """Another run (even of the same thread) or a subgraph namespace counts apart."""
    streaks = FailureStreaks(2)
    run, _ = _node(streaks)
    run("fail", _config("run-1"))
    run("fail", _config("run-2"))  # the next turn of the same thread: a new run
    run("fail", _config("run-3", thread="other"))
    run("fail", _config("run-1", ns="child:task-9|tools:task-1"))
    with pytest.raises(FailureLoopError):
        run("fail", _config("run-1", ns="tools:task-2"))


def test_the_limit_is_validated() -> None:
    """max_consecutive_failures must be an int >= 1 or None."""
    assert check_max_failures(None) is None
    assert check_max_failures(1) == 1
    with pytest.raises(ValueError, match="max_consecutive_failures"):
        check_max_failures(0)
    with pytest.raises(TypeError, match="max_consecutive_failures"):
        check_max_failures(True)
    with pytest.raises(TypeError, match="max_consecutive_failures"):
        check_max_failures(2.0)
