"""``GET /runs/{id}/events``: a run's progress as server-sent events, until it ends.

The run is read every ``interval`` seconds (the same read as ``GET /runs/{id}``); an
event ``run`` carries the whole run (JSON) whenever it changed, and the stream ends
after the event that shows it over (any status but ``pending`` and ``running``).
Server-sent events pass through proxies; a client that cannot keep a stream open polls
``GET /runs/{id}`` instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

__all__ = ["LIVE", "event_stream"]

LIVE = ("pending", "running")


def event_stream(read: Callable[[], Any], first: Any, *, interval: float) -> EventSourceResponse:
    """Stream ``read()`` (a ``RunDetail``) as ``run`` events, starting from ``first``."""

    async def events() -> AsyncIterator[ServerSentEvent]:
        current, last = first, None
        while True:
            text = current.model_dump_json()
            if text != last:
                yield ServerSentEvent(data=text, event="run")
                last = text
            if current.status not in LIVE:
                return
            await asyncio.sleep(interval)
            current = await run_in_threadpool(read)

    return EventSourceResponse(events())
