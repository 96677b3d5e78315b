"""Each node activity of a run on Temporal writes its own start and end (``task_times``).

As ``run()``'s tracker does on the table queue: a report of a live run shows the node
under way ``running``, and each node its own times (parallel nodes do not share their
step's). ``NodeTimes`` is a worker interceptor of ``runs_worker``: it knows a node
activity of a run by its workflow (``RunWorkflow``, id ``langgraph-runner-run-<run id>``)
and its type (``<workflow>.<node>``, the plugin's), and the step from the config the
plugin sends. A retried activity keeps its first start.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from langgraph_runner._runs.run_store import RunStore
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.task_times import load_times, save_times
from langgraph_runner._temporal.run_workflow import run_of

__all__ = ["NodeTimes", "bookkeep"]


class NodeTimes(Interceptor):
    """Each node activity's own start and end in the run's ``task_times`` rows.

    Args:
        graphs: The workflow names (an activity type is ``<workflow>.<node>``).
        checkpointer: The service's checkpoint saver.
    """

    def __init__(self, graphs: Mapping[str, Any], checkpointer: Any) -> None:
        self._names = sorted(graphs, key=len, reverse=True)
        self._saver = checkpointer

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Timed(next, self)

    def node_of(self, info: activity.Info) -> tuple[str, str] | None:
        """(run id, node) of a node activity of a run, else None."""
        run_id = run_of(info)
        if run_id is None:
            return None
        for name in self._names:
            if info.activity_type.startswith(name + "."):
                return run_id, info.activity_type[len(name) + 1 :]
        return None

    def mark(self, run_id: str, node: str, step: int, ended: bool) -> None:
        """Write the node's start (first start kept), or its end. Bookkeeping: if it
        fails, the node runs anyway and its report shows the step's checkpoint times."""
        bookkeep(self._saver, _mark, run_id, node, step, ended)


def _mark(store: RunStore, run_id: str, node: str, step: int, ended: bool) -> None:
    found = load_times(store, [run_id]).get(run_id, {}).get((node, step))
    now = time.time()
    start = now if found is None else min(found[0], now)
    save_times(store, run_id, {(node, step): (start, now if ended else None)})


def bookkeep(saver: Any, write: Callable[..., Any], *args: Any) -> None:
    """``write(store, *args)`` on the runs store of ``saver``'s database, closed after;
    an error is dropped (bookkeeping never fails a node)."""
    store = open_run_store(saver)
    if store is None:  # pragma: no cover - a saver always has a store
        return
    try:
        with contextlib.suppress(Exception):
            write(store, *args)
    finally:
        store.close()


class _Timed(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, times: NodeTimes) -> None:
        super().__init__(next)
        self._times = times

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        found = self._times.node_of(activity.info())
        config = getattr(input.args[0], "langgraph_config", None) if input.args else None
        step = ((config or {}).get("metadata") or {}).get("langgraph_step")
        if found is None or not isinstance(step, int):
            return await self.next.execute_activity(input)
        run_id, node = found
        key = (run_id, node, step - 1)  # the checkpoint that opened the step, as run()'s
        await asyncio.to_thread(self._times.mark, *key, False)
        try:
            return await self.next.execute_activity(input)
        finally:
            await asyncio.to_thread(self._times.mark, *key, True)
