"""In-process workers: a triggered run is queued at once and executed by ``run()``.

``Workers`` hands each trigger to a thread pool. Until a worker's ``run()`` writes the
run's row in the runs table, the run is ``pending`` here (with its steps pending); a
cancel before that stops it from starting at all (it is then recorded ``cancelled``).
This is the embedded default of one process; a killed process leaves a started run's
checkpoints and row behind, so the run reads ``abandoned`` and can be resumed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from langgraph_runner._runs.lifecycle import run
from langgraph_runner._runs.rebuild import Change, rebuild
from langgraph_runner._runs.run_store import open_run_store

__all__ = ["Pending", "Workers"]


@dataclass
class Pending:
    """A triggered run no worker has started yet."""

    run_id: str
    thread_id: str
    tenant: str
    workflow: str
    created_at: float
    cancelled: bool = False
    started: bool = False  # a worker took it: its run() writes the row
    change: Change | None = None  # a rebuild of the run on ``base_thread``
    base_thread: str | None = None


class Workers:
    """A pool of worker threads running triggered runs (see the module docstring)."""

    def __init__(self, graphs: Mapping[str, Any], saver: Any, *, workers: int) -> None:
        self._graphs = graphs
        self._saver = saver
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lgr-service")
        self._lock = threading.Lock()
        self._pending: dict[str, Pending] = {}
        self._futures: dict[str, Future[Any]] = {}

    def submit(
        self,
        workflow: str,
        tenant: str,
        inp: Any,
        thread_id: str | None,
        *,
        change: Change | None = None,
        base_thread: str | None = None,
    ) -> Pending:
        """Queue a run of ``workflow`` for ``tenant`` (with ``change``: a rebuild); at once."""
        run_id = str(uuid.uuid4())
        item = Pending(run_id, thread_id or run_id, tenant, workflow, time.time())
        item.change, item.base_thread = change, base_thread
        with self._lock:
            self._pending[run_id] = item
        self._futures[run_id] = self._pool.submit(self._work, item, inp)
        return item

    def pending(self, run_id: str, tenant: str) -> Pending | None:
        """The run if it is still waiting for a worker (and ``tenant``'s)."""
        with self._lock:
            item = self._pending.get(run_id)
        return item if item is not None and item.tenant == tenant else None

    def pending_of(self, tenant: str) -> list[Pending]:
        """The tenant's runs waiting for a worker, newest first."""
        with self._lock:
            items = [p for p in self._pending.values() if p.tenant == tenant and not p.started]
        return sorted(items, key=lambda p: p.created_at, reverse=True)

    def cancel_pending(self, run_id: str, tenant: str) -> Pending | None:
        """Stop a run that has not started (None if it started or is not ``tenant``'s)."""
        with self._lock:
            item = self._pending.get(run_id)
            if item is None or item.tenant != tenant or item.started:
                return None
            item.cancelled = True
            return item

    def wait(self, run_id: str, timeout: float | None = None) -> Any:
        """Block until the run's worker is done with it: its ``RunResult`` (a
        ``RebuildResult`` for a rebuild), None if it never started."""
        return self._futures[run_id].result(timeout)

    def close(self) -> None:
        """Finish the queued runs and stop the workers."""
        self._pool.shutdown(wait=True)

    def _work(self, item: Pending, inp: Any) -> Any:
        graph = self._graphs[item.workflow]
        config: Any = {"run_id": item.run_id, "configurable": {"thread_id": item.thread_id}}
        with self._lock:
            cancelled = item.cancelled
            item.started = not cancelled
        if cancelled:
            self._record_cancelled(item)
            return None
        try:
            if item.change is not None:
                base: Any = {"configurable": {"thread_id": item.base_thread}}
                return rebuild(
                    graph, base, item.change, config, tenant=item.tenant, raise_on_error=False
                )
            return run(graph, inp, config, tenant=item.tenant, raise_on_error=False)
        finally:
            with self._lock:
                self._pending.pop(item.run_id, None)

    def _record_cancelled(self, item: Pending) -> None:
        store = open_run_store(self._saver)
        try:
            if store is not None:
                store.start(item.run_id, item.thread_id, item.tenant, item.workflow)
                store.finish(item.run_id, "cancelled", "cancelled before it started")
        finally:
            if store is not None:
                store.close()
            with self._lock:
                self._pending.pop(item.run_id, None)
