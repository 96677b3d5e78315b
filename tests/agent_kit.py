"""Shared pieces for agent-shaped tests: a fake tool-calling model, a state, stream comparison."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import tool
from langgraph.graph import MessagesState

from langgraph_runner._state.channels import append_errors, merge_flags

MODES3 = ["updates", "messages", "values"]


class AgentState(MessagesState):
    """MessagesState plus the two channels wrapped nodes record into."""

    errors: Annotated[list[dict[str, Any]], append_errors]
    routing_flags: Annotated[dict[str, bool], merge_flags]


class ToolCallingFake(FakeMessagesListChatModel):
    """FakeMessagesListChatModel that accepts bind_tools (the tools are ignored)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        return self


def call(name: str, args: dict[str, Any], call_id: str, msg_id: str) -> AIMessage:
    """An AI message asking for one tool call."""
    return AIMessage(
        id=msg_id, content="", tool_calls=[{"name": name, "args": args, "id": call_id}]
    )


def fake_model(*responses: BaseMessage) -> ToolCallingFake:
    """A fresh fake model that answers with ``responses`` in order (then cycles)."""
    return ToolCallingFake(responses=list(responses))


# UUIDs (run, task and message ids) and 32-hex digests (interrupt ids) vary per run.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")


def normalized(chunks: Any) -> str:
    """``repr`` of streamed chunks with every id replaced by its order of appearance."""
    seen: dict[str, str] = {}
    return _UUID.sub(lambda m: seen.setdefault(m.group(), f"<id{len(seen)}>"), repr(chunks))


def same_stream(make: Callable[[bool], Any], run: Callable[[Any], Any]) -> tuple[str, str]:
    """(unwrapped, wrapped) normalized outputs of ``run(make(wrapped))``."""
    return normalized(run(make(False))), normalized(run(make(True)))


Step = BaseMessage | BaseException | Callable[[list[BaseMessage]], BaseMessage]


class Broken(Exception):
    """A script step: stream ``text`` word by word, then raise ``error``."""

    def __init__(self, text: str, error: BaseException, msg_id: str) -> None:
        super().__init__(text)
        self.text, self.error, self.msg_id = text, error, msg_id


class ScriptedModel(BaseChatModel):
    """A chat model following a script, for real agents (create_agent, create_react_agent).

    Each call takes the next step: an AIMessage (copied with a fresh id ``<prefix><n>``
    unless it has one, tool calls kept, so parallel calls are several ``tool_calls``), an
    exception to raise, or a function of the messages. After the script the last step
    repeats. ``bind_tools`` returns the model itself; ``calls`` counts calls (attempts).
    Streaming yields the content word by word, then the tool calls.
    """

    script: list[Any]
    prefix: str = "ai"
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        return self

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(step, Broken):
            raise step.error
        if isinstance(step, BaseException):
            raise step
        msg = step(messages) if callable(step) and not isinstance(step, BaseMessage) else step
        assert isinstance(msg, AIMessage)
        return msg.model_copy(update={"id": msg.id or f"{self.prefix}{self.calls}"})

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        step = self.script[min(self.calls, len(self.script) - 1)]
        if isinstance(step, Broken):
            self.calls += 1
            for i, word in enumerate(step.text.split(" ")):
                text = word if i == 0 else " " + word
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text, id=step.msg_id))
                if run_manager is not None:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
            raise step.error
        msg = self._next(messages)
        words = str(msg.content).split(" ") if msg.content else []
        for i, word in enumerate(words):
            text = word if i == 0 else " " + word
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=text, id=msg.id))
            if run_manager is not None:
                run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk
        if msg.tool_calls or not words:
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    id=msg.id,
                    tool_call_chunks=[
                        {
                            "name": tc["name"],
                            "args": json.dumps(tc["args"]),
                            "id": tc["id"],
                            "index": i,
                            "type": "tool_call_chunk",
                        }
                        for i, tc in enumerate(msg.tool_calls)
                    ],
                )
            )


def calls(*specs: tuple[str, dict[str, Any], str]) -> AIMessage:
    """An AI message asking for several tool calls at once: (name, args, call id) each."""
    return AIMessage(content="", tool_calls=[{"name": n, "args": a, "id": i} for n, a, i in specs])


def scripted(*steps: Any, prefix: str = "ai") -> ScriptedModel:
    """A ScriptedModel with ``steps``."""
    return ScriptedModel(script=list(steps), prefix=prefix)


TOOL_SECRET = "sk-abcdefghijklmnopqrstuvwx"
"""The secret ``CountingTools``' failing tool puts in its error text."""


class CountingTools:
    """``good`` always works; ``flaky`` fails its first ``fails`` calls, a secret in the text.

    ``n`` counts each tool's calls; ``tools`` is the list to give an agent.
    """

    def __init__(self, fails: int) -> None:
        self.fails = fails
        self.n = {"good": 0, "flaky": 0}

        @tool
        def good(x: int) -> str:
            """Always works."""
            self.n["good"] += 1
            return f"good {x}"

        @tool
        def flaky(x: int) -> str:
            """Fails its first calls."""
            self.n["flaky"] += 1
            if self.n["flaky"] <= self.fails:
                raise ConnectionError(f"GET /v1?api_key={TOOL_SECRET}: down")
            return "flaky ok"

        self.tools = [good, flaky]


def parallel_model() -> ScriptedModel:
    """A model that asks for ``good`` and ``flaky`` in parallel, then answers "done"."""
    return scripted(
        calls(("good", {"x": 1}, "c1"), ("flaky", {"x": 2}, "c2")), AIMessage(content="done")
    )
