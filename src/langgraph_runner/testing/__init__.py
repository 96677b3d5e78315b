"""Helpers for testing code that uses langgraph_runner (yours and ours).

* ``no_wait()``: every retry wait is zero, so retry tests run instantly without
  monkeypatching ``time.sleep``; the computed delays are still reported to
  ``on_retry_attempt`` and collected in the list the block yields.
* ``fail_times(n, exc)``: a node function that fails its first ``n`` calls.
* ``hang(seconds)``: a node function that takes ``seconds`` (a slow upstream),
  and stops at once when its attempt's abort signal fires (a timeout or the
  run's abort) unless told to ignore it.
* ``sweep(graph, input)`` (``asweep``): fail each call point of a run in turn (every
  node execution, chat model call and tool call) and report what the run did;
  ``assert sweep(make_graph, inputs).all_recorded()``. ``call_points`` and
  ``fail_point`` give one test per point.

The node functions count their calls and how many are still running, so a test
can assert that nothing is left behind::

    slow = hang(5.0)
    node = create_node(slow, timeout=0.05)
    ...
    assert slow.wait_idle(1.0)     # the abandoned attempt honoured its abort signal

Modules::

    _points  a run's call points, seen through callbacks, and the probe that fails one
    _sweep   sweep, call_points, fail_point: fail every call point in turn
    _report  what a sweep reports: PointResult and SweepReport
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from langgraph_runner._engine.waits import no_wait_scope as _no_wait_scope
from langgraph_runner._policies.circuit import reset_circuit_breakers
from langgraph_runner._policies.context import get_node_context as _get_node_context
from langgraph_runner._policies.timeouts import abandoned_thread_count, wait_for_abandoned_threads
from langgraph_runner.testing._points import Point
from langgraph_runner.testing._sweep import (
    PointResult,
    SweepError,
    SweepReport,
    acall_points,
    afail_point,
    asweep,
    call_points,
    fail_point,
    sweep,
)

__all__ = [
    "FlakyNode",
    "Point",
    "PointResult",
    "SweepError",
    "SweepReport",
    "abandoned_thread_count",
    "acall_points",
    "afail_point",
    "asweep",
    "call_points",
    "fail_point",
    "fail_times",
    "hang",
    "no_wait",
    "reset_circuit_breakers",
    "sweep",
    "wait_for_abandoned_threads",
]


@contextmanager
def no_wait() -> Iterator[list[float]]:
    """Inside this block, every retry wait of every wrapped node is zero.

    Process-wide (it reaches worker threads too) and re-entrant.

    Yields:
        A list that collects every delay that was skipped, in seconds, so a
        backoff schedule can be asserted without sleeping.
    """
    with _no_wait_scope() as skipped:
        yield skipped


_Result = dict[str, Any] | Callable[[Any], Any] | None


class FlakyNode:
    """A test node function with call accounting (see ``fail_times`` and ``hang``).

    Attributes:
        calls: How many times it was called.
        completed: Calls that returned normally.
        aborted: Calls that stopped because their abort signal fired.
        running: Calls in progress right now (e.g. in an abandoned worker thread).
    """

    def __init__(self, name: str) -> None:
        self.__name__ = self.__qualname__ = name
        self.calls = self.completed = self.aborted = self.running = 0
        self._cond = threading.Condition()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.__name__!r} calls={self.calls} "
            f"running={self.running} completed={self.completed} aborted={self.aborted}>"
        )

    def _enter(self) -> int:
        with self._cond:
            self.calls += 1
            self.running += 1
            return self.calls

    def _leave(self, outcome: str | None) -> None:
        with self._cond:
            self.running -= 1
            if outcome == "completed":
                self.completed += 1
            elif outcome == "aborted":
                self.aborted += 1
            self._cond.notify_all()

    def __call__(self, state: Any) -> Any:
        """Run the node once (an async one returns a coroutine): each kind defines it."""
        raise NotImplementedError

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no call is running (abandoned threads included).

        Returns:
            Whether none is running.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self.running == 0, timeout)


class _Call:
    """One call of a ``FlakyNode``, counted while its ``with`` block runs; the block sets
    ``outcome`` (``"completed"``, ``"aborted"``) as it gets there."""

    __slots__ = ("node", "number", "outcome")

    def __init__(self, node: FlakyNode) -> None:
        self.node = node
        self.number = 0
        self.outcome: str | None = None

    def __enter__(self) -> _Call:
        self.number = self.node._enter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.node._leave(self.outcome)


def _result(result: _Result, state: Any) -> Any:
    return result(state) if callable(result) else result


def _make_exc(exc: BaseException | type[BaseException], call: int) -> BaseException:
    if isinstance(exc, type):
        return exc(f"simulated failure (call {call})")
    return exc


class _FailTimes(FlakyNode):
    def __init__(
        self, n: int, exc: BaseException | type[BaseException], result: _Result, name: str
    ):
        super().__init__(name)
        self.n, self.exc, self.result = n, exc, result

    def __call__(self, state: Any) -> Any:
        with _Call(self) as call:
            if call.number <= self.n:
                raise _make_exc(self.exc, call.number)
            call.outcome = "completed"
            return _result(self.result, state)


class _AsyncFailTimes(_FailTimes):
    async def __call__(self, state: Any) -> Any:
        await asyncio.sleep(0)
        return super().__call__(state)


def fail_times(
    n: int,
    exc: BaseException | type[BaseException] = ConnectionError,
    *,
    result: _Result = None,
    is_async: bool = False,
    name: str = "flaky",
) -> FlakyNode:
    """A node function that raises ``exc`` on its first ``n`` calls, then succeeds.

    Args:
        n: How many calls fail (0: none; a large number: all).
        exc: An exception instance (raised as it is) or class (instantiated with
            a message naming the call number).
        result: What a successful call returns: a dict, a function of the state,
            or None (an empty update).
        is_async: Build an ``async def`` node instead of a sync one.
        name: The function's ``__name__`` (the node name in ``add_node``).

    Returns:
        The node function, with call accounting.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"fail_times: n must be an int >= 0, got {n!r}")
    cls = _AsyncFailTimes if is_async else _FailTimes
    return cls(n, exc, result, name)


class _Hang(FlakyNode):
    def __init__(self, seconds: float, result: _Result, honour_abort: bool, name: str):
        super().__init__(name)
        self.seconds, self.result, self.honour_abort = seconds, result, honour_abort

    def _signal(self) -> Any:
        """The attempt's abort signal, if the call honours it."""
        ctx = _get_node_context()
        return ctx.abort_signal if ctx is not None and self.honour_abort else None

    def __call__(self, state: Any) -> Any:
        with _Call(self) as call:
            signal = self._signal()
            if signal is None:
                time.sleep(self.seconds)
            elif signal.wait_sync(self.seconds):
                call.outcome = "aborted"
                signal.throw_if_aborted()
            call.outcome = "completed"
            return _result(self.result, state)


class _AsyncHang(_Hang):
    async def __call__(self, state: Any) -> Any:
        with _Call(self) as call:
            try:
                signal = self._signal()
                if signal is None:
                    await asyncio.sleep(self.seconds)
                else:
                    try:
                        await asyncio.wait_for(signal.wait(), self.seconds)
                    except asyncio.TimeoutError:
                        pass
                    else:
                        call.outcome = "aborted"
                        signal.throw_if_aborted()
                call.outcome = "completed"
                return _result(self.result, state)
            except asyncio.CancelledError:
                call.outcome = "aborted" if self.honour_abort else None
                raise


def hang(
    seconds: float,
    *,
    result: _Result = None,
    honour_abort: bool = True,
    is_async: bool = False,
    name: str = "slow",
) -> FlakyNode:
    """A node function that takes ``seconds`` to return ``result``.

    With ``honour_abort`` (the default) it watches its attempt's abort signal
    (``get_node_context().abort_signal``: fired by a timeout or the run's abort)
    and raises ``NodeAbortedError`` as soon as it fires, like well-behaved
    blocking code. With ``honour_abort=False`` it ignores the signal, like code
    that cannot be interrupted: a timed-out attempt keeps its thread busy until
    ``seconds`` pass (its late result is discarded).

    Args:
        seconds: How long a call takes.
        result: What the call returns: a dict, a function of the state, or None.
        honour_abort: Stop as soon as the attempt's abort signal fires.
        is_async: Build an ``async def`` node instead of a sync one.
        name: The function's ``__name__``.

    Returns:
        The node function, with call accounting (``wait_idle`` waits for
        abandoned calls to end).
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError(f"hang: seconds must be a number >= 0, got {seconds!r}")
    cls = _AsyncHang if is_async else _Hang
    return cls(float(seconds), result, honour_abort, name)
