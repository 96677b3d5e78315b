"""Tests for langgraph_runner._service.guards: hostile bytes and sizes get a 4xx JSON answer.

Every route is called with what a hostile tenant sends (NUL and other control characters,
bidirectional overrides, long ids, large and deep bodies), on SQLite and on PostgreSQL,
which cannot store NUL and answered such requests with a plain-text 500 before.
"""

from __future__ import annotations

import json
import operator
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typing_extensions import TypedDict

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from langgraph_runner._service.guards import MAX_DEPTH, MAX_ID, check_json, check_text, shown
from langgraph_runner.runs import open_checkpointer
from langgraph_runner.service import create_app
from tests.fakes import chain_graph

KEY = {"X-API-Key": "key-a"}


class State(TypedDict, total=False):
    title: Any
    log: Annotated[list[str], operator.add]


# Every route that takes an id or a name in its path, and its method.
ROUTES = [
    ("GET", "/runs/{}"),
    ("GET", "/runs/{}/steps"),
    ("GET", "/runs/{}/artifacts"),
    ("GET", "/runs/{}/events"),
    ("POST", "/runs/{}/cancel"),
    ("POST", "/runs/{}/update"),
    ("GET", "/workflows/{}"),
]
HOSTILE = ["a\x00b", "\x00", "x\x1by", "x\u202ey", "x\x7f", "a" * (MAX_ID + 1)]


def _step(name: str) -> Any:
    def body(state: dict[str, Any]) -> dict[str, Any]:
        return {"log": [name]}

    return body


@pytest.fixture(params=["sqlite", "postgres"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The service on SQLite or PostgreSQL, a queue and tenant of its own."""

    from typing_extensions import TypedDict

    class State(TypedDict, total=False):
        title: str
        log: Annotated[list[str], operator.add]

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'runs.db'}"
    else:
        pytest.importorskip("langgraph.checkpoint.postgres")
        from tests.services import postgres_url

        url = postgres_url()
    uid = uuid.uuid4().hex
    with open_checkpointer(url) as saver:
        graph = chain_graph(State, ["fetch", "render"], _step).compile()
        app = create_app(
            workflows={"build": graph},
            checkpointer=saver,
            api_keys={"key-a": f"tenant-{uid}"},
            workers=1,
            queue=uid,
            max_body=64 * 1024,
        )
        with TestClient(app) as c:
            yield c
            c.app.state.workers.queue.purge()  # type: ignore[attr-defined]


def _is_json_4xx(r: Any, status: int, field: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["field"] == field, body
    assert len(body["detail"]) < 300


@pytest.mark.parametrize("bad", HOSTILE, ids=["nul", "only-nul", "esc", "bidi", "del", "long"])
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_hostile_id_in_the_path_is_422_naming_the_path(
    client: TestClient, method: str, path: str, bad: str
) -> None:
    """NUL, control and bidi characters, and over-long ids: 422 JSON, never a 500."""
    r = client.request(method, path.format(quote(bad, safe="")), headers=KEY, json={})
    _is_json_4xx(r, 422, "path")


@pytest.mark.parametrize("bad", HOSTILE[:5], ids=["nul", "only-nul", "esc", "bidi", "del"])
def test_a_hostile_filter_in_the_query_is_422_naming_the_parameter(
    client: TestClient, bad: str
) -> None:
    """``GET /runs?workflow=`` with a NUL answered a plain-text 500 on PostgreSQL."""
    r = client.get("/runs", params={"workflow": bad}, headers=KEY)
    _is_json_4xx(r, 422, "workflow")
    r = client.get("/runs", params={"before": bad}, headers=KEY)
    _is_json_4xx(r, 422, "before")


def test_a_nul_in_the_input_is_refused_at_the_door_naming_its_path(client: TestClient) -> None:
    """Before, a NUL in an input string was accepted, and the run then failed with no reason."""
    r = client.post("/runs", json={"workflow": "build", "input": {"title": "a\x00b"}}, headers=KEY)
    _is_json_4xx(r, 422, "input")
    assert "input.title" in r.json()["detail"]
    r = client.post("/runs", json={"workflow": "build", "thread_id": "t\x00"}, headers=KEY)
    _is_json_4xx(r, 422, "thread_id")
    assert client.get("/runs", headers=KEY).json()["runs"] == []  # nothing was queued


def test_deep_nesting_is_refused_and_a_run_with_plain_unicode_runs(client: TestClient) -> None:
    """Nesting past the limit is 422; text with accents, emoji and newlines is a run's input."""
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    r = client.post("/runs", json={"workflow": "build", "input": {"title": deep}}, headers=KEY)
    _is_json_4xx(r, 422, "input")
    ok = client.post(
        "/runs", json={"workflow": "build", "input": {"title": "né 🎉\nline"}}, headers=KEY
    )
    assert ok.status_code == 202, ok.text
    client.app.state.workers.wait(ok.json()["run_id"], timeout=60)  # type: ignore[attr-defined]
    assert client.get(f"/runs/{ok.json()['run_id']}", headers=KEY).json()["status"] == "completed"


def test_a_body_over_the_limit_is_413_before_it_is_read(client: TestClient) -> None:
    """A Content-Length over ``max_body`` is answered at once; nothing is queued."""
    big = json.dumps({"workflow": "build", "input": {"title": "x" * (70 * 1024)}})
    r = client.post("/runs", content=big, headers={**KEY, "content-type": "application/json"})
    _is_json_4xx(r, 413, "body")
    assert client.get("/runs", headers=KEY).json()["runs"] == []


def test_a_chunked_body_over_the_limit_is_413_too(client: TestClient) -> None:
    """With no Content-Length, the bytes are counted as they come and refused past the limit."""

    def chunks() -> Iterator[bytes]:
        yield b'{"workflow": "build", "input": {"title": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}}'

    r = client.post("/runs", content=chunks(), headers={**KEY, "content-type": "application/json"})
    _is_json_4xx(r, 413, "body")


@pytest.mark.parametrize(
    ("content", "why"), [("[1, 2]", "an array"), ("{not json", "malformed"), ("", "empty")]
)
def test_a_body_that_is_not_a_json_object_names_the_body(
    client: TestClient, content: str, why: str
) -> None:
    """Before, an array or malformed body answered ``field`` null or "1"."""
    r = client.post("/runs", content=content, headers={**KEY, "content-type": "application/json"})
    _is_json_4xx(r, 422, "body")


def test_a_404_echoes_a_bounded_id(client: TestClient) -> None:
    """A missing id as long as the limit allows comes back cut short in the message."""
    rid = "r" * MAX_ID
    r = client.get(f"/runs/{rid}", headers=KEY)
    _is_json_4xx(r, 404, "run_id")
    assert rid not in r.json()["detail"]


def test_cancelling_an_ended_run_is_409_and_post_tells_the_time_limit(
    tmp_path: Path, client: TestClient
) -> None:
    """A completed run cannot be cancelled (409, it stays completed); POST and GET agree
    on the run's time limit."""
    r = client.post("/runs", json={"workflow": "build"}, headers=KEY)
    rid = r.json()["run_id"]
    client.app.state.workers.wait(rid, timeout=60)  # type: ignore[attr-defined]
    got = client.get(f"/runs/{rid}", headers=KEY).json()
    assert r.json()["time_limit"] == got["time_limit"]
    c = client.post(f"/runs/{rid}/cancel", headers=KEY)
    _is_json_4xx(c, 409, "run_id")
    assert client.get(f"/runs/{rid}", headers=KEY).json()["status"] == "completed"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=40))
def test_any_text_as_a_run_id_gets_a_json_answer_below_500(client: TestClient, text: str) -> None:
    """Whatever the id, every route answers JSON with a 4xx (or 200 for a real run), never 5xx."""
    for method, path in ROUTES[:3]:
        r = client.request(method, path.format(quote(text, safe="")), headers=KEY)
        assert r.status_code < 500, (text, r.text)
        assert r.headers["content-type"].startswith("application/json"), (text, r.text)


def test_the_text_rules_on_their_own() -> None:
    """The rules the middleware and the bodies share name the field and say why."""
    assert check_text("plain-id_1.2", "run_id") is None
    assert "U+0000" in (check_text("a\x00", "run_id") or "")
    assert "U+202E" in (check_text("a\u202e", "thread_id") or "")
    assert "at most" in (check_text("a" * (MAX_ID + 1), "run_id") or "")
    assert check_json({"a": ["b", {"c": "d\x00"}]}, "input") == (
        "input.a[1].c: NUL (U+0000) is not allowed in a string"
    )
    assert check_json({"a\x00": 1}, "input") == "input: NUL (U+0000) is not allowed in a key"
    assert check_json({"a": "\x1b[31m red \t tab"}, "input") is None  # JSON keeps these
    assert len(shown("x" * 10_000)) <= 80
