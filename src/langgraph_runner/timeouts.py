"""Running one node attempt under a timeout and an abort signal.

* ``run_sync_attempt``: a sync function from sync code (sync node, ``invoke``).
* ``arun_sync_attempt``: a sync function from async code (sync node, ``ainvoke``).
* ``arun_async_attempt``: a coroutine, in the current task (async node).

Sync code cannot be killed. With a timeout or a run signal it runs in a reusable
daemon worker thread that carries a copy of the caller's context variables (so
``langgraph.config.get_config()`` and ``get_node_context()`` work inside). When the
timeout fires the attempt's controller is aborted, so cooperative code can stop,
and the thread is *abandoned*: its late result or exception is discarded, a
``node.abandoned`` warning is logged, and the caller gets ``NodeTimeoutError`` at
once. An abandoned worker rejoins the pool when it finishes; it never blocks
later calls. With neither a timeout nor a run signal, ``run_sync_attempt`` and
``arun_async_attempt`` just call the function.

Only the run signal is watched while waiting; the controller is the attempt's
own, which these functions abort (with the ``NodeTimeoutError`` or
``NodeAbortedError`` as reason, or ``"cancelled"``). Exceptions raised by the
attempt (``BaseException`` and LangGraph control flow such as ``GraphInterrupt``
included) propagate unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from langgraph_runner import workers as _workers
from langgraph_runner.abort import AbortController, AbortSignal
from langgraph_runner.errors import NodeAbortedError, NodeTimeoutError
from langgraph_runner.workers import (
    abandoned_thread_count,
    running_abandoned_thread_count,
    wait_for_abandoned_threads,
)

__all__ = [
    "abandoned_thread_count",
    "aborted_error",
    "arun_async_attempt",
    "arun_sync_attempt",
    "run_sync_attempt",
    "running_abandoned_thread_count",
    "wait_for_abandoned_threads",
]

T = TypeVar("T")

_HAS_UNCANCEL = sys.version_info >= (3, 11)  # Task.cancelling()/uncancel(); tests flip it


def aborted_error(signal: AbortSignal, node: str, attempt: int) -> NodeAbortedError:
    """The ``NodeAbortedError`` for ``signal``'s abort, caused by its reason if an exception."""
    reason = signal.reason
    err = NodeAbortedError(node, reason, attempt=attempt)
    if isinstance(reason, BaseException):
        err.__cause__ = reason
    return err


def _abort(controller: AbortController | None, reason: Any) -> None:
    if controller is not None:
        controller.abort(reason)


def _check_run_signal(
    run_signal: AbortSignal | None, controller: AbortController | None, node: str, attempt: int
) -> None:
    if run_signal is not None and run_signal.aborted:
        err = aborted_error(run_signal, node, attempt)
        _abort(controller, err)
        raise err


def _finish(
    job: _workers.Job,
    why: str,
    *,
    node: str,
    attempt: int,
    timeout: float | None,
    start: float,
    controller: AbortController | None,
    run_signal: AbortSignal | None,
) -> Any:
    """The attempt's outcome once the wait ended because of ``why``."""
    if why != "done":
        err: NodeTimeoutError | NodeAbortedError
        if why == "timeout":
            elapsed = time.monotonic() - start
            err = NodeTimeoutError(node, timeout=timeout or 0.0, elapsed=elapsed, attempt=attempt)
        else:
            err = aborted_error(run_signal, node, attempt)  # type: ignore[arg-type]
        abandoned = job.abandon(node, attempt, why)
        if abandoned or why == "abort":
            # An abort wins even if the function just finished: cooperative code
            # typically returns early *because* of it.
            _abort(controller, err)
            raise err
        # The function finished right at the timeout: its outcome wins.
    return job.outcome()


def run_sync_attempt(
    func: Callable[[], T],
    *,
    node: str,
    attempt: int,
    timeout: float | None,
    controller: AbortController | None,
    run_signal: AbortSignal | None = None,
) -> T:
    """Run ``func()`` from sync code, bounded by ``timeout`` and ``run_signal``.

    Args:
        func: The attempt, taking no arguments.
        node: The node's name, for errors and logs.
        attempt: The 1-based attempt number.
        timeout: Seconds; None for no limit.
        controller: The attempt's controller, aborted on a timeout or an abort.
        run_signal: The run's abort signal, watched while waiting.

    Returns:
        What ``func`` returned.

    Raises:
        NodeTimeoutError: ``timeout`` seconds passed; the thread was abandoned.
        NodeAbortedError: ``run_signal`` fired; the thread was abandoned.
        BaseException: Whatever ``func`` raised, unchanged.
    """
    if timeout is None and run_signal is None:
        return func()
    _check_run_signal(run_signal, controller, node, attempt)
    wake = threading.Lock()
    wake.acquire()

    def notify() -> None:
        with contextlib.suppress(RuntimeError):  # already released by the other waker
            wake.release()

    job = _workers.Job(func, notify)
    unsubscribe = run_signal.add_listener(lambda _r: notify()) if run_signal else None
    start = time.monotonic()
    try:
        _workers.submit(job)
        finished = wake.acquire(timeout=-1 if timeout is None else timeout)
    except BaseException:  # KeyboardInterrupt while waiting: let the thread go
        _abort(controller, "interrupted")
        job.abandon(node, attempt, "interrupted")
        raise
    finally:
        if unsubscribe is not None:
            unsubscribe()
    why = (
        "timeout"
        if not finished
        else "abort"
        if run_signal is not None and run_signal.aborted
        else "done"
    )
    return _finish(  # type: ignore[no-any-return]
        job,
        why,
        node=node,
        attempt=attempt,
        timeout=timeout,
        start=start,
        controller=controller,
        run_signal=run_signal,
    )


def _threadsafe(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *a: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
        loop.call_soon_threadsafe(callback, *a)


def _settle(waiter: asyncio.Future[str], why: str) -> None:
    if not waiter.done():
        waiter.set_result(why)


async def arun_sync_attempt(
    func: Callable[[], T],
    *,
    node: str,
    attempt: int,
    timeout: float | None,
    controller: AbortController | None,
    run_signal: AbortSignal | None = None,
) -> T:
    """Run the sync ``func()`` in a worker thread and await it, from async code.

    Same parameters and errors as ``run_sync_attempt``. Unlike LangGraph's
    executor thread, the wait can be cancelled: if the awaiting task is cancelled,
    the controller is aborted (reason ``"cancelled"``), the thread abandoned and
    ``asyncio.CancelledError`` re-raised at once.
    """
    _check_run_signal(run_signal, controller, node, attempt)
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[str] = loop.create_future()
    job = _workers.Job(func, lambda: _threadsafe(loop, _settle, waiter, "done"))
    timer = None if timeout is None else loop.call_later(timeout, _settle, waiter, "timeout")
    unsubscribe = (
        run_signal.add_listener(lambda _r: _threadsafe(loop, _settle, waiter, "abort"))
        if run_signal
        else None
    )
    start = time.monotonic()
    try:
        _workers.submit(job)
        why = await waiter
    except asyncio.CancelledError:
        _abort(controller, "cancelled")
        job.abandon(node, attempt, "cancelled")
        raise
    finally:
        if timer is not None:
            timer.cancel()
        if unsubscribe is not None:
            unsubscribe()
    return _finish(  # type: ignore[no-any-return]
        job,
        why,
        node=node,
        attempt=attempt,
        timeout=timeout,
        start=start,
        controller=controller,
        run_signal=run_signal,
    )


async def arun_async_attempt(
    coro_factory: Callable[[], Awaitable[T]],
    *,
    node: str,
    attempt: int,
    timeout: float | None,
    controller: AbortController | None,
    run_signal: AbortSignal | None = None,
) -> T:
    """Await ``coro_factory()`` in the current task, bounded by ``timeout`` and ``run_signal``.

    At the timeout the controller is aborted first (so cooperative code sees it),
    then the awaitable is cancelled and ``NodeTimeoutError`` raised; when the run
    signal fires it is cancelled and ``NodeAbortedError`` raised. A cancellation
    of the task from outside propagates as ``CancelledError``, untouched, even
    when it races with the timeout (``asyncio.timeout`` semantics).

    Args:
        coro_factory: Creates the attempt's awaitable.
        node: The node's name, for errors.
        attempt: The 1-based attempt number.
        timeout: Seconds; None for no limit.
        controller: The attempt's controller.
        run_signal: The run's abort signal.

    Returns:
        What the awaitable returned.

    Raises:
        NodeTimeoutError: ``timeout`` seconds passed.
        NodeAbortedError: ``run_signal`` fired.
        BaseException: Whatever the awaitable raised, unchanged.
    """
    if timeout is None and run_signal is None:
        return await coro_factory()
    _check_run_signal(run_signal, controller, node, attempt)
    if not _HAS_UNCANCEL:
        return await _arun_in_child_task(
            coro_factory, node, attempt, timeout, controller, run_signal
        )
    loop = asyncio.get_running_loop()
    # Typed Any: Task.cancelling()/uncancel() exist from 3.11 (checked above).
    task: Any = asyncio.current_task()
    assert task is not None, "arun_async_attempt must run inside a task"
    start = loop.time()
    fired: list[NodeTimeoutError | NodeAbortedError] = []  # what we cancelled the task for
    finished = False

    def expire(why: str) -> None:
        if finished or fired:
            return
        if why == "timeout":
            elapsed = loop.time() - start
            error: Any = NodeTimeoutError(
                node, timeout=timeout or 0.0, elapsed=elapsed, attempt=attempt
            )
        else:
            error = aborted_error(run_signal, node, attempt)  # type: ignore[arg-type]
        fired.append(error)
        _abort(controller, error)
        task.cancel()

    cancelling = task.cancelling()
    timer = None if timeout is None else loop.call_later(timeout, expire, "timeout")
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
        if timer is not None:
            timer.cancel()
        if unsubscribe is not None:
            unsubscribe()
        if fired and not balanced:
            task.uncancel()  # the awaitable swallowed our cancellation


async def _arun_in_child_task(
    coro_factory: Callable[[], Awaitable[T]],
    node: str,
    attempt: int,
    timeout: float | None,
    controller: AbortController | None,
    run_signal: AbortSignal | None,
) -> T:
    """Python 3.10 has no ``Task.uncancel()``: one task cannot tell our cancellation
    from an external one. So run the attempt in a child task (like
    ``asyncio.wait_for``); our own task is then only ever cancelled from outside.
    """
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    waiter: asyncio.Future[str] = loop.create_future()
    inner: asyncio.Future[T] = asyncio.ensure_future(coro_factory())
    inner.add_done_callback(lambda _f: _settle(waiter, "done"))
    timer = None if timeout is None else loop.call_later(timeout, _settle, waiter, "timeout")
    unsubscribe = (
        run_signal.add_listener(lambda _r: _threadsafe(loop, _settle, waiter, "abort"))
        if run_signal
        else None
    )
    try:
        why = await waiter
        if not inner.done():
            error: Any = (
                NodeTimeoutError(
                    node, timeout=timeout or 0.0, elapsed=time.monotonic() - start, attempt=attempt
                )
                if why == "timeout"
                else aborted_error(run_signal, node, attempt)  # type: ignore[arg-type]
            )
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
        if timer is not None:
            timer.cancel()
        if unsubscribe is not None:
            unsubscribe()


def _consume(fut: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned child task's outcome so asyncio does not log it."""
    if not fut.cancelled():
        fut.exception()
