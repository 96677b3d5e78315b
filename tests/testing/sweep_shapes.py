"""Every graph shape the package supports, for the fault sweep (tests and scripts/sweep_table.py).

Each shape is a function ``mode -> graph factory``: ``"bare"`` is the graph as LangGraph
and LangChain build it, ``"record"`` the package's way of hardening it with its default
``on_error="record"``, ``"raise"`` the same with ``on_error="raise"``. A factory builds a
fresh graph (fresh scripted models and counters) per run. ``KINDS`` says which points the
package's promise covers: ``RunnerMiddleware`` hardens model and tool calls, not the
nodes LangChain's agent runs around them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypedDict

from langchain.agents import create_agent
from langchain.agents.middleware import (
    HumanInTheLoopMiddleware,
    ModelCallLimitMiddleware,
    ModelFallbackMiddleware,
    ModelRetryMiddleware,
    PIIMiddleware,
    ToolCallLimitMiddleware,
    ToolRetryMiddleware,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode, create_react_agent, tools_condition
from langgraph.types import Command, Send
from pydantic import BaseModel

from langgraph_runner import create_node, harden
from langgraph_runner.agents import RunnerMiddleware
from tests.agent_kit import AgentState, ScriptedModel, ToolCallingFake, call

Mode = Literal["record", "raise", "bare"]
Factory = Callable[[], Any]
Shape = Callable[[Mode], Factory]
MODES: tuple[Mode, ...] = ("record", "raise", "bare")
AGENT_INPUT: dict[str, Any] = {"messages": [HumanMessage("What is the weather in Paris and Rome?")]}


@tool
def weather(city: str) -> str:
    """Current weather in a city."""
    return f"{city}: sunny"


@tool
def population(city: str) -> str:
    """Population of a city."""
    return f"{city}: 2 million"


TOOLS = [weather, population]


def _turns() -> list[Any]:
    """Three turns: one tool call, two parallel tool calls, then the answer."""
    return [
        call("weather", {"city": "Paris"}, "c1", "m1"),
        AIMessage(
            id="m2",
            content="",
            tool_calls=[
                {"name": "weather", "args": {"city": "Rome"}, "id": "c2"},
                {"name": "population", "args": {"city": "Rome"}, "id": "c3"},
            ],
        ),
        AIMessage(id="m3", content="Sunny in both."),
    ]


def _model() -> ScriptedModel:
    return ScriptedModel(script=_turns())


class Answer(BaseModel):
    """The structured answer."""

    summary: str


def _structured_model() -> ScriptedModel:
    turns = _turns()
    turns[-1] = call("Answer", {"summary": "Sunny in both."}, "c4", "m3")
    return ScriptedModel(script=turns)


def _hardened(mode: Mode, graph: Any) -> Any:
    if mode == "bare":
        return graph
    return harden(graph, on_error=mode)


def _agent(**kwargs: Any) -> Shape:
    def shape(mode: Mode) -> Factory:
        def make() -> Any:
            args = dict(kwargs)
            model = args.pop("model", _model)()
            middleware = [m() for m in args.pop("middleware", ())]
            return _hardened(mode, create_agent(model, TOOLS, middleware=middleware, **args))

        return make

    return shape


def _structured(mode: Mode) -> Factory:
    def make() -> Any:
        agent = create_agent(_structured_model(), TOOLS, response_format=Answer)
        return _hardened(mode, agent)

    return make


def _with_checkpointer(mode: Mode) -> Factory:
    return lambda: _hardened(mode, create_agent(_model(), TOOLS, checkpointer=InMemorySaver()))


def _middleware_agent(*extra: Callable[[], Any], checkpointer: bool = False) -> Shape:
    """create_agent with RunnerMiddleware (record/raise) or without it (bare)."""

    def shape(mode: Mode) -> Factory:
        def make() -> Any:
            middleware = [m() for m in extra]
            if mode != "bare":
                middleware.insert(0, RunnerMiddleware(on_error=mode))
            saver = InMemorySaver() if checkpointer else None
            return create_agent(_model(), TOOLS, middleware=middleware, checkpointer=saver)

        return make

    return shape


def _react(mode: Mode) -> Factory:
    return lambda: _hardened(mode, create_react_agent(_model(), TOOLS))


def _tutorial(mode: Mode) -> Factory:
    """The docs' hand-built loop: create_node(call_model) + ToolNode + tools_condition."""

    def make() -> Any:
        model = _model()

        def agent(state: AgentState) -> dict[str, list[BaseMessage]]:
            return {"messages": [model.invoke(state["messages"])]}

        builder = StateGraph(AgentState)
        if mode == "bare":
            builder.add_node("agent", agent)
            builder.add_node("tools", ToolNode(TOOLS))
        else:
            builder.add_node("agent", create_node(agent, on_error=mode))
            builder.add_node("tools", create_node(ToolNode(TOOLS), on_error=mode))
        builder.add_edge(START, "agent")
        builder.add_conditional_edges("agent", tools_condition)
        builder.add_edge("tools", "agent")
        return builder.compile()

    return make


# ---------------------------------------------------------------------- plain graphs


class Flow(TypedDict, total=False):
    items: list[str]
    done: Annotated[list[str], operator.add]
    errors: Annotated[list[dict[str, Any]], operator.add]
    routing_flags: dict[str, bool]


class Item(TypedDict):
    item: str


def _send_fanout(mode: Mode) -> Factory:
    def make() -> Any:
        def plan(state: Flow) -> dict[str, Any]:
            return {"items": ["a", "b", "c"]}

        def work(state: Item) -> dict[str, Any]:
            return {"done": [state["item"].upper()]}

        def gather(state: Flow) -> dict[str, Any]:
            return {"done": ["gathered"]}

        def fan_out(state: Flow) -> list[Send]:
            return [Send("work", {"item": i}) for i in state["items"]]

        builder = StateGraph(Flow)
        builder.add_node("plan", plan)
        builder.add_node("work", work, input_schema=Item)
        builder.add_node("gather", gather)
        builder.add_edge(START, "plan")
        builder.add_conditional_edges("plan", fan_out, ["work"])
        builder.add_edge("work", "gather")
        builder.add_edge("gather", END)
        return _hardened(mode, builder.compile())

    return make


def _inner_graph(handoff: bool) -> Any:
    def research(state: Flow) -> Any:
        if handoff:
            return Command(goto="write", graph=Command.PARENT, update={"done": ["research"]})
        return {"done": ["research"]}

    def check(state: Flow) -> dict[str, Any]:
        return {"done": ["check"]}

    inner = StateGraph(Flow)
    inner.add_node("research", research)
    inner.add_node("check", check)
    inner.add_edge(START, "research")
    inner.add_edge("research", "check")
    inner.add_edge("check", END)
    return inner.compile()


def _nested(handoff: bool) -> Shape:
    def shape(mode: Mode) -> Factory:
        def make() -> Any:
            def start(state: Flow) -> dict[str, Any]:
                return {"done": ["start"]}

            def write(state: Flow) -> dict[str, Any]:
                return {"done": ["write"]}

            builder = StateGraph(Flow)
            builder.add_node("start", start)
            if handoff:
                builder.add_node("team", _inner_graph(True), destinations=("write",))
            else:
                builder.add_node("team", _inner_graph(False))
                builder.add_edge("team", "write")
            builder.add_node("write", write)
            builder.add_edge(START, "start")
            builder.add_edge("start", "team")
            builder.add_edge("write", END)
            return _hardened(mode, builder.compile())

        return make

    return shape


FLOW_INPUT: dict[str, Any] = {"items": []}
PIPELINE_INPUT: dict[str, Any] = {"url": "https://example.com/doc"}

ALL = ("node", "model", "tool")
CALLS = ("model", "tool")
NOT_MODEL = ("node", "tool")

# name -> (shape, input, the kinds of points its record mode promises a record for)
SHAPES: dict[str, tuple[Shape, dict[str, Any], tuple[str, ...]]] = {
    "create_agent + harden": (_agent(), AGENT_INPUT, ALL),
    "create_agent, structured output + harden": (_structured, AGENT_INPUT, ALL),
    "create_agent, checkpointer + harden": (_with_checkpointer, AGENT_INPUT, ALL),
    "create_agent, ToolRetryMiddleware + harden": (
        _agent(middleware=[lambda: ToolRetryMiddleware(initial_delay=0, jitter=False)]),
        AGENT_INPUT,
        ALL,
    ),
    "create_agent, ModelRetryMiddleware + harden": (
        _agent(middleware=[lambda: ModelRetryMiddleware(initial_delay=0, jitter=False)]),
        AGENT_INPUT,
        NOT_MODEL,  # its on_failure="continue" answers a failed model call itself
    ),
    "create_agent, ModelFallbackMiddleware + harden": (
        _agent(
            middleware=[
                lambda: ModelFallbackMiddleware(
                    ToolCallingFake(responses=[AIMessage("fallback answer")])
                )
            ]
        ),
        AGENT_INPUT,
        NOT_MODEL,  # the fallback model answers
    ),
    "create_agent, call limits + harden": (
        _agent(
            middleware=[
                lambda: ModelCallLimitMiddleware(run_limit=10),
                lambda: ToolCallLimitMiddleware(run_limit=10),
            ]
        ),
        AGENT_INPUT,
        ALL,
    ),
    "create_agent, PIIMiddleware + harden": (
        _agent(middleware=[lambda: PIIMiddleware("email", strategy="redact")]),
        AGENT_INPUT,
        ALL,
    ),
    "create_agent, HumanInTheLoopMiddleware + harden": (
        _agent(
            middleware=[lambda: HumanInTheLoopMiddleware(interrupt_on={"population": True})],
            checkpointer=InMemorySaver(),
        ),
        AGENT_INPUT,
        ALL,
    ),
    "create_agent + RunnerMiddleware": (_middleware_agent(), AGENT_INPUT, CALLS),
    "create_agent, checkpointer + RunnerMiddleware": (
        _middleware_agent(checkpointer=True),
        AGENT_INPUT,
        CALLS,
    ),
    "create_react_agent + harden": (_react, AGENT_INPUT, ALL),
    "tutorial loop (create_node, ToolNode, tools_condition)": (_tutorial, AGENT_INPUT, ALL),
    "Send fan-out + harden": (_send_fanout, FLOW_INPUT, ALL),
    "subgraph node + harden": (_nested(False), FLOW_INPUT, ALL),
    "hand-off Command.PARENT + harden": (_nested(True), FLOW_INPUT, ALL),
}


def pipeline_shape(mode: Mode) -> Factory:
    """examples/pipeline.py as shipped (its own create_node options) in every mode."""
    from examples.pipeline import compile_pipeline

    return lambda: compile_pipeline(InMemorySaver())


PIPELINE = "examples/pipeline.py"
PIPELINE_KINDS = ("node",)
PIPELINE_BARE = ("recover", "done")  # the pipeline leaves these two unwrapped


def all_shapes() -> dict[str, tuple[Shape, dict[str, Any], tuple[str, ...]]]:
    """``SHAPES`` plus the example pipeline (one mode: as shipped)."""
    return {**SHAPES, PIPELINE: (pipeline_shape, PIPELINE_INPUT, PIPELINE_KINDS)}


def render_table(reports: Callable[[str, Mode], Any]) -> str:
    """The docs table: one row per shape and point, its outcome in each mode.

    ``reports(shape, mode)`` returns the ``SweepReport`` of that shape in that mode.
    """
    rows = [
        "| Shape | Point | Record mode | Raise mode | Bare LangGraph |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in all_shapes():
        modes = ("record",) if name == PIPELINE else MODES
        by_mode = {m: {str(r.point): r.summary() for r in reports(name, m)} for m in modes}
        for point in by_mode["record"]:
            cells = [by_mode[m].get(point, "-") if m in by_mode else "-" for m in MODES]
            rows.append(f"| {name} | {point} | {' | '.join(cells)} |")
    return "\n".join(rows)
