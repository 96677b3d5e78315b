"""The multitask policy: what ``POST /runs`` does with a run posted on a busy thread.

A thread is busy while one of its runs is pending or running (its queue row ``queued`` or
``claimed``). Thread ids are each tenant's own, so only the caller's runs can make its
thread busy. The strategies are LangGraph Server's:

- ``reject``: 409, ``field`` ``thread_id``; nothing is queued.
- ``enqueue``: the run is queued and starts once the runs queued before it on its thread
  ended: the queue never hands two runs of one thread to workers at once (``queue``).
- ``interrupt``: the busy runs are cancelled (a running one stops at its next superstep
  boundary, a queued one never starts), each with the reason ``interrupted by run <id>``;
  the new run is queued behind them and starts once they ended, from the thread's last
  checkpoint (the interrupted run's progress is kept).
- ``rollback``: as ``interrupt`` (the reason ``rolled back by run <id>``), and then,
  before the new run starts, the busy runs are deleted and the thread goes back to its
  state before them (``rollback``): the new run starts from there.

The default is ``enqueue`` (``create_app(multitask_strategy=)``): a second run on a
thread was always accepted and run after the first, so no client that worked before
is now refused, and a run answered 202 is never dropped. LangGraph Server's default is
``reject``; pass ``multitask_strategy="reject"`` for the same behaviour.

Under ``reject``, ``interrupt`` and ``rollback`` the look at the thread and the queueing
are one decision (``RunQueue.enqueue(on_busy=)``): of posts on one idle thread at the same
instant under ``reject``, exactly one is queued; the busy runs an ``interrupt`` or a
``rollback`` cancels are exactly those queued before it. ``enqueue`` looks at nothing.
Runs on Temporal (``create_app(executor=)``) take every strategy but ``rollback``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langgraph_runner._records.exceptions import RequestRefused as _Failure
from langgraph_runner._records.exceptions import ThreadInUse, ThreadNotFoundError
from langgraph_runner._runs.control import cancel_run
from langgraph_runner._service.guards import shown
from langgraph_runner._service.queue import OnBusy
from langgraph_runner._service.rollback import ROLLBACK
from langgraph_runner._service.schemas import MultitaskStrategy
from langgraph_runner._service.workers import Pending, Workers

__all__ = ["DEFAULT_STRATEGY", "MultitaskStrategy", "check_strategy", "submit_run"]


DEFAULT_STRATEGY = MultitaskStrategy.ENQUEUE
"""The service's default (see the module docstring for why)."""
_ON_BUSY: dict[MultitaskStrategy, OnBusy] = {
    MultitaskStrategy.REJECT: "refuse",
    MultitaskStrategy.INTERRUPT: "displace",
    MultitaskStrategy.ROLLBACK: "displace",
}
_NO_ROLLBACK = "'rollback' is not offered for runs on Temporal (reject, enqueue, interrupt are)"


def check_strategy(value: Any, *, temporal: bool = False) -> MultitaskStrategy:
    """``create_app(multitask_strategy=)``, checked (``temporal``: runs on Temporal).

    Raises:
        ValueError: Not one of ``reject``, ``enqueue``, ``interrupt``, ``rollback``, or
            ``rollback`` for runs on Temporal.
    """
    try:
        strategy = MultitaskStrategy(value)
    except ValueError:
        allowed = ", ".join(repr(s.value) for s in MultitaskStrategy)
        raise ValueError(
            f"create_app: multitask_strategy must be one of {allowed}, got {value!r}"
        ) from None
    if strategy is MultitaskStrategy.ROLLBACK and temporal:
        raise ValueError(f"create_app: multitask_strategy {_NO_ROLLBACK}")
    return strategy


def submit_run(
    pool: Workers,
    saver: Any,
    strategy: MultitaskStrategy,
    *,
    workflow: str,
    tenant: str,
    inp: Any,
    thread_id: str | None,
    trace_context: Mapping[str, str] | None,
    new_run_id: Callable[[], str] | None = None,
    refused: Callable[[str], None] | None = None,
) -> Pending:
    """Queue a run under ``strategy`` (see the module docstring); ``new_run_id`` names it
    first (the service subscribes its webhook there), else the queue does; ``refused`` is
    told the id of a run refused after that.

    Raises:
        RequestRefused: 409 under ``reject`` when the thread is busy; 422 for
            ``rollback`` on Temporal.
    """
    if strategy is MultitaskStrategy.ROLLBACK and not isinstance(pool, Workers):  # Temporal
        raise _Failure(422, f"multitask_strategy: {_NO_ROLLBACK}", "multitask_strategy")
    run_id = None if new_run_id is None else new_run_id()
    try:
        item = pool.submit(
            workflow,
            tenant,
            inp,
            thread_id,
            follow={"kind": ROLLBACK} if strategy is MultitaskStrategy.ROLLBACK else None,
            trace_context=trace_context,
            run_id=run_id,
            on_busy=None if thread_id is None else _ON_BUSY.get(strategy),
        )
    except ThreadInUse as busy:
        if run_id is not None and refused is not None:
            refused(run_id)
        held = ""  # the run that holds the thread, if it was still there when looked up
        if busy.run_id is not None:
            held = f": run {busy.run_id} is {'pending' if busy.status == 'queued' else 'running'}"
        raise _Failure(
            409,
            f"thread {shown(thread_id or '')} is busy{held}"
            " (multitask_strategy=reject; enqueue or interrupt take the run)",
            "thread_id",
        ) from None
    _displace(pool, saver, item, strategy)
    return item


def _displace(pool: Workers, saver: Any, item: Pending, strategy: MultitaskStrategy) -> None:
    """Cancel the runs ``item`` displaced (interrupt, rollback): a queued one never starts,
    a running one stops at its next superstep boundary."""
    verb = "rolled back" if strategy is MultitaskStrategy.ROLLBACK else "interrupted"
    reason = f"{verb} by run {item.run_id} (multitask_strategy={strategy.value})"
    for run_id in item.displaced:
        try:
            cancel_run(saver, run_id, reason, tenant=item.tenant)
        except ThreadNotFoundError:  # not started: queued, or claimed (its worker sees the flag)
            pool.cancel_pending(run_id, item.tenant, reason)
