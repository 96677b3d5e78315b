"""One node call's own state: its context, deadline, abort signals and metrics sink.

A ``Call`` is what ``get_node_context()`` reads while a wrapped node runs (the
``NodeContext`` is built only when something asks for it, so the success path of
a plain node stays cheap). Per-call state lives here and in the context variable,
never on the function object, so concurrent calls of one node (threads, tasks,
``Send`` fan-out) never see each other's state.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Mapping
from time import perf_counter
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config
from langgraph.errors import GraphDrained

from langgraph_runner._engine.spec import NodeSpec, fn_name
from langgraph_runner._internal import compat as _compat
from langgraph_runner._internal.compat import CONF, CONFIG_KEY_RUNTIME
from langgraph_runner._policies.abort import ABORT_SIGNAL_KEY, AbortController, AbortSignal
from langgraph_runner._policies.context import (
    RUN_DEADLINE_KEY,
    NodeContext,
    idempotency_key_for,
)
from langgraph_runner._policies.run_scope import Key, RunScope, run_ids, streak_key
from langgraph_runner._policies.timeouts import aborted_error
from langgraph_runner._records.classify import is_control_flow
from langgraph_runner._records.exceptions import NodeTimeoutError
from langgraph_runner._records.logs import EventLogger
from langgraph_runner._records.record import ErrorCategory, ErrorCode
from langgraph_runner._traces.node_span import NodeSpans, open_node_spans
from langgraph_runner.metrics._collector import METRICS_COLLECTOR_KEY, NodeMetricsCollector

__all__ = [
    "Call",
    "emit",
    "kwargs_for",
    "run_signal_of",
]

_EMPTY: Mapping[str, Any] = {}


def run_signal_of(config: RunnableConfig | None) -> AbortSignal | None:
    """The run's abort signal, from ``config["configurable"]["abort_signal"]``.

    An ``AbortController`` is accepted too (its signal is used).

    Raises:
        TypeError: The value under that key is neither.
    """
    if not config:
        return None
    conf = config.get("configurable")
    if not conf:
        return None
    value = conf.get(ABORT_SIGNAL_KEY)
    if value is None or isinstance(value, AbortSignal):
        return value
    if isinstance(value, AbortController):
        return value.signal
    raise TypeError(
        f"config['configurable'][{ABORT_SIGNAL_KEY!r}] must be an AbortSignal "
        f"(AbortController().signal), got {type(value).__name__}"
    )


class Call:
    """The state of one wrapped node call, shared by its attempts."""

    __slots__ = (
        "_ctx",
        "_ids",
        "_node",
        "_streak_key",
        "attempt",
        "attempt_controller",
        "config",
        "deadline_at",
        "failed",
        "m0",
        "metrics",
        "run_deadline",
        "run_signal",
        "spans",
        "spec",
        "t0",
    )

    def __init__(self, spec: NodeSpec, config: RunnableConfig | None) -> None:
        self.spec = spec
        self.config = config
        self.t0 = perf_counter()
        self._ctx: NodeContext | None = None
        self._ids: tuple[str, str, str | None, str | None, RunScope | None] | None = None
        self._node: str | None = None
        self._streak_key: Key | None = None
        self.attempt = 1
        self.attempt_controller: AbortController | None = None
        self.failed = False
        self.spans: NodeSpans | None = None
        # run_signal_of(config) and the collector, inlined for the common case.
        conf = config.get("configurable") if config else None
        if conf:
            signal = conf.get(ABORT_SIGNAL_KEY)
            self.run_signal = signal if signal is None else run_signal_of(config)
            found = conf.get(METRICS_COLLECTOR_KEY)
            self.metrics: Any = found if found is not None else spec.metrics
            run_deadline = conf.get(RUN_DEADLINE_KEY)
        else:
            self.run_signal = None
            self.metrics = spec.metrics
            run_deadline = None
        deadline = spec.deadline
        self.run_deadline = False  # whether the run's deadline is the one that binds
        if deadline is None and run_deadline is None:
            self.m0 = 0.0
            self.deadline_at: float | None = None
        else:
            self.m0 = time.monotonic()
            own = None if deadline is None else self.m0 + deadline
            if run_deadline is not None:
                if not isinstance(run_deadline, (int, float)) or isinstance(run_deadline, bool):
                    raise TypeError(
                        f"config['configurable'][{RUN_DEADLINE_KEY!r}] must be a "
                        f"time.monotonic() value, got {type(run_deadline).__name__}"
                    )
                if own is None or run_deadline < own:
                    own = float(run_deadline)
                    self.run_deadline = True
                if self.run_signal is None:
                    # A signal that never fires sends every attempt down the guarded
                    # path (attempt.py), where the deadline sets the time limit.
                    self.run_signal = AbortController().signal
            self.deadline_at = own

    # ------------------------------------------------------------------ context

    def get(self) -> NodeContext:
        """The current attempt's ``NodeContext`` (what ``get_node_context()`` returns)."""
        ctx = self._ctx
        if ctx is not None:
            if ctx.attempt != self.attempt:  # the loop moved on: the context follows
                ctx = self._ctx = ctx._replace(attempt=self.attempt)
            return ctx
        # Wall-clock start, derived when first needed (time.time() costs on every call).
        started_at = time.time() - (time.perf_counter() - self.t0)
        ctx = self._ctx = context_for(
            self.spec,
            self.config,
            self.node(),
            started_at,
            ids=self.ids(),
            attempt=self.attempt,
            deadline=self.deadline_at,
            abort_signal=self.controller().signal,
        )
        return ctx

    def ids(self) -> tuple[str, str, str | None, str | None, RunScope | None]:
        """``(trace_id, graph_execution_id, thread_id, run_id, scope)`` of the call's run.

        ``scope`` is the run's ``RunScope`` when its trace id was generated here.

        What a record, a log line and the loop guard need, without building the
        whole ``NodeContext`` (see ``run_scope.run_ids``).
        """
        ids = self._ids
        if ids is None:
            config = self.config
            conf = config.get(CONF) if config else None
            runtime = conf.get(CONFIG_KEY_RUNTIME) if conf else None  # _compat.runtime_of()
            # Without a caller-given id, LangGraph's per-invocation RunControl (shared by
            # every task and subgraph of the run) anchors one generated trace id.
            run = getattr(getattr(runtime, "execution_info", None), "run_id", None)
            ids = self._ids = run_ids(
                config,
                run_id=str(run) if run else None,
                run_anchor=getattr(runtime, "control", None),
            )
        return ids

    def trace_id(self) -> str:
        """The run's trace id (``ids()[0]``)."""
        return self.ids()[0]

    def streak_key(self) -> Key:
        """What the loop guard counts this call's failures and successes by."""
        key = self._streak_key
        if key is None:
            key = self._streak_key = streak_key(self.config, self.node(), self.ids()[0])
        return key

    def controller(self) -> AbortController:
        """The current attempt's controller (one that follows the run's signal, made on demand)."""
        controller = self.attempt_controller
        if controller is None:
            controller = self.attempt_controller = AbortController(parent=self.run_signal)
        return controller

    def next_attempt(self, attempt: int) -> None:
        """Move the call on to attempt number ``attempt`` (its context follows when read)."""
        self.attempt = attempt

    def begin_attempt(self) -> tuple[AbortController, NodeContext]:
        """A fresh controller for a guarded attempt, and the context that carries its signal.

        The controller follows the run's signal; the caller closes it after the
        attempt and aborts it on a timeout.
        """
        controller = AbortController(parent=self.run_signal)
        if self.attempt_controller is not None:
            self.attempt_controller.close()
        self.attempt_controller = controller
        ctx = self._ctx
        if ctx is None:  # the first attempt: get() builds the context with this controller
            ctx = self.get()
        else:
            ctx = self._ctx = ctx._replace(abort_signal=controller.signal, attempt=self.attempt)
        return controller, ctx

    def close(self) -> None:
        """Detach the last attempt's controller from the run's signal."""
        if self.attempt_controller is not None:
            self.attempt_controller.close()

    # ------------------------------------------------------------------ budgets and signals

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None without one)."""
        if self.deadline_at is None:
            return None
        return self.deadline_at - time.monotonic()

    def deadline_error(self, cause: BaseException | None = None) -> NodeTimeoutError:
        """The error that ends the call when its deadline has run out."""
        if isinstance(cause, NodeTimeoutError) and getattr(cause, "kind", None) == "deadline":
            return cause
        ctx = self.get()
        if self.run_deadline and self.deadline_at is not None:
            timeout = max(self.deadline_at - self.m0, 0.0)  # what was left of the run's
        else:
            timeout = self.spec.deadline or 0.0
        err = NodeTimeoutError(
            ctx.node,
            timeout=timeout,
            elapsed=time.monotonic() - self.m0,
            attempt=ctx.attempt,
            kind="deadline",
        )
        err.__cause__ = cause
        if self.run_deadline:
            err.run_deadline = True  # type: ignore[attr-defined]  # read by runs.run
        return err

    def attempt_limit(self) -> tuple[float | None, bool]:
        """The next attempt's time limit and whether it is the deadline's.

        Raises:
            NodeTimeoutError: The deadline has already run out (``kind="deadline"``).
        """
        limit = self.spec.timeout
        remaining = self.remaining()
        if remaining is None:
            return limit, False
        if remaining <= 0:
            raise self.deadline_error()
        if limit is None or remaining < limit:
            return remaining, True
        return limit, False

    def check_run_signal(self) -> None:
        """Raise ``NodeAbortedError`` if the run's signal has fired."""
        signal = self.run_signal
        if signal is not None and signal.aborted:
            ctx = self.get()
            raise aborted_error(signal, ctx.node, ctx.attempt)

    def drain_reason(self) -> str | None:
        """The reason of a LangGraph drain request for this run, if one was made."""
        runtime = _compat.runtime_of(self.config)
        control = getattr(runtime, "control", None)
        if control is None or not control.drain_requested:
            return None
        return str(control.drain_reason or "shutdown")

    def check_drain(self) -> None:
        """Raise ``GraphDrained`` when LangGraph was asked to drain the run.

        The node then writes nothing and LangGraph re-runs it when the thread is
        resumed, instead of our waits holding the drain up.
        """
        reason = self.drain_reason()
        if reason is not None:
            emit(self.spec.log, logging.INFO, "node.drained", self.get(), reason=reason)
            raise GraphDrained(reason)

    # ------------------------------------------------------------------ events

    def event(self, level: int, event: str, **fields: Any) -> None:
        """Log one node event with the call's identifiers, as ``events.emit`` does.

        From ``ids()`` and ``node()``, without building the ``NodeContext``: the
        failure path's log lines cost the line alone.
        """
        trace_id, _exec_id, thread_id, run_id, _scope = self.ids()
        self.spec.log.emit(
            level,
            event,
            node=self.node(),
            attempt=self.attempt,
            **fields,
            thread_id=thread_id,
            run_id=run_id,
            trace_id=trace_id,
        )

    # ------------------------------------------------------------------ spans

    def open_spans(self) -> NodeSpans | None:
        """Start the call's spans and make the node's current (None: no tracer provider).

        Asked when the call's start reached ``spans.NEXT_LOOK``; the caller closes them.
        The node's span is in the run's trace (the current span's; with none, the run's
        own trace id), so its record, log line and exemplar carry that one trace id.
        """
        spans = open_node_spans(self.node(), self.trace_id)
        if spans is not None:
            spans.enter()
            self.spans = spans
            _trace, _exec, thread_id, run_id, _scope = self.ids()
            config = self.config
            meta = config.get("metadata") if config else None
            spans.describe(
                {
                    "langgraph_runner.run.id": run_id,
                    "langgraph_runner.thread.id": thread_id,
                    "langgraph.step": meta.get("langgraph_step") if meta else None,
                }
            )
        return spans

    # ------------------------------------------------------------------ metrics

    def report(self, method: str, *args: Any) -> None:
        """Send one record to ``metrics`` (the run's collector, else the node's own), if any.

        A broken collector never fails a node.
        """
        collector = self.metrics
        if collector is not None:
            self.send(collector, method, *args)

    def node(self) -> str:
        """The node's name: ``name=``, else LangGraph's node name, else ``fn.__name__``.

        Read without building the whole context (the metrics path asks on every call).
        """
        node = self._node
        if node is None:
            spec = self.spec
            node = spec.name
            if not node:
                config = self.config
                meta = config.get("metadata") if config else None
                found = meta.get("langgraph_node") if meta else None
                node = str(found) if found else fn_name(spec.fn)
            self._node = node
        return node

    def send(self, collector: Any, method: str, *args: Any) -> None:
        """Call ``collector.<method>(node, *args)``; a broken collector never fails a node."""
        try:
            getattr(collector, method)(self.node(), *args)
        except Exception as exc:
            self.metrics_failed(exc, method)

    def count_failure(
        self,
        collector: Any,
        exc: BaseException,
        code: ErrorCode,
        category: ErrorCategory,
        duration_ms: float,
    ) -> None:
        """Count a terminal failure in ``collector`` (``metrics``), as ``send`` would.

        Our own collector takes the record's category (a call a breaker rejected
        counts as a rejection, ``circuit_open``); any other gets the exception alone.
        """
        try:
            if isinstance(collector, NodeMetricsCollector):
                counted = "circuit_open" if code is ErrorCode.CIRCUIT_OPEN else category._value_
                collector.record_failure(self.node(), duration_ms, exc, counted)
            else:
                collector.record_failure(self.node(), duration_ms, exc)
        except Exception as err:  # a broken collector never fails a node
            self.metrics_failed(err, "record_failure")

    def metrics_failed(self, exc: Exception, method: str) -> None:
        """A collector call raised: log it; only LangGraph's control flow goes on up."""
        if is_control_flow(exc):  # e.g. interrupt() inside a threshold callback
            raise exc
        self.spec.log.emit(logging.DEBUG, "metrics.failed", node=self.node(), method=method)

    def elapsed_ms(self) -> float:
        """Milliseconds since the call started."""
        return (perf_counter() - self.t0) * 1000


def context_for(
    spec: NodeSpec,
    config: RunnableConfig | None,
    node: str,
    started_at: float,
    *,
    ids: tuple[str, str, str | None, str | None, RunScope | None],
    attempt: int = 1,
    deadline: float | None,
    abort_signal: AbortSignal | None,
) -> NodeContext:
    """The ``NodeContext`` of a call (``ids`` from ``Call.ids()``)."""
    trace_id, exec_id, thread_id, run_id, _scope = ids
    info = getattr(_compat.runtime_of(config), "execution_info", None)
    retry = spec.retry
    task_id = getattr(info, "task_id", None)
    return NodeContext(
        node=node,
        trace_id=trace_id,
        graph_execution_id=exec_id,
        started_at=started_at,
        attempt=attempt,
        max_attempts=retry.max_attempts if retry is not None else 1,
        thread_id=thread_id,
        run_id=run_id,
        task_id=task_id,
        deadline=deadline,
        abort_signal=abort_signal,
        idempotency_key=None
        if not task_id
        else idempotency_key_for(thread_id, getattr(info, "checkpoint_ns", None), task_id),
    )


def emit(log: EventLogger, level: int, event: str, ctx: NodeContext, **fields: Any) -> None:
    """Log one node event with the context's identifiers."""
    log.emit(
        level,
        event,
        node=ctx.node,
        attempt=ctx.attempt,
        **fields,
        thread_id=ctx.thread_id,
        run_id=ctx.run_id,
        trace_id=ctx.trace_id,
    )


_MISSING = object()


def kwargs_for(
    accepts: dict[str, tuple[str, Any]], config: RunnableConfig | None, node: str
) -> dict[str, Any]:
    """The keyword arguments for a function that declares ``accepts``.

    Raises:
        ValueError: A required parameter LangGraph cannot supply (the same error
            LangGraph raises for a node it cannot inject into).
    """
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
                raise ValueError(f"Missing required config key '{runtime_key}' for '{node}'.")
            value = default
        kwargs[kw] = value
    return kwargs
