"""The example pipeline: a success, a retried success and a recorded failure routed to recovery.

Runs on the embedded SQLite checkpointer (``examples/.runs/pipeline.db``, opened with
``open_checkpointer``), prints the final error records and routing flags, one metrics line
per wrapped node, and ends with the run report read back from the checkpoints (what
``langgraph-runner report`` prints). Run it with ``bash scripts/run-example.sh``.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from langgraph_runner import (
    CircuitBreaker,
    CircuitBreakerConfig,
    GraphState,
    NodeCache,
    RetryConfig,
    node_factory,
    route_on_blocked,
    update_state,
)
from langgraph_runner.metrics import METRICS_COLLECTOR_KEY, NodeMetricsCollector
from langgraph_runner.runs import open_checkpointer, run_report

DB_PATH = Path(os.environ.get("PIPELINE_DB", Path(__file__).parent / ".runs" / "pipeline.db"))


class PipelineState(GraphState, total=False):
    url: str
    document: str
    summary: str
    published: bool
    log: list[str]


def load(state: PipelineState) -> dict[str, Any]:
    """Always succeeds."""
    return {"document": f"contents of {state['url']}", "log": ["load: ok"]}


class FlakySummarizer:
    """Fails twice with a connection reset, then succeeds: retried by the wrapper."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, state: PipelineState) -> dict[str, Any]:
        self.calls += 1
        if self.calls < 3:
            raise ConnectionResetError(f"summarizer reset the connection (call {self.calls})")
        return {
            "summary": state["document"].upper(),
            "log": [*state.get("log", []), f"summarize: ok after {self.calls} attempts"],
        }


class UpstreamError(Exception):
    """What an HTTP client raises; status_code makes it classifiable (5xx: retryable)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def publish(state: PipelineState) -> dict[str, Any]:
    """Always fails with a 503; the message carries a secret that must never be stored."""
    raise UpstreamError(
        "publish API returned 503 for token=sk-demo-1234567890abcdefghij: service unavailable",
        status_code=503,
    )


def recover(state: PipelineState) -> dict[str, Any]:
    """Recovery: note the failure and clear the blocked flag."""
    failed = [e["node"] for e in state.get("errors", [])]
    return update_state(
        state,
        {
            "routing_flags": {"blocked": None, "needs_review": True},
            "log": [*state.get("log", []), f"recover: flagged {failed} for review"],
        },
    )


NodeWrapper = Callable[[str, Callable[..., Any]], Callable[..., Any]]


def _same(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn


def build(
    summarizer: FlakySummarizer | None = None,
    *,
    load_cache: NodeCache | None = None,
    publish_breaker: CircuitBreaker | None = None,
    wrap: NodeWrapper | None = None,
) -> StateGraph[PipelineState]:
    """The pipeline graph (uncompiled).

    ``load_cache`` caches ``load`` (e.g. a ``NodeCache`` on Redis shared by workers);
    ``publish_breaker`` replaces publish's own breaker (e.g. one shared through Redis);
    ``wrap(name, fn)`` may replace each node function before it is wrapped (used by
    ``examples/workers.py`` to add I/O time and a side-effect ledger).
    """
    w = wrap or _same
    # Graph-wide defaults: fast retries, a 5 s limit per attempt, a breaker per node.
    make = node_factory(
        retry=RetryConfig(max_attempts=3, initial_interval=0.05, max_interval=0.2),
        timeout=5.0,
        circuit_breaker=CircuitBreakerConfig(failure_threshold=5, recovery_timeout=30.0),
    )
    g: StateGraph[PipelineState] = StateGraph(PipelineState)
    # per-node arguments win: one attempt
    g.add_node("load", make(w("load", load), retry=None, cache=load_cache))
    g.add_node("summarize", make(w("summarize", summarizer or FlakySummarizer()), name="summarize"))
    shared = {"circuit_breaker": publish_breaker} if publish_breaker is not None else {}
    g.add_node("publish", make(w("publish", publish), **shared))
    g.add_node("recover", w("recover", recover))
    g.add_node("done", w("done", lambda s: {"published": True}))
    g.add_edge(START, "load")
    g.add_edge("load", "summarize")
    g.add_edge("summarize", "publish")
    g.add_conditional_edges("publish", route_on_blocked("done", "recover"))
    g.add_edge("recover", END)
    g.add_edge("done", END)
    return g


def compile_pipeline(
    checkpointer: BaseCheckpointSaver[Any],
    *,
    load_cache: NodeCache | None = None,
    publish_breaker: CircuitBreaker | None = None,
    wrap: NodeWrapper | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """One run's graph on ``checkpointer``: build it per run (or per resume).

    The summarizer counts its calls and each node's breaker counts failures, so a graph
    reused for many runs would behave differently on later runs than on the first.
    """
    graph = build(
        FlakySummarizer(), load_cache=load_cache, publish_breaker=publish_breaker, wrap=wrap
    )
    return graph.compile(checkpointer=checkpointer)


def _progress(output: Any) -> str:
    """One line about a node's output: done, or the error it recorded."""
    errors = (output or {}).get("errors") or []
    if errors:
        last = errors[-1]
        return f"recorded {last['code']} after {last['attempts']} attempt(s); routing on"
    return "done"


def main() -> int:
    thread_id = f"pipeline-{uuid.uuid4().hex[:8]}"
    url = f"sqlite:///{DB_PATH}"
    metrics = NodeMetricsCollector()
    config: Any = {
        "configurable": {
            "thread_id": thread_id,
            "trace_id": thread_id,
            METRICS_COLLECTOR_KEY: metrics,
        }
    }
    print(f"running the pipeline on thread {thread_id} (checkpoints in {DB_PATH})", flush=True)
    with open_checkpointer(url) as saver:
        graph = build().compile(checkpointer=saver)
        # stream_mode="updates" yields each node's output as soon as the node finishes.
        for update in graph.stream({"url": "https://example.invalid/report"}, config):
            for node, output in update.items():
                print(f"  {node:<10} {_progress(output)}", flush=True)
        final = graph.get_state(config).values
        report = run_report(graph, config)
    print(f"\nthread: {thread_id}  (checkpoints in {DB_PATH})")
    print("log:")
    for line in final.get("log", []):
        print(f"  - {line}")
    print("routing_flags:", json.dumps(final.get("routing_flags", {}), sort_keys=True))
    print("errors:")
    for record in final.get("errors", []):
        shown = {k: record[k] for k in ("node", "code", "category", "attempts", "message")}
        print("  " + json.dumps(shown))
    print("metrics:")
    for node, m in metrics.get_all_node_metrics().items():
        print(
            f"  {node:<10} success={m.success_count} failure={m.failure_count} "
            f"retries={m.retry_count} p50={m.p50_ms:.1f} ms"
        )
    print(f"\nrun report (langgraph-runner report --checkpointer {url} --thread {thread_id}):")
    print(report.to_table(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
