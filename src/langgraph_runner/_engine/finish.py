"""A terminal failure, once the retries are over: record, fallback, hooks, outcome.

::

    record (log node.failed, count it) -> callable fallback? run it inline
    -> resolve: recovered update | routed Command | blocked update | re-raise
    -> on_failure hook
    -> recorded (recovered or not)? an errored child run for callbacks/LangSmith,
       then the loop guard (the N-th failure in a row raises FailureLoopError)

A fallback that fails too adds its own record next to the primary one. The
update itself is shaped by ``outcome`` (pure functions).
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any

from langchain_core.runnables.config import (
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
)

from langgraph_runner import _compat
from langgraph_runner._engine.call import Call
from langgraph_runner._engine.events import emit
from langgraph_runner._engine.hooks import acall_hook, call_hook, run_coroutine_blocking
from langgraph_runner._engine.inject import kwargs_for
from langgraph_runner._engine.outcome import failure_update, recovered_update
from langgraph_runner._engine.records import add_note, build_record, redact_exception
from langgraph_runner._engine.spec import NodeSpec
from langgraph_runner.classify import is_control_flow
from langgraph_runner.context import NodeContext, reset_context, set_context
from langgraph_runner.errors import FailureLoopError, NodeError, StateSchemaError
from langgraph_runner.timeouts import arun_sync_attempt

__all__ = ["fail_async", "fail_sync"]

INFO = logging.INFO
_RECORD_CHANNELS = ("errors", "routing_flags")
_RAISE = object()


def _record(spec: NodeSpec, call: Call, exc: BaseException) -> NodeError:
    """Build, log and count the record of a terminal failure."""
    ctx = call.get()
    duration_ms = call.elapsed_ms()
    record = build_record(
        exc, ctx=ctx, attempts=ctx.attempt, duration_ms=duration_ms, retry=spec.retry
    )
    if spec.log.enabled(logging.ERROR):  # filtered out: skip building the event
        emit(
            spec.log,
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


def _fallback_record(spec: NodeSpec, call: Call, exc: BaseException) -> NodeError:
    ctx = call.get()
    record = build_record(exc, ctx=ctx, attempts=1, duration_ms=call.elapsed_ms(), retry=None)
    message = f"Fallback of node '{ctx.node}' failed: {record.message}"
    emit(spec.log, logging.ERROR, "node.fallback_failed", ctx, error_type=record.error_type)
    return record.model_copy(update={"message": message})


def _fallback_ctx(call: Call, exc: BaseException) -> NodeContext:
    return call.get()._replace(primary_error=exc)


def _resolve(
    spec: NodeSpec, call: Call, exc: BaseException, record: NodeError, outcome: Any
) -> tuple[NodeError, Any]:
    """The final record and the node's return value (or ``_RAISE``).

    ``outcome`` is ``None`` (no callable fallback), ``(True, result)`` for a
    fallback that returned, ``(False, error)`` for one that raised.
    """
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
            emit(spec.log, INFO, "node.fallback", ctx, outcome="recovered")
            _check_channels(call, exc)
            return recovered, update
    records = [record]
    if outcome is not None:  # the fallback failed too
        fb_record = _fallback_record(spec, call, outcome[1])
        records.append(fb_record)
        add_note(exc, f"langgraph_runner: the fallback failed too: {fb_record.message}")
    elif goto is not None:
        call.report("record_fallback")
        emit(spec.log, INFO, "node.fallback", ctx, outcome="routed", goto=goto)
    if spec.on_error == "raise" and goto is None:
        return record, _RAISE
    _check_channels(call, exc)
    return record, failure_update(records, goto)


def _check_channels(call: Call, exc: BaseException) -> None:
    missing = _compat.missing_channels(call.config, _RECORD_CHANNELS)
    if missing:
        # The failure becomes the schema error's __cause__, which servers log.
        raise StateSchemaError(call.get().node, missing) from redact_exception(exc)


def _raise(call: Call, exc: BaseException) -> Any:
    ctx = call.get()
    exc = redact_exception(exc)  # a pydantic ValidationError comes back rebuilt, inputs hidden
    add_note(
        exc,
        f"langgraph_runner: node '{ctx.node}' failed on attempt "
        f"{ctx.attempt}/{ctx.max_attempts} (trace_id={ctx.trace_id})",
    )
    raise exc


def _error_run_inputs(record: NodeError) -> dict[str, Any]:
    return {"record": record.to_state()}


def _error_run_name(record: NodeError) -> str:
    return f"{record.node}:failed"


def _has_handlers(config: Any) -> bool:
    """Whether anyone listens: building a callback manager for nobody costs ~100 us."""
    callbacks = config.get("callbacks") if config else None
    if callbacks is None:
        return False
    if isinstance(callbacks, list):
        return bool(callbacks)
    return bool(getattr(callbacks, "handlers", True))


def _report_sync(spec: NodeSpec, call: Call, exc: BaseException, record: NodeError) -> None:
    """Show the recorded failure to callbacks as an errored child run, then count it."""
    if _has_handlers(call.config):
        exc = redact_exception(exc)  # only what a handler is shown needs redacting
        try:
            manager = get_callback_manager_for_config(call.config or {})
            run = manager.on_chain_start(
                None, _error_run_inputs(record), name=_error_run_name(record)
            )
            run.on_chain_error(exc)
        except Exception:  # a handler set to raise_error must not turn a record into a crash
            spec.log.emit(logging.DEBUG, "node.callbacks_failed", node=record.node)
    if spec.streaks is not None:
        spec.streaks.failed(call.config, record)


async def _report_async(spec: NodeSpec, call: Call, exc: BaseException, record: NodeError) -> None:
    if _has_handlers(call.config):
        exc = redact_exception(exc)
        try:
            manager = get_async_callback_manager_for_config(call.config or {})
            run = await manager.on_chain_start(
                None, _error_run_inputs(record), name=_error_run_name(record)
            )
            await run.on_chain_error(exc)
        except Exception:
            spec.log.emit(logging.DEBUG, "node.callbacks_failed", node=record.node)
    if spec.streaks is not None:
        spec.streaks.failed(call.config, record)


def fail_sync(spec: NodeSpec, state: Any, call: Call, exc: BaseException) -> Any:
    """The outcome of a terminal failure, from sync code: an update, or the exception."""
    if isinstance(exc, FailureLoopError):  # a wrapped subgraph's guard stops the whole run
        raise exc
    record = _record(spec, call, exc)
    outcome = None
    if spec.fallback is not None and not isinstance(spec.fallback, str):
        token = set_context(_fallback_ctx(call, exc))
        try:
            result = spec.fallback(
                state, **kwargs_for(spec.fallback_accepts or {}, call.config, call.node())
            )
            if inspect.isawaitable(result):
                result = run_coroutine_blocking(result, None)
            outcome = (True, result)
        except Exception as err:
            if is_control_flow(err):
                raise
            outcome = (False, err)
        finally:
            reset_context(token)
    record, update = _resolve(spec, call, exc, record, outcome)
    call_hook(
        spec.on_failure, record, state, log=spec.log, hook_name="on_failure", node=record.node
    )
    if update is _RAISE:
        return _raise(call, exc)
    _report_sync(spec, call, exc, record)
    return update


async def fail_async(spec: NodeSpec, state: Any, call: Call, exc: BaseException) -> Any:
    """The outcome of a terminal failure, from async code."""
    if isinstance(exc, FailureLoopError):
        raise exc
    record = _record(spec, call, exc)
    outcome = None
    fallback = spec.fallback
    if fallback is not None and not isinstance(fallback, str):
        token = set_context(_fallback_ctx(call, exc))
        try:
            kwargs = kwargs_for(spec.fallback_accepts or {}, call.config, call.node())
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
            reset_context(token)
    record, update = _resolve(spec, call, exc, record, outcome)
    await acall_hook(
        spec.on_failure, record, state, log=spec.log, hook_name="on_failure", node=record.node
    )
    if update is _RAISE:
        return _raise(call, exc)
    await _report_async(spec, call, exc, record)
    return update
