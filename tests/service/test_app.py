"""Tests for langgraph_runner.service: the runs service over HTTP, against SQLite.

Routes are called through FastAPI's TestClient (no port). Runs are executed by the
app's in-process workers; a test waits for one with ``app.state.workers.wait`` (the
worker's future), never by sleeping.
"""

from __future__ import annotations

import operator
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, cast

import pytest
from typing_extensions import TypedDict

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient
from langgraph.graph import END, START, StateGraph

from langgraph_runner import Budget, create_node
from langgraph_runner._runs import run_watch
from langgraph_runner.runs import open_checkpointer
from langgraph_runner.service import create_app
from tests.fakes import chain_graph

KEYS = {"key-a": "tenant-a", "key-b": "tenant-b"}
A = {"X-API-Key": "key-a"}
B = {"X-API-Key": "key-b"}


class Build(TypedDict, total=False):
    title: str
    log: Annotated[list[str], operator.add]


GATE = threading.Event()  # the "slow" workflow's step waits on it


def _step(name: str) -> Any:
    def body(state: Build) -> dict[str, Any]:
        if name == "wait":
            assert GATE.wait(30), "the test never opened the gate"
        if name == "boom":
            raise RuntimeError("boom: the renderer is out of paper")
        return {"log": [name]}

    return body


def _graph(names: list[str]) -> StateGraph[Build]:
    return cast("StateGraph[Build]", chain_graph(Build, names, _step))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver:
        workflows = {
            "build": _graph(["fetch", "parse", "render"]).compile(),
            "broken": _graph(["fetch", "boom", "render"]).compile(),
            "slow": _graph(["fetch", "wait", "render"]).compile(),
        }
        app = create_app(workflows=workflows, checkpointer=saver, api_keys=KEYS, workers=2)
        GATE.clear()
        with TestClient(app) as c:
            yield c
        GATE.set()


def _workers(client: TestClient) -> Any:
    app: Any = client.app
    return app.state.workers


def _finish(client: TestClient, run_id: str) -> None:
    _workers(client).wait(run_id, timeout=60)


def test_trigger_answers_at_once_with_pending_steps_then_the_run_completes(
    client: TestClient,
) -> None:
    r = client.post("/runs", json={"workflow": "build", "input": {"title": "t"}}, headers=A)
    assert r.status_code == 202
    body = r.json()
    assert body["status"] in ("pending", "running", "completed")  # answered before the run
    assert [s["name"] for s in body["steps"]] == ["fetch", "parse", "render"]
    _finish(client, body["run_id"])
    run = client.get(f"/runs/{body['run_id']}", headers=A).json()
    assert run["status"] == "completed"
    assert run["workflow"] == "build"
    assert (run["steps_done"], run["steps_total"]) == (3, 3)
    assert {s["name"]: s["status"] for s in run["steps"]} == dict.fromkeys(
        ("fetch", "parse", "render"), "succeeded"
    )
    assert all(s["duration_ms"] is not None for s in run["steps"])


def test_the_trigger_response_is_pending_before_any_worker_starts(tmp_path: Path) -> None:
    """With every worker busy, a new run is pending (steps pending), then cancellable."""
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver:
        app = create_app(
            workflows={"slow": _graph(["fetch", "wait"]).compile()},
            checkpointer=saver,
            api_keys=KEYS,
            workers=1,
        )
        GATE.clear()
        with TestClient(app) as c:
            busy = c.post("/runs", json={"workflow": "slow"}, headers=A).json()
            queued = c.post("/runs", json={"workflow": "slow"}, headers=A).json()
            assert queued["status"] == "pending"
            assert {s["status"] for s in queued["steps"]} == {"pending"}
            listed = c.get("/runs", params={"status": "pending"}, headers=A).json()["runs"]
            assert queued["run_id"] in [r["run_id"] for r in listed]
            cancelled = c.post(f"/runs/{queued['run_id']}/cancel", headers=A)
            assert cancelled.status_code == 202
            assert cancelled.json()["status"] == "cancelled"
            GATE.set()
            _workers(c).wait(busy["run_id"], timeout=60)
            assert _workers(c).wait(queued["run_id"], timeout=60) is None
            after = c.get(f"/runs/{queued['run_id']}", headers=A).json()
            assert after["status"] == "cancelled"
            assert after["reason"] == "cancelled before it started"


def test_a_failed_run_names_its_cause_and_its_failed_step(client: TestClient) -> None:
    rid = client.post("/runs", json={"workflow": "broken"}, headers=A).json()["run_id"]
    _finish(client, rid)
    run = client.get(f"/runs/{rid}", headers=A).json()
    assert run["status"] == "failed"
    failed = client.get(f"/runs/{rid}/steps", params={"status": "failed"}, headers=A).json()
    assert [s["name"] for s in failed] == ["boom"]
    assert "out of paper" in failed[0]["cause"]


def test_cancel_stops_a_live_run_before_its_next_step(client: TestClient) -> None:
    rid = client.post("/runs", json={"workflow": "slow"}, headers=A).json()["run_id"]
    store_seen = threading.Event()

    # The run is live once its row exists (the worker started it).
    for _ in range(2000):
        if client.get(f"/runs/{rid}", headers=A).json()["status"] == "running":
            store_seen.set()
            break
    assert store_seen.is_set()
    assert client.post(f"/runs/{rid}/cancel", headers=A).status_code == 202
    run_watch.tick()  # the process's watcher reads the flag now (it polls every 0.2 s)
    GATE.set()
    _finish(client, rid)
    run = client.get(f"/runs/{rid}", headers=A).json()
    assert run["status"] == "cancelled"
    assert {s["name"]: s["status"] for s in run["steps"]}.get("render") in ("pending", "skipped")


def test_another_tenants_run_is_a_404_and_lists_are_tenant_scoped(client: TestClient) -> None:
    rid = client.post("/runs", json={"workflow": "build"}, headers=A).json()["run_id"]
    _finish(client, rid)
    for path in (f"/runs/{rid}", f"/runs/{rid}/steps"):
        r = client.get(path, headers=B)
        assert r.status_code == 404
        assert r.json() == {"detail": f"no run {rid!r}", "field": "run_id"}
    assert client.post(f"/runs/{rid}/cancel", headers=B).status_code == 404
    assert client.get("/runs", headers=B).json()["runs"] == []
    assert [r["run_id"] for r in client.get("/runs", headers=A).json()["runs"]] == [rid]


def test_list_filters_by_status_and_workflow_pages_newest_first(client: TestClient) -> None:
    ids = []
    for workflow in ("build", "broken", "build", "build"):
        rid = client.post("/runs", json={"workflow": workflow}, headers=A).json()["run_id"]
        _finish(client, rid)
        ids.append(rid)
    page = client.get("/runs", params={"limit": 2}, headers=A).json()
    assert [r["run_id"] for r in page["runs"]] == [ids[3], ids[2]]
    rest = client.get("/runs", params={"limit": 2, "before": page["next_before"]}, headers=A).json()
    assert [r["run_id"] for r in rest["runs"]] == [ids[1], ids[0]]
    failed = client.get("/runs", params={"status": "failed"}, headers=A).json()["runs"]
    assert [r["run_id"] for r in failed] == [ids[1]]
    built = client.get("/runs", params={"workflow": "build"}, headers=A).json()["runs"]
    assert [r["run_id"] for r in built] == [ids[3], ids[2], ids[0]]


def test_errors_are_json_naming_the_field(client: TestClient) -> None:
    r = client.post("/runs", json={"workflow": "nope"}, headers=A)
    assert (r.status_code, r.json()) == (404, {"detail": "no workflow 'nope'", "field": "workflow"})
    r = client.post("/runs", json={"input": {}}, headers=A)
    assert r.status_code == 422
    assert r.json()["field"] == "workflow"
    r = client.post("/runs", json={"workflow": "build", "input": "text"}, headers=A)
    assert (r.status_code, r.json()["field"]) == (422, "input")
    r = client.get("/runs", params={"status": "done"}, headers=A)
    assert (r.status_code, r.json()["field"]) == (422, "status")
    r = client.get("/runs", headers={"X-API-Key": "wrong"})
    assert (r.status_code, r.json()) == (401, {"detail": "unknown X-API-Key", "field": "X-API-Key"})
    assert client.get("/workflows").status_code == 401
    r = client.get("/workflows/nope", headers=A)
    assert (r.status_code, r.json()["field"]) == (404, "name")


def test_workflows_describe_their_steps_edges_and_input(client: TestClient) -> None:
    names = [w["name"] for w in client.get("/workflows", headers=A).json()]
    assert names == ["build", "broken", "slow"]
    build = client.get("/workflows/build", headers=A).json()
    assert build["nodes"] == ["fetch", "parse", "render"]
    assert ["fetch", "parse", False] in build["edges"]
    assert "fetch --> parse" in build["mermaid"]
    assert set(build["input_schema"]["properties"]) == {"title", "log"}


def test_the_openapi_document_lists_every_route(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert set(doc["paths"]) == {
        "/runs",
        "/runs/{run_id}",
        "/runs/{run_id}/steps",
        "/runs/{run_id}/cancel",
        "/runs/{run_id}/update",
        "/runs/{run_id}/artifacts",
        "/runs/{run_id}/events",
        "/workflows",
        "/workflows/{name}",
    }
    assert set(doc["paths"]["/runs"]) == {"get", "post"}
    assert "RunCreate" in doc["components"]["schemas"]


def test_config_is_checked_when_the_app_is_made(tmp_path: Path) -> None:
    graph = _graph(["a"]).compile()
    with pytest.raises(ValueError, match="create_app: workflows must be a non-empty mapping"):
        create_app(workflows={}, api_keys=KEYS)
    with pytest.raises(ValueError, match=r"workflows\['a'\] has no checkpointer"):
        create_app(workflows={"a": graph}, api_keys=KEYS)
    with open_checkpointer(f"sqlite:///{tmp_path / uuid.uuid4().hex}.db") as saver:
        with pytest.raises(ValueError, match="pass authenticate= or api_keys="):
            create_app(workflows={"a": graph}, checkpointer=saver)
        with pytest.raises(ValueError, match="workers must be an int >= 0"):
            create_app(workflows={"a": graph}, checkpointer=saver, api_keys=KEYS, workers=-1)
        with pytest.raises(ValueError, match=r"lease must be in \[1, 3600\] s"):
            create_app(workflows={"a": graph}, checkpointer=saver, api_keys=KEYS, lease=0.5)
        with pytest.raises(ValueError, match="queue must be a non-empty string"):
            create_app(workflows={"a": graph}, checkpointer=saver, api_keys=KEYS, queue="")
        with pytest.raises(ValueError, match=r"poll_interval must be in \(0, 60\] s"):
            create_app(workflows={"a": graph}, checkpointer=saver, api_keys=KEYS, poll_interval=0)
        with pytest.raises(TypeError, match=r"workflows\['b'\] must be a compiled graph"):
            create_app(workflows={"b": object()}, checkpointer=saver, api_keys=KEYS)
        with pytest.raises(ValueError, match="api_key_auth: keys"):
            create_app(workflows={"a": graph}, checkpointer=saver, api_keys={"": "t"})
        with pytest.raises(TypeError, match=r"create_app: budgets\[1\] must be a Budget"):
            create_app(
                workflows={"a": graph},
                checkpointer=saver,
                api_keys=KEYS,
                budgets=[Budget(name="calls", calls=5), "calls"],
            )
        with pytest.raises(TypeError, match="create_app: budgets must be a sequence of Budget"):
            create_app(
                workflows={"a": graph},
                checkpointer=saver,
                api_keys=KEYS,
                budgets=Budget(name="calls", calls=5),  # type: ignore[arg-type]
            )
        with pytest.raises(ValueError, match="create_app: time_limit"):
            create_app(workflows={"a": graph}, checkpointer=saver, api_keys=KEYS, time_limit=-1)


def test_a_custom_authenticate_names_the_tenant(tmp_path: Path) -> None:
    def by_header(request: Any) -> str:
        return str(request.headers.get("X-Tenant", "public"))

    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver:
        app = create_app(
            workflows={"build": _graph(["a"]).compile()}, checkpointer=saver, authenticate=by_header
        )
        with TestClient(app) as c:
            rid = c.post("/runs", json={"workflow": "build"}, headers={"X-Tenant": "t1"}).json()
            _workers(c).wait(rid["run_id"], timeout=60)
            assert c.get(f"/runs/{rid['run_id']}", headers={"X-Tenant": "t1"}).status_code == 200
            assert c.get(f"/runs/{rid['run_id']}").status_code == 404


def test_artifacts_list_each_steps_files(tmp_path: Path) -> None:
    def render(state: Build) -> dict[str, Any]:
        return {"artifact_paths": {"report": "out/report.pdf"}}

    class WithArtifacts(Build, total=False):
        artifact_paths: dict[str, str]

    g = StateGraph(WithArtifacts)
    g.add_node("render", render)
    g.add_edge(START, "render")
    g.add_edge("render", END)
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver:
        app = create_app(workflows={"render": g.compile()}, checkpointer=saver, api_keys=KEYS)
        with TestClient(app) as c:
            rid = c.post("/runs", json={"workflow": "render"}, headers=A).json()["run_id"]
            _workers(c).wait(rid, timeout=60)
            found = c.get(f"/runs/{rid}/artifacts", headers=A).json()
            assert found == [{"step": "render", "name": "report", "path": "out/report.pdf"}]
            assert c.get(f"/runs/{rid}/artifacts", headers=B).status_code == 404


def test_events_of_an_ended_run_are_one_event_then_the_end(client: TestClient) -> None:
    import json

    rid = client.post("/runs", json={"workflow": "build"}, headers=A).json()["run_id"]
    _finish(client, rid)
    r = client.get(f"/runs/{rid}/events", headers=A)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    data = [line[5:].strip() for line in r.text.splitlines() if line.startswith("data:")]
    assert [json.loads(d)["status"] for d in data] == ["completed"]
    assert "event: run" in r.text
    assert client.get(f"/runs/{rid}/events", headers=B).status_code == 404


def test_event_stream_sends_each_change_once_and_ends_with_the_run() -> None:
    """pending, running, running (no change: no event), completed: three events, then the end."""
    import asyncio

    from langgraph_runner._service.events import event_stream
    from langgraph_runner._service.schemas import RunDetail

    def detail(status: str, done: int) -> RunDetail:
        return RunDetail(
            run_id="r",
            thread_id="t",
            workflow="w",
            status=status,
            started_at=1.0,
            updated_at=1.0,
            steps_done=done,
        )

    later = iter([detail("running", 1), detail("running", 1), detail("completed", 3)])
    response = event_stream(lambda: next(later), detail("pending", 0), interval=0)

    async def collect() -> list[Any]:
        return [event async for event in response.body_iterator]

    events = asyncio.run(collect())
    statuses = [json_status(e.data) for e in events]
    assert statuses == ["pending", "running", "completed"]


def json_status(text: str) -> str:
    import json

    return str(json.loads(text)["status"])


def test_update_rebuilds_only_the_steps_a_change_reaches(tmp_path: Path) -> None:
    """A completed run rebuilt with a new title: parse is reused, render executes again."""
    from langgraph.cache.memory import InMemoryCache

    from langgraph_runner import GraphState, NodeCache, create_node

    class Doc(GraphState, total=False):  # its step_marks say which steps were reused
        source: str
        title: str
        words: int
        page: str

    calls: list[str] = []

    def parse(state: Doc) -> dict[str, Any]:
        calls.append("parse")
        return {"words": len(state["source"].split())}

    def render(state: Doc) -> dict[str, Any]:
        calls.append("render")
        return {"page": f"{state['title']}: {state['words']} words"}

    backend: InMemoryCache[Any] = InMemoryCache()
    g = StateGraph(Doc)
    g.add_node(
        "parse",
        create_node(parse, cache=NodeCache(inputs=["source"], backend=backend, version="1")),
    )
    g.add_node(
        "render",
        create_node(
            render, cache=NodeCache(inputs=["title", "words"], backend=backend, version="1")
        ),
    )
    g.add_edge(START, "parse")
    g.add_edge("parse", "render")
    g.add_edge("render", END)
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver:
        app = create_app(workflows={"doc": g.compile()}, checkpointer=saver, api_keys=KEYS)
        with TestClient(app) as c:
            first = {"workflow": "doc", "input": {"source": "a b c", "title": "Old"}}
            base = c.post("/runs", json=first, headers=A).json()["run_id"]
            _workers(c).wait(base, timeout=60)
            assert calls == ["parse", "render"]
            r = c.post(f"/runs/{base}/update", json={"inputs": {"title": "New"}}, headers=A)
            assert r.status_code == 202, r.text
            body = r.json()
            assert body["plan"]["rerun"] == ["render"]
            assert body["plan"]["reused"] == ["parse"]
            result = _workers(c).wait(body["run_id"], timeout=60)
            assert result.executed == ("render",)
            assert calls == ["parse", "render", "render"]
            rebuilt = c.get(f"/runs/{body['run_id']}", headers=A).json()
            assert rebuilt["status"] == "completed"
            assert {s["name"]: s["status"] for s in rebuilt["steps"]} == {
                "parse": "reused",
                "render": "succeeded",
            }
            # Another tenant's run: 404; a bad field: 422 naming it.
            other = c.post(f"/runs/{base}/update", json={"inputs": {"title": "X"}}, headers=B)
            assert other.status_code == 404
            bad = c.post(f"/runs/{base}/update", json={"inputs": {"nope": 1}}, headers=A)
            assert (bad.status_code, bad.json()["field"]) == (422, "inputs")


def test_update_of_a_run_that_did_not_complete_is_409_with_the_reason(client: TestClient) -> None:
    rid = client.post("/runs", json={"workflow": "broken"}, headers=A).json()["run_id"]
    _finish(client, rid)
    r = client.post(f"/runs/{rid}/update", json={"inputs": {"title": "t"}}, headers=A)
    assert r.status_code == 409
    assert r.json()["field"] == "run_id"
    assert r.json()["detail"].startswith(f"run {rid!r} is failed")
    assert "only a completed run can be rebuilt" in r.json()["detail"]
    assert client.get(f"/runs/{rid}", headers=A).json()["status"] == "failed"  # kept as it was


def test_the_service_on_postgresql() -> None:
    """The same routes on PostgreSQL: trigger, read back, list by workflow, tenant-scoped."""
    from tests.services import postgres_url

    url = postgres_url()
    tenant = f"pg-{uuid.uuid4().hex}"
    keys = {f"key-{tenant}": tenant, f"other-{tenant}": f"{tenant}-other"}
    mine, theirs = {"X-API-Key": f"key-{tenant}"}, {"X-API-Key": f"other-{tenant}"}
    with open_checkpointer(url) as saver:
        app = create_app(
            workflows={"build": _graph(["fetch", "parse"]).compile()},
            checkpointer=saver,
            api_keys=keys,
            queue=tenant,  # the shared database: no other process takes these runs
        )
        with TestClient(app) as c:
            rids = []
            for _ in range(3):
                rid = c.post("/runs", json={"workflow": "build"}, headers=mine).json()["run_id"]
                _workers(c).wait(rid, timeout=60)
                rids.append(rid)
            listed = c.get("/runs", params={"workflow": "build"}, headers=mine).json()["runs"]
            assert [r["run_id"] for r in listed] == rids[::-1]
            run = c.get(f"/runs/{rids[0]}", headers=mine).json()
            assert (run["status"], run["steps_done"], run["steps_total"]) == ("completed", 2, 2)
            assert c.get(f"/runs/{rids[0]}", headers=theirs).status_code == 404
            assert c.get("/runs", headers=theirs).json()["runs"] == []
            for rid in rids:
                saver.delete_thread(rid)
            assert _workers(c).queue.purge() == 3


def test_a_live_run_shows_its_running_step_and_the_ended_ones_own_times(
    client: TestClient,
) -> None:
    """While ``wait`` runs, GET /runs/{id} says so; fetch has ended with its own time."""
    run_id = client.post("/runs", json={"workflow": "slow"}, headers=A).json()["run_id"]
    try:
        run: dict[str, Any] = {}
        for _ in range(600):  # the step's start lands within the writer's gathering time
            run = client.get(f"/runs/{run_id}", headers=A).json()
            if any(s["status"] == "running" for s in run["steps"]):
                break
            threading.Event().wait(0.05)
        steps = {s["name"]: s for s in run["steps"]}
        assert {n: s["status"] for n, s in steps.items()} == {
            "fetch": "succeeded",
            "wait": "running",
            "render": "pending",
        }
        assert steps["fetch"]["duration_ms"] is not None
        assert steps["wait"]["started_at"] and steps["wait"]["duration_ms"] is None
        running = client.get(f"/runs/{run_id}/steps?status=running", headers=A).json()
        assert [s["name"] for s in running] == ["wait"]
    finally:
        GATE.set()
    _finish(client, run_id)
    done = client.get(f"/runs/{run_id}", headers=A).json()
    assert {s["status"] for s in done["steps"]} == {"succeeded"}


def test_a_run_draws_the_shape_it_started_with_not_the_workflow_served_now(
    tmp_path: Path,
) -> None:
    """GET /runs/{id} gives the graph stored at the run's start: after the workflow
    changed (another app, the same name), an old run still shows its own edges."""
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver:
        before = {"build": _graph(["fetch", "parse", "render"]).compile()}
        with TestClient(create_app(workflows=before, checkpointer=saver, api_keys=KEYS)) as c:
            old = c.post("/runs", json={"workflow": "build"}, headers=A).json()["run_id"]
            _finish(c, old)
        after = {"build": _graph(["fetch", "render", "publish"]).compile()}
        with TestClient(create_app(workflows=after, checkpointer=saver, api_keys=KEYS)) as c:
            new = c.post("/runs", json={"workflow": "build"}, headers=A).json()["run_id"]
            _finish(c, new)
            old_graph = c.get(f"/runs/{old}", headers=A).json()["graph"]
            new_graph = c.get(f"/runs/{new}", headers=A).json()["graph"]
            served = c.get("/workflows/build", headers=A).json()
    edges = {(a, b) for a, b, _ in old_graph["edges"]}
    assert edges == {
        ("__start__", "fetch"),
        ("fetch", "parse"),
        ("parse", "render"),
        ("render", "__end__"),
    }
    assert old_graph["nodes"] == ["fetch", "parse", "render"]
    assert {(a, b) for a, b, _ in new_graph["edges"]} == {(a, b) for a, b, _ in served["edges"]}
    assert ("render", "publish") in {(a, b) for a, b, _ in new_graph["edges"]}


def test_a_run_reports_the_services_budgets_and_time_limit(tmp_path: Path) -> None:
    """create_app(budgets=, time_limit=): GET /runs/{id} says where each budget stands."""
    calls = Budget(name=f"calls-{uuid.uuid4().hex}", calls=10)

    def step(state: Build) -> dict[str, Any]:
        return {"log": ["counted"]}

    g = StateGraph(Build)
    g.add_node("counted", create_node(step, name="counted", budget=calls))
    g.add_edge(START, "counted")
    g.add_edge("counted", END)
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver:
        app = create_app(
            workflows={"counted": g.compile()},
            checkpointer=saver,
            api_keys=KEYS,
            budgets=[calls],
            time_limit=120,
        )
        with TestClient(app) as c:
            run_id = c.post("/runs", json={"workflow": "counted"}, headers=A).json()["run_id"]
            _finish(c, run_id)
            run = c.get(f"/runs/{run_id}", headers=A).json()
    assert run["status"] == "completed"
    assert run["time_limit"] == 120.0
    (standing,) = run["budgets"]
    assert standing["name"] == calls.name and standing["per"] == "run"
    assert standing["scope_id"] == run_id
    assert standing["spent"]["calls"] == 1.0
    assert standing["remaining"]["calls"] == 9.0
    assert standing["exhausted"] is False
