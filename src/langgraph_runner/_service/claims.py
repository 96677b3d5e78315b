"""This process's claims on the run queue, renewed on the process's one heartbeat.

``Claims`` is a keeper of ``run_watch``: each beat renews every claim the process holds
in one statement and passes on the cancels asked of the queue (once each). A claim that
renewal finds taken by another worker is renewed no more. No thread per running run.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from langgraph_runner._records.exceptions import ThreadNotFoundError
from langgraph_runner._runs import run_watch
from langgraph_runner._runs.control import cancel_run
from langgraph_runner._service.queue import RunQueue

__all__ = ["Claims"]


class Claims:
    """This process's claims on one queue, kept on the process's heartbeat (``run_watch``)."""

    def __init__(self, queue: RunQueue, saver: Any) -> None:
        self._queue = queue
        self._saver = saver
        self._guard = threading.Lock()
        self._held: set[str] = set()
        self._passed: set[str] = set()  # cancels passed on to the runs' rows

    @property
    def every(self) -> float:
        """A third of the lease: two beats may fail before a claim runs out."""
        return self._queue.lease / 3

    def add(self, run_id: str) -> None:
        with self._guard:
            self._held.add(run_id)
            run_watch.keep(self)

    def remove(self, run_id: str) -> None:
        with self._guard:
            self._held.discard(run_id)
            self._passed.discard(run_id)
            if not self._held:
                run_watch.unkeep(self)

    def held(self) -> list[str]:
        """The run ids renewed on each beat."""
        with self._guard:
            return sorted(self._held)

    def beat(self) -> None:
        run_ids = self.held()
        if not run_ids:
            return
        asked = self._queue.renew_all(run_ids)
        with self._guard:
            self._held.difference_update(r for r in run_ids if r not in asked)
            cancel = [r for r, flag in asked.items() if flag and r not in self._passed]
        for run_id in cancel:
            with contextlib.suppress(ThreadNotFoundError):  # no row yet: next beat
                cancel_run(self._saver, run_id, "cancelled over HTTP")
                with self._guard:
                    self._passed.add(run_id)
