"""Overhead of create_node on a 20-node chain: bare vs create_node(retry=3) vs RetryPolicy.

These machines are noisy, so the variants are interleaved: each round runs one
invocation of every variant (the order flipped every round), and the lower
quartile of each variant's times is compared. Logs are filtered (the default).

    python benchmarks/overhead.py [--rounds 400]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy
from typing_extensions import TypedDict

from langgraph_runner import create_node

N_NODES = 20


class S(TypedDict, total=False):
    x: int


def step(state: S) -> dict[str, Any]:
    return {"x": state.get("x", 0) + 1}


async def astep(state: S) -> dict[str, Any]:
    return {"x": state.get("x", 0) + 1}


def build(kind: str, fn: Callable[..., Any], **node_kwargs: Any) -> Any:
    g = StateGraph(S)
    prev = START
    for i in range(N_NODES):
        name = f"n{i}"
        if kind == "wrapped":
            g.add_node(name, create_node(fn, retry=3, **node_kwargs))
        elif kind == "native":
            g.add_node(name, fn, retry_policy=RetryPolicy(max_attempts=3))
        else:
            g.add_node(name, fn)
        g.add_edge(prev, name)
        prev = name
    g.add_edge(prev, END)
    return g.compile()


def lower_quartile(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=4)[0]


def measure(variants: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for _ in range(20):  # warm-up
        for fn in variants.values():
            fn()
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            t0 = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - t0)
    return {k: lower_quartile(v) for k, v in times.items()}


async def ameasure(variants: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for _ in range(20):
        for fn in variants.values():
            await fn()
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            t0 = time.perf_counter()
            await variants[name]()
            times[name].append(time.perf_counter() - t0)
    return {k: lower_quartile(v) for k, v in times.items()}


def report(case: str, q: dict[str, float]) -> None:
    bare = q["bare"]
    for kind in ("native", "wrapped"):
        per_node_us = (q[kind] - bare) / N_NODES * 1e6
        print(
            f"{case:<8} {kind:<8} ratio vs bare = {q[kind] / bare:.3f}  "
            f"(bare {bare * 1e3:.2f} ms, {kind} {q[kind] * 1e3:.2f} ms, "
            f"{per_node_us:+.1f} us/node)  goal wrapped <= 1.03"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()
    graphs = {k: build(k, step) for k in ("bare", "native", "wrapped")}
    q = measure({k: (lambda g=g: g.invoke({"x": 0})) for k, g in graphs.items()}, args.rounds)
    report("invoke", q)
    agraphs = {k: build(k, astep) for k in ("bare", "native", "wrapped")}
    q = asyncio.run(
        ameasure({k: (lambda g=g: g.ainvoke({"x": 0})) for k, g in agraphs.items()}, args.rounds)
    )
    report("ainvoke", q)


if __name__ == "__main__":
    main()
