"""Tests for langgraph_runner.service: the runs service over HTTP, against SQLite.

Routes are called through FastAPI's TestClient (no port). Runs are executed by the
app's in-process workers; a test waits for one with ``app.state.workers.wait`` (the
worker's future), never by sleeping.
"""

from __future__ import annotations

import json
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
        "/runs/{run_id}/wait",
        "/runs/{run_id}/resume",
        "/runs/{run_id}/retry",
        "/runs/{run_id}/webhooks",
        "/schedules",
        "/schedules/{schedule_id}",
        "/workflows",
        "/workflows/{name}",
    } | {"/workers", "/runs/{run_id}/steps/{name}/attempts"}
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

    from langgraph_runner._service.routes import event_stream
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


@pytest.mark.parametrize("schema", ["GraphState", "TypedDict"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_update_rebuilds_only_the_steps_a_change_reaches(
    tmp_path: Path, backend: str, schema: str
) -> None:
    """A completed run rebuilt with a new title: parse is reused, render executes again.
    The run's page says ``reused`` whether or not the state has GraphState's channels."""
    from langgraph.cache.memory import InMemoryCache

    from langgraph_runner import GraphState, NodeCache, create_node
    from tests.service.served import served

    class Plain(TypedDict, total=False):  # no step_marks: the run's own rows tell
        source: str
        title: str
        words: int
        page: str

    class Marked(GraphState, Plain, total=False):  # its step_marks say so too
        pass

    Doc: Any = Marked if schema == "GraphState" else Plain
    calls: list[str] = []

    def parse(state: Plain) -> dict[str, Any]:
        calls.append("parse")
        return {"words": len(state["source"].split())}

    def render(state: Plain) -> dict[str, Any]:
        calls.append("render")
        return {"page": f"{state['title']}: {state['words']} words"}

    backend_cache: InMemoryCache[Any] = InMemoryCache()
    g = StateGraph(Doc)
    g.add_node(
        "parse",
        create_node(parse, cache=NodeCache(inputs=["source"], backend=backend_cache, version="1")),
    )
    g.add_node(
        "render",
        create_node(
            render, cache=NodeCache(inputs=["title", "words"], backend=backend_cache, version="1")
        ),
    )
    g.add_edge(START, "parse")
    g.add_edge("parse", "render")
    g.add_edge("render", END)
    with served(backend, tmp_path, {"doc": g.compile()}) as c:
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
        assert (rebuilt["steps_done"], rebuilt["steps_total"]) == (2, 2)
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


# --------------------------------------------------------------- threads are per tenant


@pytest.fixture(params=["sqlite", "postgres"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Two tenants with their own API keys on one app, on SQLite or on PostgreSQL.

    On the shared PostgreSQL database the tenants and the queue are new names, so no
    other test's runs or threads meet these; their threads are deleted afterwards.
    """
    from langgraph_runner._runs.tenancy import scoped_thread_id

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'runs.db'}"
    else:
        pytest.importorskip("langgraph.checkpoint.postgres")
        from tests.services import postgres_url

        url = postgres_url()
    uid = uuid.uuid4().hex
    tenants = {"key-a": f"tenant-a-{uid}", "key-b": f"tenant-b-{uid}"}
    with open_checkpointer(url) as saver:
        workflows = {
            "build": _graph(["fetch", "parse", "render"]).compile(),
            "short": _graph(["fetch", "publish"]).compile(),
        }
        app = create_app(
            workflows=workflows, checkpointer=saver, api_keys=tenants, workers=2, queue=uid
        )
        with TestClient(app) as c:
            yield c
            for rid, _tenant, thread in _queued_threads(c):
                for tenant in tenants.values():
                    saver.delete_thread(scoped_thread_id(tenant, thread))
                saver.delete_thread(rid)
            _workers(c).queue.purge()


def _queued_threads(c: TestClient) -> list[tuple[str, str, str]]:
    """(run id, tenant, thread id as stored) of every run this test's queue took."""
    from langgraph_runner._service.queue import QUEUE_TABLE

    queue = _workers(c).queue
    _, rows = queue._sql.run(
        f"SELECT run_id, tenant, thread_id FROM {QUEUE_TABLE} WHERE queue = ?", (queue.queue,)
    )
    found = [(r["run_id"], r["tenant"], r["thread_id"]) if isinstance(r, dict) else r for r in rows]
    return [(str(a), str(b), str(t).partition("/")[2] or str(t)) for a, b, t in found]


def _run_on(c: TestClient, headers: dict[str, str], workflow: str, thread: str) -> str:
    """Trigger ``workflow`` on ``thread``, wait for it; its id (a 202 first)."""
    r = c.post("/runs", json={"workflow": workflow, "thread_id": thread}, headers=headers)
    assert r.status_code == 202, r.text
    rid = str(r.json()["run_id"])
    assert c.get(f"/runs/{rid}", headers=headers).status_code == 200  # never a 404
    _workers(c).wait(rid, timeout=60)
    return rid


def _steps(c: TestClient, headers: dict[str, str], rid: str) -> dict[str, str]:
    r = c.get(f"/runs/{rid}", headers=headers)
    assert r.status_code == 200, r.text
    return {s["name"]: s["status"] for s in r.json()["steps"]}


def test_two_tenants_on_one_thread_id_each_run_and_see_only_their_own(shared: TestClient) -> None:
    """Before: b's run on a's thread was answered 202, then never ran and read as 404."""
    a_run = _run_on(shared, A, "build", "shared-thread")
    b_run = _run_on(shared, B, "short", "shared-thread")
    a_again = _run_on(shared, A, "build", "shared-thread")  # a's thread is still a's own
    for headers, rid, names in (
        (A, a_run, ["fetch", "parse", "render"]),
        (B, b_run, ["fetch", "publish"]),
        (A, a_again, ["fetch", "parse", "render"]),
    ):
        run = shared.get(f"/runs/{rid}", headers=headers).json()
        assert (run["status"], run["thread_id"]) == ("completed", "shared-thread")
        assert (run["steps_done"], run["steps_total"]) == (len(names), len(names))
        assert _steps(shared, headers, rid) == dict.fromkeys(names, "succeeded")
    listed_a = [r["run_id"] for r in shared.get("/runs", headers=A).json()["runs"]]
    listed_b = shared.get("/runs", headers=B).json()["runs"]
    assert listed_a == [a_again, a_run]
    assert [(r["run_id"], r["thread_id"]) for r in listed_b] == [(b_run, "shared-thread")]
    assert shared.get(f"/runs/{b_run}", headers=A).status_code == 404
    assert shared.get(f"/runs/{a_run}", headers=B).status_code == 404


def test_a_thread_id_another_tenant_used_first_never_404s_the_run(shared: TestClient) -> None:
    """b uses the thread first; a's run on it answers 202, then runs, and is always a's."""
    _run_on(shared, B, "build", "first-used-by-b")
    r = shared.post("/runs", json={"workflow": "short", "thread_id": "first-used-by-b"}, headers=A)
    assert r.status_code == 202
    rid = r.json()["run_id"]
    assert r.json()["thread_id"] == "first-used-by-b"
    assert shared.get(f"/runs/{rid}", headers=A).status_code == 200
    _workers(shared).wait(rid, timeout=60)
    run = shared.get(f"/runs/{rid}", headers=A).json()
    assert run["status"] == "completed", run
    assert _steps(shared, A, rid) == {"fetch": "succeeded", "publish": "succeeded"}


def _answers(c: TestClient, headers: dict[str, str], rid: str) -> list[tuple[int, Any]]:
    """What every route that takes a run id answers for ``rid`` (the id written as ID)."""
    calls = [
        ("GET", f"/runs/{rid}", None),
        ("GET", f"/runs/{rid}/steps", None),
        ("GET", f"/runs/{rid}/artifacts", None),
        ("GET", f"/runs/{rid}/events", None),
        ("POST", f"/runs/{rid}/cancel", None),
        ("POST", f"/runs/{rid}/update", {"inputs": {"title": "x"}}),
    ]
    out = []
    for method, path, body in calls:
        r = c.request(method, path, json=body, headers=headers)
        out.append((r.status_code, json.loads(r.text.replace(rid, "ID"))))
    return out


def test_absent_and_foreign_ids_answer_identically(shared: TestClient) -> None:
    """No answer tells another tenant's run or thread from one that does not exist."""
    a_run = _run_on(shared, A, "build", "a-private-thread")
    absent = str(uuid.uuid4())
    assert _answers(shared, B, a_run) == _answers(shared, B, absent)
    assert _answers(shared, B, absent)[0] == (404, {"detail": "no run 'ID'", "field": "run_id"})
    # A thread id a uses and one nobody uses: b's runs on either go the same way.
    on_foreign = _run_on(shared, B, "build", "a-private-thread")
    on_absent = _run_on(shared, B, "build", f"nobody-{uuid.uuid4().hex}")
    seen = []
    for rid in (on_foreign, on_absent):
        run = shared.get(f"/runs/{rid}", headers=B).json()
        seen.append((run["status"], run["reason"], _steps(shared, B, rid)))
    assert (
        seen[0]
        == seen[1]
        == ("completed", None, dict.fromkeys(("fetch", "parse", "render"), "succeeded"))
    )


def test_a_runs_page_after_a_second_run_on_its_thread_shows_its_own_steps(
    shared: TestClient,
) -> None:
    """Before: the first run's page showed the second run's steps and times (5 of 5)."""
    first = _run_on(shared, A, "build", "twice")
    before = shared.get(f"/runs/{first}", headers=A).json()
    second = _run_on(shared, A, "short", "twice")
    after = shared.get(f"/runs/{first}", headers=A).json()
    assert after == before  # the second run changed nothing of the first one's page
    assert (after["steps_done"], after["steps_total"]) == (3, 3)
    assert [s["name"] for s in after["steps"]] == ["fetch", "parse", "render"]
    steps = shared.get(f"/runs/{first}/steps", headers=A).json()
    assert [s["name"] for s in steps] == ["fetch", "parse", "render"]
    last = shared.get(f"/runs/{second}", headers=A).json()
    assert [s["name"] for s in last["steps"]] == ["fetch", "publish"]
    assert min(s["started_at"] for s in last["steps"]) > max(s["started_at"] for s in steps)


def test_a_run_that_cannot_start_ends_failed_with_its_reason(shared: TestClient) -> None:
    """Answered, then refused by its worker (its base run is gone): a failed row, not a 404."""
    from langgraph_runner._rebuild.partial import Change

    item = _workers(shared).submit(
        "build",
        "tenant-a-" + _tenant_suffix(shared),
        None,
        None,
        change=Change(inputs={"title": "x"}),
        base_thread="no-such-thread",
    )
    with pytest.raises(Exception, match="no checkpoint"):
        _workers(shared).wait(item.run_id, timeout=60)
    run = shared.get(f"/runs/{item.run_id}", headers=A).json()
    assert run["status"] == "failed"
    assert run["reason"].startswith("the run could not start: RunNotCompletedError")
    assert {s["status"] for s in run["steps"]} == {"pending"}
    assert [r["run_id"] for r in shared.get("/runs", headers=A).json()["runs"]] == [item.run_id]


def _tenant_suffix(c: TestClient) -> str:
    return str(_workers(c).queue.queue)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_update_of_the_first_run_on_a_thread_plans_from_the_first_run(
    tmp_path: Path, backend: str
) -> None:
    """Before: the rebuild of the first run planned from the latest run on its thread."""
    from langgraph.cache.memory import InMemoryCache

    from langgraph_runner import GraphState, NodeCache
    from langgraph_runner._runs.tenancy import scoped_thread_id

    class Doc(GraphState, total=False):
        source: str
        title: str
        words: int
        page: str

    def parse(state: Doc) -> dict[str, Any]:
        return {"words": len(state["source"].split())}

    def render(state: Doc) -> dict[str, Any]:
        return {"page": f"{state['title']}: {state['words']} words"}

    backend_cache: InMemoryCache[Any] = InMemoryCache()
    g = StateGraph(Doc)
    g.add_node(
        "parse", create_node(parse, cache=NodeCache(inputs=["source"], backend=backend_cache))
    )
    g.add_node(
        "render",
        create_node(render, cache=NodeCache(inputs=["title", "words"], backend=backend_cache)),
    )
    g.add_edge(START, "parse")
    g.add_edge("parse", "render")
    g.add_edge("render", END)
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'runs.db'}"
    else:
        pytest.importorskip("langgraph.checkpoint.postgres")
        from tests.services import postgres_url

        url = postgres_url()
    uid = uuid.uuid4().hex
    keys = {"key-a": f"tenant-a-{uid}"}
    with open_checkpointer(url) as saver:
        app = create_app(
            workflows={"doc": g.compile()}, checkpointer=saver, api_keys=keys, queue=uid
        )
        with TestClient(app) as c:
            ids = []
            for source, title in (("a b c", "Old"), ("x y", "Other")):
                body = {"workflow": "doc", "input": {"source": source, "title": title}}
                body["thread_id"] = "doc-thread"
                ids.append(c.post("/runs", json=body, headers=A).json()["run_id"])
                _workers(c).wait(ids[-1], timeout=60)
            r = c.post(f"/runs/{ids[0]}/update", json={"inputs": {"title": "New"}}, headers=A)
            assert r.status_code == 202, r.text
            the_plan = r.json()["plan"]
            assert the_plan["input"] == {"source": "a b c", "title": "New"}
            assert (the_plan["rerun"], the_plan["reused"]) == (["render"], ["parse"])
            result = _workers(c).wait(r.json()["run_id"], timeout=60)
            assert result.run.output["page"] == "New: 3 words"
            assert result.executed == ("render",)
            for rid in (*ids, r.json()["run_id"]):
                saver.delete_thread(scoped_thread_id(keys["key-a"], rid))
            saver.delete_thread(scoped_thread_id(keys["key-a"], "doc-thread"))
            _workers(c).queue.purge()


# ------------------------------------------------------------------ waiting for a run


def test_wait_answers_once_the_run_ends_or_as_it_stands_after_the_timeout(
    client: TestClient,
) -> None:
    """``GET /runs/{id}/wait``: a short timeout on a run held at a gate answers it still
    live; once the gate opens, a wait answers the run ended, with its steps."""
    run_id = client.post("/runs", json={"workflow": "slow"}, headers=A).json()["run_id"]
    early = client.get(f"/runs/{run_id}/wait", params={"timeout": 0.2}, headers=A)
    assert early.status_code == 200
    assert early.json()["status"] in ("pending", "running")
    GATE.set()
    done = client.get(f"/runs/{run_id}/wait", params={"timeout": 60}, headers=A).json()
    assert done["status"] == "completed"
    assert {s["status"] for s in done["steps"]} == {"succeeded"}


def test_wait_is_tenant_scoped_and_bounded(client: TestClient) -> None:
    """Another tenant's run waits like a missing one (404); a timeout past the bound is 422."""
    run_id = client.post("/runs", json={"workflow": "build"}, headers=A).json()["run_id"]
    assert client.get(f"/runs/{run_id}/wait", params={"timeout": 0}, headers=B).status_code == 404
    assert client.get("/runs/nope/wait", params={"timeout": 0}, headers=A).status_code == 404
    too_long = client.get(f"/runs/{run_id}/wait", params={"timeout": 301}, headers=A)
    assert too_long.status_code == 422 and too_long.json()["field"] == "timeout"
    _finish(client, run_id)
