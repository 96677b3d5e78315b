"""Subprocess worker for test_crash_resume: runs (or resumes) a durable graph until killed.

Usage: python crash_worker.py CHECKPOINTER_URL THREAD_ID LEDGER OUT_JSON [SLEEP_SCALE]

Every node appends "start <label>" and "end <label>" to the ledger (fsync'ed);
the saver's put_writes is hooked to append "commit <label>" once the node's writes
are durably saved. On a thread with a checkpoint the worker resumes with
``graph.invoke(None, config)``, otherwise it starts with the real input. On
completion it writes the final state as JSON to OUT_JSON.
"""

from __future__ import annotations

import itertools
import json
import operator
import os
import sys
import threading
import time
from typing import Annotated, Any, TypedDict, cast

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send

SEQUENTIAL = [f"s{i}" for i in range(1, 9)]
PARALLEL = ["p1", "p2", "p3"]
MAPPED = [f"m{i}" for i in range(3)]
LABELS = [*SEQUENTIAL, *PARALLEL, "join", *MAPPED]
INPUT = {"seed": 7, "trail": [], "total": 0}


class State(TypedDict, total=False):
    seed: int
    trail: Annotated[list[str], operator.add]
    total: Annotated[int, operator.add]


class MapArg(TypedDict):
    i: int
    seed: int


class Ledger:
    """Append-only, fsync'ed side-effect log shared by node threads."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock = threading.Lock()

    def write(self, event: str, label: str) -> None:
        with self._lock:
            os.write(self._fd, f"{event} {label}\n".encode())
            os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def _sleep_for(label: str) -> float:
    # 0.05-0.15 s, fixed per node, so kills land inside node bodies.
    return 0.05 + (sum(map(ord, label)) % 11) / 100


def build_graph(
    ledger: Ledger, checkpointer: BaseCheckpointSaver[Any], *, sleep_scale: float = 1.0
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """s1..s4 -> (p1, p2, p3) -> join -> s5 -> s6 -> Send(m0..m2) -> s7 -> s8."""

    def work(label: str, state: dict[str, Any]) -> dict[str, Any]:
        ledger.write("start", label)
        time.sleep(_sleep_for(label) * sleep_scale)
        # The update depends on the state seen, so a replay on stale state shows up.
        value = (state.get("seed", 0) * 31 + len(state.get("trail", [])) + len(label)) % 1009
        ledger.write("end", label)
        return {"trail": [label], "total": value}

    def make(label: str) -> Any:
        def node(state: State) -> dict[str, Any]:
            return work(label, dict(state))

        node.__name__ = label
        return node

    def mapper(arg: MapArg) -> dict[str, Any]:
        return work(f"m{arg['i']}", {"seed": arg["seed"] + arg["i"], "trail": []})

    def fan_out(state: State) -> list[Send]:
        return [Send("mapper", {"i": i, "seed": state["seed"]}) for i in range(len(MAPPED))]

    builder = StateGraph(State)
    for label in [*SEQUENTIAL, *PARALLEL, "join"]:
        builder.add_node(label, make(label))
    builder.add_node("mapper", cast(Any, mapper))
    builder.add_edge(START, "s1")
    for a, b in itertools.pairwise(SEQUENTIAL[:4]):
        builder.add_edge(a, b)
    for p in PARALLEL:
        builder.add_edge("s4", p)
    builder.add_edge(PARALLEL, "join")
    builder.add_edge("join", "s5")
    builder.add_edge("s5", "s6")
    builder.add_conditional_edges("s6", fan_out, ["mapper"])
    builder.add_edge("mapper", "s7")
    builder.add_edge("s7", "s8")
    builder.add_edge("s8", END)
    return builder.compile(checkpointer=checkpointer)


def hook_commits(saver: BaseCheckpointSaver[Any], ledger: Ledger) -> None:
    """Log "commit <label>" after the saver has durably stored a node's writes."""
    original = saver.put_writes

    def put_writes(config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        original(config, writes, task_id, task_path)
        for channel, value in writes:
            if channel == "trail":
                for label in value:
                    ledger.write("commit", label)

    saver.put_writes = put_writes  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    """Run or resume the graph on the given thread."""
    from langgraph_runner._runs.checkpoint import open_checkpointer

    url, thread_id, ledger_path, out_path, *scale = argv
    ledger = Ledger(ledger_path)
    config: Any = {"configurable": {"thread_id": thread_id}}
    with open_checkpointer(url) as saver:
        hook_commits(saver, ledger)
        graph = build_graph(ledger, saver, sleep_scale=float(scale[0]) if scale else 1.0)
        fresh = saver.get_tuple(config) is None
        ledger.write("invoke", "input" if fresh else "resume")
        graph.invoke(INPUT if fresh else None, config)
        values = graph.get_state(config).values
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(values, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
