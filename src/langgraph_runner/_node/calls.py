"""One model or tool call under ``create_node``'s engine (the pieces behind agents).

A ToolNode runs every tool call of the last AI message; hardening the whole node
would re-run the calls that succeeded when one fails, and give the model no answer
for the failed one. ``CallGuard`` runs the engine (retry, timeout, breaker,
metrics, loop guard, logs, records) around one ``handler(request)`` instead: the
request and its handler are the "state" of a small node body that calls one with
the other. ``tool_call_wrappers`` makes ToolNode's ``wrap_tool_call`` pair out of
it (one guard per tool name), ``harden_tool_node`` a hardened copy of a ToolNode.

A tool call that fails terminally is answered with an error ``ToolMessage`` for
its call id alone (``status="error"``, the redacted failure) plus its record
(``recovered``: the model sees the failure and decides); ``on_error="raise"``
lets the exception reach ToolNode's own ``handle_tool_errors`` instead.

A model call's attempt that fails after streaming tokens is followed by a custom
stream event ``{"event": "langgraph_runner.discarded_message", "message_ids":
[...]}`` naming the messages those tokens belonged to, so a UI can drop them.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config
from langgraph.types import Command

from langgraph_runner._internal.compat import copy_injected_args, tool_node_parts
from langgraph_runner._node.factory import create_node, node_factory
from langgraph_runner._policies.context import get_node_context
from langgraph_runner._records.egress import egress_error

__all__ = [
    "DISCARDED_EVENT",
    "CallGuard",
    "error_text",
    "harden_tool_node",
    "tool_call_wrappers",
    "update_of",
]

ERROR_MESSAGE_LENGTH = 500


def error_text(error: BaseException | None) -> str:
    """``"Error: <Type>: <redacted message>"``, what the model is shown of a failure."""
    return f"Error: {egress_error(error, max_length=ERROR_MESSAGE_LENGTH)}"


def _sync_body(state: tuple[Any, Callable[[Any], Any]]) -> Any:
    request, handler = state
    return handler(request)


async def _async_body(state: tuple[Any, Callable[[Any], Awaitable[Any]]]) -> Any:
    request, handler = state
    return await handler(request)


# A model call's attempt that fails after streaming tokens: the engine (its loop,
# _engine/streamed.py) writes the discarded_message event when the run streams
# "messages", for these calls as for any wrapped node.
DISCARDED_EVENT = "langgraph_runner.discarded_message"  # _engine.streamed.DISCARDED_EVENT


class CallGuard:
    """``create_node``'s engine around single calls of one kind (a model, a tool).

    Args:
        name: The name records, logs and metrics give these calls.
        options: ``create_node`` options (``name`` and ``cache`` excepted).
    """

    __slots__ = ("_async", "_sync", "name")

    def __init__(self, name: str, options: Mapping[str, Any], *, model: bool = False) -> None:
        opts = dict(options)
        if "cache" in opts and opts["cache"] is not None:
            raise ValueError(f"{name}: cache is not supported per model or tool call")
        opts.pop("cache", None)
        self.name = name
        self._sync: Any = create_node(_sync_body, name=name, **opts)
        self._async: Any = create_node(_async_body, name=name, **opts)

    def call(self, request: Any, handler: Callable[[Any], Any], config: Any) -> Any:
        """``handler(request)`` with retries etc.; a failure's update dict when recorded."""
        return self._sync.invoke((request, handler), _config(config))

    async def acall(
        self, request: Any, handler: Callable[[Any], Awaitable[Any]], config: Any
    ) -> Any:
        """The async ``call``."""
        return await self._async.ainvoke((request, handler), _config(config))


def _config(config: Any) -> RunnableConfig:
    if config is not None:
        return cast("RunnableConfig", config)
    try:
        from langgraph.config import get_config

        return get_config()
    except RuntimeError:  # outside a graph run
        return ensure_config()


def update_of(result: Any) -> dict[str, Any] | None:
    """The update dict of a recorded failure (``errors`` in it), else None."""
    if isinstance(result, dict) and "errors" in result:
        return result
    return None


def _tool_answer(request: Any, update: dict[str, Any], messages_key: str) -> Command[Any]:
    """The recorded failure of one tool call as ToolNode's output for that call."""
    ctx_error = update.pop("_error", None)
    call = request.tool_call
    message = ToolMessage(
        content=ctx_error if isinstance(ctx_error, str) else error_text(None),
        name=call["name"],
        tool_call_id=str(call["id"]),
        status="error",
    )
    update.pop("routing_flags", None)  # the model is told: the path is not blocked
    return Command(update={**update, messages_key: [message]})


def _fallback(state: Any) -> dict[str, Any]:
    ctx = get_node_context()
    return {"_error": error_text(ctx.primary_error if ctx is not None else None)}


MAX_TOOL_GUARDS = 1000
"""Most tool names that get a guard of their own; further names share ``UNKNOWN_TOOL``'s."""
UNKNOWN_TOOL = "unknown_tool"
"""The guard of tool names the tools node does not have (a model may invent any number)."""


class _ToolGuards:
    """One ``CallGuard`` per tool name, made on first use. A name the tools node does not
    have (``request.tool is None``: the model invented it) and every name past
    ``MAX_TOOL_GUARDS`` share one guard, so invented names cannot grow memory."""

    def __init__(
        self, node: str, defaults: Mapping[str, Any], per_tool: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self.node = node
        self.defaults = dict(defaults)
        self.per_tool = {k: dict(v) for k, v in per_tool.items()}
        node_factory(**self.defaults)  # validated once, errors naming the option
        self._guards: dict[str, CallGuard] = {}
        self._lock = threading.Lock()
        for tool in self.per_tool:
            self.get(tool)

    def of(self, request: Any) -> CallGuard:
        """The guard of a ToolNode request's tool."""
        tool = str(request.tool_call["name"])
        if getattr(request, "tool", True) is None and tool not in self.per_tool:
            tool = UNKNOWN_TOOL
        return self.get(tool)

    def get(self, tool: str) -> CallGuard:
        guard = self._guards.get(tool)
        if guard is not None:
            return guard
        with self._lock:
            guard = self._guards.get(tool)
            if guard is None and len(self._guards) >= MAX_TOOL_GUARDS:
                tool = UNKNOWN_TOOL
                guard = self._guards.get(tool)
            if guard is None:
                options = {**self.defaults, **self.per_tool.get(tool, {})}
                if options.get("on_error", "record") == "record":
                    options.setdefault("fallback", _fallback)
                guard = CallGuard(f"{self.node}.{tool}", options)
                self._guards[tool] = guard
            return guard


def tool_call_wrappers(
    node: str,
    defaults: Mapping[str, Any],
    per_tool: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    messages_key: str = "messages",
    inner: Any = None,
    ainner: Any = None,
) -> tuple[Callable[..., Any], Callable[..., Awaitable[Any]]]:
    """ToolNode's ``(wrap_tool_call, awrap_tool_call)``: each call hardened on its own.

    Args:
        node: The tools node's name; records name ``<node>.<tool>``.
        defaults: ``create_node`` options for every tool.
        per_tool: Tool name -> options merged over ``defaults``.
        messages_key: Where the error ``ToolMessage`` goes.
        inner: A wrapper the ToolNode already had (middleware), run inside ours.
        ainner: Its async form.
    """
    guards = _ToolGuards(node, defaults, per_tool or {})

    def run_inner(request: Any, execute: Callable[[Any], Any]) -> Any:
        return inner(request, execute) if inner is not None else execute(request)

    async def arun_inner(request: Any, execute: Callable[[Any], Awaitable[Any]]) -> Any:
        if ainner is not None:
            return await ainner(request, execute)
        if inner is not None:  # ToolNode's own fallback: a sync wrapper, sync execution
            raise RuntimeError("unreachable: sync wrapper under awrap")  # pragma: no cover
        return await execute(request)

    def wrap(request: Any, execute: Callable[[Any], Any]) -> Any:
        guard = guards.of(request)
        result = guard.call(request, lambda r: run_inner(r, execute), _tool_config(request))
        update = update_of(result)
        return result if update is None else _tool_answer(request, update, messages_key)

    async def awrap(request: Any, execute: Callable[[Any], Awaitable[Any]]) -> Any:
        guard = guards.of(request)
        result = await guard.acall(request, lambda r: arun_inner(r, execute), _tool_config(request))
        update = update_of(result)
        return result if update is None else _tool_answer(request, update, messages_key)

    return wrap, awrap


def _tool_config(request: Any) -> Any:
    runtime = getattr(request, "runtime", None)
    return getattr(runtime, "config", None)


def harden_tool_node(tool_node: Any, node: str, options: Mapping[str, Any]) -> Any:
    """A copy of ``tool_node`` whose every tool call runs under ``options``.

    The copy keeps the tools, the name, tags, ``handle_tool_errors``, the messages
    key and a wrapper it already had (create_agent's middleware), which runs inside
    ours so that our retries see what that middleware made of each attempt.
    """
    from langgraph.prebuilt import ToolNode

    parts = tool_node_parts(tool_node)
    inner, ainner = parts.wrap_tool_call, parts.awrap_tool_call
    if inner is not None and ainner is None:
        # ToolNode runs a sync-only wrapper under ainvoke with a sync execute: keep that.
        wrap, _ = tool_call_wrappers(node, options, messages_key=parts.messages_key, inner=inner)
        awrap = None
    else:
        wrap, awrap = tool_call_wrappers(
            node, options, messages_key=parts.messages_key, inner=inner, ainner=ainner
        )
    copy = ToolNode(
        list(tool_node.tools_by_name.values()),
        name=tool_node.name or "tools",
        tags=tool_node.tags,
        handle_tool_errors=parts.handle_tool_errors,
        messages_key=parts.messages_key,
        wrap_tool_call=wrap,
        awrap_tool_call=awrap,
    )
    copy_injected_args(tool_node, copy)
    return copy
