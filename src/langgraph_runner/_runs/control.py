"""Runs across processes: list what a checkpointer holds, cancel a run by its id.

``run()``/``arun()`` keep one row per run in the checkpointer's database (see
``run_store``). ``list_runs`` reads them, newest first; ``cancel_run`` sets a run's
cancel flag, which the run's own loop (in whatever process or machine runs it) reads
between steps: it starts no further step, and ends ``cancelled`` with the reason.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from langgraph_runner._records.egress import egress_text
from langgraph_runner._records.exceptions import ThreadNotFoundError
from langgraph_runner._runs.run_store import RunRecord, RunStore
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.tenancy import check_tenant

__all__ = ["RunRecord", "cancel_run", "list_runs"]


def _store(checkpointer: Any) -> RunStore:
    saver = getattr(checkpointer, "checkpointer", checkpointer)  # a compiled graph's
    if not isinstance(saver, BaseCheckpointSaver):
        raise TypeError(
            f"expected a checkpoint saver or a graph compiled with one, got {type(saver)!r}"
        )
    store = open_run_store(saver)
    assert store is not None  # a saver always has a store (its database, or this process)
    return store


def list_runs(
    checkpointer: Any,
    *,
    tenant: str | None = None,
    thread_id: str | None = None,
    limit: int = 100,
) -> list[RunRecord]:
    """The runs ``run()``/``arun()`` made on this checkpointer, newest first.

    Args:
        checkpointer: A LangGraph checkpoint saver (or a graph compiled with one).
        tenant: Only this tenant's runs.
        thread_id: Only this thread's runs.
        limit: At most this many (the newest).

    Returns:
        One ``RunRecord`` per run: ``run_id``, ``thread_id``, ``tenant``, ``graph``,
        ``status`` (``running``, ``completed``, ``interrupted``, ``failed``,
        ``cancelled``, or ``abandoned``: its process died, see ``RunStatus``),
        ``reason``, ``started_at``/``updated_at`` (epoch seconds) and the graph's
        ``nodes``. Reading marks ``abandoned`` the ``running`` rows whose lease ran out.
    """
    if limit < 1:
        raise ValueError(f"limit must be 1 or more, got {limit!r}")
    tenant = check_tenant(tenant, owner="list_runs")
    store = _store(checkpointer)
    try:
        return store.runs(tenant=tenant, thread_id=thread_id, limit=limit)
    finally:
        store.close()


def cancel_run(
    checkpointer: Any,
    run_id: str,
    reason: str = "cancelled",
    *,
    tenant: str | None = None,
) -> RunRecord:
    """Ask a run to stop, wherever it runs: it starts no further step and ends ``cancelled``.

    The run's loop reads the flag between steps (every 0.2 s while it runs); a step
    already running finishes (a ``create_node`` node under ``run(time_limit=...)`` is
    aborted). Cancelling a run that already ended changes nothing.

    Args:
        checkpointer: The checkpoint saver the run writes to (or a graph compiled with it).
        run_id: The run's id (``RunResult.run_id``, ``list_runs``, the CLI's ``runs``).
        reason: Why; kept (redacted) as the run's ``reason``.
        tenant: Only if the run is this tenant's.

    Returns:
        The run as it was when the flag was set.

    Raises:
        ThreadNotFoundError: No such run (or another tenant's), like a missing thread.
    """
    tenant = check_tenant(tenant, owner="cancel_run")
    store = _store(checkpointer)
    try:
        return store.request_cancel(
            str(run_id), egress_text(reason, max_length=200) or "cancelled", tenant=tenant
        )
    except LookupError as exc:
        raise ThreadNotFoundError(f"no run {str(run_id)!r}") from exc
    finally:
        store.close()
