"""The worker-thread pool behind sync attempts: reuse, abandonment and the idle bound."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from langgraph_runner._policies import threads as workers
from langgraph_runner._policies.abort import AbortController
from langgraph_runner._policies.threads import (
    abandoned_thread_count,
    running_abandoned_thread_count,
    wait_for_abandoned_threads,
)
from langgraph_runner._policies.timeouts import run_sync_attempt
from langgraph_runner._records.exceptions import NodeTimeoutError

# The time limit of a call a test needs to have started (it counts it running, or holds its
# worker): a call abandoned while it still waits for its worker thread never runs, and on a
# starved machine a new thread can take longer than 0.02 s to pick its call up.
STARTS = 0.3


@pytest.fixture(autouse=True)
def _no_thread_left_behind() -> Iterator[None]:
    yield
    assert wait_for_abandoned_threads(5)


def call_sync(func: Callable[[], Any], **kw: Any) -> Any:
    kw.setdefault("timeout", 5.0)
    kw.setdefault("controller", None)
    return run_sync_attempt(func, node="n", attempt=1, **kw)


def test_abandoned_job_is_counted_until_it_finishes() -> None:
    """An abandoned job counts as running until its function returns, and in the total."""
    release = threading.Event()
    before = abandoned_thread_count()
    with pytest.raises(NodeTimeoutError):
        call_sync(lambda: release.wait(5), timeout=STARTS)
    assert abandoned_thread_count() == before + 1
    assert running_abandoned_thread_count() == 1
    assert not wait_for_abandoned_threads(0.01)
    release.set()
    assert wait_for_abandoned_threads(5)
    assert running_abandoned_thread_count() == 0


def test_abandoned_worker_rejoins_pool() -> None:
    """A worker whose abandoned function finished serves later calls again."""
    release = threading.Event()
    thread: list[threading.Thread] = []

    def stuck() -> None:
        thread.append(threading.current_thread())
        release.wait(5)

    with pytest.raises(NodeTimeoutError):
        call_sync(stuck, timeout=STARTS)
    release.set()
    assert wait_for_abandoned_threads(5)
    deadline = time.monotonic() + 10  # it checks itself in right after finishing
    while thread[0] not in workers._pool.idle and time.monotonic() < deadline:
        time.sleep(0.01)
    assert thread[0] in workers._pool.idle


def test_idle_workers_are_bounded() -> None:
    """After a burst wider than the idle limit, at most that many workers stay idle."""
    width = workers._MAX_IDLE_WORKERS + 8
    barrier = threading.Barrier(width)
    callers = [
        threading.Thread(target=call_sync, args=(lambda: barrier.wait(5),)) for _ in range(width)
    ]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    time.sleep(0.05)  # let the workers check in
    assert 0 < workers._pool.idle_count() <= workers._MAX_IDLE_WORKERS


def test_a_hung_upstream_holds_at_most_max_busy_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """20 callers time out on a hung upstream with room for 4 busy workers: 4 threads are
    made, 4 calls ran; the other 16 waited in the queue, timed out there and never ran."""
    pool = workers._Pool(max_busy=4)
    monkeypatch.setattr(workers, "_pool", pool)
    release = threading.Event()
    ran: list[int] = []

    def hung() -> None:
        ran.append(1)
        release.wait(10)

    def caller() -> None:
        with pytest.raises(NodeTimeoutError):
            call_sync(hung, timeout=STARTS)

    callers = [threading.Thread(target=caller) for _ in range(20)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(10)
    assert pool.created == 4
    assert pool.busy_count() == 4
    assert len(ran) == 4
    release.set()
    assert wait_for_abandoned_threads(5)  # the queued, abandoned calls were dropped
    assert call_sync(lambda: 7) == 7  # and the pool serves again
    assert len(ran) == 4
    assert pool.created == 4


def test_a_call_without_a_time_limit_never_waits_in_the_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With every worker busy, a call that has no time limit (only a run signal) gets a
    thread of its own: nothing would end its wait in the queue."""
    pool = workers._Pool(max_busy=1)
    monkeypatch.setattr(workers, "_pool", pool)
    release = threading.Event()
    with pytest.raises(NodeTimeoutError):
        call_sync(lambda: release.wait(10), timeout=STARTS)  # the one worker is stuck
    controller = AbortController()
    assert call_sync(lambda: 7, timeout=None, run_signal=controller.signal) == 7
    assert pool.created == 2
    release.set()
