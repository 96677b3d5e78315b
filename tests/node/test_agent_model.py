"""A hardened agent's model failing at any turn ends the agent with its record (issue #38)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.prebuilt import create_react_agent

from langgraph_runner import harden
from tests.agent_kit import ScriptedModel, call


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return f"found {q}"


def _script(fail_at: int) -> list[Any]:
    """Three turns (two tool rounds, then an answer); model call ``fail_at`` raises."""
    turns: list[Any] = [
        call("lookup", {"q": "a"}, "c1", "m1"),
        call("lookup", {"q": "b"}, "c2", "m2"),
        AIMessage(content="done", id="m3"),
    ]
    turns[fail_at - 1] = ConnectionError("503 from the model API")
    return turns


def _agent(kind: str, fail_at: int, **options: Any) -> Any:
    model = ScriptedModel(script=_script(fail_at))
    if kind == "create_agent":
        return harden(create_agent(model, [lookup]), **options)
    return harden(create_react_agent(model, [lookup]), **options)


def _run(graph: Any, is_async: bool) -> Any:
    inputs = {"messages": [HumanMessage("hi")]}
    if is_async:
        return asyncio.run(graph.ainvoke(inputs))
    return graph.invoke(inputs)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("fail_at", [1, 2, 3])
@pytest.mark.parametrize("kind", ["create_agent", "create_react_agent"])
def test_model_failure_at_any_turn_ends_with_a_record(
    kind: str, fail_at: int, is_async: bool
) -> None:
    out = _run(_agent(kind, fail_at), is_async)
    [record] = out["errors"]
    assert record["error_type"] == "ConnectionError"
    assert record["recovered"] is False
    assert out["routing_flags"] == {"blocked": True}
    last = out["messages"][-1]
    assert isinstance(last, AIMessage) and not last.tool_calls
    assert last.content == f"Error: {record['message']}"
    assert last.response_metadata["langgraph_runner"] == {"error": record["code"]}
    # every earlier tool call still has its answer
    answered = {m.tool_call_id for m in out["messages"] if isinstance(m, ToolMessage)}
    assert answered == {f"c{i}" for i in range(1, fail_at)}


@pytest.mark.parametrize("kind", ["create_agent", "create_react_agent"])
def test_raise_mode_raises_the_model_error(kind: str) -> None:
    with pytest.raises(ConnectionError, match="503"):
        _run(_agent(kind, 2, on_error="raise"), False)


def test_success_untouched() -> None:
    model = ScriptedModel(script=[AIMessage(content="done", id="m1")])
    out = harden(create_agent(model, [lookup])).invoke({"messages": [HumanMessage("hi")]})
    assert out["messages"][-1].content == "done"
    assert not out.get("errors")


def test_fallback_decides_the_message() -> None:
    """A model node whose fallback answers keeps the fallback's update (no error message)."""

    def answer(state: Any) -> dict[str, Any]:
        return {"messages": [AIMessage(content="fallback answer")]}

    graph = _agent("create_agent", 1, fallback=answer)
    out = _run(graph, False)
    assert out["messages"][-1].content == "fallback answer"
    assert out["errors"][0]["recovered"] is True


@settings(max_examples=25, deadline=None)
@given(rounds=st.integers(0, 4), data=st.data())
def test_any_turn_of_any_length(rounds: int, data: st.DataObject) -> None:
    """For any number of tool rounds, a model failure at any turn ends with one record."""
    fail_at = data.draw(st.integers(1, rounds + 1))
    script: list[Any] = [call("lookup", {"q": str(i)}, f"c{i}", f"m{i}") for i in range(rounds)]
    script.append(AIMessage(content="done", id="end"))
    script[fail_at - 1] = ConnectionError("503")
    graph = harden(create_agent(ScriptedModel(script=script), [lookup]))
    out = graph.invoke({"messages": [HumanMessage("hi")]})
    assert [r["error_type"] for r in out["errors"]] == ["ConnectionError"]
    last = out["messages"][-1]
    assert isinstance(last, AIMessage) and not last.tool_calls
    assert str(last.content).startswith("Error: ")
