"""A build DAG with a step cache, a failed run, a plan and a partial rebuild, end to end.

Eight steps read inputs and write artifacts (files under ``examples/.runs/dag/``):

    fetch -> parse -> charts -> summary -> render -> publish
                   \\-> index ---/          /
                   \\-> stats -------------/

Every step is cached with ``NodeCache`` (a SQLite cache shared by the runs) on the
fields it reads, and the runs are kept by a SQLite checkpointer. The cache file
outlives the script, so its entries are signed with a key every run of the script
shares: ``LANGGRAPH_RUNNER_CACHE_KEY`` when set, else a random secret the first run
writes beside the cache (``cache.key``). The script:

1. runs the DAG once (every step executes; on a later run of the script with the
   same folder, every step is served from the cache instead);
2. runs it again on a new thread: every step is served from the cache (``cached``);
3. runs it with a broken ``publish``: the run ends ``failed`` (the default
   ``on_step_failure="stop"``), the finished steps' artifacts are kept;
4. plans a change of one input (``title``) against the first run, then rebuilds:
   only the steps the change reaches execute, the rest are ``reused``;
5. prints the rebuild's run report, read back from the checkpoints.

Run it: ``python examples/dag.py`` (``DAG_DIR`` picks another folder).
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from pathlib import Path
from typing import Any

from langgraph.cache.sqlite import SqliteCache
from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, NodeCache, create_node
from langgraph_runner.runs import (
    Change,
    list_runs,
    open_checkpointer,
    plan,
    rebuild,
    require_dag,
    run,
    run_report,
)

OUT = Path(os.environ.get("DAG_DIR", Path(__file__).parent / ".runs" / "dag"))
BROKEN: set[str] = set()  # steps that fail, to show a failed run


class Build(GraphState, total=False):
    source: str
    title: str
    text: str
    words: int
    chart: str
    index: list[str]
    summary: str
    page: str
    url: str


def _write(name: str, body: str) -> dict[str, Any]:
    path = OUT / name
    path.write_text(body, encoding="utf-8")
    return {"artifact_paths": {name: str(path)}}


def fetch(state: Build) -> dict[str, Any]:
    return {"text": f"{state['source']} " * 3}


def parse(state: Build) -> dict[str, Any]:
    return {"words": len(state["text"].split())}


def stats(state: Build) -> dict[str, Any]:
    return _write("stats.json", json.dumps({"words": state["words"]}))


def charts(state: Build) -> dict[str, Any]:
    return {"chart": "#" * state["words"], **_write("chart.txt", "#" * state["words"])}


def index(state: Build) -> dict[str, Any]:
    return {"index": sorted(set(state["text"].split()))}


def summary(state: Build) -> dict[str, Any]:
    return {"summary": f"{state['words']} words, {len(state['index'])} distinct"}


def render(state: Build) -> dict[str, Any]:
    page = f"<h1>{state['title']}</h1><p>{state['summary']}</p><pre>{state['chart']}</pre>"
    return {"page": page, **_write("page.html", page)}


def publish(state: Build) -> dict[str, Any]:
    if "publish" in BROKEN:
        raise ConnectionError("publish: CDN returned 503 for token=sk-demo-0123456789abcdef")
    return {"url": f"https://cdn.invalid/{state['title'].lower().replace(' ', '-')}"}


# name -> (function, the state fields it reads: its cache key)
STEPS = {
    "fetch": (fetch, ["source"]),
    "parse": (parse, ["text"]),
    "stats": (stats, ["words"]),
    "charts": (charts, ["words"]),
    "index": (index, ["text"]),
    "summary": (summary, ["words", "index"]),
    "render": (render, ["title", "summary", "chart"]),
    "publish": (publish, ["title", "page"]),
}


def signing_key() -> str:
    """The cache's signing key: the environment's, else a secret kept beside the cache."""
    key = os.environ.get("LANGGRAPH_RUNNER_CACHE_KEY")
    if key:
        return key
    path = OUT / "cache.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def build(saver: Any, cache: Any) -> Any:
    g = StateGraph(Build)
    key = signing_key()
    for name, (fn, reads) in STEPS.items():
        step_cache = NodeCache(inputs=reads, backend=cache, version="1", signing_key=key)
        g.add_node(name, create_node(fn, cache=step_cache))
    g.add_edge(START, "fetch")
    g.add_edge("fetch", "parse")
    for fan in ("stats", "charts", "index"):
        g.add_edge("parse", fan)
    g.add_edge(["charts", "index"], "summary")
    g.add_edge(["stats", "summary"], "render")
    g.add_edge("render", "publish")
    g.add_edge("publish", END)
    # A build is a DAG: a cycle is refused here, naming it, before any run.
    return require_dag(g.compile(checkpointer=saver), name="dag")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:6]
    threads = {k: f"dag-{tag}-{k}" for k in ("first", "cached", "broken", "rebuilt")}
    inputs = {"source": "tides moon tides sea", "title": "Tide Tables"}
    with open_checkpointer(f"sqlite:///{OUT / 'runs.db'}") as saver:
        graph = build(saver, SqliteCache(path=str(OUT / "cache.db")))

        def config(key: str) -> Any:
            return {"configurable": {"thread_id": threads[key]}}

        first = run(graph, inputs, config("first"))
        print(f"1. first run: {first.status}; {len(first.nodes)} steps: {dict(first.counts)}")
        again = run(graph, inputs, config("cached"))
        print(f"2. same inputs: {again.status}; {dict(again.counts)}")
        BROKEN.add("publish")
        broken = run(graph, {**inputs, "title": "Broken"}, config("broken"), raise_on_error=False)
        BROKEN.clear()
        kept = sorted(graph.get_state(config("broken")).values.get("artifact_paths", {}))
        print(f"3. broken publish: {broken.status}: {broken.reason}")
        print(f"   artifacts kept: {kept}")
        change = Change(inputs={"title": "Tide Tables, 2nd edition"})
        print("4. plan for a new title:")
        print("   " + plan(graph, config("first"), change).to_table().replace("\n", "\n   "))
        done = rebuild(graph, config("first"), change, config("rebuilt"))
        print(f"   rebuild: executed {list(done.executed)}, reused {list(done.reused)}")
        print("5. the rebuild's report, from the checkpoints:")
        print(run_report(saver, threads["rebuilt"]).to_table())
        print("runs on this checkpointer (newest first):")
        for r in list_runs(saver, limit=4):
            print(f"   {r.thread_id:<22} {r.status:<10} {r.reason or ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
