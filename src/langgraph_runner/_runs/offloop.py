"""``arun``'s row writes off the event loop: a database round trip (often an fsync) each.

On SQLite (a blocking connection), and for ``arows``' fallbacks on PostgreSQL (whose
rows are otherwise written on the loop through the saver's own async connections).
The run's row (before any node) and its final status are written in a worker thread, so
the event loop runs the other runs meanwhile. In-memory savers keep them on the loop
(no I/O). A run cancelled while its row is being written ends that
row ``cancelled`` once it lands: never left ``running`` or watched for good.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Protocol, TypeVar

from langgraph_runner._runs.saver_storage import asqlite_file, saver_kind

__all__ = ["afinish", "aopen_store", "off_loop"]

R = TypeVar("R", covariant=True)


class RunRows(Protocol[R]):
    """What of a run these helpers use (``lifecycle._Run``)."""

    saver: Any

    def open_store(self, sqlite_path: str | None = None) -> None: ...

    def close_store(self, status: str, reason: str | None) -> None: ...

    def finish(self, output: Any, error: BaseException | None) -> R: ...


def off_loop(state: RunRows[Any]) -> bool:
    """Whether the run's row writes go to a worker thread (not for in-memory savers)."""
    return state.saver is not None and saver_kind(state.saver) != "other"


async def afinish(state: RunRows[R], output: Any, error: BaseException | None) -> R:
    """``state.finish`` (which writes the final status), off the loop when it does I/O."""
    if not off_loop(state):
        return state.finish(output, error)
    return await asyncio.to_thread(state.finish, output, error)


async def aopen_store(state: RunRows[Any]) -> None:
    """``state.open_store`` (the row, before any node), off the loop when it does I/O."""
    saver = state.saver
    path: str | None = None
    if saver is not None and saver_kind(saver) == "sqlite" and hasattr(saver, "loop"):
        try:  # an AsyncSqliteSaver answers on its own loop, which is this one
            path = await asqlite_file(getattr(saver, "conn"))  # noqa: B009
        except Exception:
            path = ""
    if not off_loop(state):
        state.open_store(path)
        return
    # Cancelled while the row is written in its thread: whichever side sees both ends the
    # row cancelled (no node ran), so it is neither left running nor watched for good.
    guard, seen = threading.Lock(), {"opened": False, "cancelled": False}

    def open_then_check() -> None:
        state.open_store(path)
        with guard:
            seen["opened"] = True
            if not seen["cancelled"]:
                return
        state.close_store("cancelled", "task cancelled")

    try:
        await asyncio.to_thread(open_then_check)
    except asyncio.CancelledError:
        with guard:
            seen["cancelled"] = True
            opened = seen["opened"]
        if opened:
            state.close_store("cancelled", "task cancelled")
        raise
