"""A timed-out sync attempt is muted: what its abandoned thread does never reaches the run."""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langgraph.graph import START, StateGraph
from langgraph.types import StreamWriter

from langgraph_runner import GraphState, RetryConfig, create_node
from langgraph_runner._engine.streamed import DISCARDED_EVENT
from langgraph_runner._policies.timeouts import wait_for_abandoned_threads
from langgraph_runner.testing import no_wait


class S(GraphState, total=False):
    out: str


def _model(text: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=text)]))


def _node() -> tuple[Any, threading.Event]:
    """Attempt 1 writes 'first', hangs past its limit until attempt 2 has started, then
    writes 'late' and streams 'late tokens' while attempt 2 is running (attempt 2 waits
    for that), then attempt 2 writes and streams its own.

    Events, not sleeps, order the two attempts, and attempt 2 has most of its 1 s limit
    left once the late work is done: on a starved machine a tighter plan (a 0.5 s limit,
    attempt 1 waking at 0.6 s, attempt 2 waiting up to 0.45 s) let attempt 2 time out too.
    """
    calls: list[int] = []
    second_started = threading.Event()
    late_done = threading.Event()

    def flaky(state: S, writer: StreamWriter) -> dict[str, Any]:
        calls.append(1)
        attempt = len(calls)
        if attempt == 1:
            writer({"custom": "first"})
            # Ignores its abort signal: abandoned at 1 s, it wakes once attempt 2 runs.
            second_started.wait(10)
            writer({"custom": "late"})
            _model("late tokens").invoke("q")
            late_done.set()
            return {"out": "late"}
        second_started.set()
        late_done.wait(0.8)  # attempt 1 wakes up and writes while this one runs
        writer({"custom": "second"})
        reply = _model("fresh tokens").invoke("q")
        return {"out": str(reply.content)}

    node = create_node(flaky, timeout=1.0, retry=RetryConfig(max_attempts=2))
    return node, late_done


def _stream(graph: Any) -> tuple[list[Any], list[str], Any]:
    custom: list[Any] = []
    tokens: list[str] = []
    final: Any = None
    for mode, chunk in graph.stream({}, stream_mode=["custom", "messages", "values"]):
        if mode == "custom":
            custom.append(chunk["custom"])
        elif mode == "messages":
            message, _meta = chunk
            if isinstance(message, AIMessageChunk):
                tokens.append(str(message.content))
        else:
            final = chunk
    return custom, tokens, final


def test_an_abandoned_attempt_writes_and_streams_nothing_into_the_run() -> None:
    """custom and messages stream modes carry only what the live attempts produced."""
    node, late_done = _node()
    g = StateGraph(S)
    g.add_node("n", node)
    g.add_edge(START, "n")
    with no_wait():
        custom, tokens, final = _stream(g.compile())
    assert late_done.wait(5), "the abandoned attempt should have finished its late work"
    wait_for_abandoned_threads(5)
    assert custom == ["first", "second"]
    assert "".join(tokens).split() == ["fresh", "tokens"]
    assert final["out"] == "fresh tokens"


def test_a_live_attempt_streams_tokens_as_it_would_bare() -> None:
    """Gating leaves a live sync attempt's messages stream exactly as unwrapped."""

    def talk(state: S) -> dict[str, Any]:
        return {"out": str(_model("one two three").invoke("q").content)}

    def run(node: Any) -> list[str]:
        g = StateGraph(S)
        g.add_node("n", node)
        g.add_edge(START, "n")
        return [
            str(m.content)
            for m, _meta in g.compile().stream({}, stream_mode="messages")
            if isinstance(m, AIMessageChunk)
        ]

    assert run(create_node(talk, timeout=5)) == run(talk)


def test_a_discarded_event_names_only_messages_the_run_streamed() -> None:
    """An abandoned attempt's late tokens reach neither the stream nor the
    ``discarded_message`` event of a later attempt that fails: that event names exactly
    the messages the failed live attempt streamed."""
    calls: list[int] = []
    second_started = threading.Event()
    late_done = threading.Event()

    def flaky(state: S) -> dict[str, Any]:
        calls.append(1)
        attempt = len(calls)
        if attempt == 1:  # abandoned at 1 s; streams once attempt 2 runs
            second_started.wait(10)
            _model("late tokens").invoke("q")
            late_done.set()
            return {"out": "late"}
        if attempt == 2:
            second_started.set()
            late_done.wait(0.8)
            _model("fresh tokens").invoke("q")
            raise ConnectionError("dropped mid-answer")
        return {"out": str(_model("final answer").invoke("q").content)}

    g = StateGraph(S)
    g.add_node("n", create_node(flaky, timeout=1.0, retry=RetryConfig(max_attempts=3)))
    g.add_edge(START, "n")
    streamed: dict[str, str] = {}  # message id -> its text, as the run streamed it
    discarded: list[list[str]] = []
    with no_wait():
        parts: Any
        for mode, parts in g.compile().stream({}, stream_mode=["custom", "messages"]):
            if mode == "custom":
                assert parts["event"] == DISCARDED_EVENT
                discarded.append(parts["message_ids"])
            else:
                message, _meta = parts
                if isinstance(message, AIMessageChunk):
                    streamed[str(message.id)] = streamed.get(str(message.id), "") + str(
                        message.content
                    )
    assert late_done.wait(5), "the abandoned attempt should have finished its late work"
    wait_for_abandoned_threads(5)
    assert len(calls) == 3
    assert sorted(streamed.values()) == ["final answer", "fresh tokens"]
    [fresh] = [i for i, text in streamed.items() if text == "fresh tokens"]
    assert discarded == [[fresh]]
