"""``RunnerMiddleware``: create_node's options for each model and tool call of a LangChain agent.

``create_agent(model, tools, middleware=[RunnerMiddleware(retry=3, timeout=30)])``
runs every model call and every tool call under the same engine as a node made
with ``create_node``: retry (``RetryConfig`` decisions, Retry-After), timeout,
circuit breaker, metrics, the loop guard, logs and redacted records. The
middleware's state schema adds the ``errors`` and ``routing_flags`` channels.

- A tool call that fails terminally is answered with an error ``ToolMessage`` for
  that call id alone (``status="error"``, the redacted failure) and a record
  marked ``recovered``: the model sees the failure and decides. Its other calls
  keep their results. ``tools={"name": {"on_error": "raise"}}`` lets the exception
  reach ToolNode's ``handle_tool_errors`` instead.
- A model call that fails terminally ends the agent: an ``AIMessage`` with the
  redacted error (no tool calls, so the loop stops), its record, and
  ``routing_flags["blocked"]``. ``model={"on_error": "raise"}`` raises instead.

Options are checked once, when the middleware is made, into a frozen
``RunnerMiddlewareConfig``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Annotated, Any

from langchain.agents.factory import DYNAMIC_TOOL_ERROR_TEMPLATE
from langchain.agents.middleware import AgentMiddleware, AgentState
from langchain.agents.middleware.types import ExtendedModelResponse, ModelResponse, OmitFromInput
from langchain.agents.structured_output import StructuredOutputError
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langgraph.types import Command
from typing_extensions import NotRequired

from langgraph_runner._node.agent_model import error_ai_message
from langgraph_runner._node.calls import CallGuard, tool_call_wrappers, update_of
from langgraph_runner._node.factory import node_factory
from langgraph_runner._records.egress import egress, egress_content
from langgraph_runner._state.added import added_errors
from langgraph_runner._state.bounded import DEFAULT_ERRORS_LIMIT
from langgraph_runner._state.channels import merge_flags
from langgraph_runner.agents._agent_shape import AgentShape, agent_shape
from langgraph_runner.agents._order import refuse_switched_off

__all__ = ["RunnerAgentState", "RunnerMiddleware", "RunnerMiddlewareConfig"]

MODEL_NODE = "model"
TOOLS_NODE = "tools"
_NOT_HERE = ("name", "cache", "fallback")


class RunnerAgentState(AgentState[Any]):
    """The agent state plus the channels records go to (with the package's reducers).

    Both are left out of the agent's input schema, and of its output and ``values``
    stream until a record or a flag is written: where nothing fails, the agent's
    output is what it was without the middleware.
    """

    errors: NotRequired[
        Annotated[list[dict[str, Any]], added_errors(DEFAULT_ERRORS_LIMIT), OmitFromInput]
    ]
    routing_flags: NotRequired[Annotated[dict[str, bool] | None, merge_flags, OmitFromInput]]


def _frozen(options: Mapping[str, Any] | None, where: str) -> Mapping[str, Any]:
    options = dict(options or {})
    for key in _NOT_HERE:
        if key in options:
            raise TypeError(f"RunnerMiddleware: {where}: {key!r} cannot be set per call")
    try:
        node_factory(**options)  # the same checks as create_node, errors naming the option
    except (TypeError, ValueError) as err:
        raise type(err)(f"RunnerMiddleware: {where}: {err}") from err
    return MappingProxyType(options)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunnerMiddlewareConfig:
    """What a ``RunnerMiddleware`` was made with, validated once (read-only).

    Attributes:
        defaults: ``create_node`` options for every model and tool call.
        model: Options for model calls, over ``defaults``.
        tools: Tool name -> options for that tool's calls, over ``defaults``.
        tool_defaults: Options for every tool call, over ``defaults``.
    """

    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    model: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    tools: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    tool_defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "defaults", _frozen(self.defaults, "defaults"))
        set_(self, "model", _frozen({**self.defaults, **self.model}, "model"))
        set_(self, "tool_defaults", _frozen({**self.defaults, **self.tool_defaults}, "tool"))
        tools = {}
        for tool, opts in dict(self.tools).items():
            tools[tool] = _frozen({**self.tool_defaults, **(opts or {})}, f"tool {tool!r}")
        set_(self, "tools", MappingProxyType(tools))


class RunnerMiddleware(AgentMiddleware[RunnerAgentState, Any, Any]):
    """A LangChain v1 agent middleware running each model and tool call like a hardened node.

    Example::

        agent = create_agent(
            model, tools,
            middleware=[RunnerMiddleware(retry=3, timeout=30, tools={"search": {"retry": 5}})],
        )

    Args:
        model: ``create_node`` options for model calls, over the defaults
            (``{"on_error": "raise"}`` raises instead of ending the agent).
        tools: Tool name -> options for that tool's calls, over ``tool_options``.
        tool_options: Options for every tool call, over the defaults.
        **defaults: ``create_node`` options for every call (``retry``, ``timeout``,
            ``circuit_breaker``, ``metrics``, ``max_consecutive_failures``,
            ``logger``, ``on_retry_attempt``, ``on_failure``, ``deadline``, ...);
            not ``name``, ``cache`` nor ``fallback``.

    Raises:
        TypeError: An unknown option, or one that cannot be set per call.
        ValueError: An option with a wrong value (the message names it).
    """

    state_schema = RunnerAgentState

    def __init__(
        self,
        *,
        model: Mapping[str, Any] | None = None,
        tools: Mapping[str, Mapping[str, Any]] | None = None,
        tool_options: Mapping[str, Any] | None = None,
        **defaults: Any,
    ) -> None:
        super().__init__()
        self.config = RunnerMiddlewareConfig(
            defaults=defaults,
            model=model or {},
            tools=tools or {},
            tool_defaults=tool_options or {},
        )
        self._model = CallGuard(MODEL_NODE, self.config.model, model=True)
        self._wrap, self._awrap = tool_call_wrappers(
            TOOLS_NODE, self.config.tool_defaults, self.config.tools
        )
        self._shapes: set[AgentShape] = set()

    # ------------------------------------------------------------ the agent being built

    @property
    def tools(self) -> list[BaseTool]:  # type: ignore[override]
        """No tools of its own. Read by ``create_agent`` while it builds the agent.

        Our tool-call wrapper is there to harden tool calls, never to run tools
        the agent does not have: an agent without tools gets no tools node from
        it (the middleware then wraps model calls only), and tools a
        ``wrap_model_call`` adds that no tool runs are refused as without it.
        """
        shape = agent_shape(self)
        if shape is not None:
            refuse_switched_off(self.config, shape.outer)
            self._shapes.add(shape)
            if type(self) in (RunnerMiddleware, _ModelCallsOnly):
                model_only = not shape.has_tools_node and len(self._shapes) == 1
                self.__class__ = _ModelCallsOnly if model_only else RunnerMiddleware
        return []

    def _refuse_unknown_tools(self, request: Any) -> None:
        """``create_agent``'s refusal of tools nothing runs, which our tool wrapper turns off."""
        if len(self._shapes) != 1:
            return  # not built by create_agent, or by several: LangChain's rules apply
        (shape,) = self._shapes
        if shape.other_wrappers:
            return  # another middleware may run them
        unknown = [
            tool.name
            for tool in getattr(request, "tools", None) or ()
            if isinstance(tool, BaseTool) and tool.name not in shape.tool_names
        ]
        if unknown:
            raise ValueError(
                DYNAMIC_TOOL_ERROR_TEMPLATE.format(
                    unknown_tool_names=unknown, available_tool_names=sorted(shape.tool_names)
                )
            )

    # ------------------------------------------------------------------ model calls

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Run the model call (every attempt) under the model options.

        A structured answer that does not validate (``StructuredOutputError``) is no
        failure of the call: it leaves at once, neither retried nor recorded, for
        ``ToolStrategy(handle_errors=...)`` or a retry middleware to handle.
        """
        self._refuse_unknown_tools(request)

        def attempt(r: Any) -> Any:
            try:
                return handler(r)
            except StructuredOutputError as exc:
                return _Invalid(exc)

        result = self._model.call(request, attempt, None)
        if isinstance(result, _Invalid):
            raise result.error
        update = update_of(result)
        return result if update is None else _model_failed(update)

    async def awrap_model_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """The async ``wrap_model_call``."""
        self._refuse_unknown_tools(request)

        async def attempt(r: Any) -> Any:
            try:
                return await handler(r)
            except StructuredOutputError as exc:
                return _Invalid(exc)

        result = await self._model.acall(request, attempt, None)
        if isinstance(result, _Invalid):
            raise result.error
        update = update_of(result)
        return result if update is None else _model_failed(update)

    # ------------------------------------------------------------------ tool calls

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Run one tool call under its tool's options; a terminal failure answers that call."""
        return _redacted(self._wrap(request, handler))

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """The async ``wrap_tool_call``."""
        return _redacted(await self._awrap(request, handler))


class _Invalid:
    """A structured answer that did not validate, carried past the engine unretried."""

    __slots__ = ("error",)

    def __init__(self, error: StructuredOutputError) -> None:
        self.error = error


class _ModelCallsOnly(RunnerMiddleware):
    """A ``RunnerMiddleware`` in an agent without tools: no tool-call wrapper to declare."""

    wrap_tool_call = AgentMiddleware.wrap_tool_call
    awrap_tool_call = AgentMiddleware.awrap_tool_call


# Its hooks are named after the class in traces: keep RunnerMiddleware's name.
_ModelCallsOnly.__name__ = _ModelCallsOnly.__qualname__ = RunnerMiddleware.__name__


def _redacted(result: Any) -> Any:
    """An error ToolMessage (ours, or an inner middleware's such as ToolRetryMiddleware)
    with secrets redacted, whatever its content: text or a list of content blocks."""
    if isinstance(result, ToolMessage) and result.status == "error":
        clean = egress_content(result.content)
        if clean is not result.content:
            return result.model_copy(update={"content": clean})
    return result


def _model_failed(update: dict[str, Any]) -> Any:
    """A recorded model failure: an AIMessage without tool calls ends the agent."""
    message = egress(error_ai_message(update.get("errors") or []), max_length=2000)
    return ExtendedModelResponse(
        model_response=ModelResponse(result=[message]), command=Command(update=update)
    )
