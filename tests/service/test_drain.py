"""Tests for langgraph_runner._service.drain through ``langgraph-runner worker`` processes:
SIGTERM stops a worker taking runs, hands its running run back at a superstep boundary
(another worker resumes it from its checkpoint, finished steps not run again) and the
process exits 0, within a bound even when a step never ends. SQLite and PostgreSQL.

The step under way is one that runs until its run is asked to drain (``queue_worker``'s
``QUEUE_UNTIL_DRAIN``), so no test depends on how long a signal takes to arrive.
"""

from __future__ import annotations

import collections
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from langgraph_runner._service.drain import HANDED_BACK
from langgraph_runner._service.liveness import Liveness, workers_of
from langgraph_runner._service.queue import RunQueue
from tests.service import test_queue
from tests.service.test_queue import (
    A,
    Backend,
    _exits,
    _stderr,
    _stop,
    _trigger,
    _until,
    _worker,
)

backend = test_queue.backend  # the fixture: a SQLite file or PostgreSQL, a queue of its own

pytestmark = pytest.mark.slow


def _resume_elsewhere(backend: Backend) -> None:
    """A second worker takes the handed-back run and finishes it."""
    second = _worker(backend)
    try:
        _until(lambda: backend.statuses() == {"done": 1}, [second], "the run resumed")
    finally:
        _stop([second])
    assert _exits([second]) == [0]


def _states(backend: Backend) -> list[str]:
    queue = RunQueue(backend.saver, queue=backend.queue)  # type: ignore[attr-defined]
    try:
        Liveness(queue)  # its table, if no worker made it yet
        return [w.state for w in workers_of(queue, None)]
    finally:
        queue.close()


def _run_of(backend: Backend, rid: str) -> dict[str, Any]:
    with TestClient(backend.app(workers=0)) as api:
        return dict(api.get(f"/runs/{rid}", headers=A).json())


def _terminated_mid_run(backend: Backend, node: str, **worker: Any) -> str:
    """A run whose worker gets SIGTERM once ``node`` started; the worker exited 0 (bounded:
    grace + step-wait + EXIT_SLACK, else the test fails)."""
    with TestClient(backend.app(workers=0)) as api:
        [rid] = _trigger(api)
    first = _worker(backend, **worker)
    try:
        _until(lambda: (rid, node) in backend.executed(), [first], f"{node} started")
        first.send_signal(signal.SIGTERM)
        _until(lambda: "draining" in _stderr(first), [first], "the drain began")
        Path(f"{backend.ledger}.drain").touch()  # a LangGraph whose nodes cannot see the drain
        try:
            first.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail("the worker did not exit after SIGTERM")
    finally:
        _stop([first])
    assert _exits([first]) == [0]
    assert backend.statuses() == {"queued": 1}  # handed back, not done
    return rid


def test_sigterm_hands_a_running_run_back_at_its_next_step_and_exits_0(backend: Backend) -> None:
    """The step under way ends and is kept; the next steps run on another worker."""
    grace = ("--grace", "0", "--step-wait", "60")
    rid = _terminated_mid_run(backend, "n2", until_drain="n2", args=grace)
    assert _states(backend) == ["stopped"]
    run = _run_of(backend, rid)
    assert (run["status"], run["reason"], run["steps_done"]) == ("pending", HANDED_BACK, 2)
    _resume_elsewhere(backend)
    steps = ("n1", "n2", "n3", "n4")
    assert backend.executed() == collections.Counter({(rid, n): 1 for n in steps})
    assert (_run_of(backend, rid)["status"], _run_of(backend, rid)["steps_done"]) == (
        "completed",
        4,
    )


def test_a_worker_whose_step_never_ends_still_exits_and_hands_the_run_back(
    backend: Backend,
) -> None:
    """A step stuck in sync code: the worker gives it up after --step-wait and exits 0;
    the run is resumed elsewhere with that step run again (earlier steps are not)."""
    rid = _terminated_mid_run(
        backend, "n3", block="n3", args=("--grace", "0", "--step-wait", "0.5")
    )
    _resume_elsewhere(backend)
    assert backend.executed() == collections.Counter(
        {(rid, "n1"): 1, (rid, "n2"): 1, (rid, "n3"): 2, (rid, "n4"): 1}
    )


def test_an_idle_worker_exits_0_on_sigterm_and_reads_stopped(backend: Backend) -> None:
    """Nothing held: it exits at once, its row stopped."""
    worker = _worker(backend)
    try:
        _until(lambda: _states(backend) == ["alive"], [worker], "the worker registered")
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    finally:
        _stop([worker])
    assert _exits([worker]) == [0]
    assert _states(backend) == ["stopped"]
