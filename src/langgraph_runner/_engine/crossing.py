"""What crosses Temporal's data converter, turned back into LangGraph's types.

Temporal's LangGraph plugin hands an activity its input, and the workflow an
activity's result, as plain data (JSON by default): LangChain messages arrive as
dicts, and so do the ``Command`` items of a list result. ``revive`` turns an
activity's input back (``_engine/activity``'s bodies), ``commands_back`` a result
(its ``ActivityNode``, the one thing of ours that runs in the workflow: a pure
function). No Temporal import here.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import messages_from_dict
from langgraph.types import Command

__all__ = ["commands_back", "revive"]

_MESSAGE_TYPES = frozenset({"human", "ai", "tool", "system", "function", "chat"})


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") in _MESSAGE_TYPES and "content" in value


def revive(state: Any) -> Any:
    """``state`` with its lists of LangChain messages turned back from dicts into messages.

    Temporal's data converter hands an activity its input as plain data (the plugin's
    input is typed ``Any``): a ``ToolNode`` or a model node would find no ``AIMessage``.
    """
    if not isinstance(state, dict):
        return state
    out = None
    for key, value in state.items():
        if isinstance(value, list) and value and all(_is_message(v) for v in value):
            if out is None:
                out = dict(state)
            # Each message rebuilt from all its fields (convert_to_messages would move
            # the fields it does not know, such as usage_metadata, to additional_kwargs).
            out[key] = messages_from_dict([{"type": v["type"], "data": v} for v in value])
    return state if out is None else out


_COMMAND_KEYS = frozenset({"graph", "update", "resume", "goto"})


def _is_command(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() == _COMMAND_KEYS


def commands_back(result: Any) -> Any:
    """A list result's ``Command`` items, turned back from dicts into ``Command``.

    A ``ToolNode`` returns a list of updates and commands (a recorded tool failure is
    a ``Command``); the plugin turns a lone ``Command`` back, a list's items it leaves
    as the dicts the data converter made of them.
    """
    if not isinstance(result, list) or not any(_is_command(r) for r in result):
        return result
    return [Command(**r) if _is_command(r) else r for r in result]
