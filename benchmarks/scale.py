"""Scale: a 10,000-way Send fan-out, and run_report on a 10,000-step thread.

Fan-out: a start node sends 10,000 ``Send("work", ...)`` tasks into one superstep.
The bare graph's ``work`` is a plain function; the wrapped graph's is
``create_node(work, retry=RetryConfig(max_attempts=3), metrics=collector)``. Rounds
alternate (bare first, then wrapped first) and the median invocation of each is
compared, in wall time and in process CPU time. Resident memory is read after the
warm-up and after every round, then around a million more records on the collector
alone: it keeps a bounded window per node, so it stays flat however many calls it counts.

Report: a loop graph of wrapped nodes runs 10,000 supersteps on one thread with a
SQLite checkpointer (a few terminal failures leave error records). ``run_report`` is
timed from the compiled graph and from the bare saver, against reading the same
history once (``list(graph.get_state_history(config))`` and ``list(saver.list(config))``).

    python benchmarks/scale.py [--fanout 10000] [--rounds 7] [--steps 10000] [--repeat 3]
                               [--only fanout|report]
"""

from __future__ import annotations

import argparse
import gc
import operator
import os
import resource
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Annotated, Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from typing_extensions import TypedDict

from langgraph_runner import GraphState, RetryConfig, create_node
from langgraph_runner.metrics import NodeMetricsCollector
from langgraph_runner.runs import run_report

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    """Current resident set size of this process, in MB (Linux /proc/self/statm)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


def peak_rss_mb() -> float:
    """Peak resident set size so far, in MB (ru_maxrss is in kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


# --- fan-out -------------------------------------------------------------------------------


class FanState(TypedDict, total=False):
    n: int
    done: Annotated[int, operator.add]


class Item(TypedDict):
    i: int


def work(item: Item) -> dict[str, Any]:
    return {"done": 1}


def build_fanout(node: Callable[..., Any]) -> Any:
    def spread(state: FanState) -> list[Send]:
        return [Send("work", {"i": i}) for i in range(state["n"])]

    g = StateGraph(FanState)
    g.add_node("work", node)
    g.add_conditional_edges(START, spread, ["work"])
    g.add_edge("work", END)
    return g.compile()


def timed(graph: Any, n: int) -> tuple[float, float]:
    """Wall time and process CPU time (all threads) of one invocation."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = graph.invoke({"n": n, "done": 0})
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert out["done"] == n, out
    return elapsed, cpu


def fanout(n: int, rounds: int) -> None:
    collector = NodeMetricsCollector(graph="fanout")
    retry = RetryConfig(max_attempts=3)
    wrapped_node = create_node(work, name="work", retry=retry, metrics=collector)
    graphs = {"bare": build_fanout(work), "wrapped": build_fanout(wrapped_node)}
    timed(graphs["bare"], n)  # warm-up: imports, caches, allocator arenas
    timed(graphs["wrapped"], n)
    times: dict[str, list[tuple[float, float]]] = {"bare": [], "wrapped": []}
    rss = [rss_mb()]
    for r in range(rounds):
        for name in ("bare", "wrapped") if r % 2 == 0 else ("wrapped", "bare"):
            times[name].append(timed(graphs[name], n))
        gc.collect()
        rss.append(rss_mb())
    metrics = collector.get_node_metrics("work")
    print(f"{n:,}-way Send fan-out, {rounds} alternating rounds, median invocation")
    for i, clock in enumerate(("wall", "CPU")):
        bare = statistics.median(t[i] for t in times["bare"])
        wrapped = statistics.median(t[i] for t in times["wrapped"])
        pairs = zip(times["bare"], times["wrapped"], strict=True)
        ratios = sorted(w[i] / b[i] for b, w in pairs)
        print(f"  {clock} time")
        print(f"    bare LangGraph               {bare:7.3f} s   1.000")
        print(
            f"    create_node(retry, metrics)  {wrapped:7.3f} s   {wrapped / bare:.3f}"
            f"  ({(wrapped - bare) / n * 1e6:+.1f} us/task)"
        )
        print(f"    per-round ratios {', '.join(f'{x:.3f}' for x in ratios)}")
    print(
        f"  collector: {metrics.total_executions:,} calls counted,"
        f" window {metrics.sample_count}/{metrics.window_size} samples"
    )
    print(f"  RSS after each round (MB): {' '.join(f'{x:.1f}' for x in rss)}")
    # The collector alone: a million more successes on the same node.
    gc.collect()
    before = rss_mb()
    for _ in range(1_000_000):
        collector.record_success("work", 0.05)
    metrics = collector.get_node_metrics("work")
    gc.collect()
    print(
        f"  collector alone, 1,000,000 more records: RSS {before:.1f} -> {rss_mb():.1f} MB,"
        f" window {metrics.sample_count}/{metrics.window_size}; peak RSS {peak_rss_mb():.1f} MB"
    )


# --- report on a long thread -----------------------------------------------------------------


class LoopState(GraphState, total=False):
    i: int
    limit: int


def step_a(state: LoopState) -> dict[str, Any]:
    return {"i": state.get("i", 0) + 1}


def step_b(state: LoopState) -> dict[str, Any]:
    i = state.get("i", 0) + 1
    if len(state.get("errors", [])) < i // 2000:  # every 2,000: an error record in the thread
        raise ValueError(f"bad row at {i}")
    return {"i": i}


def build_loop(saver: SqliteSaver) -> Any:
    once = RetryConfig(max_attempts=1)

    def again(state: LoopState) -> str:
        return "a" if state.get("i", 0) < state["limit"] else END

    g = StateGraph(LoopState)
    g.add_node("a", create_node(step_a, retry=once))
    g.add_node("b", create_node(step_b, retry=once))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_conditional_edges("b", again, ["a", END])
    return g.compile(checkpointer=saver)


def report(steps: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(os.path.join(tmp, "checkpoints.db"), check_same_thread=False)
        saver = SqliteSaver(conn)
        graph = build_loop(saver)
        config: Any = {"configurable": {"thread_id": "long"}, "recursion_limit": steps + 10}
        t0 = time.perf_counter()
        graph.invoke({"i": 0, "limit": steps - 1}, config)
        built = time.perf_counter() - t0
        checkpoints = sum(1 for _ in saver.list(config))
        print(f"\nThread of {checkpoints:,} checkpoints on SQLite (built in {built:.1f} s)")
        # Each case returns something small: holding 10,000 snapshots between cases
        # would make every later case pay for the garbage collector walking them.
        cases: dict[str, Callable[[], Any]] = {
            "baseline: list(graph.get_state_history())": lambda: len(
                list(graph.get_state_history(config))
            ),
            "run_report(graph, config)": lambda: run_report(graph, config),
            "baseline: list(saver.list())": lambda: len(list(saver.list(config))),
            "run_report(saver, config)": lambda: run_report(saver, config),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        rep: Any = None
        for _ in range(repeat):
            for name, fn in cases.items():
                gc.collect()
                t0 = time.perf_counter()
                out = fn()
                times[name].append(time.perf_counter() - t0)
                if name == "run_report(graph, config)":
                    rep = out
                del out
        print(
            f"  report: status {rep.status}, step {rep.step}, {len(rep.errors)} error records,"
            f" runs {', '.join(f'{n.name}={n.runs}' for n in rep.nodes)}"
        )
        print(f"  best and median of {repeat}, ratio of the best to the baseline above it:")
        base = 1.0
        for name in cases:
            best, median = min(times[name]), statistics.median(times[name])
            if name.startswith("baseline"):
                base = best
            print(f"    {name:<44} {best:6.3f} s  {median:6.3f} s   {best / base:.2f}")
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fanout", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["fanout", "report"])
    args = parser.parse_args()
    if args.only != "report":
        fanout(args.fanout, args.rounds)
    if args.only != "fanout":
        report(args.steps, args.repeat)


if __name__ == "__main__":
    main()
