"""Tests for langgraph_runner._service.run_facts (and its route in ops_routes): a run's
input and output in ``GET /runs/{id}``, redacted, and a step's attempts, each with its own
record, in ``GET /runs/{id}/steps/{name}/attempts``, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from langgraph_runner import GraphState, RetryConfig, create_node
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


def raising(*errors: BaseException, then: dict[str, Any] | None = None) -> Any:
    """A node that raises ``errors`` one call at a time, then returns ``then``."""
    left = list(errors)

    def node(state: State) -> dict[str, Any]:
        if left:
            raise left.pop(0)
        return then or {"log": ["second"]}

    return node


def _graph(second: Any) -> Any:
    """fetch, then ``second``."""
    return chain_graph(
        State, ["fetch", "second"], {"fetch": _fetch, "second": second}.get
    ).compile()


@pytest.fixture(params=["sqlite", "postgres"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The service with a flaky step (fails twice, then succeeds), a broken one, steps that
    fail with errors of their own each time (then succeed, or run out of attempts in
    record or raise mode) and one that fails twelve times."""
    flaky = fail_times(2, ConnectionError("the printer is offline"), result={"log": ["second"]})
    broken = fail_times(99, ConnectionError("the printer is offline"))
    workflows = {
        "flaky": _graph(create_node(flaky, retry=3)),
        "broken": _graph(create_node(broken, retry=2, on_error="record")),
        "varied": _graph(create_node(raising(*_errors()[:2]), retry=RetryConfig(max_attempts=3))),
        "exhausted": _graph(create_node(raising(*_errors()), retry=3, on_error="record")),
        "raised": _graph(create_node(raising(*_errors()), retry=3, on_error="raise")),
        "many": _graph(create_node(raising(*_errors(12)), retry=12, on_error="record")),
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


def _errors(n: int = 3) -> list[BaseException]:
    """Errors of their own: a refused connection whose message holds a secret, a read that
    timed out, a server error; more of them numbered."""
    found: list[BaseException] = [
        ConnectionError(f"refused by the printer, key {SECRET}"),
        TimeoutError("read timed out after 5 s"),
        RuntimeError(f"printer said 503 (token={SECRET})"),
    ]
    return [*found, *(ConnectionError(f"refused {i}") for i in range(4, n + 1))][:n]


def _attempts(c: TestClient, workflow: str, headers: dict[str, str] = A) -> Any:
    done = _run(c, workflow, {"title": "t"})
    r = c.get(f"/runs/{done['run_id']}/steps/second/attempts", headers=headers)
    assert r.status_code == 200, r.text
    return done, r.json()


def _own_records(attempts: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (a["number"], a["outcome"], a["code"], a["category"], a["error_type"]) for a in attempts
    ]


def test_each_attempt_of_a_step_retried_to_success_carries_its_own_record(
    client: TestClient,
) -> None:
    """Two failures of their own, then the success: each failure with its code, category,
    error type and redacted message, every attempt with its start, end and duration."""
    done, attempts = _attempts(client, "varied")
    assert done["status"] == "completed"
    assert _own_records(attempts) == [
        (1, "retried", "RETRY_EXHAUSTED", "network", "ConnectionError"),
        (2, "retried", "RETRY_EXHAUSTED", "timeout", "TimeoutError"),
        (3, "succeeded", None, None, None),
    ]
    assert "refused by the printer, key [REDACTED]" in attempts[0]["message"]
    assert "read timed out after 5 s" in attempts[1]["message"]
    assert attempts[2]["message"] is None
    assert SECRET not in str(attempts)
    for a in attempts:
        assert a["started_at"] <= a["ended_at"] and a["duration_ms"] >= 0
    assert attempts[0]["ended_at"] <= attempts[1]["started_at"]
    assert len({a["task_id"] for a in attempts}) == 1


@pytest.mark.parametrize("workflow", ["exhausted", "raised"])
def test_each_attempt_of_a_step_out_of_attempts_carries_its_own_record(
    client: TestClient, workflow: str
) -> None:
    """Three failures of their own (the node records its error, or raises it): each attempt
    its own record, secrets redacted in every one, the last ``failed``."""
    done, attempts = _attempts(client, workflow)
    assert done["status"] == "failed"
    assert _own_records(attempts) == [
        (1, "retried", "RETRY_EXHAUSTED", "network", "ConnectionError"),
        (2, "retried", "RETRY_EXHAUSTED", "timeout", "TimeoutError"),
        (3, "failed", "RETRY_EXHAUSTED", "other", "RuntimeError"),
    ]
    messages = [a["message"] for a in attempts]
    assert "refused by the printer" in messages[0] and "read timed out" in messages[1]
    assert "printer said 503 (token=[REDACTED])" in messages[2]
    assert all("[REDACTED]" in m for m in (messages[0], messages[2]))
    assert SECRET not in str(attempts)


def test_a_step_with_more_attempts_than_kept_shows_the_first_and_the_latest(
    client: TestClient,
) -> None:
    """Twelve failed attempts: the first five and the latest five, each its own message."""
    _, attempts = _attempts(client, "many")
    assert [a["number"] for a in attempts] == [1, 2, 3, 4, 5, 8, 9, 10, 11, 12]
    assert "refused 12" in attempts[-1]["message"] and attempts[-1]["outcome"] == "failed"
    assert "refused 8" in attempts[5]["message"]


def test_another_tenant_gets_404_for_the_attempts_of_a_run(client: TestClient) -> None:
    """Another tenant's key: 404 naming run_id, the records unseen."""
    done, _ = _attempts(client, "exhausted")
    r = client.get(f"/runs/{done['run_id']}/steps/second/attempts", headers=B)
    assert (r.status_code, r.json()["field"]) == (404, "run_id")
    assert "printer" not in r.text


def test_a_live_step_shows_its_failed_attempt_and_the_one_under_way(tmp_path: Path) -> None:
    """The step failed once and its second attempt runs: the first with its record, the
    second ``running`` from when the wait before it ended."""
    entered, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def held(state: State) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("the printer is offline")
        entered.set()
        assert release.wait(60)
        return {"log": ["second"]}

    workflows = {"held": _graph(create_node(held, retry=2))}
    with no_wait(), served("sqlite", tmp_path, workflows, workers=1) as c:
        try:
            r = c.post("/runs", json={"workflow": "held", "input": {}}, headers=A)
            run_id = r.json()["run_id"]
            assert entered.wait(60)
            attempts: list[dict[str, Any]] = []
            for _ in range(600):  # the writer thread writes live rows every 0.1 s
                attempts = c.get(f"/runs/{run_id}/steps/second/attempts", headers=A).json()
                if len(attempts) == 2:
                    break
                release.wait(0.05)  # polling the API, not a retry wait
            assert [(a["number"], a["outcome"]) for a in attempts] == [
                (1, "retried"),
                (2, "running"),
            ]
            assert "the printer is offline" in attempts[0]["message"]
            assert attempts[1]["started_at"] >= attempts[0]["ended_at"]
            assert attempts[1]["ended_at"] is None
        finally:
            release.set()
        c.get(f"/runs/{run_id}/wait", params={"timeout": 60}, headers=A)


def test_the_attempt_under_way_starts_when_the_wait_before_it_ended() -> None:
    """A kept retried attempt that waits 2 s: the running one starts 2 s after its end."""
    from langgraph_runner._reports.report_types import NodeReport
    from langgraph_runner._service.run_facts import attempts_of

    kept = {"number": 1, "outcome": "retried", "started_at": 100.0, "ended_at": 101.5}
    node = NodeReport(name="second", status="running", attempts=1, runs=0, step=1)
    shown = attempts_of(node, [{**kept, "wait": 2.0, "code": "RETRY_EXHAUSTED"}])
    assert [(a.number, a.outcome, a.duration_ms) for a in shown] == [
        (1, "retried", 1500.0),
        (2, "running", None),
    ]
    assert shown[1].started_at == "1970-01-01T00:01:43.500000+00:00"
    assert shown[0].code == "RETRY_EXHAUSTED" and shown[0].error_type is None
