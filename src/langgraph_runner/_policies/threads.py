"""Reusable daemon worker threads that run sync node attempts and can be abandoned.

Sync code cannot be killed. An attempt runs in a worker thread that carries a
copy of the caller's context variables (so ``langgraph.config.get_config()`` and
``get_node_context()`` work inside). When its caller gives up on it (a timeout,
an abort, a cancellation) the job is *abandoned*: its late result or exception
is discarded, a ``node.abandoned`` warning is logged and it is counted. An
abandoned worker rejoins the pool when its function finishes.

At most ``MAX_BUSY_WORKERS`` workers run calls at once (abandoned ones included),
so a hung upstream cannot take a thread per caller (1,000 timed-out calls held
1,001 threads). Past the bound a call waits in a queue for the next free worker,
and that wait counts against its own timeout: while every worker is stuck on a
hung upstream, later attempts time out without having run (a queued call that is
abandoned never runs). A call without a time limit never queues (nothing would end
its wait, and a nested call could wait forever for its parent's worker): it gets a
thread past the bound. At most ``_MAX_IDLE_WORKERS`` idle workers are kept, and
an idle one exits after ``_IDLE_EXIT_SECONDS``.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from langgraph_runner._records.logs import get_event_logger

__all__ = [
    "MAX_BUSY_WORKERS",
    "Job",
    "abandoned_thread_count",
    "busy_thread_count",
    "running_abandoned_thread_count",
    "submit",
    "wait_for_abandoned_threads",
]

_MAX_IDLE_WORKERS = 32
_IDLE_EXIT_SECONDS = 300.0
MAX_BUSY_WORKERS = 256
"""Most worker threads running calls at once; later calls queue for a free one."""


T = TypeVar("T")


class _Job(Generic[T]):
    """One call handed to a worker; ``mutex`` decides between done and abandoned."""

    __slots__ = ("abandoned", "ctx", "done", "error", "func", "mutex", "notify", "result")

    result: T

    def __init__(self, func: Callable[[], T], notify: Callable[[], object]) -> None:
        self.func: Callable[[], T] | None = func
        self.ctx = contextvars.copy_context()
        self.notify = notify
        self.mutex = threading.Lock()
        self.done = self.abandoned = False
        self.error: BaseException | None = None

    def run(self) -> Callable[[], object] | None:
        """Run the call; returns the waiter's notify function, None if abandoned (a call
        abandoned while it waited in the queue never runs)."""
        func, self.func = self.func, None
        with self.mutex:
            never_ran = self.abandoned
        if never_ran or func is None:
            _stats.finished_abandoned()
            return None
        try:
            self.result = self.ctx.run(func)
        except BaseException as exc:  # transported to the caller and re-raised there
            self.error = exc
        with self.mutex:
            self.done = True
            abandoned = self.abandoned
        if abandoned:
            self.error = None  # discarded: never raised, never logged
            with contextlib.suppress(AttributeError):
                del self.result
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

    def outcome(self) -> T:
        error, self.error = self.error, None
        if error is None:
            return self.result  # set by run() before it marks the job done
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
        self.inbox: queue.SimpleQueue[_Job[Any]] = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            try:
                job: _Job[Any] | None = self.inbox.get(timeout=_IDLE_EXIT_SECONDS)
            except queue.Empty:
                if self.pool.retire(self):
                    return
                continue  # taken off the idle list just now: a job is on its way
            while job is not None:
                notify = job.run()
                # The next queued job, or back in the pool, before waking the caller (so
                # its next call reuses us).
                job, keep = self.pool.checkin(self)
                if notify is not None:
                    notify()
                    del notify
                if job is None and not keep:
                    return


class _Pool:
    """Daemon workers created on demand, at most ``max_busy`` running calls at once (later
    calls queue); at most ``_MAX_IDLE_WORKERS`` kept idle."""

    def __init__(self, max_busy: int = MAX_BUSY_WORKERS) -> None:
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.created = 0
        self.busy = 0
        self.max_busy = max_busy
        self.waiting: collections.deque[_Job[Any]] = collections.deque()

    def submit(self, job: _Job[Any], may_wait: bool = True) -> None:
        with self.lock:
            worker = self.idle.pop() if self.idle else None
            if worker is None:
                if may_wait and self.busy >= self.max_busy:
                    self.waiting.append(job)  # the next worker to finish takes it
                    return
                self.created += 1
                number = self.created
            self.busy += 1
        if worker is None:
            worker = _Worker(self, number)
            worker.start()
        worker.inbox.put(job)

    def checkin(self, worker: _Worker) -> tuple[_Job[Any] | None, bool]:
        """A worker finished a call: the next queued call for it, else whether it stays
        (idle) or exits."""
        with self.lock:
            if self.waiting:
                return self.waiting.popleft(), True
            self.busy -= 1
            if len(self.idle) >= _MAX_IDLE_WORKERS:
                return None, False
            self.idle.append(worker)
            return None, True

    def busy_count(self) -> int:
        with self.lock:
            return self.busy

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


def busy_thread_count() -> int:
    """How many worker threads are running a call now (abandoned ones included)."""
    return _pool.busy_count()


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


def submit(job: _Job[Any], may_wait: bool = True) -> None:
    """Hand ``job`` to an idle worker, or a new one; past ``MAX_BUSY_WORKERS`` busy ones,
    queue it for the next free worker (``may_wait``: its caller's time limit ends the
    wait) or give it a new one anyway (no time limit)."""
    _pool.submit(job, may_wait)


Job = _Job
