"""What the webhook and schedule tests share: a clock they move, a one-step workflow, the
database of a parametrised test (SQLite, or PostgreSQL where it answers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_runner.service import create_app

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC: on a 5-minute tick


class State(TypedDict, total=False):
    title: str


class Clock:
    """A clock the test moves (unix seconds), starting just after ``T0``."""

    def __init__(self) -> None:
        self.now = T0 + 1

    def __call__(self) -> float:
        return self.now


def one_step() -> Any:
    """A compiled workflow of one step (``fetch``)."""
    g = StateGraph(State)
    g.add_node("fetch", lambda s: {"title": str(s.get("title", "")) + "!"})
    g.add_edge(START, "fetch")
    g.add_edge("fetch", END)
    return g.compile()


def database(kind: str, tmp_path: Path) -> str:
    """The test's database URL: a SQLite file, or the test PostgreSQL (else skipped)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    pytest.importorskip("langgraph.checkpoint.postgres")
    from tests.services import postgres_url

    return postgres_url()


def started(saver: Any, uid: str, queue: str, **options: Any) -> TestClient:
    """The service of ``one_step`` on ``queue``, started (the caller exits it), with the
    keys ``key-a`` and ``key-b`` of two tenants named after ``uid``."""
    app = create_app(
        workflows={"build": one_step()},
        checkpointer=saver,
        api_keys={"key-a": f"a-{uid}", "key-b": f"b-{uid}"},
        queue=queue,
        **options,
    )
    client = TestClient(app)
    client.__enter__()
    return client
