"""One run's setup and reporting, shared by ``run``/``arun`` and ``rebuild``: ``RunSession``.

It gives the run its identity (run id, deadline, abort signal, tenant), opens and
closes its row in the runs table, follows its node tasks through the tracker, takes
the thread's lock, and turns how ``graph.invoke`` ended into a ``RunResult``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import types
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.errors import GraphDrained
from langgraph.runtime import RunControl

from langgraph_runner._internal.durations import optional_seconds
from langgraph_runner._policies.abort import ABORT_SIGNAL_KEY, AbortController, AbortSignal
from langgraph_runner._policies.context import (
    RUN_DEADLINE_KEY,
    RUN_TRACKER_KEY,
    TENANT_KEY,
)
from langgraph_runner._policies.run_scope import ids_from_config
from langgraph_runner._records.exceptions import StepFailedError
from langgraph_runner._records.logs import SupportsEvents, get_event_logger
from langgraph_runner._records.record import record_cause
from langgraph_runner._records.sanitize import sanitize_message
from langgraph_runner._runs import run_watch
from langgraph_runner._runs.graph_shape import record_shape
from langgraph_runner._runs.row_writes import finish_with_retries, store_unavailable
from langgraph_runner._runs.row_writes import saver_database as _database
from langgraph_runner._runs.run_options import StepFailurePolicy
from langgraph_runner._runs.run_store import RUN_ID_METADATA_KEY, RunStore
from langgraph_runner._runs.status import RunStatus, cancel_reason, interrupted, ran_out, row_reason
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.task_times import record_times
from langgraph_runner._runs.tenancy import check_tenant
from langgraph_runner._runs.thread_lock import ThreadLock
from langgraph_runner._runs.tracker import NodeRunStatus, Tracker, is_cancel
from langgraph_runner._traces.run_span import Outcome

__all__ = [
    "MAX_TIME_LIMIT",
    "RunResult",
    "TIME_LIMIT_REASON",
    "RunSession",
]


TIME_LIMIT_REASON = "run time limit passed"


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunResult:
    """What ``run``/``arun`` report about one run.

    Attributes:
        output: What ``graph.invoke`` returned (None unless completed or interrupted).
        status: How the run ended.
        run_id: LangGraph's root run id of the invocation.
        trace_id: The trace id every node of the run logged.
        graph_execution_id: The thread id, else the run id.
        thread_id: ``configurable.thread_id`` when the run has one.
        duration_ms: Wall time of the run in milliseconds.
        nodes: Each node's status (its last execution when it ran more than once).
        counts: Node executions per status (a node that ran twice counts twice).
        reason: Why a run was cancelled (``"run time limit passed"``, the abort
            reason, ``"task cancelled"``), else None.
        error: The exception that ended a failed or cancelled run.
    """

    output: Any
    status: RunStatus
    run_id: str
    trace_id: str
    graph_execution_id: str
    thread_id: str | None
    duration_ms: float
    nodes: Mapping[str, NodeRunStatus]
    counts: Mapping[str, int]
    reason: str | None = None
    error: BaseException | None = None


# A deadline past this is no bound (and far past it overflows the clocks that
# timers and deadlines are read from: time_limit=1e308 crashed inside the node).
MAX_TIME_LIMIT = 10 * 365 * 24 * 3600.0


def _seconds(time_limit: float | timedelta | None) -> float | None:
    return optional_seconds(time_limit, "time_limit", owner="run", maximum=MAX_TIME_LIMIT)


class RunSession:
    """One run's setup and reporting, shared by ``run`` and ``arun``."""

    def __init__(
        self,
        graph: Any,
        config: RunnableConfig | None,
        time_limit: float | timedelta | None,
        logger: SupportsEvents | None,
        reused: bool,
        extra: Mapping[str, Any],
        exclusive: bool = True,
        lock_wait: float | timedelta | None = None,
        on_step_failure: StepFailurePolicy = "stop",
        tenant: str | None = None,
    ) -> None:
        if on_step_failure not in ("stop", "continue"):
            raise ValueError(
                f"on_step_failure must be 'stop' or 'continue', got {on_step_failure!r}"
            )
        self.limit = _seconds(time_limit)
        self.log = get_event_logger(logger)
        cfg: dict[str, Any] = dict(config or {})
        raw_run = cfg.get("run_id")
        root = raw_run if isinstance(raw_run, uuid.UUID) else None
        if root is None:
            try:
                root = uuid.UUID(str(raw_run)) if raw_run else uuid.uuid4()
            except ValueError:
                raise ValueError(f"config['run_id'] must be a UUID, got {raw_run!r}") from None
        cfg["run_id"] = root
        cfg["metadata"] = {**(cfg.get("metadata") or {}), RUN_ID_METADATA_KEY: str(root)}
        self.failed_step: StepFailedError | None = None
        self.cancel_reason: str | None = None
        stop = self._step_failed if on_step_failure == "stop" else None
        self.tracker = Tracker(root, reused=reused, on_failure=stop)
        callbacks = cfg.get("callbacks")
        if callbacks is None:
            cfg["callbacks"] = [self.tracker]
        elif isinstance(callbacks, list):
            cfg["callbacks"] = [*callbacks, self.tracker]
        else:  # a callback manager
            callbacks = callbacks.copy()
            callbacks.add_handler(self.tracker, inherit=False)
            cfg["callbacks"] = callbacks
        conf: dict[str, Any] = dict(cfg.get("configurable") or {})
        conf[RUN_TRACKER_KEY] = self.tracker
        check_tenant(tenant, owner="run")
        given = check_tenant(conf.get(TENANT_KEY), owner="run")
        if tenant is not None and given is not None and str(given) != tenant:
            raise ValueError(
                f"run(tenant={tenant!r}) but config['configurable']['{TENANT_KEY}'] is {given!r}"
            )
        if tenant is not None:
            conf[TENANT_KEY] = tenant
        self.tenant: str | None = None if conf.get(TENANT_KEY) is None else str(conf[TENANT_KEY])
        self.control = RunControl()
        self.expired = False
        # Always a run-wide signal: a cancel (or the time limit) aborts the nodes under way.
        parent = conf.get(ABORT_SIGNAL_KEY)
        if isinstance(parent, AbortController):
            parent = parent.signal
        self.controller = AbortController(
            parent=parent if isinstance(parent, AbortSignal) else None
        )
        conf[ABORT_SIGNAL_KEY] = self.controller.signal
        self.outer_deadline: float | None = conf.get(RUN_DEADLINE_KEY)
        cfg["configurable"] = conf
        self.config = cast("RunnableConfig", cfg)
        saver = getattr(graph, "checkpointer", None)
        lockable = isinstance(saver, BaseCheckpointSaver) and conf.get("thread_id") is not None
        self.lock = ThreadLock(saver if exclusive and lockable else None, cfg, wait=lock_wait)
        self.lock.on_lost = self._lock_lost  # told when the lock goes with its connection
        self.saver = saver if isinstance(saver, BaseCheckpointSaver) else None
        self.store: RunStore | None = None
        self.trace_id, self.exec_id, self.thread_id, run_id = ids_from_config(cfg)
        self.outcome: Outcome | None = None  # set when the run concludes (its span reads it)
        self.run_id = run_id or str(root)
        self.graph_name = str(getattr(graph, "name", None) or type(graph).__name__)
        nodes = getattr(graph, "nodes", None)
        self.graph_nodes = [str(n) for n in nodes or () if not str(n).startswith("__")]
        self.graph = graph
        self.extra = dict(extra)
        self.connection_wait = 0.0  # seconds its statements waited for a pooled connection
        self.wait_guard = threading.Lock()
        self.wait_told = False
        self.t0 = time.perf_counter()

    def use_control(self, invoke_kwargs: dict[str, Any]) -> None:
        """Use the caller's ``control=`` (a LangGraph RunControl) if one was passed."""
        control = invoke_kwargs.pop("control", None)
        if control is not None:
            self.control = control

    def _step_failed(self, node: str, record: Mapping[str, Any] | None) -> None:
        """A step ended failed under the ``stop`` policy: start no further step."""
        if self.failed_step is None:
            self.failed_step = StepFailedError(node, record_cause(record))
        self.control.request_drain(f"step {node!r} failed")

    def cancel(self, reason: str) -> None:
        """Stop between steps (``cancel_run``): abort what is running, start nothing new."""
        if self.cancel_reason is None:
            self.cancel_reason = sanitize_message(reason, max_length=200) or "cancelled"
        self.control.request_drain(self.cancel_reason)
        self.controller.abort(self.cancel_reason)

    def open_store(self, sqlite_path: str | None = None) -> None:
        """Record the run in its checkpointer's runs table before any node runs.

        The row is the record cancel, reports and tenancy rely on: a run whose row
        cannot be written (after the store's bounded wait and retries) fails here,
        before any of its nodes ran. The process's watcher then reads its cancel flag.
        """
        if self.saver is None:
            return
        try:
            self.store = open_run_store(self.saver, sqlite_path=sqlite_path)
            if self.store is None:
                return
            self.store.start(
                self.run_id,
                self.thread_id,
                self.tenant,
                self.graph_name,
                self.graph_nodes,
                shape=record_shape(self.store, self.graph, self._store_failed),
            )
        except Exception as exc:
            self._store_failed(exc, "start")
            if self.store is not None:
                self.store.close()
            self.store = None
            raise store_unavailable(exc, _database(self.saver)) from exc
        run_watch.watch(self.store, self.run_id, self.cancel)

    def waiting(self, database: str, seconds: float) -> None:
        """No connection was free: the run waits for one (backpressure), and says so once."""
        with self.wait_guard:
            if self.wait_told:
                return
            self.wait_told = True
        self.log.emit(
            logging.WARNING,
            "run.waiting_for_connection",
            database=database,
            waited_s=seconds,
            **self.ids(),
        )

    def waited(self, database: str, seconds: float) -> None:
        """A wait for a connection is over: counted in the run's ``connection_wait_ms``."""
        with self.wait_guard:
            self.connection_wait += seconds

    def wait_fields(self) -> dict[str, float]:
        """``connection_wait_ms`` for the run's last event, when it waited."""
        waited_ms = round(self.connection_wait * 1000, 3)
        return {"connection_wait_ms": waited_ms} if waited_ms else {}

    def _lock_lost(self) -> None:
        """The thread's lock went with its connection and another process took it."""
        self.cancel("thread lock lost with its database connection")

    def close_store(self, status: str, reason: str | None) -> None:
        run_watch.unwatch(self.run_id)
        store, self.store = self.store, None
        if store is None:
            return
        tracker = self.tracker
        record_times(
            store,
            self.run_id,
            tracker.times,
            self._store_failed,
            tracker.served,
            tracker.attempts,
        )
        try:
            finish_with_retries(store, self.run_id, status, reason)
        except Exception as exc:  # the row stays running: its lease runs out (abandoned)
            self._store_failed(exc, "finish")
        finally:
            store.close()

    def _store_failed(self, exc: Exception, when: str) -> None:
        """The runs table could not be written: log it (the database, never a password)."""
        self.log.emit(
            logging.ERROR if when == "start" else logging.WARNING,
            "run.store_failed",
            when=when,
            database=getattr(self.store, "database", None) or _database(self.saver),
            error_type=type(exc).__name__,
            error=sanitize_message(str(exc), max_length=200),
            **self.ids(),
        )

    def expire(self) -> None:
        """The time limit passed: stop between steps, abort what is running."""
        self.expired = True
        self.control.request_drain(TIME_LIMIT_REASON)
        self.controller.abort(TIME_LIMIT_REASON)

    def retrace(self) -> None:
        """Take the trace id of the span now current (the run's), unless the config names one."""
        self.trace_id = ids_from_config(self.config)[0]

    def ids(self) -> dict[str, Any]:
        return {
            "graph": self.graph_name,
            "thread_id": self.thread_id,
            "run_id": self.run_id,
            "trace_id": self.trace_id,
        }

    def started(self) -> None:
        # The run, and its time limit, start once it holds its thread.
        self.t0 = time.perf_counter()
        if self.limit is not None:
            deadline, earlier = time.monotonic() + self.limit, self.outer_deadline
            conf = self.config["configurable"]
            conf[RUN_DEADLINE_KEY] = deadline if earlier is None else min(earlier, deadline)
        self.log.emit(
            logging.INFO, "run.started", time_limit=self.limit, **self.extra, **self.ids()
        )

    def finish(self, output: Any, error: BaseException | None) -> RunResult:
        result, status, reason = self.conclude(output, error)
        self.close_store(status, reason)
        return result

    def conclude(
        self, output: Any, error: BaseException | None
    ) -> tuple[RunResult, str, str | None]:
        """How the run ended, logged (no I/O): its result, and its row's status and reason."""
        self.controller.close()
        # The run is over: the lock and the tracker need not call back into it, and the
        # reference cycles they made with it go (less for the garbage collector to find).
        self.lock.on_lost = None
        self.tracker.on_failure = None
        duration = round((time.perf_counter() - self.t0) * 1000, 3)
        reason: str | None = None
        status: str
        timed_out = False
        if self.failed_step is not None and (error is None or isinstance(error, GraphDrained)):
            # The failed step stopped the run (drained), or was the last one.
            status, error = "failed", self.failed_step
            reason = str(self.failed_step)
        elif error is None:
            status = "interrupted" if interrupted(output) else "completed"
        elif self.expired or ran_out(error):  # the time limit ended it, however it surfaced
            status, reason, timed_out = "cancelled", TIME_LIMIT_REASON, True
        elif self.cancel_reason is not None and is_cancel(error):
            status, reason = "cancelled", self.cancel_reason
        elif is_cancel(error):
            status, reason = "cancelled", cancel_reason(error)
        else:
            status = "failed"
        fields: dict[str, Any] = {"duration_ms": duration, "counts": dict(self.tracker.counts)}
        if self.tenant is not None:
            fields["tenant"] = self.tenant
        if self.failed_step is not None:
            fields["failed_step"] = self.failed_step.node
        if reason is not None:
            fields["reason"] = reason
        if status == "failed" and error is not None:
            fields["error_type"] = type(error).__name__
            fields["error"] = sanitize_message(str(error), max_length=200)
        fields.update(self.wait_fields())
        level = {"completed": logging.INFO, "interrupted": logging.INFO}.get(
            status, logging.WARNING if status == "cancelled" else logging.ERROR
        )
        self.log.emit(level, f"run.{status}", **fields, **self.extra, **self.ids())
        self.outcome = (status, reason, error, timed_out)
        result = RunResult(
            output=output if error is None else None,
            status=RunStatus(status),
            run_id=self.run_id,
            trace_id=self.trace_id,
            graph_execution_id=self.exec_id,
            thread_id=self.thread_id,
            duration_ms=duration,
            nodes=types.MappingProxyType(dict(self.tracker.nodes)),
            counts=types.MappingProxyType(dict(self.tracker.counts)),
            reason=reason,
            error=error,
        )
        return result, status, row_reason(status, reason, error)
