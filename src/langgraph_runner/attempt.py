"""One attempt of a wrapped node: deadline, abort signal, circuit breaker, time limit.

::

    deadline left? -> run signal not fired? -> breaker admits? -> fn, under the
    attempt's time limit and abort signal -> breaker told the outcome

A plain node (no timeout, deadline, breaker or run signal) calls ``fn`` directly
(a sync ``fn`` from async code goes to LangChain's bounded executor, awaited from
our task, so cancellation ends the wait at once instead of retrying on in
LangGraph's executor thread). Otherwise each attempt gets an ``AbortController``
that follows the run's signal and is aborted at the time limit (a sync ``fn``
then runs in an abandonable worker thread, see ``timeouts``); its
``NodeContext`` is fixed for the attempt, so an abandoned thread keeps seeing
its own (fired) signal.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import run_in_executor
from langgraph.errors import NodeTimeoutError as _LGNodeTimeoutError

from langgraph_runner import _compat
from langgraph_runner.abort import AbortController
from langgraph_runner.call import Call
from langgraph_runner.classify import is_control_flow, is_retryable_node_error
from langgraph_runner.context import NodeContext, _reset_context, _set_context
from langgraph_runner.errors import NodeTimeoutError
from langgraph_runner.hooks import acall_hook, call_hook
from langgraph_runner.retry import RetryConfig
from langgraph_runner.timeouts import arun_async_attempt, arun_sync_attempt, run_sync_attempt

if TYPE_CHECKING:
    from langgraph_runner.runner import NodeRunner, NodeSpec

__all__ = [
    "ON_TIMEOUT_LIMIT",
    "attempt_async",
    "attempt_sync",
    "counts_for_breaker",
    "tell_breaker",
]

WARNING = 30
ON_TIMEOUT_LIMIT = 5.0
"""Seconds an ``on_timeout`` hook may run before it is abandoned (and logged)."""


def tell_breaker(spec: NodeSpec, exc: BaseException) -> None:
    """Tell the node's breaker (if any) how an attempt that raised ``exc`` counts."""
    breaker = spec.breaker
    if breaker is None:
        return
    if counts_for_breaker(exc, spec.retry):
        breaker.on_failure()
    else:
        breaker.on_ignored()


def _timed_out(call: Call, exc: BaseException, deadline_limit: bool) -> BaseException:
    """The error a timed-out attempt ends with (the deadline's, if it set the limit)."""
    if deadline_limit and isinstance(exc, NodeTimeoutError):
        return call.deadline_error()
    return exc


def _plain_sync(runner: NodeRunner, state: Any, call: Call, cfg: RunnableConfig | None) -> Any:
    """Call ``fn`` in this thread; a retry's config is made current for ``interrupt()``."""
    spec = runner.spec
    if cfg is call.config:
        return spec.fn(state, **runner.kwargs(cfg, call))
    with _compat.use_config(cfg):
        return spec.fn(state, **runner.kwargs(cfg, call))


def _breaker_only_sync(
    runner: NodeRunner, state: Any, call: Call, cfg: RunnableConfig | None
) -> Any:
    """A breaker but no time limit or signal: no per-attempt controller or context."""
    breaker = runner.spec.breaker
    assert breaker is not None
    breaker.before_call(call.node)
    try:
        result = _plain_sync(runner, state, call, cfg)
    except BaseException as exc:
        tell_breaker(runner.spec, exc)
        raise
    breaker.on_success()
    return result


async def _breaker_only_async(
    runner: NodeRunner, state: Any, call: Call, cfg: RunnableConfig | None
) -> Any:
    """The async ``_breaker_only_sync``."""
    breaker = runner.spec.breaker
    assert breaker is not None
    breaker.before_call(call.node)
    try:
        result = await _plain_async(runner, state, call, cfg)
    except BaseException as exc:
        tell_breaker(runner.spec, exc)
        raise
    breaker.on_success()
    return result


def _admit(
    runner: NodeRunner, call: Call
) -> tuple[float | None, bool, AbortController, NodeContext]:
    """Whether a guarded attempt may start, and what it runs under.

    Returns:
        ``(limit, deadline_limit, controller, ctx)``: the attempt's time limit,
        whether it is what is left of the deadline, its abort controller and the
        context that carries the controller's signal.

    Raises:
        NodeTimeoutError: The deadline has run out.
        NodeAbortedError: The run's signal has fired.
        CircuitOpenError: The breaker rejects the attempt.
    """
    limit, deadline_limit = call.attempt_limit()
    call.check_run_signal()
    breaker = runner.spec.breaker
    if breaker is not None:
        breaker.before_call(call.get().node)
    controller, ctx = call.begin_attempt()
    return limit, deadline_limit, controller, ctx


def _attempt_failed(
    runner: NodeRunner, ctx: NodeContext, exc: BaseException, limit: float | None
) -> bool:
    """Tell the breaker; log a timeout. Returns whether the attempt timed out."""
    tell_breaker(runner.spec, exc)
    if not isinstance(exc, NodeTimeoutError):
        return False
    runner.emit(WARNING, "node.timed_out", ctx, timeout=round(limit or 0.0, 3))
    return True


def attempt_sync(runner: NodeRunner, state: Any, call: Call, cfg: RunnableConfig | None) -> Any:
    """Run one attempt of a sync ``fn`` from sync code (see the module docstring)."""
    spec = runner.spec
    if runner.unlimited and call.run_signal is None:
        if spec.breaker is not None:
            return _breaker_only_sync(runner, state, call, cfg)
        return _plain_sync(runner, state, call, cfg)
    limit, deadline_limit, controller, ctx = _admit(runner, call)
    token = _set_context(ctx)  # fixed: an abandoned thread keeps its own attempt's signal
    try:
        with _compat.use_config(cfg):
            func = functools.partial(spec.fn, state, **runner.kwargs(cfg, call))
            if limit is None:
                result = func()
            else:
                result = run_sync_attempt(
                    func,
                    node=ctx.node,
                    attempt=ctx.attempt,
                    timeout=limit,
                    controller=controller,
                    run_signal=call.run_signal,
                )
            call.check_run_signal()  # cooperative code returns early *because* of it
    except BaseException as exc:
        if _attempt_failed(runner, ctx, exc, limit):
            call_hook(
                spec.on_timeout, ctx, log=spec.log, hook_name="on_timeout", node=ctx.node,
                limit=ON_TIMEOUT_LIMIT,
            )  # fmt: skip
            raise _timed_out(call, exc, deadline_limit) from None
        raise
    finally:
        _reset_context(token)
        controller.close()
    if spec.breaker is not None:
        spec.breaker.on_success()
    return result


async def _plain_async(
    runner: NodeRunner, state: Any, call: Call, cfg: RunnableConfig | None
) -> Any:
    """Await ``fn`` with no time limit; a retry's config is made current."""
    fn = runner.spec.fn
    with _compat.use_config(None if cfg is call.config else cfg):
        kwargs = runner.kwargs(cfg, call)
        if runner.spec.is_async:
            return await fn(state, **kwargs)
        # A sync fn: LangChain's bounded executor (as LangGraph uses for sync nodes),
        # but awaited here, where cancellation ends the wait at once and fires the
        # call's signal so cooperative code stops; the thread cannot be killed.
        try:
            return await run_in_executor(None, fn, state, **kwargs)
        except asyncio.CancelledError:
            call.controller().abort("cancelled")
            raise


async def attempt_async(
    runner: NodeRunner, state: Any, call: Call, cfg: RunnableConfig | None
) -> Any:
    """Run one attempt from async code: an async ``fn``, or a sync one in a worker thread."""
    spec = runner.spec
    is_async = spec.is_async
    if runner.unlimited and call.run_signal is None:
        if spec.breaker is not None:
            return await _breaker_only_async(runner, state, call, cfg)
        return await _plain_async(runner, state, call, cfg)
    limit, deadline_limit, controller, ctx = _admit(runner, call)
    token = _set_context(ctx)  # fixed: an abandoned thread keeps its own attempt's signal
    try:
        with _compat.use_config(cfg):
            func = functools.partial(spec.fn, state, **runner.kwargs(cfg, call))
            run_attempt: Callable[..., Awaitable[Any]] = (
                arun_async_attempt if is_async else arun_sync_attempt
            )
            result = await run_attempt(
                func,
                node=ctx.node,
                attempt=ctx.attempt,
                timeout=limit,
                controller=controller,
                run_signal=call.run_signal,
            )
            # An abort wins even if the attempt just finished (an async fn can return
            # before the signal's wake-up reaches this task): the run stops either way.
            call.check_run_signal()
    except BaseException as exc:
        if _attempt_failed(runner, ctx, exc, limit):
            await acall_hook(
                spec.on_timeout, ctx, log=spec.log, hook_name="on_timeout", node=ctx.node,
                limit=ON_TIMEOUT_LIMIT,
            )  # fmt: skip
            raise _timed_out(call, exc, deadline_limit) from None
        raise
    finally:
        _reset_context(token)
        controller.close()
    if spec.breaker is not None:
        spec.breaker.on_success()
    return result


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
