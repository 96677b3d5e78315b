"""Start ``langgraph dev`` offline on a free port, for the tests that drive a real server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
LANGGRAPH = Path(sys.executable).parent / "langgraph"
START_TIMEOUT = 90.0

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


def log_tail(log_path: Path, limit: int = 6000) -> str:
    """The end of the server's log, for a failure message."""
    text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    return text[-limit:]


def wait_ready(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    """Wait for ``/ok`` to answer 200; fail with the log if the server exits or never does."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"langgraph dev exited with {proc.returncode}:\n{log_tail(log_path)}",
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
        f"langgraph dev not ready after {START_TIMEOUT:.0f}s:\n{log_tail(log_path)}",
        pytrace=False,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server: it runs in its own session, so signal its process group by its id."""
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


@contextmanager
def dev_server(
    work: Path, config: str, *, jobs_per_worker: int, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Run ``langgraph dev --config CONFIG`` from ``work``; yield its URL, stop it after.

    The dev server keeps its files in ./.langgraph_api and resolves langgraph.json's paths
    against the working directory, so ``examples`` is linked into the scratch directory
    ``work`` and the command runs exactly as from the repository root.
    """
    (work / "examples").symlink_to(EXAMPLES, target_is_directory=True)
    log_path = work / "server.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    full_env.update(OFFLINE_ENV)
    full_env.update(env or {})
    cmd = [
        str(LANGGRAPH),
        "dev",
        "--no-browser",
        "--no-reload",  # the tree may change under the test; never restart mid-run
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n-jobs-per-worker",
        str(jobs_per_worker),
        "--config",
        config,
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_ready(url, proc, log_path)
        yield url
    finally:
        stop(proc)
