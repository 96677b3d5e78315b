"""``report --follow`` (langgraph_runner._cli.follow): node by node, x of N, until the run ends."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, create_node
from langgraph_runner._cli.follow import follow
from langgraph_runner.runs import open_checkpointer, run, run_report


def test_follow_says_running_only_for_scheduled_steps_and_ends_with_x_of_n(tmp_path: Path) -> None:
    """Steps not reached yet are not 'running'; the last line says how many of N steps ran."""

    def step(name: str) -> Any:
        def body(state: GraphState) -> dict[str, Any]:
            time.sleep(0.15)
            return {}

        body.__name__ = name
        return create_node(body)

    g = StateGraph(GraphState)
    for name in ("a", "b", "c"):
        g.add_node(name, step(name))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    g.add_edge("c", END)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    out = io.StringIO()
    with open_checkpointer(url) as saver, open_checkpointer(url) as reader:
        graph = g.compile(checkpointer=saver)
        worker = threading.Thread(
            target=run, args=(graph, {}, {"configurable": {"thread_id": "f"}}), daemon=True
        )
        worker.start()
        follow(lambda: run_report(reader, "f"), "f", out=out, interval=0.02, timeout=30, live=False)
        worker.join()
    lines = [line.strip() for line in out.getvalue().splitlines()]
    assert lines[-1] == "thread f: completed at step 3, 3 of 3 steps done"
    events = [line for line in lines if ": " in line and not line.startswith("thread")]
    for name in ("b", "c"):  # a step is running only once the one before it succeeded
        before = events.index(f"{chr(ord(name) - 1)}: succeeded")
        assert events.index(f"{name}: running") > before, events
    assert "c: pending" not in events or events.index("c: pending") < events.index("a: succeeded")
