"""End to end: ``langgraph dev`` serves examples/langgraph.json and langgraph_sdk drives it."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import LangGraphClient, SyncLangGraphClient

from langgraph_runner import NodeError
from tests.langgraph_dev import dev_server

# `langgraph dev` runs one run at a time unless told otherwise; LangGraph Server runs
# N_JOBS_PER_WORKER (default 10) per worker. Enough slots for every concurrent run below.
JOBS_PER_WORKER = 40

# langgraph-cli installs its in-memory server (langgraph-api) only on Python >= 3.11.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sys.version_info < (3, 11), reason="langgraph dev's in-memory server needs Python >= 3.11"
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`langgraph dev` on a free local port, running the README's command; yields its URL."""
    work = tmp_path_factory.mktemp("devserver")
    with dev_server(work, "examples/langgraph.json", jobs_per_worker=JOBS_PER_WORKER) as url:
        yield url


@pytest.fixture(scope="module")
def client(server: str) -> SyncLangGraphClient:
    """A sync langgraph_sdk client for the server."""
    return get_sync_client(url=server, api_key=None)


def _new_thread(client: SyncLangGraphClient) -> str:
    return str(client.threads.create(metadata={"test": "dev_server"})["thread_id"])


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: not seen within {timeout}s", pytrace=False)
        time.sleep(0.05)
    return time.monotonic() - start


def _run_status(client: SyncLangGraphClient, thread_id: str) -> list[str]:
    return [str(r["status"]) for r in client.runs.list(thread_id)]


def test_server_serves_the_example_graphs(client: SyncLangGraphClient) -> None:
    """examples/langgraph.json exposes pipeline, approval and slow."""
    graph_ids = {a["graph_id"] for a in client.assistants.search(limit=100)}
    assert {"pipeline", "approval", "slow"} <= graph_ids


@pytest.mark.parametrize("graph_id", ["pipeline", "approval", "slow"])
def test_server_reports_the_input_schema_of_each_example_graph(
    client: SyncLangGraphClient, graph_id: str
) -> None:
    """Studio's input form: the server reports GraphState's channels and the graph's own keys."""
    (assistant,) = client.assistants.search(graph_id=graph_id, limit=1)
    schemas = client.assistants.get_schemas(assistant["assistant_id"])
    for kind in ("input_schema", "output_schema"):
        schema = schemas[kind]  # type: ignore[literal-required]
        assert schema is not None, kind
        assert {"errors", "routing_flags", "topic", "log"} <= set(schema["properties"]), kind


def test_failed_node_shows_redacted_error_and_flags_in_thread_state(
    client: SyncLangGraphClient,
) -> None:
    """A terminal failure completes the run with a plain-JSON record, blocked flag, recovery."""
    thread_id = _new_thread(client)
    out = client.runs.wait(thread_id, "pipeline", input={"topic": "q3 report"}, raise_error=False)
    assert isinstance(out, dict)
    assert "__error__" not in out, out["__error__"]

    state: dict[str, Any] = dict(client.threads.get_state(thread_id))
    values = state["values"]
    assert _run_status(client, thread_id) == ["success"]
    assert state["next"] == []
    assert values["routing_flags"] == {"blocked": True}
    assert values["status"] == "needs_review"
    assert values["log"] == ["load: ok", "recover: flagged ['publish'] for review"]
    (record,) = values["errors"]
    assert record["node"] == "publish"
    assert record["code"] == "RETRY_EXHAUSTED"
    assert record["error_type"] == "UpstreamError"
    assert record["category"] == "network"
    assert record["attempts"] == 2
    assert record["recoverable"] is True
    assert "token=[REDACTED]" in record["message"]
    assert NodeError.model_validate(record).node == "publish"
    # Nothing anywhere in the thread state carries the secret.
    assert "abc123" not in json.dumps(state)
    assert "abc123" not in json.dumps(client.threads.get_history(thread_id, limit=50))


def test_interrupt_is_answered_through_the_api(client: SyncLangGraphClient) -> None:
    """The wrapped node's interrupt() pauses the run; a resume command finishes it."""
    thread_id = _new_thread(client)
    client.runs.wait(thread_id, "approval", input={"topic": "launch"})

    paused = client.threads.get_state(thread_id)
    assert paused["next"] == ["review"]
    (task,) = paused["tasks"]
    (pending,) = task["interrupts"]
    assert pending["value"] == {
        "question": "Publish this draft?",
        "draft": "Announcement about launch",
    }
    assert client.threads.get(thread_id)["status"] == "interrupted"

    client.runs.wait(
        thread_id, "approval", command={"resume": {"approved": True, "comment": "ship it"}}
    )

    values = client.threads.get_state(thread_id)["values"]
    assert values["decision"] == {"approved": True, "comment": "ship it"}
    assert values["status"] == "approved"
    assert values["log"] == ["draft: ok", "review: approved"]
    # The interrupt was control flow, not a failure: nothing recorded, nothing flagged.
    assert values.get("errors", []) == []
    assert values.get("routing_flags", {}) == {}
    assert client.threads.get(thread_id)["status"] == "idle"


def test_cancel_stops_a_long_async_node_and_the_server_stays_healthy(
    client: SyncLangGraphClient, server: str, tmp_path: Path
) -> None:
    """runs.cancel stops the wrapped async node promptly; the next run succeeds."""
    markers = tmp_path / "cancelled-run"
    markers.mkdir()
    thread_id = _new_thread(client)
    run = client.runs.create(thread_id, "slow", input={"marker_dir": str(markers), "seconds": 60})
    _wait_for(lambda: (markers / "started").exists(), 30, "slow node start")

    client.runs.cancel(thread_id, run["run_id"], wait=True)

    # Cancellation reached the node (it re-raises, so it can never finish) well before
    # its 60 s of work, and it was not retried.
    _wait_for(lambda: (markers / "cancelled").exists(), 10, "cancellation marker")
    assert not (markers / "finished").exists()
    assert (markers / "started").read_text().splitlines() == ["started"]
    assert client.runs.get(thread_id, run["run_id"])["status"] == "interrupted"
    assert client.threads.get_state(thread_id)["values"].get("errors", []) == []

    # The server is healthy and the next run goes through.
    with urllib.request.urlopen(f"{server}/ok", timeout=5) as resp:
        assert resp.status == 200
    assert client.assistants.search(graph_id="slow")
    quick = tmp_path / "quick-run"
    quick.mkdir()
    next_thread = _new_thread(client)
    out = client.runs.wait(next_thread, "slow", input={"marker_dir": str(quick), "seconds": 0.1})
    assert isinstance(out, dict)
    assert out["status"] == "finished"
    assert _run_status(client, next_thread) == ["success"]
    assert (quick / "finished").exists()
    # Seconds later, still: the cancelled node neither finished nor started again.
    assert not (markers / "finished").exists()
    assert (markers / "started").read_text().splitlines() == ["started"]


# --- many runs at once --------------------------------------------------------------------

N_PIPELINE = 16  # each produces a redacted error record
N_APPROVAL = 8  # each pauses on interrupt(), then all are resumed at once
N_SLOW = 8  # each works SLOW_SECONDS, long enough to see them all in flight together
SLOW_SECONDS = 2.0


async def _new_async_thread(client: LangGraphClient) -> str:
    return str((await client.threads.create(metadata={"test": "dev_server_burst"}))["thread_id"])


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _server_ok(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/ok", timeout=5) as resp:
        return bool(resp.status == 200)


async def _await_lines(path: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(lines := await asyncio.to_thread(_lines, path)) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name}: {len(lines)} of {count} lines", pytrace=False)
        await asyncio.sleep(0.02)


async def _values(client: LangGraphClient, thread_id: str) -> dict[str, Any]:
    state: dict[str, Any] = dict(await client.threads.get_state(thread_id))
    return dict(state["values"])


async def _runs(client: LangGraphClient, thread_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await client.runs.list(thread_id)]


async def test_many_concurrent_runs_all_complete_with_their_own_state(
    server: str, tmp_path: Path
) -> None:
    """32 runs at once on the example graphs, then 8 resumes at once: every one completes.

    Each thread ends with its own input's state, and each error record names its own
    run and thread (no state or context leaks between concurrent runs); the slow runs
    are all in flight together, and the server answers /ok afterwards.
    """
    client = get_client(url=server, api_key=None)
    burst: asyncio.Future[list[Any]] | None = None
    try:
        threads = await asyncio.gather(
            *(_new_async_thread(client) for _ in range(N_PIPELINE + N_APPROVAL + N_SLOW))
        )
        pipelines = threads[:N_PIPELINE]
        approvals = threads[N_PIPELINE : N_PIPELINE + N_APPROVAL]
        slows = threads[N_PIPELINE + N_APPROVAL :]
        markers = tmp_path / "burst"
        markers.mkdir()
        slow_input: dict[str, Any] = {"marker_dir": str(markers), "seconds": SLOW_SECONDS}
        burst = asyncio.gather(
            *(
                client.runs.wait(t, "pipeline", input={"topic": f"topic {i}"}, raise_error=False)
                for i, t in enumerate(pipelines)
            ),
            *(
                client.runs.wait(t, "approval", input={"topic": f"launch {i}"})
                for i, t in enumerate(approvals)
            ),
            *(client.runs.wait(t, "slow", input=slow_input) for t in slows),
        )
        # Every slow run has started before the first one finished: they run side by side
        # (with one run at a time, the last would start only after seven had finished).
        await _await_lines(markers / "started", N_SLOW, timeout=30)
        assert await asyncio.to_thread(_lines, markers / "finished") == []
        outputs = await burst
        assert all(isinstance(o, dict) and "__error__" not in o for o in outputs), outputs

        for i, thread_id in enumerate(pipelines):
            state: dict[str, Any] = dict(await client.threads.get_state(thread_id))
            values = state["values"]
            (run,) = await _runs(client, thread_id)
            assert run["status"] == "success"
            assert state["next"] == []
            assert values["document"] == f"contents of topic {i}"
            assert values["routing_flags"] == {"blocked": True}
            assert values["status"] == "needs_review"
            (record,) = values["errors"]
            error = NodeError.model_validate(record)
            assert (error.node, error.code, error.attempts) == ("publish", "RETRY_EXHAUSTED", 2)
            assert record["trace_id"] == run["run_id"]
            assert record["graph_execution_id"] == thread_id
            assert json.loads(json.dumps(values)) == values
            assert "abc123" not in json.dumps(state)

        for i, thread_id in enumerate(approvals):
            paused: dict[str, Any] = dict(await client.threads.get_state(thread_id))
            assert paused["next"] == ["review"]
            (task,) = paused["tasks"]
            assert task["interrupts"][0]["value"]["draft"] == f"Announcement about launch {i}"
        resumed = await asyncio.gather(
            *(
                client.runs.wait(
                    t, "approval", command={"resume": {"approved": True, "comment": f"ok {i}"}}
                )
                for i, t in enumerate(approvals)
            )
        )
        assert all(isinstance(o, dict) and "__error__" not in o for o in resumed), resumed
        for i, thread_id in enumerate(approvals):
            values = await _values(client, thread_id)
            assert values["decision"] == {"approved": True, "comment": f"ok {i}"}
            assert values["log"] == ["draft: ok", "review: approved"]
            assert values.get("errors", []) == []
            assert (await client.threads.get(thread_id))["status"] == "idle"
            assert {r["status"] for r in await _runs(client, thread_id)} == {"success"}

        for thread_id in slows:
            values = await _values(client, thread_id)
            assert values["status"] == "finished"
            assert values.get("errors", []) == []
            assert [r["status"] for r in await _runs(client, thread_id)] == ["success"]
        assert await asyncio.to_thread(_lines, markers / "finished") == ["finished"] * N_SLOW
        assert await asyncio.to_thread(_lines, markers / "cancelled") == []
    finally:
        if burst is not None and not burst.done():
            burst.cancel()
        await client.aclose()

    assert await asyncio.to_thread(_server_ok, server)
