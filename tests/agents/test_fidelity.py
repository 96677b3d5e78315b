"""Where nothing fails, a hardened agent or one with RunnerMiddleware is the bare agent.

The same drawing, output keys, streams, stream transformers and refusals; and under
``ainvoke``/``astream`` only async implementations run (models, tools, middleware).
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, PIIMiddleware
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, StructuredTool, tool
from langgraph.checkpoint.memory import InMemorySaver

from langgraph_runner import harden
from langgraph_runner.agents import RunnerMiddleware
from tests.agent_kit import call, fake_model, normalized

WAYS = ["bare", "harden", "harden-raise", "middleware", "middleware-raise"]
WRAPPED = WAYS[1:]


@tool
def lookup(city: str) -> str:
    """Look a city up."""
    return f"{city}: 2.1 million"


def _agent(way: str, model: Any, tools: list[Any], middleware: list[Any] = (), **kw: Any) -> Any:  # type: ignore[assignment]
    options: dict[str, Any] = {"on_error": "raise"} if way.endswith("-raise") else {}
    middleware = list(middleware)
    if way.startswith("middleware"):
        middleware.append(RunnerMiddleware(**options))
    agent = create_agent(model, tools, middleware=middleware, **kw)
    return harden(agent, **options) if way.startswith("harden") else agent


def _script() -> Any:
    return fake_model(
        call("lookup", {"city": "Paris"}, "call-1", "ai-1"), AIMessage(id="ai-2", content="done")
    )


def _question() -> dict[str, Any]:
    return {"messages": [HumanMessage("Paris?", id="h-1")]}


class PassThrough(AgentMiddleware):
    """Any wrap_model_call middleware: LangChain then lets the model route back to itself."""

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return handler(request)


@pytest.mark.parametrize("tools", [[], [lookup]], ids=["no-tools", "tools"])
@pytest.mark.parametrize("way", WRAPPED)
def test_the_drawing_is_the_bare_agents(way: str, tools: list[Any]) -> None:
    # With tools, create_agent draws a model -> model edge for any wrap_model_call
    # middleware (it may answer with synthetic messages): RunnerMiddleware draws as one.
    like = [PassThrough()] if way.startswith("middleware") and tools else []
    bare = create_agent(_script(), tools, middleware=like)
    wrapped = _agent(way, _script(), tools)
    assert wrapped.get_graph().to_json() == bare.get_graph().to_json()
    assert wrapped.get_graph().draw_mermaid() == bare.get_graph().draw_mermaid()


@pytest.mark.parametrize("way", WRAPPED)
def test_output_keys_and_streams_are_the_bare_agents(way: str) -> None:
    def run(graph: Any) -> Any:
        return [
            graph.invoke(_question()),
            *graph.stream(_question(), stream_mode=["values", "updates"]),
        ]

    assert normalized(run(_agent(way, _script(), [lookup]))) == normalized(
        run(_agent("bare", _script(), [lookup]))
    )


@pytest.mark.parametrize("way", WRAPPED)
def test_input_and_output_schemas_are_the_bare_agents(way: str) -> None:
    bare, wrapped = create_agent(_script(), [lookup]), _agent(way, _script(), [lookup])
    assert wrapped.get_input_jsonschema() == bare.get_input_jsonschema()
    # Our channels may be written (a recorded failure): declared, never required.
    extra = set(wrapped.get_output_jsonschema()["properties"]) - set(
        bare.get_output_jsonschema()["properties"]
    )
    assert extra <= {"errors", "routing_flags"}
    assert not set(wrapped.get_output_jsonschema().get("required", ())) & extra


def test_a_recorded_failure_does_write_the_channels() -> None:
    @tool
    def broken(city: str) -> str:
        """Always fails."""
        raise ValueError("no such city")

    model = fake_model(
        call("broken", {"city": "X"}, "call-1", "ai-1"), AIMessage(id="ai-2", content="sorry")
    )
    out = _agent("middleware", model, [broken]).invoke(_question())
    assert [r["node"] for r in out["errors"]] == ["tools.broken"]


@pytest.mark.parametrize("way", WRAPPED)
def test_stream_transformers_are_the_bare_agents(way: str) -> None:
    middleware = [PIIMiddleware("email", apply_to_output=True)]
    bare = create_agent(_script(), [lookup], middleware=middleware)
    wrapped = _agent(way, _script(), [lookup], middleware=middleware)
    assert wrapped.stream_transformers == bare.stream_transformers
    assert len(bare.stream_transformers) >= 3  # tool calls, sub-agents, PII


@pytest.mark.parametrize("way", WRAPPED)
async def test_the_v3_stream_has_the_bare_agents_projections(way: str) -> None:
    async def tool_calls(graph: Any) -> list[str]:
        run = await graph.astream_events(_question(), version="v3")
        return [tc.tool_name async for tc in run.tool_calls]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LangGraph: the v3 protocol is experimental
        got = await tool_calls(_agent(way, _script(), [lookup]))
        want = await tool_calls(_agent("bare", _script(), [lookup]))
    assert got == want == ["lookup"]


# ------------------------------------------------------------------ refusals


@tool
def dynamic_tool(value: str) -> str:
    """Added at runtime by a middleware."""
    return value


class AddsATool(AgentMiddleware):
    """Adds a tool the agent cannot run (no wrap_tool_call handles it)."""

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return handler(request.override(tools=[*request.tools, dynamic_tool]))

    async def awrap_model_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        return await handler(request.override(tools=[*request.tools, dynamic_tool]))


async def _ask(agent: Any, mode: str) -> Any:
    if mode == "sync":
        return agent.invoke(_question())
    return await agent.ainvoke(_question())


@pytest.mark.parametrize("tools", [[], [lookup]], ids=["no-tools", "tools"])
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("way", ["middleware", "middleware-raise", "harden-raise"])
async def test_tools_nothing_runs_are_refused_as_bare(
    way: str, mode: str, tools: list[Any]
) -> None:
    agent = _agent(way, _script(), tools, middleware=[AddsATool()])
    refused = r"(?s)Middleware added tools.*Unknown tools:.*dynamic_tool"
    with pytest.raises(ValueError, match=refused):
        await _ask(agent, mode)


class RunsTheTool(AddsATool):
    """Adds the tool and runs it: then create_agent accepts it, with ours too."""

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        if request.tool_call["name"] == "dynamic_tool":
            return handler(request.override(tool=dynamic_tool))
        return handler(request)


def test_tools_another_middleware_runs_are_accepted() -> None:
    model = fake_model(
        call("dynamic_tool", {"value": "v"}, "call-1", "ai-1"), AIMessage(id="ai-2", content="ok")
    )
    out = _agent("middleware", model, [lookup], middleware=[RunsTheTool()]).invoke(_question())
    assert [m.content for m in out["messages"] if isinstance(m, ToolMessage)] == ["v"]


def test_one_middleware_in_agents_with_and_without_tools() -> None:
    shared = RunnerMiddleware()
    without = create_agent(_script(), [], middleware=[shared])
    with_tools = create_agent(_script(), [lookup], middleware=[shared])
    assert "tools" not in without.get_graph().nodes
    assert "tools" in with_tools.get_graph().nodes
    assert isinstance(shared, RunnerMiddleware)
    out = with_tools.invoke(_question())
    assert out["messages"][-1].content == "done"


# ------------------------------------------------------------------ async stays async


class AsyncOnlyModel(BaseChatModel):
    """Answers only on the async path: a sync call fails the test."""

    script: list[Any]
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "async-only"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, **kw: Any) -> ChatResult:
        raise AssertionError("the sync model path ran under ainvoke")

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, **kw: Any
    ) -> ChatResult:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return ChatResult(generations=[ChatGeneration(message=step)])


class AsyncOnlyHooks(AgentMiddleware):
    """Every hook async only, or sync raising: LangChain runs the async ones under ainvoke."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def before_model(self, state: Any, runtime: Any) -> Any:
        raise AssertionError("sync before_model ran under ainvoke")

    async def abefore_model(self, state: Any, runtime: Any) -> Any:
        self.seen.append("before_model")

    async def awrap_model_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        self.seen.append("model")
        return await handler(request)

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        self.seen.append("tool")
        return await handler(request)


async def _alookup(city: str) -> str:
    return f"{city}: 2.1 million"


def _async_tool() -> BaseTool:
    return StructuredTool.from_function(
        coroutine=_alookup, name="lookup", description="Look a city up."
    )


@pytest.mark.parametrize("stream", [False, True], ids=["ainvoke", "astream"])
@pytest.mark.parametrize("way", WAYS)
async def test_async_runs_only_async_implementations(way: str, stream: bool) -> None:
    model = AsyncOnlyModel(
        script=[call("lookup", {"city": "Paris"}, "call-1", "ai-1"), AIMessage("done", id="ai-2")]
    )
    hooks = AsyncOnlyHooks()
    agent = _agent(way, model, [_async_tool()], middleware=[hooks], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": f"async-{way}-{stream}"}}
    if stream:
        async for _ in agent.astream(_question(), config, stream_mode=["updates", "messages"]):
            pass
        out = (await agent.aget_state(config)).values
    else:
        out = await agent.ainvoke(_question(), config)
    assert out["messages"][-1].content == "done"
    assert [m.content for m in out["messages"] if isinstance(m, ToolMessage)] == [
        "Paris: 2.1 million"
    ]
    assert hooks.seen == ["before_model", "model", "tool", "before_model", "model"]
    assert "errors" not in out
