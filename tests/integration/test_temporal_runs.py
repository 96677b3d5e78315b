"""The runs service on Temporal (``create_app(executor=TemporalExecutor(...))``), on a dev server.

Runs are triggered over HTTP (FastAPI's TestClient) and executed by ``runs_worker``
workers: one in a thread of this process, or worker processes for the kill test. The
service and the workers share one SQLite file. What users rely on: a triggered run is
listed ``pending`` at once, for its tenant only; it runs as a workflow whose nodes are
activities; ``GET /runs/{id}``, its steps, artifacts and events read it as they read a
run of the table queue (the same graph on the queue gives the same answers); a cancel
cancels the workflow and the running node sees its abort signal; a rebuild runs; a
worker killed mid-node is survived by another, the finished nodes not run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
try:
    import temporalio.langgraph  # noqa: F401
except ImportError as missing:  # the 'temporal' extra: skip locally, fail under CI=true
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip(f"the 'temporal' extra is not installed ({missing})", allow_module_level=True)

from fastapi.testclient import TestClient
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError

from langgraph_runner._records.exceptions import CommandError
from langgraph_runner.runs import open_checkpointer
from langgraph_runner.service import create_app
from langgraph_runner.temporal import TemporalExecutor, runs_worker
from langgraph_runner.testing import no_wait
from tests.temporal_runs_worker import steps, worker, workflows

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"key-a": "tenant-a", "key-b": "tenant-b"}
A = {"X-API-Key": "key-a"}
B = {"X-API-Key": "key-b"}

pytestmark = pytest.mark.slow


class Service:
    """The app on Temporal, a worker in a thread of this process, their database."""

    def __init__(self, address: str, where: Path, *, worker_here: bool = True) -> None:
        self.address = address
        self.where = where
        self.url = f"sqlite:///{where / 'runs.db'}"
        self.queue = f"lgr-runs-{uuid.uuid4().hex}"
        self.client = asyncio.run(Client.connect(address))
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        if worker_here:
            self._thread = threading.Thread(target=self._serve, daemon=True)
            self._thread.start()
            assert self._ready.wait(30), "the worker never started"

    def _serve(self) -> None:
        async def main() -> None:
            client = await Client.connect(self.address)
            with open_checkpointer(self.url) as saver:
                async with worker(client, self.queue, saver):
                    self._ready.set()
                    await asyncio.to_thread(self._stop.wait)

        asyncio.run(main())

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def run(self, http: TestClient, inp: dict[str, Any], *, workflow: str = "steps") -> str:
        """Trigger a run of ``workflow`` for tenant A; its id."""
        answer = http.post("/runs", json={"workflow": workflow, "input": inp}, headers=A)
        assert answer.status_code == 202, answer.text
        run_id: str = answer.json()["run_id"]
        return run_id

    def workflow(self, run_id: str) -> Any:
        """The run's workflow, described by the server."""
        handle = self.client.get_workflow_handle(f"langgraph-runner-run-{run_id}")
        return asyncio.run(handle.describe())

    def history_activities(self, run_id: str) -> list[str]:
        """The activity types the run's workflow scheduled, in order."""
        handle = self.client.get_workflow_handle(f"langgraph-runner-run-{run_id}")

        async def types() -> list[str]:
            history = await handle.fetch_history()
            return [
                e.activity_task_scheduled_event_attributes.activity_type.name
                for e in history.events
                if e.HasField("activity_task_scheduled_event_attributes")
            ]

        return asyncio.run(types())


@pytest.fixture
def service(temporal_address: str, tmp_path: Path) -> Iterator[Service]:
    svc = Service(temporal_address, tmp_path)
    try:
        yield svc
    finally:
        svc.close()


@contextlib.contextmanager
def api(svc: Service, **options: Any) -> Iterator[TestClient]:
    """The app on Temporal (``svc``'s task queue and database), through a TestClient."""
    with open_checkpointer(svc.url) as saver:
        executor = TemporalExecutor(client=svc.client, task_queue=svc.queue)
        app = create_app(
            workflows={name: b.compile() for name, b in workflows().items()},
            checkpointer=saver,
            api_keys=KEYS,
            executor=executor,
            **options,
        )
        with TestClient(app) as client:
            yield client


@pytest.fixture
def http(service: Service) -> Iterator[TestClient]:
    with api(service) as client:
        yield client


def _ended(http: TestClient, run_id: str, headers: dict[str, str] = A) -> dict[str, Any]:
    answer = http.get(f"/runs/{run_id}/wait", params={"timeout": 60}, headers=headers)
    assert answer.status_code == 200, answer.text
    run: dict[str, Any] = answer.json()
    assert run["status"] not in ("pending", "running"), run
    return run


def _steps(run: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(s["name"], s["status"], s["cause"]) for s in run["steps"]]


def _log(where: Path) -> list[str]:
    log = where / "runs.log"
    return log.read_text(encoding="utf-8").split() if log.exists() else []


def _until(what: str, check: Any, timeout: float = 30) -> Any:
    ends = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < ends, f"never: {what}"
        time.sleep(0.05)
    return found


def test_a_run_triggered_over_http_runs_as_a_workflow_of_activities(
    service: Service, http: TestClient
) -> None:
    """Pending at once (its tenant's only), then completed: each node an activity."""
    run_id = service.run(http, {"x": 1, "dir": str(service.where)})
    [listed] = http.get("/runs", headers=A).json()["runs"]  # at once: pending, or further
    assert listed["run_id"] == run_id and listed["status"] in ("pending", "running", "completed")
    assert http.get("/runs", headers=B).json()["runs"] == []
    assert http.get(f"/runs/{run_id}", headers=B).status_code == 404
    run = _ended(http, run_id)
    assert run["status"] == "completed" and run["steps_done"] == run["steps_total"] == 3
    assert [(s["name"], s["status"]) for s in run["steps"]] == [
        ("a", "succeeded"),
        ("b", "succeeded"),
        ("c", "succeeded"),
    ]
    assert all(s["started_at"] and s["duration_ms"] is not None for s in run["steps"])
    assert run["graph"]["nodes"] == ["a", "b", "c"]
    assert http.get(f"/runs/{run_id}/artifacts", headers=A).json() == []
    done = http.get(f"/runs/{run_id}/steps", params={"status": "succeeded"}, headers=A).json()
    assert [s["name"] for s in done] == ["a", "b", "c"]
    events = http.get(f"/runs/{run_id}/events", headers=A).text
    last = [line for line in events.splitlines() if line.startswith("data: ")][-1]
    assert json.loads(last.removeprefix("data: "))["status"] == "completed"
    assert _log(service.where) == ["a", "b", "c"]
    assert service.workflow(run_id).status == WorkflowExecutionStatus.COMPLETED
    nodes = [t for t in service.history_activities(run_id) if t.startswith("steps.")]
    assert nodes == ["steps.a", "steps.b", "steps.c"]


def test_the_service_answers_as_on_the_table_queue(service: Service, http: TestClient) -> None:
    """The same runs on the queue: the same status, reason and steps."""
    runs = [("steps", {"x": 2}), ("steps", {"mode": "boom"}), ("strict", {"mode": "boom"})]
    on_temporal = [_ended(http, service.run(http, inp, workflow=w)) for w, inp in runs]
    with open_checkpointer(f"sqlite:///{service.where / 'queue.db'}") as saver:
        graphs = {name: b.compile() for name, b in workflows().items()}
        app = create_app(workflows=graphs, checkpointer=saver, api_keys=KEYS)
        with TestClient(app) as queue:
            on_queue = [_ended(queue, service.run(queue, inp, workflow=w)) for w, inp in runs]
    for mine, theirs in zip(on_temporal, on_queue, strict=True):
        keep = ("status", "reason", "steps_done", "steps_total", "workflow", "graph")
        assert {k: mine[k] for k in keep} == {k: theirs[k] for k in keep}
        assert _steps(mine) == _steps(theirs)
    assert on_temporal[1]["status"] == "failed"
    assert on_temporal[1]["reason"] == "step 'b' failed: ConnectionError: upstream down"
    assert _steps(on_temporal[1])[2] == ("c", "pending", None)  # the run stopped after b
    raised = _steps(on_temporal[2])[1]  # raise mode: the node's own error, not Temporal's
    assert (on_temporal[2]["status"], raised) == (
        "failed",
        ("b", "failed", "ConnectionError('upstream down')"),
    )


def _attempts(http: TestClient, run_id: str) -> list[dict[str, Any]]:
    answer = http.get(f"/runs/{run_id}/steps/b/attempts", headers=A)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


RETRIED = [
    ("retried", "recover"),  # two failures of their own, then the success
    ("retried", "spent"),  # three failures, the record written
    ("retried_raise", "spent"),  # three failures, the last one raised
]


def test_each_attempt_of_a_step_carries_its_own_record_as_on_the_table_queue(
    service: Service, http: TestClient
) -> None:
    """A step Temporal retries: each failed attempt with its own code, category, error
    type and redacted message, start and end, as the table queue answers (in-process)."""

    def inp(mode: str, where: str) -> dict[str, Any]:
        (service.where / where).mkdir()
        return {"mode": mode, "dir": str(service.where / where)}

    with no_wait():
        on_temporal = []
        for i, (workflow, mode) in enumerate(RETRIED):
            run_id = service.run(http, inp(mode, f"t{i}"), workflow=workflow)
            on_temporal.append((_ended(http, run_id)["status"], _attempts(http, run_id)))
        with open_checkpointer(f"sqlite:///{service.where / 'queue.db'}") as saver:
            graphs = {name: b.compile() for name, b in workflows().items()}
            app = create_app(workflows=graphs, checkpointer=saver, api_keys=KEYS)
            with TestClient(app) as queue:
                on_queue = []
                for i, (workflow, mode) in enumerate(RETRIED):
                    run_id = service.run(queue, inp(mode, f"q{i}"), workflow=workflow)
                    on_queue.append((_ended(queue, run_id)["status"], _attempts(queue, run_id)))
    own = ("number", "outcome", "code", "category", "error_type", "message")
    for (status, mine), (their_status, theirs) in zip(on_temporal, on_queue, strict=True):
        assert status == their_status
        assert [{k: a[k] for k in own} for a in mine] == [{k: a[k] for k in own} for a in theirs]
        for a in mine:
            assert a["started_at"] <= a["ended_at"] and a["duration_ms"] >= 0
        for earlier, later in itertools.pairwise(mine):
            assert earlier["ended_at"] <= later["started_at"]
        assert len({a["task_id"] for a in mine}) == 1 and mine[0]["task_id"]
    recovered, spent, raised = (attempts for _, attempts in on_temporal)
    assert [(a["number"], a["outcome"], a["error_type"]) for a in recovered] == [
        (1, "retried", "ConnectionError"),
        (2, "retried", "TimeoutError"),
        (3, "succeeded", None),
    ]
    assert [(a["number"], a["outcome"], a["category"]) for a in spent] == [
        (1, "retried", "network"),
        (2, "retried", "timeout"),
        (3, "failed", "other"),
    ]
    assert [a["outcome"] for a in raised] == ["retried", "retried", "failed"]
    assert "sk-live" not in str(on_temporal)
    assert "upstream refused the call" in recovered[0]["message"]


def test_a_cancel_cancels_the_workflow_and_the_node_sees_its_abort_signal(
    service: Service, http: TestClient
) -> None:
    """Cancel while b runs: b's abort signal fires, the run ends cancelled, c never runs."""
    run_id = service.run(http, {"mode": "wait", "dir": str(service.where)})

    def b_running() -> bool:
        found = http.get(f"/runs/{run_id}/steps?status=running", headers=A).json()
        return [s["name"] for s in found] == ["b"]

    _until("b running", b_running)
    assert http.post(f"/runs/{run_id}/cancel", headers=B).status_code == 404
    answer = http.post(f"/runs/{run_id}/cancel", headers=A)
    assert answer.status_code == 202 and answer.json()["status"] == "running"
    run = _ended(http, run_id)
    assert run["status"] == "cancelled" and run["reason"] == "cancelled over HTTP"
    assert [(s["name"], s["status"]) for s in run["steps"]] == [
        ("a", "succeeded"),
        ("b", "cancelled"),
        ("c", "pending"),
    ]
    _until("the node saw the abort", lambda: "aborted" in _log(service.where))
    assert _log(service.where) == ["a", "b", "aborted"]
    assert service.workflow(run_id).status == WorkflowExecutionStatus.CANCELED
    again = http.post(f"/runs/{run_id}/cancel", headers=A)  # as on the queue: nothing changes
    assert again.status_code == 202 and again.json()["status"] == "cancelled"


def test_runs_on_one_thread_run_one_after_the_other(service: Service, http: TestClient) -> None:
    """A run posted on a thread whose run is under way starts once that run has ended."""
    where = str(service.where)
    first = http.post(
        "/runs",
        json={"workflow": "steps", "input": {"mode": "wait", "dir": where}, "thread_id": "t1"},
        headers=A,
    ).json()["run_id"]

    def b_running() -> bool:
        found = http.get(f"/runs/{first}/steps?status=running", headers=A).json()
        return [s["name"] for s in found] == ["b"]

    _until("b running", b_running)
    second = http.post(
        "/runs",
        json={"workflow": "steps", "input": {"x": 1, "mode": "", "dir": where}, "thread_id": "t1"},
        headers=A,
    ).json()["run_id"]
    assert http.get(f"/runs/{second}", headers=A).json()["status"] == "pending"
    assert http.post(f"/runs/{first}/cancel", headers=A).status_code == 202
    ended = _ended(http, first)
    run = _ended(http, second)
    assert (ended["status"], run["status"], run["thread_id"]) == ("cancelled", "completed", "t1")
    assert run["started_at"] >= ended["updated_at"]  # it started once the first had ended
    assert [line for line in _log(service.where) if line != "aborted"] == ["a", "b"] * 2 + ["c"]


def test_the_time_limit_cancels_the_run_and_its_node(service: Service) -> None:
    """create_app(time_limit=1): the workflow's timer ends the run cancelled, b aborted."""
    with api(service, time_limit=1) as http:
        run_id = service.run(http, {"mode": "wait", "dir": str(service.where)})
        run = _ended(http, run_id)
        assert (run["status"], run["reason"], run["time_limit"]) == (
            "cancelled",
            "run time limit passed",
            1,
        )
        assert [(s["name"], s["status"]) for s in run["steps"]][2] == ("c", "pending")
        _until("the node saw the abort", lambda: "aborted" in _log(service.where))
        app: Any = http.app
        assert app.state.workers.wait(run_id, timeout=5) is None


def test_a_run_cancelled_before_a_worker_takes_it_never_runs(
    temporal_address: str, tmp_path: Path
) -> None:
    """No worker yet: the cancel answers cancelled at once; a worker started later runs nothing."""
    svc = Service(temporal_address, tmp_path, worker_here=False)
    with api(svc) as http:
        run_id = svc.run(http, {"dir": str(tmp_path)})
        assert http.get(f"/runs/{run_id}", headers=A).json()["status"] == "pending"
        answer = http.post(f"/runs/{run_id}/cancel", headers=A)
        assert answer.status_code == 202 and answer.json()["status"] == "cancelled"
        run = http.get(f"/runs/{run_id}", headers=A).json()
        assert (run["status"], run["reason"]) == ("cancelled", "cancelled before it started")
        later = Service(temporal_address, tmp_path, worker_here=False)
        later.queue = svc.queue
        later._thread = threading.Thread(target=later._serve, daemon=True)
        later._thread.start()
        try:
            assert later._ready.wait(30)
            handle = svc.client.get_workflow_handle(f"langgraph-runner-run-{run_id}")
            with pytest.raises(WorkflowFailureError) as failed:
                asyncio.run(asyncio.wait_for(handle.result(), 30))
            assert isinstance(failed.value.cause, CancelledError)  # cancelled, not failed
        finally:
            later.close()
        run = http.get(f"/runs/{run_id}", headers=A).json()
        assert (run["status"], run["reason"]) == ("cancelled", "cancelled before it started")
    assert _log(tmp_path) == []


def test_busy_threads_on_temporal_reject_and_interrupt_not_rollback(
    temporal_address: str, tmp_path: Path
) -> None:
    """A run no worker took yet makes its thread busy: reject answers 409, interrupt cancels
    it before it starts; rollback is not offered on Temporal (422; create_app refuses it)."""
    svc = Service(temporal_address, tmp_path, worker_here=False)
    with api(svc) as http:

        def post(strategy: str) -> Any:
            body = {"workflow": "steps", "input": {"dir": str(tmp_path)}, "thread_id": "t1"}
            return http.post("/runs", json={**body, "multitask_strategy": strategy}, headers=A)

        first = post("enqueue").json()["run_id"]
        refused = post("reject")
        assert (refused.status_code, refused.json()["field"]) == (409, "thread_id")
        assert first in refused.json()["detail"]
        refused = post("rollback")
        assert (refused.status_code, refused.json()["field"]) == (422, "multitask_strategy")
        last = post("interrupt").json()["run_id"]
        run = http.get(f"/runs/{first}", headers=A).json()
        assert (run["status"], run["reason"]) == (
            "cancelled",
            f"interrupted by run {last} (multitask_strategy=interrupt)",
        )
        assert http.post(f"/runs/{last}/cancel", headers=A).status_code == 202
    with pytest.raises(ValueError, match="rollback"):
        create_app(
            workflows={"steps": steps().compile()},
            checkpointer=_memory(),
            api_keys=KEYS,
            executor=TemporalExecutor(client=svc.client, task_queue=svc.queue),
            multitask_strategy="rollback",
        )


def test_a_completed_run_is_rebuilt_on_temporal(service: Service, http: TestClient) -> None:
    """POST /runs/{id}/update: planned here, run as a workflow on a new thread."""
    run_id = service.run(http, {"x": 1, "dir": str(service.where)})
    assert _ended(http, run_id)["status"] == "completed"
    answer = http.post(f"/runs/{run_id}/update", json={"inputs": {"x": 7}}, headers=A)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["plan"]["rerun"] == ["a", "b", "c"] and body["plan"]["input"]["x"] == 7
    rebuilt = _ended(http, body["run_id"])
    assert rebuilt["status"] == "completed"
    assert rebuilt["thread_id"] != _ended(http, run_id)["thread_id"]
    assert _log(service.where) == ["a", "b", "c", "a", "b", "c"]
    first = http.post(
        "/runs",
        json={"workflow": "cached", "input": {"x": 1, "dir": str(service.where)}},
        headers=A,
    ).json()["run_id"]
    assert _ended(http, first)["status"] == "completed"
    answer = http.post(f"/runs/{first}/update", json={"inputs": {"x": 1}}, headers=A)
    again = _ended(http, answer.json()["run_id"])  # c's input is the same: its entry reused
    assert [(s["name"], s["status"]) for s in again["steps"]] == [
        ("a", "succeeded"),
        ("c", "reused"),
    ]
    assert _log(service.where)[6:] == ["a", "c", "a"]  # c not run again
    boom = service.run(http, {"mode": "boom"})
    assert _ended(http, boom)["status"] == "failed"
    refused = http.post(f"/runs/{boom}/update", json={"inputs": {"x": 7}}, headers=A)
    assert refused.status_code == 409 and "only a completed run" in refused.json()["detail"]


def test_an_interrupted_run_is_resumed_and_a_failed_one_retried(
    service: Service, http: TestClient
) -> None:
    """POST /runs/{id}/resume and /retry continue the thread in a new workflow."""
    asked = service.run(http, {"x": 1, "mode": "ask", "dir": str(service.where)})
    run = _ended(http, asked)
    assert run["status"] == "interrupted" and [i["value"] for i in run["interrupts"]] == [
        "how many?"
    ]
    answer = http.post(f"/runs/{asked}/resume", json={"value": 3}, headers=A)
    assert answer.status_code == 202, answer.text
    resumed = _ended(http, answer.json()["run_id"])
    assert resumed["status"] == "completed" and resumed["thread_id"] == run["thread_id"]
    assert _log(service.where) == ["a", "b", "b", "answer=3", "c"]  # a not run again
    failed = service.run(http, {"mode": "boom"})
    assert _ended(http, failed)["status"] == "failed"
    again = http.post(f"/runs/{failed}/retry", headers=A)
    assert again.status_code == 202, again.text
    retried = _ended(http, again.json()["run_id"])
    assert retried["status"] == "failed" and retried["reason"] == _ended(http, failed)["reason"]


def _spawn(address: str, queue: str, url: str) -> subprocess.Popen[bytes]:
    """A worker process running this worktree's code (its ``src`` first on the path)."""
    path = [str(ROOT / "src"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    code = "import tests.temporal_runs_worker as w; w.main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, address, queue, url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_worker_killed_mid_run_is_survived(temporal_address: str, tmp_path: Path) -> None:
    """SIGKILL the worker running b (beside d, in one superstep): another worker finishes
    the run; a and d are not run again, and every step reads as on the queue."""
    svc = Service(temporal_address, tmp_path, worker_here=False)
    workers = {}
    try:
        for _ in range(2):  # a spare is up: no start-up time after the kill
            proc = _spawn(temporal_address, svc.queue, svc.url)
            workers[proc.pid] = proc
        with api(svc) as http:
            run_id = svc.run(http, {"x": 1, "mode": "kill", "dir": str(tmp_path)}, workflow="fan")
            marker = tmp_path / "b.started"
            pid = int(_until("b started", lambda: marker.exists() and marker.read_text()))

            def d_done() -> bool:  # its result is in the workflow's history: never again
                found = http.get(f"/runs/{run_id}/steps?status=succeeded", headers=A).json()
                return "d" in [s["name"] for s in found]

            _until("d done", d_done)
            running = http.get(f"/runs/{run_id}", headers=A).json()
            assert running["status"] == "running"
            workers.pop(pid).send_signal(signal.SIGKILL)
            run = _ended(http, run_id)
    finally:
        for proc in workers.values():
            proc.kill()
            proc.wait()
    assert run["status"] == "completed", run
    assert sorted((s["name"], s["status"]) for s in run["steps"]) == [
        ("a", "succeeded"),
        ("b", "succeeded"),
        ("c", "succeeded"),
        ("d", "succeeded"),
    ]
    assert sorted(_log(tmp_path)) == ["a", "b", "b", "c", "d"]  # b again after the kill
    assert _log(tmp_path)[-2:] == ["b", "c"]


def test_the_curl_walk_through_on_temporal_prints_what_the_page_shows(
    temporal_address: str, tmp_path: Path
) -> None:
    """docs/service.md's walk on Temporal runs as shown: its own dev server, worker and API."""
    from tests.service.test_walkthrough import _blocks, _tools, run_walk
    from tests.services import free_port

    _tools()  # curl and jq; the temporal_address fixture needs the CLI (skip, or fail in CI)
    script, expected = _blocks("### On Temporal with curl")
    port, temporal = free_port(), free_port()
    script = (
        script.replace(
            "examples/service_temporal.py", str(ROOT / "examples" / "service_temporal.py")
        )
        .replace("--port 8000", f"--port {port}")
        .replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        .replace("--port 7233", f"--port {temporal}")
        .replace("127.0.0.1:7233", f"127.0.0.1:{temporal}")
    )
    run_walk(script, expected, tmp_path)


def test_the_executor_and_the_worker_check_their_options(temporal_address: str) -> None:
    """Wrong options are refused at construction, naming the option."""
    client = asyncio.run(Client.connect(temporal_address))
    with pytest.raises(TypeError, match="client"):
        TemporalExecutor(client="127.0.0.1:7233", task_queue="q")
    with pytest.raises(ValueError, match="task_queue"):
        TemporalExecutor(client=client, task_queue="")
    with pytest.raises(TypeError, match="executor"):
        create_app(
            workflows={"steps": steps().compile()}, checkpointer=_memory(), api_keys=KEYS,
            executor=object(),
        )  # fmt: skip
    with pytest.raises(ValueError, match="task_queue"):
        runs_worker(client, task_queue="", workflows={"s": steps()}, checkpointer=_memory())
    app = create_app(
        workflows={"steps": steps().compile()},
        checkpointer=_memory(),
        api_keys=KEYS,
        executor=TemporalExecutor(client=client, task_queue="q"),
    )
    with pytest.raises(CommandError, match="runs_worker"):  # langgraph-runner worker MODULE
        app.state.workers.start(2)
    with pytest.raises(ValueError, match="workflows"):
        runs_worker(client, task_queue="q", workflows={}, checkpointer=_memory())


def _memory() -> Any:
    from langgraph.checkpoint.memory import InMemorySaver

    return InMemorySaver()


def test_checkpoint_ids_stay_langgraphs_outside_a_runs_workflow() -> None:
    """The wrapped id maker (installed once) gives LangGraph's own ids to any other graph."""
    from langgraph.checkpoint.memory import InMemorySaver

    from langgraph_runner._temporal.checkpoint_ids import install

    assert install() and install()
    saver = InMemorySaver()
    steps().compile(checkpointer=saver).invoke({"x": 1}, {"configurable": {"thread_id": "t"}})
    ids = [t.checkpoint["id"] for t in saver.list({"configurable": {"thread_id": "t"}})]
    assert len(ids) == len(set(ids)) == 5 and {uuid.UUID(i).version for i in ids} == {6}
    assert ids == sorted(ids, reverse=True)  # newest first: time-ordered, as LangGraph's


def test_the_service_imports_no_temporal() -> None:
    """Importing langgraph_runner.service never imports temporalio (an optional extra)."""
    code = "import sys, langgraph_runner.service; print('temporalio' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert out.stdout.strip() == "False"
