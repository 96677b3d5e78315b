"""Decode what a stored checkpoint says about the tasks of its superstep, without the graph.

A checkpoint saved at step n schedules the tasks of step n + 1 through its trigger
channels (``branch:to:<node>``, ``join:...``) and pending ``Send`` packets; the
saver keeps each task's writes under its task id as the task finishes. Task ids
are deterministic, so recomputing them the way LangGraph does matches the writes
to node names. Run reports use this to read a thread from a bare saver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from langgraph.checkpoint.base import Checkpoint, CheckpointTuple
from langgraph.types import Interrupt, Send

from langgraph_runner._internal.compat import (
    CONTROL_WRITES,
    ERROR,
    INTERRUPT,
    NULL_TASK_ID,
    PULL,
    PUSH,
    TASKS,
    task_id,
)

__all__ = ["SavedTask", "saved_tasks"]


@dataclass(frozen=True, kw_only=True)
class SavedTask:
    """A task of a stored checkpoint's superstep, decoded without the graph.

    Attributes:
        name: The node name; ``"__update__"`` for ``graph.update_state`` writes,
            ``"<task 1a2b3c4d>"`` if it cannot be worked out.
        task_id: LangGraph's task id.
        finished: The task saved output writes (it will not run again on resume).
        error: The saved error (LangGraph stores ``repr(exception)``), or None.
        interrupts: The latest ``interrupt()`` the task raised in this step.
        writes: Its saved ``(channel, value)`` writes, control writes included.
    """

    name: str
    task_id: str
    finished: bool
    error: Any = None
    interrupts: tuple[Interrupt, ...] = ()
    writes: tuple[tuple[str, Any], ...] = ()


def _task_id(cp: Checkpoint, *parts: str) -> str:
    return task_id(cp["id"], cp["v"], *parts)


def _newer(version: Any, seen: Any) -> bool:
    if seen is None:
        return True
    return bool(version > seen) if type(version) is type(seen) else str(version) > str(seen)


def _scheduled(cp: Checkpoint, step: int) -> dict[str, str]:
    """Task id -> node name for the tasks a StateGraph checkpoint schedules."""
    values, versions, seen_all = cp["channel_values"], cp["channel_versions"], cp["versions_seen"]
    names: set[str] = set()
    for chan in values:
        if chan == "__start__":
            name = chan
        elif chan.startswith("branch:to:"):
            name = chan[len("branch:to:") :]
        elif chan.startswith("join:") and chan.count(":") >= 2:
            sources, name = chan[len("join:") :].rsplit(":", 1)
            if set(values[chan] or ()) != set(sources.split("+")):
                continue  # the barrier still waits for some of its sources
        else:
            continue
        if _newer(versions.get(chan), (seen_all.get(name) or {}).get(chan)):
            names.add(name)
    out: dict[str, str] = {}
    for name in names:
        joins = {c for c in versions if c.startswith("join:") and c.endswith(":" + name)}
        trig = ["__start__"] if name == "__start__" else sorted({"branch:to:" + name} | joins)
        out[_task_id(cp, name, str(step), name, PULL, *trig)] = name
    for idx, packet in enumerate(values.get(TASKS) or ()):
        if isinstance(packet, Send):
            tid = _task_id(cp, packet.node, str(step), packet.node, PUSH, str(idx))
            out[tid] = packet.node
    return out


def saved_tasks(checkpoint: CheckpointTuple) -> list[SavedTask]:
    """Decode the tasks of a stored checkpoint's superstep and what each saved.

    Works from the checkpoint alone (for StateGraph graphs): scheduled tasks come
    from its trigger channels and pending ``Send`` packets, their ids are
    recomputed the way LangGraph derives them, and the pending writes are matched
    to them. A top-level (``checkpoint_ns == ""``) checkpoint is assumed.

    Args:
        checkpoint: A tuple from ``saver.list(...)`` or ``saver.get_tuple(...)``.

    Returns:
        One entry per scheduled task or per task id found in the writes.
    """
    cp = checkpoint.checkpoint
    # Tasks of the checkpoint saved at step n run as step n + 1.
    names = _scheduled(cp, int(checkpoint.metadata.get("step", -1)) + 1)
    writes: dict[str, list[tuple[str, Any]]] = {tid: [] for tid in names}
    for tid, chan, value in checkpoint.pending_writes or ():
        if tid != NULL_TASK_ID:
            writes.setdefault(tid, []).append((chan, value))
    unknown = [tid for tid in writes if tid not in names]
    if unknown:
        # Writes of graph.update_state(...) made on this checkpoint without reusing a
        # scheduled task's id (langgraph.pregel.main._update_task_id).
        base = UUID(cp["id"])
        for i in range(len(writes)):
            update = str(uuid5(base, INTERRUPT + ("" if i == 0 else f":{i}")))
            names.setdefault(update, "__update__")
        unknown = [tid for tid in unknown if tid not in names]
    unmatched = [tid for tid in names if tid in writes and not writes[tid]]
    if len(unknown) == 1 and len(unmatched) == 1:
        # A trigger set we could not guess: the only unexplained writes belong to
        # the only scheduled task that has none.
        names[unknown[0]] = names.pop(unmatched[0])
        writes.pop(unmatched[0])
    out = []
    for tid, items in writes.items():
        intr = next((v for c, v in reversed(items) if c == INTERRUPT), ())
        out.append(
            SavedTask(
                name=names.get(tid, f"<task {tid[:8]}>"),
                task_id=tid,
                finished=any(c not in CONTROL_WRITES for c, _ in items),
                error=next((v for c, v in reversed(items) if c == ERROR), None),
                interrupts=tuple(intr),
                writes=tuple(items),
            )
        )
    return out
