"""Cost of the run helper on a 20-node chain: graph.invoke vs run() vs run(time_limit=).

Variants are interleaved (one invocation of each per round, order flipped every
round) and the lower quartile of each variant's times is compared with
``graph.invoke`` measured in the same run. Nodes read ``get_node_context()`` so
the run identity is built on every call. Logs are filtered (the default).

    python benchmarks/runs.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_runner import create_node, get_node_context
from langgraph_runner.runs import run

N_NODES = 20


class S(TypedDict, total=False):
    x: int
    trace: str


def step(state: S) -> dict[str, Any]:
    ctx = get_node_context()
    return {"x": state.get("x", 0) + 1, "trace": ctx.trace_id if ctx else ""}


def build() -> Any:
    g = StateGraph(S)
    prev = START
    for i in range(N_NODES):
        g.add_node(f"n{i}", create_node(step, name=f"n{i}"))
        g.add_edge(prev, f"n{i}")
        prev = f"n{i}"
    g.add_edge(prev, END)
    return g.compile()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    rounds = parser.parse_args().rounds
    graph = build()
    variants: dict[str, Callable[[], Any]] = {
        "graph.invoke": lambda: graph.invoke({"x": 0}),
        "run()": lambda: run(graph, {"x": 0}),
        "run(time_limit=60)": lambda: run(graph, {"x": 0}, time_limit=60.0),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names if r % 2 else reversed(names):
            t0 = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - t0)
    base = statistics.quantiles(times["graph.invoke"], n=4)[0]
    print(f"{N_NODES}-node chain, {rounds} rounds, lower quartile per invocation")
    for name in names:
        q1 = statistics.quantiles(times[name], n=4)[0]
        print(f"  {name:<20} {q1 * 1000:8.3f} ms  x{q1 / base:.2f}")


if __name__ == "__main__":
    main()
