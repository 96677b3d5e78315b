"""The package's costs under several versions of it, measured in one run.

On a shared machine whose speed drifts from minute to minute, two runs of a
benchmark made apart cannot tell versions apart; this script loads each git
revision given (``work`` is the working tree) as a package of its own and
interleaves their nodes with bare ones, so every version meets the same
machine. Each revision's ``src/langgraph_runner`` is copied to a temporary
folder with its imports renamed; nothing is installed.

    python benchmarks/versions.py 2497d50 work [--mode MODE] [--rounds 2000] [--chain-rounds 400]

Modes (``all``, the default, runs every one, one after the other, in this order):

* ``chain``, ``achain``: ``overhead.py``'s 20-node chain, ``create_node(fn, retry=3)``,
  ``invoke`` / ``ainvoke``: lower quartile of whole invocations over the bare chain's,
  per node;
* ``metrics-chain``, ``metrics-achain``: ``metrics.py --chain-only``'s full chain
  (``retry=RetryConfig(max_attempts=3)``, ``circuit_breaker=CircuitBreakerConfig()``,
  ``metrics=NodeMetricsCollector()``), the same way;
* ``success``, ``record``, ``raise``: ``error_path.py``'s one-node graph whose node
  succeeds, fails with ``on_error="record"`` or with ``on_error="raise"``: median node
  time (LangGraph's call of the node's ``invoke``) over the bare node's.

Each line gives the figure per version and its difference from the first version.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import io
import logging
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from error_path import timed  # the node-time measure of error_path.py
from langgraph.graph import END, START, StateGraph
from overhead import N_NODES, S, ameasure, astep, measure, step  # overhead.py's chain

ROOT = Path(__file__).resolve().parent.parent
MESSAGE = "upstream returned 503 Service Unavailable for GET https://api.example.com/v1/items"


def failing(state: Any) -> Any:
    raise ConnectionError(MESSAGE)


def succeeding(state: Any) -> Any:
    return {"x": 2}


def materialize(rev: str, name: str, into: Path) -> None:
    """``src/langgraph_runner`` at ``rev`` as the package ``name`` under ``into``."""
    target = into / name
    if rev == "work":
        shutil.copytree(ROOT / "src" / "langgraph_runner", target)
    else:
        archive = subprocess.run(
            ["git", "archive", rev, "src/langgraph_runner"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(into / "_extract", filter="data")
        shutil.move(into / "_extract" / "src" / "langgraph_runner", target)
    for path in target.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"\blanggraph_runner\b", name, text), encoding="utf-8")


def build(package: Any, mode: str, bare: bool) -> tuple[Any, dict[str, Any]]:
    metrics = importlib.import_module(f"{package.__name__}.metrics")

    class S(package.GraphState, total=False):  # type: ignore[name-defined,misc]
        x: int

    fn = succeeding if mode == "success" else failing
    g = StateGraph(S)
    if bare:
        g.add_node("n", fn)
    else:
        on_error = "raise" if mode == "raise" else "record"
        g.add_node("n", package.create_node(fn, retry=None, on_error=on_error))
    g.add_edge(START, "n")
    g.add_edge("n", END)
    config = {"configurable": {metrics.METRICS_COLLECTOR_KEY: metrics.NodeMetricsCollector()}}
    return g.compile(), config


def chain(package: Any, fn: Any, kind: str) -> Any:
    """A 20-node chain of ``fn``: bare, or wrapped as overhead.py or metrics.py wraps it."""
    g = StateGraph(S)
    prev = START
    metrics = importlib.import_module(f"{package.__name__}.metrics")
    for i in range(N_NODES):
        if kind == "bare":
            node = fn
        elif kind == "overhead":
            node = package.create_node(fn, retry=3)
        else:
            node = package.create_node(
                fn,
                retry=package.RetryConfig(max_attempts=3),
                circuit_breaker=package.CircuitBreakerConfig(),
                metrics=metrics.NodeMetricsCollector(),
            )
        g.add_node(f"n{i}", node)
        g.add_edge(prev, f"n{i}")
        prev = f"n{i}"
    g.add_edge(prev, END)
    return g.compile()


def run_chain(mode: str, packages: dict[str, Any], rounds: int) -> dict[str, float]:
    """Per-node cost of each version's chain over the bare chain's, in microseconds."""
    kind = "metrics" if mode.startswith("metrics") else "overhead"
    is_async = mode.endswith("achain")
    fn = astep if is_async else step
    first = next(iter(packages.values()))
    graphs = {"bare": chain(first, fn, "bare")}
    graphs.update({name: chain(pkg, fn, kind) for name, pkg in packages.items()})
    if is_async:
        calls = {k: (lambda g=g: g.ainvoke({"x": 0})) for k, g in graphs.items()}
        q = asyncio.run(ameasure(calls, rounds))
    else:
        q = measure({k: (lambda g=g: g.invoke({"x": 0})) for k, g in graphs.items()}, rounds)
    return {name: (q[name] - q["bare"]) / N_NODES * 1e6 for name in packages} | {
        "bare": q["bare"] / N_NODES * 1e6
    }


def run_node(mode: str, packages: dict[str, Any], rounds: int) -> dict[str, float]:
    """Each version's median node time over the bare node's, in microseconds."""
    names = list(packages)
    graphs = {"bare": build(packages[names[0]], mode, bare=True)}
    graphs.update({name: build(packages[name], mode, bare=False) for name in names})
    sinks: dict[str, list[float]] = {key: [] for key in graphs}
    for key, (graph, _) in graphs.items():
        timed(graph, sinks[key])
    order = list(graphs)

    def once(key: str) -> None:
        graph, config = graphs[key]
        with contextlib.suppress(ConnectionError):
            graph.invoke({"x": 1}, config)

    for _ in range(50):
        for key in order:
            once(key)
    for sink in sinks.values():
        sink.clear()
    for i in range(rounds):
        for key in order if i % 2 else reversed(order):
            once(key)
    bare = statistics.median(sinks["bare"]) * 1e6
    return {name: statistics.median(sinks[name]) * 1e6 - bare for name in names} | {"bare": bare}


MODES = ("chain", "achain", "metrics-chain", "metrics-achain", "success", "record", "raise")
LABELS = {
    "chain": "overhead.py chain, invoke (us/node)",
    "achain": "overhead.py chain, ainvoke (us/node)",
    "metrics-chain": "metrics.py chain, invoke (us/node)",
    "metrics-achain": "metrics.py chain, ainvoke (us/node)",
    "success": "error_path.py success (us)",
    "record": "error_path.py record (us)",
    "raise": "error_path.py raise (us)",
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("revs", nargs="+", help="git revisions; 'work' is the working tree")
    parser.add_argument("--mode", choices=("all", *MODES), default="all")
    parser.add_argument("--rounds", type=int, default=2000, help="rounds of one-node modes")
    parser.add_argument("--chain-rounds", type=int, default=400, help="rounds of chain modes")
    args = parser.parse_args()
    modes = MODES if args.mode == "all" else (args.mode,)
    rows: list[tuple[str, float, list[float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, tmp)
        names = [f"lgr_v{i}" for i in range(len(args.revs))]
        for rev, name in zip(args.revs, names, strict=True):
            materialize(rev, name, Path(tmp))
        packages = {name: importlib.import_module(name) for name in names}
        for name in names:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        for mode in modes:
            if "chain" in mode:
                found = run_chain(mode, packages, args.chain_rounds)
            else:
                found = run_node(mode, packages, args.rounds)
            rows.append((mode, found["bare"], [found[name] for name in names]))
    head = " | ".join(f"`{rev}`" for rev in args.revs)
    diffs = " | ".join(f"`{rev}` - `{args.revs[0]}`" for rev in args.revs[1:])
    print(f"| case | bare | {head} | {diffs} |")
    print("| --- | --- |" + " --- |" * (2 * len(args.revs) - 1))
    for mode, bare, extra in rows:
        cells = " | ".join(f"{x:+.1f}" for x in extra)
        deltas = " | ".join(f"{x - extra[0]:+.1f}" for x in extra[1:])
        print(f"| {LABELS[mode]} | {bare:.1f} | {cells} | {deltas} |")


if __name__ == "__main__":
    main()
