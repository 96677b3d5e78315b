"""Crash-safe resume: SIGKILL a durable run repeatedly, resume it, compare with a clean run."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from langgraph_runner._reports.report import NodeStatus, RunStatus, run_report
from langgraph_runner._runs.checkpoint import open_checkpointer
from tests import services

pytestmark = pytest.mark.slow  # seconds per test: skipped by -m 'not slow'

WORKER = Path(__file__).resolve().parents[1] / "crash_worker.py"
PG_URL = services.POSTGRES_URL
KILLS = 4


def _load_worker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crash_worker", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # StateGraph resolves the TypedDict annotations through sys.modules.
    sys.modules.setdefault("crash_worker", module)
    spec.loader.exec_module(module)
    return module


worker = _load_worker()


@pytest.fixture(scope="module")
def reference_state(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Final state of an uninterrupted in-process run (no sleeps) on a fresh thread."""
    ledger = worker.Ledger(str(tmp_path_factory.mktemp("ref") / "ledger.txt"))
    try:
        with open_checkpointer("sqlite:///:memory:") as saver:
            graph = worker.build_graph(ledger, saver, sleep_scale=0.0)
            config = {"configurable": {"thread_id": "reference"}}
            graph.invoke(dict(worker.INPUT), config)
            return dict(graph.get_state(config).values)
    finally:
        ledger.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A checkpointer URL and a unique thread id; the PostgreSQL thread is deleted after."""
    thread_id = f"crash-{uuid.uuid4().hex}"
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/durable/checkpoints.db", thread_id
        return
    yield services.postgres_url(), thread_id
    with open_checkpointer(PG_URL) as saver:
        saver.delete_thread(thread_id)


def _ledger_lines(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines()]  # type: ignore[misc]


def _wait_for_node_start(proc: subprocess.Popen[bytes], ledger: Path, seen: int) -> bool:
    """Wait until this attempt has committed a node and started another (so the kill lands
    mid-run, after progress: counted in events, not in time, which a loaded machine
    stretches)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        events = [ev for ev, _ in _ledger_lines(ledger)[seen:]]
        if "commit" in events and "start" in events[events.index("commit") :]:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError("worker never started a node")


def _run_attempt(cmd: list[str], ledger: Path, kill_after: float | None) -> bool:
    """Run one worker; SIGKILL it ``kill_after`` s after its first commit and next start.
    True if killed."""
    seen = len(_ledger_lines(ledger))
    with subprocess.Popen(cmd, stderr=subprocess.PIPE) as proc:
        if kill_after is not None and _wait_for_node_start(proc, ledger, seen):
            time.sleep(kill_after)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    return False


def _check_ledger(lines: list[tuple[str, str]]) -> dict[str, int]:
    """Assert no committed node restarts and only in-flight nodes run twice; count starts."""
    starts: dict[str, int] = {}
    committed: set[str] = set()
    open_since_kill: dict[str, bool] = {}  # label -> a kill happened after its last start
    for event, label in lines:
        if event == "kill":
            open_since_kill = dict.fromkeys(open_since_kill, True)
        elif event == "start":
            assert label not in committed, f"{label} re-executed after its writes were committed"
            if label in starts:
                assert open_since_kill.get(label), f"{label} ran twice without a crash between"
            starts[label] = starts.get(label, 0) + 1
            open_since_kill[label] = False
        elif event == "commit":
            committed.add(label)
            open_since_kill.pop(label, None)
    ended = {label for event, label in lines if event == "end"}
    assert ended == set(worker.LABELS)
    return starts


def test_sigkilled_run_resumes_without_redoing_finished_nodes(
    backend: tuple[str, str], reference_state: dict[str, Any], tmp_path: Path
) -> None:
    """Repeated SIGKILLs mid-run, resumed each time, end in the uninterrupted final state."""
    url, thread_id = backend
    ledger = tmp_path / "ledger.txt"
    out = tmp_path / "final.json"
    rng = random.Random(f"crash-resume-{url.split(':')[0]}")
    kills = attempts = 0
    while not out.exists():
        attempts += 1
        assert attempts <= KILLS + 3, "run did not complete"
        # Inside the node that just started (each sleeps 0.05 s at least): one step a kill.
        kill_after = rng.uniform(0.0, 0.04) if kills < KILLS else None
        # Node bodies sleep so that a kill lands inside one; the last attempt is not killed.
        scale = "1" if kill_after is not None else "0"
        cmd = [sys.executable, str(WORKER), url, thread_id, str(ledger), str(out), scale]
        if _run_attempt(cmd, ledger, kill_after):
            kills += 1
            with ledger.open("a") as fh:
                fh.write(f"kill {kills}\n")
            with open_checkpointer(url) as saver:
                assert run_report(saver, thread_id).status is RunStatus.RUNNING
    assert kills == KILLS
    lines = _ledger_lines(ledger)
    assert [label for ev, label in lines if ev == "invoke"] == ["input"] + ["resume"] * kills
    starts = _check_ledger(lines)
    # Not vacuous: work committed before the last kill was there to be skipped on resume.
    last_kill = max(i for i, (ev, _) in enumerate(lines) if ev == "kill")
    skipped = {label for ev, label in lines[:last_kill] if ev == "commit"}
    assert len(skipped) >= 2
    assert all(starts[label] >= 1 for label in skipped)
    # And the kills landed inside node bodies: an interrupted node ran again on resume.
    assert any(count > 1 for count in starts.values())
    assert json.loads(out.read_text()) == reference_state
    with open_checkpointer(url) as saver:
        report = run_report(saver, thread_id)
    assert report.status is RunStatus.COMPLETED
    assert {n.name for n in report.nodes} == {
        *worker.SEQUENTIAL,
        *worker.PARALLEL,
        "join",
        "mapper",
    }
    assert all(n.status is NodeStatus.SUCCEEDED for n in report.nodes)
