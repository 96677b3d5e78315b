"""What the tenancy check costs a run: run() with and without the thread-ownership check.

A 1-node graph on a SQLite file (or ``--url``) checkpointer, run for a tenant. Two
cases: a new thread (the check writes the thread's owner row) and a thread run once
before (the check only reads the row). The baseline is the same ``run()`` with the
check switched off, in the same process; variants are interleaved, order flipped
every round, and the lower quartiles are compared.

    python benchmarks/tenancy.py [--rounds 40] [--url postgresql://...]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from langgraph.graph import START, StateGraph

from langgraph_runner import GraphState, create_node
from langgraph_runner._runs import lifecycle
from langgraph_runner._runs.checkpoint import open_checkpointer
from langgraph_runner._runs.tenancy import admit


def _no_check(*args: Any, **kwargs: Any) -> None:
    return None


def _timed(graph: Any, thread: str) -> float:
    config: Any = {"configurable": {"thread_id": thread}}
    start = time.perf_counter()
    lifecycle.run(graph, {}, config, tenant="acme")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--url", default=None, help="default: a new SQLite file")
    args = parser.parse_args()
    logging.getLogger("langgraph_runner").setLevel(logging.WARNING)
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/runs.db"
    g = StateGraph(GraphState)
    g.add_node("a", create_node(lambda s: {}, name="a"))
    g.add_edge(START, "a")
    checks: dict[str, Callable[..., None]] = {"off": _no_check, "on": admit}
    times: dict[tuple[str, str], list[float]] = {}
    with open_checkpointer(url) as saver:
        graph = g.compile(checkpointer=saver)
        for _ in range(5):  # warm up: connections, tables
            _timed(graph, f"bench-warm-{uuid.uuid4().hex}")
        for round_ in range(args.rounds):
            order = ["off", "on"] if round_ % 2 == 0 else ["on", "off"]
            for check in order:
                setattr(lifecycle, "admit", checks[check])  # noqa: B010
                new = f"bench-{uuid.uuid4().hex}"
                times.setdefault(("new thread", check), []).append(_timed(graph, new))
                times.setdefault(("existing thread", check), []).append(_timed(graph, new))
        setattr(lifecycle, "admit", admit)  # noqa: B010
    print(f"{url.split(':')[0]}, {args.rounds} rounds, lower quartile of run():")
    for case in ("new thread", "existing thread"):
        off, on = (statistics.quantiles(times[(case, c)], n=4)[0] * 1000 for c in ("off", "on"))
        print(
            f"  {case:16} {off:7.2f} ms without the check, {on:7.2f} ms with it (x{on / off:.2f})"
        )


if __name__ == "__main__":
    main()
