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

The default is ``enqueue`` (``create_app(multitask_strategy=)``): a second run on a
thread was always accepted and run after the first, so no client that worked before
is now refused, and a run answered 202 is never dropped. LangGraph Server's default is
``reject``; pass ``multitask_strategy="reject"`` for the same behaviour. ``rollback``
(delete the interrupted run and its checkpoints) is not offered: the service keeps
every run's record.

The check and the queueing are two statements: two posts on one idle thread at the
same instant may both be accepted under ``reject``; they still run one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langgraph_runner._records.exceptions import RequestRefused as _Failure
from langgraph_runner._records.exceptions import ThreadNotFoundError
from langgraph_runner._runs.control import cancel_run
from langgraph_runner._runs.tenancy import scoped_thread_id
from langgraph_runner._service.guards import shown
from langgraph_runner._service.queue import QueuedRun
from langgraph_runner._service.schemas import MultitaskStrategy
from langgraph_runner._service.workers import Pending, Workers

__all__ = ["DEFAULT_STRATEGY", "MultitaskStrategy", "check_strategy", "submit_run"]


DEFAULT_STRATEGY = MultitaskStrategy.ENQUEUE
"""The service's default (see the module docstring for why)."""


def check_strategy(value: Any) -> MultitaskStrategy:
    """``create_app(multitask_strategy=)``, checked.

    Raises:
        ValueError: Not one of ``reject``, ``enqueue``, ``interrupt``.
    """
    try:
        return MultitaskStrategy(value)
    except ValueError:
        allowed = ", ".join(repr(s.value) for s in MultitaskStrategy)
        raise ValueError(
            f"create_app: multitask_strategy must be one of {allowed}, got {value!r}"
        ) from None


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
) -> Pending:
    """Queue a run under ``strategy`` (see the module docstring); ``new_run_id`` names it
    once it is taken (the service subscribes its webhook there), else the queue does.

    Raises:
        RequestRefused: 409 under ``reject`` when the thread is busy.
    """
    busy = [] if thread_id is None else pool.queue.busy(scoped_thread_id(tenant, thread_id))
    if busy and strategy is MultitaskStrategy.REJECT:
        raise _Failure(
            409,
            f"thread {shown(thread_id or '')} is busy: run {busy[0].run_id} is "
            f"{'pending' if busy[0].status == 'queued' else 'running'}"
            " (multitask_strategy=reject; enqueue or interrupt take the run)",
            "thread_id",
        )
    item = pool.submit(
        workflow,
        tenant,
        inp,
        thread_id,
        trace_context=trace_context,
        run_id=None if new_run_id is None else new_run_id(),
    )
    if busy and strategy is MultitaskStrategy.INTERRUPT:
        _interrupt(pool, saver, busy, tenant, item.run_id)
    return item


def _interrupt(pool: Workers, saver: Any, busy: list[QueuedRun], tenant: str, by: str) -> None:
    """Cancel the thread's busy runs for the run ``by``: a queued one never starts, a
    running one stops at its next superstep boundary."""
    reason = f"interrupted by run {by} (multitask_strategy=interrupt)"
    for item in busy:
        if item.status == "queued" and pool.cancel_pending(item.run_id, tenant, reason):
            continue
        try:
            cancel_run(saver, item.run_id, reason, tenant=tenant)
        except ThreadNotFoundError:  # claimed, not started: its worker sees the flag first
            pool.queue.cancel(item.run_id, tenant)
