"""The loop of one wrapped-node call: the engine's top, read it top-down.

::

    call := Call(spec, config) -> node.started
            loop: attempt (inline fast path, or attempt.attempt_*)
                  success -> metrics + node.succeeded -> result
                  failure -> control flow? re-raise untouched
                             streamed tokens? -> discarded_message event (tokens)
                             policy.decide(...) -> Retry: metrics + node.retrying,
                                                   on_retry_attempt hook, wait, next attempt
                                              -> exception: end (record, log
                                                 line, update or raise); with a fallback,
                                                 on_failure or callbacks, finish.fail_*
            NodeAbortedError -> node.aborted, re-raised

``make_loops(spec)`` builds the two entry points once per node (``run`` for
sync code, ``arun`` for async code) as closures, so what is fixed for the node's
lifetime is a local, not a lookup: a call costs one frame of ours. A plain node
(no timeout, deadline, breaker or run signal) calls ``fn`` inline; tenacity is
entered only after a failure. The sync and async drivers are twins that differ
only in ``await``; every decision they make is shared (``policy``, ``attempt``,
``finish``). With a cache, ``cached`` wraps both.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from time import perf_counter, time
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from tenacity import RetryCallState

from langgraph_runner._engine.attempt import attempt_async, attempt_sync, tell_breaker, tell_run
from langgraph_runner._engine.call import Call, kwargs_for
from langgraph_runner._engine.faults import PLANS
from langgraph_runner._engine.finish import fail_async, fail_sync
from langgraph_runner._engine.hooks import acall_hook, call_hook
from langgraph_runner._engine.policy import Policy, Retry, attempt_info
from langgraph_runner._engine.records import (
    GENERAL,
    RECORD_CHANNELS,
    code_and_category,
    failure_update,
    log_failed,
    marked,
    raise_redacted,
    record_message,
    record_model,
    record_state,
    schema_error,
    send_fields,
)
from langgraph_runner._engine.spec import NodeSpec
from langgraph_runner._engine.streamed import discarded, unwatch, watch
from langgraph_runner._engine.waits import wait_async, wait_sync
from langgraph_runner._internal import compat as _compat
from langgraph_runner._policies.context import CURRENT, RUN_TRACKER_KEY
from langgraph_runner._policies.run_scope import streak_key
from langgraph_runner._records.classify import MAYBE_CONTROL_FLOW, is_control_flow
from langgraph_runner._records.egress import egress_text
from langgraph_runner._records.exceptions import (
    BudgetExceededError,
    FailureLoopError,
    NodeAbortedError,
)
from langgraph_runner._traces.node_span import NodeSpans
from langgraph_runner._traces.spans import NEXT_LOOK

__all__ = ["AsyncEntry", "SyncEntry", "end", "make_loops"]

INFO = logging.INFO
WARNING = logging.WARNING
ERROR = logging.ERROR
CONFIG_VAR = var_child_runnable_config

SyncEntry = Callable[..., Any]
"""``(state, config=None)``: one node call from sync code."""
AsyncEntry = Callable[..., Awaitable[Any]]
"""``(state, config=None)``: one node call from async code."""


def make_loops(spec: NodeSpec) -> tuple[SyncEntry, AsyncEntry]:
    """The node's ``run`` and ``arun`` loops (``cached.make_entries`` adds the cache)."""
    policy = Policy(spec.retry)
    return _sync_loop(spec, policy), _async_loop(spec, policy)


# ---------------------------------------------------------------------- effects of a step


def _succeeded(call: Call) -> None:
    """Log ``node.succeeded`` (the drivers report the success to the collector inline)."""
    call.event(INFO, "node.succeeded", duration_ms=round(call.elapsed_ms(), 3))


def _aborted(spec: NodeSpec, call: Call, exc: NodeAbortedError) -> None:
    reason = exc.reason
    call.event(
        WARNING,
        "node.aborted",
        reason=None if reason is None else egress_text(str(reason), max_length=200),
    )


def _span_failed(
    spans: NodeSpans, spec: NodeSpec, exc: BaseException, step: Retry | BaseException
) -> None:
    """Tell the call's spans how an attempt failed and what was decided (``step``: a
    ``Retry``, or the exception that ends the call)."""
    if isinstance(step, Retry):
        code, category = code_and_category(exc, spec.retry)
        spans.failed(exc, code._value_, category._value_, step.delay)
    else:
        code, category = code_and_category(step, spec.retry)
        spans.failed(step, code._value_, category._value_, None)


# ---------------------------------------------------------------------- the ending


def end(spec: NodeSpec, call: Call, exc: BaseException, input_: Any) -> Any:
    """A terminal failure when nothing but its record is wanted, in one frame, for both
    drivers; ``GENERAL`` when more is (a fallback, an ``on_failure`` hook or a callback
    handler: ``fail_sync``/``fail_async`` go on). What may end the whole run is raised.

    The common case: ``_record`` and the rest of ``fail_sync`` without the ``Failure``
    object. In raise mode the failure is classified only for a collector or the
    ``node.failed`` event, and no record is built: the event shows the record's
    message.
    """
    if isinstance(exc, _ENDS_RUN) and _ends_run(exc):  # the whole run stops
        raise exc
    if spec.fallback is not None or spec.on_failure is not None:
        return GENERAL
    config = call.config
    callbacks = config.get("callbacks") if config else None
    if getattr(callbacks, "handlers", callbacks):  # _has_handlers(config), inlined
        return GENERAL
    duration_ms = (perf_counter() - call.t0) * 1000
    # Nobody would see it (NOBODY): skip building the event; only the last-resort
    # handler would (the default): its line alone.
    logged = spec.log.audience(ERROR)
    call.failed = True
    collector = call.metrics
    if spec.on_error == "raise":
        if logged or collector is not None:
            code, category = code_and_category(exc, spec.retry)
            if logged:  # the record's message alone: no record is built
                message = record_message(exc, code, call.node(), call.attempt)
                log_failed(spec, call, exc, code, category, duration_ms, message, logged)
            if collector is not None:
                call.count_failure(collector, exc, code, category, duration_ms)
        return raise_redacted(spec, call, exc)
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
        message = state["message"]
        log_failed(spec, call, exc, code, category, duration_ms, message, logged)
    if collector is not None:
        call.count_failure(collector, exc, code, category, duration_ms)
    if _compat.missing_channels(call.config, RECORD_CHANNELS):
        schema_error(call, exc)
    streaks = spec.streaks
    if streaks is not None:  # the loop guard: the limit-th failure in a row raises
        model = functools.partial(record_model, state, code, category)
        key = streak_key(call.config, call.node(), ids[0])  # call.streak_key(), uncached
        streaks.failed(call.config, key, scope=ids[4], record=model)
    return failure_update([state], None)


_ENDS_RUN = (FailureLoopError, BudgetExceededError)
"""What may end the whole run (``_ends_run`` tells), tested first with one isinstance."""


def _ends_run(exc: BaseException) -> bool:
    """The loop guard's error, or a spent ``Budget(on_exhausted="raise")``: never
    recorded, whatever ``on_error`` says."""
    return isinstance(exc, FailureLoopError) or bool(getattr(exc, "raise_run", False))


# ---------------------------------------------------------------------- the drivers
# The two drivers are above the complexity limit (C901) on purpose: each is the one
# loop of a call (attempt, retry decision, wait, success, failure), with the success
# path inlined so a plain success costs two frames (docs/performance.md); every
# decision it takes is a call into policy, attempt, waits or finish.


def _sync_loop(spec: NodeSpec, policy: Policy) -> SyncEntry:  # noqa: C901 (see above)
    fn, log, breaker, accepts = spec.fn, spec.log, spec.breaker, spec.accepts
    std = log.stdlib  # None with a custom logger
    unlimited, streaks = spec.unlimited, spec.streaks

    def run(  # noqa: C901 (the driver, see above)
        state: Any, config: RunnableConfig | None = None, call: Call | None = None
    ) -> Any:
        if call is None:
            call = Call(spec, config)
        since = streaks.seq if streaks is not None else 0
        # watch(): a run that streams "messages" collects its tokens; the cheap test
        # inlined (a graph task's callbacks are a manager with no handlers, else None).
        callbacks = config.get("callbacks") if config else None
        watched = watch(config) if getattr(callbacks, "handlers", callbacks) else None
        token = CURRENT.set(call)
        spans = call.spans
        owner = spans is None and call.t0 >= NEXT_LOOK[0]  # a tracer provider: look
        try:
            if owner:
                spans = call.open_spans()
            # log.enabled(INFO), checked once per call: the stdlib logger's own level
            # cache read inline (as isEnabledFor does), the call made only without an answer.
            info = None if std is None or std.disabled else std._cache.get(INFO)
            if info is None:  # a custom logger, a disabled one, or a cache just cleared
                info = log.enabled(INFO)
            if info:
                call.event(INFO, "node.started")
            cfg = call.config
            retry: RetryCallState | None = None
            while True:
                if spans is not None:
                    spans.attempt(call.attempt)
                try:
                    if (
                        unlimited
                        and call.run_signal is None
                        and (breaker is None or breaker.settled)
                        and not PLANS[0]  # no sweep (testing kit) is failing attempts
                    ):  # the common case, inlined (see _async_loop)
                        try:
                            if cfg is call.config:
                                if accepts:
                                    result = fn(state, **kwargs_for(accepts, cfg, call.node()))
                                else:
                                    result = fn(state)
                            else:  # a retry: its config is current, for interrupt()
                                # _compat.use_config(cfg), inlined: LangGraph's get_config()
                                # reads langchain_core's config context variable.
                                reset = CONFIG_VAR.set(cfg)
                                try:
                                    if accepts:
                                        result = fn(state, **kwargs_for(accepts, cfg, call.node()))
                                    else:
                                        result = fn(state)
                                finally:
                                    CONFIG_VAR.reset(reset)
                        except BaseException as exc:
                            if breaker is not None:
                                tell_breaker(breaker, spec.retry, exc)
                            raise
                        if breaker is not None and not breaker.settled:
                            breaker.on_success()  # another call failed meanwhile
                    else:
                        result = attempt_sync(spec, state, call, cfg)
                except BaseException as exc:
                    if not isinstance(exc, Exception) or (
                        isinstance(exc, MAYBE_CONTROL_FLOW) and is_control_flow(exc)
                    ):  # is_control_flow(exc), its common answer inlined
                        raise
                    if watched is not None and watched[0].ids:
                        discarded(call.config, watched[0])
                    step = policy.decide(call, retry, exc)
                    if spans is not None:
                        _span_failed(spans, spec, exc, step)
                    if call.config and RUN_TRACKER_KEY in (call.config.get("configurable") or ()):
                        tell_run(spec, call, exc, step)  # runs.run follows the call: tell it
                    if not isinstance(step, Retry):
                        try:
                            update = end(spec, call, step, state)  # the record alone
                            if update is GENERAL:
                                update = fail_sync(spec, state, call, step)
                            return update
                        finally:
                            # The error's traceback holds this frame: drop the frame's own
                            # references to it, so a recorded failure leaves no cycle
                            # behind for the garbage collector.
                            del step, retry
                    # The retry's effects: counted, logged, the hook told, the wait.
                    if call.metrics is not None:
                        call.report("record_retry", call.attempt)
                    if log.enabled(WARNING):
                        call.event(
                            WARNING,
                            "node.retrying",
                            next_delay=round(step.delay, 3),
                            error_type=type(exc).__name__,
                        )
                    hook = spec.on_retry_attempt
                    if hook is not None:
                        call_hook(
                            hook,
                            attempt_info(call, step, exc),
                            log=log,
                            hook_name="on_retry_attempt",
                            node=call.node(),
                        )
                    if step.wait > 0 or hook is not None:  # a hook may abort or drain the run
                        wait_sync(call, step.wait)
                    retry = step.state
                    cfg = _compat.config_for_retry(cfg)
                    retry.prepare_for_next_attempt()
                    call.attempt = retry.attempt_number  # the context follows when read
                    continue
                if spans is not None:
                    spans.succeeded()
                collector = call.metrics
                if collector is not None:  # every success: no frame of its own (see _succeeded)
                    try:
                        collector.record_success(call.node(), (perf_counter() - call.t0) * 1000)
                    except Exception as err:
                        call.metrics_failed(err, "record_success")
                if info:
                    _succeeded(call)
                if streaks is not None and streaks.counting:
                    streaks.succeeded(call.streak_key(), since, call.ids()[4])
                if call.attempt > 1:  # retries that ended in success: the report says so
                    return marked(result, call, {"attempts": call.attempt})
                return result
        except BaseException as exc:
            if isinstance(exc, NodeAbortedError):
                _aborted(spec, call, exc)
            if spans is not None:
                spans.leaving(exc)
            raise
        finally:
            if owner and spans is not None:
                spans.close()
            CURRENT.reset(token)
            if watched is not None:
                unwatch(watched, call.config)
            if call.attempt_controller is not None:
                call.close()

    return run


def _async_loop(spec: NodeSpec, policy: Policy) -> AsyncEntry:  # noqa: C901 (see above)
    fn, log, breaker, accepts = spec.fn, spec.log, spec.breaker, spec.accepts
    std = log.stdlib  # None with a custom logger
    # Only an async fn is awaited inline; a sync fn under ainvoke runs in a worker thread.
    inline, streaks = spec.is_async and spec.unlimited, spec.streaks

    async def arun(  # noqa: C901 (the driver, see above)
        state: Any, config: RunnableConfig | None = None, call: Call | None = None
    ) -> Any:
        if call is None:
            call = Call(spec, config)
        since = streaks.seq if streaks is not None else 0
        # watch(): a run that streams "messages" collects its tokens; the cheap test
        # inlined (a graph task's callbacks are a manager with no handlers, else None).
        callbacks = config.get("callbacks") if config else None
        watched = watch(config) if getattr(callbacks, "handlers", callbacks) else None
        token = CURRENT.set(call)
        spans = call.spans
        owner = spans is None and call.t0 >= NEXT_LOOK[0]  # a tracer provider: look
        try:
            if owner:
                spans = call.open_spans()
            # log.enabled(INFO), checked once per call, inlined (see _sync_loop).
            info = None if std is None or std.disabled else std._cache.get(INFO)
            if info is None:  # a custom logger, a disabled one, or a cache just cleared
                info = log.enabled(INFO)
            if info:
                call.event(INFO, "node.started")
            cfg = call.config
            retry: RetryCallState | None = None
            while True:
                if spans is not None:
                    spans.attempt(call.attempt)
                try:
                    if (
                        inline
                        and call.run_signal is None
                        and (breaker is None or breaker.settled)
                        and not PLANS[0]  # no sweep (testing kit) is failing attempts
                    ):
                        # The common case, inlined (every call on this path pays for each
                        # function call): a settled breaker (closed, nothing counted) needs
                        # neither before_call nor on_success; a failure is told, and a success
                        # once another call's failure unsettled it meanwhile. A retry's
                        # config is made current, for interrupt().
                        try:
                            # _compat.use_config(cfg) for a retry, inlined (see _sync_loop)
                            reset = None if cfg is call.config else CONFIG_VAR.set(cfg)
                            try:
                                if accepts:
                                    result = await fn(
                                        state, **kwargs_for(accepts, cfg, call.node())
                                    )
                                else:
                                    result = await fn(state)
                            finally:
                                if reset is not None:
                                    CONFIG_VAR.reset(reset)
                        except BaseException as exc:
                            if breaker is not None:
                                tell_breaker(breaker, spec.retry, exc)
                            raise
                        if breaker is not None and not breaker.settled:
                            breaker.on_success()  # another call failed meanwhile
                    else:
                        result = await attempt_async(spec, state, call, cfg)
                except BaseException as exc:
                    if not isinstance(exc, Exception) or (
                        isinstance(exc, MAYBE_CONTROL_FLOW) and is_control_flow(exc)
                    ):  # is_control_flow(exc), its common answer inlined
                        raise
                    if watched is not None and watched[0].ids:
                        discarded(call.config, watched[0])
                    step = policy.decide(call, retry, exc)
                    if spans is not None:
                        _span_failed(spans, spec, exc, step)
                    if call.config and RUN_TRACKER_KEY in (call.config.get("configurable") or ()):
                        tell_run(spec, call, exc, step)  # runs.run follows the call: tell it
                    if not isinstance(step, Retry):
                        try:
                            update = end(spec, call, step, state)  # the record alone
                            if update is GENERAL:
                                update = await fail_async(spec, state, call, step)
                            return update
                        finally:
                            # The error's traceback holds this frame: drop the frame's own
                            # references to it, so a recorded failure leaves no cycle
                            # behind for the garbage collector.
                            del step, retry
                    # The retry's effects: counted, logged, the hook told, the wait.
                    if call.metrics is not None:
                        call.report("record_retry", call.attempt)
                    if log.enabled(WARNING):
                        call.event(
                            WARNING,
                            "node.retrying",
                            next_delay=round(step.delay, 3),
                            error_type=type(exc).__name__,
                        )
                    hook = spec.on_retry_attempt
                    if hook is not None:
                        await acall_hook(
                            hook,
                            attempt_info(call, step, exc),
                            log=log,
                            hook_name="on_retry_attempt",
                            node=call.node(),
                        )
                    if step.wait > 0 or hook is not None:  # a hook may abort or drain the run
                        await wait_async(call, step.wait)
                    retry = step.state
                    cfg = _compat.config_for_retry(cfg)
                    retry.prepare_for_next_attempt()
                    call.attempt = retry.attempt_number  # the context follows when read
                    continue
                if spans is not None:
                    spans.succeeded()
                collector = call.metrics
                if collector is not None:  # every success: no frame of its own (see _succeeded)
                    try:
                        collector.record_success(call.node(), (perf_counter() - call.t0) * 1000)
                    except Exception as err:
                        call.metrics_failed(err, "record_success")
                if info:
                    _succeeded(call)
                if streaks is not None and streaks.counting:
                    streaks.succeeded(call.streak_key(), since, call.ids()[4])
                if call.attempt > 1:  # retries that ended in success: the report says so
                    return marked(result, call, {"attempts": call.attempt})
                return result
        except BaseException as exc:
            if isinstance(exc, NodeAbortedError):
                _aborted(spec, call, exc)
            if spans is not None:
                spans.leaving(exc)
            raise
        finally:
            if owner and spans is not None:
                spans.close()
            CURRENT.reset(token)
            if watched is not None:
                unwatch(watched, call.config)
            if call.attempt_controller is not None:
                call.close()

    return arun
