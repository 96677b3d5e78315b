"""The execution engine behind ``create_node``.

One call of a wrapped node: the cache, then attempts until one succeeds or the
retry policy gives up, then the failure outcome (record, fallback, hooks)::

    attempt := deadline check -> run-signal check -> breaker admits -> fn under
               its time limit and abort signal -> breaker told the outcome
    failure := abort? raise NodeAbortedError.  tenacity says stop, or the wait
               would end past the deadline? terminal.  drain requested? raise
               GraphDrained.  else wait (interrupted at once by an abort,
               polled for drain) and try again.

A plain node (no timeout, deadline, breaker or run signal) calls ``fn`` directly:
the success path costs a few microseconds; tenacity is entered only after a
failure. Per-call state lives in a ``Call`` (see ``call.py``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import tenacity
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config
from tenacity import RetryCallState

from langgraph_runner import _compat
from langgraph_runner.attempt import attempt_async, attempt_sync, tell_breaker
from langgraph_runner.cache import CacheKey, NodeCache
from langgraph_runner.call import Call
from langgraph_runner.circuit import CircuitBreaker
from langgraph_runner.classify import is_control_flow
from langgraph_runner.context import _CURRENT, NodeContext
from langgraph_runner.errors import NodeAbortedError, NodeError
from langgraph_runner.failure import Fallback, fail_async, fail_sync
from langgraph_runner.hooks import acall_hook, call_hook
from langgraph_runner.logs import EventLogger
from langgraph_runner.retry import RetryAttempt, RetryConfig
from langgraph_runner.sanitize import sanitize_message
from langgraph_runner.waits import wait_async, wait_sync

__all__ = ["NodeRunner", "NodeSpec"]

INFO = logging.INFO
WARNING = logging.WARNING
_MISSING = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSpec:
    """Everything ``create_node`` validated, fixed for the node's lifetime."""

    fn: Callable[..., Any]
    name: str | None
    is_async: bool
    accepts: dict[str, tuple[str, Any]]
    retry: RetryConfig | None
    on_retry_attempt: Callable[[RetryAttempt], Any] | None
    on_error: str
    log: EventLogger
    cache: NodeCache | None = None
    fingerprint: str = ""
    metrics: Any = None
    timeout: float | None = None
    deadline: float | None = None
    on_timeout: Callable[[NodeContext], Any] | None = None
    breaker: CircuitBreaker | None = None
    fallback: Fallback | None = None
    fallback_accepts: dict[str, tuple[str, Any]] | None = None
    fallback_is_async: bool = False
    on_failure: Callable[[NodeError, Any], Any] | None = None


class _Retry:
    """One call's retry bookkeeping, on tenacity (created after the first failure)."""

    __slots__ = ("retrying", "rs")

    def __init__(self, template: tenacity.Retrying) -> None:
        self.retrying = template.copy()
        self.retrying.begin()
        self.rs = RetryCallState(self.retrying, fn=None, args=(), kwargs={})

    def next_delay(self, exc: BaseException) -> float | BaseException:
        """The wait before the next attempt, or the exception that ends the call."""
        rs = self.rs
        rs.set_exception((type(exc), exc, exc.__traceback__))
        tb = exc.__traceback__
        try:
            action = self.retrying.iter(rs)
        except BaseException as final:  # tenacity re-raises the original (reraise=True)
            if final is exc:  # ... with its own frames appended: restore ours
                final.__traceback__ = tb
            return final
        return float(action)  # type: ignore[arg-type]  # DoSleep is a float


def _tenacity_for(retry: RetryConfig) -> tenacity.Retrying:
    def wait(rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome is not None else None
        return retry.compute_delay(rs.attempt_number, exc)

    def should_retry(rs: RetryCallState) -> bool:
        exc = rs.outcome.exception() if rs.outcome is not None else None
        return exc is not None and retry.should_retry(exc)

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(retry.max_attempts),
        wait=wait,
        retry=should_retry,
        reraise=True,
    )


SyncEntry = Callable[..., Any]
"""``(state, config=None)``: one node call from sync code."""
AsyncEntry = Callable[..., Awaitable[Any]]
"""``(state, config=None)``: one node call from async code."""


class NodeRunner:
    """Runs the calls of one wrapped node: context, attempts, waits, records, logs."""

    __slots__ = ("_retrying", "arun", "run", "spec", "unlimited")

    run: SyncEntry
    """``run(state, config)``: one call from sync code (a sync ``fn`` under ``invoke``)."""
    arun: AsyncEntry
    """``await arun(state, config)``: one call from async code (an async ``fn``, or a
    sync one under ``ainvoke``)."""

    def __init__(self, spec: NodeSpec) -> None:
        self.spec = spec
        self._retrying: tenacity.Retrying | None = None
        if spec.retry is not None and spec.retry.max_attempts > 1:
            self._retrying = _tenacity_for(spec.retry)
        # No per-attempt controller or context unless a run signal turns up in the config.
        self.unlimited = spec.timeout is None and spec.deadline is None
        loop, aloop = _sync_loop(self), _async_loop(self)
        if spec.cache is None:
            self.run, self.arun = loop, aloop
        else:
            self.run, self.arun = _cached_sync(self, loop), _cached_async(self, aloop)

    # ------------------------------------------------------------------ helpers

    def kwargs(
        self,
        config: RunnableConfig | None,
        call: Call,
        accepts: dict[str, tuple[str, Any]] | None = None,
    ) -> dict[str, Any]:
        accepts = self.spec.accepts if accepts is None else accepts
        if not accepts:
            return {}
        runtime = _compat.runtime_of(config)
        kwargs: dict[str, Any] = {}
        for kw, (runtime_key, default) in accepts.items():
            value: Any = _MISSING
            if kw == "config":
                value = config if config is not None else ensure_config()
            elif kw == "error":
                value = _compat.node_error_of(config) or _MISSING
            elif runtime is not None:
                value = runtime if kw == "runtime" else getattr(runtime, runtime_key, _MISSING)
            if value is _MISSING:
                if default is inspect.Parameter.empty:
                    # The same error LangGraph raises for a node it cannot inject into.
                    raise ValueError(
                        f"Missing required config key '{runtime_key}' for '{call.get().node}'."
                    )
                value = default
            kwargs[kw] = value
        return kwargs

    def emit(self, level: int, event: str, ctx: NodeContext, **fields: Any) -> None:
        """Log one node event with the context's identifiers."""
        self.spec.log.emit(
            level,
            event,
            node=ctx.node,
            attempt=ctx.attempt,
            **fields,
            thread_id=ctx.thread_id,
            run_id=ctx.run_id,
            trace_id=ctx.trace_id,
        )

    def _succeeded(self, call: Call, info: bool) -> None:
        """Report the success to the collector (if any) and log ``node.succeeded``."""
        collector = call.metrics
        if collector is not None:
            try:  # call.send(), inlined: this runs on every successful call
                collector.record_success(call.node(), call.elapsed_ms())
            except Exception as exc:
                call.metrics_failed(exc, "record_success")
        if info:
            self.emit(INFO, "node.succeeded", call.get(), duration_ms=round(call.elapsed_ms(), 3))

    def _aborted(self, call: Call, exc: NodeAbortedError) -> None:
        reason = exc.reason
        self.emit(
            WARNING,
            "node.aborted",
            call.get(),
            reason=None if reason is None else sanitize_message(str(reason), max_length=200),
        )

    # ------------------------------------------------------------------ after a failed attempt

    def _next_step(self, call: Call, retry: _Retry | None, exc: BaseException) -> Any:
        """Decide after a failed attempt.

        Returns:
            ``(retry, delay, info)`` to wait and try again, or the exception that
            ends the call.

        Raises:
            NodeAbortedError: The run was aborted (never retried, never recorded).
            GraphDrained: LangGraph asked the run to drain.
        """
        if isinstance(exc, NodeAbortedError):
            raise exc  # logged once, where the call loop lets it out
        # An attempt that failed *because* the run was aborted (the connection it
        # used was closed, ...) is an abort too: never recorded, no fallback.
        call.check_run_signal()
        if self._retrying is None:
            return exc
        if retry is None:
            retry = _Retry(self._retrying)
        step = retry.next_delay(exc)
        if isinstance(step, BaseException):
            return step
        remaining = call.remaining()
        if remaining is not None and step >= remaining:
            return call.deadline_error(exc)  # no wait sleeps past the deadline
        call.check_drain()
        call.check_run_signal()
        ctx = call.get()
        call.report("record_retry", ctx.attempt)
        if self.spec.log.enabled(WARNING):
            self.emit(
                WARNING,
                "node.retrying",
                ctx,
                next_delay=round(step, 3),
                error_type=type(exc).__name__,
            )
        info = RetryAttempt(
            node=ctx.node, attempt=ctx.attempt, error=exc, next_delay=step, context=ctx
        )
        return retry, step, info

    # ------------------------------------------------------------------ the cache

    def _cache_key(self, call: Call, state: Any) -> CacheKey:
        cache = self.spec.cache
        assert cache is not None
        ctx = call.get()
        return cache.key(
            ctx.node, state, thread_id=ctx.thread_id, fingerprint=self.spec.fingerprint
        )

    def _cache_hit(self, call: Call) -> None:
        call.report("record_cache_hit")
        if self.spec.log.enabled(INFO):
            self.emit(INFO, "node.cache_hit", call.get())


# The entry points are closures made once per node (``NodeRunner.run``/``arun``), called
# straight from the node's invoke/ainvoke: a call costs one frame of ours, and what is
# fixed for the node's lifetime is a local, not a lookup.


def _sync_loop(runner: NodeRunner) -> SyncEntry:
    spec = runner.spec
    fn = spec.fn
    log = spec.log
    breaker = spec.breaker
    unlimited = runner.unlimited

    def run(state: Any, config: RunnableConfig | None = None, call: Call | None = None) -> Any:
        if call is None:
            call = Call(runner, config)
        token = _CURRENT.set(call)
        try:
            info = log.enabled(INFO)  # checked once per call
            if info:
                runner.emit(INFO, "node.started", call.get())
            cfg = call.config
            retry: _Retry | None = None
            while True:
                try:
                    if (
                        unlimited
                        and call.run_signal is None
                        and cfg is call.config
                        and (breaker is None or breaker.settled)
                    ):  # the common case, inlined (see _async_loop)
                        try:
                            if spec.accepts:
                                result = fn(state, **runner.kwargs(cfg, call))
                            else:
                                result = fn(state)
                        except BaseException as exc:
                            if breaker is not None:
                                tell_breaker(spec, exc)
                            raise
                        if breaker is not None and not breaker.settled:
                            breaker.on_success()  # another call failed meanwhile
                    else:
                        result = attempt_sync(runner, state, call, cfg)
                except BaseException as exc:
                    if is_control_flow(exc):
                        raise
                    step = runner._next_step(call, retry, exc)
                    if isinstance(step, BaseException):
                        return fail_sync(runner, state, call, step)
                    retry, delay, attempt_info = step
                    call_hook(
                        spec.on_retry_attempt, attempt_info, log=log,
                        hook_name="on_retry_attempt", node=attempt_info.node,
                    )  # fmt: skip
                    wait_sync(call, delay)
                    retry.rs.prepare_for_next_attempt()
                    cfg = _compat.config_for_retry(cfg)
                    call.next_attempt(retry.rs.attempt_number)
                    continue
                if info or call.metrics is not None:
                    runner._succeeded(call, info)
                return result
        except NodeAbortedError as exc:
            runner._aborted(call, exc)
            raise
        finally:
            _CURRENT.reset(token)
            if call._controller is not None:
                call.close()

    return run


def _async_loop(runner: NodeRunner) -> AsyncEntry:
    spec = runner.spec
    fn = spec.fn
    log = spec.log
    breaker = spec.breaker
    # Only an async fn is awaited inline; a sync fn under ainvoke runs in a worker thread.
    inline = spec.is_async and runner.unlimited

    async def arun(
        state: Any, config: RunnableConfig | None = None, call: Call | None = None
    ) -> Any:
        if call is None:
            call = Call(runner, config)
        token = _CURRENT.set(call)
        try:
            info = log.enabled(INFO)  # checked once per call
            if info:
                runner.emit(INFO, "node.started", call.get())
            cfg = call.config
            retry: _Retry | None = None
            while True:
                try:
                    if (
                        inline
                        and call.run_signal is None
                        and cfg is call.config
                        and (breaker is None or breaker.settled)
                    ):
                        # The common case, inlined (every call on this path pays for each
                        # function call): a settled breaker (closed, nothing counted) needs
                        # neither before_call nor on_success; a failure is told, and a success
                        # once another call's failure unsettled it meanwhile.
                        try:
                            if spec.accepts:
                                result = await fn(state, **runner.kwargs(cfg, call))
                            else:
                                result = await fn(state)
                        except BaseException as exc:
                            if breaker is not None:
                                tell_breaker(spec, exc)
                            raise
                        if breaker is not None and not breaker.settled:
                            breaker.on_success()  # another call failed meanwhile
                    else:
                        result = await attempt_async(runner, state, call, cfg)
                except BaseException as exc:
                    if is_control_flow(exc):
                        raise
                    step = runner._next_step(call, retry, exc)
                    if isinstance(step, BaseException):
                        return await fail_async(runner, state, call, step)
                    retry, delay, attempt_info = step
                    await acall_hook(
                        spec.on_retry_attempt, attempt_info, log=log,
                        hook_name="on_retry_attempt", node=attempt_info.node,
                    )  # fmt: skip
                    await wait_async(call, delay)
                    retry.rs.prepare_for_next_attempt()
                    cfg = _compat.config_for_retry(cfg)
                    call.next_attempt(retry.rs.attempt_number)
                    continue
                if info or call.metrics is not None:
                    runner._succeeded(call, info)
                return result
        except NodeAbortedError as exc:
            runner._aborted(call, exc)
            raise
        finally:
            _CURRENT.reset(token)
            if call._controller is not None:
                call.close()

    return arun


def _cached_sync(runner: NodeRunner, loop: SyncEntry) -> SyncEntry:
    cache = runner.spec.cache
    assert cache is not None
    events = runner.spec.log

    def run(state: Any, config: RunnableConfig | None = None) -> Any:
        call = Call(runner, config)
        key = runner._cache_key(call, state)
        found = cache.lookup(key, events=events)
        if found.hit:
            runner._cache_hit(call)
            return found.value
        result = loop(state, config, call)
        if not call.failed:
            cache.store(key, result, events=events)
        return result

    return run


def _cached_async(runner: NodeRunner, loop: AsyncEntry) -> AsyncEntry:
    cache = runner.spec.cache
    assert cache is not None
    events = runner.spec.log

    async def arun(state: Any, config: RunnableConfig | None = None) -> Any:
        call = Call(runner, config)
        key = runner._cache_key(call, state)
        found = await cache.alookup(key, events=events)
        if found.hit:
            runner._cache_hit(call)
            return found.value
        result = await loop(state, config, call)
        if not call.failed:
            await cache.astore(key, result, events=events)
        return result

    return arun
