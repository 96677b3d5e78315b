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
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

# The chain and its timing are overhead.py's (this directory is on sys.path when a
# benchmark runs as a script).
from overhead import N_NODES, build, measure, step

from langgraph_runner._traces import spans


class Dropped(SpanExporter):
    """Takes every batch and keeps nothing: the SDK's cost without a network's."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _under(graph: Any, provider: Any) -> Callable[[], Any]:
    """One invocation of ``graph`` with ``provider`` as the package's tracer provider."""

    def invoke() -> Any:
        spans.use_provider(provider)
        return graph.invoke({"x": 0})

    return invoke


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    bare, wrapped = build("bare", step), build("wrapped", step)
    exporter = Dropped()
    traced = TracerProvider()
    traced.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=100_000))
    sampled_out = TracerProvider(sampler=ALWAYS_OFF)
    variants = {
        "bare": _under(bare, None),
        "wrapped": _under(wrapped, None),
        "traced": _under(wrapped, traced),
        "traced-sampled-out": _under(wrapped, sampled_out),
    }
    quartiles = measure(variants, args.rounds)
    spans.use_provider(None)
    traced.shutdown()
    per_node = {name: q / N_NODES * 1e6 for name, q in quartiles.items()}
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
