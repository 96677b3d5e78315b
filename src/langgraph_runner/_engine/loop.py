"""The loop of one wrapped-node call: the engine's top, read it top-down.

::

    call := Call(spec, config) -> node.started
            loop: attempt (inline fast path, or attempt.attempt_*)
                  success -> metrics + node.succeeded -> result
                  failure -> control flow? re-raise untouched
                             streamed tokens? -> discarded_message event (tokens)
                             policy.decide(...) -> Retry: metrics + node.retrying,
                                                   on_retry_attempt hook, wait, next attempt
                                              -> exception: finish.fail_* (record,
                                                 fallback, on_failure, update or raise)
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

import logging
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from tenacity import RetryCallState

from langgraph_runner._engine.attempt import attempt_async, attempt_sync, tell_breaker
from langgraph_runner._engine.call import Call, kwargs_for
from langgraph_runner._engine.faults import PLANS
from langgraph_runner._engine.finish import fail_async, fail_sync
from langgraph_runner._engine.hooks import acall_hook, call_hook
from langgraph_runner._engine.policy import Policy, Retry, attempt_info
from langgraph_runner._engine.records import code_and_category
from langgraph_runner._engine.spec import NodeSpec
from langgraph_runner._engine.streamed import discarded, unwatch, watch
from langgraph_runner._engine.waits import wait_async, wait_sync
from langgraph_runner._internal import compat as _compat
from langgraph_runner._policies.context import CURRENT
from langgraph_runner._records.classify import MAYBE_CONTROL_FLOW, is_control_flow
from langgraph_runner._records.egress import egress_text
from langgraph_runner._records.exceptions import NodeAbortedError
from langgraph_runner._traces.node_span import NodeSpans
from langgraph_runner._traces.spans import NEXT_LOOK

__all__ = ["AsyncEntry", "SyncEntry", "make_loops", "marked"]

INFO = logging.INFO
WARNING = logging.WARNING
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

STEP_MARKS = "step_marks"
"""GraphState's channel of what the package noted about each node's latest execution."""


def marked(result: Any, call: Call, mark: dict[str, Any]) -> Any:
    """``result`` with ``step_marks[node]`` set, when it is a plain dict update of a graph task.

    LangGraph drops keys the state does not declare, so a state without the channel
    is unaffected; a ``Command`` or any other result, or a node called directly
    (outside a graph), gets its result as it is.
    """
    if type(result) is not dict:
        return result
    metadata = call.config.get("metadata") if call.config else None
    if not metadata or "langgraph_node" not in metadata:
        return result
    return {**result, STEP_MARKS: {call.node(): mark}}


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
                    if not isinstance(step, Retry):
                        try:
                            return fail_sync(spec, state, call, step)
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
        except NodeAbortedError as exc:
            _aborted(spec, call, exc)
            if spans is not None:
                spans.leaving(exc)
            raise
        except BaseException as exc:
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
                    if not isinstance(step, Retry):
                        try:
                            return await fail_async(spec, state, call, step)
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
        except NodeAbortedError as exc:
            _aborted(spec, call, exc)
            if spans is not None:
                spans.leaving(exc)
            raise
        except BaseException as exc:
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
