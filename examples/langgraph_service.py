"""The runs service inside LangGraph Server, as its custom HTTP app.

``examples/langgraph_service.json`` mounts ``app`` next to the server's own routes and
turns the server's auth (``examples/service_auth.py``) on for it::

    langgraph dev --config examples/langgraph_service.json --no-browser

The runs service answers under ``/runner`` (``/runner/runs``, ``/runner/workflows``, ...):
the server has routes of its own under ``/runs``, which a service mounted at the root
would shadow. The tenant is the identity the server's auth gave the caller::

    curl -s -X POST http://127.0.0.1:2024/runner/runs -H 'Authorization: Bearer token-of-acme' \\
        -H 'Content-Type: application/json' -d '{"workflow": "build", "input": {"title": "Q3"}}'

``SERVICE_DB`` picks the database file (default ``examples/.runs/langgraph_service.db``).
"""

from __future__ import annotations

import operator
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_runner.runs import require_dag
from langgraph_runner.service import create_app, langgraph_server_auth

DB = Path(os.environ.get("SERVICE_DB", Path(__file__).parent / ".runs" / "langgraph_service.db"))


class Build(TypedDict, total=False):
    title: str
    log: Annotated[list[str], operator.add]


def _step(name: str) -> Any:
    def body(state: Build) -> dict[str, Any]:
        return {"log": [f"{name}: {state.get('title', '')}"]}

    return body


def build() -> Any:
    g = StateGraph(Build)
    for name in ("fetch", "parse", "render"):
        g.add_node(name, _step(name))
    g.add_edge(START, "fetch")
    g.add_edge("fetch", "parse")
    g.add_edge("parse", "render")
    g.add_edge("render", END)
    return require_dag(g.compile(), name="build")


DB.parent.mkdir(parents=True, exist_ok=True)
saver = SqliteSaver(sqlite3.connect(DB, check_same_thread=False))  # open while it serves
runs = create_app(
    workflows={"build": build()},
    checkpointer=saver,
    # The server's user names the tenant; outside the server, an API key does.
    authenticate=langgraph_server_auth(api_keys={"dev-key": "dev"}),
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with runs.router.lifespan_context(runs):  # a mounted app's lifespan is its parent's
        yield


app = FastAPI(lifespan=lifespan)
app.mount("/runner", runs)
