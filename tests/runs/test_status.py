"""_runs/status.py: one RunStatus for run results and run reports."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState
from langgraph_runner.runs import RunStatus, run, run_report


def _graph() -> Any:
    g = StateGraph(GraphState)
    g.add_node("n", lambda state: {})
    g.add_edge(START, "n")
    g.add_edge("n", END)
    return g.compile(checkpointer=InMemorySaver())


def test_members_are_the_strings_they_replace() -> None:
    """Each member equals, prints and formats as its old string value."""
    for value in ("completed", "failed", "blocked", "interrupted", "cancelled", "running"):
        status = RunStatus(value)
        assert status == value
        assert (str(status), f"{status}") == (value, value)


def test_run_result_and_report_share_the_type() -> None:
    """run() and run_report() both answer with a RunStatus that compares to the old strings."""
    graph = _graph()
    config = {"configurable": {"thread_id": "status-1"}}
    result = run(graph, {}, config)
    assert type(result.status) is RunStatus
    assert result.status == "completed"
    report = run_report(graph.checkpointer, "status-1")
    assert type(report.status) is RunStatus
    assert report.status is RunStatus.COMPLETED
