"""The runs service on a fresh machine: SQLite, in-process workers, one API key.

Serve it: ``langgraph-runner serve examples/service.py`` (then open
http://127.0.0.1:8000/docs), and trigger a run::

    curl -s -X POST http://127.0.0.1:8000/runs -H 'X-API-Key: dev-key' \\
        -H 'Content-Type: application/json' -d '{"workflow": "build", "input": {"title": "Q3"}}'

Two workflows: ``build`` (fetch, parse, then stats and charts side by side, render) and
``hold`` (fetch, then ``wait`` holds the run for ``seconds`` of its input unless the run is
cancelled, then render): a run to watch while it runs, and to cancel. Each run may take
10 minutes at most.

``SERVICE_DB`` picks the database file (default ``examples/.runs/service.db``),
``SERVICE_API_KEY`` the key (default ``dev-key``, tenant ``dev``),
``SERVICE_WEBHOOK_SECRET`` the key webhooks are signed with.
"""

from __future__ import annotations

import operator
import os
import sqlite3
from pathlib import Path
from typing import Annotated, Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_runner import create_node, get_node_context
from langgraph_runner.runs import require_dag
from langgraph_runner.service import create_app

DB = Path(os.environ.get("SERVICE_DB", Path(__file__).parent / ".runs" / "service.db"))


class Build(TypedDict, total=False):
    title: str
    seconds: float
    log: Annotated[list[str], operator.add]


def _step(name: str) -> Any:
    def body(state: Build) -> dict[str, Any]:
        return {"log": [f"{name}: {state.get('title', '')}"]}

    return body


def build() -> Any:
    g = StateGraph(Build)
    for name in ("fetch", "parse", "stats", "charts", "render"):
        g.add_node(name, _step(name))
    g.add_edge(START, "fetch")
    g.add_edge("fetch", "parse")
    g.add_edge("parse", "stats")
    g.add_edge("parse", "charts")
    g.add_edge(["stats", "charts"], "render")
    g.add_edge("render", END)
    return require_dag(g.compile(), name="build")


def wait(state: Build) -> dict[str, Any]:
    """Hold the run for ``seconds``; a cancel (or the time limit) ends the wait at once."""
    ctx = get_node_context()
    signal = ctx.abort_signal if ctx else None
    seconds = float(state.get("seconds", 0))
    if signal is not None and signal.wait_sync(seconds):
        signal.throw_if_aborted()  # the step ends cancelled; no further step starts
    return {"log": [f"waited {seconds:g} s"]}


def hold() -> Any:
    g = StateGraph(Build)
    g.add_node("fetch", _step("fetch"))
    g.add_node("wait", create_node(wait, name="wait"))
    g.add_node("render", _step("render"))
    g.add_edge(START, "fetch")
    g.add_edge("fetch", "wait")
    g.add_edge("wait", "render")
    g.add_edge("render", END)
    return require_dag(g.compile(), name="hold")


DB.parent.mkdir(parents=True, exist_ok=True)
saver = SqliteSaver(sqlite3.connect(DB, check_same_thread=False))  # open while it serves
app = create_app(
    workflows={"build": build(), "hold": hold()},
    checkpointer=saver,
    api_keys={os.environ.get("SERVICE_API_KEY", "dev-key"): "dev"},
    time_limit=600,
    # Runs that name a webhook get their end posted, signed with this secret
    # (examples/webhook_receiver.py checks the signature).
    webhook_secret=os.environ.get("SERVICE_WEBHOOK_SECRET", "dev-webhook-secret-change-me"),
)
