"""End to end: spans sent over OTLP to a real trace backend and read back from it.

The backend is Arize Phoenix (``scripts/test.sh`` installs it into ``.venvs/phoenix``),
started here on free ports with a working directory of its own, and read through its
REST API. Without it the tests skip with the reason (and fail under ``CI=true``).

What users rely on: a run's spans arrive as one trace, run > node > attempt, with a
retried attempt's delay and the failure's record code, and nothing secret in any
attribute or event; a run triggered over HTTP with a ``traceparent`` and executed by
``langgraph-runner worker`` in another process is in the caller's trace, also when that
worker process is killed in the middle of the run and another one resumes it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
pytest.importorskip("fastapi")

from fastapi.testclient import TestClient
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from langgraph_runner import GraphState, RetryConfig, create_node
from langgraph_runner._runs.checkpoint import open_checkpointer
from langgraph_runner._traces import spans
from langgraph_runner.runs import run
from langgraph_runner.testing import no_wait
from tests.service.queue_worker import NODES, chain, keys
from tests.services import fail_or_skip, free_port, stop_process, wait_started
from tests.traces.conftest import UniqueIds

ROOT = Path(__file__).resolve().parents[2]
WORKER_APP = ROOT / "tests" / "service" / "queue_worker.py"
SECRET = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"
DOCS_PHOENIX = "http://127.0.0.1:6006"  # where docs/tracing.md's walk-through runs Phoenix


def _docs_trace_link() -> str:
    """The ``trace_link`` docs/tracing.md passes to ``create_app`` for Phoenix."""
    text = (ROOT / "docs" / "tracing.md").read_text()
    found = re.search(r'trace_link="([^"]+)"', text)
    assert found is not None and found[1].startswith(DOCS_PHOENIX), "no Phoenix trace_link"
    return found[1]


TRACE_LINK = _docs_trace_link()


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Phoenix server on a free port with its own SQLite working directory."""
    binary = Path(os.environ.get("PHOENIX_BIN", ROOT / ".venvs" / "phoenix" / "bin" / "phoenix"))
    if not binary.exists():
        fail_or_skip(f"no Phoenix at {binary.relative_to(ROOT)} (bash scripts/test.sh installs it)")
    port = free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(tmp_path_factory.mktemp("phoenix")),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(free_port()),
    }
    log = tmp_path_factory.mktemp("phoenix-log") / "phoenix.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [str(binary), "serve"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_started(  # a loaded machine: it starts in 15-40 s
            healthy,
            proc,
            120,
            lambda: f"Phoenix did not start: {log.read_text(errors='replace')[-800:]}",
        )
        yield base
    finally:
        stop_process(proc, grace=30)


def _spans_of(base: str, project: str, trace_id: str, at_least: int) -> list[dict[str, Any]]:
    """The project's spans of ``trace_id`` once ``at_least`` have arrived (60 s at most)."""
    deadline = time.monotonic() + 60
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        r = httpx.get(f"{base}/v1/projects/{project}/spans", params={"limit": 1000}, timeout=10)
        if r.status_code == 200:
            found = [s for s in r.json()["data"] if s["context"]["trace_id"] == trace_id]
            if len(found) >= at_least:
                return found
        time.sleep(0.2)
    raise AssertionError(f"{len(found)} of {at_least} spans of {trace_id} reached {project}")


class S(GraphState, total=False):
    x: int


def test_a_run_arrives_as_one_trace_run_node_attempt_with_nothing_secret(phoenix: str) -> None:
    project = f"lgr-{uuid.uuid4().hex[:10]}"
    resource = Resource.create({"service.name": "test", "openinference.project.name": project})
    provider = TracerProvider(resource=resource, id_generator=UniqueIds())
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{phoenix}/v1/traces"))
    )
    calls = [0]

    def flaky(state: S) -> S:
        calls[0] += 1
        if calls[0] == 1:
            raise ConnectionError(f"reset, token={SECRET}")
        return {"x": state["x"] + 1}

    def broken(state: S) -> S:
        raise ValueError(f"bad, password={SECRET}")

    g = StateGraph(S)
    g.add_node("fetch", create_node(flaky, retry=RetryConfig(max_attempts=2)))
    g.add_node("parse", create_node(broken))
    g.add_edge(START, "fetch")
    g.add_edge("fetch", "parse")
    g.add_edge("parse", END)
    before = spans.use_provider(provider)
    try:
        with no_wait():
            config = {"configurable": {"thread_id": f"t-{uuid.uuid4().hex}"}}
            result = run(
                g.compile(checkpointer=InMemorySaver()), {"x": 1}, config, raise_on_error=False
            )
    finally:
        spans.use_provider(before)
        provider.shutdown()
    trace_id = result.trace_id
    got = _spans_of(phoenix, project, trace_id, at_least=6)  # run, 2 nodes, 3 attempts
    by_id = {s["context"]["span_id"]: s for s in got}
    names = sorted(s["name"] for s in got)
    assert names == ["langgraph_runner.attempt"] * 3 + ["langgraph_runner.node"] * 2 + [
        "langgraph_runner.run"
    ]
    (run_span,) = [s for s in got if s["name"] == "langgraph_runner.run"]
    assert run_span["parent_id"] is None
    nodes = {s["attributes"]["langgraph_runner.node.name"]: s for s in got if "node" in s["name"]}
    for node in nodes.values():
        assert node["parent_id"] == run_span["context"]["span_id"]
    attempts = [s for s in got if s["name"] == "langgraph_runner.attempt"]
    for attempt in attempts:
        assert by_id[attempt["parent_id"]]["name"] == "langgraph_runner.node"
    retried = [
        a for a in attempts if a["attributes"]["langgraph_runner.attempt.outcome"] == "retry"
    ]
    assert len(retried) == 1 and "langgraph_runner.retry.delay_s" in retried[0]["attributes"]
    parse = nodes["parse"]
    assert parse["status_code"] == "ERROR"
    assert parse["attributes"]["langgraph_runner.error.code"] == "RETRY_EXHAUSTED"  # the record's
    assert [e["name"] for e in parse["events"]] == ["exception"]
    assert SECRET not in str(got)


def test_a_service_run_executed_by_a_worker_process_is_in_the_callers_trace(
    phoenix: str, tmp_path: Path
) -> None:
    """POST /runs with a traceparent; ``langgraph-runner worker`` (another process) runs it;
    its run span and every node span are in the caller's trace."""
    project = f"lgr-{uuid.uuid4().hex[:10]}"
    queue = f"q-{uuid.uuid4().hex}"
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    ledger = str(tmp_path / "ledger.txt")
    caller_trace, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    with open_checkpointer(url) as saver:
        app = _app(saver, ledger, queue)
        with TestClient(app) as api:
            rid = _post_traced(api, "traced", caller_trace, caller_span)
            worker = _worker(url, queue, ledger, f"{phoenix}/v1/traces", project, tmp_path)
            run_ = _finished_by(worker, api, rid, tmp_path)
    assert run_["status"] == "completed" and run_["trace_id"] == caller_trace
    got = _spans_of(phoenix, project, caller_trace, at_least=1 + len(NODES))
    by_id = {s["context"]["span_id"]: s for s in got}
    (run_span,) = [s for s in got if s["name"] == "langgraph_runner.run"]
    assert run_span["attributes"]["langgraph_runner.run.id"] == rid
    assert run_span["parent_id"] == caller_span  # the caller's span, in another process
    nodes = [s for s in got if s["name"] == "langgraph_runner.node"]
    assert sorted(s["attributes"]["langgraph_runner.node.name"] for s in nodes) == sorted(NODES)
    for node in nodes:
        assert by_id[node["parent_id"]]["name"] == "langgraph_runner.run"
    _opens_in_phoenix(phoenix, TRACE_LINK, caller_trace)


def _opens_in_phoenix(base: str, link: str, trace_id: str) -> None:
    """The trace link docs/tracing.md gives ``create_app(trace_link=...)``, filled in as the
    run page fills it, opens the trace in Phoenix's UI: its project's trace view, the spans."""
    from tests.browser import launched

    with launched() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        page.goto(base + link.removeprefix(DOCS_PHOENIX).replace("{trace_id}", trace_id))
        page.get_by_text("langgraph_runner.run").first.wait_for()
        assert re.search(rf"/projects/[^/]+/traces/{trace_id}", page.url), page.url
        # The trace's tree is drawn in parts: wait for a node span too (a count taken at
        # once found none under load).
        page.get_by_text("langgraph_runner.node").first.wait_for()


def test_a_run_whose_worker_process_was_killed_is_resumed_by_another_in_the_callers_trace(
    phoenix: str, tmp_path: Path
) -> None:
    """POST /runs with a traceparent; a worker process runs n1 and n2 and is killed (SIGKILL)
    inside n3; a second worker process claims the run once its lease runs out and finishes
    it. Both workers' spans are in the caller's trace: n1 and n2 from the killed one (its
    run span never ended, so never arrived), the run span, n3 and n4 from the second."""
    project = f"lgr-{uuid.uuid4().hex[:10]}"
    queue = f"q-{uuid.uuid4().hex}"
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    ledger = tmp_path / "ledger.txt"
    caller_trace, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    otlp = f"{phoenix}/v1/traces"

    def ran(node: str) -> list[str]:  # the pids of the processes that ran ``node``
        lines = ledger.read_text().splitlines() if ledger.exists() else []
        return [pid for _, name, pid in (line.split() for line in lines) if name == node]

    with open_checkpointer(url) as saver:
        app = _app(saver, str(ledger), queue)
        with TestClient(app) as api:
            rid = _post_traced(api, "killed", caller_trace, caller_span)
            first = _worker(url, queue, str(ledger), otlp, project, tmp_path, block="n3", lease=1.0)
            try:
                deadline = time.monotonic() + 120
                while not ran("n3"):
                    assert first.poll() is None, (tmp_path / "worker.err").read_text()[-2000:]
                    assert time.monotonic() < deadline, "the first worker did not reach n3"
                    time.sleep(0.05)
            finally:
                first.kill()  # SIGKILL: no span of its run or of n3 is ended or sent
                first.wait()
            second = _worker(url, queue, str(ledger), otlp, project, tmp_path, lease=1.0)
            run_ = _finished_by(second, api, rid, tmp_path)
    assert run_["status"] == "completed" and run_["trace_id"] == caller_trace
    (killed,) = set(ran("n1")) | set(ran("n2"))
    assert ran("n3") == [killed, str(second.pid)] and ran("n4") == [str(second.pid)]
    got = _spans_of(phoenix, project, caller_trace, at_least=1 + len(NODES))
    by_id = {s["context"]["span_id"]: s for s in got}
    (run_span,) = [s for s in got if s["name"] == "langgraph_runner.run"]
    assert run_span["attributes"]["langgraph_runner.run.id"] == rid
    assert run_span["parent_id"] == caller_span
    nodes = {
        s["attributes"]["langgraph_runner.node.name"]: s
        for s in got
        if s["name"] == "langgraph_runner.node"
    }
    assert sorted(nodes) == sorted(NODES)  # n3 once: the killed worker's never ended
    for name in ("n3", "n4"):  # the second worker's, under its run span
        assert nodes[name]["parent_id"] == run_span["context"]["span_id"]
    # n1 and n2: the killed worker's, under its own run span, which never arrived.
    assert nodes["n1"]["parent_id"] == nodes["n2"]["parent_id"] not in by_id
    assert all(s["context"]["trace_id"] == caller_trace for s in got)


def _app(saver: Any, ledger: str, queue: str) -> Any:
    from langgraph_runner.service import create_app

    return create_app(
        workflows={"chain": chain(ledger, hardened=True).compile()},
        checkpointer=saver,
        api_keys=keys(queue),
        workers=0,
        queue=queue,
    )


def _post_traced(api: Any, title: str, trace: str, span: str) -> str:
    """POST a run of ``chain`` inside the caller's span (``traceparent``); its id."""
    r = api.post(
        "/runs",
        json={"workflow": "chain", "input": {"title": title}},
        headers={"X-API-Key": "key-a", "traceparent": f"00-{trace}-{span}-01"},
    )
    assert r.status_code == 202, r.text
    run_id: str = r.json()["run_id"]
    return run_id


def _finished_by(worker: Any, api: Any, run_id: str, where: Path) -> dict[str, Any]:
    """The run once ``worker`` (a process) ended it; the worker is stopped then."""
    try:
        deadline = time.monotonic() + 120
        while (run_ := api.get(f"/runs/{run_id}", headers={"X-API-Key": "key-a"}).json())[
            "status"
        ] in ("pending", "running"):
            assert worker.poll() is None, (where / "worker.err").read_text()[-2000:]
            assert time.monotonic() < deadline, "the worker did not finish the run"
            time.sleep(0.1)
    finally:
        stop_process(worker, grace=30)
    found: dict[str, Any] = run_
    return found


def _worker(
    url: str,
    queue: str,
    ledger: str,
    otlp: str,
    project: str,
    tmp: Path,
    *,
    block: str = "",
    lease: float = 30.0,
) -> subprocess.Popen[bytes]:
    """``langgraph-runner worker`` on the queue, sending its spans to ``otlp``; ``block``:
    a node that hangs in it (see ``queue_worker``), ``lease``: its claims' lease."""
    env = {
        **os.environ,
        "QUEUE_URL": url,
        "QUEUE_NAME": queue,
        "QUEUE_LEDGER": ledger,
        "QUEUE_BLOCK": block,
        "QUEUE_LEASE": str(lease),
        "QUEUE_OTLP": otlp,
        "QUEUE_OTLP_PROJECT": project,
        "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT))),
    }
    with (tmp / "worker.err").open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "langgraph_runner", "worker", str(WORKER_APP)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
