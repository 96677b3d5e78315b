"""A run of the runs service on Temporal: the workflow and its bookkeeping activities.

``RunWorkflow`` runs one triggered run: an activity records its row in the runs table
(``start``: the tenant's thread admitted, the graph's shape stored), the graph (the
plugin's, prepared by ``for_temporal``) runs with ``ActivitySaver`` as its
checkpointer, so every node is an activity and every checkpoint lands in the service's
database, and a last activity records how it ended (``finish``). ``GET /runs/{id}``,
its steps, artifacts, events and rebuilds read that row and those checkpoints exactly
as they read a run of the table queue.

How it ends, as ``run()`` says it: a step that recorded its failure stops the run after
its superstep (``failed``, ``StepFailedError``'s reason); an ``interrupt()``:
``interrupted``; a cancelled workflow: ``cancelled`` (the running node's activity is
cancelled, so it sees its abort signal); the time limit: ``cancelled``; an error:
``failed``. A workflow terminated from outside writes nothing: its row stays
``running``.

Liveness is Temporal's: a run's row is not vouched for by a process (no heartbeat, so
``run_store``'s sweep never marks it ``abandoned``); a lost worker's activity runs again
on another worker and the workflow replays there.

The workflow is not sandboxed: it runs LangGraph's loop (as the plugin does) and pure
functions of the package, and does its I/O only through activities.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphDrained
from langgraph.graph import StateGraph
from langgraph.runtime import RunControl
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError, CancelledError

from langgraph_runner._policies.context import TENANT_KEY
from langgraph_runner._records.egress import egress_text
from langgraph_runner._records.exceptions import StepFailedError
from langgraph_runner._records.record import record_cause
from langgraph_runner._runs.graph_shape import record_shape
from langgraph_runner._runs.run_store import RUN_ID_METADATA_KEY, TABLE, RunStore
from langgraph_runner._runs.session import TIME_LIMIT_REASON
from langgraph_runner._runs.status import interrupted
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.tenancy import admit
from langgraph_runner._runs.tracker import own_record, recorded_status
from langgraph_runner._service.queue import QUEUE_TABLE
from langgraph_runner._temporal.activity_saver import (
    ACTIVITY,
    DB_OPTIONS,
    ActivitySaver,
    decode,
    encode,
)
from langgraph_runner._temporal.checkpoint_ids import from_workflow, install

__all__ = [
    "RUN_WORKFLOW",
    "RunActivities",
    "RunWorkflow",
    "StopOnFailure",
    "is_cancelled",
    "run_of",
    "workflow_id",
]

RUN_WORKFLOW = "langgraph_runner.run"
"""The workflow type of a run of the runs service."""
TEMPORAL_OWNER = "temporal"
"""The ``owner`` of a run's row while Temporal runs it."""
_NEVER = 1e18  # a heartbeat the sweep never finds stale: Temporal vouches for the run
_ENDED = ("completed", "failed", "cancelled", "interrupted")
_THREAD_WAIT = 1.0  # seconds between two looks at a busy thread (its start tried again)
_BEAT = 1.0  # seconds between two heartbeats of a bookkeeping activity (its timeout: 3 s)


def workflow_id(run_id: str) -> str:
    """The workflow id of run ``run_id`` (one workflow per run: a retried start is a no-op)."""
    return f"{_RUN_PREFIX}{run_id}"


_RUN_PREFIX = "langgraph-runner-run-"


def run_of(info: activity.Info) -> str | None:
    """The run whose workflow an activity is part of (``info``), None outside a run's."""
    found = info.workflow_id or ""
    if info.workflow_type != RUN_WORKFLOW or not found.startswith(_RUN_PREFIX):
        return None
    return found[len(_RUN_PREFIX) :]


@workflow.defn(name=RUN_WORKFLOW, sandboxed=False)
class RunWorkflow:
    """One run of the runs service (see the module docstring). Its argument, the job:
    ``run_id``, ``workflow``, ``tenant``, ``thread_id`` (as stored), ``input``
    (``encode``d), ``metadata`` (kept in its checkpoints), ``time_limit`` (or None)."""

    def __init__(self) -> None:
        self.expired = False  # the run's time limit passed (its timer cancelled the graph)

    @workflow.run
    async def run(self, job: dict[str, Any]) -> dict[str, Any]:
        status, reason, cancelled, started = "failed", None, False, False
        try:
            await _bookkeeping("start", job)
            started = True
            status, reason = await self._graph(job)
        except BaseException as exc:
            if self.expired:  # however the cancelled graph surfaced it
                status, reason = "cancelled", TIME_LIMIT_REASON
            elif is_cancelled(exc):  # the workflow was cancelled: so is the run
                status, reason, cancelled = "cancelled", None, True
            elif isinstance(exc, Exception):  # as run(): the failed step says why
                status = "failed"
                reason = None if started else f"the run could not start: {_why(exc)}"
            else:  # pragma: no cover - not an error of the run's
                raise
        await _bookkeeping("finish", job, status, reason)
        if cancelled:
            raise asyncio.CancelledError("the run was cancelled")
        return {"status": status, "reason": reason}

    async def _graph(self, job: dict[str, Any]) -> tuple[str, str | None]:
        graph = _plugin_graph(job["workflow"]).compile(checkpointer=ActivitySaver(job))
        control = RunControl()
        config = _config(job)
        stop = StopOnFailure(config["run_id"], control)
        config["callbacks"] = [stop]
        run = graph.ainvoke(
            decode(job["input"]),
            cast("RunnableConfig", config),
            durability="sync",
            control=control,
        )
        install()  # once per process: LangGraph's checkpoint ids from the workflow, below
        with from_workflow():  # the graph's tasks copy this context
            task = asyncio.ensure_future(run)
        limit = job.get("time_limit")
        loop = asyncio.get_running_loop()
        timer = loop.call_later(float(limit), self._expire, task) if limit else None
        try:
            output = await task
        except GraphDrained:
            if stop.failed is None:
                raise
            output = None
        finally:
            if timer is not None:
                timer.cancel()
        if stop.failed is not None:
            return "failed", str(stop.failed)
        return ("interrupted" if interrupted(output) else "completed"), None

    def _expire(self, task: asyncio.Future[Any]) -> None:
        """The time limit (a timer of the workflow): stop the graph, its node's activity too."""
        self.expired = True
        task.cancel()


class StopOnFailure(BaseCallbackHandler):
    """A step that recorded its failure stops the run after its superstep, as ``run()``'s
    ``on_step_failure="stop"``: told by LangGraph's callbacks in the workflow, before the
    next step starts (a pure function of the node's result)."""

    run_inline = True  # in the workflow's loop: never a thread
    ignore_llm = ignore_chat_model = ignore_retry = ignore_agent = True
    ignore_retriever = ignore_custom_event = True

    def __init__(self, root: uuid.UUID, control: RunControl) -> None:
        self._root = root
        self._control = control
        self._tasks: dict[Any, str] = {}
        self.failed: StepFailedError | None = None

    def on_chain_start(self, serialized: Any, inputs: Any, **kw: Any) -> None:
        node = (kw.get("metadata") or {}).get("langgraph_node")
        if kw.get("parent_run_id") == self._root and node and not str(node).startswith("__"):
            self._tasks[kw["run_id"]] = str(node)

    def on_chain_end(self, outputs: Any, **kw: Any) -> None:
        node = self._tasks.pop(kw["run_id"], None)
        if node is None or self.failed is not None:
            return
        if recorded_status(node, outputs) == "failed":
            self.failed = StepFailedError(node, record_cause(own_record(node, outputs)))
            self._control.request_drain(f"step {node!r} failed")


def _plugin_graph(name: str) -> StateGraph[Any, Any, Any, Any]:
    from temporalio.langgraph import graph  # the plugin, imported by the worker already

    return graph(name)


def _config(job: Mapping[str, Any]) -> dict[str, Any]:
    """The run's config: its id (LangGraph's root run id), thread, tenant and metadata."""
    configurable: dict[str, Any] = {"thread_id": job["thread_id"]}
    if job.get("tenant") is not None:
        configurable[TENANT_KEY] = job["tenant"]
    metadata = {**(job.get("metadata") or {}), RUN_ID_METADATA_KEY: job["run_id"]}
    return {"run_id": uuid.UUID(job["run_id"]), "configurable": configurable, "metadata": metadata}


def is_cancelled(exc: BaseException | None) -> bool:
    """Whether ``exc`` is, or was caused by, a cancellation (asyncio's or Temporal's)."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, (asyncio.CancelledError, CancelledError)):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _why(exc: BaseException) -> str:
    """The redacted reason of a run that could not start: the deepest cause."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    kind = exc.type if isinstance(exc, ApplicationError) and exc.type else type(exc).__name__
    return egress_text(f"{kind}: {exc}", max_length=300)


async def _bookkeeping(name: str, job: Mapping[str, Any], *args: Any) -> None:
    await workflow.execute_activity(ACTIVITY + name, args=[dict(job), *args], **DB_OPTIONS)


class RunActivities:
    """The activities of ``RunWorkflow``, on one worker: the run's rows and checkpoints.

    Args:
        graphs: Workflow name -> the graph compiled with ``checkpointer`` (its nodes
            and shape are stored with each run).
        checkpointer: The service's checkpoint saver (the same database).
    """

    def __init__(self, graphs: Mapping[str, Any], checkpointer: Any) -> None:
        self._graphs = dict(graphs)
        self._saver = checkpointer

    def activities(self) -> list[Any]:
        """The activity functions to give the worker."""
        return [self.start, self.finish, self.get_tuple, self.put, self.put_writes]

    def _store(self) -> RunStore:
        store = open_run_store(self._saver)
        if store is None:  # pragma: no cover - a saver always has a store
            raise ApplicationError("no runs table for this checkpointer", non_retryable=True)
        return store

    @activity.defn(name=ACTIVITY + "start")
    async def start(self, job: dict[str, Any]) -> None:
        """Record the run ``running`` (once: a retried start finds its row)."""
        await _beating(self._start, job)

    def _start(self, job: dict[str, Any]) -> None:
        store = self._store()
        try:
            row = store.get(job["run_id"])
            if row is not None and row.status in _ENDED:  # cancelled before it started
                raise ApplicationError(
                    f"the run is {row.status} already", type="RunEnded", non_retryable=True
                )
            if row is not None:  # a retried start
                return
            earlier = _earlier_on_thread(store, job)
            if earlier is not None:  # one writer per thread: wait for it, as on the queue
                raise ApplicationError(
                    f"thread busy: run {earlier} goes first",
                    type="ThreadBusy",
                    next_retry_delay=timedelta(seconds=_THREAD_WAIT),
                )
            try:
                admit(self._saver, job["thread_id"], job.get("tenant"), job["run_id"])
            except (LookupError, ValueError) as exc:  # another tenant's thread, a used id
                raise ApplicationError(
                    str(exc), type=type(exc).__name__, non_retryable=True
                ) from None
            graph = self._graphs[job["workflow"]]
            nodes = [str(n) for n in graph.nodes if not str(n).startswith("__")]
            shape = record_shape(store, graph, lambda exc, when: None)
            store.start(
                job["run_id"], job["thread_id"], job.get("tenant"), job["workflow"], nodes,
                shape=shape,
            )  # fmt: skip
            store.sql.run(
                f"UPDATE {TABLE} SET owner = ?, heartbeat_at = ? WHERE run_id = ?",
                (TEMPORAL_OWNER, _NEVER, job["run_id"]),
            )
        finally:
            store.close()

    @activity.defn(name=ACTIVITY + "finish")
    async def finish(self, job: dict[str, Any], status: str, reason: str | None) -> None:
        """Record how the run ended (a row first, if it never started)."""
        await _beating(self._finish, job, status, reason)

    def _finish(self, job: dict[str, Any], status: str, reason: str | None) -> None:
        run_id = job["run_id"]
        store = self._store()
        try:
            row = store.get(run_id)
            if row is None:
                store.start(run_id, job["thread_id"], job.get("tenant"), job["workflow"])
                if status == "cancelled" and reason is None:
                    reason = "cancelled before it started"
            elif row.status in _ENDED:
                return  # a retried finish
            if status == "cancelled" and reason is None:
                reason = store.cancel_requested(run_id) or "cancelled"
            store.finish(run_id, status, reason)
            store.sql.run(
                f"UPDATE {QUEUE_TABLE} SET status = 'done', finished_at = ?"
                " WHERE run_id = ? AND status = 'queued'",
                (time.time(), run_id),
            )
        finally:
            store.close()

    @activity.defn(name=ACTIVITY + "get_tuple")
    async def get_tuple(self, job: dict[str, Any], config: list[str]) -> list[str] | None:
        """The checkpoint the config names (the thread's latest without an id)."""
        found = await _beating(self._saver.get_tuple, decode(config))
        if found is None:
            return None
        return encode(
            (
                found.config,
                found.checkpoint,
                found.metadata,
                found.parent_config,
                found.pending_writes,
            )
        )

    @activity.defn(name=ACTIVITY + "put")
    async def put(self, job: dict[str, Any], payload: list[str]) -> dict[str, Any]:
        """Store a checkpoint of the run; the config naming it."""
        config, checkpoint, metadata, versions = decode(payload)
        stored = await _beating(
            self._saver.put, _stamped(job, config), checkpoint, metadata, versions
        )
        conf = stored.get("configurable") or {}
        keys = ("thread_id", "checkpoint_ns", "checkpoint_id")
        return {"configurable": {k: conf[k] for k in keys if k in conf}}

    @activity.defn(name=ACTIVITY + "put_writes")
    async def put_writes(self, job: dict[str, Any], payload: list[str]) -> None:
        """Store a finished task's writes."""
        config, writes, task_id, task_path = decode(payload)
        await _beating(
            self._saver.put_writes,
            _stamped(job, config),
            [tuple(w) for w in writes],
            task_id,
            task_path,
        )


def _earlier_on_thread(store: RunStore, job: Mapping[str, Any]) -> str | None:
    """A run triggered before this one on its thread that has not ended (its id), else None.

    Each run's trigger row stays ``queued`` until its workflow records its end (``done``)
    or a cancel stops it before it started (``cancelled``).
    """
    _, rows = store.sql.run(
        f"SELECT q.run_id FROM {QUEUE_TABLE} q, {QUEUE_TABLE} me"
        " WHERE me.run_id = ? AND q.queue = me.queue AND q.thread_id = me.thread_id"
        " AND q.status = 'queued' AND q.run_id <> me.run_id"
        " AND (q.created_at < me.created_at"
        " OR (q.created_at = me.created_at AND q.run_id < me.run_id)) LIMIT 1",
        (job["run_id"],),
    )
    if not rows:
        return None
    row = rows[0]
    return str(row["run_id"] if isinstance(row, dict) else row[0])


async def _beating(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in a thread, heartbeating while it runs: a worker lost in the middle
    of a write is noticed after the heartbeat timeout (``DB_OPTIONS``), not a minute."""
    work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    while True:
        done, _ = await asyncio.wait({work}, timeout=_BEAT)
        if done:
            return work.result()
        activity.heartbeat()


def _stamped(job: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with what the run's checkpoints keep: its run id, tenant and links."""
    configurable = dict(config.get("configurable") or {})
    if job.get("tenant") is not None:
        configurable[TENANT_KEY] = job["tenant"]
    metadata = {**(job.get("metadata") or {}), RUN_ID_METADATA_KEY: job["run_id"]}
    return {"configurable": configurable, "metadata": metadata}
