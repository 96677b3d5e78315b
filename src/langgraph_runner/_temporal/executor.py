"""The runs service's runs on Temporal: ``TemporalExecutor`` and what the routes call.

``create_app(executor=TemporalExecutor(client=..., task_queue=...))`` hands each
triggered run to a workflow (``run_workflow.RunWorkflow``) on that task queue instead
of the table queue's workers. ``POST /runs`` keeps its trigger row in the queue table
(under the queue name ``temporal:<task_queue>``, which no table-queue worker serves) so
the run is listed ``pending`` at once, for its tenant only, then starts the workflow
``langgraph-runner-run-<run id>`` (a start that is tried again finds it). From its first
activity on, the run has its row in the runs table and its checkpoints in the service's
database, so every read route serves it as it serves a run of the queue.

A cancel cancels the workflow (Temporal cancels the running node's activity: its
abort signal fires) and flags the row as on the queue; the workflow records the run
``cancelled``. A rebuild is planned here, as on the queue, and runs as a workflow on a
new thread; ``resume`` and ``retry`` continue the thread in a new workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import Coroutine, Mapping
from typing import Any

from langgraph.types import Command

from langgraph_runner._rebuild.partial import BASE_CHECKPOINT_KEY, BASE_THREAD_KEY, Change, plan
from langgraph_runner._rebuild.rerun import rerun_command
from langgraph_runner._records.egress import egress_text
from langgraph_runner._records.exceptions import CommandError
from langgraph_runner._runs.run_store import TABLE as RUNS_TABLE
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.tenancy import scoped_thread_id, shown_thread_id
from langgraph_runner._service.queue import QUEUE_TABLE, QueuedRun, RunQueue
from langgraph_runner._service.workers import Pending
from langgraph_runner._temporal.activity_saver import encode
from langgraph_runner._temporal.run_workflow import RUN_WORKFLOW, workflow_id

__all__ = ["TemporalExecutor", "TemporalRuns"]

_ENDED = ("completed", "failed", "cancelled", "interrupted", "abandoned")
_WAIT_POLL = 0.1  # seconds between two reads of a run ``wait`` waits for


@dataclasses.dataclass(frozen=True, kw_only=True)
class TemporalExecutor:
    """Runs the service's triggered runs as Temporal workflows (``create_app(executor=)``).

    The workers are ``runs_worker(client, task_queue=..., workflows=..., checkpointer=...)``
    processes, with the same workflows (builders) and the service's checkpointer.

    Args:
        client: A connected ``temporalio.client.Client`` (any event loop: the service
            calls it from its request threads).
        task_queue: The task queue the run workers poll.

    Raises:
        TypeError: ``client`` is not a Temporal client.
        ValueError: An empty ``task_queue``.
    """

    client: Any
    task_queue: str

    def __post_init__(self) -> None:
        from temporalio.client import Client

        if not isinstance(self.client, Client):
            raise TypeError(
                f"TemporalExecutor: client must be a temporalio Client, got {self.client!r}"
            )
        if not isinstance(self.task_queue, str) or not self.task_queue:
            raise ValueError(
                f"TemporalExecutor: task_queue must be a non-empty string, got {self.task_queue!r}"
            )

    def bind(self, graphs: Mapping[str, Any], saver: Any, time_limit: float | None) -> TemporalRuns:
        """What the routes call for this app (``create_app`` calls it)."""
        return TemporalRuns(self, graphs, saver, time_limit)


def _pending(item: QueuedRun, *, cancelled: bool = False) -> Pending:
    """The trigger row as the routes show a run no worker has recorded yet."""
    return Pending(
        run_id=item.run_id,
        thread_id=shown_thread_id(item.thread_id),
        tenant=item.tenant,
        workflow=item.workflow,
        created_at=item.created_at,
        cancelled=cancelled,
        trace_id=item.trace_id,
        displaced=item.displaced,
    )


def _call(coro: Coroutine[Any, Any, Any]) -> Any:
    """Await ``coro`` from a request thread (no loop runs there)."""
    return asyncio.run(coro)


class TemporalRuns:
    """The routes' side of the runs on Temporal (the table queue's ``Workers`` on the queue).

    Args:
        executor: The client and task queue.
        graphs: Workflow name -> compiled graph (the service's).
        saver: The service's checkpointer.
        time_limit: Seconds each run may take, or None.
    """

    threads = 0  # no worker threads in this process

    def __init__(
        self,
        executor: TemporalExecutor,
        graphs: Mapping[str, Any],
        saver: Any,
        time_limit: float | None,
    ) -> None:
        self._executor = executor
        self._graphs = dict(graphs)
        self._saver = self.saver = saver
        self.time_limit = time_limit
        self.queue = RunQueue(saver, queue=f"temporal:{executor.task_queue}")

    def start(self, threads: int | None = None) -> None:
        """Nothing to start: Temporal's workers run the runs.

        Raises:
            CommandError: ``threads`` asked for (``langgraph-runner worker``): the workers
                of runs on Temporal are ``runs_worker`` processes.
        """
        if threads:
            raise CommandError(
                "this app runs its runs on Temporal: start runs_worker(...) workers "
                f"on task queue {self._executor.task_queue!r}, not langgraph-runner worker"
            )

    def close(self) -> None:
        """Let go of the database connection."""
        self.queue.close()

    def submit(
        self, workflow: str, tenant: str | None, inp: Any, thread_id: str | None, **how: Any
    ) -> Pending:
        """Record the run ``pending`` and start its workflow: what ``Workers.submit`` does
        on the queue, with its keywords (``change``, ``base_thread``, ``base_checkpoint``,
        ``follow``, ``stored_thread``, ``trace_context``, ``run_id``, ``on_busy``). Runs on
        one thread run one after the other, in the order they were triggered."""
        change: Change | None = how.get("change")
        follow: Mapping[str, Any] | None = how.get("follow")
        run_id = str(how.get("run_id") or uuid.uuid4())
        thread = how.get("stored_thread") or scoped_thread_id(tenant, thread_id or run_id)
        metadata: dict[str, Any] = {}
        start_with: Any = inp
        graph = self._graphs[workflow]
        if change is not None:
            base: Any = {"configurable": {"thread_id": how.get("base_thread")}}
            if how.get("base_checkpoint") is not None:
                base["configurable"]["checkpoint_id"] = how["base_checkpoint"]
            the_plan = plan(graph, base, change, tenant=tenant)
            start_with = dict(the_plan.input)
            metadata = {
                BASE_THREAD_KEY: the_plan.base_thread_id,
                BASE_CHECKPOINT_KEY: the_plan.base_checkpoint_id,
            }
        elif follow is not None and follow.get("kind") == "resume":
            start_with = Command(resume=follow.get("value"))
        elif follow is not None:
            start_with = rerun_command(graph, {"configurable": {"thread_id": thread}})
        item = self.queue.enqueue(
            run_id,
            workflow,
            tenant,
            thread,
            inp,
            trace_context=how.get("trace_context"),
            on_busy=how.get("on_busy"),  # one decision with the thread's runs (multitask)
        )
        job = {
            "run_id": run_id,
            "workflow": workflow,
            "tenant": tenant,
            "thread_id": thread,
            "input": encode(start_with),
            "metadata": {**metadata, "trace_id": item.trace_id},
            "time_limit": self.time_limit,
        }
        try:
            _call(self._start(job))
        except Exception as exc:  # Temporal unreachable: the run ends failed, with why
            why = egress_text(f"{type(exc).__name__}: {exc}", max_length=300)
            self._record(item, "failed", f"the run could not start: {why}")
            self._done(run_id)  # its thread is free for the next run
        return _pending(item)

    async def _start(self, job: dict[str, Any]) -> None:
        from temporalio.common import WorkflowIDConflictPolicy

        await self._executor.client.start_workflow(
            RUN_WORKFLOW,
            job,
            id=workflow_id(job["run_id"]),
            task_queue=self._executor.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    def _record(self, item: Any, status: str, reason: str) -> None:
        """A run that never started ends ``status`` (its row written, if it has none)."""
        store = open_run_store(self._saver)
        if store is None:  # pragma: no cover - a saver always has a store
            return
        try:
            # One statement: the row is never seen running (a workflow starting meanwhile
            # finds it ended and runs nothing).
            now = time.time()
            written, _ = store.sql.run(
                f"INSERT INTO {RUNS_TABLE} (run_id, thread_id, tenant, graph, status, reason,"
                " started_at, updated_at, nodes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[]')"
                " ON CONFLICT (run_id) DO NOTHING",
                (item.run_id, item.thread_id, item.tenant, item.workflow, status, reason, now, now),
            )
            if written != 1 and status == "cancelled":  # it started meanwhile: it ends cancelled
                store.request_cancel(item.run_id, "cancelled over HTTP")
        finally:
            store.close()

    def _done(self, run_id: str) -> None:
        """Mark the run's trigger row ``done`` (a later run on its thread may start)."""
        store = open_run_store(self._saver)
        if store is None:  # pragma: no cover - a saver always has a store
            return
        try:
            store.sql.run(
                f"UPDATE {QUEUE_TABLE} SET status = 'done', finished_at = ? WHERE run_id = ?",
                (time.time(), run_id),
            )
        finally:
            store.close()

    def _row_status(self, run_id: str) -> str | None:
        store = open_run_store(self._saver)
        if store is None:  # pragma: no cover - a saver always has a store
            return None
        try:
            row = store.get(run_id)
            return None if row is None else row.status
        finally:
            store.close()

    def wait(self, run_id: str, timeout: float | None = None) -> None:
        """Block until the run has ended (its row says so); None, as ``Workers.wait`` for a
        run another process ran.

        Raises:
            KeyError: No such run.
            TimeoutError: Still not ended after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._row_status(run_id) not in _ENDED:
            if self.queue.get(run_id) is None:
                raise KeyError(run_id)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id!r} is not done after {timeout} s")
            time.sleep(_WAIT_POLL)

    def pending(self, run_id: str, tenant: str | None) -> Pending | None:
        """The run if its workflow has not recorded it yet (and it is ``tenant``'s)."""
        item = self.queue.get(run_id)
        if item is None or item.tenant != tenant or item.status not in ("queued", "cancelled"):
            return None
        return _pending(item, cancelled=item.status == "cancelled")

    def pending_of(self, tenant: str | None, limit: int = 50) -> list[Pending]:
        """The tenant's runs whose workflow has not recorded them yet, newest first."""
        return [_pending(i) for i in self.queue.waiting(tenant, limit=limit)]

    def cancel_pending(self, run_id: str, tenant: str | None, why: str = "") -> Pending | None:
        """Cancel the run's workflow. The cancelled run if it had not started; None if it
        had (the route flags its row) or is not ``tenant``'s (the route answers 404)."""
        item = self.queue.get(run_id)
        if item is None or item.tenant != tenant:
            return None
        status = self._row_status(run_id)
        if status in _ENDED:
            return None  # the route answers 409
        _call(self._cancel(run_id))
        if status is not None:
            return None
        cancelled = self.queue.cancel(run_id, tenant) or item
        # Recorded now, as on the queue; a workflow that starts after this does not run.
        self._record(cancelled, "cancelled", why or "cancelled before it started")
        return _pending(cancelled, cancelled=True)

    async def _cancel(self, run_id: str) -> None:
        from temporalio.service import RPCError

        handle = self._executor.client.get_workflow_handle(workflow_id(run_id))
        with contextlib.suppress(RPCError):  # it ended meanwhile: its row says how
            await handle.cancel()
