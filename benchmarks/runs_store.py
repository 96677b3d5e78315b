"""What the runs table costs a run on a checkpointer: graph.invoke vs run().

A 5-node chain on a SQLite file (or ``--url``) checkpointer, a new thread per
invocation. ``run()`` adds its bookkeeping: the thread lock, one row in the runs
table (opened on its own connection, written at the start and the end) and the
cancel-flag poller, and each node's start and end as they happen (``task_times``: two
statements a node; the third variant turns them off, so their cost per node is the
difference over 5). Variants are interleaved, order flipped every round; the lower
quartile of each is compared with ``graph.invoke`` in the same run.

    python benchmarks/runs_store.py [--rounds 100] [--url postgresql://...]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import uuid
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, create_node
from langgraph_runner._runs.tracker import Tracker
from langgraph_runner.runs import open_checkpointer, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--url", default=None, help="default: a new SQLite file")
    args = parser.parse_args()
    logging.getLogger("langgraph_runner").setLevel(logging.WARNING)
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/runs.db"
    g = StateGraph(GraphState)
    prev = START
    for i in range(5):
        g.add_node(f"n{i}", create_node(lambda s: {}, name=f"n{i}"))
        g.add_edge(prev, f"n{i}")
        prev = f"n{i}"
    g.add_edge(prev, END)
    times: dict[str, list[float]] = {"invoke": [], "run": [], "quiet": []}
    with open_checkpointer(url) as saver:
        graph = g.compile(checkpointer=saver)

        def invoke() -> Any:
            return graph.invoke({}, {"configurable": {"thread_id": uuid.uuid4().hex}})

        def with_run() -> Any:
            return run(graph, {}, {"configurable": {"thread_id": uuid.uuid4().hex}})

        def no_live_times() -> Any:
            Tracker.live = False
            try:
                return with_run()
            finally:
                Tracker.live = True

        variants = [("invoke", invoke), ("run", with_run), ("quiet", no_live_times)]
        for _ in range(5):  # warm up
            invoke(), with_run(), no_live_times()
        for i in range(args.rounds):
            for name, fn in variants if i % 2 else variants[::-1]:
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    q = {k: statistics.quantiles(v, n=4)[0] for k, v in times.items()}
    print(f"{url.split(':', 1)[0]}, 5-node chain, {args.rounds} rounds (lower quartile):")
    print(f"graph.invoke  {q['invoke'] * 1000:6.2f} ms  x1.00")
    print(f"run()         {q['run'] * 1000:6.2f} ms  x{q['run'] / q['invoke']:.2f}")
    print(f"run(), no live node times {q['quiet'] * 1000:6.2f} ms  x{q['quiet'] / q['invoke']:.2f}")
    per_node = (q["run"] - q["quiet"]) / 5 * 1000
    print(f"live node times: {per_node:+.3f} ms a node")


if __name__ == "__main__":
    main()
