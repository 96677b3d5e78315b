"""Tests for langgraph_runner._service.automation.webhooks and outbox: a run's end posted to a real
local receiver, signed, retried with backoff, logged, on SQLite and PostgreSQL.

The dispatcher's clock is a fake one the test moves on: a retry is due when the test
says so (nobody sleeps for a backoff). The test drives the dispatcher with ``step()``;
its own thread may deliver the same delivery first (claims are exclusive), so the test
waits for what the receiver or the log shows, never for a time.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from langgraph_runner import RetryConfig
from langgraph_runner._service.automation.outbox import Attempt, Outbox
from langgraph_runner.runs import open_checkpointer
from langgraph_runner.service import create_app
from tests.service.hook_helpers import Clock, database, one_step, started
from tests.service.webhook_receiver import receiver, signature_ok

A = {"X-API-Key": "key-a"}
B = {"X-API-Key": "key-b"}
SECRET = b"whsec-test-0123456789abcdef"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database(request.param, tmp_path)


@pytest.fixture
def make(url: str) -> Iterator[Callable[..., TestClient]]:
    """Build the service (``create_app`` options as keywords); everything it wrote goes after."""
    clients: list[TestClient] = []
    with open_checkpointer(url) as saver:

        def build(**options: Any) -> TestClient:
            uid = uuid.uuid4().hex
            options.setdefault("webhook_secret", SECRET)
            retry = RetryConfig(max_attempts=3, initial_interval=1, jitter=0)
            options.setdefault("webhook_retry", retry)
            options.setdefault("workers", 1)
            client = started(saver, uid, options.pop("queue", uid), **options)
            client.app.state.webhooks.clock = Clock()  # type: ignore[attr-defined]
            clients.append(client)
            return client

        yield build
        for client in clients:
            state: Any = client.app.state  # type: ignore[attr-defined]
            ids = [r["run_id"] for r in client.get("/runs", headers=A).json()["runs"]]
            state.webhooks.outbox.purge(ids)
            state.workers.queue.purge()
            client.__exit__(None, None, None)


def _run(c: TestClient, **body: Any) -> dict[str, Any]:
    r = c.post("/runs", json={"workflow": "build", **body}, headers=A)
    assert r.status_code == 202, r.text
    done = c.get(f"/runs/{r.json()['run_id']}/wait", params={"timeout": 60}, headers=A).json()
    assert done["status"] == "completed", done
    return dict(done)


def _hooks(c: TestClient, run_id: str, headers: dict[str, str] = A) -> dict[str, Any]:
    r = c.get(f"/runs/{run_id}/webhooks", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _until(c: TestClient, run_id: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Step the dispatcher until the run's webhook reads ``done`` (bounded, no sleep)."""
    deadline = time.monotonic() + 60
    while True:
        c.app.state.webhooks.step()  # type: ignore[attr-defined]
        hook = _hooks(c, run_id)
        if done(hook):
            return hook
        assert time.monotonic() < deadline, hook
        threading.Event().wait(0.01)  # the dispatcher's thread holds the claim: let it post


def _clock(c: TestClient) -> Clock:
    clock: Clock = c.app.state.webhooks.clock  # type: ignore[attr-defined]
    return clock


def test_a_run_end_is_signed_retried_with_backoff_and_every_attempt_shown(
    make: Callable[..., TestClient],
) -> None:
    """The receiver answers 500, then 200: two attempts with one idempotency key, each
    signed, the second due only when the clock passes the backoff; the payload is the
    run's summary as GET /runs/{id} shows it."""
    c = make()
    with receiver() as rec:
        rec.codes = [500, 200]
        run = _run(c, webhook=rec.url)
        first = _until(c, run["run_id"], lambda h: len(h["attempts"]) == 1)
        assert first["state"] == "pending"
        assert first["attempts"][0]["status_code"] == 500
        assert first["attempts"][0]["error"] == "HTTP 500"
        assert first["next_attempt_at"] == first["attempts"][0]["at"] + 1.0  # initial_interval
        assert c.app.state.webhooks.step() == 0  # type: ignore[attr-defined]  # not due yet
        _clock(c).now += 1.0
        second = _until(c, run["run_id"], lambda h: h["state"] == "delivered")
        assert [a["status_code"] for a in second["attempts"]] == [500, 200]
        assert [a["attempt"] for a in second["attempts"]] == [1, 2]
        got = rec.wait_for(2)
    keys = {r.headers["Idempotency-Key"] for r in got}
    assert keys == {f"run-ended:{run['run_id']}"} == {second["idempotency_key"]}
    assert all(signature_ok(SECRET, r.headers["X-Runner-Signature"], r.body) for r in got)
    header = got[0].headers["X-Runner-Signature"]
    assert not signature_ok(b"another-secret-0123456789", header, got[0].body)
    payload = json.loads(got[1].body)
    summary = c.get(f"/runs/{run['run_id']}", headers=A).json()
    assert payload["type"] == "run.ended"
    assert payload["run"] == {k: summary[k] for k in payload["run"]}
    assert set(payload["run"]) == {
        "run_id",
        "thread_id",
        "workflow",
        "status",
        "reason",
        "started_at",
        "updated_at",
        "worker",  # the state of the worker holding a live run (None once it ended)
    }


def test_the_app_url_takes_every_run_but_one_that_names_its_own(
    make: Callable[..., TestClient],
) -> None:
    """``webhook_url`` gets the runs that name none; a run's own URL replaces it."""
    with receiver() as app_rec, receiver() as own_rec:
        c = make(webhook_url=app_rec.url)
        plain = _run(c)
        own = _run(c, webhook=own_rec.url)
        _until(c, plain["run_id"], lambda h: h["state"] == "delivered")
        _until(c, own["run_id"], lambda h: h["state"] == "delivered")
        assert [json.loads(r.body)["run"]["run_id"] for r in app_rec.wait_for(1)] == [
            plain["run_id"]
        ]
        assert [json.loads(r.body)["run"]["run_id"] for r in own_rec.wait_for(1)] == [own["run_id"]]


def test_attempts_run_out_and_the_delivery_reads_failed(make: Callable[..., TestClient]) -> None:
    """A receiver that keeps failing gets ``max_attempts`` tries; then ``failed``."""
    c = make(webhook_retry=RetryConfig(max_attempts=2, initial_interval=5, jitter=0))
    with receiver() as rec:
        rec.codes = [503]
        run = _run(c, webhook=rec.url)
        _until(c, run["run_id"], lambda h: len(h["attempts"]) == 1)
        _clock(c).now += 5
        hook = _until(c, run["run_id"], lambda h: h["state"] == "failed")
    assert [a["status_code"] for a in hook["attempts"]] == [503, 503]
    assert hook["next_attempt_at"] is None and hook["delivered_at"] is None


def test_no_receiver_is_an_attempt_with_the_error_and_no_status(
    make: Callable[..., TestClient],
) -> None:
    """Nothing listening: the attempt logs the connection error, no status code."""
    c = make()
    with receiver() as rec:
        gone = rec.url
    run = _run(c, webhook=gone)
    hook = _until(c, run["run_id"], lambda h: len(h["attempts"]) == 1)
    assert hook["attempts"][0]["status_code"] is None
    assert hook["attempts"][0]["error"]


def test_a_slow_receiver_never_holds_a_worker(make: Callable[..., TestClient]) -> None:
    """While a delivery waits on its receiver, the one worker runs the next runs."""
    c = make()
    with receiver() as rec:
        rec.hold.clear()  # the receiver holds every request until the end
        first = _run(c, webhook=rec.url)
        assert rec.entered.wait(30)  # the dispatcher's POST is in flight, held
        second = _run(c)  # the worker is free: these complete meanwhile
        third = _run(c)
        assert _hooks(c, first["run_id"])["attempts"] == []  # still held
        rec.hold.set()
        _until(c, first["run_id"], lambda h: h["state"] == "delivered")
    assert second["status"] == third["status"] == "completed"


def test_the_log_shows_no_secret_and_is_the_tenants_own(make: Callable[..., TestClient]) -> None:
    """The URL's password and query values are not logged; another tenant's run is 404,
    a run without a webhook reads ``none``."""
    c = make()
    with receiver() as rec:
        secret_url = rec.url.replace("http://", "http://user:hunter2@") + "?token=s3cr3t&x=1"
        run = _run(c, webhook=secret_url)
        hook = _until(c, run["run_id"], lambda h: h["state"] == "delivered")
        got = rec.wait_for(1)
    text = json.dumps(hook)
    assert "hunter2" not in text and "s3cr3t" not in text and SECRET.decode() not in text
    assert hook["url"].endswith("/hook?token=***&x=***")
    assert got[0].path == "/hook?token=s3cr3t&x=1"  # the receiver gets the whole URL
    assert got[0].headers["Authorization"] == "Basic dXNlcjpodW50ZXIy"  # user:hunter2
    assert c.get(f"/runs/{run['run_id']}/webhooks", headers=B).status_code == 404
    assert c.get("/runs/nope/webhooks", headers=A).json()["field"] == "run_id"
    plain = _run(c)
    assert _hooks(c, plain["run_id"])["state"] == "none"
    assert c.get(f"/runs/{plain['run_id']}/webhooks", headers=B).status_code == 404


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://example.com/hook",
        "http://",
        "example.com/hook",
        "http://exa mple.com/",
        "http://example.com/\u0000",
        "http://example.com:99999/",
        "http://example.com/" + "a" * 3000,
        "",
    ],
)
def test_a_bad_webhook_url_is_422_naming_the_field(
    make: Callable[..., TestClient], bad: str
) -> None:
    """Only http(s) URLs with a host, bounded, clean; refused before the run is queued."""
    c = make()
    r = c.post("/runs", json={"workflow": "build", "webhook": bad}, headers=A)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "webhook"
    assert c.get("/runs", headers=A).json()["runs"] == []


def test_without_a_secret_a_webhook_is_refused(make: Callable[..., TestClient]) -> None:
    """An app with no webhook_secret cannot sign: a run naming a webhook is 422."""
    c = make(webhook_secret=None)
    r = c.post("/runs", json={"workflow": "build", "webhook": "https://example.com/"}, headers=A)
    assert r.status_code == 422 and r.json()["field"] == "webhook", r.text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"webhook_url": "ftp://example.com/"}, "webhook_url: must be an http or https URL"),
        ({"webhook_url": "https://example.com/"}, "webhook_url needs webhook_secret"),
        ({"webhook_secret": "short"}, "webhook_secret must be at least 16 bytes"),
        ({"webhook_secret": SECRET, "webhook_timeout": 0}, "webhook_timeout must be in"),
        ({"webhook_secret": SECRET, "webhook_retry": 3}, "webhook_retry must be a RetryConfig"),
    ],
)
def test_bad_webhook_options_fail_at_create_app(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    """Each bad option is named when the app is made, not at the first run."""
    with (
        open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver,
        pytest.raises((ValueError, TypeError), match=message),
    ):
        create_app(
            workflows={"build": one_step()}, checkpointer=saver, api_keys={"k": "t"}, **options
        )


def test_a_run_cancelled_before_it_started_is_delivered_cancelled(
    make: Callable[..., TestClient],
) -> None:
    """Any end is delivered: a queued run cancelled before a worker took it."""
    c = make(workers=0)
    with receiver() as rec:
        r = c.post("/runs", json={"workflow": "build", "webhook": rec.url}, headers=A)
        run_id = r.json()["run_id"]
        assert _hooks(c, run_id)["state"] == "waiting"
        assert c.post(f"/runs/{run_id}/cancel", headers=A).status_code == 202
        _until(c, run_id, lambda h: h["state"] == "delivered")
        [got] = rec.wait_for(1)
    assert json.loads(got.body)["run"]["status"] == "cancelled"


def test_two_processes_deliver_each_run_end_once(make: Callable[..., TestClient]) -> None:
    """Two apps on one queue and database pass over the outbox at the same moments: each
    run's end is fired by one and posted once (claims are exclusive)."""
    with receiver() as rec:
        first = make()
        queue = first.app.state.workers.queue.queue  # type: ignore[attr-defined]
        second = make(queue=queue, workers=0)
        second.app.state.webhooks.clock = _clock(first)  # type: ignore[attr-defined]
        runs = [_run(first, webhook=rec.url)["run_id"] for _ in range(5)]
        dispatchers = [c.app.state.webhooks for c in (first, second)]  # type: ignore[attr-defined]
        barrier = threading.Barrier(4)

        def passes(d: Any) -> None:
            barrier.wait(30)
            for _ in range(5):
                d.step()

        threads = [threading.Thread(target=passes, args=(d,)) for d in dispatchers * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for run_id in runs:
            _until(first, run_id, lambda h: h["state"] == "delivered")
        got = rec.wait_for(len(runs))
    keys = sorted(r.headers["Idempotency-Key"] for r in got)
    assert keys == sorted(f"run-ended:{r}" for r in runs)  # each once, none twice
    assert all(len(_hooks(first, r)["attempts"]) == 1 for r in runs)


def _fire(dispatcher: Any, run_id: str, now: float) -> None:
    """Make the webhook of ``run_id`` due, as a dispatcher pass would, once the run's queue
    row says it ended (the worker writes it just after the run's own row, which /wait
    reads)."""
    deadline = time.monotonic() + 30
    ended = dispatcher.outbox.ended()
    while run_id not in {found for found, _, _ in ended}:
        assert time.monotonic() < deadline, "the run's queue row never ended"
        time.sleep(0.02)
        ended = dispatcher.outbox.ended()
    for found, tenant, status in ended:
        dispatcher.outbox.fire(found, dispatcher._payload(found, tenant, status), now)


def test_a_delivery_whose_process_stopped_is_made_by_another(
    make: Callable[..., TestClient],
) -> None:
    """A process claimed the delivery and stopped: when its lease runs out another posts
    it; the stopped one's late record changes nothing."""
    c = make(workers=1)
    dispatcher: Any = c.app.state.webhooks  # type: ignore[attr-defined]
    dispatcher.stop()  # this test makes every pass itself
    with receiver() as rec:
        run = c.post("/runs", json={"workflow": "build", "webhook": rec.url}, headers=A).json()
        c.get(f"/runs/{run['run_id']}/wait", params={"timeout": 60}, headers=A)
        clock = _clock(c)
        stopped = Outbox(dispatcher._ctx.saver, owner="a-process-that-stopped")
        try:
            _fire(dispatcher, run["run_id"], clock())
            taken = stopped.claim(clock(), lease=40)
            assert taken is not None and taken.run_id == run["run_id"]
            assert dispatcher.step() == 0  # its lease holds
            clock.now += 41
            assert dispatcher.step() == 1
            late = Attempt(
                attempt=1, at=clock(), url="x", status_code=500, error="late", duration_ms=1
            )
            stopped.attempted(taken, late, "pending", clock() + 5)
        finally:
            stopped.close()
        hook = _hooks(c, run["run_id"])
        assert rec.wait_for(1) and len(rec.got) == 1
    assert hook["state"] == "delivered"
    assert [(a["attempt"], a["status_code"]) for a in hook["attempts"]] == [(1, 200)]
