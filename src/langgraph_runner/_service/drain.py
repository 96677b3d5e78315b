"""Drain: a worker process stops taking runs, finishes or hands back the ones it holds, exits.

``drain(workers, grace=, handback=)`` (``langgraph-runner worker`` on SIGTERM):

1. the process reads ``draining`` in ``GET /workers`` and its threads take no more runs;
2. the runs under way get ``grace`` seconds to end as they would;
3. the ones still running are asked to stop at their next superstep boundary (LangGraph's
   ``RunControl.request_drain``: the step under way finishes and is checkpointed, no
   node is aborted). Each is then handed back: its queue row is ``queued`` again (the
   next claim, by any worker, resumes its thread from that checkpoint, so finished
   steps do not run again) and its row reads ``pending`` with the reason ``HANDED_BACK``;
4. a step that does not end within ``handback`` seconds more (a node stuck in sync code
   cannot be stopped from outside) is given up: its run is handed back all the same, and
   the caller exits. The run then waits for the thread's lock (the dead process's
   connections let go of it) and resumes with that step run again.

Every wait is bounded, so a drain ends within ``grace + handback`` seconds plus one
database round trip per run held. A partial rebuild (``POST /runs/{id}/update``) runs
through ``rebuild()``, which takes no ``RunControl``: it ends within the grace, or is
handed back at step 4.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Protocol

from langgraph.runtime import RunControl

from langgraph_runner._runs.run_store import TABLE as RUNS_TABLE
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._service.queue import RunQueue

__all__ = ["DRAIN_REASON", "HANDED_BACK", "Drainable", "Handback", "drain", "hand_back"]

DRAIN_REASON = "its worker is draining"
"""The drain reason a run handed back stops with (``RunControl.request_drain``)."""
HANDED_BACK = "handed back by a draining worker: the next worker resumes it from its checkpoint"
"""A handed-back run's reason while it waits for a worker (its status ``pending``)."""
_log = logging.getLogger("langgraph_runner.service")


class Handback:
    """The ``RunControl`` of each run this process's workers execute, so that a drain can
    stop them at a superstep boundary."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._controls: dict[str, RunControl] = {}
        self._asked: set[str] = set()

    def control(self, run_id: str) -> RunControl:
        """A new control for a run about to start (passed as ``run(control=)``)."""
        with self._guard:
            found = self._controls[run_id] = RunControl()
            if run_id in self._asked:  # a drain began while it was claimed
                found.request_drain(DRAIN_REASON)
            return found

    def ask_all(self, run_ids: list[str]) -> None:
        """Ask these runs to stop at their next superstep boundary."""
        with self._guard:
            self._asked.update(run_ids)
            for run_id in run_ids:
                control = self._controls.get(run_id)
                if control is not None:
                    control.request_drain(DRAIN_REASON)

    def done(self, run_id: str, result: Any) -> bool:
        """The run's ``run()`` returned: whether it stopped for a drain (hand it back)."""
        with self._guard:
            self._controls.pop(run_id, None)
            asked = run_id in self._asked
        status = getattr(getattr(result, "status", None), "value", None)
        reason = str(getattr(result, "reason", None) or "")  # "Graph drained: <reason>"
        return asked and status == "cancelled" and reason.endswith(DRAIN_REASON)


class Drainable(Protocol):
    """What ``drain`` needs of a process's workers (``workers.Workers``)."""

    queue: RunQueue
    saver: Any
    handback: Handback

    def stop_taking(self) -> None: ...

    def threads_started(self) -> list[threading.Thread]: ...

    def held(self) -> list[str]: ...


def hand_back(queue: RunQueue, saver: Any, run_id: str) -> bool:
    """Put a claimed run back in the queue, its row ``pending`` (``HANDED_BACK``)."""
    store = open_run_store(saver)
    if store is not None:
        try:
            store.sql.run(
                f"UPDATE {RUNS_TABLE} SET status = 'pending', reason = ?, updated_at = ?"
                " WHERE run_id = ? AND status IN ('running', 'cancelled')",
                (HANDED_BACK, time.time(), run_id),
            )
        finally:
            store.close()
    released = queue.release(run_id)
    _log.warning("run queue: run %s handed back (%s)", run_id, released)
    return released


def drain(workers: Drainable, *, grace: float, handback: float) -> list[str]:
    """Stop taking runs, let the running ones end or hand them back (see the module docstring).

    Args:
        workers: The process's workers.
        grace: Seconds the runs under way may take to end before they are handed back.
        handback: Seconds more for their step under way to end.

    Returns:
        The runs handed back without stopping (their step still under way): the caller
        should exit the process.
    """
    workers.stop_taking()
    deadline = time.monotonic() + grace
    threads = workers.threads_started()
    _join(threads, deadline)
    held = workers.held()
    if held:
        workers.handback.ask_all(held)
        _join(threads, time.monotonic() + handback)
    stuck = workers.held()
    for run_id in stuck:
        with contextlib.suppress(Exception):  # the database is down: the lease runs out
            hand_back(workers.queue, workers.saver, run_id)
    return stuck


def _join(threads: list[threading.Thread], deadline: float) -> None:
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
