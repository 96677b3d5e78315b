"""What node spans cost: a 20-node chain, bare vs create_node without and with a tracer.

Variants, interleaved round by round (the order flipped every round) so a drifting
machine meets each alike; the lower quartile of whole invocations, per node:

* ``bare``: plain functions;
* ``wrapped``: ``create_node(fn, retry=3)``, no tracer provider (the default);
* ``traced``: the same nodes with an SDK ``TracerProvider`` whose ``BatchSpanProcessor``
  feeds an exporter that drops what it gets (the SDK's cost, not a network's): each
  node call makes its node span and one attempt span;
* ``traced-sampled-out``: the SDK provider with ``ALWAYS_OFF`` sampling (spans are not
  recorded: the cost of asking).

Prints each variant's microseconds per node and what tracing adds per node.

    python benchmarks/tracing.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from typing import Any

from langgraph.graph import END, START, StateGraph
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from typing_extensions import TypedDict

from langgraph_runner import create_node
from langgraph_runner._traces import spans

N_NODES = 20


class S(TypedDict, total=False):
    x: int


def step(state: S) -> dict[str, Any]:
    return {"x": state.get("x", 0) + 1}


class Dropped(SpanExporter):
    """Takes every batch and keeps nothing: the SDK's cost without a network's."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def build(wrapped: bool) -> Any:
    g = StateGraph(S)
    prev = START
    for i in range(N_NODES):
        name = f"n{i}"
        g.add_node(name, create_node(step, retry=3) if wrapped else step)
        g.add_edge(prev, name)
        prev = name
    g.add_edge(prev, END)
    return g.compile()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    bare, wrapped = build(False), build(True)
    exporter = Dropped()
    traced = TracerProvider()
    traced.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=100_000))
    sampled_out = TracerProvider(sampler=ALWAYS_OFF)
    variants: dict[str, tuple[Any, Any]] = {
        "bare": (bare, None),
        "wrapped": (wrapped, None),
        "traced": (wrapped, traced),
        "traced-sampled-out": (wrapped, sampled_out),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(args.rounds + 20):
        for name in names if r % 2 else reversed(names):
            graph, provider = variants[name]
            spans.use_provider(provider)
            t0 = time.perf_counter()
            graph.invoke({"x": 0})
            elapsed = time.perf_counter() - t0
            if r >= 20:  # warm-up rounds are not counted
                times[name].append(elapsed)
    spans.use_provider(None)
    traced.shutdown()
    per_node = {name: statistics.quantiles(t, n=4)[0] / N_NODES * 1e6 for name, t in times.items()}
    print(f"{N_NODES}-node chain, {args.rounds} rounds, lower quartile, us per node")
    print("| variant | us/node | vs bare | vs wrapped |")
    print("| --- | --- | --- | --- |")
    for name, us in per_node.items():
        print(
            f"| {name} | {us:.1f} | {us / per_node['bare']:.2f}x | "
            f"{us - per_node['wrapped']:+.1f} us |"
        )
    print(f"spans exported: {exporter.count} (2 per node call)")


if __name__ == "__main__":
    main()
