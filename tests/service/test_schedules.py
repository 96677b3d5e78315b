"""Tests for langgraph_runner._service.automation.schedules and schedule_store: cron schedules over
HTTP, each tick one run of the tenant, exactly once across processes, on SQLite and
PostgreSQL.

The schedulers' clock is a fake one the test moves on (no test waits for a minute);
the test fires ticks with ``tick()`` while the apps' own scheduler threads tick too, so
every assertion is on what the database holds, never on who fired.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("croniter")

from fastapi.testclient import TestClient

from langgraph_runner.runs import open_checkpointer
from tests.service.hook_helpers import T0, Clock, database, started

A = {"X-API-Key": "key-a"}
B = {"X-API-Key": "key-b"}


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database(request.param, tmp_path)


@pytest.fixture
def make(url: str) -> Iterator[Callable[..., TestClient]]:
    """``make(queue, clock, workers=)``: the service on one queue of the test's database
    (two calls with one queue: two processes' worth of apps); all it wrote goes after."""
    clients: list[TestClient] = []
    uid = uuid.uuid4().hex
    with open_checkpointer(url) as saver:

        def build(queue: str, clock: Clock, workers: int = 1) -> TestClient:
            client = started(saver, uid, queue, workers=workers)
            client.app.state.scheduler.clock = clock  # type: ignore[attr-defined]
            clients.append(client)
            return client

        yield build
        for client in clients:
            state: Any = client.app.state  # type: ignore[attr-defined]
            for headers in (A, B):
                for s in client.get("/schedules", headers=headers).json()["schedules"]:
                    client.delete(f"/schedules/{s['schedule_id']}", headers=headers)
            sql = state.workers.queue._sql
            sql.run(
                "DELETE FROM langgraph_runner_queue WHERE queue = ?", (state.workers.queue.queue,)
            )
        for client in clients:
            client.__exit__(None, None, None)


def _schedule(c: TestClient, headers: dict[str, str] = A, **body: Any) -> dict[str, Any]:
    r = c.post(
        "/schedules", json={"workflow": "build", "cron": "*/5 * * * *", **body}, headers=headers
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_a_schedule_is_made_listed_read_and_deleted_by_its_tenant_only(
    make: Callable[..., TestClient],
) -> None:
    """The tenant sees its schedules; another tenant's read and delete are 404."""
    c = make(uuid.uuid4().hex, Clock())
    made = _schedule(c, input={"title": "Q3"}, thread_id="nightly")
    assert made["next_run_at"] == T0 + 300  # the next 5-minute tick after now
    assert (made["cron"], made["input"], made["thread_id"]) == (
        "*/5 * * * *",
        {"title": "Q3"},
        "nightly",
    )
    listed = c.get("/schedules", headers=A).json()["schedules"]
    assert [s["schedule_id"] for s in listed] == [made["schedule_id"]]
    assert c.get("/schedules", headers=B).json()["schedules"] == []
    path = f"/schedules/{made['schedule_id']}"
    assert c.get(path, headers=A).json()["runs"] == []
    assert c.get(path, headers=B).status_code == 404
    assert c.delete(path, headers=B).status_code == 404
    assert c.delete(path, headers=A).status_code == 204
    gone = c.get(path, headers=A)
    assert (gone.status_code, gone.json()["field"]) == (404, "schedule_id")
    assert c.delete(path, headers=A).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "not a cron"}, "cron"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "0 0 30 2 *"}, "cron"),  # February 30th: never fires
        ({"cron": "* * * * * *"}, "cron"),  # six fields (seconds): not taken
        ({"cron": "*/5 * * * *\u0000"}, "cron"),
        ({"cron": "*" * 5000}, "cron"),
        ({"cron": 5}, "cron"),
        ({"workflow": "nope"}, "workflow"),
        ({"workflow": "bu\u0000ild"}, "workflow"),
        ({"input": {"a": "\u0000"}}, "input"),
        ({"webhook": "ftp://example.com/"}, "webhook"),
        ({"thread_id": "x" * 300}, "thread_id"),
        ({"every": "day"}, "every"),
    ],
)
def test_bad_input_is_4xx_naming_the_field(
    make: Callable[..., TestClient], body: dict[str, Any], field: str
) -> None:
    """A bad cron, workflow, input, webhook or key answers 4xx JSON naming the field."""
    c = make(uuid.uuid4().hex, Clock())
    r = c.post("/schedules", json={"workflow": "build", "cron": "*/5 * * * *", **body}, headers=A)
    assert r.status_code in (404, 422), r.text
    assert r.json()["field"] == field, r.text
    assert c.get("/schedules", headers=A).json()["schedules"] == []


def test_each_tick_fires_one_run_of_the_tenant(make: Callable[..., TestClient]) -> None:
    """At its tick the schedule queues one normal run (GET /runs lists it, it completes);
    the same tick again fires nothing; the next tick fires the next run."""
    clock = Clock()
    c = make(uuid.uuid4().hex, clock)
    sched = _schedule(c, input={"title": "Q3"})
    scheduler: Any = c.app.state.scheduler  # type: ignore[attr-defined]
    scheduler.tick()
    assert c.get(f"/schedules/{sched['schedule_id']}", headers=A).json()["fired"] == 0
    clock.now = T0 + 300
    scheduler.tick()
    scheduler.tick()
    read = c.get(f"/schedules/{sched['schedule_id']}", headers=A).json()
    assert read["fired"] == 1 and read["next_run_at"] == T0 + 600
    [fired] = read["runs"]
    assert fired["due_at"] == T0 + 300 and read["last_run_id"] == fired["run_id"]
    done = c.get(f"/runs/{fired['run_id']}/wait", params={"timeout": 60}, headers=A).json()
    assert done["status"] == "completed" and done["workflow"] == "build"
    listed = [r["run_id"] for r in c.get("/runs", headers=A).json()["runs"]]
    assert listed == [fired["run_id"]]
    assert c.get(f"/runs/{fired['run_id']}", headers=B).status_code == 404
    clock.now = T0 + 600
    scheduler.tick()
    assert c.get(f"/schedules/{sched['schedule_id']}", headers=A).json()["fired"] == 2


def test_a_missed_stretch_fires_once_and_goes_on_from_now(
    make: Callable[..., TestClient],
) -> None:
    """An hour with no process up: one run for the missed ticks, then the next tick."""
    clock = Clock()
    c = make(uuid.uuid4().hex, clock, workers=0)
    sched = _schedule(c)
    clock.now = T0 + 3600 + 7
    c.app.state.scheduler.tick()  # type: ignore[attr-defined]
    read = c.get(f"/schedules/{sched['schedule_id']}", headers=A).json()
    assert read["fired"] == 1 and read["next_run_at"] == T0 + 3600 + 300


def test_a_deleted_schedule_fires_no_more(make: Callable[..., TestClient]) -> None:
    """After DELETE no tick of it fires; the runs it fired stay."""
    clock = Clock()
    c = make(uuid.uuid4().hex, clock, workers=0)
    sched = _schedule(c)
    clock.now = T0 + 300
    c.app.state.scheduler.tick()  # type: ignore[attr-defined]
    assert c.delete(f"/schedules/{sched['schedule_id']}", headers=A).status_code == 204
    clock.now = T0 + 600
    c.app.state.scheduler.tick()  # type: ignore[attr-defined]
    assert len(c.get("/runs", headers=A).json()["runs"]) == 1


def test_a_tick_claimed_by_a_process_that_stopped_is_fired_by_another(
    make: Callable[..., TestClient],
) -> None:
    """A process claimed the tick and stopped before queueing its run: the next pass
    (any process) queues that very run, once."""
    clock = Clock()
    c = make(uuid.uuid4().hex, clock, workers=0)
    scheduler: Any = c.app.state.scheduler  # type: ignore[attr-defined]
    sched = _schedule(c)
    [row] = scheduler.store.due(scheduler.queue, T0 + 300)
    assert scheduler.store.claim_tick(row, "claimed-by-a-stopped-process", T0 + 300)
    clock.now = T0 + 300
    scheduler.tick()
    scheduler.tick()
    runs = c.get("/runs", headers=A).json()["runs"]
    read = c.get(f"/schedules/{sched['schedule_id']}", headers=A).json()
    assert len(runs) == 1 and read["fired"] == 1
    assert [r["run_id"] for r in read["runs"]] == ["claimed-by-a-stopped-process"]
    assert runs[0]["run_id"] != "claimed-by-a-stopped-process"  # the tick's own id
    assert read["last_run_id"] == runs[0]["run_id"]


def test_two_processes_fire_each_tick_exactly_once(make: Callable[..., TestClient]) -> None:
    """Two apps on one queue and database tick at the same moments (and their threads
    too): every due tick of every schedule is one queued run, no more, no fewer."""
    clock = Clock()
    queue = uuid.uuid4().hex
    first, second = make(queue, clock, workers=0), make(queue, clock, workers=0)
    schedules = [_schedule(first)["schedule_id"] for _ in range(4)]
    schedulers = [c.app.state.scheduler for c in (first, second)]  # type: ignore[attr-defined]
    ticks = 6
    for n in range(1, ticks + 1):
        clock.now = T0 + 300 * n
        barrier = threading.Barrier(len(schedulers) * 2)
        errors: list[BaseException] = []

        def fire(s: Any, barrier: threading.Barrier = barrier, errors: list[Any] = errors) -> None:
            barrier.wait(30)
            try:
                s.tick()
            except BaseException as exc:  # pragma: no cover - shown by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=fire, args=(s,)) for s in schedulers * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
    sql = first.app.state.workers.queue._sql  # type: ignore[attr-defined]
    _, rows = sql.run("SELECT run_id FROM langgraph_runner_queue WHERE queue = ?", (queue,))
    queued = sorted(str(r["run_id"] if isinstance(r, dict) else r[0]) for r in rows)
    fired = sorted(
        r["run_id"]
        for s in schedules
        for r in first.get(f"/schedules/{s}", headers=A).json()["runs"]
    )
    assert len(queued) == len(schedules) * ticks, queued
    assert queued == fired
    for s in schedules:
        read = second.get(f"/schedules/{s}", headers=A).json()
        assert read["fired"] == ticks and read["next_run_at"] == T0 + 300 * (ticks + 1)


def test_two_os_processes_fire_each_tick_exactly_once(url: str) -> None:
    """Two scheduler processes on one database get every tick at once: each due tick of
    each schedule is one queued run."""
    queue = uuid.uuid4().hex
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "tests.service.schedule_process", url, queue]
    procs = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        with open_checkpointer(url) as saver:
            client = started(saver, queue, queue, workers=0)
            sql = client.app.state.workers.queue._sql  # type: ignore[attr-defined]
            try:
                client.app.state.scheduler.stop()  # type: ignore[attr-defined]
                tenant_key = {"X-API-Key": "key-a"}
                schedules = [_schedule(client, tenant_key)["schedule_id"] for _ in range(4)]
                ticks = 5
                for n in range(1, ticks + 1):
                    for p in procs:
                        assert p.stdin is not None
                        p.stdin.write(f"{T0 + 300 * n}\n")
                        p.stdin.flush()
                    for p in procs:
                        assert p.stdout is not None and p.stdout.readline().strip() == "ticked"
                _, rows = sql.run(
                    "SELECT COUNT(*) AS n FROM langgraph_runner_queue WHERE queue = ?", (queue,)
                )
                queued = int(rows[0]["n"] if isinstance(rows[0], dict) else rows[0][0])
                fired = [
                    client.get(f"/schedules/{s}", headers=tenant_key).json()["fired"]
                    for s in schedules
                ]
                assert (queued, fired) == (len(schedules) * ticks, [ticks] * len(schedules))
            finally:
                client.app.state.scheduler.store.purge(queue)  # type: ignore[attr-defined]
                sql.run("DELETE FROM langgraph_runner_queue WHERE queue = ?", (queue,))
                client.__exit__(None, None, None)
    finally:
        for p in procs:
            if p.stdin is not None:
                p.stdin.close()
            p.wait(60)
