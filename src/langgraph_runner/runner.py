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
from langgraph_runner.classify import is_control_flow
from langgraph_runner.context import NodeContext, _reset_context, _set_context, ids_from_config
from langgraph_runner.errors import StateSchemaError
from langgraph_runner.hooks import acall_hook, call_hook
from langgraph_runner.logs import EventLogger
from langgraph_runner.records import add_note, build_record, redact_exception
from langgraph_runner.retry import RetryAttempt, RetryConfig, waits_disabled

__all__ = ["NodeRunner", "NodeSpec"]

INFO = logging.INFO
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

    def _context(self, config: RunnableConfig | None) -> NodeContext:
        trace_id, exec_id, thread_id, run_id = ids_from_config(config)
        runtime = _compat.runtime_of(config)
        info = getattr(runtime, "execution_info", None)
        retry = self.spec.retry
        return NodeContext(
            node=self._node_name(config),
            attempt=1,
            max_attempts=retry.max_attempts if retry is not None else 1,
            trace_id=trace_id,
            graph_execution_id=exec_id,
            thread_id=thread_id,
            run_id=run_id or (str(info.run_id) if info is not None and info.run_id else None),
            task_id=getattr(info, "task_id", None),
            started_at=time.time(),
        )

    def _kwargs(self, config: RunnableConfig | None, node: str) -> dict[str, Any]:
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
                    raise ValueError(f"Missing required config key '{runtime_key}' for '{node}'.")
                value = default
            kwargs[kw] = value
        return kwargs

    def _started(self, ctx: NodeContext) -> None:
        log = self.spec.log
        if log.enabled(INFO):
            log.emit(
                INFO,
                "node.started",
                node=ctx.node,
                attempt=ctx.attempt,
                thread_id=ctx.thread_id,
                run_id=ctx.run_id,
                trace_id=ctx.trace_id,
            )

    def _succeeded(self, ctx: NodeContext, t0: float) -> None:
        log = self.spec.log
        if log.enabled(INFO):
            log.emit(
                INFO,
                "node.succeeded",
                node=ctx.node,
                attempt=ctx.attempt,
                duration_ms=round((time.perf_counter() - t0) * 1000, 3),
                thread_id=ctx.thread_id,
                run_id=ctx.run_id,
                trace_id=ctx.trace_id,
            )

    def _retrying_event(self, ctx: NodeContext, exc: BaseException, delay: float) -> RetryAttempt:
        log = self.spec.log
        if log.enabled(logging.WARNING):
            log.emit(
                logging.WARNING,
                "node.retrying",
                node=ctx.node,
                attempt=ctx.attempt,
                next_delay=round(delay, 3),
                error_type=type(exc).__name__,
                thread_id=ctx.thread_id,
                run_id=ctx.run_id,
                trace_id=ctx.trace_id,
            )
        return RetryAttempt(
            node=ctx.node, attempt=ctx.attempt, error=exc, next_delay=delay, context=ctx
        )

    def _terminal(
        self,
        config: RunnableConfig | None,
        ctx: NodeContext,
        exc: BaseException,
        t0: float,
    ) -> dict[str, Any]:
        spec = self.spec
        duration_ms = (time.perf_counter() - t0) * 1000
        record = build_record(
            exc, ctx=ctx, attempts=ctx.attempt, duration_ms=duration_ms, retry=spec.retry
        )
        spec.log.emit(
            logging.ERROR,
            "node.failed",
            node=ctx.node,
            attempt=ctx.attempt,
            duration_ms=round(duration_ms, 3),
            code=record.code.value,
            category=record.category.value,
            error_type=record.error_type,
            message=record.message,
            thread_id=ctx.thread_id,
            run_id=ctx.run_id,
            trace_id=ctx.trace_id,
        )
        if spec.on_error == "raise":
            redact_exception(exc)
            add_note(
                exc,
                f"langgraph_runner: node '{ctx.node}' failed on attempt "
                f"{ctx.attempt}/{ctx.max_attempts} (trace_id={ctx.trace_id})",
            )
            raise exc
        missing = _compat.missing_channels(config, _RECORD_CHANNELS)
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

    def run(self, state: Any, config: RunnableConfig | None) -> Any:
        """Run the node synchronously (sync ``fn``, under ``invoke``)."""
        t0 = time.perf_counter()
        ctx = self._context(config)
        self._started(ctx)
        fn = self.spec.fn
        token = _set_context(ctx)
        try:
            result = fn(state, **self._kwargs(config, ctx.node))
        except BaseException as exc:
            if is_control_flow(exc):
                raise
            failure = exc
        else:
            self._succeeded(ctx, t0)
            return result
        finally:
            _reset_context(token)
        return self._retry_sync(state, config, ctx, failure, t0)

    def _retry_sync(
        self,
        state: Any,
        config: RunnableConfig | None,
        ctx: NodeContext,
        exc: BaseException,
        t0: float,
    ) -> Any:
        spec = self.spec
        if self._retrying is None:
            return self._terminal(config, ctx, exc, t0)
        retrying = self._retrying.copy()
        retrying.begin()
        rs = RetryCallState(retrying, fn=None, args=(), kwargs={})
        self._outcome(rs, exc)
        cfg = config
        while True:
            tb = exc.__traceback__
            try:
                action = retrying.iter(rs)
            except BaseException as final:  # tenacity re-raises the original (reraise=True)
                return self._terminal(cfg, ctx, self._restore_tb(final, exc, tb), t0)
            delay = float(action)  # type: ignore[arg-type]  # DoSleep is a float
            attempt_info = self._retrying_event(ctx, exc, delay)
            call_hook(
                spec.on_retry_attempt,
                attempt_info,
                log=spec.log,
                hook_name="on_retry_attempt",
                node=ctx.node,
            )
            if delay > 0 and not waits_disabled():
                time.sleep(delay)
            rs.prepare_for_next_attempt()
            cfg = _compat.config_for_retry(cfg)
            ctx = ctx.evolve(attempt=rs.attempt_number)
            token = _set_context(ctx)
            try:
                with _compat.use_config(cfg):
                    result = spec.fn(state, **self._kwargs(cfg, ctx.node))
            except BaseException as err:
                if is_control_flow(err):
                    raise
                exc = err
                self._outcome(rs, err)
                continue
            finally:
                _reset_context(token)
            self._succeeded(ctx, t0)
            return result

    # ------------------------------------------------------------------ async paths

    async def arun(self, state: Any, config: RunnableConfig | None) -> Any:
        """Run an async ``fn``."""
        fn = self.spec.fn

        async def attempt(cfg: RunnableConfig | None, ctx: NodeContext) -> Any:
            return await fn(state, **self._kwargs(cfg, ctx.node))

        return await self._arun(attempt, config)

    async def arun_sync_fn(self, state: Any, config: RunnableConfig | None) -> Any:
        """Run a sync ``fn`` from async code: attempts in a worker thread, the loop here."""
        fn = self.spec.fn

        async def attempt(cfg: RunnableConfig | None, ctx: NodeContext) -> Any:
            kwargs = self._kwargs(cfg, ctx.node)
            # run_in_executor copies this context (NodeContext, LangGraph config) into the thread.
            return await run_in_executor(None, fn, state, **kwargs)

        return await self._arun(attempt, config)

    async def _arun(
        self,
        attempt: Callable[[RunnableConfig | None, NodeContext], Awaitable[Any]],
        config: RunnableConfig | None,
    ) -> Any:
        t0 = time.perf_counter()
        ctx = self._context(config)
        self._started(ctx)
        token = _set_context(ctx)
        try:
            result = await attempt(config, ctx)
        except BaseException as exc:
            if is_control_flow(exc):
                raise
            failure = exc
        else:
            self._succeeded(ctx, t0)
            return result
        finally:
            _reset_context(token)
        return await self._aretry(attempt, config, ctx, failure, t0)

    async def _aretry(
        self,
        attempt: Callable[[RunnableConfig | None, NodeContext], Awaitable[Any]],
        config: RunnableConfig | None,
        ctx: NodeContext,
        exc: BaseException,
        t0: float,
    ) -> Any:
        spec = self.spec
        if self._aretrying is None:
            return self._terminal(config, ctx, exc, t0)
        retrying = self._aretrying.copy()
        retrying.begin()
        rs = RetryCallState(retrying, fn=None, args=(), kwargs={})
        self._outcome(rs, exc)
        cfg = config
        while True:
            tb = exc.__traceback__
            try:
                action = await retrying.iter(rs)
            except BaseException as final:  # tenacity re-raises the original (reraise=True)
                return self._terminal(cfg, ctx, self._restore_tb(final, exc, tb), t0)
            delay = float(action)  # type: ignore[arg-type]  # DoSleep is a float
            attempt_info = self._retrying_event(ctx, exc, delay)
            await acall_hook(
                spec.on_retry_attempt,
                attempt_info,
                log=spec.log,
                hook_name="on_retry_attempt",
                node=ctx.node,
            )
            if delay > 0 and not waits_disabled():
                await asyncio.sleep(delay)
            rs.prepare_for_next_attempt()
            cfg = _compat.config_for_retry(cfg)
            ctx = ctx.evolve(attempt=rs.attempt_number)
            token = _set_context(ctx)
            try:
                with _compat.use_config(cfg):
                    result = await attempt(cfg, ctx)
            except BaseException as err:
                if is_control_flow(err):
                    raise
                exc = err
                self._outcome(rs, err)
                continue
            finally:
                _reset_context(token)
            self._succeeded(ctx, t0)
            return result
