"""The base run of a rebuild, read from the graph's checkpoint history.

A thread can hold several runs; the base run is the last one (or the one ending at
``configurable.checkpoint_id``: ``run_checkpoint`` finds a given run's last one): the
checkpoints from that point back to the most recent ``source="input"`` checkpoint,
whose ``__start__`` task holds the input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig

from langgraph_runner._policies.context import TENANT_KEY
from langgraph_runner._records.exceptions import RunNotCompletedError
from langgraph_runner._runs.run_store import RUN_ID_METADATA_KEY
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.tenancy import NO_TENANT, owner

__all__ = ["ABSENT", "BaseRun", "RunNotCompletedError", "read_base_run", "run_checkpoint"]

ABSENT: Any = object()


@dataclasses.dataclass(frozen=True)
class BaseRun:
    """A completed run: its thread, last checkpoint, input, and each step's node writes."""

    thread_id: str
    checkpoint_id: str
    input: Mapping[str, Any]
    steps: list[list[tuple[str, frozenset[str]]]]  # per step: (node, fields written)


def read_base_run(graph: Any, base_config: RunnableConfig, tenant: str | None = None) -> BaseRun:
    """The completed run ``base_config`` names (``tenant``'s thread only, when given).

    Raises:
        ValueError: The graph has no checkpointer, or ``base_config`` no thread id.
        RunNotCompletedError: No such run (or another tenant's), or it failed, was
            interrupted or is pending.
    """
    if getattr(graph, "checkpointer", None) in (None, False, True):
        raise ValueError("plan/rebuild need a graph compiled with a checkpointer")
    conf = base_config.get("configurable") or {}
    thread_id = conf.get("thread_id")
    if not thread_id:
        raise ValueError("base_config must name the base run: {'configurable': {'thread_id': ...}}")
    thread_id = str(thread_id)
    if tenant is not None and _owner(graph, thread_id) != tenant:
        raise RunNotCompletedError(thread_id, "no checkpoint found")  # as a missing thread
    history = _history_to(graph, thread_id, conf.get("checkpoint_id"))
    last = history[0]
    _refuse_ended_badly(graph.checkpointer, thread_id, last)
    _refuse_unfinished(thread_id, last)
    base_input, steps = _input_and_steps(thread_id, history[1:])
    checkpoint_id = str((last.config.get("configurable") or {}).get("checkpoint_id", ""))
    return BaseRun(thread_id, checkpoint_id, dict(base_input), steps)


def run_checkpoint(saver: Any, thread_id: str, run_id: str) -> str | None:
    """The id of the last checkpoint run ``run_id`` wrote on ``thread_id`` (None: none).

    A rebuild of that run names it as ``configurable.checkpoint_id``, so it plans from
    that run, not from a later one on the thread.
    """
    cfg: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    for found in saver.list(cfg, filter={RUN_ID_METADATA_KEY: run_id}, limit=1):
        return str((found.config.get("configurable") or {}).get("checkpoint_id") or "") or None
    return None


def _owner(graph: Any, thread_id: str) -> str:
    """Whose thread it is: its owner row, else the tenant its latest checkpoint names."""
    found = owner(graph.checkpointer, thread_id)
    if found is not None:
        return found
    metadata = graph.get_state({"configurable": {"thread_id": thread_id}}).metadata or {}
    tenant = metadata.get(TENANT_KEY)
    return NO_TENANT if tenant is None else str(tenant)


def _history_to(graph: Any, thread_id: str, wanted: Any) -> list[Any]:
    """The thread's snapshots, newest first, from the checkpoint ``wanted`` (else the latest)."""
    history = list(graph.get_state_history({"configurable": {"thread_id": thread_id}}))
    if wanted:  # the run that ends at this checkpoint
        ids = [(s.config.get("configurable") or {}).get("checkpoint_id") for s in history]
        if wanted not in ids:
            raise RunNotCompletedError(thread_id, f"no checkpoint {wanted!r}")
        history = history[ids.index(wanted) :]
    if not history:
        raise RunNotCompletedError(thread_id, "no checkpoint found")
    return history


def _refuse_unfinished(thread_id: str, last: Any) -> None:
    """The last snapshot must end a run: nothing failed, waiting, left to run or blocked."""
    failed = [t.name for t in last.tasks if t.error]
    if failed:
        raise RunNotCompletedError(thread_id, f"failed: {', '.join(failed)}")
    waiting = [t.name for t in last.tasks if t.interrupts]
    if waiting:
        raise RunNotCompletedError(thread_id, f"interrupted: {', '.join(waiting)}")
    if last.next:
        raise RunNotCompletedError(thread_id, f"still to run: {', '.join(last.next)}")
    values = last.values if isinstance(last.values, Mapping) else {}
    flags = values.get("routing_flags")
    if isinstance(flags, Mapping) and flags.get("blocked"):
        nodes = _unrecovered(values.get("errors"))
        what = f" by a recorded failure of {', '.join(nodes)}" if nodes else ""
        raise RunNotCompletedError(thread_id, f"blocked{what} (routing_flags['blocked'] is set)")


def _input_and_steps(
    thread_id: str, older: list[Any]
) -> tuple[Mapping[str, Any], list[list[tuple[str, frozenset[str]]]]]:
    """The run's input and, oldest first, each step's (node, fields written)."""
    steps: list[list[tuple[str, frozenset[str]]]] = []
    base_input: Any = ABSENT
    for snap in older:  # newest first; the run starts at its "input" checkpoint
        if (snap.metadata or {}).get("source") == "input":
            start = next((t for t in snap.tasks if t.name == "__start__"), None)
            base_input = start.result if start is not None else None
            break
        if any(t.error or t.interrupts for t in snap.tasks):
            raise RunNotCompletedError(thread_id, "a step failed or was interrupted")
        steps.append([(t.name, written_fields(t.result)) for t in snap.tasks])
    if not isinstance(base_input, Mapping):
        raise RunNotCompletedError(thread_id, "the run's input checkpoint is missing")
    steps.reverse()
    return base_input, steps


def _refuse_ended_badly(saver: Any, thread_id: str, last: Any) -> None:
    """A run the runs table says failed or was cancelled (it stopped between steps)."""
    try:
        store = open_run_store(saver)
    except Exception:  # the runs table is bookkeeping: the checkpoints still decide
        return
    if store is None:
        return
    ran = (last.metadata or {}).get(RUN_ID_METADATA_KEY)
    try:  # the run that wrote the base checkpoint (not a later one on the thread)
        row = store.get(str(ran)) if ran else store.latest(thread_id)
    finally:
        store.close()
    if row is not None and row.status in ("failed", "cancelled") and ran == row.run_id:
        raise RunNotCompletedError(thread_id, f"{row.status}: {row.reason or 'no reason given'}")


def _unrecovered(errors: Any) -> list[str]:
    records = errors.get("records") if isinstance(errors, Mapping) else errors
    nodes = [
        str(r.get("node"))
        for r in records or ()
        if isinstance(r, Mapping) and not r.get("recovered")
    ]
    return list(dict.fromkeys(nodes))


def written_fields(result: Any) -> frozenset[str]:
    """The state fields a task's result (its update) writes."""
    if isinstance(result, Mapping):
        return frozenset(str(k) for k in result)
    return frozenset()
