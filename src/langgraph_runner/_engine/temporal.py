"""A wrapped node as the body of a Temporal activity (``langgraph_runner.temporal``).

Temporal's LangGraph plugin runs a node's function as an activity. Here that
function is one of ours, built from the node's spec:

- ``retries="temporal"``: each activity attempt is one attempt of the node. After
  a failure the node's own policy decides as it does in-process (classifier,
  schedule with jitter, Retry-After, deadline), with the activity's attempt
  number as the attempt: a retry is handed to Temporal as an ``ApplicationError``
  whose ``next_retry_delay`` is the policy's delay; the end of the call (last
  attempt, or an error not retried) is the node's terminal failure, recorded
  (record mode, the activity succeeds) or raised as non-retryable.
- ``retries="runner"``: the node's whole retry loop runs inside one activity
  attempt (Temporal's own attempts are set to 1 by the caller).

A node the package did not build gets ``foreign_body``: the node as LangGraph runs
it. Either body turns message dicts in its input back into messages (``revive``),
runs with the config the plugin rebuilt in the activity, and heartbeats while the
node runs when the activity has a heartbeat timeout. In the workflow, the node is an
``ActivityNode``: the plugin swaps its ``afunc`` for the activity call, and its
``ainvoke`` turns a list result's ``Command`` dicts back into commands.

The temporalio package is imported only here, and only this module's caller
(``langgraph_runner.temporal``) imports it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from langchain_core.messages import messages_from_dict
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langgraph.types import Command
from temporalio import activity
from temporalio.exceptions import ApplicationError
from tenacity import RetryCallState

from langgraph_runner._engine.call import Call
from langgraph_runner._engine.loop import AsyncEntry, _async_loop, _cached_async, make_entries
from langgraph_runner._engine.policy import Policy, Retry
from langgraph_runner._engine.spec import NodeSpec
from langgraph_runner._internal import compat as _compat
from langgraph_runner._records.classify import is_control_flow
from langgraph_runner._records.egress import egress_text

__all__ = [
    "ActivityNode",
    "activity_body",
    "commands_back",
    "foreign_body",
    "revive",
    "spec_of",
]

ActivityBody = Callable[..., Awaitable[Any]]

# Whether asyncio tasks take a context (3.11+): LangGraph then sets a node's config as
# the context of its task; before, ActivityNode sets it for the plugin.
_ASYNC_CONTEXT = sys.version_info >= (3, 11)


def spec_of(node: Any) -> NodeSpec | None:
    """The spec whose async entry runs ``node`` (None for a node we did not build)."""
    found = getattr(node, "langgraph_runner_async_spec", None)
    if found is None:
        found = getattr(node, "langgraph_runner_spec", None)
    return found if isinstance(found, NodeSpec) else None


def _attempt() -> int:
    """The activity's attempt number (1 outside an activity)."""
    try:
        return max(int(activity.info().attempt), 1)
    except RuntimeError:  # not in an activity (a direct call)
        return 1


def _message(exc: BaseException) -> str:
    """The failure's message as it may leave the process (redacted, capped)."""
    return egress_text(str(exc), max_length=500)


class _HandOff(Policy):
    """The node's policy, asked at the activity's attempt; a retry goes to Temporal."""

    __slots__ = ("_spec",)

    def __init__(self, spec: NodeSpec) -> None:
        super().__init__(spec.retry)
        self._spec = spec

    def decide(
        self, call: Call, state: RetryCallState | None, exc: BaseException
    ) -> Retry | BaseException:
        attempt = _attempt()
        if call.attempt != attempt:
            call.next_attempt(attempt)
        if state is None:
            state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]  # no Retrying
            state.attempt_number = attempt
        step = super().decide(call, state, exc)
        if not isinstance(step, Retry):
            return step
        if call.metrics is not None:
            call.report("record_retry", call.attempt)
        if self._spec.log.enabled(logging.WARNING):
            call.event(
                logging.WARNING,
                "node.retrying",
                next_delay=round(step.delay, 3),
                error_type=type(exc).__name__,
                retried_by="temporal",
            )
        # Under testing.no_wait() the wait is 0: Temporal is asked for 1 ms.
        delay = max(step.wait, 0.001)
        # from None: Temporal stores an exception's cause chain (messages, stacks) in
        # the workflow history; only the redacted message may leave the process.
        raise ApplicationError(
            _message(exc), type=type(exc).__name__, next_retry_delay=timedelta(seconds=delay)
        ) from None


async def _beat(every: float) -> None:
    while True:
        await asyncio.sleep(every)
        activity.heartbeat()


def _liveness() -> asyncio.Task[None] | None:
    """With a heartbeat timeout, heartbeats three times per timeout while the node runs.

    They tell Temporal the worker is alive (a lost worker's activity is retried after
    the heartbeat timeout, not the start-to-close one) and are how a cancellation
    reaches the activity: Temporal cancels the node's task on its next heartbeat.
    """
    try:
        timeout = activity.info().heartbeat_timeout
    except RuntimeError:  # not in an activity
        return None
    if not timeout:
        return None
    return asyncio.ensure_future(_beat(timeout.total_seconds() / 3))


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


def _config(config: RunnableConfig | None) -> RunnableConfig | None:
    """The config the plugin rebuilt in the activity (with a Runtime), else ``config``."""
    current = var_child_runnable_config.get()
    return current if current else config


def activity_body(name: str, node: Any, spec: NodeSpec, *, temporal_retries: bool) -> ActivityBody:
    """The async function the plugin registers as the activity of node ``name``.

    Its ``__module__``/``__qualname__`` (the plugin's task id, the key of its result
    cache across continue-as-new) are the node function's module and the node name:
    the same on every worker, and never a ``<locals>`` path (which the plugin refuses).
    What the node does with its entries' results (an agent's model node adds the error
    message to a recorded failure) is done to the activity's result too.
    """
    hook = getattr(node, "langgraph_runner_result_hook", None)
    entry: AsyncEntry
    if temporal_retries:
        loop = _async_loop(spec, _HandOff(spec))
        if spec.cache is None:

            async def one_attempt(state: Any, config: RunnableConfig | None) -> Any:
                call = Call(spec, config)
                attempt = _attempt()
                if attempt > 1:
                    call.next_attempt(attempt)
                return await loop(state, config, call)

            entry = one_attempt

        else:  # the cache wraps the loop; the policy sets the attempt number
            entry = _cached_async(spec, loop)
    else:
        entry = make_entries(spec)[1]

    async def body(state: Any, config: RunnableConfig) -> Any:
        beats = _liveness()
        try:
            result = await entry(revive(state), _config(config))
            return result if hook is None else hook(result)
        except ApplicationError:
            raise  # a retry handed to Temporal
        except Exception as exc:
            if is_control_flow(exc):
                raise  # interrupt(), Command.PARENT: the plugin carries them back
            # The node's terminal failure (raise mode): Temporal must not run it again.
            raise ApplicationError(
                _message(exc), type=type(exc).__name__, non_retryable=True
            ) from None
        finally:
            if beats is not None:
                beats.cancel()

    _named(body, name, spec.fn)
    return body


def _named(body: Any, name: str, fn: Any) -> None:
    body.__name__ = name
    body.__qualname__ = f"langgraph_runner_node.{name}"
    module = getattr(fn, "__module__", None)
    body.__module__ = module if isinstance(module, str) and module != "__main__" else __name__


def foreign_body(name: str, runnable: Runnable[Any, Any]) -> ActivityBody:
    """The activity body of a node the package did not build: ``runnable`` as LangGraph runs it.

    Its input's messages are revived, and it gets the config the plugin rebuilt in the
    activity (with the ``Runtime``), as the node gets it in-process.
    """

    async def body(state: Any, config: RunnableConfig) -> Any:
        beats = _liveness()
        try:
            return await runnable.ainvoke(revive(state), _config(config))
        finally:
            if beats is not None:
                beats.cancel()

    _named(body, name, getattr(runnable, "func", None) or getattr(runnable, "afunc", None))
    return body


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


class ActivityNode(_compat.RunnableCallable):
    """The node LangGraph runs in the workflow: the plugin swaps its ``afunc``.

    The one thing of ours that runs in the workflow is ``commands_back`` on the
    activity's result: a pure function of it.

    Before Python 3.11 LangGraph cannot give the node's task its config as context,
    so the plugin, which reads the config to send (node name, step, run context)
    from ``var_child_runnable_config``, would find none: the config LangGraph hands
    the node is set there for the call (the plugin's ``afunc`` runs in this task).
    """

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if _ASYNC_CONTEXT or config is None:
            return commands_back(await super().ainvoke(input, config, **kwargs))
        token = var_child_runnable_config.set(config)
        try:
            return commands_back(await super().ainvoke(input, config, **kwargs))
        finally:
            var_child_runnable_config.reset(token)
