"""Example graphs for ``langgraph dev`` and LangGraph Studio (see ``examples/langgraph.json``).

Three compiled graphs, each built from ``create_node`` on a ``GraphState`` subclass:

- ``pipeline``: ``load`` succeeds, ``publish`` fails terminally with an HTTP 503 whose
  message carries a secret; the error record (redacted) and ``routing_flags.blocked``
  land in the thread state and the graph routes to ``recover``.
- ``approval``: ``draft`` writes a text, ``review`` asks a human with ``interrupt()``;
  the answer comes back through the API (``Command(resume=...)``).
- ``slow``: one long-running async node, ``crunch``, for cancelling a run with
  ``runs.cancel``. It writes marker files into the directory named by the
  ``marker_dir`` input (``started``, then ``finished`` or ``cancelled``).

Deterministic and offline: no network, no LLM, no randomness. The server compiles
these graphs with its own checkpointer, so they are compiled without one here.
"""

from __future__ import annotations

import asyncio
import operator
from pathlib import Path
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from langgraph_runner import GraphState, RetryConfig, create_node, route_on_blocked

__all__ = ["SECRET", "approval", "pipeline", "slow"]

# Tiny waits: the server cannot use langgraph_runner.testing.no_wait().
FAST_RETRY = RetryConfig(max_attempts=2, initial_interval=0.01, max_interval=0.01, jitter=0)
SECRET = "token=abc123"


class StudioState(GraphState, total=False):
    """State of the example graphs: GraphState's channels plus a few plain keys."""

    topic: str
    document: str
    status: str
    draft: str
    decision: dict[str, Any]
    marker_dir: str
    seconds: float
    log: Annotated[list[str], operator.add]


# --- pipeline ----------------------------------------------------------------------------


class UpstreamError(Exception):
    """What an HTTP client raises; ``status_code`` makes it classifiable (5xx: retryable)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def load(state: StudioState) -> dict[str, Any]:
    """Always succeeds."""
    topic = state.get("topic", "report")
    return {"document": f"contents of {topic}", "log": ["load: ok"]}


def publish(state: StudioState) -> dict[str, Any]:
    """Always fails with a 503 whose message carries a secret that must never be stored."""
    raise UpstreamError(
        f"publish API returned 503 for {SECRET}: service unavailable", status_code=503
    )


def done(state: StudioState) -> dict[str, Any]:
    """Reached only when publish succeeded."""
    return {"status": "published", "log": ["done: published"]}


def recover(state: StudioState) -> dict[str, Any]:
    """Recovery: note which nodes failed; the flags stay visible in the thread state."""
    failed = sorted({e["node"] for e in state.get("errors", [])})
    return {"status": "needs_review", "log": [f"recover: flagged {failed} for review"]}


def _build_pipeline() -> StateGraph[StudioState]:
    g: StateGraph[StudioState] = StateGraph(StudioState)
    g.add_node("load", create_node(load))
    g.add_node("publish", create_node(publish, retry=FAST_RETRY))
    g.add_node("done", create_node(done))
    g.add_node("recover", create_node(recover))
    g.add_edge(START, "load")
    g.add_edge("load", "publish")
    g.add_conditional_edges("publish", route_on_blocked("done", "recover"))
    g.add_edge("done", END)
    g.add_edge("recover", END)
    return g


# --- approval ----------------------------------------------------------------------------


def draft(state: StudioState) -> dict[str, Any]:
    """Write the text a human has to approve."""
    return {"draft": f"Announcement about {state.get('topic', 'report')}", "log": ["draft: ok"]}


def review(state: StudioState) -> dict[str, Any]:
    """Ask a human; the run pauses here until it is resumed with an answer."""
    answer = interrupt({"question": "Publish this draft?", "draft": state.get("draft", "")})
    approved = bool(answer.get("approved")) if isinstance(answer, dict) else bool(answer)
    comment = str(answer.get("comment", "")) if isinstance(answer, dict) else ""
    return {
        "decision": {"approved": approved, "comment": comment},
        "status": "approved" if approved else "rejected",
        "log": [f"review: {'approved' if approved else 'rejected'}"],
    }


def _build_approval() -> StateGraph[StudioState]:
    g: StateGraph[StudioState] = StateGraph(StudioState)
    g.add_node("draft", create_node(draft))
    g.add_node("review", create_node(review, retry=FAST_RETRY))
    g.add_edge(START, "draft")
    g.add_edge("draft", "review")
    g.add_edge("review", END)
    return g


# --- slow --------------------------------------------------------------------------------


async def _append(path: Path, line: str) -> None:
    # The dev server flags blocking I/O on the event loop, so file writes go to a thread.
    def write() -> None:
        with path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    await asyncio.to_thread(write)


async def crunch(state: StudioState) -> dict[str, Any]:
    """Work for ``seconds`` (default 60) in small steps; cancellable at every step."""
    seconds = float(state.get("seconds", 60.0))
    marker_dir = state.get("marker_dir")
    markers = Path(marker_dir) if marker_dir else None
    if markers is not None:
        await _append(markers / "started", "started")
    steps = max(1, round(seconds / 0.05))
    try:
        for _ in range(steps):  # stands for work done in small awaited chunks
            await asyncio.sleep(seconds / steps)
    except asyncio.CancelledError:
        if markers is not None:
            await _append(markers / "cancelled", "cancelled")
        raise
    if markers is not None:
        await _append(markers / "finished", "finished")
    return {"status": "finished", "log": [f"crunch: worked {seconds:g}s"]}


def _build_slow() -> StateGraph[StudioState]:
    g: StateGraph[StudioState] = StateGraph(StudioState)
    g.add_node("crunch", create_node(crunch, retry=FAST_RETRY))
    g.add_edge(START, "crunch")
    g.add_edge("crunch", END)
    return g


pipeline = _build_pipeline().compile()
approval = _build_approval().compile()
slow = _build_slow().compile()
