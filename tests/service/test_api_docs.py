"""Tests for langgraph_runner._service.api_docs: ``/docs`` works with no network."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from langgraph_runner._service.api_docs import render
from langgraph_runner.runs import open_checkpointer
from langgraph_runner.service import create_app
from tests.fakes import chain_graph


def test_docs_lists_every_route_and_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    """Every route of the OpenAPI document is on the page; no script, no outside URL."""
    from typing_extensions import TypedDict

    class State(TypedDict, total=False):
        x: int

    with open_checkpointer(f"sqlite:///{tmp_path / 'r.db'}") as saver:
        graph = chain_graph(State, ["a"], lambda name: lambda state: {}).compile()
        app = create_app(workflows={"w": graph}, checkpointer=saver, api_keys={"k": "t"})
        with TestClient(app) as client:
            page = client.get("/docs")
            doc = client.get("/openapi.json").json()
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    for path, item in doc["paths"].items():
        for method in item:
            assert f"{method.upper()}</span> {path}</h2>" in text, (method, path)
    assert "<script" not in text.lower()
    assert re.search(r'(src|href)="https?://', text) is None  # nothing from another host
    assert "text/event-stream" in text  # the events route's media type is told
    assert "/redoc" not in {r.path for r in app.routes if hasattr(r, "path")}


def test_text_from_the_document_is_escaped() -> None:
    """A summary or path holding markup is shown as text."""
    doc = {
        "info": {"title": "<b>t</b>"},
        "paths": {"/x/<i>": {"get": {"summary": "<script>alert(1)</script>", "responses": {}}}},
    }
    page = render(doc)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "<b>t</b>" not in page and "/x/&lt;i&gt;" in page
