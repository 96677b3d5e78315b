"""A failing node's cost under several versions of the package, measured in one run.

On a shared machine whose speed drifts from minute to minute, two runs of
``error_path.py`` made apart cannot tell versions apart; this script loads each
git revision given (``work`` is the working tree) as a package of its own and
interleaves their failing nodes with a bare one, so every version meets the
same machine. Each revision's ``src/langgraph_runner`` is copied to a temporary
folder with its imports renamed; nothing is installed.

    python benchmarks/versions.py 3a824f9 work [--mode record|raise|success] [--rounds 2000]

Prints each version's median node time (LangGraph's call of the node's
``invoke``, as in ``error_path.py``) over the bare node's, and its ratio to the
first version given. ``--mode success`` times a node that succeeds instead.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("revs", nargs="+", help="git revisions; 'work' is the working tree")
    parser.add_argument("--mode", choices=("record", "raise", "success"), default="record")
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, tmp)
        names = [f"lgr_v{i}" for i in range(len(args.revs))]
        for rev, name in zip(args.revs, names, strict=True):
            materialize(rev, name, Path(tmp))
        packages = {name: importlib.import_module(name) for name in names}
        for name in names:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        graphs = {"bare": build(packages[names[0]], args.mode, bare=True)}
        graphs.update({name: build(packages[name], args.mode, bare=False) for name in names})
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
        for i in range(args.rounds):
            for key in order if i % 2 else reversed(order):
                once(key)
    bare = statistics.median(sinks["bare"]) * 1e6
    print(f"{args.mode}, {args.rounds} rounds, node time median over the bare node's:")
    print(f"  {'bare node':<24} {bare:8.1f} us")
    first = statistics.median(sinks[names[0]]) * 1e6 - bare
    for rev, name in zip(args.revs, names, strict=True):
        extra = statistics.median(sinks[name]) * 1e6 - bare
        print(f"  {rev:<24} {extra:+8.1f} us   ({extra / first:.2f}x of {args.revs[0]})")


if __name__ == "__main__":
    main()
