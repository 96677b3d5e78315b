"""The run queue (langgraph_runner._service.queue and workers), on SQLite and PostgreSQL.

A triggered run is a row in the queue table: it outlives the app that took it, any
process with workers on the database executes it exactly once, a worker killed mid-run
leaves it to another worker that resumes its thread, and a cancel before any worker
takes it stops it from starting. Node executions are counted in a ledger file (see
``queue_worker``); tests wait for runs, never sleep for them.
"""

from __future__ import annotations

import collections
import multiprocessing
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

from fastapi.testclient import TestClient

from langgraph_runner._records.exceptions import ThreadInUse
from langgraph_runner._runs import run_watch
from langgraph_runner._runs.checkpoint import open_checkpointer
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.tenancy import shown_thread_id
from langgraph_runner._service import queue as queue_mod
from langgraph_runner._service import workers as workers_mod
from langgraph_runner._service.queue import QUEUE_TABLE, RunQueue
from langgraph_runner._service.workers import Workers
from langgraph_runner.service import create_app
from tests import services
from tests.service.queue_worker import NODES, chain, keys
from tests.service.served import drop_queue

A = {"X-API-Key": "key-a"}
B = {"X-API-Key": "key-b"}
ROOT = Path(__file__).resolve().parents[2]
WORKER_APP = Path(__file__).resolve().with_name("queue_worker.py")


class Backend:
    """A database (a SQLite file or the test PostgreSQL), a unique queue, a ledger."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url
        self.queue = f"q-{uuid.uuid4().hex}"
        self.ledger = str(tmp / "ledger.txt")

    def app(self, *, workers: int, block: str = "", lease: float = 30.0) -> Any:
        saver = self.saver
        return create_app(
            workflows={"chain": chain(self.ledger, block).compile()},
            checkpointer=saver,
            api_keys=keys(self.queue),
            workers=workers,
            queue=self.queue,
            lease=lease,
        )

    def executed(self) -> collections.Counter[tuple[str, str]]:
        """(thread, as the tenant named it, node) -> how many times the node ran.

        A node sees the thread as stored (``scoped_thread_id``: the tenant's own)."""
        if not os.path.exists(self.ledger):
            return collections.Counter()
        lines = Path(self.ledger).read_text().splitlines()
        return collections.Counter(
            (shown_thread_id(t), n) for t, n, _ in (line.split() for line in lines)
        )

    def rows(self) -> list[Any]:
        q = RunQueue(self.saver, queue=self.queue)
        try:
            return q.waiting(f"{self.queue}-a", limit=500)
        finally:
            q.close()

    def statuses(self) -> collections.Counter[str]:
        store = open_run_store(self.saver)
        assert store is not None
        try:
            _, rows = store.sql.run(
                f"SELECT status FROM {QUEUE_TABLE} WHERE queue = ?", (self.queue,)
            )
        finally:
            store.close()
        return collections.Counter(str(r["status"] if isinstance(r, dict) else r[0]) for r in rows)

    def cleanup(self) -> None:
        drop_queue(self.saver, self.queue)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    url = services.database_url(request.param, tmp_path)
    b = Backend(url, tmp_path)
    with open_checkpointer(url) as saver:
        b.saver = saver  # type: ignore[attr-defined]
        try:
            yield b
        finally:
            b.cleanup()


def _trigger(c: TestClient, n: int = 1, headers: dict[str, str] = A) -> list[str]:
    ids = []
    for i in range(n):
        r = c.post(
            "/runs", json={"workflow": "chain", "input": {"title": f"t{i}"}}, headers=headers
        )
        assert r.status_code == 202, r.text
        ids.append(r.json()["run_id"])
    return ids


def test_a_queued_run_outlives_the_app_that_took_it(backend: Backend) -> None:
    """An API-only app (workers=0) queues; after it is gone, another app's worker runs it."""
    with TestClient(backend.app(workers=0)) as api:
        [rid] = _trigger(api)
        body = api.get(f"/runs/{rid}", headers=A).json()
        assert body["status"] == "pending"
        assert {s["status"] for s in body["steps"]} == {"pending"}
    assert backend.executed() == collections.Counter()  # nobody ran it yet
    app = backend.app(workers=1)
    with TestClient(app) as c:
        assert app.state.workers.wait(rid, timeout=60) is not None
        run = c.get(f"/runs/{rid}", headers=A).json()
    assert (run["status"], run["steps_done"], run["steps_total"]) == ("completed", 4, 4)
    assert backend.executed() == collections.Counter({(rid, n): 1 for n in NODES})


def test_get_runs_lists_queued_runs_beside_started_ones_tenant_scoped(backend: Backend) -> None:
    with TestClient(backend.app(workers=1)) as c:
        [done] = _trigger(c)
        c.app.state.workers.wait(done, timeout=60)  # type: ignore[attr-defined]
    with TestClient(backend.app(workers=0)) as api:
        [queued] = _trigger(api)
        [theirs] = _trigger(api, headers=B)
        listed = api.get("/runs", headers=A).json()["runs"]
        assert [(r["run_id"], r["status"]) for r in listed] == [
            (queued, "pending"),
            (done, "completed"),
        ]
        pending = api.get("/runs", params={"status": "pending"}, headers=A).json()["runs"]
        assert [r["run_id"] for r in pending] == [queued]
        assert [r["run_id"] for r in api.get("/runs", headers=B).json()["runs"]] == [theirs]
        assert api.get(f"/runs/{queued}", headers=B).status_code == 404
        assert [r.run_id for r in backend.rows()] == [queued]


def test_a_cancelled_queued_run_never_starts(backend: Backend) -> None:
    with TestClient(backend.app(workers=0)) as api:
        [rid] = _trigger(api)
        assert api.post(f"/runs/{rid}/cancel", headers=B).status_code == 404  # not theirs
        r = api.post(f"/runs/{rid}/cancel", headers=A)
        assert (r.status_code, r.json()["status"]) == (202, "cancelled")
    app = backend.app(workers=1)
    with TestClient(app) as c:
        [after] = _trigger(c)  # runs once the worker passed the cancelled one by
        app.state.workers.wait(after, timeout=60)
        assert app.state.workers.wait(rid, timeout=60) is None
        run = c.get(f"/runs/{rid}", headers=A).json()
    assert (run["status"], run["reason"]) == ("cancelled", "cancelled before it started")
    assert {t for t, _ in backend.executed()} == {after}


def test_claims_take_the_oldest_run_once_and_an_expired_lease_hands_it_on(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue's own rules, on a fake clock: oldest first, one claim per lease."""
    now = [1000.0]
    monkeypatch.setattr(queue_mod, "_now", lambda: now[0])
    q = RunQueue(backend.saver, queue=backend.queue, lease=10)
    other = RunQueue(backend.saver, queue=backend.queue, lease=10)
    other.owner = "another-worker"
    try:
        for i in range(2):
            q.enqueue(f"r{i}-{backend.queue}", "chain", "tenant-a", f"t{i}", {"n": i})
            now[0] += 1
        first = q.claim(["chain"])
        assert first is not None
        assert (first.run_id, first.input, first.attempts) == (f"r0-{backend.queue}", {"n": 0}, 1)
        second = other.claim(["chain"])
        assert second is not None and second.run_id == f"r1-{backend.queue}"
        assert q.claim(["chain"]) is None  # both held
        assert q.claim(["other-workflow"]) is None
        now[0] += 9
        assert q.renew(first.run_id)  # lease to 1011 + 10
        now[0] += 9  # 1020: the second claim's lease (to 1011) ran out, the first's did not
        taken = q.claim(["chain"])
        assert taken is not None and (taken.run_id, taken.attempts) == (second.run_id, 2)
        assert not other.renew(second.run_id)  # no longer its claim
        q.complete(first.run_id)
        now[0] += 100
        assert q.get(first.run_id).status == "done"  # type: ignore[union-attr]
        assert q.claim(["chain"]) is not None  # the expired one again, never the done one
        assert q.claim(["chain"]) is None
        assert (q.purge(before=1019), q.purge(before=now[0])) == (0, 1)  # done at 1019
        assert q.get(first.run_id) is None
    finally:
        for r in (q, other):
            r._sql.run(f"DELETE FROM {QUEUE_TABLE} WHERE queue = ?", (backend.queue,))
            r.close()


def _decide_rounds(url: str, queue: str, rounds: int, start: Any, out: Any) -> None:
    """A process's part in the race: per round, once every process is there, one run
    queued on the round's thread under ``on_busy="refuse"``; puts (round, queued?)."""
    with open_checkpointer(url) as saver:
        q = RunQueue(saver, queue=queue)
        try:
            for i in range(rounds):
                start.wait()
                try:
                    q.enqueue(uuid.uuid4().hex, "chain", "tenant-a", f"race-{i}", on_busy="refuse")
                    out.put((i, True))
                except ThreadInUse:
                    out.put((i, False))
        finally:
            q.close()


@pytest.mark.slow
def test_refuse_queues_one_run_of_a_thread_across_processes(backend: Backend) -> None:
    """on_busy="refuse" is one decision across processes (each its own connection): of
    one post per process at the same instant on an idle thread, exactly one is queued."""
    processes, rounds = 4, 8
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(processes), ctx.Queue()
    procs = [
        ctx.Process(target=_decide_rounds, args=(backend.url, backend.queue, rounds, start, out))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=120) for _ in range(processes * rounds)]
    finally:
        for p in procs:
            p.join(30)
    assert [p.exitcode for p in procs] == [0] * processes
    queued = collections.Counter(i for i, took in results if took)
    assert queued == collections.Counter(range(rounds)), queued  # one per round
    q = RunQueue(backend.saver, queue=backend.queue)
    try:
        assert [len(q.busy(f"race-{i}")) for i in range(rounds)] == [1] * rounds
    finally:
        q.close()


def test_a_cancel_of_a_claimed_run_not_started_yet_stops_it(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker took the run and stopped before starting it: the cancel still holds."""
    now = [1000.0]
    monkeypatch.setattr(queue_mod, "_now", lambda: now[0])
    with TestClient(backend.app(workers=0)) as api:
        [rid] = _trigger(api)
        taker = RunQueue(backend.saver, queue=backend.queue, lease=1)
        try:
            assert taker.claim(["chain"]) is not None
        finally:
            taker.close()
        r = api.post(f"/runs/{rid}/cancel", headers=A)
        assert (r.status_code, r.json()["status"]) == (202, "cancelled")
    now[0] += 60  # the taker's lease ran out
    app = backend.app(workers=1)
    with TestClient(app) as c:
        assert app.state.workers.wait(rid, timeout=60) is None
        run = c.get(f"/runs/{rid}", headers=A).json()
    assert (run["status"], run["reason"]) == ("cancelled", "cancelled before it started")
    assert backend.executed() == collections.Counter()


def _worker(
    backend: Backend,
    *,
    block: str = "",
    threads: int = 1,
    lease: float = 30.0,
    until_drain: str = "",
    args: tuple[str, ...] = (),
) -> Any:
    env = {
        **os.environ,
        "QUEUE_URL": backend.url,
        "QUEUE_NAME": backend.queue,
        "QUEUE_LEDGER": backend.ledger,
        "QUEUE_LEASE": str(lease),
        "QUEUE_BLOCK": block,
        "QUEUE_UNTIL_DRAIN": until_drain,
        # This checkout's package (not another one installed) and its tests.
        "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT))),
        # A worker that does not stop after SIGTERM is sent SIGABRT by _stop: faulthandler
        # then writes every thread's stack to its stderr, so the failure says where it hung.
        "PYTHONFAULTHANDLER": "1",
    }
    command = [sys.executable, "-m", "langgraph_runner", "worker", str(WORKER_APP)]
    err = Path(backend.ledger).with_name(f"worker-{uuid.uuid4().hex[:8]}.err")
    with err.open("wb") as sink:  # a file, not a pipe: a chatty worker never blocks on it
        proc = subprocess.Popen(
            [*command, "--threads", str(threads), *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    proc.err_path = err  # type: ignore[attr-defined]
    return proc


def _stderr(proc: Any) -> str:
    return Path(proc.err_path).read_text(errors="replace")


def _until(check: Any, procs: list[Any], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        for p in procs:
            if p.poll() is not None and p.returncode != -signal.SIGKILL:
                err = _stderr(p)[-2000:]
                raise AssertionError(f"a worker exited ({p.returncode}): {err}")
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.05)


def _stop(procs: list[Any]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGABRT)  # faulthandler: every thread's stack to stderr
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _exits(procs: list[Any]) -> list[int]:
    """The workers' exit codes; any worker that did not exit cleanly prints its stderr."""
    for p in procs:
        if p.returncode != 0:
            print(f"worker exited {p.returncode}; its stderr:\n{_stderr(p)[-6000:]}")
    return [p.returncode for p in procs]


@pytest.mark.slow
def test_worker_processes_run_each_queued_run_exactly_once(backend: Backend) -> None:
    """50 runs, 3 worker processes of 2 threads claiming at once: every node ran once."""
    procs = [_worker(backend, threads=2) for _ in range(3)]
    try:
        ready = lambda: all("worker:" in _stderr(p) for p in procs)  # noqa: E731
        _until(ready, procs, "the workers started")
        with TestClient(backend.app(workers=0)) as api:  # every worker is polling by now
            ids = _trigger(api, 50)
        _until(lambda: backend.statuses() == {"done": 50}, procs, "50 runs done")
    finally:
        _stop(procs)
    by_process = collections.Counter(
        line.split()[2] for line in Path(backend.ledger).read_text().splitlines()
    )
    print("node executions per worker process:", sorted(by_process.values()))
    assert _exits(procs) == [0, 0, 0]  # SIGTERM: running runs finish first
    assert backend.executed() == collections.Counter({(r, n): 1 for r in ids for n in NODES})
    with TestClient(backend.app(workers=0)) as api:
        listed = api.get("/runs", params={"limit": 100}, headers=A).json()["runs"]
    assert sorted(r["run_id"] for r in listed) == sorted(ids)
    assert {r["status"] for r in listed} == {"completed"}


@pytest.mark.slow
def test_a_killed_workers_run_is_resumed_by_another_without_rerunning_done_steps(
    backend: Backend,
) -> None:
    with TestClient(backend.app(workers=0)) as api:
        [rid] = _trigger(api)
    first = _worker(backend, block="n3", lease=1.0)
    try:
        _until(lambda: (rid, "n3") in backend.executed(), [first], "n3 started")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert backend.statuses() == {"claimed": 1}
    with TestClient(backend.app(workers=0)) as api:  # its run reads so once it missed a beat
        dead = lambda: api.get(f"/runs/{rid}", headers=A).json()["worker"] == "dead"  # noqa: E731
        _until(dead, [], "the killed worker's run reads worker: dead")
        assert api.get(f"/runs/{rid}", headers=A).json()["status"] == "running"
    second = _worker(backend, lease=1.0)
    try:
        _until(lambda: backend.statuses() == {"done": 1}, [second], "the run resumed")
    finally:
        _stop([second])
    # n1 and n2 were checkpointed before the kill: not run again; n3 was cut off.
    assert backend.executed() == collections.Counter(
        {(rid, "n1"): 1, (rid, "n2"): 1, (rid, "n3"): 2, (rid, "n4"): 1}
    )
    with TestClient(backend.app(workers=0)) as api:
        run = api.get(f"/runs/{rid}", headers=A).json()
    assert (run["status"], run["steps_done"]) == ("completed", 4)


def test_wait_returns_the_result_of_a_run_that_ends_between_its_two_looks(
    backend: Backend,
) -> None:
    """wait() looks at this process's results, then at the queue: a run that a worker
    here finishes in between is done in the queue and its result is the one returned
    (not None, which means another process ran it)."""
    app = backend.app(workers=0)
    with TestClient(app) as api:
        [rid] = _trigger(api)
        workers = app.state.workers
        read = workers.queue.get
        looks = []

        def get_after_the_worker_finished(run_id: str) -> Any:
            looks.append(run_id)
            if len(looks) == 1:  # wait()'s first look at the queue: a worker here ends the run
                item = workers.queue.claim(["chain"])
                assert item is not None and item.run_id == rid
                workers._execute(item)  # its result recorded, then the run marked done
            return read(run_id)

        workers.queue.get = get_after_the_worker_finished
        result = workers.wait(rid, timeout=60)
    assert result is not None
    assert result.status == "completed"
    assert backend.executed() == collections.Counter({(rid, n): 1 for n in NODES})


class Hold:
    """A two-step graph whose first step waits until released: runs held in flight."""

    def __init__(self) -> None:
        self.inside = 0
        self.changed = threading.Condition()
        self.release = threading.Event()

    def graph(self, saver: Any) -> Any:
        from langgraph.graph import END, START, StateGraph
        from typing_extensions import TypedDict

        class S(TypedDict, total=False):
            log: list[str]

        def first(state: S) -> dict[str, Any]:
            with self.changed:
                self.inside += 1
                self.changed.notify_all()
            assert self.release.wait(60)
            return {"log": ["first"]}

        g: Any = StateGraph(S)
        g.add_node("first", first)
        g.add_node("second", lambda s: {"log": [*s["log"], "second"]})
        g.add_edge(START, "first")
        g.add_edge("first", "second")
        g.add_edge("second", END)
        return g.compile(checkpointer=saver)

    def until_inside(self, n: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.inside >= n, timeout=60), self.inside


def _lease_until(backend: Backend, run_ids: list[str]) -> set[float | None]:
    q = RunQueue(backend.saver, queue=backend.queue)
    try:
        return {q.get(r).lease_until for r in run_ids}  # type: ignore[union-attr]
    finally:
        q.close()


def _threads() -> list[str]:
    """This process's threads but LangGraph's step executors (a few per run, its own)."""
    names = (t.name for t in threading.enumerate())
    return sorted(n for n in names if not n.startswith("ThreadPoolExecutor-"))


def test_a_workers_threads_do_not_grow_with_its_runs_and_one_beat_renews_them_all(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four runs in flight in one process: as many threads as with one (no lease thread
    per run; LangGraph's own step executors aside), and one heartbeat of the process
    renews the four claims in one statement."""
    hold = Hold()
    workers = Workers(  # an hour's lease: no beat of the watcher's own during the test
        {"hold": hold.graph(backend.saver)},
        backend.saver,
        workers=4,
        queue=backend.queue,
        lease=3600,
    )
    renewals: list[str] = []
    sql = workers.queue._sql
    real_run = sql.run

    def counted(statement: str, params: Any = (), **kwargs: Any) -> Any:
        if statement.startswith(f"UPDATE {QUEUE_TABLE} SET lease_until"):
            renewals.append(statement)
        return real_run(statement, params, **kwargs)

    workers.start()
    try:
        ids = [workers.submit("hold", "tenant-a", {"log": []}, None).run_id]
        hold.until_inside(1)
        with_one = _threads()
        ids += [workers.submit("hold", "tenant-a", {"log": []}, None).run_id for _ in range(3)]
        hold.until_inside(4)
        with_four = _threads()
        later = time.time() + 1000
        monkeypatch.setattr(queue_mod, "_now", lambda: later)
        monkeypatch.setattr(sql, "run", counted)
        run_watch.tick(heartbeat=True)  # what the process's watcher does every lease / 3
        monkeypatch.setattr(sql, "run", real_run)
        renewed = _lease_until(backend, ids)
    finally:
        hold.release.set()
        results = [workers.wait(r, timeout=60) for r in ids]
        workers.close()
    assert with_four == with_one
    assert (len(renewals), renewed) == (1, {later + workers.queue.lease})
    assert [r.status for r in results] == ["completed"] * 4


def test_a_cancel_asked_of_the_queue_reaches_a_running_run_on_the_next_beat(
    backend: Backend,
) -> None:
    """A claimed run's cancel flag in the queue is passed on to its run by the process's
    heartbeat: the run starts no further step and ends cancelled."""
    hold = Hold()
    workers = Workers(
        {"hold": hold.graph(backend.saver)}, backend.saver, workers=1, queue=backend.queue
    )
    workers.start()
    try:
        rid = workers.submit("hold", "tenant-a", {"log": []}, None).run_id
        hold.until_inside(1)
        assert workers.queue.cancel(rid, "tenant-a") is None  # claimed: flagged
        run_watch.tick(heartbeat=True)  # the beat passes it on to the run's row
        run_watch.tick()  # the watcher reads the row's flag: the run is asked to stop
    finally:
        hold.release.set()
        result = workers.wait(rid, timeout=60)
        workers.close()
    assert (result.status, result.reason) == ("cancelled", "cancelled over HTTP")
    assert set(result.nodes) == {"first"}  # the second step never ran


def test_an_idle_worker_is_woken_by_the_queues_notification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a worker that would poll only every hour takes a run another process
    queued at once, woken by the notification (never by polling)."""
    monkeypatch.setattr(workers_mod, "IDLE_WAIT", 3600.0)  # no polling before it listens
    backend = Backend(services.postgres_url(), tmp_path)
    with open_checkpointer(backend.url) as saver:
        backend.saver = saver  # type: ignore[attr-defined]
        workers = Workers(
            {"chain": chain(backend.ledger).compile(checkpointer=saver)},
            saver,
            workers=1,
            queue=backend.queue,
            poll=3600.0,
        )
        other = RunQueue(saver, queue=backend.queue)  # another process's app, say
        rid = str(uuid.uuid4())
        try:
            workers.start()
            assert workers.listening.wait(60)
            other.enqueue(rid, "chain", "tenant-a", "t-" + backend.queue, {})
            result = workers.wait(rid, timeout=60)
        finally:
            workers.close()
            other.close()
            backend.cleanup()
    assert result.status == "completed"
    assert (workers.wakeups["notify"] >= 1, workers.wakeups["poll"]) == (True, 0)


def test_a_cancel_asked_of_the_queue_is_passed_on_at_once_when_notified(tmp_path: Path) -> None:
    """PostgreSQL: a cancel of a claimed run notifies its worker's process, which beats at
    once (not a third of its hour-long lease later): the run's row is flagged."""
    backend = Backend(services.postgres_url(), tmp_path)
    hold = Hold()
    with open_checkpointer(backend.url) as saver:
        backend.saver = saver  # type: ignore[attr-defined]
        workers = Workers(
            {"hold": hold.graph(saver)}, saver, workers=1, queue=backend.queue, lease=3600
        )
        store = open_run_store(saver)
        assert store is not None
        try:
            workers.start()
            assert workers.listening.wait(60)
            rid = workers.submit("hold", "tenant-a", {"log": []}, None).run_id
            hold.until_inside(1)
            assert store.cancel_requested(rid) is None
            assert workers.queue.cancel(rid, "tenant-a") is None  # claimed: flagged, notified
            deadline = time.monotonic() + 60
            while store.cancel_requested(rid) is None:
                assert time.monotonic() < deadline, "the cancel was not passed on"
                time.sleep(0.02)
            assert store.cancel_requested(rid) == "cancelled over HTTP"
        finally:
            hold.release.set()
            workers.close()
            store.close()
            backend.cleanup()


def test_a_broken_listening_connection_is_opened_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the listening connection's server process is terminated; the workers
    listen again on a new one, and a notification wakes them as before."""
    monkeypatch.setattr(workers_mod, "LISTEN_RETRY", 0.05)
    monkeypatch.setattr(workers_mod, "IDLE_WAIT", 3600.0)  # no polling meanwhile
    backend = Backend(services.postgres_url(), tmp_path)
    with open_checkpointer(backend.url) as saver:
        backend.saver = saver  # type: ignore[attr-defined]
        workers = Workers(
            {"chain": chain(backend.ledger).compile(checkpointer=saver)},
            saver,
            workers=1,
            queue=backend.queue,
            poll=3600.0,
        )
        other = RunQueue(saver, queue=backend.queue)
        rid = str(uuid.uuid4())
        try:
            workers.start()
            assert workers.listening.wait(60)
            assert workers.listener is not None
            first = workers.listener.backend_pid
            other._sql.run("SELECT pg_terminate_backend(?)", (first,))  # its own session

            def again() -> bool:
                listener = workers.listener
                pid = None if listener is None else listener.backend_pid
                return workers.listening.is_set() and pid not in (None, first)

            deadline = time.monotonic() + 60
            while not again():
                assert time.monotonic() < deadline, "not listening again"
                time.sleep(0.02)
            other.enqueue(rid, "chain", "tenant-a", "t-" + backend.queue, {})
            result = workers.wait(rid, timeout=60)
        finally:
            workers.close()
            other.close()
            backend.cleanup()
    assert result.status == "completed"
    assert (workers.wakeups["notify"] >= 1, workers.wakeups["poll"]) == (True, 0)


def test_an_older_sqlite_queue_table_gains_the_trace_context_column(tmp_path: Path) -> None:
    """A queue table made before trace contexts were kept gets the column on first use."""
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute(
        f"CREATE TABLE {QUEUE_TABLE} ("
        " run_id TEXT PRIMARY KEY, queue TEXT NOT NULL, workflow TEXT NOT NULL, tenant TEXT,"
        " thread_id TEXT NOT NULL, input TEXT, change TEXT, base_thread TEXT,"
        " status TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, owner TEXT,"
        " lease_until DOUBLE PRECISION, attempts INTEGER NOT NULL DEFAULT 0,"
        " cancel_requested INTEGER NOT NULL DEFAULT 0, finished_at DOUBLE PRECISION)"
    )
    old.execute(
        f"INSERT INTO {QUEUE_TABLE} (run_id, queue, workflow, thread_id, input, status,"
        " created_at) VALUES ('old', 'q', 'chain', 'old', 'null', 'queued', 1.0)"
    )
    old.commit()
    old.close()
    context = {"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"}
    with open_checkpointer(f"sqlite:///{path}") as saver:
        q = RunQueue(saver, queue="q")
        try:
            q.enqueue("new", "chain", None, "new", None, trace_context=context)
            got, before = q.get("new"), q.get("old")
        finally:
            q.close()
    assert got is not None and got.trace_context == context and got.trace_id == "ab" * 16
    assert before is not None and before.trace_context is None and before.trace_id == "old"
