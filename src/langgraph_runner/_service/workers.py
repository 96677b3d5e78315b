"""Workers: threads that take triggered runs from the run queue and execute them with ``run()``.

A trigger is a row in the queue table (``queue``), in the checkpointer's database: it
survives the process that took the request, and every process with workers on that
database (the app's own threads, or ``langgraph-runner worker`` on other machines) may
execute it. Until a worker's ``run()`` writes the run's row in the runs table, the run
is ``pending`` (with its steps pending); a cancel before that stops it from starting
(it is then recorded ``cancelled``), a cancel after it goes through ``cancel_run``.

Threads are the tenant's own: a run for tenant ``t`` on thread ``x`` runs on the thread
stored as ``scoped_thread_id(t, x)`` (its checkpoints, its lock, its rows), so tenants
naming the same thread never meet; ``Pending.thread_id`` is the thread id as named. A run
that cannot start (its base run is gone, the database refused it) still ends with a row:
``failed``, with the reason, so a triggered run is never lost.

Liveness is the process's own heartbeat (``run_watch``): every third of the lease it
renews the claims of all the process's running runs in one statement, passes on a
cancel asked of the queue (no thread per run) and renews its row (``liveness``). A
process that dies mid-run stops renewing; when the lease runs out another worker claims
the run and resumes its thread from its last checkpoint (finished steps do not run again).

Idle workers wait for work: on PostgreSQL one connection per ``Workers`` listens for the
queue's notifications and wakes them at once (``wakeups["notify"]``), and they look at
the queue every ``poll`` seconds anyway (``wakeups["poll"]``: a claim whose lease ran out
sends no notification); on SQLite, or while that connection is down, every
``IDLE_WAIT`` seconds.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph_runner._db.listen import Listener
from langgraph_runner._rebuild.partial import Change, rebuild
from langgraph_runner._rebuild.rerun import follow_input
from langgraph_runner._records.egress import egress_text
from langgraph_runner._records.exceptions import ThreadBusyError
from langgraph_runner._runs import run_watch
from langgraph_runner._runs.lifecycle import run
from langgraph_runner._runs.run_store import RUN_ID_METADATA_KEY
from langgraph_runner._runs.run_store import TABLE as RUNS_TABLE
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.tenancy import scoped_thread_id, shown_thread_id
from langgraph_runner._service.claims import Claims
from langgraph_runner._service.drain import Handback, hand_back
from langgraph_runner._service.liveness import Liveness
from langgraph_runner._service.queue import CANCEL, OnBusy, QueuedRun, RunQueue
from langgraph_runner._service.rollback import ROLLBACK, roll_back
from langgraph_runner._traces.carrier import attach, detach, trace_id_of

__all__ = ["IDLE_WAIT", "LISTEN_RETRY", "POLL_WAIT", "Pending", "Workers"]

IDLE_WAIT = 0.25
"""Seconds an idle worker waits before it looks at the queue again, with no notifications
(SQLite; a trigger in this process wakes it at once)."""
POLL_WAIT = 5.0
"""Seconds an idle worker waits while notifications wake it (PostgreSQL): the fallback
that finds a claim whose lease ran out."""
LISTEN_RETRY = 5.0
"""Seconds before a broken listening connection is opened again (workers poll meanwhile)."""
_LISTEN_TICK = 1.0  # seconds between two looks at the stop flag while listening
_ENDED = ("completed", "failed", "cancelled", "interrupted")
_KEEP_RESULTS = 1024
_log = logging.getLogger("langgraph_runner.service")


@dataclass
class Pending:
    """A triggered run no worker has started yet."""

    run_id: str
    thread_id: str
    tenant: str | None
    workflow: str
    created_at: float
    cancelled: bool = False
    trace_id: str | None = None
    displaced: tuple[str, ...] = ()  # the thread's runs not ended it displaced (on_busy)


def _pending(item: QueuedRun, *, cancelled: bool = False) -> Pending:
    shown, at, gone = shown_thread_id(item.thread_id), item.created_at, item.displaced
    return Pending(
        item.run_id, shown, item.tenant, item.workflow, at, cancelled, item.trace_id, gone
    )


class Workers:
    """Worker threads on the run queue of one checkpointer (see the module docstring).

    Args:
        graphs: Workflow name -> compiled graph (with the checkpointer); the workers take
            only runs of these workflows.
        saver: The checkpointer every workflow runs with.
        workers: Worker threads this process starts (0: none, triggers only).
        queue: The queue's name (processes serving one queue share its runs).
        lease: Seconds a worker's claim on a run lasts without renewal.
        time_limit: Seconds each run may take (``run(time_limit=)``); None: no limit.
        poll: Seconds an idle worker waits for a notification before it looks at the
            queue anyway (PostgreSQL; ``IDLE_WAIT`` on SQLite).
    """

    def __init__(
        self,
        graphs: Mapping[str, Any],
        saver: Any,
        *,
        workers: int,
        queue: str = "default",
        lease: float = 30.0,
        time_limit: float | None = None,
        poll: float = POLL_WAIT,
    ) -> None:
        self._graphs = dict(graphs)
        self.poll = poll
        self.time_limit = time_limit
        self._saver = self.saver = saver
        self.threads = workers
        self.queue = RunQueue(saver, queue=queue, lease=lease)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._started: list[threading.Thread] = []
        self._guard = threading.Lock()
        self._done = threading.Condition()
        self._results: collections.OrderedDict[str, tuple[Any, BaseException | None]] = (
            collections.OrderedDict()
        )
        self._claims = Claims(self.queue, saver)
        self.handback = Handback()  # each running run's RunControl: a drain stops them
        self.liveness = Liveness(self.queue)  # this process's row in GET /workers
        self.listening = threading.Event()  # notifications wake the idle workers now
        self.listener: Listener | None = None  # the listening connection (PostgreSQL)
        self.wakeups: collections.Counter[str] = collections.Counter()  # notify, poll
        self._count = threading.Lock()
        # Called with a run's id once a worker of this process marked it done (webhooks),
        # and with the runs a rollback deletes, before their rows go (their webhooks go).
        self.on_complete: Callable[[str], None] | None = None
        self.on_rolled_back: Callable[[Sequence[str]], None] | None = None

    def start(self, threads: int | None = None) -> None:
        """Start the worker threads (once; ``threads`` defaults to ``workers``)."""
        with self._guard:
            if self._started or self._stop.is_set():
                return
            count = self.threads if threads is None else threads
            for i in range(count):
                t = threading.Thread(target=self._loop, name=f"lgr-worker-{i}", daemon=True)
                t.start()
                self._started.append(t)
            if count and self.queue.postgres:
                t = threading.Thread(target=self._listen, name="lgr-worker-listen", daemon=True)
                t.start()
                self._started.append(t)
            if count:
                self.liveness.start(count)

    def submit(
        self,
        workflow: str,
        tenant: str | None,
        inp: Any,
        thread_id: str | None,
        *,
        change: Change | None = None,
        base_thread: str | None = None,
        base_checkpoint: str | None = None,
        follow: Mapping[str, Any] | None = None,
        stored_thread: str | None = None,
        trace_context: Mapping[str, str] | None = None,
        run_id: str | None = None,
        on_busy: OnBusy | None = None,
    ) -> Pending:
        """Queue a run of ``workflow`` for ``tenant`` (with ``change``: a rebuild); at once.

        ``thread_id`` is the tenant's own (default: a new one, the run id); it is stored
        as ``scoped_thread_id(tenant, thread_id)``. A rebuild names its base run by the
        stored ``base_thread`` and that run's last checkpoint, ``base_checkpoint``. A run
        that continues an earlier one on its thread (``stored_thread``, as stored) says
        how in ``follow``: ``{"kind": "resume", "value": ...}`` answers its
        ``interrupt()``, ``{"kind": "retry"}`` re-runs its blocked nodes (a failure
        recorded in the state) or else runs on from its last checkpoint;
        ``{"kind": "rollback"}`` first rolls back the runs it displaced (``rollback``).
        ``trace_context`` (W3C ``traceparent``/``tracestate``) is kept with the run: the
        worker that executes it (or resumes it) continues that trace. ``run_id``: the
        run's id, if the caller named it first (default: a new one). ``on_busy``: what
        the queue does if the thread has runs not ended (``RunQueue.enqueue``).
        """
        run_id = run_id or str(uuid.uuid4())
        plain: dict[str, Any] | None = dict(follow) if follow is not None else None
        if change is not None:
            plain = {"inputs": dict(change.inputs), "versions": dict(change.versions)}
            if base_checkpoint is not None:
                plain["base_checkpoint_id"] = base_checkpoint
        item = self.queue.enqueue(
            run_id,
            workflow,
            tenant,
            stored_thread or scoped_thread_id(tenant, thread_id or run_id),
            inp,
            change=plain,
            base_thread=base_thread,
            trace_context=trace_context,
            on_busy=on_busy,
        )
        self.start()
        self._wake.set()
        return _pending(item)

    def pending(self, run_id: str, tenant: str | None) -> Pending | None:
        """The run if it is still waiting for a worker (and ``tenant``'s)."""
        item = self.queue.get(run_id)
        if item is None or item.tenant != tenant or item.status not in ("queued", "claimed"):
            return None
        return _pending(item)

    def pending_of(self, tenant: str | None, limit: int = 50) -> list[Pending]:
        """The tenant's runs waiting for a worker, newest first."""
        return [_pending(i) for i in self.queue.waiting(tenant, limit=limit)]

    def cancel_pending(self, run_id: str, tenant: str | None, why: str = "") -> Pending | None:
        """Stop a run that has not started (None if it started or is not ``tenant``'s)."""
        item = self.queue.cancel(run_id, tenant)
        if item is not None:
            self._record_cancelled(item, why)
            self._finished(run_id, None, None)
            return _pending(item, cancelled=True)
        item = self.queue.get(run_id)
        if item is None or item.tenant != tenant or item.status != "claimed":
            return None
        store = open_run_store(self._saver)
        try:
            started = store is not None and store.get(run_id) is not None
        finally:
            if store is not None:
                store.close()
        # Claimed, no row yet: its worker sees the flag before it starts the run.
        return None if started else _pending(item, cancelled=True)

    def wait(self, run_id: str, timeout: float | None = None) -> Any:
        """Block until the run is done: its ``RunResult`` (a ``RebuildResult`` for a
        rebuild) when a worker of this process ran it, else None.

        Raises:
            KeyError: No such run in the queue.
            TimeoutError: Still not done after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._done:
                self._done.wait_for(lambda: run_id in self._results, timeout=0.1)
                if run_id in self._results:
                    return self._result(run_id)
            item = self.queue.get(run_id)
            if item is None:
                raise KeyError(run_id)
            if item.status in ("done", "cancelled"):
                # A worker here records its result before it marks the run done, so a
                # result that arrived since the check above is here now; none: another
                # process ran it.
                with self._done:
                    return self._result(run_id) if run_id in self._results else None
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id!r} is not done after {timeout} s")

    def _result(self, run_id: str) -> Any:
        result, error = self._results[run_id]
        if error is not None:
            raise error
        return result

    def stop_taking(self) -> None:
        """Take no more runs (the running ones go on); ``GET /workers`` reads ``draining``."""
        self._stop.set()
        self._wake.set()
        if self.listening.is_set():
            with contextlib.suppress(Exception):  # else its wait times out
                self.queue.notify()
        self.liveness.draining()

    def threads_started(self) -> list[threading.Thread]:
        with self._guard:
            return list(self._started)

    def held(self) -> list[str]:
        return self._claims.held()  # the runs this process's workers hold now

    def close(self, timeout: float | None = None) -> None:
        """Stop taking runs, let the running ones finish (for ``timeout`` s at most)."""
        self.stop_taking()
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self.threads_started():
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self.liveness.stop()
        self.queue.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                item = self.queue.claim(list(self._graphs))
            except Exception:  # the database is down: try again later
                _log.exception("run queue: claim failed")
                item = None
            if item is None:
                if self._wake.wait(self.poll if self.listening.is_set() else IDLE_WAIT):
                    self._wake.clear()
                else:
                    self._counted("poll")
                continue
            try:
                self._execute(item)
            except Exception:  # the database went away at the end: the lease runs out
                _log.exception("run queue: run %s not marked done", item.run_id)

    def _listen(self) -> None:
        """Wake the idle workers when this queue is notified (PostgreSQL)."""
        while not self._stop.is_set():
            listener = self.listener = self.queue.listener()
            if listener is None:  # pragma: no cover - started on PostgreSQL only
                return
            try:
                listener.open()
                self.listening.set()
                self._wake.set()  # a run queued before the LISTEN: look once
                while not self._stop.is_set():
                    heard = listener.wait(_LISTEN_TICK)
                    if self.queue.queue in heard:  # a run was queued
                        self._counted("notify")
                        self._wake.set()
                    if CANCEL + self.queue.queue in heard:  # pass it on now, not in lease / 3
                        run_watch.beat_soon()
            except Exception as exc:  # the database went away: poll until it is back
                _log.warning("run queue: not listening (%s), polling", type(exc).__name__)
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):  # already broken
                    listener.close()
            self._stop.wait(LISTEN_RETRY)

    def _counted(self, wakeup: str) -> None:
        with self._count:
            self.wakeups[wakeup] += 1

    def _execute(self, item: QueuedRun) -> None:
        result: Any = None
        error: BaseException | None = None
        self._claims.add(item.run_id)  # renewed on this process's heartbeat from now on
        try:
            if item.cancel_requested:
                self._record_cancelled(item)
            elif not self._ended_before(item):
                result = self._run(item)
        except ThreadBusyError:  # another worker still runs it: its lease decides
            return
        except Exception as exc:
            _log.exception("run queue: run %s could not start", item.run_id)
            error = exc
            self._record_failed(item, exc)
        finally:
            self._claims.remove(item.run_id)
            handed = self.handback.done(item.run_id, result)
        if handed and hand_back(self.queue, self._saver, item.run_id):
            return  # stopped at a superstep boundary for a drain: the next worker resumes it
        self._finished(item.run_id, result, error)
        self.queue.complete(item.run_id)
        if self.on_complete is not None:  # must not block: it only wakes someone
            self.on_complete(item.run_id)

    def _run(self, item: QueuedRun) -> Any:
        # The run continues the trace it was triggered in (its records carry that trace id
        # even without OpenTelemetry), on every worker that executes or resumes it.
        token = attach(item.trace_context)
        try:
            return self._run_traced(item)
        finally:
            detach(token)

    def _run_traced(self, item: QueuedRun) -> Any:
        graph = self._graphs[item.workflow]
        config: Any = {"run_id": item.run_id, "configurable": {"thread_id": item.thread_id}}
        trace_id = trace_id_of(item.trace_context)
        if trace_id is not None:
            config["configurable"]["trace_id"] = trace_id
        resume = item.attempts > 1 and self._checkpointed(graph, item)
        kind = (item.change or {}).get("kind")
        if item.change is not None and kind is None and not resume:
            base: Any = {"configurable": {"thread_id": item.base_thread}}
            if item.change.get("base_checkpoint_id"):  # that run, not a later one
                base["configurable"]["checkpoint_id"] = item.change["base_checkpoint_id"]
            change = Change(
                inputs=item.change.get("inputs") or {}, versions=item.change.get("versions") or {}
            )
            return rebuild(
                graph,
                base,
                change,
                config,
                tenant=item.tenant,
                raise_on_error=False,
                time_limit=self.time_limit,
            )
        inp = None if resume else item.input
        if kind == ROLLBACK and not resume:  # the runs it displaced go, it starts before them
            fork = roll_back(self._saver, item, self.on_rolled_back)
            if fork is not None:
                config["configurable"]["checkpoint_id"] = fork
        elif kind is not None and not resume:  # it continues an earlier run of its thread
            inp = follow_input(graph, config, item.change or {})
        return run(
            graph,
            inp,
            config,
            tenant=item.tenant,
            raise_on_error=False,
            time_limit=self.time_limit,
            lock_wait=self.queue.lease,
            durability="sync",  # each step saved before the next starts
            control=self.handback.control(item.run_id),  # a drain stops it between steps
        )

    @staticmethod
    def _checkpointed(graph: Any, item: QueuedRun) -> bool:
        """Whether this run already wrote its thread's latest checkpoint (resume it)."""
        found = graph.checkpointer.get_tuple({"configurable": {"thread_id": item.thread_id}})
        metadata = getattr(found, "metadata", None) or {}
        return bool(metadata.get(RUN_ID_METADATA_KEY) == item.run_id)

    def _ended_before(self, item: QueuedRun) -> bool:
        """Whether a run claimed again already ended (its worker stopped right after).

        If not, the row its stopped worker left (``running``, ``abandoned``, or
        ``pending``: handed back by a draining worker) goes, so
        the run starts again under its own id and resumes its thread.
        """
        if item.attempts <= 1:
            return False
        store = open_run_store(self._saver)
        if store is None:  # pragma: no cover - a saver always has a store
            return False
        try:
            row = store.get(item.run_id)
            if row is not None and row.status in _ENDED:
                return True
            store.sql.run(
                f"DELETE FROM {RUNS_TABLE} WHERE run_id = ?"
                " AND status IN ('running', 'abandoned', 'pending')",
                (item.run_id,),
            )
            return False
        finally:
            store.close()

    def _finished(self, run_id: str, result: Any, error: BaseException | None) -> None:
        with self._done:
            self._results[run_id] = (result, error)
            while len(self._results) > _KEEP_RESULTS:
                self._results.popitem(last=False)
            self._done.notify_all()

    def _record_failed(self, item: QueuedRun, exc: Exception) -> None:
        """A run that raised before it wrote its row ends ``failed`` with the reason."""
        why = egress_text(f"{type(exc).__name__}: {exc}", max_length=300)
        try:
            store = open_run_store(self._saver)
            if store is None:  # pragma: no cover - a saver always has a store
                return
            try:
                if store.get(item.run_id) is None:
                    graph = self._graphs.get(item.workflow)
                    nodes = [
                        str(n) for n in getattr(graph, "nodes", ()) if not str(n).startswith("__")
                    ]
                    store.start(item.run_id, item.thread_id, item.tenant, item.workflow, nodes)
                    store.finish(item.run_id, "failed", f"the run could not start: {why}")
            finally:
                store.close()
        except Exception:  # the database is down: the run's queue row still says done
            _log.exception("run queue: run %s could not be recorded failed", item.run_id)

    def _record_cancelled(self, item: QueuedRun, why: str = "") -> None:
        store = open_run_store(self._saver)
        if store is None:  # pragma: no cover - a saver always has a store
            return
        reason = why or "cancelled before it started"
        graph = self._graphs.get(item.workflow)
        if not why and item.attempts > 1 and graph is not None and self._checkpointed(graph, item):
            reason = "cancelled before it resumed"  # a worker that stopped ran some steps
        try:
            store.start(item.run_id, item.thread_id, item.tenant, item.workflow)
            store.finish(item.run_id, "cancelled", reason)
        finally:
            store.close()
