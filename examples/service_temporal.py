"""The runs service on Temporal: runs are Temporal workflows, each step an activity.

Serve the API: ``langgraph-runner serve examples/service_temporal.py`` (port 8000), and
run a worker beside it: ``python examples/service_temporal.py`` (as many as you like,
on any machine that reaches Temporal and the database). Both need a Temporal server
(``temporal server start-dev``) at ``TEMPORAL_ADDRESS`` (default ``127.0.0.1:7233``).

Two workflows, as in ``examples/service.py``: ``build`` (fetch, parse, render) and
``hold`` (fetch, then ``wait`` holds the run for ``seconds`` of its input unless the run
is cancelled, then render). Each run may take 10 minutes at most.

``SERVICE_DB`` picks the database file (default ``examples/.runs/service_temporal.db``),
shared by the API and the workers; ``SERVICE_API_KEY`` the key (default ``dev-key``,
tenant ``dev``).
"""

from __future__ import annotations

import asyncio
import operator
import os
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from temporalio.client import Client
from typing_extensions import TypedDict

from langgraph_runner import create_node, get_node_context
from langgraph_runner.service import create_app
from langgraph_runner.temporal import TemporalExecutor, runs_worker

DB = Path(os.environ.get("SERVICE_DB", Path(__file__).parent / ".runs" / "service_temporal.db"))
ADDRESS = os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233")
TASK_QUEUE = "runs"


class Build(TypedDict, total=False):
    title: str
    seconds: float
    log: Annotated[list[str], operator.add]


def fetch(state: Build) -> dict[str, Any]:
    return {"log": [f"fetch: {state.get('title', '')}"]}


def parse(state: Build) -> dict[str, Any]:
    return {"log": ["parse"]}


def render(state: Build) -> dict[str, Any]:
    return {"log": ["render"]}


def wait(state: Build) -> dict[str, Any]:
    """Hold the run for ``seconds``; a cancel ends the wait at once (its abort signal)."""
    seconds = float(state.get("seconds", 0))
    signal = getattr(get_node_context(), "abort_signal", None)
    if signal is not None and signal.wait_sync(seconds):
        signal.throw_if_aborted()  # the step ends cancelled; no further step starts
    return {"log": [f"waited {seconds:g} s"]}


def chain(*steps: Any) -> StateGraph[Any, Any, Any, Any]:
    """The steps one after the other (a builder: the API compiles it, workers prepare it)."""
    g: StateGraph[Any, Any, Any, Any] = StateGraph(Build)
    names = [step.__name__ for step in steps]
    for step in steps:
        g.add_node(step.__name__, create_node(step, timeout=900 if step is wait else None))
    for a, b in zip([START, *names], [*names, END], strict=True):
        g.add_edge(a, b)
    return g


def builders() -> dict[str, StateGraph[Any, Any, Any, Any]]:
    return {"build": chain(fetch, parse, render), "hold": chain(fetch, wait, render)}


DB.parent.mkdir(parents=True, exist_ok=True)
saver = SqliteSaver(sqlite3.connect(DB, check_same_thread=False))  # open while it serves
client = asyncio.run(Client.connect(ADDRESS))  # usable from any event loop
app = create_app(
    workflows={name: b.compile() for name, b in builders().items()},
    checkpointer=saver,
    api_keys={os.environ.get("SERVICE_API_KEY", "dev-key"): "dev"},
    time_limit=600,
    executor=TemporalExecutor(client=client, task_queue=TASK_QUEUE),
)


async def work() -> None:
    """One worker: runs the service's runs until stopped."""
    worker = runs_worker(
        await Client.connect(ADDRESS),
        task_queue=TASK_QUEUE,
        workflows=builders(),
        checkpointer=saver,
        heartbeat=2,  # a lost worker's step runs again, and a cancel reaches it, within ~2 s
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),  # the next worker at once
    )
    await worker.run()


if __name__ == "__main__":
    asyncio.run(work())
