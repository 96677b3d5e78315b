"""Shared pieces for agent-shaped tests: a fake tool-calling model, a state, stream comparison."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
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
