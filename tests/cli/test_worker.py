"""``langgraph-runner worker MODULE[:APP]`` (langgraph_runner._cli.worker).

The command working a queue across processes (claims, a killed worker's run resumed) is
tested in tests/service/test_queue.py; here: what it starts and what it refuses.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from langgraph_runner._cli.main import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "service.py"


def test_worker_refuses_what_is_not_a_service_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plain.py").write_text("app = object()\n", encoding="utf-8")
    assert main(["worker", str(tmp_path / "plain.py")]) == 2
    assert "is not an app made by create_app" in capsys.readouterr().err
    assert main(["worker", str(EXAMPLE), "--threads", "0"]) == 2
    assert "expected a number of threads from 1 to 256, got '0'" in capsys.readouterr().err
    for bad in ("-1", "soon", "3601", "1e3"):
        assert main(["worker", str(EXAMPLE), "--grace", bad]) == 2
        assert f"expected seconds from 0 to 3600, got {bad!r}" in capsys.readouterr().err


def test_worker_runs_the_apps_queue_until_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example's queue gets the threads asked for; SIGTERM stops it with exit code 0."""
    monkeypatch.setenv("SERVICE_DB", str(tmp_path / "service.db"))
    started: list[Any] = []
    from langgraph_runner._service import workers

    real_start = workers.Workers.start

    def start(self: Any, threads: int | None = None) -> None:
        started.append(threads)
        real_start(self, threads)
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()

    monkeypatch.setattr(workers.Workers, "start", start)
    assert main(["worker", str(EXAMPLE), "--threads", "3"]) == 0
    assert started == [3]
    err = capsys.readouterr().err
    assert "worker: 3 thread(s) on run queue 'default'" in err
    assert "worker: draining (exits within 25 s)" in err  # grace 10 + step-wait 10 + 5


def test_the_drain_watchdog_exits_unless_the_drain_ended_and_the_caller_lives_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the bound: a drain that has not ended exits the process; one that ended, in a
    process that goes on (main() called in-process), does not."""
    from langgraph_runner._cli import worker

    exits: list[int] = []
    monkeypatch.setattr(worker.os, "_exit", exits.append)
    drained = threading.Event()
    worker._watch(drained)
    assert exits == [0]
    drained.set()
    worker._watch(drained)
    assert exits == [0]
