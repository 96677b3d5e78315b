"""`langgraph-runner runs` listing time on a checkpointer holding many threads.

Makes ``--threads`` threads, each one recorded run (``run()``, a two-step graph,
tenants alternating) on SQLite or PostgreSQL, then times what ``runs`` does: the
runs table read (``list_runs``), the runs plus the threads no run recorded
(``rows_of``, the CLI's query) and the rich table it prints. The baseline measured in
the same run is one ``run_report`` of a single thread. Best of ``--repeat``.

    python benchmarks/runs_list.py [--threads 1000] [--url sqlite:///...] [--repeat 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from typing import Any

from langgraph.graph import START, StateGraph

from langgraph_runner import GraphState, create_node
from langgraph_runner._cli.runs import render_runs, rows_of
from langgraph_runner.runs import list_runs, open_checkpointer, run, run_report


def best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--url", default=None, help="default: a new SQLite file")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/runs.db"
    g = StateGraph(GraphState)
    g.add_node("a", create_node(lambda s: {}, name="a"))
    g.add_node("b", create_node(lambda s: {}, name="b"))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    tag = uuid.uuid4().hex[:6]
    threads = [f"bench-runs-{tag}-{i:05d}" for i in range(args.threads)]
    with open_checkpointer(url) as saver:
        graph = g.compile(checkpointer=saver)
        t0 = time.perf_counter()
        for i, thread in enumerate(threads):
            tenant = "acme" if i % 2 else "globex"
            run(graph, {}, {"configurable": {"thread_id": thread}}, tenant=tenant)
        wrote = time.perf_counter() - t0
        try:
            one = best(lambda: run_report(saver, threads[0]), args.repeat)
            table = best(lambda: list_runs(saver, limit=args.threads), args.repeat)
            rows = best(lambda: rows_of(saver, None, None, args.threads), args.repeat)
            listed = rows_of(saver, None, None, args.threads)
            text = best(lambda: render_runs(listed), args.repeat)
            acme = best(lambda: list_runs(saver, tenant="acme", limit=args.threads), args.repeat)
        finally:
            if args.url:
                for thread in threads:
                    saver.delete_thread(thread)
    print(f"{url.split(':', 1)[0]}: {args.threads} threads written in {wrote:.1f} s")
    print(f"one run_report (baseline)        {one * 1000:7.1f} ms  x1.00")
    print(f"list_runs, {args.threads} runs            {table * 1000:7.1f} ms  x{table / one:.2f}")
    print(f"list_runs, one tenant            {acme * 1000:7.1f} ms  x{acme / one:.2f}")
    print(f"runs + unrecorded threads (CLI)  {rows * 1000:7.1f} ms  x{rows / one:.2f}")
    print(f"rich table of {len(listed)} rows           {text * 1000:7.1f} ms  x{text / one:.2f}")


if __name__ == "__main__":
    main()
