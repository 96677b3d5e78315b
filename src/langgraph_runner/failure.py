"""What a wrapped node returns after a terminal failure: records, flags, fallbacks.

Three outcomes, decided once the retries are over:

* no fallback: ``{"errors": [record], "routing_flags": {"blocked": True}}``;
* ``fallback="node"``: the same update in ``Command(update=..., goto="node")``;
* ``fallback=callable`` that succeeds: its update, with the record (marked
  ``recovered``) prepended to its ``errors``; one that fails: both records and
  the blocked flag.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from langgraph.types import Command

from langgraph_runner import _compat
from langgraph_runner.call import Call
from langgraph_runner.classify import is_control_flow
from langgraph_runner.context import NodeContext, _reset_context, _set_context
from langgraph_runner.errors import NodeError, StateSchemaError
from langgraph_runner.hooks import _run_coroutine_blocking, acall_hook, call_hook
from langgraph_runner.records import add_note, build_record, redact_exception
from langgraph_runner.timeouts import arun_sync_attempt

if TYPE_CHECKING:
    from langgraph_runner.runner import NodeRunner

__all__ = [
    "Fallback",
    "check_fallback",
    "fail_async",
    "fail_sync",
    "failure_update",
    "recovered_update",
]

INFO = logging.INFO
_RECORD_CHANNELS = ("errors", "routing_flags")
_RAISE = object()

Fallback = str | Callable[..., Any]
"""A node name to route to, or a callable run inline with fn's signature rules."""


def check_fallback(fallback: object) -> Fallback | None:
    """Validate ``create_node(fallback=...)`` at factory time.

    Raises:
        ValueError: An empty node name.
        TypeError: Neither a node name nor a callable.
    """
    if fallback is None:
        return None
    if isinstance(fallback, str):
        if not fallback:
            raise ValueError("create_node: fallback must be a non-empty node name or a callable")
        return fallback
    if isinstance(fallback, type) or not callable(fallback):
        raise TypeError(
            "create_node: fallback must be a node name (str) or a function, "
            f"got {type(fallback).__name__}"
        )
    return fallback


def failure_update(records: list[NodeError], goto: str | None) -> Any:
    """The update of an unrecovered failure: records plus the blocked flag."""
    update = {"errors": [r.to_state() for r in records], "routing_flags": {"blocked": True}}
    if goto is None:
        return update
    return Command(update=update, goto=goto)


def _merged(update: Any, record: NodeError) -> dict[str, Any]:
    if update is None:
        return {"errors": [record.to_state()]}
    if not isinstance(update, Mapping):
        try:
            update = dict(update)  # a sequence of (key, value) pairs, as Command accepts
        except (TypeError, ValueError):
            raise TypeError(
                "a fallback must return a dict, None or a Command with a dict update, "
                f"got {type(update).__name__}"
            ) from None
    merged = dict(update)
    own = merged.get("errors")
    if own is None:
        own = []
    elif not isinstance(own, (list, tuple)):
        raise TypeError(f"a fallback's 'errors' update must be a list, got {type(own).__name__}")
    merged["errors"] = [record.to_state(), *own]
    return merged


def recovered_update(result: Any, record: NodeError) -> Any:
    """A successful fallback's result with ``record`` (marked recovered) merged in.

    Raises:
        TypeError: The fallback returned something that cannot carry the record.
    """
    if isinstance(result, Command):
        return dataclasses.replace(result, update=_merged(result.update, record))
    return _merged(result, record)


def _record(runner: NodeRunner, call: Call, exc: BaseException) -> NodeError:
    """Build, log and count the record of a terminal failure."""
    ctx = call.get()
    duration_ms = call.elapsed_ms()
    record = build_record(
        exc, ctx=ctx, attempts=ctx.attempt, duration_ms=duration_ms, retry=runner.spec.retry
    )
    runner.emit(
        logging.ERROR,
        "node.failed",
        ctx,
        duration_ms=round(duration_ms, 3),
        code=record.code.value,
        category=record.category.value,
        error_type=record.error_type,
        message=record.message,
    )
    call.failed = True
    call.report("record_failure", duration_ms, exc)
    return record


def _fallback_record(runner: NodeRunner, call: Call, exc: BaseException) -> NodeError:
    ctx = call.get()
    record = build_record(exc, ctx=ctx, attempts=1, duration_ms=call.elapsed_ms(), retry=None)
    message = f"Fallback of node '{ctx.node}' failed: {record.message}"
    runner.emit(logging.ERROR, "node.fallback_failed", ctx, error_type=record.error_type)
    return record.model_copy(update={"message": message})


def _fallback_ctx(call: Call, exc: BaseException) -> NodeContext:
    return call.get()._replace(primary_error=exc)


def _resolve(
    runner: NodeRunner, call: Call, exc: BaseException, record: NodeError, outcome: Any
) -> tuple[NodeError, Any]:
    """The final record and the node's return value (or ``_RAISE``).

    ``outcome`` is ``None`` (no callable fallback), ``(True, result)`` for a
    fallback that returned, ``(False, error)`` for one that raised.
    """
    spec = runner.spec
    ctx = call.get()
    goto = spec.fallback if isinstance(spec.fallback, str) else None
    if outcome is not None and outcome[0]:
        recovered = record.model_copy(update={"recovered": True})
        try:
            update = recovered_update(outcome[1], recovered)
        except TypeError as err:  # it returned something that cannot carry the record
            outcome = (False, err)
        else:
            call.report("record_fallback")
            runner.emit(INFO, "node.fallback", ctx, outcome="recovered")
            _check_channels(call, exc)
            return recovered, update
    records = [record]
    if outcome is not None:  # the fallback failed too
        fb_record = _fallback_record(runner, call, outcome[1])
        records.append(fb_record)
        add_note(exc, f"langgraph_runner: the fallback failed too: {fb_record.message}")
    elif goto is not None:
        call.report("record_fallback")
        runner.emit(INFO, "node.fallback", ctx, outcome="routed", goto=goto)
    if spec.on_error == "raise" and goto is None:
        return record, _RAISE
    _check_channels(call, exc)
    return record, failure_update(records, goto)


def _check_channels(call: Call, exc: BaseException) -> None:
    missing = _compat.missing_channels(call.config, _RECORD_CHANNELS)
    if missing:
        raise StateSchemaError(call.get().node, missing) from exc


def _raise(call: Call, exc: BaseException) -> Any:
    ctx = call.get()
    redact_exception(exc)
    add_note(
        exc,
        f"langgraph_runner: node '{ctx.node}' failed on attempt "
        f"{ctx.attempt}/{ctx.max_attempts} (trace_id={ctx.trace_id})",
    )
    raise exc


def fail_sync(runner: NodeRunner, state: Any, call: Call, exc: BaseException) -> Any:
    """The outcome of a terminal failure, from sync code: an update, or the exception."""
    spec = runner.spec
    record = _record(runner, call, exc)
    outcome = None
    if spec.fallback is not None and not isinstance(spec.fallback, str):
        token = _set_context(_fallback_ctx(call, exc))
        try:
            result = spec.fallback(state, **runner.kwargs(call.config, call, spec.fallback_accepts))
            if inspect.isawaitable(result):
                result = _run_coroutine_blocking(result, None)
            outcome = (True, result)
        except Exception as err:
            if is_control_flow(err):
                raise
            outcome = (False, err)
        finally:
            _reset_context(token)
    record, update = _resolve(runner, call, exc, record, outcome)
    call_hook(
        spec.on_failure, record, state, log=spec.log, hook_name="on_failure", node=record.node
    )
    return _raise(call, exc) if update is _RAISE else update


async def fail_async(runner: NodeRunner, state: Any, call: Call, exc: BaseException) -> Any:
    """The outcome of a terminal failure, from async code."""
    spec = runner.spec
    record = _record(runner, call, exc)
    outcome = None
    fallback = spec.fallback
    if fallback is not None and not isinstance(fallback, str):
        token = _set_context(_fallback_ctx(call, exc))
        try:
            kwargs = runner.kwargs(call.config, call, spec.fallback_accepts)
            if spec.fallback_is_async:
                result = await fallback(state, **kwargs)
            else:
                result = await arun_sync_attempt(
                    functools.partial(fallback, state, **kwargs),
                    node=record.node, attempt=1, timeout=None, controller=None,
                )  # fmt: skip
                if inspect.isawaitable(result):
                    result = await result
            outcome = (True, result)
        except Exception as err:
            if is_control_flow(err):
                raise
            outcome = (False, err)
        finally:
            _reset_context(token)
    record, update = _resolve(runner, call, exc, record, outcome)
    await acall_hook(
        spec.on_failure, record, state, log=spec.log, hook_name="on_failure", node=record.node
    )
    return _raise(call, exc) if update is _RAISE else update
