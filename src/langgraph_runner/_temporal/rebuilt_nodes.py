"""A rebuild's nodes on Temporal read their cache hits as ``reused``, as in-process.

In-process, a rebuild's run tracker (``RUN_TRACKER_KEY`` in the config) tells a node's
cache that a hit reuses the base run's result, so the step reads ``reused`` rather than
``cached``. No tracker crosses into an activity: ``rebuild_aware`` wraps each activity
body of a prepared builder so that, in a run that rebuilds (its config's metadata names
the base thread, ``BASE_THREAD_KEY``), the node finds a stand-in that says so. Any other
run's nodes run exactly as ``for_temporal`` made them.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Awaitable, Callable
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langgraph.graph import StateGraph

from langgraph_runner._policies.context import RUN_TRACKER_KEY
from langgraph_runner._rebuild.partial import BASE_THREAD_KEY

__all__ = ["RebuildTracker", "rebuild_aware"]


class RebuildTracker:
    """What a rebuild's node finds as its run tracker in an activity."""

    reused = True  # a cache hit reuses the base run's result

    def cache_outcome(self, node: str, hit: bool, key_hash: str) -> None:
        """Nothing to count: the run's report reads the node's own marks."""

    def attempt_failed(self, config: Any, number: int, record: Any, wait: float | None) -> None:
        """Nothing to keep: a run on Temporal writes no rows of its steps' attempts."""


_TRACKER = RebuildTracker()


def rebuild_aware(builder: StateGraph[Any, Any, Any, Any]) -> StateGraph[Any, Any, Any, Any]:
    """``builder`` (a copy ``for_temporal`` returned) with its activity bodies wrapped."""
    for name, node in list(builder.nodes.items()):
        runnable: Any = node.runnable
        body = getattr(runnable, "afunc", None)
        if getattr(runnable, "func", None) is not None or body is None:
            continue  # not an activity body of ours
        wrapped = copy.copy(runnable)  # the plugin swaps the function of what it is given
        wrapped.afunc = _in_rebuild(body)
        builder.nodes[name] = dataclasses.replace(node, runnable=wrapped)
    return builder


def _in_rebuild(body: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(body)  # the plugin names the activity's task after the body
    async def run(*args: Any, **kwargs: Any) -> Any:
        config: Any = var_child_runnable_config.get() or {}
        conf = config.get("configurable") or {}
        if not (config.get("metadata") or {}).get(BASE_THREAD_KEY) or RUN_TRACKER_KEY in conf:
            return await body(*args, **kwargs)
        marked = {**config, "configurable": {**conf, RUN_TRACKER_KEY: _TRACKER}}
        token = var_child_runnable_config.set(cast("RunnableConfig", marked))
        try:
            return await body(*args, **kwargs)
        finally:
            var_child_runnable_config.reset(token)

    return run
