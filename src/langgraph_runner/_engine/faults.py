"""Planned faults: the testing kit's sweep fails a wrapped node's attempt from inside.

A node built by ``create_node`` catches what its function raises; a failure injected
around it (a callback) would escape it and say nothing of what the node does with a
failure of its own code. So each attempt asks the plan the sweep set for this context
(``testing.sweep``; nobody else sets one) whether to run a fault in place of ``fn``:

* an exception: ``fn`` is replaced by a function raising it;
* a hang: ``fn`` is replaced by one that waits for its attempt's abort signal, and the
  attempt's time limit is shortened to the plan's, so the node's own timeout machinery
  (worker thread, abort signal, ``NodeTimeoutError``, retries, record) runs for real
  without waiting the configured limit.

Without a plan an attempt pays one list read (``PLANS``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from langgraph_runner._policies.context import get_node_context
from langgraph_runner._records.exceptions import HangNotStopped

__all__ = ["PLANS", "Fault", "FaultPlan", "HangNotStopped", "fault_plan", "planned_fault"]


@dataclasses.dataclass(frozen=True, slots=True)
class Fault:
    """What one attempt runs instead of its function.

    Attributes:
        error: The exception to raise, or None for a hang.
        limit: A hang's time limit for the attempt, in seconds.
        guard: How long a hang waits for its abort signal before it gives up with
            ``HangNotStopped`` (the node's timeout did not stop it).
    """

    error: BaseException | None = None
    limit: float | None = None
    guard: float = 10.0

    def fn(self, is_async: bool) -> Callable[..., Any]:
        """The replacement function, sync or async like the node's."""
        error, guard = self.error, self.guard

        def run(*args: Any, **kwargs: Any) -> Any:
            if error is not None:
                raise error
            ctx = get_node_context()
            if ctx is not None and ctx.abort_signal.wait_sync(guard):
                ctx.abort_signal.throw_if_aborted()
            raise HangNotStopped(f"nothing stopped a planned hang within {guard} s")

        async def arun(*args: Any, **kwargs: Any) -> Any:
            if error is not None:
                raise error
            ctx = get_node_context()
            if ctx is not None:
                try:
                    await asyncio.wait_for(ctx.abort_signal.wait(), guard)
                except asyncio.TimeoutError:
                    pass
                else:
                    ctx.abort_signal.throw_if_aborted()
            raise HangNotStopped(f"nothing stopped a planned hang within {guard} s")

        return arun if is_async else run

    def shorten(self, limit: float | None) -> float | None:
        """The attempt's time limit under this fault."""
        if self.limit is None or limit is None:
            return limit
        return min(limit, self.limit)


FaultPlan = Callable[[int, "float | None", Any], "Fault | None"]
"""``plan(node_key, timeout, config)``: the fault for this attempt of the node whose
spec has identity ``node_key`` and time limit ``timeout``, or None."""

_PLAN: ContextVar[FaultPlan | None] = ContextVar("langgraph_runner_fault_plan", default=None)
PLANS = [0]
"""How many plans are set anywhere in the process: while 0, the loop's inlined first
attempt skips asking (a list read instead of a context-variable read per call)."""
_LOCK = threading.Lock()


@contextmanager
def fault_plan(plan: FaultPlan) -> Iterator[None]:
    """Attempts started in this context (and the tasks and threads it spawns) ask ``plan``."""
    token = _PLAN.set(plan)
    with _LOCK:
        PLANS[0] += 1
    try:
        yield
    finally:
        with _LOCK:
            PLANS[0] -= 1
        _PLAN.reset(token)


def planned_fault(key: int, timeout: float | None, config: Any) -> Fault | None:
    """The fault planned for this attempt, if a plan is set and has one."""
    if not PLANS[0]:
        return None
    plan = _PLAN.get()
    if plan is None:
        return None
    return plan(key, timeout, config)
