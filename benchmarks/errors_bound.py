"""The bounded errors channel against the unbounded list it replaced, measured in the same run.

1. Checkpoint storage: N terminal failures in one thread (one ``invoke`` each, a
   wrapped node that always fails), saved by the SQLite saver to a file; file size
   (and bytes per recorded failure) for a state whose ``errors`` is the old
   unbounded ``append_errors`` list, for the last 100 records saved plain (as before
   the records were packed) and for ``GraphState`` (last 100 records, packed).
   ``--varied``: every failure has its own message (ids, sizes, times), which packs
   less well than one failure repeated.
2. Per-append cost: M appends of one record, one write per step, as LangGraph
   applies them: ``BinaryOperatorAggregate(list, append_errors)`` (the old
   channel) against ``BoundedErrors(100)``.

    python benchmarks/errors_bound.py [--failures 1000] [--appends 100000] [--varied]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from langgraph.channels.binop import BinaryOperatorAggregate
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_runner import (
    BoundedErrors,
    GraphState,
    append_errors,
    append_unique,
    create_node,
    merge_dicts,
    merge_flags,
)


class Unbounded(TypedDict, total=False):
    """GraphState as it was: the same five channels, ``errors`` keeping every record."""

    errors: Annotated[list[dict[str, Any]], append_errors]
    routing_flags: Annotated[dict[str, bool], merge_flags]
    artifact_paths: Annotated[dict[str, str], merge_dicts]
    evidence_refs: Annotated[list[str], append_unique]
    gate_decisions: Annotated[dict[str, dict[str, Any]], merge_dicts]


class _Plain(BoundedErrors):
    """The bounded channel saving its records plain, as before they were packed."""

    def checkpoint(self) -> dict[str, Any]:
        return {"records": list(self.records), "dropped": self.dropped}


class PlainBounded(TypedDict, total=False):
    """GraphState with the last 100 records saved plain."""

    errors: Annotated[list[dict[str, Any]], _Plain(100)]
    routing_flags: Annotated[dict[str, bool], merge_flags]
    artifact_paths: Annotated[dict[str, str], merge_dicts]
    evidence_refs: Annotated[list[str], append_unique]
    gate_decisions: Annotated[dict[str, dict[str, Any]], merge_dicts]


def _fails(state: Any) -> dict[str, Any]:
    raise ConnectionError("upstream down")


def _fails_varied(state: Any) -> dict[str, Any]:
    ident = uuid.uuid4()
    raise ConnectionError(
        f"request {ident} to https://api.example.com/v1/items/{ident.int % 10**6} failed "
        f"after {ident.int % 9973 / 1000:.3f}s"
    )


def _storage(schema: Any, failures: int, path: Path, varied: bool) -> tuple[int, float]:
    builder = StateGraph(schema)
    builder.add_node("fetch", create_node(_fails_varied if varied else _fails, name="fetch"))
    builder.add_edge(START, "fetch")
    builder.add_edge("fetch", END)
    conn = sqlite3.connect(path, check_same_thread=False)
    graph = builder.compile(checkpointer=SqliteSaver(conn))
    config = {"configurable": {"thread_id": "bench"}}
    start = time.perf_counter()
    for _ in range(failures):
        graph.invoke({}, config)
    elapsed = time.perf_counter() - start
    conn.commit()
    conn.close()
    return os.path.getsize(path), elapsed


def _appends(make: Callable[[], Any], appends: int) -> float:
    records = [
        {"node": "fetch", "code": "RETRY_EXHAUSTED", "message": "x" * 80, "timestamp": str(i)}
        for i in range(appends)
    ]
    channel = make()
    start = time.perf_counter()
    for record in records:
        channel.update([[record]])
    return time.perf_counter() - start


def main() -> None:
    """Run both measurements and print them with their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", type=int, default=1000)
    parser.add_argument("--appends", type=int, default=100_000)
    parser.add_argument("--varied", action="store_true")
    args = parser.parse_args()

    import logging

    logging.getLogger("langgraph_runner").setLevel(logging.CRITICAL)  # 2 x N failure logs
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        schemas = (
            ("unbounded list", Unbounded),
            ("last 100, plain", PlainBounded),
            ("GraphState (100)", GraphState),
        )
        for i, (label, schema) in enumerate(schemas):
            path = Path(tmp) / f"{i}.sqlite"
            size, secs = _storage(schema, args.failures, path, args.varied)
            rows.append((label, size, secs))
    what = "varied failures" if args.varied else "failures"
    print(f"1. {args.failures} {what} in one thread, SQLite file size")
    base = rows[0][1]
    for label, size, secs in rows:
        print(
            f"   {label:18} {size / 1e6:9.2f} MB  {size / args.failures / 1e3:8.1f} kB per failure"
            f"  ({base / size:6.1f}x smaller than unbounded)  {secs:6.1f} s to run"
        )

    old = _appends(lambda: BinaryOperatorAggregate(list, append_errors), args.appends)
    new = _appends(lambda: BoundedErrors(100), args.appends)
    print(f"2. {args.appends} appends, one record per step")
    print(f"   unbounded append_errors channel {old:8.3f} s")
    print(f"   BoundedErrors(100)              {new:8.3f} s  ({old / new:.0f}x faster)")


if __name__ == "__main__":
    main()
