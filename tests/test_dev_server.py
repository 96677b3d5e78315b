"""End to end: ``langgraph dev`` serves examples/langgraph.json and langgraph_sdk drives it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from langgraph_runner import NodeError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
LANGGRAPH = Path(sys.executable).parent / "langgraph"
START_TIMEOUT = 90.0

# langgraph-cli installs its in-memory server (langgraph-api) only on Python >= 3.11.
pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="langgraph dev's in-memory server needs Python >= 3.11"
)

# Offline: no CLI analytics, no version check against PyPI, no LangSmith tracing or
# license calls (those need keys we drop).
OFFLINE_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
}
DROPPED_ENV = (
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "LANGGRAPH_CLOUD_LICENSE_KEY",
    "LANGSMITH_CONTROL_PLANE_API_KEY",
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _log_tail(log_path: Path, limit: int = 6000) -> str:
    text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    return text[-limit:]


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"langgraph dev exited with {proc.returncode}:\n{_log_tail(log_path)}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(f"{url}/ok", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail(
        f"langgraph dev not ready after {START_TIMEOUT:.0f}s:\n{_log_tail(log_path)}",
        pytrace=False,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # The server runs in its own session: signal its process group, by its own id only.
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`langgraph dev` on a free local port, running the README's command; yields its URL."""
    # A scratch working directory: the dev server keeps its files in ./.langgraph_api and
    # resolves langgraph.json's paths against the working directory, so `examples` is
    # linked in and the command runs exactly as from the repository root.
    work = tmp_path_factory.mktemp("devserver")
    (work / "examples").symlink_to(EXAMPLES, target_is_directory=True)
    log_path = work / "server.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(OFFLINE_ENV)
    cmd = [
        str(LANGGRAPH),
        "dev",
        "--no-browser",
        "--no-reload",  # the tree may change under the test; never restart mid-run
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--config",
        "examples/langgraph.json",
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(url, proc, log_path)
        yield url
    finally:
        _stop(proc)


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
