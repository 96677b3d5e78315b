"""Running one node attempt under a timeout and an abort signal.

* ``run_sync_attempt``: a sync function from sync code (sync node, ``invoke``).
* ``arun_sync_attempt``: a sync function from async code (sync node, ``ainvoke``).
* ``arun_async_attempt``: a coroutine, in the current task (async node).

Each takes its ``Bounds`` (node, attempt, timeout, controller, run signal, progress)
as keyword arguments; ``run_sync``, ``arun_sync`` and ``arun_async`` take them as one
dict, as a guarded attempt of the engine passes them.

Sync code cannot be killed. With a timeout or a run signal it runs in a reusable
daemon worker thread that carries a copy of the caller's context variables (so
``langgraph.config.get_config()`` and ``get_node_context()`` work inside). When the
timeout fires the attempt's controller is aborted, so cooperative code can stop,
and the thread is *abandoned*: its late result or exception is discarded, a
``node.abandoned`` warning is logged, and the caller gets ``NodeTimeoutError`` at
once. An abandoned worker rejoins the pool when it finishes; it never blocks
later calls. With neither a timeout nor a run signal, ``run_sync_attempt`` and
``arun_async_attempt`` just call the function.

An attempt may also have an idle limit and a mute gate (``progress.Progress``).
The controller is the attempt's own, aborted with the ``NodeTimeoutError`` or
``NodeAbortedError`` as reason (or ``"cancelled"``). Whatever the attempt raises
(``GraphInterrupt`` and other ``BaseException`` included) propagates unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict, TypeVar

from typing_extensions import Required, Unpack

from langgraph_runner._policies import threads as _workers
from langgraph_runner._policies.abort import AbortController, AbortSignal
from langgraph_runner._policies.progress import ExpiryTimer, Progress, expiry, timeout_error
from langgraph_runner._policies.threads import (
    abandoned_thread_count,
    running_abandoned_thread_count,
    wait_for_abandoned_threads,
)
from langgraph_runner._records.exceptions import NodeAbortedError, NodeTimeoutError

__all__ = [
    "Bounds",
    "abandoned_thread_count",
    "aborted_error",
    "arun_async",
    "arun_async_attempt",
    "arun_sync",
    "arun_sync_attempt",
    "run_sync",
    "run_sync_attempt",
    "running_abandoned_thread_count",
    "wait_for_abandoned_threads",
]

T = TypeVar("T")


class Bounds(TypedDict, total=False):
    """What bounds one attempt: the keyword arguments of the three runners.

    Attributes:
        node: The node's name, for errors and logs.
        attempt: The 1-based attempt number.
        timeout: Seconds; None for no limit.
        controller: The attempt's controller, aborted on a timeout or an abort.
        run_signal: The run's abort signal, watched while waiting (default None).
        progress: The attempt's progress: its idle limit, and the gate closed at the
            timeout (default None).
    """

    node: Required[str]
    attempt: Required[int]
    timeout: Required[float | None]
    controller: Required[AbortController | None]
    run_signal: AbortSignal | None
    progress: Progress | None


_HAS_UNCANCEL = sys.version_info >= (3, 11)  # Task.cancelling()/uncancel(); tests flip it


def aborted_error(signal: AbortSignal | None, node: str, attempt: int) -> NodeAbortedError:
    """The ``NodeAbortedError`` for ``signal``'s abort, caused by its reason if an exception."""
    reason = signal.reason if signal is not None else None
    err = NodeAbortedError(node, reason, attempt=attempt)
    if isinstance(reason, BaseException):
        err.__cause__ = reason
    return err


def _abort(controller: AbortController | None, reason: Any) -> None:
    if controller is not None:
        controller.abort(reason)


def _limits(bounds: Bounds) -> tuple[float | None, AbortSignal | None, Progress | None]:
    """``bounds``' time limit, run signal and progress (the last two None when not given)."""
    return bounds["timeout"], bounds.get("run_signal"), bounds.get("progress")


def _check_run_signal(bounds: Bounds) -> None:
    run_signal = bounds.get("run_signal")
    if run_signal is not None and run_signal.aborted:
        err = aborted_error(run_signal, bounds["node"], bounds["attempt"])
        _abort(bounds["controller"], err)
        raise err


def _finish(job: _workers.Job[T], why: str, start: float, bounds: Bounds) -> T:
    """The outcome once the wait ended: ``why`` is done, abort, or run/idle (a limit)."""
    if why != "done":
        node, attempt, controller = bounds["node"], bounds["attempt"], bounds["controller"]
        timeout, run_signal, progress = _limits(bounds)
        err: NodeTimeoutError | NodeAbortedError
        if why == "abort":
            err = aborted_error(run_signal, node, attempt)
        else:
            err = timeout_error(node, attempt, why, start, timeout, progress)
        abandoned = job.abandon(node, attempt, "timeout" if why != "abort" else why)
        if abandoned or why == "abort":
            if progress is not None:
                progress.open = False  # what the abandoned thread still does is muted
            # An abort wins even if the function just finished: cooperative code
            # typically returns early *because* of it.
            _abort(controller, err)
            raise err
        # The function finished right at the timeout: its outcome wins.
    return job.outcome()


def run_sync(func: Callable[[], T], bounds: Bounds) -> T:
    """``run_sync_attempt`` with its bounds in one dict (a guarded attempt's, not copied)."""
    timeout, run_signal, progress = _limits(bounds)
    if timeout is None and run_signal is None and progress is None:
        return func()
    _check_run_signal(bounds)
    wake = threading.Lock()
    wake.acquire()

    def notify() -> None:
        with contextlib.suppress(RuntimeError):  # already released by the other waker
            wake.release()

    job = _workers.Job(func, notify)
    unsubscribe = run_signal.add_listener(lambda _r: notify()) if run_signal else None
    start = time.monotonic()
    kind = "run"
    try:
        _workers.submit(job, may_wait=timeout is not None or progress is not None)
        while True:
            due, kind = expiry(start, timeout, progress)
            if due is None:
                finished = wake.acquire()
                break
            finished = wake.acquire(timeout=max(0.0, due - time.monotonic()))
            if finished or expiry(start, timeout, progress)[0] == due:
                break  # done, or expired with no beat meanwhile
    except BaseException:  # KeyboardInterrupt while waiting: let the thread go
        _abort(bounds["controller"], "interrupted")
        job.abandon(bounds["node"], bounds["attempt"], "interrupted")
        raise
    finally:
        if unsubscribe is not None:
            unsubscribe()
    why = (
        kind
        if not finished
        else "abort"
        if run_signal is not None and run_signal.aborted
        else "done"
    )
    return _finish(job, why, start, bounds)


def run_sync_attempt(func: Callable[[], T], **bounds: Unpack[Bounds]) -> T:
    """Run ``func()`` from sync code, bounded by ``timeout`` and ``run_signal``.

    Args:
        func: The attempt, taking no arguments.
        **bounds: ``node``, ``attempt``, ``timeout``, ``controller``, and optionally
            ``run_signal`` and ``progress`` (see ``Bounds``).

    Returns:
        What ``func`` returned.

    Raises:
        NodeTimeoutError: ``timeout`` seconds passed, or ``progress.idle`` seconds
            without a beat; the thread was abandoned.
        NodeAbortedError: ``run_signal`` fired; the thread was abandoned.
        BaseException: Whatever ``func`` raised, unchanged.
    """
    return run_sync(func, bounds)


def _threadsafe(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *a: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
        loop.call_soon_threadsafe(callback, *a)


def _settle(waiter: asyncio.Future[str], why: str) -> None:
    if not waiter.done():
        waiter.set_result(why)


async def arun_sync(func: Callable[[], T], bounds: Bounds) -> T:
    """``arun_sync_attempt`` with its bounds in one dict (a guarded attempt's, not copied)."""
    _check_run_signal(bounds)
    timeout, run_signal, progress = _limits(bounds)
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[str] = loop.create_future()
    job = _workers.Job(func, lambda: _threadsafe(loop, _settle, waiter, "done"))
    unsubscribe = (
        run_signal.add_listener(lambda _r: _threadsafe(loop, _settle, waiter, "abort"))
        if run_signal
        else None
    )
    start = time.monotonic()
    timer = ExpiryTimer(loop, start, timeout, progress, lambda kind: _settle(waiter, kind))
    try:
        _workers.submit(job, may_wait=timeout is not None or progress is not None)
        why = await waiter
    except asyncio.CancelledError:
        _abort(bounds["controller"], "cancelled")
        job.abandon(bounds["node"], bounds["attempt"], "cancelled")
        raise
    finally:
        timer.cancel()
        if unsubscribe is not None:
            unsubscribe()
    return _finish(job, why, start, bounds)


def arun_sync_attempt(func: Callable[[], T], **bounds: Unpack[Bounds]) -> Awaitable[T]:
    """Run the sync ``func()`` in a worker thread and await it, from async code.

    Same parameters and errors as ``run_sync_attempt``. Unlike LangGraph's executor
    thread, the wait can be cancelled: the controller is then aborted (reason
    ``"cancelled"``), the thread abandoned and ``CancelledError`` re-raised at once.
    """
    return arun_sync(func, bounds)  # its coroutine, awaited by the caller: no layer between


async def arun_async(coro_factory: Callable[[], Awaitable[T]], bounds: Bounds) -> T:
    """``arun_async_attempt`` with its bounds in one dict (a guarded attempt's, not copied)."""
    timeout, run_signal, progress = _limits(bounds)
    if timeout is None and run_signal is None and (progress is None or progress.idle is None):
        return await coro_factory()
    _check_run_signal(bounds)
    if not _HAS_UNCANCEL:
        return await _arun_in_child_task(coro_factory, bounds)
    node, attempt, controller = bounds["node"], bounds["attempt"], bounds["controller"]
    loop = asyncio.get_running_loop()
    # Typed Any: Task.cancelling()/uncancel() exist from 3.11 (checked above).
    task: Any = asyncio.current_task()
    assert task is not None, "arun_async_attempt must run inside a task"
    start = time.monotonic()
    fired: list[NodeTimeoutError | NodeAbortedError] = []  # what we cancelled the task for
    finished = False

    def expire(why: str) -> None:
        if finished or fired:
            return
        error: Any
        if why == "abort":
            error = aborted_error(run_signal, node, attempt)
        else:
            error = timeout_error(node, attempt, why, start, timeout, progress)
            if progress is not None:
                progress.open = False
        fired.append(error)
        _abort(controller, error)
        task.cancel()

    cancelling = task.cancelling()
    timer = ExpiryTimer(loop, start, timeout, progress, expire)
    unsubscribe = (
        run_signal.add_listener(lambda _r: _threadsafe(loop, expire, "abort"))
        if run_signal
        else None
    )
    balanced = False
    try:
        return await coro_factory()
    except asyncio.CancelledError:
        if fired:
            # As asyncio.timeout(): uncancel() takes our request back; convert only
            # if nobody else asked for a cancellation meanwhile.
            balanced = True
            if task.uncancel() <= cancelling:
                raise fired[0] from None
        raise
    finally:
        finished = True
        timer.cancel()
        if unsubscribe is not None:
            unsubscribe()
        if fired and not balanced:
            task.uncancel()  # the awaitable swallowed our cancellation


def arun_async_attempt(
    coro_factory: Callable[[], Awaitable[T]], **bounds: Unpack[Bounds]
) -> Awaitable[T]:
    """Await ``coro_factory()`` in the current task, bounded by ``timeout`` and ``run_signal``.

    At the timeout the controller is aborted first (so cooperative code sees it),
    then the awaitable is cancelled and ``NodeTimeoutError`` raised; when the run
    signal fires it is cancelled and ``NodeAbortedError`` raised. A cancellation
    of the task from outside propagates as ``CancelledError``, untouched, even
    when it races with the timeout (``asyncio.timeout`` semantics).

    Args:
        coro_factory: Creates the attempt's awaitable.
        **bounds: ``node``, ``attempt``, ``timeout``, ``controller``, and optionally
            ``run_signal`` and ``progress`` (its idle limit; see ``Bounds``).

    Returns:
        What the awaitable returned.

    Raises:
        NodeTimeoutError: ``timeout`` seconds passed.
        NodeAbortedError: ``run_signal`` fired.
        BaseException: Whatever the awaitable raised, unchanged.
    """
    return arun_async(coro_factory, bounds)  # its coroutine, awaited by the caller


async def _arun_in_child_task(coro_factory: Callable[[], Awaitable[T]], bounds: Bounds) -> T:
    """Python 3.10 has no ``Task.uncancel()``: one task cannot tell our cancellation
    from an external one. So run the attempt in a child task (like
    ``asyncio.wait_for``); our own task is then only ever cancelled from outside.
    """
    node, attempt, controller = bounds["node"], bounds["attempt"], bounds["controller"]
    timeout, run_signal, progress = _limits(bounds)
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    waiter: asyncio.Future[str] = loop.create_future()
    inner: asyncio.Future[T] = asyncio.ensure_future(coro_factory())
    inner.add_done_callback(lambda _f: _settle(waiter, "done"))
    timer = ExpiryTimer(loop, start, timeout, progress, lambda kind: _settle(waiter, kind))
    unsubscribe = (
        run_signal.add_listener(lambda _r: _threadsafe(loop, _settle, waiter, "abort"))
        if run_signal
        else None
    )
    try:
        why = await waiter
        if not inner.done():
            error: Any = (
                aborted_error(run_signal, node, attempt)
                if why == "abort"
                else timeout_error(node, attempt, why, start, timeout, progress)
            )
            if progress is not None and why != "abort":
                progress.open = False
            _abort(controller, error)
            inner.cancel()
            await asyncio.wait({inner})  # let the attempt clean up, as on 3.11+
            if inner.cancelled():
                raise error
        return inner.result()
    except asyncio.CancelledError:
        if not inner.done():  # cancelled from outside
            inner.cancel()
            inner.add_done_callback(_consume)
        raise
    finally:
        timer.cancel()
        if unsubscribe is not None:
            unsubscribe()


def _consume(fut: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned child task's outcome so asyncio does not log it."""
    if not fut.cancelled():
        fut.exception()
