"""The activity body of a node (``_engine/activity``), run in Temporal's test activity environment.

No server: ``temporalio.testing.ActivityEnvironment`` gives the body an activity context
whose heartbeat details are those a previous activity attempt left. What users rely
on: the node's attempts are counted across activity attempts, so an activity attempt
that a lost worker ended (it left the count as it was) runs the same node attempt
again, and ``max_attempts`` attempts are made in all, in both ``retries=`` modes.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime, timezone
from typing import Any

import pytest

from langgraph_runner import GraphState, RetryConfig, create_node

try:
    import temporalio.langgraph  # noqa: F401
except ImportError as missing:  # the 'temporal' extra: skip locally, fail under CI=true
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip(f"the 'temporal' extra is not installed ({missing})", allow_module_level=True)

from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from langgraph_runner._engine.activity import activity_body, foreign_body, spec_of
from langgraph_runner.testing import no_wait

KEY = "langgraph_runner_failed_attempts"
RETRY = RetryConfig(max_attempts=3, initial_interval=0.01)


class State(GraphState):
    x: int


def _env(failed: int | None) -> tuple[ActivityEnvironment, list[Any]]:
    """An activity attempt whose earlier attempts counted ``failed`` node failures."""
    env = ActivityEnvironment()
    details = [] if failed is None else [{KEY: failed}]
    env.info = dataclasses.replace(
        env.info,
        heartbeat_details=details,
        scheduled_time=datetime.now(timezone.utc),
        workflow_run_id="run-1",
    )
    beats: list[Any] = []
    env.on_heartbeat = lambda *d: beats.append(d)
    return env, beats


def _body(fn: Any, *, temporal: bool, **options: Any) -> Any:
    node = create_node(fn, **options)
    spec = spec_of(node)
    assert spec is not None
    return activity_body("middle", node, spec, temporal_retries=temporal)


async def _call(env: ActivityEnvironment, body: Any) -> Any:
    config = {"metadata": {"langgraph_node": "middle"}}
    return await env.run(body, {"x": 1, "errors": []}, config)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_retry_handed_to_temporal_counts_the_failed_attempt(is_async: bool) -> None:
    """Attempt 1 fails: the tally (1) is a heartbeat before the retryable failure."""
    calls: list[int] = []

    def failing(state: State) -> dict[str, Any]:
        calls.append(1)
        raise ConnectionError("down")

    async def afailing(state: State) -> dict[str, Any]:
        return failing(state)

    env, beats = _env(None)
    body = _body(afailing if is_async else failing, temporal=True, retry=RETRY)
    with no_wait(), pytest.raises(ApplicationError) as handed:
        await _call(env, body)
    assert not handed.value.non_retryable and handed.value.type == "ConnectionError"
    assert beats == [({KEY: 1},)] and calls == [1]


async def test_an_attempt_a_lost_worker_ended_runs_again_with_its_number() -> None:
    """Temporal's third activity attempt after one failure and one lost worker: node attempt 2."""
    seen: list[int] = []

    def failing(state: State) -> dict[str, Any]:
        from langgraph_runner import get_node_context

        ctx = get_node_context()
        assert ctx is not None
        seen.append(ctx.attempt)
        raise ConnectionError("down")

    body = _body(failing, temporal=True, retry=RETRY)
    env, beats = _env(1)  # the lost attempt left the count at 1
    with no_wait(), pytest.raises(ApplicationError):
        await _call(env, body)
    assert seen == [2] and beats == [({KEY: 2},)]
    env, beats = _env(2)
    with no_wait():
        result = await _call(env, body)  # record mode: the last attempt returns the record
    assert seen == [2, 3] and beats == []
    [record] = result["errors"]
    assert record["attempts"] == 3 and record["code"] == "RETRY_EXHAUSTED"


async def test_the_runner_loop_goes_on_from_the_counted_attempts() -> None:
    """retries="runner" after one counted failure: attempts 2 and 3 only, each counted."""
    seen: list[int] = []

    def failing(state: State) -> dict[str, Any]:
        from langgraph_runner import get_node_context

        ctx = get_node_context()
        assert ctx is not None
        seen.append(ctx.attempt)
        raise ConnectionError("down")

    env, beats = _env(1)
    with no_wait():
        result = await _call(env, _body(failing, temporal=False, retry=RETRY))
    assert seen == [2, 3] and beats == [({KEY: 2},)]
    assert result["errors"][0]["attempts"] == 3


@pytest.mark.parametrize("temporal", [True, False], ids=["temporal", "runner"])
async def test_a_spent_policy_in_raise_mode_is_non_retryable(temporal: bool) -> None:
    """No retry=: the node's one failure ends the activity for good (Temporal's attempts
    are left for failures the node never sees)."""

    def failing(state: State) -> dict[str, Any]:
        raise ConnectionError("down: api_key=sk-live-0123456789abcdef0123456789")

    env, beats = _env(None)
    with pytest.raises(ApplicationError) as ended:
        await _call(env, _body(failing, temporal=temporal, on_error="raise"))
    assert ended.value.non_retryable and ended.value.type == "ConnectionError"
    assert "sk-live" not in str(ended.value) and beats == []
    [record] = ended.value.details  # what record mode writes, redacted
    assert (record["node"], record["attempts"], record["code"]) == ("middle", 1, "RETRY_EXHAUSTED")
    assert record["error_type"] == "ConnectionError" and "sk-live" not in str(record)


@pytest.mark.parametrize("temporal", [True, False], ids=["temporal", "runner"])
async def test_a_spent_retry_policy_in_raise_mode_carries_its_record(temporal: bool) -> None:
    """retry=3: the last attempt ends the activity with the record of all 3 attempts
    (RETRY_EXHAUSTED), the record that record mode writes."""

    def failing(state: State) -> dict[str, Any]:
        raise ConnectionError("down")

    records = []
    for mode in ("raise", "record"):
        # Temporal retries: the activity attempt of node attempt 3 (2 failures counted);
        # the runner's loop: all 3 attempts in one activity attempt.
        env, _ = _env(2 if temporal else None)
        body = _body(failing, temporal=temporal, retry=RETRY, on_error=mode)
        with no_wait():
            if mode == "raise":
                with pytest.raises(ApplicationError) as ended:
                    await _call(env, body)
                assert ended.value.non_retryable
                records.extend(ended.value.details)
            else:
                records.extend((await _call(env, body))["errors"])
    volatile = {"timestamp", "duration_ms"}
    raised, recorded = ({k: v for k, v in r.items() if k not in volatile} for r in records)
    assert raised == recorded
    assert (raised["attempts"], raised["code"]) == (3, "RETRY_EXHAUSTED")


async def test_a_node_of_yours_fails_once_unless_you_retry_it() -> None:
    """foreign_body: final -> non-retryable; not final -> the error as it is."""
    from langchain_core.runnables import RunnableLambda

    def failing(state: dict[str, Any]) -> dict[str, Any]:
        raise ConnectionError("down")

    env, _ = _env(None)
    with pytest.raises(ApplicationError) as ended:
        await env.run(foreign_body("n", RunnableLambda(failing), final=True), {"x": 1}, {})
    assert ended.value.non_retryable and ended.value.type == "ConnectionError"
    with pytest.raises(ConnectionError):
        await env.run(foreign_body("n", RunnableLambda(failing), final=False), {"x": 1}, {})


async def test_a_node_called_in_an_activity_not_ours_refuses_and_in_ours_runs() -> None:
    """What the plugin calls without for_temporal refuses, naming it; a node of yours that
    calls a node of ours inside a for_temporal body gets it run as usual."""
    from langchain_core.runnables import RunnableLambda

    hardened = create_node(lambda state: {"x": state["x"] + 1})
    env, _ = _env(None)
    with pytest.raises(ApplicationError) as refused:
        await env.run(hardened.func, {"x": 1})
    assert refused.value.non_retryable and refused.value.type == "NotPreparedForTemporal"
    assert "for_temporal" in refused.value.message
    outer = RunnableLambda(lambda state: hardened(state))
    assert await env.run(foreign_body("n", outer, final=True), {"x": 1}, {}) == {"x": 2}
    assert hardened({"x": 1}) == {"x": 2}  # outside an activity
