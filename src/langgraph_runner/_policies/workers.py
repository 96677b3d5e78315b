"""Reusable daemon worker threads that run sync node attempts and can be abandoned.

Sync code cannot be killed. An attempt runs in a worker thread that carries a
copy of the caller's context variables (so ``langgraph.config.get_config()`` and
``get_node_context()`` work inside). When its caller gives up on it (a timeout,
an abort, a cancellation) the job is *abandoned*: its late result or exception
is discarded, a ``node.abandoned`` warning is logged and it is counted. An
abandoned worker rejoins the pool when its function finishes; it never blocks
later calls. The pool is unbounded on purpose (abandoned workers keep running,
and a bounded pool would let them starve later attempts); at most
``_MAX_IDLE_WORKERS`` idle workers are kept, and an idle one exits after
``_IDLE_EXIT_SECONDS``.
"""

from __future__ import annotations

import contextvars
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from langgraph_runner._records.logs import get_event_logger

__all__ = [
    "Job",
    "abandoned_thread_count",
    "running_abandoned_thread_count",
    "submit",
    "wait_for_abandoned_threads",
]

_MAX_IDLE_WORKERS = 32
_IDLE_EXIT_SECONDS = 300.0


class _Job:
    """One call handed to a worker; ``mutex`` decides between done and abandoned."""

    __slots__ = ("abandoned", "ctx", "done", "error", "func", "mutex", "notify", "result")

    def __init__(self, func: Callable[[], Any], notify: Callable[[], object]) -> None:
        self.func: Callable[[], Any] | None = func
        self.ctx = contextvars.copy_context()
        self.notify = notify
        self.mutex = threading.Lock()
        self.done = self.abandoned = False
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> Callable[[], object] | None:
        """Run the call; returns the waiter's notify function, None if abandoned."""
        func, self.func = self.func, None
        try:
            self.result = self.ctx.run(func)  # type: ignore[arg-type]
        except BaseException as exc:  # transported to the caller and re-raised there
            self.error = exc
        with self.mutex:
            self.done = True
            abandoned = self.abandoned
        if abandoned:
            self.result = self.error = None  # discarded: never raised, never logged
            _stats.finished_abandoned()
            return None
        return self.notify

    def abandon(self, node: str, attempt: int, why: str) -> bool:
        """Abandon unless already done; returns whether it was abandoned."""
        with self.mutex:
            if self.done:
                return False
            self.abandoned = True
        _stats.started_abandoned()
        get_event_logger().emit(
            logging.WARNING, "node.abandoned", node=node, attempt=attempt, why=why
        )
        return True

    def outcome(self) -> Any:
        error, self.error = self.error, None
        if error is None:
            return self.result
        try:
            raise error
        finally:
            del error  # break the frame <-> traceback cycle


class _Stats:
    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.total = self.running = 0

    def started_abandoned(self) -> None:
        with self.cond:
            self.total += 1
            self.running += 1

    def finished_abandoned(self) -> None:
        with self.cond:
            self.running -= 1
            self.cond.notify_all()


class _Worker(threading.Thread):
    def __init__(self, pool: _Pool, number: int) -> None:
        super().__init__(name=f"langgraph_runner-worker-{number}", daemon=True)
        self.pool = pool
        self.inbox: queue.SimpleQueue[_Job] = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            try:
                job = self.inbox.get(timeout=_IDLE_EXIT_SECONDS)
            except queue.Empty:
                if self.pool.retire(self):
                    return
                continue  # taken off the idle list just now: a job is on its way
            notify = job.run()
            del job
            # Back in the pool before waking the caller, so its next call reuses us.
            keep = self.pool.checkin(self)
            if notify is not None:
                notify()
                del notify
            if not keep:
                return


class _Pool:
    """Daemon workers created on demand; at most ``_MAX_IDLE_WORKERS`` kept idle.

    Unbounded on purpose: abandoned workers keep running, and a bounded pool
    would let them starve later attempts.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.created = 0

    def submit(self, job: _Job) -> None:
        with self.lock:
            worker = self.idle.pop() if self.idle else None
            if worker is None:
                self.created += 1
                number = self.created
        if worker is None:
            worker = _Worker(self, number)
            worker.start()
        worker.inbox.put(job)

    def checkin(self, worker: _Worker) -> bool:
        with self.lock:
            if len(self.idle) >= _MAX_IDLE_WORKERS:
                return False
            self.idle.append(worker)
            return True

    def retire(self, worker: _Worker) -> bool:
        with self.lock:
            if worker in self.idle:
                self.idle.remove(worker)
                return True
            return False

    def idle_count(self) -> int:
        with self.lock:
            return len(self.idle)


_pool = _Pool()
_stats = _Stats()


def _after_fork_in_child() -> None:
    global _pool, _stats  # the parent's workers do not exist in a forked child
    _pool, _stats = _Pool(), _Stats()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def abandoned_thread_count() -> int:
    """How many worker threads were abandoned (timeout, abort, cancellation) so far."""
    return _stats.total


def running_abandoned_thread_count() -> int:
    """How many abandoned worker threads are still running their function."""
    return _stats.running


def wait_for_abandoned_threads(timeout: float | None = None) -> bool:
    """Block until no abandoned worker thread is still running (for tests).

    Args:
        timeout: Seconds to wait at most; None waits indefinitely.

    Returns:
        Whether none is left running.
    """
    stats = _stats
    with stats.cond:
        return stats.cond.wait_for(lambda: stats.running == 0, timeout)


def submit(job: _Job) -> None:
    """Hand ``job`` to an idle worker, or a new one."""
    _pool.submit(job)


Job = _Job
