"""One node call's own state: its context, deadline, abort signals and metrics sink.

A ``Call`` is what ``get_node_context()`` reads while a wrapped node runs (the
``NodeContext`` is built only when something asks for it, so the success path of
a plain node stays cheap). Per-call state lives here and in the context variable,
never on the function object, so concurrent calls of one node (threads, tasks,
``Send`` fan-out) never see each other's state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphDrained

from langgraph_runner import _compat
from langgraph_runner.abort import ABORT_SIGNAL_KEY, AbortController, AbortSignal
from langgraph_runner.classify import is_control_flow
from langgraph_runner.context import NodeContext, ids_from_config
from langgraph_runner.errors import NodeTimeoutError
from langgraph_runner.metrics.collector import METRICS_COLLECTOR_KEY
from langgraph_runner.timeouts import aborted_error

if TYPE_CHECKING:
    from langgraph_runner.runner import NodeRunner

__all__ = ["Call", "run_signal_of"]

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
        "_controller",
        "_ctx",
        "_node",
        "config",
        "deadline_at",
        "failed",
        "m0",
        "metrics",
        "run_signal",
        "runner",
        "t0",
    )

    def __init__(self, runner: NodeRunner, config: RunnableConfig | None) -> None:
        self.runner = runner
        self.config = config
        self.t0 = perf_counter()
        self._ctx: NodeContext | None = None
        self._node: str | None = None
        self._controller: AbortController | None = None
        self.failed = False
        # run_signal_of(config) and the collector, inlined for the common case.
        conf = config.get("configurable") if config else None
        if conf:
            signal = conf.get(ABORT_SIGNAL_KEY)
            self.run_signal = signal if signal is None else run_signal_of(config)
            found = conf.get(METRICS_COLLECTOR_KEY)
            self.metrics: Any = found if found is not None else runner.spec.metrics
        else:
            self.run_signal = None
            self.metrics = runner.spec.metrics
        deadline = runner.spec.deadline
        if deadline is None:
            self.m0 = 0.0
            self.deadline_at: float | None = None
        else:
            self.m0 = time.monotonic()
            self.deadline_at = self.m0 + deadline

    # ------------------------------------------------------------------ context

    def get(self) -> NodeContext:
        """The current attempt's ``NodeContext`` (what ``get_node_context()`` returns)."""
        ctx = self._ctx
        if ctx is None:
            # Wall-clock start, derived when first needed (time.time() costs on every call).
            started_at = time.time() - (time.perf_counter() - self.t0)
            ctx = self._ctx = context_for(
                self.runner,
                self.config,
                self.node(),
                started_at,
                deadline=self.deadline_at,
                abort_signal=self.controller().signal,
            )
        return ctx

    def controller(self) -> AbortController:
        """The current attempt's controller (one that follows the run's signal, made on demand)."""
        controller = self._controller
        if controller is None:
            controller = self._controller = AbortController(parent=self.run_signal)
        return controller

    def next_attempt(self, attempt: int) -> NodeContext:
        """Move the context on to attempt number ``attempt``."""
        ctx = self._ctx = self.get()._replace(attempt=attempt)
        return ctx

    def begin_attempt(self) -> tuple[AbortController, NodeContext]:
        """A fresh controller for a guarded attempt, and the context that carries its signal.

        The controller follows the run's signal; the caller closes it after the
        attempt and aborts it on a timeout.
        """
        controller = AbortController(parent=self.run_signal)
        if self._controller is not None:
            self._controller.close()
        self._controller = controller
        ctx = self._ctx
        if ctx is None:  # the first attempt: get() builds the context with this controller
            ctx = self.get()
        else:
            ctx = self._ctx = ctx._replace(abort_signal=controller.signal)
        return controller, ctx

    def close(self) -> None:
        """Detach the last attempt's controller from the run's signal."""
        if self._controller is not None:
            self._controller.close()

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
        err = NodeTimeoutError(
            ctx.node,
            timeout=self.runner.spec.deadline or 0.0,
            elapsed=time.monotonic() - self.m0,
            attempt=ctx.attempt,
            kind="deadline",
        )
        err.__cause__ = cause
        return err

    def attempt_limit(self) -> tuple[float | None, bool]:
        """The next attempt's time limit and whether it is the deadline's.

        Raises:
            NodeTimeoutError: The deadline has already run out (``kind="deadline"``).
        """
        limit = self.runner.spec.timeout
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
            self.runner.emit(logging.INFO, "node.drained", self.get(), reason=reason)
            raise GraphDrained(reason)

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
            spec = self.runner.spec
            node = spec.name
            if not node:
                config = self.config
                meta = config.get("metadata") if config else None
                found = meta.get("langgraph_node") if meta else None
                node = str(found) if found else str(getattr(spec.fn, "__name__", "node"))
            self._node = node
        return node

    def send(self, collector: Any, method: str, *args: Any) -> None:
        """Call ``collector.<method>(node, *args)``; a broken collector never fails a node."""
        try:
            getattr(collector, method)(self.node(), *args)
        except Exception as exc:
            self.metrics_failed(exc, method)

    def metrics_failed(self, exc: Exception, method: str) -> None:
        """A collector call raised: log it; only LangGraph's control flow goes on up."""
        if is_control_flow(exc):  # e.g. interrupt() inside a threshold callback
            raise exc
        self.runner.spec.log.emit(logging.DEBUG, "metrics.failed", node=self.node(), method=method)

    def elapsed_ms(self) -> float:
        """Milliseconds since the call started."""
        return (perf_counter() - self.t0) * 1000


def context_for(
    runner: NodeRunner,
    config: RunnableConfig | None,
    node: str,
    started_at: float,
    *,
    deadline: float | None,
    abort_signal: AbortSignal | None,
) -> NodeContext:
    """The ``NodeContext`` of a call's first attempt."""
    info = getattr(_compat.runtime_of(config), "execution_info", None)
    runtime_run = getattr(info, "run_id", None)
    trace_id, exec_id, thread_id, run_id = ids_from_config(
        config, run_id=str(runtime_run) if runtime_run else None
    )
    retry = runner.spec.retry
    return NodeContext(
        node=node,
        trace_id=trace_id,
        graph_execution_id=exec_id,
        started_at=started_at,
        max_attempts=retry.max_attempts if retry is not None else 1,
        thread_id=thread_id,
        run_id=run_id,
        task_id=getattr(info, "task_id", None),
        deadline=deadline,
        abort_signal=abort_signal,
    )
