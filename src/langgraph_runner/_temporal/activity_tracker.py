"""What a node of a run on Temporal finds as its run tracker in its activity.

In-process, ``run()``'s tracker (``RUN_TRACKER_KEY`` in the config) keeps each failed
attempt of a node in the node's ``task_times`` row, and in a rebuild tells a node's cache
that a hit reuses the base run's result. No tracker crosses into an activity:
``tracked`` wraps each activity body of a prepared builder so that, in a run of the runs
service (``RunWorkflow``), the node finds an ``ActivityTracker`` that does both, for its
one task. The attempts of a node span activity attempts (Temporal retries the node, and a
lost worker's attempt runs again), so a later activity attempt goes on from what the row
keeps. Any other workflow's nodes run exactly as ``for_temporal`` made them.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langgraph.errors import GraphInterrupt
from langgraph.graph import StateGraph
from temporalio import activity
from temporalio.exceptions import ApplicationError

from langgraph_runner._policies.context import RUN_TRACKER_KEY
from langgraph_runner._rebuild.partial import BASE_THREAD_KEY
from langgraph_runner._runs.run_store import RunStore
from langgraph_runner._runs.task_times import AttemptLog, load_attempts, save_attempts
from langgraph_runner._runs.tracker import attempt_entry, closing, ending, is_cancel, task_of
from langgraph_runner._temporal.node_times import bookkeep
from langgraph_runner._temporal.run_workflow import run_of

__all__ = ["ActivityTracker", "tracked"]


class ActivityTracker:
    """The run tracker of one node activity of a run (its node, its step's row).

    Args:
        saver: The service's checkpoint saver (the runs store is in its database).
        run_id: The run (from the workflow's id).
        node: The node.
        step: The step as reports number it (the checkpoint that opened it).
        task: LangGraph's task id of the node's task.
        reused: A rebuild: a cache hit reuses the base run's result.
    """

    def __init__(
        self, saver: Any, run_id: str, node: str, step: int, task: str | None, *, reused: bool
    ) -> None:
        self.reused = reused
        self._saver = saver
        self._where = (run_id, node, step)
        self._task = task
        self._began = time.time()
        self._log = AttemptLog()
        # the last failed attempt: (its number, when the next one starts, its entry)
        self._last: tuple[int, float, dict[str, Any]] | None = None
        self._writes: asyncio.Future[None] | None = None

    def load(self) -> None:
        """Go on from the attempts the row keeps (an earlier activity attempt's; none
        if they cannot be read)."""
        bookkeep(self._saver, self._loaded)

    def _loaded(self, store: RunStore) -> None:
        kept = load_attempts(store, *self._where)
        for entry in kept:
            self._log.add(entry)
        last = kept[-1] if kept else None
        if last is not None and isinstance(last.get("number"), int):
            # An attempt a lost worker ended left nothing: this activity attempt starts
            # the node's next attempt (the engine numbers it).
            self._last = (last["number"], self._began, last)

    def cache_outcome(self, node: str, hit: bool, key_hash: str) -> None:
        """Nothing to count: the run's report reads the node's own marks."""

    # called by the engine (configurable[RUN_TRACKER_KEY]) after each failed attempt
    def attempt_failed(
        self, config: Any, number: int, record: Mapping[str, Any], wait: float | None
    ) -> None:
        """Attempt ``number`` failed with ``record``; ``wait``: seconds before the next
        (None: none follows). The row is written at once, as in-process."""
        now = time.time()
        started = self._began if self._last is None else self._last[1]
        outcome = "retried" if wait is not None else "failed"
        entry = attempt_entry(number, outcome, started, now, self._task, record, wait)
        self._last = (number, now + (wait or 0.0), entry)
        self._log.add(entry)
        self._write()

    def ended(self, outcome: str) -> None:
        """The node's task ended (``outcome``): its last attempt says how, once one failed."""
        if self._last is not None:
            number, next_at, last = self._last
            entry = closing(number, next_at, last, outcome, time.time())
            if entry is not None:
                self._log.add(entry)
            self._write()

    async def settled(self) -> None:
        """Wait for the row's writes (in order, each in a worker thread)."""
        if self._writes is not None:
            await self._writes

    def _write(self) -> None:
        """Write the row after the writes before (the engine and the activity body call
        the tracker on the activity's loop)."""
        text = self._log.text()
        self._writes = asyncio.get_running_loop().create_task(self._after(self._writes, text))

    async def _after(self, earlier: asyncio.Future[None] | None, text: str) -> None:
        if earlier is not None:
            await earlier
        # Bookkeeping: if it fails, the node runs anyway; its step shows no attempts.
        await asyncio.to_thread(bookkeep, self._saver, save_attempts, *self._where, text)


def tracked(builder: StateGraph[Any, Any, Any, Any], saver: Any) -> StateGraph[Any, Any, Any, Any]:
    """``builder`` (a copy ``for_temporal`` returned) with its activity bodies wrapped, so
    that in a run of the runs service each node finds an ``ActivityTracker``."""
    for name, node in list(builder.nodes.items()):
        runnable: Any = node.runnable
        body = getattr(runnable, "afunc", None)
        if getattr(runnable, "func", None) is not None or body is None:
            continue  # not an activity body of ours
        wrapped = copy.copy(runnable)  # the plugin swaps the function of what it is given
        wrapped.afunc = _in_run(name, body, saver)
        builder.nodes[name] = dataclasses.replace(node, runnable=wrapped)
    return builder


def _tracker(node: str, config: Any, saver: Any) -> ActivityTracker | None:
    """The tracker of this activity of a run's node, None outside a run's workflow."""
    if RUN_TRACKER_KEY in (config.get("configurable") or {}):
        return None  # someone else follows the node
    try:
        info = activity.info()
    except RuntimeError:  # not in an activity (the builder compiled and run in-process)
        return None
    run_id = run_of(info)
    meta = config.get("metadata") or {}
    step = meta.get("langgraph_step")
    if run_id is None or not isinstance(step, int):
        return None
    reused = bool(meta.get(BASE_THREAD_KEY))
    return ActivityTracker(saver, run_id, node, step - 1, task_of(meta), reused=reused)


def _in_run(
    node: str, body: Callable[..., Awaitable[Any]], saver: Any
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(body)  # the plugin names the activity's task after the body
    async def run(*args: Any, **kwargs: Any) -> Any:
        config: Any = var_child_runnable_config.get() or {}
        tracker = _tracker(node, config, saver)
        if tracker is None:
            return await body(*args, **kwargs)
        if activity.info().attempt > 1:  # an earlier activity attempt may have kept some
            await asyncio.to_thread(tracker.load)
        conf = {**(config.get("configurable") or {}), RUN_TRACKER_KEY: tracker}
        token = var_child_runnable_config.set(
            cast("RunnableConfig", {**config, "configurable": conf})
        )
        outcome: str | None = "failed"
        try:
            result = await body(*args, **kwargs)
            outcome = ending(node, result, "succeeded")
            return result
        except BaseException as exc:
            outcome = _outcome(exc)
            raise
        finally:
            var_child_runnable_config.reset(token)
            if outcome is not None:
                tracker.ended(outcome)
            with contextlib.suppress(Exception):  # bookkeeping never fails the node
                await asyncio.shield(tracker.settled())

    return run


def _outcome(exc: BaseException) -> str | None:
    """How the node's task ended when its activity attempt raised ``exc``; None where it
    goes on in a later activity attempt (a retry handed to Temporal, a worker shutdown)."""
    if isinstance(exc, ApplicationError) and not exc.non_retryable:
        return None  # the node's retry, handed to Temporal
    if isinstance(exc, GraphInterrupt):
        return "interrupted"
    if is_cancel(exc):
        return None if activity.is_worker_shutdown() else "cancelled"
    return "failed"
