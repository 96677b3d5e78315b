"""Run report time on a long thread read from PostgreSQL (or SQLite), vs reading the rows.

Writes one thread of ``--steps`` supersteps (a node that loops on itself, one task
per step, through ``run()``), then times ``run_report(saver, thread)`` (a bare saver,
as the CLI reads it) and ``run_report(graph, thread)``, each against the same run's
baseline: ``list(saver.list(config))``, the raw read of the thread's checkpoints and
writes that any report must do. Times are the best of ``--repeat``.

    python benchmarks/report_scale.py [--steps 10000] [--url postgresql://...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, create_node
from langgraph_runner.runs import open_checkpointer, run, run_report


class S(GraphState, total=False):
    n: int


def build(saver: Any, steps: int) -> Any:
    def tick(state: S) -> dict[str, Any]:
        return {"n": state.get("n", 0) + 1}

    g = StateGraph(S)
    g.add_node("tick", create_node(tick))
    g.add_edge(START, "tick")
    g.add_conditional_edges("tick", lambda s: "tick" if s["n"] < steps else END, ["tick", END])
    return g.compile(checkpointer=saver)


def best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    thread = f"bench-report-{uuid.uuid4().hex[:8]}"
    config: Any = {"configurable": {"thread_id": thread}, "recursion_limit": args.steps + 10}
    with open_checkpointer(args.url) as saver:
        graph = build(saver, args.steps)
        t0 = time.perf_counter()
        result = run(graph, {"n": 0}, config, durability="sync")
        wrote = time.perf_counter() - t0
        try:
            raw = best(lambda: list(saver.list({"configurable": {"thread_id": thread}})), 2)
            bare = best(lambda: run_report(saver, thread), args.repeat)
            with_graph = best(lambda: run_report(graph, thread), args.repeat)
            report = run_report(saver, thread)
        finally:
            saver.delete_thread(thread)
    print(
        f"{args.url.split(':', 1)[0]}: thread of {args.steps} steps ({result.status}), "
        f"written in {wrote:.1f} s"
    )
    print(
        f"report has {report.nodes[0].runs} runs of {report.nodes[0].name}, status {report.status}"
    )
    print(f"raw read (saver.list)      {raw * 1000:8.0f} ms  x1.00")
    print(f"run_report(saver, thread)  {bare * 1000:8.0f} ms  x{bare / raw:.2f}")
    print(f"run_report(graph, thread)  {with_graph * 1000:8.0f} ms  x{with_graph / raw:.2f}")


if __name__ == "__main__":
    main()
