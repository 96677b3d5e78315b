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

import asyncio
import contextlib
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import tenacity
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config
from langgraph.errors import NodeTimeoutError as _LGNodeTimeoutError
from tenacity import RetryCallState

from langgraph_runner import _compat
from langgraph_runner.cache import CacheKey, NodeCache
from langgraph_runner.call import Call, context_for
from langgraph_runner.circuit import CircuitBreaker
from langgraph_runner.classify import is_control_flow, is_retryable_node_error
from langgraph_runner.context import NodeContext, _reset_context, _set_context
from langgraph_runner.errors import NodeAbortedError, NodeError, NodeTimeoutError, StateSchemaError
from langgraph_runner.failure import Fallback, failure_update, recovered_update
from langgraph_runner.hooks import _run_coroutine_blocking, acall_hook, call_hook
from langgraph_runner.logs import EventLogger
from langgraph_runner.records import add_note, build_record, redact_exception
from langgraph_runner.retry import RetryAttempt, RetryConfig, skip_wait
from langgraph_runner.sanitize import sanitize_message
from langgraph_runner.timeouts import arun_async_attempt, arun_sync_attempt, run_sync_attempt

__all__ = ["ON_TIMEOUT_LIMIT", "NodeRunner", "NodeSpec"]

INFO = logging.INFO
WARNING = logging.WARNING
_MISSING = object()
_RECORD_CHANNELS = ("errors", "routing_flags")
DRAIN_POLL_INTERVAL = 0.1
"""Seconds between checks for a LangGraph drain request during a retry wait."""
ON_TIMEOUT_LIMIT = 5.0
"""Seconds an ``on_timeout`` hook may run before it is abandoned (and logged)."""


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


class NodeRunner:
    """Runs the calls of one wrapped node: context, attempts, waits, records, logs."""

    __slots__ = ("_plain", "_retrying", "spec")

    def __init__(self, spec: NodeSpec) -> None:
        self.spec = spec
        self._retrying: tenacity.Retrying | None = None
        if spec.retry is not None and spec.retry.max_attempts > 1:
            self._retrying = _tenacity_for(spec.retry)
        # No per-attempt machinery unless a run signal turns up in the config.
        self._plain = spec.timeout is None and spec.deadline is None and spec.breaker is None

    # ------------------------------------------------------------------ helpers

    def node_name(self, config: RunnableConfig | None) -> str:
        """The node's name: ``name=``, else LangGraph's node name, else ``fn.__name__``."""
        if self.spec.name:
            return self.spec.name
        if config:
            meta = config.get("metadata")
            if meta:
                graph_node = meta.get("langgraph_node")
                if graph_node:
                    return str(graph_node)
        return str(getattr(self.spec.fn, "__name__", "node"))

    def build_context(
        self,
        config: RunnableConfig | None,
        started_at: float,
        *,
        deadline: float | None = None,
        abort_signal: Any = None,
    ) -> NodeContext:
        """The NodeContext of a call's first attempt."""
        return context_for(self, config, started_at, deadline=deadline, abort_signal=abort_signal)

    def _kwargs(
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

    def _started(self, call: Call) -> None:
        if self.spec.log.enabled(INFO):
            self.emit(INFO, "node.started", call.get())

    def _succeeded(self, call: Call) -> None:
        call.report("record_success", call.elapsed_ms())
        if self.spec.log.enabled(INFO):
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

    def _wait_sync(self, call: Call, delay: float) -> None:
        """Sleep ``delay`` seconds; an abort ends the wait at once, a drain within a poll."""
        if delay <= 0 or skip_wait(delay):
            return
        end = time.monotonic() + delay
        signal = call.run_signal
        poll = _compat.runtime_of(call.config) is not None
        while (left := end - time.monotonic()) > 0:
            step = min(left, DRAIN_POLL_INTERVAL) if poll else left
            if signal is not None:
                signal.wait_sync(step)
            else:
                time.sleep(step)
            call.check_run_signal()
            call.check_drain()

    async def _wait_async(self, call: Call, delay: float) -> None:
        """The async ``_wait_sync``; cancellation ends it at once too."""
        if delay <= 0 or skip_wait(delay):
            return
        loop = asyncio.get_running_loop()
        end = loop.time() + delay
        signal = call.run_signal
        poll = _compat.runtime_of(call.config) is not None
        woken: asyncio.Future[None] = loop.create_future()
        unsubscribe = (
            signal.add_listener(lambda _r: _wake(loop, woken)) if signal is not None else None
        )
        try:
            while (left := end - loop.time()) > 0:
                step = min(left, DRAIN_POLL_INTERVAL) if poll else left
                await asyncio.wait({woken}, timeout=step)
                call.check_run_signal()
                call.check_drain()
        finally:
            if unsubscribe is not None:
                unsubscribe()
            woken.cancel()

    # ------------------------------------------------------------------ attempts

    def _breaker_outcome(self, exc: BaseException) -> None:
        breaker = self.spec.breaker
        if breaker is None:
            return
        if _counts_for_breaker(exc, self.spec.retry):
            breaker.on_failure()
        else:
            breaker.on_ignored()

    def _timed_out(self, call: Call, exc: BaseException, deadline_limit: bool) -> BaseException:
        """The error a timed-out attempt ends with (the deadline's, if it set the limit)."""
        if deadline_limit and isinstance(exc, NodeTimeoutError):
            return call.deadline_error()
        return exc

    def _attempt_sync(self, state: Any, call: Call, cfg: RunnableConfig | None) -> Any:
        spec = self.spec
        if self._plain and call.run_signal is None:
            if cfg is call.config:
                return spec.fn(state, **self._kwargs(cfg, call))
            with _compat.use_config(cfg):
                return spec.fn(state, **self._kwargs(cfg, call))
        limit, deadline_limit = call.attempt_limit()
        call.check_run_signal()
        breaker = spec.breaker
        if breaker is not None:
            breaker.before_call(call.get().node)
        controller, ctx = call.begin_attempt()
        token = _set_context(ctx)  # fixed: an abandoned thread keeps its own attempt's signal
        try:
            with _compat.use_config(cfg):
                func = functools.partial(spec.fn, state, **self._kwargs(cfg, call))
                if limit is None:
                    result = func()
                    call.check_run_signal()  # cooperative code returns early *because* of it
                else:
                    result = run_sync_attempt(
                        func,
                        node=ctx.node,
                        attempt=ctx.attempt,
                        timeout=limit,
                        controller=controller,
                        run_signal=call.run_signal,
                    )
        except BaseException as exc:
            self._breaker_outcome(exc)
            if isinstance(exc, NodeTimeoutError):
                self.emit(WARNING, "node.timed_out", ctx, timeout=round(limit or 0.0, 3))
                call_hook(
                    spec.on_timeout, ctx, log=spec.log, hook_name="on_timeout", node=ctx.node,
                    limit=ON_TIMEOUT_LIMIT,
                )  # fmt: skip
                raise self._timed_out(call, exc, deadline_limit) from None
            raise
        finally:
            _reset_context(token)
            controller.close()
        if breaker is not None:
            breaker.on_success()
        return result

    def _plain_async(self, state: Any, call: Call, cfg: RunnableConfig | None) -> Awaitable[Any]:
        kwargs = self._kwargs(cfg, call)
        if self.spec.is_async:
            return self.spec.fn(state, **kwargs)  # type: ignore[no-any-return]
        # A sync fn runs in a worker thread whose wait cancellation can end (unlike
        # LangGraph's executor thread); cancelling aborts the call's signal.
        return arun_sync_attempt(
            functools.partial(self.spec.fn, state, **kwargs),
            node=self.node_name(cfg),
            attempt=1,
            timeout=None,
            controller=call.controller(),
        )

    async def _attempt_async(self, state: Any, call: Call, cfg: RunnableConfig | None) -> Any:
        spec = self.spec
        is_async = spec.is_async
        if self._plain and call.run_signal is None:
            if cfg is call.config:
                return await self._plain_async(state, call, cfg)
            with _compat.use_config(cfg):
                return await self._plain_async(state, call, cfg)
        limit, deadline_limit = call.attempt_limit()
        call.check_run_signal()
        breaker = spec.breaker
        if breaker is not None:
            breaker.before_call(call.get().node)
        controller, ctx = call.begin_attempt()
        token = _set_context(ctx)
        try:
            with _compat.use_config(cfg):
                func = functools.partial(spec.fn, state, **self._kwargs(cfg, call))
                runner: Callable[..., Awaitable[Any]] = (
                    arun_async_attempt if is_async else arun_sync_attempt
                )
                result = await runner(
                    func,
                    node=ctx.node,
                    attempt=ctx.attempt,
                    timeout=limit,
                    controller=controller,
                    run_signal=call.run_signal,
                )
                if limit is None and not is_async:
                    call.check_run_signal()
        except BaseException as exc:
            self._breaker_outcome(exc)
            if isinstance(exc, NodeTimeoutError):
                self.emit(WARNING, "node.timed_out", ctx, timeout=round(limit or 0.0, 3))
                await acall_hook(
                    spec.on_timeout, ctx, log=spec.log, hook_name="on_timeout", node=ctx.node,
                    limit=ON_TIMEOUT_LIMIT,
                )  # fmt: skip
                raise self._timed_out(call, exc, deadline_limit) from None
            raise
        finally:
            _reset_context(token)
            controller.close()
        if breaker is not None:
            breaker.on_success()
        return result

    # ------------------------------------------------------------------ the call loops

    def _call_sync(self, state: Any, call: Call) -> Any:
        token = _set_context(call)
        try:
            self._started(call)
            cfg = call.config
            retry: _Retry | None = None
            while True:
                try:
                    result = self._attempt_sync(state, call, cfg)
                except BaseException as exc:
                    if is_control_flow(exc):
                        raise
                    step = self._next_step(call, retry, exc)
                    if isinstance(step, BaseException):
                        return self._fail_sync(state, call, step)
                    retry, delay, info = step
                    call_hook(
                        self.spec.on_retry_attempt, info, log=self.spec.log,
                        hook_name="on_retry_attempt", node=info.node,
                    )  # fmt: skip
                    self._wait_sync(call, delay)
                    retry.rs.prepare_for_next_attempt()
                    cfg = _compat.config_for_retry(cfg)
                    call.next_attempt(retry.rs.attempt_number)
                    continue
                self._succeeded(call)
                return result
        except NodeAbortedError as exc:
            self._aborted(call, exc)
            raise
        finally:
            _reset_context(token)
            call.close()

    async def _call_async(self, state: Any, call: Call) -> Any:
        token = _set_context(call)
        try:
            self._started(call)
            cfg = call.config
            retry: _Retry | None = None
            while True:
                try:
                    result = await self._attempt_async(state, call, cfg)
                except BaseException as exc:
                    if is_control_flow(exc):
                        raise
                    step = self._next_step(call, retry, exc)
                    if isinstance(step, BaseException):
                        return await self._fail_async(state, call, step)
                    retry, delay, info = step
                    await acall_hook(
                        self.spec.on_retry_attempt, info, log=self.spec.log,
                        hook_name="on_retry_attempt", node=info.node,
                    )  # fmt: skip
                    await self._wait_async(call, delay)
                    retry.rs.prepare_for_next_attempt()
                    cfg = _compat.config_for_retry(cfg)
                    call.next_attempt(retry.rs.attempt_number)
                    continue
                self._succeeded(call)
                return result
        except NodeAbortedError as exc:
            self._aborted(call, exc)
            raise
        finally:
            _reset_context(token)
            call.close()

    # ------------------------------------------------------------------ terminal failure

    def _record(self, call: Call, exc: BaseException) -> NodeError:
        """Build, log and count the record of a terminal failure."""
        ctx = call.get()
        duration_ms = call.elapsed_ms()
        record = build_record(
            exc, ctx=ctx, attempts=ctx.attempt, duration_ms=duration_ms, retry=self.spec.retry
        )
        self.emit(
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

    def _fallback_record(self, call: Call, exc: BaseException) -> NodeError:
        ctx = call.get()
        record = build_record(exc, ctx=ctx, attempts=1, duration_ms=call.elapsed_ms(), retry=None)
        message = f"Fallback of node '{ctx.node}' failed: {record.message}"
        self.emit(logging.ERROR, "node.fallback_failed", ctx, error_type=record.error_type)
        return record.model_copy(update={"message": message})

    def _fallback_ctx(self, call: Call, exc: BaseException) -> NodeContext:
        return call.get()._replace(primary_error=exc)

    def _resolve(
        self, call: Call, exc: BaseException, record: NodeError, outcome: Any
    ) -> tuple[NodeError, Any]:
        """The final record and the node's return value (or ``_RAISE``).

        ``outcome`` is ``None`` (no callable fallback), ``(True, result)`` for a
        fallback that returned, ``(False, error)`` for one that raised.
        """
        spec = self.spec
        ctx = call.get()
        goto = spec.fallback if isinstance(spec.fallback, str) else None
        if outcome is not None and outcome[0]:
            record = record.model_copy(update={"recovered": True})
            try:
                update = recovered_update(outcome[1], record)
            except TypeError as err:
                outcome = (False, err)
            else:
                call.report("record_fallback")
                self.emit(INFO, "node.fallback", ctx, outcome="recovered")
                self._check_channels(call, exc)
                return record, update
        records = [record]
        if outcome is not None:  # the fallback failed too
            fb_record = self._fallback_record(call, outcome[1])
            records.append(fb_record)
            add_note(exc, f"langgraph_runner: the fallback failed too: {fb_record.message}")
        elif goto is not None:
            call.report("record_fallback")
            self.emit(INFO, "node.fallback", ctx, outcome="routed", goto=goto)
        if spec.on_error == "raise" and goto is None:
            return record, _RAISE
        self._check_channels(call, exc)
        return record, failure_update(records, goto)

    def _check_channels(self, call: Call, exc: BaseException) -> None:
        missing = _compat.missing_channels(call.config, _RECORD_CHANNELS)
        if missing:
            raise StateSchemaError(call.get().node, missing) from exc

    def _raise(self, call: Call, exc: BaseException) -> Any:
        ctx = call.get()
        redact_exception(exc)
        add_note(
            exc,
            f"langgraph_runner: node '{ctx.node}' failed on attempt "
            f"{ctx.attempt}/{ctx.max_attempts} (trace_id={ctx.trace_id})",
        )
        raise exc

    def _fail_sync(self, state: Any, call: Call, exc: BaseException) -> Any:
        spec = self.spec
        record = self._record(call, exc)
        outcome = None
        if spec.fallback is not None and not isinstance(spec.fallback, str):
            token = _set_context(self._fallback_ctx(call, exc))
            try:
                result = spec.fallback(
                    state, **self._kwargs(call.config, call, spec.fallback_accepts)
                )
                if inspect.isawaitable(result):
                    result = _run_coroutine_blocking(result, None)
                outcome = (True, result)
            except Exception as err:
                if is_control_flow(err):
                    raise
                outcome = (False, err)
            finally:
                _reset_context(token)
        record, update = self._resolve(call, exc, record, outcome)
        call_hook(
            spec.on_failure, record, state, log=spec.log, hook_name="on_failure", node=record.node
        )
        return self._raise(call, exc) if update is _RAISE else update

    async def _fail_async(self, state: Any, call: Call, exc: BaseException) -> Any:
        spec = self.spec
        record = self._record(call, exc)
        outcome = None
        fallback = spec.fallback
        if fallback is not None and not isinstance(fallback, str):
            token = _set_context(self._fallback_ctx(call, exc))
            try:
                kwargs = self._kwargs(call.config, call, spec.fallback_accepts)
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
        record, update = self._resolve(call, exc, record, outcome)
        await acall_hook(
            spec.on_failure, record, state, log=spec.log, hook_name="on_failure", node=record.node
        )
        return self._raise(call, exc) if update is _RAISE else update

    # ------------------------------------------------------------------ entry points

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

    def run(self, state: Any, config: RunnableConfig | None) -> Any:
        """Run the node synchronously (sync ``fn``, under ``invoke``)."""
        call = Call(self, config)
        cache = self.spec.cache
        if cache is None:
            return self._call_sync(state, call)
        key = self._cache_key(call, state)
        found = cache.lookup(key, events=self.spec.log)
        if found.hit:
            self._cache_hit(call)
            return found.value
        result = self._call_sync(state, call)
        if not call.failed:
            cache.store(key, result, events=self.spec.log)
        return result

    async def arun(self, state: Any, config: RunnableConfig | None) -> Any:
        """Run the node from async code: an async ``fn``, or a sync one under ``ainvoke``."""
        call = Call(self, config)
        cache = self.spec.cache
        if cache is None:
            return await self._call_async(state, call)
        key = self._cache_key(call, state)
        found = await cache.alookup(key, events=self.spec.log)
        if found.hit:
            self._cache_hit(call)
            return found.value
        result = await self._call_async(state, call)
        if not call.failed:
            await cache.astore(key, result, events=self.spec.log)
        return result


_RAISE = object()


def _wake(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None]) -> None:
    def settle() -> None:
        if not fut.done():
            fut.set_result(None)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(settle)


def _counts_for_breaker(exc: BaseException, retry: RetryConfig | None) -> bool:
    """Retryable failures and timeouts open a circuit; nothing else does.

    Non-retryable errors, aborts, rejections, cancellation and LangGraph's
    control flow are ignored.
    """
    if is_control_flow(exc):
        return False
    if isinstance(exc, _LGNodeTimeoutError):
        return True
    return retry.should_retry(exc) if retry is not None else is_retryable_node_error(exc)
