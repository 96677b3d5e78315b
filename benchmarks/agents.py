"""Model and tool calls of the agent examples, bare against hardened, under tool failures.

Each agent gets one user turn; the scripted model asks for two tool calls at once
(``good`` and ``flaky``), then answers. ``flaky`` fails once (transient) or always
(permanent) with a ``ConnectionError``. Counted: model calls, tool executions per
tool, how the run ended, and the records written. Retry waits are skipped
(``langgraph_runner.testing.no_wait``), so only the counts mean anything here.

Ways in: ``create_agent`` and ``create_react_agent`` bare, hardened whole with
``harden(agent, retry=3)``, ``create_agent`` with ``RunnerMiddleware(retry=3)``,
and a hand-built loop whose ToolNode is wrapped as one node with
``create_node(ToolNode, retry=3, fallback=tool_error_messages)``.

    python benchmarks/agents.py
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Annotated, Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, create_react_agent, tools_condition

from langgraph_runner import append_errors, create_node, harden, merge_flags
from langgraph_runner.agents import RunnerMiddleware, tool_error_messages
from langgraph_runner.testing import no_wait


class Model(BaseChatModel):
    """Asks for good+flaky in parallel, then answers; counts its calls."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "bench"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(self, messages: list[BaseMessage], *a: Any, **kw: Any) -> ChatResult:
        self.calls += 1
        if self.calls == 1:
            msg = AIMessage(
                content="",
                id=f"ai{self.calls}",
                tool_calls=[
                    {"name": "good", "args": {"x": 1}, "id": "c1"},
                    {"name": "flaky", "args": {"x": 2}, "id": "c2"},
                ],
            )
        else:
            msg = AIMessage(content="done", id=f"ai{self.calls}")
        return ChatResult(generations=[ChatGeneration(message=msg)])


class Tools:
    def __init__(self, fails: int) -> None:
        self.n = {"good": 0, "flaky": 0}

        @tool
        def good(x: int) -> str:
            """Always works."""
            self.n["good"] += 1
            return "ok"

        @tool
        def flaky(x: int) -> str:
            """Fails its first calls."""
            self.n["flaky"] += 1
            if self.n["flaky"] <= fails:
                raise ConnectionError("backend down")
            return "ok"

        self.all = [good, flaky]


class LoopState(MessagesState):
    errors: Annotated[list[dict[str, Any]], append_errors]
    routing_flags: Annotated[dict[str, bool], merge_flags]


def hand_built(model: Model, tools: list[Any]) -> Any:
    def agent(state: LoopState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    b = StateGraph(LoopState)
    b.add_node("agent", create_node(agent, retry=3))
    b.add_node("tools", create_node(ToolNode(tools), retry=3, fallback=tool_error_messages))
    b.add_edge(START, "agent")
    b.add_conditional_edges("agent", tools_condition)
    b.add_edge("tools", "agent")
    return b.compile()


def react(model: Model, tools: list[Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(model, tools)


WAYS: dict[str, Callable[[Model, list[Any]], Any]] = {
    "create_agent bare": lambda m, t: create_agent(m, t),
    "create_agent harden(retry=3)": lambda m, t: harden(create_agent(m, t), retry=3),
    "create_agent RunnerMiddleware(retry=3)": lambda m, t: create_agent(
        m, t, middleware=[RunnerMiddleware(retry=3)]
    ),
    "create_react_agent bare": react,
    "create_react_agent harden(retry=3)": lambda m, t: harden(react(m, t), retry=3),
    "hand-built loop, ToolNode whole": hand_built,
}


def main() -> None:
    print(f"{'agent':42} {'failure':10} {'model':>5} {'good':>5} {'flaky':>5}  outcome")
    for failure, fails in (("transient", 1), ("permanent", 10**6)):
        for name, make in WAYS.items():
            model, tools = Model(), Tools(fails)
            graph = make(model, tools.all)
            with no_wait():
                try:
                    out = graph.invoke({"messages": [HumanMessage("hi")]})
                    errors = out.get("errors") or []
                    outcome = f"answered, {len(errors)} record(s)"
                except Exception as exc:
                    outcome = f"raised {type(exc).__name__}"
            row = f"{name:42} {failure:10} {model.calls:>5} {tools.n['good']:>5}"
            print(f"{row} {tools.n['flaky']:>5}  {outcome}")


if __name__ == "__main__":
    main()
