"""A graph whose nodes wait to be killed, and a worker for it (tests/integration/test_temporal.py).

Each of ``plain`` (no ``retry=``, async, records an effect in an ``EffectLedger``),
``flaky`` (``retry=3``, fails every attempt it finishes), ``slow`` (sync, with a
timeout), ``idle`` (sync, with an idle limit, beating while it waits), ``deadline``
(async, with a ``deadline``) and ``yours`` (a plain function the package did not
build) waits, the first time it is called at a given point, until the test SIGKILLs
its worker; a later call goes on. ``w`` runs in the workflow (``execute_in:
"workflow"``): the next worker replays it. Every call of an activity is noted in
``runs.log`` in the workflow's directory, so the test can count the attempts made.

Usage (the test starts it as a subprocess): ``python -c "import
tests.temporal_crash_worker as w; w.main()" ADDRESS QUEUE GRAPH RETRIES WHERE``
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import TimeoutPolicy
from temporalio import workflow
from temporalio.client import Client
from temporalio.langgraph import LangGraphPlugin
from temporalio.langgraph import graph as plugin_graph
from temporalio.worker import Worker

import langgraph_runner
from langgraph_runner import GraphState, RetryConfig, create_node, heartbeat
from langgraph_runner.runs import EffectLedger
from langgraph_runner.temporal import for_temporal

HEARTBEAT = 1.0  # a lost worker's node is retried about this long after the kill


class CrashState(GraphState):
    dir: str
    x: int


@workflow.defn(sandboxed=False)
class CrashRun:
    """The registered graph, compiled and run."""

    @workflow.run
    async def run(self, name: str, state: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await plugin_graph(name).compile().ainvoke(state)
        return result


def note(state: CrashState, line: str) -> list[str]:
    """Append ``line`` to the run's log; the lines so far (``line`` included)."""
    log = Path(state["dir"]) / "runs.log"
    with log.open("a", encoding="utf-8") as out:
        out.write(line + "\n")
    return log.read_text(encoding="utf-8").split()


def _killed_here(state: CrashState, point: str) -> bool:
    """True the first time ``point`` is reached: the node then waits to be killed.

    The marker names the process to kill (any worker may run the node).
    """
    marker = Path(state["dir"]) / f"{point}.started"
    if marker.exists():
        return False
    partial = marker.with_suffix(".partial")
    partial.write_text(str(os.getpid()), encoding="utf-8")
    partial.rename(marker)
    return True


def crash_a(state: CrashState) -> dict[str, Any]:
    note(state, "a")
    return {"x": state["x"] + 1}


async def crash_plain(state: CrashState) -> dict[str, Any]:
    note(state, "plain")
    with EffectLedger.sqlite(str(Path(state["dir"]) / "effects.db")) as ledger:
        async with ledger.aeffect("mail") as done:
            if not done:
                note(state, "mail")
    if _killed_here(state, "plain"):
        await asyncio.sleep(60)
    return {"x": state["x"] * 10}


def crash_flaky(state: CrashState) -> dict[str, Any]:
    calls = note(state, "flaky").count("flaky")
    if calls == 2 and _killed_here(state, "flaky"):
        time.sleep(60)  # the second attempt, after one failure
    note(state, "flaky-failed")
    raise ConnectionError("upstream down")


def crash_slow(state: CrashState) -> dict[str, Any]:
    note(state, "slow")
    if _killed_here(state, "slow"):
        time.sleep(60)  # longer than the timeout: killed first
    return {"x": state["x"] + 5}


def crash_idle(state: CrashState) -> dict[str, Any]:
    note(state, "idle")
    if _killed_here(state, "idle"):
        for _ in range(300):  # beating, so its idle limit never fires: killed first
            heartbeat()
            time.sleep(0.2)
    return {"x": state["x"] + 100}


async def crash_deadline(state: CrashState) -> dict[str, Any]:
    note(state, "deadline")
    if _killed_here(state, "deadline"):
        await asyncio.sleep(60)  # longer than the deadline: killed first
    return {"x": state["x"] + 1000}


async def crash_yours(state: CrashState) -> dict[str, Any]:
    """A node the package did not build."""
    note(state, "yours")
    if _killed_here(state, "yours"):
        await asyncio.sleep(60)
    return {"x": state["x"] + 10000}


async def crash_w(state: CrashState) -> dict[str, Any]:
    """Runs in the workflow: no side effect (a replay runs it again)."""
    return {"x": state["x"] + 1}


def crash_graph(retries: str = "temporal") -> StateGraph[Any, Any, Any, Any]:
    """``a -> w -> plain -> flaky -> slow -> idle -> deadline -> yours``, prepared."""
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(CrashState)
    builder.add_node("a", create_node(crash_a))
    builder.add_node("w", crash_w, metadata={"execute_in": "workflow"})
    builder.add_node("plain", create_node(crash_plain))
    retry = RetryConfig(max_attempts=3, initial_interval=0.01, max_interval=0.05)
    builder.add_node("flaky", create_node(crash_flaky, retry=retry))
    builder.add_node("slow", create_node(crash_slow, timeout=20))
    # Its own heartbeat timeout: the idle limit plus the grace (2.5 s here).
    builder.add_node("idle", create_node(crash_idle, timeout=TimeoutPolicy(idle_timeout=2)))
    builder.add_node("deadline", create_node(crash_deadline, deadline=30))
    builder.add_node("yours", crash_yours)
    order = ["a", "w", "plain", "flaky", "slow", "idle", "deadline", "yours"]
    for before, after in zip([START, *order], [*order, END], strict=True):
        builder.add_edge(before, after)
    mode: Any = retries  # "temporal" or "runner", from the command line
    return for_temporal(builder, retries=mode, heartbeat=HEARTBEAT, timeout_grace=0.5)


def worker(client: Client, queue: str) -> Worker:
    # A short sticky timeout: the workflow task moves to the next worker at once.
    return Worker(
        client,
        task_queue=queue,
        workflows=[CrashRun],
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
    )


async def serve(address: str, queue: str, name: str, retries: str) -> None:
    plugin = LangGraphPlugin(graphs={name: crash_graph(retries)})
    client = await Client.connect(address, plugins=[plugin])
    await worker(client, queue).run()


def main() -> None:
    """Serve until killed; first note (in ``WHERE/<pid>``) which ``langgraph_runner`` runs."""
    address, queue, name, retries, where = sys.argv[1:6]
    (Path(where) / str(os.getpid())).write_text(langgraph_runner.__file__, encoding="utf-8")
    asyncio.run(serve(address, queue, name, retries))
