"""Checkpoint ids from the workflow, so that a replay names its checkpoints as the first run did.

LangGraph names each new checkpoint with a version-6 UUID made from the clock and
``random`` (``langgraph.pregel._checkpoint.uuid6``), and each task's id derives from its
checkpoint's. A workflow replayed on another worker (after a crash) would name them anew:
the writes of the step under way would then be stored under task ids that the stored
checkpoints do not lead to, and a report would show a task with no name.

Inside ``RunWorkflow``, and only there (a context variable says so), the ids come from the
workflow instead: its clock (``workflow.now()``) and its seeded random numbers, the same on
every replay. Everywhere else, LangGraph's own function runs untouched: ``install`` wraps
it once per process (through ``_internal.compat``, the one module that touches LangGraph's
private API), and the wrapper calls it whenever no workflow is the source.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from langgraph.checkpoint.base.id import UUID
from temporalio import workflow

from langgraph_runner._internal import compat as _compat

__all__ = ["WorkflowIds", "from_workflow", "install"]

_EPOCH = 0x01B21DD213814000  # 100-ns intervals from 1582-10-15 (UUID time) to 1970-01-01


class WorkflowIds:
    """Version-6 UUIDs from the workflow's clock and random numbers, always increasing."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self, clock_seq: int | None) -> UUID:
        ticks = int(workflow.now().timestamp() * 10_000_000) + _EPOCH
        ticks = self._last = max(ticks, self._last + 1)  # one workflow task: one clock
        rand = workflow.random()
        seq = clock_seq if clock_seq is not None else rand.getrandbits(14)
        value = ((ticks >> 12) & 0xFFFFFFFFFFFF) << 80 | (ticks & 0x0FFF) << 64
        value |= (seq & 0x3FFF) << 48 | rand.getrandbits(48)
        return UUID(int=value, version=6)


_SOURCE: ContextVar[WorkflowIds | None] = ContextVar(
    "langgraph_runner_checkpoint_ids", default=None
)


def install() -> bool:
    """Let ``from_workflow`` name LangGraph's new checkpoints (once per process).

    Returns:
        Whether this LangGraph has the function to wrap (False: ids stay LangGraph's, and
        ``ActivitySaver`` maps a replay's ids to the stored ones).
    """
    return _compat.wrap_checkpoint_ids(_from_source)


def _from_source(original: Callable[..., Any]) -> Callable[..., Any]:
    """``original`` where no workflow names the checkpoints, else the workflow's ids."""

    @functools.wraps(original)
    def uuid6(node: int | None = None, clock_seq: int | None = None) -> Any:
        source = _SOURCE.get()
        return original(node=node, clock_seq=clock_seq) if source is None else source(clock_seq)

    return uuid6


@contextlib.contextmanager
def from_workflow() -> Iterator[None]:
    """Within: LangGraph's new checkpoints are named by the workflow (``WorkflowIds``)."""
    token = _SOURCE.set(WorkflowIds())
    try:
        yield
    finally:
        _SOURCE.reset(token)
