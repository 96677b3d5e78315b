"""A node with a cache: the lookup before the loop, the store after a success.

``make_entries(spec)`` is the engine's entry point per node: the loops of
``loop.make_loops``, each wrapped here when ``spec.cache`` is set. A hit is a
success of the node (it ends a loop-guard streak) and is marked in ``step_marks``
(``"hit"``, or ``"reused"`` in a rebuild); a miss runs the loop and stores what a
call that did not fail returned.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.runnables import RunnableConfig

from langgraph_runner._engine.call import Call, emit
from langgraph_runner._engine.loop import AsyncEntry, SyncEntry, make_loops
from langgraph_runner._engine.records import marked
from langgraph_runner._engine.spec import NodeSpec
from langgraph_runner._policies.context import RUN_TRACKER_KEY
from langgraph_runner._traces.spans import NEXT_LOOK

__all__ = ["cached_async", "cached_sync", "make_entries"]

INFO = logging.INFO


def make_entries(spec: NodeSpec) -> tuple[SyncEntry, AsyncEntry]:
    """The node's ``run`` and ``arun`` entry points (cached when ``spec.cache`` is set)."""
    run, arun = make_loops(spec)
    if spec.cache is None:
        return run, arun
    return cached_sync(spec, run), cached_async(spec, arun)


_MISS = object()


def _found(spec: NodeSpec, call: Call, key: Any, found: Any, since: int) -> Any:
    """What the cache's answer means for the call: a hit's value (marked in
    ``step_marks``), else ``_MISS``. Either way ``node.cache_hit``/``node.cache_miss``
    with the key's hash, and the run tracker told.

    A hit is a success of the node: it ends a streak of failures (loop guard) and its
    span succeeds. It is marked ``"reused"`` in a rebuild, else ``"hit"``.
    """
    hit = found.hit
    if hit:
        call.report("record_cache_hit")
    conf = call.config.get("configurable") if call.config else None
    tracker = conf.get(RUN_TRACKER_KEY) if conf else None
    if tracker is not None:
        tracker.cache_outcome(call.node(), hit, key.digest)
    spans = call.spans
    if spans is not None:
        spans.event("langgraph_runner.cache.hit" if hit else "langgraph_runner.cache.miss")
    if spec.log.enabled(INFO):
        event = "node.cache_hit" if hit else "node.cache_miss"
        emit(spec.log, INFO, event, call.get(), key_hash=key.digest)
    if not hit:
        return _MISS
    streaks = spec.streaks
    if streaks is not None and streaks.counting:
        streaks.succeeded(call.streak_key(), since, call.ids()[4])
    if spans is not None:
        spans.succeeded()
    kind = "reused" if getattr(tracker, "reused", False) else "hit"
    return marked(found.value, call, {"cache": kind})


def _cache_key(spec: NodeSpec, call: Call, state: Any) -> Any:
    assert spec.cache is not None
    ctx = call.get()
    return spec.cache.key(
        ctx.node,
        state,
        thread_id=ctx.thread_id,
        fingerprint=spec.fingerprint,
        config=call.config,
        accepts=spec.accepts,
    )


def cached_sync(spec: NodeSpec, loop: SyncEntry) -> SyncEntry:
    cache = spec.cache
    assert cache is not None
    events = spec.log

    def run(state: Any, config: RunnableConfig | None = None) -> Any:
        call = Call(spec, config)
        spans = call.open_spans() if call.t0 >= NEXT_LOOK[0] else None
        try:
            since = spec.streaks.seq if spec.streaks is not None else 0
            key = _cache_key(spec, call, state)
            value = _found(spec, call, key, cache.lookup(key, events=events), since)
            if value is not _MISS:
                return value
            result = loop(state, config, call)
            if not call.failed:
                cache.store(key, result, events=events)
            return result
        finally:
            if spans is not None:
                spans.close()

    return run


def cached_async(spec: NodeSpec, loop: AsyncEntry) -> AsyncEntry:
    cache = spec.cache
    assert cache is not None
    events = spec.log

    async def arun(state: Any, config: RunnableConfig | None = None) -> Any:
        call = Call(spec, config)
        spans = call.open_spans() if call.t0 >= NEXT_LOOK[0] else None
        try:
            since = spec.streaks.seq if spec.streaks is not None else 0
            key = _cache_key(spec, call, state)
            value = _found(spec, call, key, await cache.alookup(key, events=events), since)
            if value is not _MISS:
                return value
            result = await loop(state, config, call)
            if not call.failed:
                await cache.astore(key, result, events=events)
            return result
        finally:
            if spans is not None:
                spans.close()

    return arun
