"""What ``create_agent`` is building, seen by a middleware while it is being built.

LangChain's ``create_agent`` treats every middleware that defines
``wrap_tool_call`` as a handler of dynamic tools: it gives an agent without tools
a tools node anyway, and stops refusing tools that a ``wrap_model_call`` adds but
nothing can run (``ValueError`` "Middleware added tools ..."). ``RunnerMiddleware``
wraps tool calls only to harden them, so it must change neither. ``create_agent``
reads each middleware's ``tools`` before it looks for tool wrappers; at that
moment the middleware reads the tools and middleware ``create_agent`` was given
(from its frame: LangChain offers no hook for it) and records the agent's shape.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware

__all__ = ["AgentShape", "agent_shape", "wraps_tool_calls"]

_FRAMES = 4  # create_agent -> (its list comprehension before Python 3.12) -> tools -> here


@dataclasses.dataclass(frozen=True)
class AgentShape:
    """The agent ``create_agent`` is building.

    Attributes:
        tool_names: The tools it runs itself (its ``tools`` and the middleware's).
        other_wrappers: Whether another middleware wraps tool calls.
        outer: The middleware listed before this one (outside it), in order.
    """

    tool_names: frozenset[str]
    other_wrappers: bool
    outer: tuple[Any, ...] = ()

    @property
    def has_tools_node(self) -> bool:
        """Whether the agent has a tools node without a wrapper of ours."""
        return bool(self.tool_names) or self.other_wrappers


def wraps_tool_calls(middleware: Any) -> bool:
    """What ``create_agent`` checks: the middleware's class defines a tool-call wrapper."""
    cls = type(middleware)
    return bool(
        cls.wrap_tool_call is not AgentMiddleware.wrap_tool_call
        or cls.awrap_tool_call is not AgentMiddleware.awrap_tool_call
    )


def _tool_name(tool: Any) -> str | None:
    name = getattr(tool, "name", None)
    if isinstance(name, str):
        return name
    name = getattr(tool, "__name__", None)  # a function: ToolNode names it so
    return name if isinstance(name, str) else None


def _create_agent_code() -> Any:
    factory = sys.modules.get("langchain.agents.factory")
    create = getattr(factory, "create_agent", None)
    return None if create is None else inspect.unwrap(create).__code__


def agent_shape(middleware: Any) -> AgentShape | None:
    """The shape of the agent ``create_agent`` is building with ``middleware``, if it is.

    Returns:
        None when not called (indirectly) by ``create_agent`` reading the
        middleware's ``tools``.
    """
    code = _create_agent_code()
    frame = sys._getframe(1)
    for _ in range(_FRAMES):
        frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            return None
        if frame.f_code is code:
            break
    else:
        return None
    local = frame.f_locals
    tools: Sequence[Any] = local.get("tools") or ()
    listed: Sequence[Any] = list(local.get("middleware") or ())
    others: Sequence[Any] = [m for m in listed if m is not middleware]
    mine = next((i for i, m in enumerate(listed) if m is middleware), len(listed))
    names = {_tool_name(t) for t in tools if not isinstance(t, dict)}
    for other in others:
        names.update(_tool_name(t) for t in getattr(other, "tools", None) or ())
    names.discard(None)
    return AgentShape(
        tool_names=frozenset(n for n in names if n is not None),
        other_wrappers=any(wraps_tool_calls(m) for m in others),
        outer=tuple(listed[:mine]),
    )
