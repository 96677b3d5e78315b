"""_runs/tracker.py: what a run learns about its node tasks, and what it does not listen to."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph

from langgraph_runner._runs.tracker import Tracker
from langgraph_runner.runs import run

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
    import uuid

    tracker = Tracker(uuid.uuid4(), reused=False)
    assert not tracker.ignore_chain
    assert (tracker.ignore_llm, tracker.ignore_chat_model, tracker.ignore_retriever) == (
        True,
        True,
        True,
    )
