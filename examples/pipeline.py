"""The example pipeline: a success, a retried success and a recorded failure routed to recovery.

Runs on the embedded SQLite checkpointer (``examples/.runs/pipeline.db``) and prints the
final error records and routing flags. Run it with ``bash scripts/run-example.sh``.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, RetryConfig, create_node, route_on_blocked, update_state

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


def build(summarizer: FlakySummarizer | None = None) -> StateGraph[PipelineState]:
    """The pipeline graph (uncompiled)."""
    fast = RetryConfig(max_attempts=3, initial_interval=0.05, max_interval=0.2)
    g: StateGraph[PipelineState] = StateGraph(PipelineState)
    g.add_node("load", create_node(load))
    g.add_node(
        "summarize", create_node(summarizer or FlakySummarizer(), name="summarize", retry=fast)
    )
    g.add_node("publish", create_node(publish, retry=fast))
    g.add_node("recover", recover)
    g.add_node("done", lambda s: {"published": True})
    g.add_edge(START, "load")
    g.add_edge("load", "summarize")
    g.add_edge("summarize", "publish")
    g.add_conditional_edges("publish", route_on_blocked("done", "recover"))
    g.add_edge("recover", END)
    g.add_edge("done", END)
    return g


def main() -> int:
    DB_PATH.parent.mkdir(parents=True, exist_ok=True)
    thread_id = f"pipeline-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread_id, "trace_id": thread_id}}
    with SqliteSaver.from_conn_string(str(DB_PATH)) as saver:
        graph = build().compile(checkpointer=saver)
        final = graph.invoke({"url": "https://example.invalid/report"}, config)
    print(f"thread: {thread_id}  (checkpoints in {DB_PATH})")
    print("log:")
    for line in final.get("log", []):
        print(f"  - {line}")
    print("routing_flags:", json.dumps(final.get("routing_flags", {}), sort_keys=True))
    print("errors:")
    for record in final.get("errors", []):
        shown = {k: record[k] for k in ("node", "code", "category", "attempts", "message")}
        print("  " + json.dumps(shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
