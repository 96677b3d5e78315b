"""One attempt of a wrapped node: deadline, abort signal, circuit breaker, time limit.

::

    deadline left? -> run signal not fired? -> breaker admits? -> fn, under the
    attempt's time limit and abort signal -> breaker told the outcome

A plain node (no timeout, deadline, breaker or run signal) calls ``fn`` directly
(a sync ``fn`` from async code goes to LangChain's bounded executor, awaited from
our task, so cancellation ends the wait at once instead of retrying on in
LangGraph's executor thread). Otherwise each attempt gets an ``AbortController``
that follows the run's signal and is aborted at the time limit (a sync ``fn``
then runs in an abandonable worker thread, see ``_policies.timeouts``); its
``NodeContext`` is fixed for the attempt, so an abandoned thread keeps seeing
its own (fired) signal.

A failed attempt is told to the breaker (``tell_breaker``) and, when ``runs.run``
follows the call, to the run's tracker with its own record (``tell_run``, which
the loop calls after each retry decision).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import run_in_executor
from langgraph.errors import NodeTimeoutError as _LGNodeTimeoutError

from langgraph_runner._engine.call import Call, emit, kwargs_for
from langgraph_runner._engine.faults import Fault, planned_fault
from langgraph_runner._engine.gate import gate_tokens, gated_config, ungate_tokens
from langgraph_runner._engine.hooks import HookCall, acall_hook, call_hook
from langgraph_runner._engine.records import code_and_category, record_state
from langgraph_runner._engine.spec import NodeSpec
from langgraph_runner._internal import compat as _compat
from langgraph_runner._policies.circuit import CircuitBreaker
from langgraph_runner._policies.context import (
    RUN_TRACKER_KEY,
    reset_context,
    set_context,
)
from langgraph_runner._policies.progress import Progress, reset_progress, set_progress
from langgraph_runner._policies.retry import Retry, RetryConfig
from langgraph_runner._policies.timeouts import (
    Bounds,
    arun_async,
    arun_sync,
    run_sync,
)
from langgraph_runner._records.classify import is_control_flow, is_retryable_node_error
from langgraph_runner._records.exceptions import NodeTimeoutError

__all__ = [
    "ON_TIMEOUT_LIMIT",
    "attempt_async",
    "attempt_sync",
    "counts_for_breaker",
    "tell_breaker",
    "tell_run",
]

WARNING = 30
ON_TIMEOUT_LIMIT = 5.0
"""Seconds an ``on_timeout`` hook may run before it is abandoned (and logged)."""


def _plain_sync(spec: NodeSpec, state: Any, call: Call, cfg: RunnableConfig | None) -> Any:
    """Call ``fn`` in this thread; a retry's config is made current for ``interrupt()``."""
    if cfg is call.config:
        return spec.fn(state, **kwargs_for(spec.accepts, cfg, call.node()))
    with _compat.use_config(cfg):
        return spec.fn(state, **kwargs_for(spec.accepts, cfg, call.node()))


def _breaker_only_sync(spec: NodeSpec, state: Any, call: Call, cfg: RunnableConfig | None) -> Any:
    """A breaker but no time limit or signal: no per-attempt controller or context."""
    breaker = spec.breaker
    assert breaker is not None
    breaker.before_call(call.node)
    try:
        result = _plain_sync(spec, state, call, cfg)
    except BaseException as exc:
        tell_breaker(spec.breaker, spec.retry, exc)
        raise
    breaker.on_success()
    return result


async def _breaker_only_async(
    spec: NodeSpec, state: Any, call: Call, cfg: RunnableConfig | None
) -> Any:
    """The async ``_breaker_only_sync``."""
    breaker = spec.breaker
    assert breaker is not None
    breaker.before_call(call.node)
    try:
        result = await _plain_async(spec, state, call, cfg)
    except BaseException as exc:
        tell_breaker(spec.breaker, spec.retry, exc)
        raise
    breaker.on_success()
    return result


def _progress_for(
    spec: NodeSpec, cfg: RunnableConfig | None, limit: float | None, threaded: bool
) -> tuple[Progress | None, RunnableConfig | None]:
    """The attempt's progress and its gated config, when it has an idle limit or runs in a
    thread that may be abandoned (whose writes and callbacks are then muted)."""
    if spec.idle_timeout is None and not (threaded and limit is not None):
        return None, cfg
    progress = Progress(spec.idle_timeout)
    return progress, gated_config(cfg, progress, refresh_on=spec.refresh_on)


class _Guarded:
    """A guarded attempt, admitted and set up: its time limit and abort controller, its
    fixed context and progress made current. ``leave`` undoes it, whatever happened.

    Raises (when made):
        NodeTimeoutError: The deadline has run out.
        NodeAbortedError: The run's signal has fired.
        CircuitOpenError: The breaker rejects the attempt.
    """

    __slots__ = ("bounds", "cfg", "controller", "ctx", "deadline_limit", "tokens")

    def __init__(
        self,
        spec: NodeSpec,
        call: Call,
        cfg: RunnableConfig | None,
        fault: Fault | None,
        threaded: bool,  # positional: a class called with keywords builds a dict for them
    ) -> None:
        limit, self.deadline_limit = call.attempt_limit()  # whether the deadline set it
        call.check_run_signal()
        if spec.breaker is not None:
            spec.breaker.before_call(call.get().node)
        controller, ctx = self.controller, self.ctx = call.begin_attempt()
        if fault is not None:
            limit = fault.shorten(limit)
        progress, cfg = _progress_for(spec, cfg, limit, threaded)
        self.cfg = cfg
        self.bounds: Bounds = {
            "node": ctx.node,
            "attempt": ctx.attempt,
            "timeout": limit,
            "controller": controller,
            "run_signal": call.run_signal,
            "progress": progress,
        }
        self.tokens = (
            set_context(ctx),  # fixed: an abandoned thread keeps its own attempt's signal
            set_progress(progress),
            gate_tokens(cfg, progress, refresh_on=spec.refresh_on),
        )

    def timed_out(self, spec: NodeSpec, call: Call, exc: BaseException) -> BaseException | None:
        """Tell the breaker how the attempt failed; for a timeout, log it and return the
        error the attempt ends with (the deadline's, if it set the limit)."""
        tell_breaker(spec.breaker, spec.retry, exc)
        if not isinstance(exc, NodeTimeoutError):
            return None
        emit(
            spec.log,
            WARNING,
            "node.timed_out",
            self.ctx,
            timeout=round(exc.timeout or self.bounds["timeout"] or 0.0, 3),
            kind=exc.kind,
        )
        return call.deadline_error() if self.deadline_limit else exc

    def on_timeout(self, spec: NodeSpec) -> HookCall:
        """How the ``on_timeout`` hook is called."""
        return {
            "log": spec.log,
            "hook_name": "on_timeout",
            "node": self.ctx.node,
            "limit": ON_TIMEOUT_LIMIT,
        }

    def succeeded(self, spec: NodeSpec, result: Any) -> Any:
        """``result``, once the breaker is told the attempt succeeded (after ``leave``)."""
        if spec.breaker is not None:
            spec.breaker.on_success()
        return result

    def leave(self) -> None:
        """Undo the set-up: the context and progress reset, the controller closed."""
        context, progress, gates = self.tokens
        ungate_tokens(gates)
        reset_progress(progress)
        reset_context(context)
        self.controller.close()


def attempt_sync(spec: NodeSpec, state: Any, call: Call, cfg: RunnableConfig | None) -> Any:
    """Run one attempt of a sync ``fn`` from sync code (see the module docstring)."""
    fault = planned_fault(id(spec), spec.timeout, cfg)  # the testing kit's sweep only
    if fault is not None:
        spec = dataclasses.replace(spec, fn=fault.fn(spec.is_async))
    if spec.unlimited and call.run_signal is None:
        if spec.breaker is not None:
            return _breaker_only_sync(spec, state, call, cfg)
        return _plain_sync(spec, state, call, cfg)
    guard = _Guarded(spec, call, cfg, fault, True)  # threaded
    bounds = guard.bounds
    try:
        with _compat.use_config(guard.cfg):
            func = functools.partial(
                spec.fn, state, **kwargs_for(spec.accepts, guard.cfg, call.node())
            )
            if bounds["timeout"] is None and bounds["progress"] is None:
                result = func()
            else:
                result = run_sync(func, bounds)
            call.check_run_signal()  # cooperative code returns early *because* of it
    except BaseException as exc:
        if (timed_out := guard.timed_out(spec, call, exc)) is not None:
            call_hook(spec.on_timeout, guard.ctx, **guard.on_timeout(spec))
            raise timed_out from None
        raise
    finally:
        guard.leave()
    return guard.succeeded(spec, result)


async def _plain_async(spec: NodeSpec, state: Any, call: Call, cfg: RunnableConfig | None) -> Any:
    """Await ``fn`` with no time limit; a retry's config is made current."""
    fn = spec.fn
    with _compat.use_config(None if cfg is call.config else cfg):
        kwargs = kwargs_for(spec.accepts, cfg, call.node())
        if spec.is_async:
            return await fn(state, **kwargs)
        # A sync fn: LangChain's bounded executor (as LangGraph uses for sync nodes),
        # but awaited here, where cancellation ends the wait at once and fires the
        # call's signal so cooperative code stops; the thread cannot be killed.
        try:
            return await run_in_executor(None, fn, state, **kwargs)
        except asyncio.CancelledError:
            call.controller().abort("cancelled")
            raise


async def attempt_async(spec: NodeSpec, state: Any, call: Call, cfg: RunnableConfig | None) -> Any:
    """Run one attempt from async code: an async ``fn``, or a sync one in a worker thread."""
    fault = planned_fault(id(spec), spec.timeout, cfg)  # the testing kit's sweep only
    if fault is not None:
        spec = dataclasses.replace(spec, fn=fault.fn(spec.is_async))
    is_async = spec.is_async
    if spec.unlimited and call.run_signal is None:
        if spec.breaker is not None:
            return await _breaker_only_async(spec, state, call, cfg)
        return await _plain_async(spec, state, call, cfg)
    guard = _Guarded(spec, call, cfg, fault, not is_async)  # threaded
    try:
        with _compat.use_config(guard.cfg):
            func = functools.partial(
                spec.fn, state, **kwargs_for(spec.accepts, guard.cfg, call.node())
            )
            run_attempt: Callable[..., Awaitable[Any]] = arun_async if is_async else arun_sync
            result = await run_attempt(func, guard.bounds)
            # An abort wins even if the attempt just finished (an async fn can return
            # before the signal's wake-up reaches this task): the run stops either way.
            call.check_run_signal()
    except BaseException as exc:
        if (timed_out := guard.timed_out(spec, call, exc)) is not None:
            await acall_hook(spec.on_timeout, guard.ctx, **guard.on_timeout(spec))
            raise timed_out from None
        raise
    finally:
        guard.leave()
    return guard.succeeded(spec, result)


def counts_for_breaker(exc: BaseException, retry: RetryConfig | None) -> bool:
    """Retryable failures and timeouts open a circuit; nothing else does.

    Non-retryable errors, aborts, rejections, cancellation and LangGraph's
    control flow are ignored.
    """
    if is_control_flow(exc):
        return False
    if isinstance(exc, _LGNodeTimeoutError):
        return True
    return retry.should_retry(exc) if retry is not None else is_retryable_node_error(exc)


def tell_breaker(
    breaker: CircuitBreaker | None, retry: RetryConfig | None, exc: BaseException
) -> None:
    """Tell ``breaker`` (if any) how an attempt that raised ``exc`` counts."""
    if breaker is None:
        return
    if counts_for_breaker(exc, retry):
        breaker.on_failure()
    else:
        breaker.on_ignored()


def tell_run(spec: NodeSpec, call: Call, exc: BaseException, step: Retry | BaseException) -> None:
    """Tell the run that follows the call (``runs.run``'s tracker, in the call's config
    under ``RUN_TRACKER_KEY``) that an attempt failed.

    ``step`` is what the loop decided after ``exc``: a ``Retry`` (its ``wait`` is slept
    before the next attempt) or the exception that ends the call. The tracker gets the
    attempt's own record, built as a terminal failure's would be (``record_state``:
    redacted; code and category as the attempt's span reads them), and that wait (None:
    no attempt follows). Called by the loop only when the call's config carries a
    tracker; bookkeeping never fails a node.
    """
    failed, wait = (exc, step.wait) if isinstance(step, Retry) else (step, None)
    try:
        tracker = call.config["configurable"][RUN_TRACKER_KEY]  # type: ignore[index]
        code, category = code_and_category(failed, spec.retry)
        node, number = call.node(), call.attempt
        # The run knows its own ids: the record goes without them (no run_ids() to build).
        record = record_state(
            failed, code, category, node, number, call.elapsed_ms(), None, None, time.time()
        )
        tracker.attempt_failed(call.config, number, record, wait)
    except Exception:  # a run's bookkeeping: the node goes on as if no run followed it
        spec.log.emit(logging.DEBUG, "run.attempt_untold", node=call.node())
