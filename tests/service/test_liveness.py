"""Tests for langgraph_runner._service.liveness (and ``GET /workers`` in ops_routes): each
worker process's row, its state, the runs it holds shown tenant-safe, and a dead
worker's runs shown as such at once, on SQLite and PostgreSQL.

A worker's death is simulated without waiting: its beat is stopped and the liveness
clock moved on (the subprocess test in test_queue kills a real one).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typing_extensions import TypedDict

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from langgraph_runner._runs import run_watch
from langgraph_runner._service import liveness as liveness_mod
from langgraph_runner._service.queue import RunQueue
from tests.fakes import chain_graph
from tests.service.served import A, B, served

HOLDING = threading.Event()
RELEASE = threading.Event()


class State(TypedDict, total=False):
    title: str


def _hold(state: State) -> dict[str, Any]:
    HOLDING.set()
    RELEASE.wait(60)
    return {}


def _graph() -> Any:
    """One step that holds until the test lets it go."""
    return chain_graph(State, ["hold"], lambda name: _hold).compile()


@pytest.fixture(params=["sqlite", "postgres"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The service with one worker thread (its beat every third of the 30 s lease)."""
    HOLDING.clear()
    RELEASE.clear()
    # The hold is let go before the app closes (its worker then finishes its run).
    with served(request.param, tmp_path, {"w": _graph()}, workers=1) as c, _let_go():
        yield c


@contextlib.contextmanager
def _let_go() -> Iterator[None]:
    try:
        yield
    finally:
        RELEASE.set()


def _hold_run(c: TestClient) -> str:
    r = c.post("/runs", json={"workflow": "w", "input": {"title": "x"}}, headers=A)
    assert r.status_code == 202, r.text
    assert HOLDING.wait(60)
    run_id = str(r.json()["run_id"])
    for _ in range(600):  # its row is written before its first node: running by now
        if c.get(f"/runs/{run_id}", headers=A).json()["status"] == "running":
            return run_id
    raise AssertionError("the run never read running")


def test_a_started_worker_is_listed_alive(client: TestClient) -> None:
    """This process, with its host, pid, threads and heartbeat."""
    workers = client.get("/workers", headers=A).json()
    assert len(workers) == 1
    [w] = workers
    assert (w["host"], w["pid"], w["threads"], w["state"]) == (
        socket.gethostname(),
        os.getpid(),
        1,
        "alive",
    )
    assert w["heartbeat_at"] >= w["started_at"]
    assert (w["runs"], w["your_runs"]) == (0, [])


def test_the_runs_a_worker_holds_show_only_the_callers_ids(client: TestClient) -> None:
    """Tenant a sees its run's id; tenant b only the count."""
    run_id = _hold_run(client)
    [mine] = client.get("/workers", headers=A).json()
    [theirs] = client.get("/workers", headers=B).json()
    assert (mine["runs"], mine["your_runs"]) == (1, [run_id])
    assert (theirs["runs"], theirs["your_runs"]) == (1, [])
    assert run_id not in str(theirs)
    assert client.get(f"/runs/{run_id}", headers=A).json()["worker"] == "alive"


def test_a_worker_that_missed_its_heartbeat_reads_dead_and_so_do_its_runs(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two beats late: dead at once (its claims' lease has not run out yet)."""
    run_id = _hold_run(client)
    liveness = client.app.state.workers.liveness  # type: ignore[attr-defined]
    run_watch.unkeep(liveness)  # it beats no more, as if its process died
    later = liveness_mod._now() + liveness_mod.DEAD_AFTER_BEATS * liveness.every + 0.5
    monkeypatch.setattr(liveness_mod, "_now", lambda: later)
    [w] = client.get("/workers", headers=A).json()
    assert w["state"] == "dead"
    run = client.get(f"/runs/{run_id}", headers=A).json()
    assert (run["status"], run["worker"]) == ("running", "dead")
    [listed] = client.get("/runs", headers=A).json()["runs"]
    assert (listed["run_id"], listed["status"], listed["worker"]) == (run_id, "running", "dead")


def test_a_draining_then_closed_worker_says_so(client: TestClient) -> None:
    """stop_taking: draining; close: stopped (an ended run has no worker state)."""
    run_id = _hold_run(client)
    workers = client.app.state.workers  # type: ignore[attr-defined]
    workers.stop_taking()
    assert client.get("/workers", headers=A).json()[0]["state"] == "draining"
    assert client.get(f"/runs/{run_id}", headers=A).json()["worker"] == "draining"
    RELEASE.set()
    workers.close(timeout=60)
    queue = RunQueue(workers.saver, queue=workers.queue.queue)  # the app's is closed
    try:
        [w] = liveness_mod.workers_of(queue, None)
        assert (w.state, w.runs) == ("stopped", 0)
        assert liveness_mod.worker_states(queue, [run_id]) == {}  # it holds the run no more
    finally:
        queue.close()


def test_workers_limit_is_checked(client: TestClient) -> None:
    """A bad limit is 422 naming it."""
    r = client.get("/workers", params={"limit": 0}, headers=A)
    assert (r.status_code, r.json()["field"]) == (422, "limit")
