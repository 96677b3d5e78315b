"""The runs service mounted into LangGraph Server (``langgraph dev``) as its custom HTTP app.

``examples/langgraph_service.json`` mounts ``examples/langgraph_service.py:app`` (the runs
service under ``/runner``) and turns the server's custom auth (``examples/service_auth.py``,
a bearer token -> identity map) on for it: the tenant is the server's user identity.
One server for the whole module.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")

from langgraph.checkpoint.sqlite import SqliteSaver

from langgraph_runner._runs.store_registry import open_run_store
from tests.langgraph_dev import dev_server

# langgraph-cli installs its in-memory server (langgraph-api) only on Python >= 3.11.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sys.version_info < (3, 11), reason="langgraph dev's in-memory server needs Python >= 3.11"
    ),
]

TOKENS = {"token-a": "tenant-a", "token-b": "tenant-b"}
A = {"Authorization": "Bearer token-a"}
B = {"Authorization": "Bearer token-b"}
RUN_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    """``langgraph dev`` serving examples/langgraph_service.json; a client and the runs DB."""
    work = tmp_path_factory.mktemp("langgraph-service")
    db = work / "runs.db"
    env = {
        "SERVICE_DB": str(db),
        "SERVICE_TOKENS": ",".join(f"{t}={who}" for t, who in TOKENS.items()),
    }
    with (
        dev_server(work, "examples/langgraph_service.json", jobs_per_worker=4, env=env) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client, db


@pytest.fixture
def client(served: tuple[httpx.Client, Path]) -> httpx.Client:
    return served[0]


def _trigger(client: httpx.Client, headers: dict[str, str], title: str) -> dict[str, Any]:
    answer = client.post(
        "/runner/runs", json={"workflow": "build", "input": {"title": title}}, headers=headers
    )
    assert answer.status_code == 202, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _finished(client: httpx.Client, run_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        run: dict[str, Any] = client.get(f"/runner/runs/{run_id}", headers=headers).json()
        if run["status"] not in ("pending", "running") or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


def test_the_server_keeps_its_own_routes_beside_the_mounted_app(client: httpx.Client) -> None:
    """/assistants/search still answers (under the server's auth); /runner serves the runs app."""
    found = client.post("/assistants/search", json={"limit": 10}, headers=A)
    assert found.status_code == 200, found.text
    assert "pipeline" in {a["graph_id"] for a in found.json()}
    assert client.post("/assistants/search", json={"limit": 10}).status_code == 401

    workflows = client.get("/runner/workflows", headers=A)
    assert workflows.status_code == 200, workflows.text
    assert [w["name"] for w in workflows.json()] == ["build"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"X-API-Key": "dev-key"},
        {"x-auth-scheme": "langsmith"},  # Studio's scheme: disable_studio_auth is set
    ],
    ids=["no-token", "unknown-token", "api-key-only", "studio-scheme"],
)
def test_a_request_the_server_does_not_authenticate_never_reaches_the_runs(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    """The server's auth answers 401 first: no runs listed, none triggered."""
    assert client.get("/runner/runs", headers=headers).status_code == 401
    refused = client.post(
        "/runner/runs", json={"workflow": "build", "input": {"title": "x"}}, headers=headers
    )
    assert refused.status_code == 401


def test_a_triggered_run_completes_under_the_callers_identity(
    served: tuple[httpx.Client, Path],
) -> None:
    """POST /runner/runs answers pending; a worker completes it; the tenant is the identity."""
    client, db = served
    run = _trigger(client, A, "Q3")
    assert run["status"] == "pending"
    assert [s["status"] for s in run["steps"]] == ["pending"] * 3

    done = _finished(client, run["run_id"], A)
    assert done["status"] == "completed", done
    assert (done["steps_done"], done["steps_total"]) == (3, 3)
    assert [s["name"] for s in done["steps"]] == ["fetch", "parse", "render"]

    # The runs table records the server's identity as the run's tenant.
    saver = SqliteSaver(sqlite3.connect(db, check_same_thread=False))
    store = open_run_store(saver)
    assert store is not None
    try:
        assert store.get(run["run_id"], tenant="tenant-a") is not None
        assert store.get(run["run_id"], tenant="tenant-b") is None
    finally:
        store.close()
        saver.conn.close()


def test_each_identity_sees_only_its_own_runs(client: httpx.Client) -> None:
    """Tenant B gets 404 for A's run, cannot cancel it, and never lists it."""
    run_a = _trigger(client, A, "only for a")
    run_b = _trigger(client, B, "only for b")
    assert _finished(client, run_a["run_id"], A)["status"] == "completed"
    assert _finished(client, run_b["run_id"], B)["status"] == "completed"

    assert client.get(f"/runner/runs/{run_a['run_id']}", headers=B).status_code == 404
    assert client.get(f"/runner/runs/{run_a['run_id']}/steps", headers=B).status_code == 404
    assert client.post(f"/runner/runs/{run_a['run_id']}/cancel", headers=B).status_code == 404

    listed_a = {r["run_id"] for r in client.get("/runner/runs", headers=A).json()["runs"]}
    listed_b = {r["run_id"] for r in client.get("/runner/runs", headers=B).json()["runs"]}
    assert run_a["run_id"] in listed_a and run_a["run_id"] not in listed_b
    assert run_b["run_id"] in listed_b and run_b["run_id"] not in listed_a
