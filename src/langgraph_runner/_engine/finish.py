"""A terminal failure that wants more than its record: fallback, hooks, callbacks.

``loop.end`` ends the common failure; when a node has a fallback or an
``on_failure`` hook, or the run has callback handlers, it answers ``GENERAL``
and the loop calls ``fail_sync``/``fail_async``:

::

    record (log node.failed, count it) -> callable fallback? run it inline
    -> resolve: recovered update | routed Command | blocked update | re-raise
    -> on_failure hook
    -> recorded (recovered or not)? an errored child run for callbacks/LangSmith,
       then the loop guard (the N-th failure in a row raises FailureLoopError)

A fallback that fails too adds its own record next to the primary one.
``Failure`` builds its record on first read; ``recovered_update`` merges it into
a fallback's result.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
from collections.abc import Generator, Mapping
from time import perf_counter, time
from typing import Any

from langchain_core.runnables.config import (
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
)
from langgraph.types import Command

from langgraph_runner._engine import records
from langgraph_runner._engine.call import Call, emit, kwargs_for
from langgraph_runner._engine.hooks import acall_hook, call_hook, run_coroutine_blocking
from langgraph_runner._engine.spec import NodeSpec
from langgraph_runner._internal import compat as _compat
from langgraph_runner._policies.context import NodeContext, reset_context, set_context
from langgraph_runner._policies.retry import RetryConfig
from langgraph_runner._policies.timeouts import arun_sync_attempt
from langgraph_runner._records.classify import is_control_flow
from langgraph_runner._records.record import ErrorCategory, ErrorCode, NodeError

__all__ = ["Failure", "fail_async", "fail_sync", "recovered_update"]

INFO = logging.INFO
ERROR = logging.ERROR
_RAISE = object()


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Failure:
    """One terminal failure of a node: classified now, its record built when first read.

    Made from trusted values only (the engine's own counts and clocks): nothing
    is validated.

    Args:
        exc: The exception that ended the call.
        node: The node's name.
        attempts: Attempts made (>= 1).
        duration_ms: The whole call's duration (>= 0).
        retry: The node's retry policy (its predicate decides the code).
        trace_id: The run's trace id.
        graph_execution_id: The thread id, else the run id, else the trace id.

    Attributes:
        code: Why the node failed.
        category: The failure's category (what its record and metrics show).
    """

    exc: BaseException
    node: str
    attempts: int
    duration_ms: float
    retry: dataclasses.InitVar[RetryConfig | None]
    trace_id: str | None
    graph_execution_id: str | None
    code: ErrorCode = dataclasses.field(init=False)
    category: ErrorCategory = dataclasses.field(init=False)
    recovered: bool = dataclasses.field(default=False, init=False)
    send: dict[str, Any] | None = dataclasses.field(default=None, init=False)  # send_fields()
    time: float = dataclasses.field(init=False)
    _state: dict[str, Any] | None = dataclasses.field(default=None, init=False)
    _model: NodeError | None = dataclasses.field(default=None, init=False)

    def __post_init__(self, retry: RetryConfig | None) -> None:
        self.code, self.category = records.code_and_category(self.exc, retry)
        self.time = time()  # the moment of the failure, not of the first read

    def state(self) -> dict[str, Any]:
        """The record as it is written into state: plain JSON data, secrets redacted.

        Built on first use; equal to ``self.record().to_state()``.
        """
        state = self._state
        if state is None:
            state = self._state = records.record_state(
                self.exc,
                self.code,
                self.category,
                self.node,
                self.attempts,
                self.duration_ms,
                self.trace_id,
                self.graph_execution_id,
                self.time,
                self.recovered,
                self.send,
            )
        return state

    def mark_recovered(self) -> None:
        """A fallback recovered the node: the record says so."""
        self.recovered = True
        if self._state is not None:
            self._state = {**self._state, "recovered": True}
            self._model = None

    @property
    def message(self) -> str:
        """The record's sanitized message."""
        return str(self.state()["message"])

    def record(self) -> NodeError:
        """The ``NodeError`` of this failure (built once, without re-validating)."""
        model = self._model
        if model is None:
            model = self._model = records.record_model(self.state(), self.code, self.category)
        return model


def _build_record(
    exc: BaseException,
    *,
    ctx: NodeContext,
    attempts: int,
    duration_ms: float,
    retry: RetryConfig | None,
) -> NodeError:
    """A sanitized record of ``exc``: no secret of its message reaches state."""
    failure = Failure(
        exc,
        ctx.node,
        max(0, attempts),
        max(0.0, float(duration_ms)),
        retry,
        ctx.trace_id,
        ctx.graph_execution_id,
    )
    return failure.record()


def _merged(update: Any, record: dict[str, Any]) -> dict[str, Any]:
    if update is None:
        return {"errors": [record]}
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
    merged["errors"] = [record, *own]
    return merged


def recovered_update(result: Any, record: dict[str, Any]) -> Any:
    """A successful fallback's result with ``record`` (marked recovered) merged in.

    Raises:
        TypeError: The fallback returned something that cannot carry the record.
    """
    if isinstance(result, Command):
        return dataclasses.replace(result, update=_merged(result.update, record))
    return _merged(result, record)


def _record(spec: NodeSpec, call: Call, exc: BaseException, state: Any) -> Failure:
    """Classify, log and count a terminal failure; its record is built when first read."""
    ids = call.ids()
    duration_ms = (perf_counter() - call.t0) * 1000  # call.elapsed_ms()
    failure = Failure(exc, call.node(), call.attempt, duration_ms, spec.retry, ids[0], ids[1])
    failure.send = records.send_fields(call.config, state, spec.item_key)
    logged = spec.log.audience(ERROR)
    if logged:  # nobody would see it (NOBODY): skip building the event
        records.log_failed(
            spec, call, exc, failure.code, failure.category, duration_ms, failure.message, logged
        )
    call.failed = True
    if call.metrics is not None:
        call.count_failure(call.metrics, exc, failure.code, failure.category, duration_ms)
    return failure


def _fallback_record(spec: NodeSpec, call: Call, exc: BaseException) -> NodeError:
    ctx = call.get()
    record = _build_record(exc, ctx=ctx, attempts=1, duration_ms=call.elapsed_ms(), retry=None)
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
        records.add_note(exc, f"langgraph_runner: the fallback failed too: {fb_record.message}")
    elif goto is not None:
        call.report("record_fallback")
        emit(spec.log, INFO, "node.fallback", call.get(), outcome="routed", goto=goto)
    if spec.on_error == "raise" and goto is None:
        return _RAISE
    _check_channels(call, exc)
    states = [failure.state()]
    if fallback_state is not None:
        states.append(fallback_state)
    return records.failure_update(states, goto)


def _check_channels(call: Call, exc: BaseException) -> None:
    if _compat.missing_channels(call.config, records.RECORD_CHANNELS):
        records.schema_error(call, exc)


def _error_run_inputs(failure: Failure) -> dict[str, Any]:
    return {"record": failure.state()}


def _error_run_name(failure: Failure) -> str:
    return f"{failure.node}:failed"


def _has_handlers(config: Any) -> bool:
    """Whether anyone listens: building a callback manager for nobody costs ~100 us."""
    callbacks = config.get("callbacks") if config else None
    if callbacks is None:
        return False
    if isinstance(callbacks, list):
        return bool(callbacks)
    return bool(getattr(callbacks, "handlers", True))


# The steps of a failure that wants more than its record, written once (``_failing``, a
# generator) and performed by a sync or an async driver: a step the generator yields is
# performed and its answer sent back, or its exception thrown in.
_FALLBACK = "fallback"  # call the fallback: its result, or its exception
_HOOK = "on_failure"  # call the on_failure hook (its errors are logged, never raised)
_CALLBACKS = "callbacks"  # show callback handlers the failure as an errored child run


def _failing(
    spec: NodeSpec, state: Any, call: Call, exc: BaseException
) -> Generator[tuple[str, Any], Any, Any]:
    """The failure's steps (see above); returns the node's update, or raises."""
    failure = _record(spec, call, exc, state)
    outcome = None
    if spec.fallback is not None and not isinstance(spec.fallback, str):
        token = set_context(_fallback_ctx(call, exc))
        try:
            kwargs = kwargs_for(spec.fallback_accepts or {}, call.config, call.node())
            outcome = (True, (yield _FALLBACK, kwargs))
        except Exception as err:
            if is_control_flow(err):
                raise
            outcome = (False, err)
        finally:
            reset_context(token)
    update = _resolve(spec, call, exc, failure, outcome)
    if spec.on_failure is not None:
        yield _HOOK, failure.record()
    if update is _RAISE:
        return records.raise_redacted(spec, call, exc)
    if _has_handlers(call.config):
        try:  # only what a handler is shown needs redacting
            yield _CALLBACKS, (records.redact_exception(exc), failure)
        except Exception:  # a handler set to raise_error must not turn a record into a crash
            spec.log.emit(logging.DEBUG, "node.callbacks_failed", node=failure.node)
    streaks = spec.streaks
    if streaks is not None:  # the loop guard: the limit-th failure in a row raises
        streaks.failed(call.config, call.streak_key(), scope=call.ids()[4], record=failure.record)
    return update


class _Steps:
    """Drives ``_failing``: ``next()`` sends the last step's ``answer`` (or throws its
    ``error``) and gives the next step, or None once ``value`` holds the outcome."""

    __slots__ = ("_gen", "answer", "error", "value")

    def __init__(self, gen: Generator[tuple[str, Any], Any, Any]) -> None:
        self._gen = gen
        self.answer: Any = None
        self.error: BaseException | None = None
        self.value: Any = None

    def next(self) -> tuple[str, Any] | None:
        answer, error = self.answer, self.error
        self.answer = self.error = None
        try:
            return self._gen.send(answer) if error is None else self._gen.throw(error)
        except StopIteration as done:
            self.value = done.value
            return None


def fail_sync(spec: NodeSpec, state: Any, call: Call, exc: BaseException) -> Any:
    """The outcome of a terminal failure ``loop.end`` left (``GENERAL``), from sync code."""
    steps = _Steps(_failing(spec, state, call, exc))
    while (step := steps.next()) is not None:
        kind, arg = step
        try:
            if kind == _FALLBACK:
                fallback: Any = spec.fallback  # callable: _failing asks for it only then
                answer = fallback(state, **arg)
                if inspect.isawaitable(answer):
                    answer = run_coroutine_blocking(answer, None)
                steps.answer = answer
            elif kind == _HOOK:
                call_hook(spec.on_failure, arg, state, **_hook_options(spec, arg))
            else:
                manager = get_callback_manager_for_config(call.config or {})
                run = manager.on_chain_start(None, _error_run_inputs(arg[1]), name=_run_name(arg))
                run.on_chain_error(arg[0])
        except BaseException as err:  # thrown in: the context is reset, control flow goes up
            steps.error = err
    return steps.value


async def fail_async(spec: NodeSpec, state: Any, call: Call, exc: BaseException) -> Any:
    """The same, from async code (a sync fallback runs in a worker thread)."""
    steps = _Steps(_failing(spec, state, call, exc))
    while (step := steps.next()) is not None:
        kind, arg = step
        try:
            if kind == _FALLBACK:
                fallback: Any = spec.fallback
                if spec.fallback_is_async:
                    answer = await fallback(state, **arg)
                else:
                    answer = await arun_sync_attempt(
                        functools.partial(fallback, state, **arg),
                        node=call.node(),
                        attempt=1,
                        timeout=None,
                        controller=None,
                    )
                    if inspect.isawaitable(answer):
                        answer = await answer
                steps.answer = answer
            elif kind == _HOOK:
                await acall_hook(spec.on_failure, arg, state, **_hook_options(spec, arg))
            else:
                manager = get_async_callback_manager_for_config(call.config or {})
                run = await manager.on_chain_start(
                    None, _error_run_inputs(arg[1]), name=_run_name(arg)
                )
                await run.on_chain_error(arg[0])
        except BaseException as err:  # thrown in: the context is reset, control flow goes up
            steps.error = err
    return steps.value


def _hook_options(spec: NodeSpec, record: NodeError) -> dict[str, Any]:
    return {"log": spec.log, "hook_name": "on_failure", "node": record.node}


def _run_name(arg: tuple[BaseException, Failure]) -> str:
    return _error_run_name(arg[1])
