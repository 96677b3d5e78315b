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
from time import perf_counter, time
from typing import Any

from langchain_core.runnables.config import (
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
)
from langgraph.types import Command

from langgraph_runner._engine.call import Call, emit, kwargs_for
from langgraph_runner._engine.hooks import acall_hook, call_hook, run_coroutine_blocking
from langgraph_runner._engine.records import (
    Failure,
    add_note,
    build_record,
    code_and_category,
    record_message,
    record_model,
    record_state,
    recovered_update,
    redact_exception,
    send_fields,
)
from langgraph_runner._engine.spec import NodeSpec
from langgraph_runner._internal import compat as _compat
from langgraph_runner._policies.context import NodeContext, reset_context, set_context
from langgraph_runner._policies.run_scope import streak_key
from langgraph_runner._policies.timeouts import arun_sync_attempt
from langgraph_runner._records.classify import is_control_flow
from langgraph_runner._records.egress import egress_error
from langgraph_runner._records.exceptions import (
    BudgetExceededError,
    FailureLoopError,
    StateSchemaError,
)
from langgraph_runner._records.logs import LOG_TEXT
from langgraph_runner._records.record import ErrorCategory, ErrorCode, NodeError
from langgraph_runner._records.sanitize import sanitize_message
from langgraph_runner.metrics._collector import NodeMetricsCollector

__all__ = ["fail_async", "fail_sync", "failure_update"]

INFO = logging.INFO
ERROR = logging.ERROR
_RECORD_CHANNELS = ("errors", "routing_flags")
_CIRCUIT_OPEN = "circuit_open"  # the metrics category of a call a breaker rejected
_RAISE = object()
_GENERAL = object()  # _plain: more than the record is wanted
_BUDGET = ErrorCode.BUDGET_EXHAUSTED.value


def failure_update(records: list[dict[str, Any]], goto: str | None) -> Any:
    """The update of an unrecovered failure: records plus the blocked flag (and the
    ``budget_exhausted`` flag when a spent budget stopped the node); a ``Command``
    to ``goto`` when the fallback names a node."""
    flags = {"blocked": True}
    if records and records[-1].get("code") == _BUDGET:
        flags["budget_exhausted"] = True
    update = {"errors": records, "routing_flags": flags}
    if goto is None:
        return update
    return Command(update=update, goto=goto)


def _record(spec: NodeSpec, call: Call, exc: BaseException, state: Any) -> Failure:
    """Classify, log and count a terminal failure; its record is built when first read."""
    ids = call.ids()
    duration_ms = (perf_counter() - call.t0) * 1000  # call.elapsed_ms()
    failure = Failure(exc, call.node(), call.attempt, duration_ms, spec.retry, ids[0], ids[1])
    failure.send = send_fields(call.config, state, spec.item_key)
    if spec.log.emits(ERROR):  # nobody would see it: skip building the event
        _log_failed(spec, call, exc, failure.code, failure.category, duration_ms, failure.message)
    call.failed = True
    if call.metrics is not None:
        _count(call, call.metrics, exc, failure.code, failure.category, duration_ms)
    return failure


# The fields of node.failed that are not sanitized again on their way out: the
# package's own constants, and the message, the record's sanitized text of the error
# (``records.record_state``), which quotes the node's name and the error type (the
# logger sanitizes everything if either shows a secret); with them the trace id when
# it was generated here.
_FAILED_CLEAN = frozenset(("code", "category", "message"))
_FAILED_CLEAN_OURS = _FAILED_CLEAN | {"trace_id"}
_FAILED_QUOTED = ("node", "error_type")

# What node.failed shows of a failing site, kept per site (node, attempts, code,
# category, error type and the record's message): whether the node's name and the
# error type pass the egress point unchanged (else the generic path sanitizes every
# field), and the line's text around the duration. The run's ids are added per call.
_LINES: dict[tuple[Any, ...], tuple[str, str] | None] = {}
_LINES_MAX = 1024
_UNSEEN = ("", "")  # by identity: a site not seen yet


def _line_parts(
    node: str, attempt: int, code: str, category: str, error_type: str, message: str
) -> tuple[str, str] | None:
    """The text of node.failed before and after its duration; None if a quoted field
    would be redacted (or is not a plain str), or the text is not printable (the
    generic path then escapes its control characters)."""
    key = (node, attempt, code, category, error_type, message)
    found = _LINES.get(key, _UNSEEN)
    if found is _UNSEEN:
        clean = (
            all(
                value.__class__ is str and sanitize_message(value, max_length=LOG_TEXT) == value
                for value in (node, error_type)
            )
            and message.__class__ is str
        )
        found = None
        if clean:
            before = f"node={node} attempt={attempt} duration_ms="
            after = f" code={code} category={category} error_type={error_type} message={message}"
            if before.isprintable() and after.isprintable():
                found = (before, after)
        if len(_LINES) >= _LINES_MAX:
            _LINES.clear()
        _LINES[key] = found
    return found


def _log_failed(
    spec: NodeSpec,
    call: Call,
    exc: BaseException,
    code: ErrorCode,
    category: ErrorCategory,
    duration_ms: float,
    message: str,
) -> None:
    """Log ``node.failed`` (the caller asked ``spec.log.emits(ERROR)``), as ``call.event``
    would: from the call's ids, no ``NodeContext`` built for the line."""
    trace_id, _exec_id, thread_id, run_id, scope = call.ids()
    node = call.node()
    error_type = type(exc).__name__
    parts = _line_parts(node, call.attempt, code._value_, category._value_, error_type, message)
    duration = round(duration_ms, 3)
    fields = {
        "node": node,
        "attempt": call.attempt,
        "duration_ms": duration,
        "code": code._value_,
        "category": category._value_,
        "error_type": error_type,
        "message": message,
        "thread_id": thread_id,
        "run_id": run_id,
        "trace_id": trace_id,
    }
    if parts is None:  # a secret in the name or the error type, or a control character
        spec.log.emit_checked(
            ERROR,
            "node.failed",
            fields,
            _FAILED_CLEAN if scope is None else _FAILED_CLEAN_OURS,
            _FAILED_QUOTED,
        )
        return
    # The run's ids leave through the egress point (a trace id generated here is
    # hexadecimal: nothing to redact) and are checked for control characters here;
    # the rest is the site's, checked once.
    ids = ""
    if thread_id is not None:
        fields["thread_id"] = thread_id = sanitize_message(thread_id, max_length=LOG_TEXT)
        ids = f" thread_id={thread_id}"
    if run_id is not None:
        fields["run_id"] = run_id = sanitize_message(run_id, max_length=LOG_TEXT)
        ids = f"{ids} run_id={run_id}"
    if scope is None:
        fields["trace_id"] = trace_id = sanitize_message(trace_id, max_length=LOG_TEXT)
    ids = f"{ids} trace_id={trace_id}"
    spec.log.emit_rendered(
        ERROR,
        "node.failed",
        fields,
        f"{parts[0]}{duration}{parts[1]}{ids}" if ids.isprintable() else None,
    )


def _count(
    call: Call,
    collector: Any,
    exc: BaseException,
    code: ErrorCode,
    category: ErrorCategory,
    duration_ms: float,
) -> None:
    """Count the failure in ``collector`` (``call.metrics``: the run's, else the node's own)."""
    try:  # call.send(), inlined
        if isinstance(collector, NodeMetricsCollector):  # it takes the category we have
            # a call a breaker rejected counts as a rejection, not in its category
            counted = _CIRCUIT_OPEN if code is ErrorCode.CIRCUIT_OPEN else category._value_
            collector.record_failure(call.node(), duration_ms, exc, counted)
        else:
            collector.record_failure(call.node(), duration_ms, exc)
    except Exception as err:  # a broken collector never fails a node
        call.metrics_failed(err, "record_failure")


def _plain(spec: NodeSpec, call: Call, exc: BaseException, input_: Any) -> Any:
    """A terminal failure when nothing but its record is wanted, in one frame, for both
    drivers; ``_GENERAL`` when more is (a fallback, an ``on_failure`` hook or a callback
    handler: ``fail_sync``/``fail_async`` go on). What may end the whole run is raised.

    The common case: ``_record`` and the rest of ``fail_sync`` without the ``Failure``
    object. In raise mode the failure is classified only for a collector or the
    ``node.failed`` event, and no record is built: the event shows the record's
    message.
    """
    if isinstance(exc, _ENDS_RUN) and _ends_run(exc):  # the whole run stops
        raise exc
    if spec.fallback is not None or spec.on_failure is not None:
        return _GENERAL
    config = call.config
    callbacks = config.get("callbacks") if config else None
    if getattr(callbacks, "handlers", callbacks):  # _has_handlers(config), inlined
        return _GENERAL
    duration_ms = (perf_counter() - call.t0) * 1000
    logged = spec.log.emits(ERROR)  # nobody would see it: skip building the event
    call.failed = True
    collector = call.metrics
    if spec.on_error == "raise":
        if logged or collector is not None:
            code, category = code_and_category(exc, spec.retry)
            if logged:  # the record's message alone: no record is built
                message = record_message(exc, code, call.node(), call.attempt)
                _log_failed(spec, call, exc, code, category, duration_ms, message)
            if collector is not None:
                _count(call, collector, exc, code, category, duration_ms)
        return _raise(spec, call, exc)
    ids = call.ids()
    code, category = code_and_category(exc, spec.retry)
    state = record_state(
        exc,
        code,
        category,
        call.node(),
        call.attempt,
        duration_ms,
        ids[0],
        ids[1],
        time(),
        send=send_fields(call.config, input_, spec.item_key),
    )
    if logged:
        _log_failed(spec, call, exc, code, category, duration_ms, state["message"])
    if collector is not None:
        _count(call, collector, exc, code, category, duration_ms)
    if _compat.missing_channels(call.config, _RECORD_CHANNELS):
        _schema_error(call, exc)
    streaks = spec.streaks
    if streaks is not None:  # the loop guard: the limit-th failure in a row raises
        model = functools.partial(record_model, state, code, category)
        key = streak_key(call.config, call.node(), ids[0])  # call.streak_key(), uncached
        streaks.failed(call.config, key, scope=ids[4], record=model)
    return failure_update([state], None)


def _fallback_record(spec: NodeSpec, call: Call, exc: BaseException) -> NodeError:
    ctx = call.get()
    record = build_record(exc, ctx=ctx, attempts=1, duration_ms=call.elapsed_ms(), retry=None)
    message = f"Fallback of node '{ctx.node}' failed: {record.message}"
    emit(spec.log, logging.ERROR, "node.fallback_failed", ctx, error_type=record.error_type)
    return record.model_copy(update={"message": message})


def _fallback_ctx(call: Call, exc: BaseException) -> NodeContext:
    return call.get()._replace(primary_error=exc)


def _resolve(spec: NodeSpec, call: Call, exc: BaseException, failure: Failure, outcome: Any) -> Any:
    """The node's return value (or ``_RAISE``); marks ``failure`` recovered when it is.

    ``outcome`` is ``None`` (no callable fallback), ``(True, result)`` for a
    fallback that returned, ``(False, error)`` for one that raised.
    """
    goto = spec.fallback if isinstance(spec.fallback, str) else None
    if outcome is not None and outcome[0]:
        try:
            update = recovered_update(outcome[1], {**failure.state(), "recovered": True})
        except TypeError as err:  # it returned something that cannot carry the record
            outcome = (False, err)
        else:
            failure.mark_recovered()
            call.report("record_fallback")
            emit(spec.log, INFO, "node.fallback", call.get(), outcome="recovered")
            _check_channels(call, exc)
            return update
    fallback_state = None
    if outcome is not None:  # the fallback failed too
        fb_record = _fallback_record(spec, call, outcome[1])
        fallback_state = fb_record.to_state()
        add_note(exc, f"langgraph_runner: the fallback failed too: {fb_record.message}")
    elif goto is not None:
        call.report("record_fallback")
        emit(spec.log, INFO, "node.fallback", call.get(), outcome="routed", goto=goto)
    if spec.on_error == "raise" and goto is None:
        return _RAISE
    _check_channels(call, exc)
    states = [failure.state()]
    if fallback_state is not None:
        states.append(fallback_state)
    return failure_update(states, goto)


def _check_channels(call: Call, exc: BaseException) -> None:
    if _compat.missing_channels(call.config, _RECORD_CHANNELS):
        _schema_error(call, exc)


def _schema_error(call: Call, exc: BaseException) -> None:
    missing = _compat.missing_channels(call.config, _RECORD_CHANNELS)
    # The failure becomes the schema error's __cause__ (servers log it); its __context__,
    # the unredacted original (a pydantic ValidationError's raw input), is dropped.
    cause = redact_exception(exc)  # named in the message too: checkpoints keep only the text
    error = StateSchemaError(call.node(), missing, egress_error(cause, max_length=200))
    try:
        raise error from cause
    finally:
        error.__context__ = None


def _raise(spec: NodeSpec, call: Call, exc: BaseException) -> Any:
    exc = redact_exception(exc)  # a pydantic ValidationError comes back rebuilt, inputs hidden
    retry = spec.retry
    add_note(
        exc,
        f"langgraph_runner: node '{call.node()}' failed on attempt "
        f"{call.attempt}/{retry.max_attempts if retry is not None else 1} "
        f"(trace_id={call.ids()[0]})",
    )
    raise exc


def _error_run_inputs(failure: Failure) -> dict[str, Any]:
    return {"record": failure.state()}


def _error_run_name(failure: Failure) -> str:
    return f"{failure.node}:failed"


_ENDS_RUN = (FailureLoopError, BudgetExceededError)
"""What may end the whole run (``_ends_run`` tells), tested first with one isinstance."""


def _ends_run(exc: BaseException) -> bool:
    """The loop guard's error, or a spent ``Budget(on_exhausted="raise")``: never
    recorded, whatever ``on_error`` says."""
    return isinstance(exc, FailureLoopError) or bool(getattr(exc, "raise_run", False))


def _has_handlers(config: Any) -> bool:
    """Whether anyone listens: building a callback manager for nobody costs ~100 us."""
    callbacks = config.get("callbacks") if config else None
    if callbacks is None:
        return False
    if isinstance(callbacks, list):
        return bool(callbacks)
    return bool(getattr(callbacks, "handlers", True))


def _report_sync(spec: NodeSpec, call: Call, exc: BaseException, failure: Failure) -> None:
    """Show the recorded failure to callbacks as an errored child run, then count it."""
    if _has_handlers(call.config):
        exc = redact_exception(exc)  # only what a handler is shown needs redacting
        try:
            manager = get_callback_manager_for_config(call.config or {})
            run = manager.on_chain_start(
                None, _error_run_inputs(failure), name=_error_run_name(failure)
            )
            run.on_chain_error(exc)
        except Exception:  # a handler set to raise_error must not turn a record into a crash
            spec.log.emit(logging.DEBUG, "node.callbacks_failed", node=failure.node)
    streaks = spec.streaks
    if streaks is not None:  # the loop guard: the limit-th failure in a row raises
        streaks.failed(call.config, call.streak_key(), scope=call.ids()[4], record=failure.record)


async def _report_async(spec: NodeSpec, call: Call, exc: BaseException, failure: Failure) -> None:
    if _has_handlers(call.config):
        exc = redact_exception(exc)
        try:
            manager = get_async_callback_manager_for_config(call.config or {})
            run = await manager.on_chain_start(
                None, _error_run_inputs(failure), name=_error_run_name(failure)
            )
            await run.on_chain_error(exc)
        except Exception:
            spec.log.emit(logging.DEBUG, "node.callbacks_failed", node=failure.node)
    streaks = spec.streaks
    if streaks is not None:
        streaks.failed(call.config, call.streak_key(), scope=call.ids()[4], record=failure.record)


def fail_sync(spec: NodeSpec, state: Any, call: Call, exc: BaseException) -> Any:
    """The outcome of a terminal failure, from sync code: an update, or the exception."""
    update = _plain(spec, call, exc, state)  # the common case: the record alone
    if update is not _GENERAL:
        return update
    failure = _record(spec, call, exc, state)
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
    update = _resolve(spec, call, exc, failure, outcome)
    if spec.on_failure is not None:
        call_hook(
            spec.on_failure,
            failure.record(),
            state,
            log=spec.log,
            hook_name="on_failure",
            node=failure.node,
        )
    if update is _RAISE:
        return _raise(spec, call, exc)
    _report_sync(spec, call, exc, failure)
    return update


async def fail_async(spec: NodeSpec, state: Any, call: Call, exc: BaseException) -> Any:
    """The outcome of a terminal failure, from async code."""
    update = _plain(spec, call, exc, state)  # the common case (nothing awaited)
    if update is not _GENERAL:
        return update
    failure = _record(spec, call, exc, state)
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
                    node=failure.node,
                    attempt=1,
                    timeout=None,
                    controller=None,
                )
                if inspect.isawaitable(result):
                    result = await result
            outcome = (True, result)
        except Exception as err:
            if is_control_flow(err):
                raise
            outcome = (False, err)
        finally:
            reset_context(token)
    update = _resolve(spec, call, exc, failure, outcome)
    if spec.on_failure is not None:
        await acall_hook(
            spec.on_failure,
            failure.record(),
            state,
            log=spec.log,
            hook_name="on_failure",
            node=failure.node,
        )
    if update is _RAISE:
        return _raise(spec, call, exc)
    await _report_async(spec, call, exc, failure)
    return update
