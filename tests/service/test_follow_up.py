"""Tests for langgraph_runner._service.follow_up: resume an interrupted run, retry a failed,
cancelled or blocked one, over HTTP, on SQLite and PostgreSQL.

Runs are executed by the app's in-process workers; a test waits for one through
``GET /runs/{id}/wait`` (never by sleeping).
"""

from __future__ import annotations

import operator
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from typing_extensions import TypedDict

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from langgraph_runner import GraphState, create_node
from langgraph_runner.runs import open_checkpointer
from langgraph_runner.service import create_app

A = {"X-API-Key": "key-a"}
B = {"X-API-Key": "key-b"}
CALLS: dict[str, int] = {}  # node -> calls, over every run of a test
ANSWERS: list[Any] = []
_GUARD = threading.Lock()


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


class Guarded(GraphState, total=False):
    log: Annotated[list[str], operator.add]


def _count(name: str) -> int:
    with _GUARD:
        CALLS[name] = CALLS.get(name, 0) + 1
        return CALLS[name]


def _fetch(state: Any) -> dict[str, Any]:
    _count("fetch")
    return {"log": ["fetch"]}


def _ask(state: Any) -> dict[str, Any]:
    _count("ask")
    answer = interrupt("approve the publication?")
    ANSWERS.append(answer)
    return {"log": [f"answer:{answer}"]}


def _flaky(state: Any) -> dict[str, Any]:
    if _count("flaky") == 1:
        raise ConnectionError("the printer is offline")
    return {"log": ["flaky"]}


def _chain(state_type: Any, nodes: list[tuple[str, Any]]) -> Any:
    builder = StateGraph(state_type)
    previous = START
    for name, fn in nodes:
        builder.add_node(name, fn)
        builder.add_edge(previous, name)
        previous = name
    builder.add_edge(previous, END)
    return builder


@pytest.fixture(params=["sqlite", "postgres"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The service with the three workflows, tenants and a queue of its own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'runs.db'}"
    else:
        pytest.importorskip("langgraph.checkpoint.postgres")
        from tests.services import postgres_url

        url = postgres_url()
    CALLS.clear()
    ANSWERS.clear()
    uid = uuid.uuid4().hex
    with open_checkpointer(url) as saver:
        workflows = {
            "approve": _chain(State, [("fetch", _fetch), ("ask", _ask)]).compile(),
            "flaky": _chain(State, [("fetch", _fetch), ("flaky", _flaky)]).compile(),
            "guarded": _chain(
                Guarded, [("fetch", _fetch), ("flaky", create_node(_flaky, on_error="record"))]
            ).compile(),
        }
        app = create_app(
            workflows=workflows,
            checkpointer=saver,
            api_keys={"key-a": f"a-{uid}", "key-b": f"b-{uid}"},
            workers=1,
            queue=uid,
        )
        with TestClient(app) as c:
            yield c
            c.app.state.workers.queue.purge()  # type: ignore[attr-defined]


def _post_and_wait(c: TestClient, path: str, **body: Any) -> dict[str, Any]:
    r = c.post(path, json=body or None, headers=A)
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    done = c.get(f"/runs/{run_id}/wait", params={"timeout": 60}, headers=A).json()
    assert done["status"] not in ("pending", "running"), done
    return dict(done)


def test_an_interrupted_run_shows_its_question_and_resumes_with_the_answer(
    client: TestClient,
) -> None:
    """The run reads ``interrupted`` with what interrupt() asked; resuming answers it, and
    the steps that ran before the question are not run again."""
    first = _post_and_wait(client, "/runs", workflow="approve", thread_id="t1")
    assert first["status"] == "interrupted"
    assert [i["value"] for i in first["interrupts"]] == ["approve the publication?"]
    second = _post_and_wait(client, f"/runs/{first['run_id']}/resume", value={"ok": True})
    assert second["status"] == "completed", second
    assert second["thread_id"] == "t1"  # the tenant's own thread id, as posted
    assert ANSWERS == [{"ok": True}]
    assert CALLS["fetch"] == 1  # done before the question: not run again
    assert client.get(f"/runs/{second['run_id']}", headers=A).json()["interrupts"] == []


def test_a_failed_run_is_retried_from_its_last_checkpoint(client: TestClient) -> None:
    """``retry`` runs the failed step again and keeps the finished ones."""
    first = _post_and_wait(client, "/runs", workflow="flaky")
    assert first["status"] == "failed", first
    second = _post_and_wait(client, f"/runs/{first['run_id']}/retry")
    assert second["status"] == "completed", second
    assert (CALLS["fetch"], CALLS["flaky"]) == (1, 2)


def test_a_blocked_run_reruns_its_blocked_node(client: TestClient) -> None:
    """A failure recorded in the state (``blocked``) is retried by re-running that node."""
    first = _post_and_wait(client, "/runs", workflow="guarded")
    assert first["status"] in ("failed", "blocked"), first  # the service stops at a failed step
    second = _post_and_wait(client, f"/runs/{first['run_id']}/retry")
    assert second["status"] == "completed", second
    assert (CALLS["fetch"], CALLS["flaky"]) == (1, 2)


def test_what_cannot_be_continued_is_refused_and_changes_nothing(client: TestClient) -> None:
    """409 for the wrong status or an earlier run of the thread; 404 for another tenant's
    run, as for a missing one; a malformed answer is 422."""
    done = _post_and_wait(client, "/runs", workflow="flaky", thread_id="t2")  # fails
    retried = _post_and_wait(client, f"/runs/{done['run_id']}/retry")
    assert retried["status"] == "completed"
    again = client.post(f"/runs/{done['run_id']}/retry", headers=A)  # no longer the latest
    assert again.status_code == 409 and again.json()["field"] == "run_id"
    assert "latest" in again.json()["detail"]
    completed = client.post(f"/runs/{retried['run_id']}/retry", headers=A)
    assert completed.status_code == 409
    resume = client.post(f"/runs/{retried['run_id']}/resume", json={"value": 1}, headers=A)
    assert resume.status_code == 409
    foreign = client.post(f"/runs/{retried['run_id']}/retry", headers=B)
    assert foreign.status_code == 404
    missing = client.post("/runs/no-such-run/retry", headers=A)
    assert missing.status_code == 404 and foreign.json()["detail"].startswith("no run")
    bad = client.post(f"/runs/{retried['run_id']}/resume", json={"value": "a\x00"}, headers=A)
    assert bad.status_code == 422
    assert CALLS["flaky"] == 2  # nothing ran for any refused request
