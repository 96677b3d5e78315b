"""The table of LangChain middleware listed before and after ``RunnerMiddleware`` (docs/agents.md).

Each LangChain middleware is run in a small agent (a fake model, a tool that fails,
``RunnerMiddleware(retry=2)`` in record mode) in both orders, and what happened is
measured: whether the agent could be built, how it ended, how many model calls and
tool runs it made, how many records ours wrote, and what the middleware itself did.

    .venv/bin/python scripts/agent_middleware_table.py          # print the table
    .venv/bin/python scripts/agent_middleware_table.py --write  # update docs/agents.md

tests/agents/test_middleware_pairs.py runs the same pairs and checks that the table
in docs/agents.md is the one this script makes.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import (
    AgentMiddleware,
    HumanInTheLoopMiddleware,
    ModelCallLimitMiddleware,
    ModelFallbackMiddleware,
    ModelRetryMiddleware,
    PIIMiddleware,
    SummarizationMiddleware,
    ToolCallLimitMiddleware,
    ToolRetryMiddleware,
)
from langchain.agents.structured_output import StructuredOutputError, ToolStrategy
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from pydantic import BaseModel

from langgraph_runner.agents import RunnerMiddleware
from langgraph_runner.testing import no_wait

DOC = Path(__file__).resolve().parent.parent / "docs" / "agents.md"
START = "<!-- middleware-table:start (scripts/agent_middleware_table.py --write) -->"
END = "<!-- middleware-table:end -->"
EMAIL = "alice@example.com"


class Model(BaseChatModel):
    """A fake chat model following a script (an exception in it is raised)."""

    script: list[Any]
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kw: Any,
    ) -> ChatResult:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(step, BaseException):
            raise step
        return ChatResult(generations=[ChatGeneration(message=step)])


def _asks(tool_name: str) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": tool_name, "args": {"q": "x"}, "id": "call-1"}])


class _Tool:
    """A tool failing ``fails`` times (ConnectionError), then answering."""

    def __init__(self, fails: int) -> None:
        self.runs = 0
        self.fails = fails

        @tool
        def flaky(q: str) -> str:
            """A tool."""
            self.runs += 1
            if self.runs <= self.fails:
                raise ConnectionError("backend down")
            return "ok"

        self.tool = flaky


class StructuredOutputRetry(AgentMiddleware):
    """LangChain's documented structured-output retry (a wrap_model_call loop)."""

    def __init__(self) -> None:
        super().__init__()
        self.retries = 0

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        for attempt in range(3):
            try:
                return handler(request)
            except StructuredOutputError as exc:
                if attempt == 2:
                    raise
                self.retries += 1
                request.messages.append(HumanMessage(f"Error: {exc}. Please try again."))
        return handler(request)


class Weather(BaseModel):
    """A weather report."""

    temperature: float


def _weather(args: dict[str, Any]) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": "Weather", "args": args, "id": "w-1"}])


# --------------------------------------------------------------------------- scenarios
# Each returns (middleware, model, tools, extra create_agent kwargs, run, facts): run(agent)
# runs it; facts() reads what the middleware did once it ran.


def _model_retry() -> Any:
    model = Model(script=[ConnectionError("down")])
    return ModelRetryMiddleware(max_retries=1, initial_delay=0, jitter=False), model, [], {}, None


def _model_fallback() -> Any:
    backup = Model(script=[AIMessage("from backup")])
    model = Model(script=[ConnectionError("down")])
    return ModelFallbackMiddleware(backup), model, [], {}, lambda: {"backup calls": backup.calls}


def _tool_retry() -> Any:
    t = _Tool(fails=99)
    model = Model(script=[_asks("flaky"), AIMessage("done")])
    mw = ToolRetryMiddleware(max_retries=1, initial_delay=0, jitter=False)
    return mw, model, [t], {}, None


def _tool_error() -> Any:
    from langchain.agents import middleware

    t = _Tool(fails=99)
    model = Model(script=[_asks("flaky"), AIMessage("done")])
    seen: list[str] = []

    def on_error(exc: Exception, request: Any) -> str:
        seen.append(type(exc).__name__)
        return f"handled: {type(exc).__name__}"

    mw = middleware.ToolErrorMiddleware(on_error)
    return mw, model, [t], {}, lambda: {"handled": len(seen)}


def _human_review() -> Any:
    t = _Tool(fails=1)
    model = Model(script=[_asks("flaky"), AIMessage("done")])
    mw = HumanInTheLoopMiddleware({"flaky": True}, interrupt_mode="per_call")
    return mw, model, [t], {"checkpointer": InMemorySaver()}, None


def _structured_output() -> Any:
    mw = StructuredOutputRetry()
    model = Model(script=[_weather({"temperature": "hot"}), _weather({"temperature": 21.5})])
    kwargs = {"response_format": ToolStrategy(Weather, handle_errors=False)}
    return mw, model, [], kwargs, lambda: {"their retries": mw.retries}


def _pii() -> Any:
    model = Model(script=[ConnectionError(f"account {EMAIL} locked")])
    mw = PIIMiddleware("email", apply_to_output=True)
    return mw, model, [], {}, None


def _summarization() -> Any:
    summarizer = Model(script=[AIMessage("summary")])
    model = Model(script=[ConnectionError("down"), AIMessage("done")])
    mw = SummarizationMiddleware(summarizer, trigger=("messages", 1), keep=("messages", 1))
    return mw, model, [], {}, lambda: {"summaries": summarizer.calls}


def _model_call_limit() -> Any:
    t = _Tool(fails=0)
    model = Model(script=[ConnectionError("down"), _asks("flaky"), AIMessage("done")])
    return ModelCallLimitMiddleware(run_limit=2, exit_behavior="end"), model, [t], {}, None


def _tool_call_limit() -> Any:
    t = _Tool(fails=1)
    model = Model(script=[_asks("flaky"), _asks("flaky"), AIMessage("done")])
    return ToolCallLimitMiddleware(run_limit=1, exit_behavior="continue"), model, [t], {}, None


SCENARIOS: dict[str, tuple[str, Callable[[], Any]]] = {
    "ModelRetryMiddleware": ("the model always fails", _model_retry),
    "ModelFallbackMiddleware": ("the model always fails; the backup answers", _model_fallback),
    "ToolRetryMiddleware": ("the tool always fails", _tool_retry),
    "ToolErrorMiddleware": ("the tool always fails", _tool_error),
    "HumanInTheLoopMiddleware (per call)": ("the tool fails once; approved", _human_review),
    "structured-output retry (wrap_model_call)": (
        "the first structured answer is invalid",
        _structured_output,
    ),
    "PIIMiddleware (output)": ("the model fails with an e-mail address in the error", _pii),
    "SummarizationMiddleware": ("the model fails once", _summarization),
    "ModelCallLimitMiddleware (run 2)": ("the model fails once", _model_call_limit),
    "ToolCallLimitMiddleware (run 1)": ("the tool fails once", _tool_call_limit),
}
ORDERS = ("theirs first", "ours first")
REFUSED = "refused when the agent is built: list it after ours, or `on_error='raise'` for ours"
QUESTION = [HumanMessage("hi"), AIMessage("hello"), HumanMessage("how are you?")]


def _run(agent: Any, config: dict[str, Any]) -> tuple[Any, int]:
    """The final state and how many reviews (interrupts) were answered."""
    out = agent.invoke({"messages": list(QUESTION)}, config)
    reviews = 0
    while out.get("__interrupt__") and reviews < 5:
        reviews += 1
        out = agent.invoke(Command(resume={"type": "approve"}), config)
    return out, reviews


def _ending(out: Any) -> str:
    last = out["messages"][-1]
    if out.get("structured_response") is not None:
        return "structured answer"
    if isinstance(last, AIMessage) and last.response_metadata.get("langgraph_runner"):
        return "ends with our error message"
    return "answers" if isinstance(last, AIMessage) and last.content else "ends"


def measure(name: str, order: str) -> str:
    """What happens with LangChain's ``name`` listed in ``order`` against ours."""
    _, make = SCENARIOS[name]
    theirs, model, tools, kwargs, facts = make()
    ours = RunnerMiddleware(retry=2)
    listed = [theirs, ours] if order == ORDERS[0] else [ours, theirs]
    try:
        agent = create_agent(model, [t.tool for t in tools], middleware=listed, **kwargs)
    except ValueError as err:
        if "is listed before RunnerMiddleware" in str(err):
            return REFUSED
        raise
    config = {"configurable": {"thread_id": f"{name}-{order}"}}
    try:
        out, reviews = _run(agent, config)
    except Exception as exc:
        return f"raises `{type(exc).__name__}`; model calls {model.calls}"
    parts = [_ending(out), f"model calls {model.calls}"]
    if tools:
        parts.append(f"tool runs {tools[0].runs}")
        errors = [m for m in out["messages"] if isinstance(m, ToolMessage) and m.status == "error"]
        if errors:
            parts.append(f"error answers {len(errors)}")
    parts.append(f"our records {len(out.get('errors', []))}")
    if reviews:
        parts.append(f"reviews {reviews}")
    if facts is not None:
        parts.extend(f"{k} {v}" for k, v in facts().items())
    if name.startswith("PIIMiddleware"):
        leaked = EMAIL in repr(out["messages"])
        parts.append("raw e-mail in the messages" if leaked else "no raw e-mail in the messages")
        if EMAIL in repr(out.get("errors")):
            parts.append("raw e-mail in our record")
    return "; ".join(parts)


def rows() -> list[tuple[str, str, str, str]]:
    """(middleware, scenario, order, what happened) for every pair."""
    out = []
    with warnings.catch_warnings(), no_wait():
        warnings.simplefilter("ignore")
        for name, (scenario, _) in SCENARIOS.items():
            for order in ORDERS:
                out.append((name, scenario, order, measure(name, order)))
    return out


def table() -> str:
    """The Markdown table docs/agents.md shows."""
    lines = [
        "| LangChain middleware | Scenario | Listed first | What happens |",
        "| --- | --- | --- | --- |",
    ]
    for name, scenario, order, what in rows():
        first = "theirs" if order == ORDERS[0] else "`RunnerMiddleware`"
        lines.append(f"| `{name}` | {scenario} | {first} | {what} |")
    return "\n".join(lines)


def in_doc(text: str) -> str:
    """The table between the markers of ``text``."""
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip()


def main(argv: list[str] | None = None) -> int:
    """Print the table, or write it into docs/agents.md with ``--write``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="update docs/agents.md")
    args = parser.parse_args(argv)
    made = table()
    if not args.write:
        print(made)
        return 0
    text = DOC.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    DOC.write_text(text[:start] + "\n" + made + "\n" + text[end:])
    print(f"updated {DOC.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
