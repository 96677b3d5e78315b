"""Tests for langgraph_runner._service.run_facts (and its route in ops_routes): a run's
input and output in ``GET /runs/{id}``, redacted, and a step's attempts with their
records in ``GET /runs/{id}/steps/{name}/attempts``, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from langgraph_runner import GraphState, create_node
from langgraph_runner.testing import fail_times, no_wait
from tests.fakes import chain_graph
from tests.service.served import A, B, served

SECRET = "sk-live-0123456789abcdefghijklmnop"


class State(GraphState, total=False):
    title: str
    password: str
    log: Annotated[list[str], operator.add]


def _fetch(state: State) -> dict[str, Any]:
    return {"log": [f"fetch {state.get('title')}"]}


def _graph(second: Any) -> Any:
    """fetch, then ``second``."""
    return chain_graph(
        State, ["fetch", "second"], {"fetch": _fetch, "second": second}.get
    ).compile()


@pytest.fixture(params=["sqlite", "postgres"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The service with a flaky step (fails twice, then succeeds) and a broken one."""
    flaky = fail_times(2, ConnectionError("the printer is offline"), result={"log": ["second"]})
    broken = fail_times(99, ConnectionError("the printer is offline"))
    workflows = {
        "flaky": _graph(create_node(flaky, retry=3)),
        "broken": _graph(create_node(broken, retry=2, on_error="record")),
    }
    with no_wait(), served(request.param, tmp_path, workflows, workers=1) as c:
        yield c


def _run(c: TestClient, workflow: str, inp: dict[str, Any]) -> dict[str, Any]:
    r = c.post("/runs", json={"workflow": workflow, "input": inp}, headers=A)
    assert r.status_code == 202, r.text
    assert r.json()["input"] is None  # only GET /runs/{id} and wait carry it
    done = c.get(f"/runs/{r.json()['run_id']}/wait", params={"timeout": 60}, headers=A).json()
    assert done["status"] not in ("pending", "running"), done
    return dict(done)


def test_a_runs_input_and_output_are_shown_redacted(client: TestClient) -> None:
    """Input as posted and the final state, a secret under a secret key name redacted."""
    done = _run(client, "flaky", {"title": "report", "password": SECRET})
    assert done["status"] == "completed"
    run = client.get(f"/runs/{done['run_id']}", headers=A).json()
    for shown in (run, done):  # GET /runs/{id} and /wait alike
        assert shown["input"]["title"] == "report"
        assert shown["output"]["title"] == "report"
        assert shown["output"]["log"] == ["fetch report", "second"]
        assert SECRET not in str(shown["input"]) + str(shown["output"])
        assert shown["input"]["password"] != SECRET


def test_a_pending_run_shows_its_input_and_no_output(tmp_path: Path) -> None:
    """No worker took it yet: the input as posted, no output, no attempts."""
    with served("sqlite", tmp_path, {"flaky": _graph(_fetch)}, workers=0) as c:
        r = c.post("/runs", json={"workflow": "flaky", "input": {"title": "t"}}, headers=A)
        run_id = r.json()["run_id"]
        run = c.get(f"/runs/{run_id}", headers=A).json()
        assert (run["status"], run["input"], run["output"]) == ("pending", {"title": "t"}, None)
        assert c.get(f"/runs/{run_id}/steps/second/attempts", headers=A).json() == []
        r = c.get(f"/runs/{run_id}/steps/nope/attempts", headers=A)
        assert (r.status_code, r.json()["field"]) == (404, "name")


def test_attempts_of_a_step_that_succeeded_after_retries(client: TestClient) -> None:
    """Two retried attempts, then the one that succeeded with its times."""
    done = _run(client, "flaky", {"title": "t"})
    r = client.get(f"/runs/{done['run_id']}/steps/second/attempts", headers=A)
    assert r.status_code == 200, r.text
    attempts = r.json()
    assert [(a["number"], a["outcome"]) for a in attempts] == [
        (1, "retried"),
        (2, "retried"),
        (3, "succeeded"),
    ]
    assert attempts[-1]["started_at"] is not None
    assert attempts[-1]["code"] is None
    first = client.get(f"/runs/{done['run_id']}/steps/fetch/attempts", headers=A).json()
    assert [(a["number"], a["outcome"]) for a in first] == [(1, "succeeded")]


def test_attempts_of_a_failed_step_carry_its_error_record(client: TestClient) -> None:
    """The last attempt of a step whose retries ran out: code, category, message."""
    done = _run(client, "broken", {"title": "t"})
    attempts = client.get(f"/runs/{done['run_id']}/steps/second/attempts", headers=A).json()
    assert [a["number"] for a in attempts] == [1, 2]
    last = attempts[-1]
    assert last["outcome"] == "failed"
    assert last["code"] and last["category"]
    assert "offline" in last["message"]


def test_attempts_answer_404_naming_the_field(client: TestClient) -> None:
    """An unknown step, another tenant's run, a bad name: 4xx JSON naming the field."""
    done = _run(client, "flaky", {"title": "t"})
    rid = done["run_id"]
    r = client.get(f"/runs/{rid}/steps/nope/attempts", headers=A)
    assert (r.status_code, r.json()["field"]) == (404, "name")
    r = client.get(f"/runs/{rid}/steps/second/attempts", headers=B)
    assert (r.status_code, r.json()["field"]) == (404, "run_id")
    r = client.get(f"/runs/{rid}/steps/{'x' * 600}/attempts", headers=A)
    assert (r.status_code, r.json()["field"]) == (422, "path")  # the guard, before any route
