"""run_scope's loop guard: failures in a row per run; any success resets; the limit-th raises."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langgraph_runner import ErrorCategory, ErrorCode, FailureLoopError, NodeError
from langgraph_runner._internal.compat import CONFIG_KEY_READ
from langgraph_runner._policies.run_scope import (
    FailureStreaks,
    RunScope,
    check_max_failures,
    streak_key,
)


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


def _config(ns: str = "tools:task-1", read: Any = None) -> dict[str, Any]:
    """A task config in checkpoint namespace ``ns`` (with a channel reader, if given)."""
    conf: dict[str, Any] = {"thread_id": "t", "checkpoint_ns": ns}
    if read is not None:
        conf[CONFIG_KEY_READ] = read
    return {"configurable": conf}


class _Node:
    """Calls of one node as the engine tells the guard: 'fail' counts, anything else succeeds.

    Each run's trace id is generated (as for a graph invoked without ids): its counts
    live in its RunScope.
    """

    def __init__(self, streaks: FailureStreaks) -> None:
        self.streaks = streaks
        self.scopes: dict[str, RunScope] = {}

    def call(self, outcome: str, run: str, ns: str = "tools:task-1") -> str:
        config = _config(ns)
        key = streak_key(config, "tools", run)
        scope = self.scopes.setdefault(run, RunScope(object(), run, {}))
        since = self.streaks.seq  # read when the call starts
        if outcome == "fail":
            self.streaks.failed(config, key, scope=scope, record=lambda: _record(trace_id=run))
        elif self.streaks.counting:
            self.streaks.succeeded(key, since, scope)
        return outcome


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=6),
    outcomes=st.lists(st.sampled_from(["fail", "ok"]), max_size=40),
)
def test_the_run_stops_exactly_at_the_limit_th_failure_in_a_row(
    limit: int, outcomes: list[str]
) -> None:
    """For any outcome sequence, FailureLoopError comes exactly when the streak hits the limit."""
    node = _Node(FailureStreaks(limit))
    streak = 0
    for i, outcome in enumerate(outcomes):
        streak = streak + 1 if outcome == "fail" else 0
        # task ids in the namespace change every step; the count must not
        if streak >= limit:
            with pytest.raises(FailureLoopError) as info:
                node.call(outcome, "run", ns=f"tools:task-{i}")
            assert (info.value.failures, info.value.limit, info.value.node) == (
                streak,
                limit,
                "tools",
            )
            assert info.value.record.trace_id == "run"
            return
        assert node.call(outcome, "run", ns=f"tools:task-{i}") == outcome


def test_runs_and_namespaces_count_apart() -> None:
    """Another run (even of the same thread) or a subgraph namespace counts apart."""
    node = _Node(FailureStreaks(2))
    node.call("fail", "run-1")
    node.call("fail", "run-2")  # the next turn of the same thread: a new run
    node.call("fail", "run-1", ns="child:task-9|tools:task-1")
    with pytest.raises(FailureLoopError):
        node.call("fail", "run-1", ns="tools:task-2")


def test_a_success_that_overlapped_a_failure_does_not_reset_it() -> None:
    """A parallel task's success that started before a failure of the same key keeps its count."""
    streaks = FailureStreaks(2)
    config = _config()
    key = streak_key(config, "tools", "run")
    scope = RunScope(object(), "run", {})
    since = streaks.seq  # the succeeding task starts ...
    streaks.failed(config, key, scope=scope, record=_record)  # ... another one fails meanwhile
    streaks.succeeded(key, since, scope)  # ... then the first one returns
    assert streaks.count(key, scope) == 1
    streaks.succeeded(key, streaks.seq, scope)  # a success that started after the failure resets
    assert streaks.count(key, scope) == 0


def test_a_generated_runs_counts_live_and_go_with_its_scope() -> None:
    """A run whose trace id was generated here keeps its counts in its RunScope, nowhere else."""
    streaks = FailureStreaks(3)
    config = _config()
    key = streak_key(config, "tools", "run")
    scope = RunScope(object(), "run", {})
    streaks.failed(config, key, scope=scope, record=_record)
    streaks.failed(config, key, scope=scope, record=_record)
    assert streaks.count(key, scope) == 2
    assert streaks.count(key) == 0 and not streaks.counts  # nothing kept by key
    assert streaks.count(key, RunScope(object(), "run", {})) == 0  # another invocation: a new scope


def test_the_last_4096_named_runs_keep_their_counts() -> None:
    """Named runs are forgotten oldest first, in batches, never one of the last 4096."""
    streaks = FailureStreaks(3)
    config = _config()
    keys = [streak_key(config, "tools", f"run-{i}") for i in range(2 * 4096 + 10)]
    for key in keys:
        streaks.failed(config, key, scope=None, record=_record)
    assert all(streaks.count(key) == 1 for key in keys[-4096:])
    assert streaks.count(keys[0]) == 0
    assert len(streaks.counts) <= 2 * 4096


def test_the_streak_key_drops_task_ids_from_the_namespace() -> None:
    """(run, namespace path without task ids, node): every step's task id is another id."""
    assert streak_key(_config("tools:abc"), "tools", "r") == ("r", "tools", "tools")
    assert streak_key(_config("a:1|b:2|tools:3"), "tools", "r") == ("r", "a|b|tools", "tools")
    assert streak_key(_config(""), "tools", "r") == ("r", "", "tools")
    assert streak_key(None, "tools", "r") == ("r", "", "tools")


def test_a_named_run_new_to_this_process_counts_its_checkpointed_records() -> None:
    """With nothing in memory, a named run's trailing records of this node and run count."""
    mine = _record(trace_id="run").to_state()
    other_run = _record(trace_id="earlier").to_state()
    other_node = _record(node="model", trace_id="run").to_state()
    records = [mine, other_node, other_run, mine, mine]

    def read(channel: str) -> Any:
        assert channel == "errors"
        return records

    config = _config(read=read)
    key = streak_key(config, "tools", "run")
    streaks = FailureStreaks(3)
    with pytest.raises(FailureLoopError) as info:  # 2 checkpointed + this one
        streaks.failed(config, key, scope=None, record=_record)
    assert info.value.failures == 3
    unnamed = FailureStreaks(3)  # a generated run id is new: nothing is read
    scope = RunScope(object(), "run", {})
    unnamed.failed(config, key, scope=scope, record=_record)
    assert unnamed.count(key, scope) == 1


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


_PLANTED = "postgresql://app:Hunter2-planted-pw@db.internal/app"


def _looping_graph(is_async: bool) -> Any:
    """A graph whose one node fails with a secret in its message; the guard stops it at once."""
    from langgraph.graph import END, START, StateGraph

    from langgraph_runner import GraphState, create_node

    def leaky(state: GraphState) -> dict[str, Any]:
        raise ConnectionError(f"cannot reach {_PLANTED}")

    async def aleaky(state: GraphState) -> dict[str, Any]:
        raise ConnectionError(f"cannot reach {_PLANTED}")

    graph = StateGraph(GraphState)
    graph.add_node("db", create_node(aleaky if is_async else leaky, max_consecutive_failures=1))
    graph.add_edge(START, "db")
    graph.add_edge("db", END)
    return graph.compile()


@pytest.mark.parametrize("how", ["invoke", "ainvoke", "stream"])
def test_the_traceback_leaving_the_graph_does_not_chain_the_unredacted_failure(how: str) -> None:
    """FailureLoopError (record mode) carries no context: its traceback shows no secret."""
    import asyncio
    import traceback

    app = _looping_graph(is_async=how == "ainvoke")
    calls = {
        "invoke": lambda: app.invoke({}),
        "ainvoke": lambda: asyncio.run(app.ainvoke({})),
        "stream": lambda: list(app.stream({})),
    }
    with pytest.raises(FailureLoopError) as info:
        calls[how]()
    text = "".join(traceback.format_exception(info.value))
    assert "Hunter2" not in text
    assert "[REDACTED]" in text  # the last failure's redacted message is still shown
    assert info.value.__context__ is None and info.value.__cause__ is None
