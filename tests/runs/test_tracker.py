"""_runs/tracker.py: what a run learns about its node tasks (their attempts too), and what it
does not listen to."""

from __future__ import annotations

import itertools
import json
import operator
import uuid
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, RetryConfig, create_node
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.task_times import ATTEMPTS_KEPT, flush_marks, load_attempts
from langgraph_runner._runs.tracker import Tracker
from langgraph_runner.runs import open_checkpointer, run
from langgraph_runner.testing import no_wait

NOT_FOR_THE_TRACKER = (
    "on_llm_start",
    "on_chat_model_start",
    "on_llm_new_token",
    "on_llm_end",
    "on_tool_start",
    "on_tool_end",
    "on_retry",
    "on_custom_event",
)


class State(TypedDict, total=False):
    text: str


def test_model_calls_tokens_and_tools_in_a_node_never_reach_the_tracker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node that streams a chat model and calls a tool: the run still follows its node
    (chain events), and LangChain sends none of the model's or tool's events to it."""
    heard: list[str] = []
    for name in NOT_FOR_THE_TRACKER:
        monkeypatch.setattr(
            Tracker, name, lambda self, *a, _name=name, **k: heard.append(_name), raising=False
        )
    model = GenericFakeChatModel(messages=iter([AIMessage("one two three four")]))

    @tool
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    def talk(state: State) -> dict[str, Any]:
        text = "".join(str(chunk.content) for chunk in model.stream("hi"))
        return {"text": shout.invoke({"text": text})}

    g: StateGraph[Any] = StateGraph(State)
    g.add_node("talk", talk)
    g.add_edge(START, "talk")
    g.add_edge("talk", END)
    result = run(g.compile(), {})
    assert result.status == "completed"
    assert result.output == {"text": "ONE TWO THREE FOUR"}
    assert dict(result.nodes) == {"talk": "succeeded"}
    assert heard == []


def test_the_tracker_listens_to_chain_events() -> None:
    """Chain events are how it tells node tasks apart: those it never ignores."""
    tracker = Tracker(uuid.uuid4(), reused=False)
    assert not tracker.ignore_chain
    assert (tracker.ignore_llm, tracker.ignore_chat_model, tracker.ignore_retriever) == (
        True,
        True,
        True,
    )


SECRET = "sk-live-0123456789abcdefghijklmnop"


class Doc(GraphState, total=False):
    log: Annotated[list[str], operator.add]


def _raising(*errors: BaseException, then: dict[str, Any] | None = None) -> Any:
    """A node that raises ``errors`` one call at a time, then returns ``then``."""
    left = list(errors)

    def node(state: Doc) -> dict[str, Any]:
        if left:
            raise left.pop(0)
        return then or {}

    return node


def _attempts(node: Any, tmp_path: Path, **options: Any) -> tuple[Any, list[dict[str, Any]]]:
    """Run a one-node graph (``step``) under run() on SQLite: its result and the attempts
    its row keeps."""
    g: StateGraph[Any] = StateGraph(Doc)
    g.add_node("step", node)
    g.add_edge(START, "step")
    g.add_edge("step", END)
    config: Any = {"configurable": {"thread_id": uuid.uuid4().hex}}
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver, no_wait():
        result = run(g.compile(checkpointer=saver), {}, config, **options)
        assert flush_marks()
        store = open_run_store(saver)
        assert store is not None
        try:
            return result, load_attempts(store, result.run_id, "step", 0)
        finally:
            store.close()


def test_each_failed_attempt_is_kept_with_its_own_record_and_times(tmp_path: Path) -> None:
    """Two failures of their own, then a success: three attempts, each failure with its
    code, category, error type and redacted message, each starting when the one before
    ended."""
    errors = (ConnectionError(f"refused, key {SECRET}"), TimeoutError("read timed out"))
    node = create_node(_raising(*errors, then={"log": ["ok"]}), retry=RetryConfig(max_attempts=3))
    result, attempts = _attempts(node, tmp_path)
    assert result.status == "completed"
    assert [(a["number"], a["outcome"], a["error_type"]) for a in attempts] == [
        (1, "retried", "ConnectionError"),
        (2, "retried", "TimeoutError"),
        (3, "succeeded", None),
    ]
    assert [(a["code"], a["category"]) for a in attempts[:2]] == [
        ("RETRY_EXHAUSTED", "network"),
        ("RETRY_EXHAUSTED", "timeout"),
    ]
    assert "refused, key [REDACTED]" in attempts[0]["message"]
    assert "read timed out" in attempts[1]["message"]
    assert SECRET not in str(attempts)
    assert attempts[2]["message"] is None
    for before, after in itertools.pairwise(attempts):
        assert before["started_at"] <= before["ended_at"] <= after["started_at"]
    assert len({a["task"] for a in attempts}) == 1


def test_a_thousand_failed_attempts_keep_the_first_and_latest_five(tmp_path: Path) -> None:
    """max_attempts=1000, every one failing: the row keeps attempts 1-5 and 996-1000 (the
    last ending the call), a few kilobytes whatever the count."""
    errors = [ConnectionError(f"attempt {i} refused: " + "x" * 300) for i in range(1, 1001)]
    node = create_node(_raising(*errors), retry=RetryConfig(max_attempts=1000), on_error="record")
    result, attempts = _attempts(node, tmp_path, on_step_failure="continue")
    assert result.nodes["step"] == "failed"
    numbers = [a["number"] for a in attempts]
    assert numbers == [1, 2, 3, 4, 5, 996, 997, 998, 999, 1000]
    assert len(attempts) == ATTEMPTS_KEPT
    assert [a["outcome"] for a in attempts] == ["retried"] * 9 + ["failed"]
    assert "attempt 1000 refused" in attempts[-1]["message"]
    assert len(json.dumps(attempts)) < 8_000


def test_an_attempt_a_fallback_recovered_says_so(tmp_path: Path) -> None:
    """Out of attempts, its fallback handled it: the last attempt reads ``recovered``."""
    node = create_node(
        _raising(ConnectionError("a"), ConnectionError("b")),
        retry=2,
        on_error="record",
        fallback=lambda state: {"log": ["fallback"]},
    )
    result, attempts = _attempts(node, tmp_path)
    assert result.status == "completed"
    assert [(a["number"], a["outcome"]) for a in attempts] == [(1, "retried"), (2, "recovered")]


def test_a_node_that_never_failed_keeps_no_attempts(tmp_path: Path) -> None:
    """A success at the first attempt writes no attempts (the common case stays small)."""
    result, attempts = _attempts(create_node(_raising(), retry=3), tmp_path)
    assert (result.status, attempts) == ("completed", [])


def test_an_attempt_of_a_task_the_run_does_not_follow_is_ignored() -> None:
    """Told of a task it never saw start (a subgraph's node, a direct call): nothing kept."""
    t = Tracker(uuid.uuid4(), reused=False)
    t.attempt_failed({"configurable": {}}, 1, {"code": "RETRY_EXHAUSTED"}, 0.0)
    t.attempt_failed(None, 1, {}, None)
    assert t.attempts == {}
