"""Cost of a terminal failure: a bare raise vs create_node in record and raise mode.

One compiled one-node graph per variant, no checkpointer, no retries
(``retry=None``): what is measured is the failure path itself. Logs are filtered
(the package logger set above ERROR, as an app that does not want node events
would) unless ``--logs stderr``: unconfigured, each failure prints one line to
stderr through Python's last-resort handler, which costs what writing the line
costs. The variants are interleaved (one invocation of each per round, order
flipped every round) because these machines are noisy; medians are compared.
A breakdown times the pieces the wrapper runs on a failure, each alone.

Two measures. The node's own time: how long LangGraph's call of the node's
``invoke`` takes inside the running graph, from the call to the raise (bare, or
``on_error="raise"``) or to the returned record (``on_error="record"``), with a
``NodeMetricsCollector`` in the config. That is the failure path (sanitize, stack,
classify, log, metrics) and what the goal is about. The whole invocation: the same
graphs end to end, where a recorded failure also pays LangGraph to store the
record and finish the run, which a raise skips.

    python benchmarks/error_path.py [--rounds 2000] [--logs filtered|stderr]

Goal (issue 15): the wrapped node's median time <= the bare node's + 60 us.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import time
import timeit
import traceback
from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, RetryConfig, create_node
from langgraph_runner._engine.records import (
    code_and_category,
    error_code,
    record_state,
    redact_exception,
)
from langgraph_runner._records.classify import classify_failure
from langgraph_runner._records.sanitize import _sanitize, sanitize_message, sanitize_stack
from langgraph_runner.metrics import METRICS_COLLECTOR_KEY, NodeMetricsCollector

MESSAGE = "upstream returned 503 Service Unavailable for GET https://api.example.com/v1/items"


class S(GraphState, total=False):
    x: int


def failing(state: S) -> S:
    raise ConnectionError(MESSAGE)


def succeeding(state: S) -> S:
    return {"x": 2}


RECORD_UPDATE: dict[str, Any] = {}


def returns_a_record(state: S) -> Any:
    """A bare node returning what a record-mode failure returns: LangGraph's share of it."""
    return RECORD_UPDATE


def build(kind: str) -> Any:
    g = StateGraph(S)
    fn = succeeding if kind.endswith("-ok") else failing
    if kind == "bare-update":
        g.add_node("n", returns_a_record)
    elif kind.startswith("bare"):
        g.add_node("n", fn)
    else:
        g.add_node("n", create_node(fn, retry=None, on_error=kind.removesuffix("-ok")))
    g.add_edge(START, "n")
    g.add_edge("n", END)
    return g.compile()


CONFIG: dict[str, Any] = {"configurable": {METRICS_COLLECTOR_KEY: NodeMetricsCollector()}}


def timed(graph: Any, sink: list[float]) -> Any:
    """Time every call LangGraph makes to the node's ``invoke`` into ``sink``."""
    runnable = graph.nodes["n"].bound
    inner = runnable.invoke

    def invoke(input: Any, config: Any = None, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(input, config, **kwargs)
        finally:
            sink.append(time.perf_counter() - start)

    runnable.invoke = invoke
    return graph


def once(graph: Any) -> float:
    start = time.perf_counter()
    with contextlib.suppress(ConnectionError):
        graph.invoke({"x": 1}, CONFIG)
    return time.perf_counter() - start


def caught() -> BaseException:
    try:
        failing({})
    except ConnectionError as exc:
        return exc
    raise AssertionError("unreachable")


def micro(fn: Callable[[], Any], number: int = 2000) -> float:
    """Median of 7 repeats, per call, in microseconds."""
    return statistics.median(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def breakdown() -> dict[str, float]:
    exc = caught()
    code, category = code_and_category(exc, None)
    return {
        "sanitize_message (text seen before: cached)": micro(
            lambda: sanitize_message(exc, max_length=400)
        ),
        "sanitize_message (first sight of the text)": micro(lambda: _sanitize(MESSAGE, 400)),
        "sanitize_stack": micro(lambda: sanitize_stack(exc)),
        "code and category (kept per class)": micro(lambda: code_and_category(exc, None)),
        "code and category (read from the exception)": micro(
            lambda: (classify_failure(exc), error_code(exc, RetryConfig(retry_on=(OSError,))))
        ),
        "record_state (site seen before: kept)": micro(
            lambda: record_state(exc, code, category, "n", 1, 1.0, "t", "g", time.time())
        ),
        "redact_exception (raise mode)": micro(lambda: redact_exception(caught())),
        "  of which: raising a fresh exception": micro(caught),
        "traceback.format_exception (not on the path)": micro(
            lambda: traceback.format_exception(exc), number=200
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--logs", choices=("filtered", "stderr"), default="filtered")
    args = parser.parse_args()
    if args.logs == "filtered":
        logging.getLogger("langgraph_runner").setLevel(logging.CRITICAL)
    kinds = ("bare", "record", "raise", "bare-ok", "record-ok", "bare-update")
    graphs = {kind: build(kind) for kind in kinds}
    RECORD_UPDATE.update(graphs["record"].invoke({"x": 1}))  # errors + routing_flags
    RECORD_UPDATE.pop("x", None)
    node_times: dict[str, list[float]] = {kind: [] for kind in graphs}
    for kind, graph in graphs.items():
        timed(graph, node_times[kind])
    times: dict[str, list[float]] = {kind: [] for kind in graphs}
    for _ in range(50):  # warm-up: imports, caches, compiled regexes
        for graph in graphs.values():
            once(graph)
    for sink in node_times.values():
        sink.clear()
    order = list(graphs)
    for i in range(args.rounds):
        for kind in order if i % 2 else reversed(order):
            times[kind].append(once(graphs[kind]))
    assert all(len(t) == args.rounds for t in node_times.values()), "one node call per run"
    node = {kind: statistics.median(t) * 1e6 for kind, t in node_times.items()}
    print(
        f"the node's own time inside the graph (LangGraph's call of its invoke), "
        f"{args.rounds} rounds, median:"
    )
    for kind in ("bare", "record", "raise"):
        extra = "" if kind == "bare" else f"  (+{node[kind] - node['bare']:.1f} us over bare)"
        label = "bare raise" if kind == "bare" else f"create_node on_error={kind!r}"
        print(f"  {label:<32} {node[kind]:8.1f} us{extra}")
    print(
        f"  (a succeeding node: bare {node['bare-ok']:.1f} us, wrapped {node['record-ok']:.1f} us)"
    )
    medians = {kind: statistics.median(t) * 1e6 for kind, t in times.items()}
    bare = medians["bare"]
    print(f"whole invocation of the one-node graph, {args.rounds} rounds, median:")
    for kind in ("bare", "record", "raise"):
        value = medians[kind]
        extra = "" if kind == "bare" else f"  (+{value - bare:.1f} us over bare)"
        label = "bare raise" if kind == "bare" else f"create_node on_error={kind!r}"
        print(f"  {label:<32} {value:8.1f} us{extra}")
    fixed = medians["record-ok"] - medians["bare-ok"]
    print(
        f"the same graphs when the node succeeds: bare {medians['bare-ok']:.1f} us, wrapped "
        f"{medians['record-ok']:.1f} us\n  (the wrapper's per-call cost: {fixed:+.1f} us)"
    )
    for kind in ("record", "raise"):
        own = medians[kind] - bare - fixed
        print(f"  so the failure path itself ({kind}) costs {own:+.1f} us over a bare raise")
    print(
        f"a bare node returning the record-mode update (errors + routing_flags): "
        f"{medians['bare-update']:.1f} us\n  (LangGraph's cost of storing a record: "
        f"{medians['bare-update'] - medians['bare-ok']:+.1f} us over a plain update)"
    )
    print("breakdown (each alone, median per call):")
    for label, value in breakdown().items():
        print(f"  {label:<46} {value:8.2f} us")
    big = "password=" + "x" * 100_000_000
    cost = statistics.median(timeit.repeat(lambda: sanitize_message(big), number=1, repeat=7))
    print(f"sanitize_message of a 100 MB message: {cost * 1e3:.3f} ms (bound: 50 ms)")


if __name__ == "__main__":
    main()
