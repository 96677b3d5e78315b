"""A ReAct-style agent with every node wrapped: a model node and LangGraph's ToolNode.

The model is langchain-core's fake chat model (no network, no API key) scripted to
call a tool and then answer. The state is ``MessagesState`` plus the two channels
wrapped nodes record into; checkpoints go to SQLite (``examples/.runs/agent.db``,
or ``AGENT_DB``). The example shows:

1. the wrapped agent streams exactly what the unwrapped one streams
   (``stream_mode=["updates", "messages", "values"]``), while its flaky tool is
   retried behind the scenes;
2. a tool that always fails: the loop guard stops the run after
   ``max_consecutive_failures`` failures in a row, with the records checkpointed;
3. the same failure handed to the model as an error ``ToolMessage`` instead;
4. LangChain's ``create_agent``, hardened two ways: with ``RunnerMiddleware`` and with
   ``harden(agent)``; each tool call is retried on its own and a call that keeps
   failing is answered with a redacted error ``ToolMessage`` (the other call keeps
   its result).

Run it with ``python examples/agent.py``.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from langgraph_runner import (
    FailureLoopError,
    RetryConfig,
    append_errors,
    create_node,
    harden,
    merge_flags,
)
from langgraph_runner.agents import RunnerMiddleware, tool_error_messages

RETRY = RetryConfig(max_attempts=3, initial_interval=0.05, max_interval=0.2)
DB_PATH = Path(os.environ.get("AGENT_DB", Path(__file__).parent / ".runs" / "agent.db"))


class AgentState(MessagesState):
    """The messages, plus where wrapped nodes put their error records and flags."""

    errors: Annotated[list[dict[str, Any]], append_errors]
    routing_flags: Annotated[dict[str, bool], merge_flags]


class ScriptedModel(FakeMessagesListChatModel):
    """A fake chat model that accepts tools (it answers from its script regardless)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        return self


def ask(tool_name: str, n: int) -> AIMessage:
    call = {"name": tool_name, "args": {"city": "Paris"}, "id": f"call-{n}"}
    return AIMessage(id=f"ai-ask-{n}", content="", tool_calls=[call])


def scripted_model(tool_name: str, *, stubborn: bool = False) -> ScriptedModel:
    """Asks for the tool once, then answers; a stubborn model asks again and again."""
    if stubborn:
        return ScriptedModel(responses=[ask(tool_name, n) for n in range(1, 21)])
    answer = AIMessage(id="ai-answer", content="Sorry, I could not get the weather.")
    if tool_name == "weather":
        answer = AIMessage(id="ai-answer", content="Sunny in Paris, 21 C.")
    return ScriptedModel(responses=[ask(tool_name, 1), answer])


CALLS = {"weather": 0}


@tool
def weather(city: str) -> str:
    """The current weather in a city."""
    CALLS["weather"] += 1
    if CALLS["weather"] % 2 == 1:  # every other call hits a flaky upstream
        raise ConnectionError("weather API reset the connection")
    return f"{city}: sunny, 21 C"


@tool
def broken_weather(city: str) -> str:
    """A weather tool whose upstream is down for good."""
    raise ConnectionError("GET https://weather.example.com?api_key=sk-live-0123456789abcdef")


def build(
    tool_fn: Any,
    saver: SqliteSaver,
    *,
    wrapped: bool = True,
    stubborn: bool = False,
    **tool_options: Any,
) -> Any:
    """model -> tools -> model ... until the model answers without a tool call."""
    tools = [tool_fn]
    model = scripted_model(tool_fn.name, stubborn=stubborn).bind_tools(tools)

    def agent(state: AgentState) -> dict[str, list[BaseMessage]]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(AgentState)
    if wrapped:
        builder.add_node("agent", create_node(agent, retry=RETRY))
        builder.add_node("tools", create_node(ToolNode(tools), retry=RETRY, **tool_options))
    else:
        builder.add_node("agent", agent)
        builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=saver)


_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _normalized(chunks: list[Any]) -> str:
    seen: dict[str, str] = {}
    return _IDS.sub(lambda m: seen.setdefault(m.group(), f"<id{len(seen)}>"), repr(chunks))


def main() -> None:
    DB_PATH.parent.mkdir(parents=True, exist_ok=True)
    DB_PATH.unlink(missing_ok=True)
    saver = SqliteSaver(sqlite3.connect(DB_PATH, check_same_thread=False))
    question = {"messages": [HumanMessage("What's the weather in Paris?", id="human-1")]}
    modes = ["updates", "messages", "values"]

    print("1. wrapped agent, streamed")
    CALLS["weather"] = 0
    wrapped = build(weather, saver)
    config: Any = {"configurable": {"thread_id": "weather"}}
    chunks = list(wrapped.stream(question, config, stream_mode=modes))
    for mode, data in chunks:
        if mode == "updates":
            for node, update in data.items():
                last = update["messages"][-1]
                print(f"   {node}: {last.content or last.tool_calls[0]['name']}")
    print(f"   weather tool calls: {CALLS['weather']} (the first failed and was retried)")
    CALLS["weather"] = 1  # the unwrapped run, which has no retry, gets the good call
    scratch = SqliteSaver(sqlite3.connect(":memory:", check_same_thread=False))
    plain = build(weather, scratch, wrapped=False)
    plain_chunks = list(plain.stream(question, config, stream_mode=modes))
    same = _normalized(chunks) == _normalized(plain_chunks)
    print(f"   same chunks as the unwrapped graph: {same}")

    print("2. a tool that always fails: the loop guard")
    looping = build(broken_weather, saver, stubborn=True, max_consecutive_failures=3)
    config = {"configurable": {"thread_id": "loop"}}
    try:
        looping.invoke(question, config)
    except FailureLoopError as err:
        print(f"   stopped: {err.node} failed {err.failures} times in a row")
        print(f"   last record: {err.record.message}")
    records = looping.get_state(config).values["errors"]
    print(f"   records in the checkpoint: {len(records)}")

    print("3. the failure handed to the model instead")
    told = build(broken_weather, saver, fallback=tool_error_messages)
    out = told.invoke(question, {"configurable": {"thread_id": "told"}})
    print(f"   tool message: {out['messages'][2].content}")
    print(f"   model answer: {out['messages'][-1].content}")

    print("4. create_agent: RunnerMiddleware, and harden(agent)")
    for label in ("middleware", "harden"):
        CALLS["weather"] = 0
        answer = AIMessage(id="ai-answer", content="Sunny in Paris; no forecast.")
        both = AIMessage(
            id="ai-ask",
            content="",
            tool_calls=[
                {"name": "weather", "args": {"city": "Paris"}, "id": "call-w"},
                {"name": "broken_weather", "args": {"city": "Paris"}, "id": "call-b"},
            ],
        )
        model = ScriptedModel(responses=[both, answer])
        tools = [weather, broken_weather]
        if label == "middleware":
            agent = create_agent(model, tools, middleware=[RunnerMiddleware(retry=RETRY)])
        else:
            agent = harden(create_agent(model, tools), retry=RETRY)
        out = agent.invoke(question)
        for message in out["messages"]:
            if isinstance(message, ToolMessage):
                print(f"   {label}: {message.tool_call_id} {message.status}: {message.content}")
        nodes = [(r["node"], r["attempts"]) for r in out["errors"]]
        print(f"   {label}: weather calls {CALLS['weather']}, records {nodes}")


if __name__ == "__main__":
    main()
