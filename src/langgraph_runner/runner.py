"""The execution engine behind ``create_node``: one attempt fast, retries through tenacity.

Per-call state (attempt number, config, context) lives in locals and in the
``NodeContext`` contextvar, never on the function object, so concurrent calls
of one node (threads, tasks, ``Send`` fan-out) never see each other's state.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import tenacity
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config, run_in_executor
from tenacity import RetryCallState

from langgraph_runner import _compat
from langgraph_runner.cache import CacheKey, NodeCache
from langgraph_runner.classify import is_control_flow
from langgraph_runner.context import NodeContext, _reset_context, _set_context, ids_from_config
from langgraph_runner.errors import StateSchemaError
from langgraph_runner.hooks import acall_hook, call_hook
from langgraph_runner.logs import EventLogger
from langgraph_runner.metrics.collector import METRICS_COLLECTOR_KEY
from langgraph_runner.records import add_note, build_record, redact_exception
from langgraph_runner.retry import RetryAttempt, RetryConfig, waits_disabled

__all__ = ["NodeRunner", "NodeSpec"]

INFO = logging.INFO
WARNING = logging.WARNING
_MISSING = object()
_RECORD_CHANNELS = ("errors", "routing_flags")


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


def _tenacity_for(retry: RetryConfig, cls: type[tenacity.BaseRetrying]) -> tenacity.BaseRetrying:
    def wait(rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome is not None else None
        return retry.compute_delay(rs.attempt_number, exc)

    def should_retry(rs: RetryCallState) -> bool:
        exc = rs.outcome.exception() if rs.outcome is not None else None
        return exc is not None and retry.should_retry(exc)

    return cls(
        stop=tenacity.stop_after_attempt(retry.max_attempts),
        wait=wait,
        retry=should_retry,
        reraise=True,
    )


class _Call:
    """One node call's own state; also what get_node_context() reads (built lazily)."""

    __slots__ = ("_ctx", "config", "failed", "runner", "started_at", "t0")

    def __init__(self, runner: NodeRunner, config: RunnableConfig | None) -> None:
        self.runner = runner
        self.config = config
        self.t0 = time.perf_counter()
        self.started_at = time.time()
        self._ctx: NodeContext | None = None
        self.failed = False

    def get(self) -> NodeContext:
        ctx = self._ctx
        if ctx is None:
            ctx = self._ctx = self.runner.build_context(self.config, self.started_at)
        return ctx

    def collector(self) -> Any:
        """The metrics collector for this call: the run's, else the node's own."""
        config = self.config
        if config:
            conf = config.get("configurable")
            if conf:
                found = conf.get(METRICS_COLLECTOR_KEY)
                if found is not None:
                    return found
        return self.runner.spec.metrics

    def report(self, method: str, *args: Any) -> None:
        """Send one record to the collector, if any; a broken collector never fails a node."""
        collector = self.collector()
        if collector is None:
            return
        node = self._ctx.node if self._ctx is not None else self.runner._node_name(self.config)
        try:
            getattr(collector, method)(node, *args)
        except Exception as exc:
            if is_control_flow(exc):  # e.g. interrupt() inside a threshold callback
                raise
            self.runner.spec.log.emit(logging.DEBUG, "metrics.failed", node=node, method=method)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000

    def next_attempt(self, attempt: int) -> NodeContext:
        ctx = self._ctx = self.get()._replace(attempt=attempt)
        return ctx


class NodeRunner:
    """Runs one wrapped node call: context, attempts, waits, records, logs."""

    __slots__ = ("_aretrying", "_retrying", "spec")

    def __init__(self, spec: NodeSpec) -> None:
        self.spec = spec
        self._retrying: tenacity.Retrying | None = None
        self._aretrying: tenacity.AsyncRetrying | None = None
        if spec.retry is not None and spec.retry.max_attempts > 1:
            self._retrying = _tenacity_for(spec.retry, tenacity.Retrying)  # type: ignore[assignment]
            self._aretrying = _tenacity_for(spec.retry, tenacity.AsyncRetrying)  # type: ignore[assignment]

    # ------------------------------------------------------------------ helpers

    def _node_name(self, config: RunnableConfig | None) -> str:
        if self.spec.name:
            return self.spec.name
        if config:
            meta = config.get("metadata")
            if meta:
                graph_node = meta.get("langgraph_node")
                if graph_node:
                    return str(graph_node)
        return str(getattr(self.spec.fn, "__name__", "node"))

    def build_context(self, config: RunnableConfig | None, started_at: float) -> NodeContext:
        """The NodeContext of a call's first attempt."""
        info = getattr(_compat.runtime_of(config), "execution_info", None)
        runtime_run = getattr(info, "run_id", None)
        trace_id, exec_id, thread_id, run_id = ids_from_config(
            config, run_id=str(runtime_run) if runtime_run else None
        )
        retry = self.spec.retry
        return NodeContext(
            node=self._node_name(config),
            trace_id=trace_id,
            graph_execution_id=exec_id,
            started_at=started_at,
            max_attempts=retry.max_attempts if retry is not None else 1,
            thread_id=thread_id,
            run_id=run_id,
            task_id=getattr(info, "task_id", None),
        )

    def _kwargs(self, config: RunnableConfig | None, call: _Call) -> dict[str, Any]:
        accepts = self.spec.accepts
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

    def _emit(self, level: int, event: str, ctx: NodeContext, **fields: Any) -> None:
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

    def _started(self, call: _Call) -> None:
        if self.spec.log.enabled(INFO):
            self._emit(INFO, "node.started", call.get())

    def _succeeded(self, call: _Call) -> None:
        call.report("record_success", call.elapsed_ms())
        if self.spec.log.enabled(INFO):
            ms = round((time.perf_counter() - call.t0) * 1000, 3)
            self._emit(INFO, "node.succeeded", call.get(), duration_ms=ms)

    def _before_wait(self, call: _Call, exc: BaseException, delay: float) -> RetryAttempt:
        ctx = call.get()
        call.report("record_retry", ctx.attempt)
        if self.spec.log.enabled(WARNING):
            self._emit(
                WARNING,
                "node.retrying",
                ctx,
                next_delay=round(delay, 3),
                error_type=type(exc).__name__,
            )
        return RetryAttempt(
            node=ctx.node, attempt=ctx.attempt, error=exc, next_delay=delay, context=ctx
        )

    def _terminal(self, call: _Call, exc: BaseException) -> dict[str, Any]:
        spec = self.spec
        ctx = call.get()
        duration_ms = (time.perf_counter() - call.t0) * 1000
        record = build_record(
            exc, ctx=ctx, attempts=ctx.attempt, duration_ms=duration_ms, retry=spec.retry
        )
        self._emit(
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
        if spec.on_error == "raise":
            redact_exception(exc)
            add_note(
                exc,
                f"langgraph_runner: node '{ctx.node}' failed on attempt "
                f"{ctx.attempt}/{ctx.max_attempts} (trace_id={ctx.trace_id})",
            )
            raise exc
        missing = _compat.missing_channels(call.config, _RECORD_CHANNELS)
        if missing:
            raise StateSchemaError(ctx.node, missing) from exc
        return {"errors": [record.to_state()], "routing_flags": {"blocked": True}}

    @staticmethod
    def _outcome(rs: RetryCallState, exc: BaseException) -> None:
        rs.set_exception((type(exc), exc, exc.__traceback__))

    @staticmethod
    def _restore_tb(final: BaseException, exc: BaseException, tb: Any) -> BaseException:
        # tenacity re-raises the stored exception, which appends its own frames.
        if final is exc:
            final.__traceback__ = tb
        return final

    # ------------------------------------------------------------------ sync fn, sync path

    def _cache_key(self, call: _Call, state: Any) -> CacheKey:
        cache = self.spec.cache
        assert cache is not None
        ctx = call.get()
        fingerprint = self.spec.fingerprint
        return cache.key(ctx.node, state, thread_id=ctx.thread_id, fingerprint=fingerprint)

    def _cache_hit(self, call: _Call) -> None:
        call.report("record_cache_hit")
        if self.spec.log.enabled(INFO):
            self._emit(INFO, "node.cache_hit", call.get())

    def run(self, state: Any, config: RunnableConfig | None) -> Any:
        """Run the node synchronously (sync ``fn``, under ``invoke``)."""
        cache = self.spec.cache
        if cache is None:
            return self._run(state, config)
        call = _Call(self, config)
        key = self._cache_key(call, state)
        found = cache.lookup(key, events=self.spec.log)
        if found.hit:
            self._cache_hit(call)
            return found.value
        result = self._run(state, config, call)
        if not call.failed:
            cache.store(key, result, events=self.spec.log)
        return result

    def _run(self, state: Any, config: RunnableConfig | None, call: _Call | None = None) -> Any:
        call = call or _Call(self, config)
        token = _set_context(call)
        try:
            self._started(call)
            try:
                result = self.spec.fn(state, **self._kwargs(config, call))
            except BaseException as exc:
                if is_control_flow(exc):
                    raise
                failure = exc
            else:
                self._succeeded(call)
                return result
            return self._retry_sync(state, call, failure)
        finally:
            _reset_context(token)

    def _retry_sync(self, state: Any, call: _Call, exc: BaseException) -> Any:
        spec = self.spec
        if self._retrying is None:
            return self._terminal(call, exc)
        retrying = self._retrying.copy()
        retrying.begin()
        rs = RetryCallState(retrying, fn=None, args=(), kwargs={})
        self._outcome(rs, exc)
        cfg = call.config
        while True:
            tb = exc.__traceback__
            try:
                action = retrying.iter(rs)
            except BaseException as final:  # tenacity re-raises the original (reraise=True)
                return self._terminal(call, self._restore_tb(final, exc, tb))
            delay = float(action)  # type: ignore[arg-type]  # DoSleep is a float
            info = self._before_wait(call, exc, delay)
            call_hook(
                spec.on_retry_attempt,
                info,
                log=spec.log,
                hook_name="on_retry_attempt",
                node=info.node,
            )
            if delay > 0 and not waits_disabled():
                time.sleep(delay)
            rs.prepare_for_next_attempt()
            cfg = _compat.config_for_retry(cfg)
            call.next_attempt(rs.attempt_number)
            try:
                with _compat.use_config(cfg):
                    result = spec.fn(state, **self._kwargs(cfg, call))
            except BaseException as err:
                if is_control_flow(err):
                    raise
                exc = err
                self._outcome(rs, err)
                continue
            self._succeeded(call)
            return result

    # ------------------------------------------------------------------ async paths

    async def arun(self, state: Any, config: RunnableConfig | None) -> Any:
        """Run an async ``fn``."""
        fn = self.spec.fn

        async def attempt(cfg: RunnableConfig | None, call: _Call) -> Any:
            return await fn(state, **self._kwargs(cfg, call))

        return await self._arun(attempt, config, state)

    async def arun_sync_fn(self, state: Any, config: RunnableConfig | None) -> Any:
        """Run a sync ``fn`` from async code: attempts in a worker thread, the loop here."""
        fn = self.spec.fn

        async def attempt(cfg: RunnableConfig | None, call: _Call) -> Any:
            kwargs = self._kwargs(cfg, call)
            # run_in_executor copies this context (NodeContext, LangGraph config) into the thread.
            return await run_in_executor(None, fn, state, **kwargs)

        return await self._arun(attempt, config, state)

    async def _arun(self, attempt: _Attempt, config: RunnableConfig | None, state: Any) -> Any:
        cache = self.spec.cache
        if cache is None:
            return await self._arun_uncached(attempt, _Call(self, config))
        call = _Call(self, config)
        key = self._cache_key(call, state)
        found = await cache.alookup(key, events=self.spec.log)
        if found.hit:
            self._cache_hit(call)
            return found.value
        result = await self._arun_uncached(attempt, call)
        if not call.failed:
            await cache.astore(key, result, events=self.spec.log)
        return result

    async def _arun_uncached(self, attempt: _Attempt, call: _Call) -> Any:
        config = call.config
        token = _set_context(call)
        try:
            self._started(call)
            try:
                result = await attempt(config, call)
            except BaseException as exc:
                if is_control_flow(exc):
                    raise
                failure = exc
            else:
                self._succeeded(call)
                return result
            return await self._aretry(attempt, call, failure)
        finally:
            _reset_context(token)

    async def _aretry(self, attempt: _Attempt, call: _Call, exc: BaseException) -> Any:
        spec = self.spec
        if self._aretrying is None:
            return self._terminal(call, exc)
        retrying = self._aretrying.copy()
        retrying.begin()
        rs = RetryCallState(retrying, fn=None, args=(), kwargs={})
        self._outcome(rs, exc)
        cfg = call.config
        while True:
            tb = exc.__traceback__
            try:
                action = await retrying.iter(rs)
            except BaseException as final:  # tenacity re-raises the original (reraise=True)
                return self._terminal(call, self._restore_tb(final, exc, tb))
            delay = float(action)  # type: ignore[arg-type]  # DoSleep is a float
            info = self._before_wait(call, exc, delay)
            await acall_hook(
                spec.on_retry_attempt,
                info,
                log=spec.log,
                hook_name="on_retry_attempt",
                node=info.node,
            )
            if delay > 0 and not waits_disabled():
                await asyncio.sleep(delay)
            rs.prepare_for_next_attempt()
            cfg = _compat.config_for_retry(cfg)
            call.next_attempt(rs.attempt_number)
            try:
                with _compat.use_config(cfg):
                    result = await attempt(cfg, call)
            except BaseException as err:
                if is_control_flow(err):
                    raise
                exc = err
                self._outcome(rs, err)
                continue
            self._succeeded(call)
            return result


_Attempt = Callable[[RunnableConfig | None, _Call], Awaitable[Any]]
