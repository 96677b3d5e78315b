"""Tests for langgraph_runner._service.multitask (and rollback): a run posted on a busy
thread, under each strategy (reject, enqueue, interrupt, rollback), on SQLite and PostgreSQL.

A busy thread is made with a node that holds until the test lets it go (an event, or
the run's abort signal); runs are waited for through ``GET /runs/{id}/wait``. Posts at
the same instant come from many clients over HTTP (uvicorn), let go by one barrier.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import pytest
from typing_extensions import TypedDict

pytest.importorskip("fastapi")

import httpx
from fastapi.testclient import TestClient
from langchain_core.runnables import RunnableConfig

from langgraph_runner._policies.abort import ABORT_SIGNAL_KEY
from langgraph_runner._runs.run_store import RUN_ID_METADATA_KEY
from langgraph_runner.runs import open_checkpointer
from langgraph_runner.service import create_app
from tests.fakes import chain_graph
from tests.service.served import A, B, listening, served

CONTENDERS = 32  # posts at the same instant on one idle thread
ROUNDS = 8
LOG: list[str] = []  # "<title> <node>", in the order the nodes ran
HOLDING = threading.Event()  # a hold node is under way
RELEASE = threading.Event()  # lets a hold node go


class State(TypedDict, total=False):
    title: str
    mode: str
    log: Annotated[list[str], operator.add]


def _hold(state: State, config: RunnableConfig) -> dict[str, Any]:
    LOG.append(f"{state.get('title')} hold")
    if state.get("mode") == "hold":
        HOLDING.set()
        signal = config["configurable"][ABORT_SIGNAL_KEY]
        # "event": until the test lets go; "abort": until the run is asked to stop.
        for _ in range(1200):
            if RELEASE.is_set() or signal.aborted:
                break
            RELEASE.wait(0.05)
        if signal.aborted:
            LOG.append(f"{state.get('title')} aborted")
    return {"log": [f"{state.get('title')} hold"]}


def _after(state: State) -> dict[str, Any]:
    LOG.append(f"{state.get('title')} after")
    return {"log": [f"{state.get('title')} after"]}


def _graph() -> Any:
    """hold, then after."""
    return chain_graph(State, ["hold", "after"], {"hold": _hold, "after": _after}.get).compile()


@pytest.fixture(params=["sqlite", "postgres"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The service with two worker threads (two runs of one thread could start at once)."""
    LOG.clear()
    HOLDING.clear()
    RELEASE.clear()
    hooks = {"webhook_secret": "multitask-webhooks-0123456789"}
    with served(request.param, tmp_path, {"w": _graph()}, workers=2, **hooks) as c:
        try:
            yield c
        finally:
            RELEASE.set()  # before the app closes: its workers finish their runs


def _post(c: TestClient, title: str, thread: str | None, **extra: Any) -> Any:
    body: dict[str, Any] = {
        "workflow": "w",
        "input": {"title": title, "mode": extra.pop("mode", "")},
    }
    if thread is not None:
        body["thread_id"] = thread
    return c.post("/runs", json={**body, **extra}, headers=A)


def _wait(c: TestClient, run_id: str, headers: dict[str, str] = A) -> dict[str, Any]:
    done = c.get(f"/runs/{run_id}/wait", params={"timeout": 60}, headers=headers).json()
    assert done["status"] not in ("pending", "running"), done
    return dict(done)


def _busy(c: TestClient, thread: str, **extra: Any) -> str:
    """Start a run on ``thread`` that holds in its first node; its id once it holds."""
    r = _post(c, "first", thread, mode="hold", **extra)
    assert r.status_code == 202, r.text
    assert HOLDING.wait(60), "the first run never started"
    return str(r.json()["run_id"])


def test_reject_answers_409_naming_thread_id_and_queues_nothing(client: TestClient) -> None:
    """reject: 409 on the busy thread; another thread, or another tenant's same name, runs."""
    first = _busy(client, "t1")
    r = _post(client, "second", "t1", multitask_strategy="reject")
    assert r.status_code == 409, r.text
    assert r.json()["field"] == "thread_id"
    assert first in r.json()["detail"]
    other = _post(client, "other", "t2", multitask_strategy="reject")
    theirs = client.post(
        "/runs",
        json={
            "workflow": "w",
            "input": {"title": "b"},
            "thread_id": "t1",
            "multitask_strategy": "reject",
        },
        headers=B,
    )
    assert (other.status_code, theirs.status_code) == (202, 202)
    RELEASE.set()
    assert _wait(client, first)["status"] == "completed"
    assert _wait(client, theirs.json()["run_id"], B)["status"] == "completed"
    listed = client.get("/runs", headers=A).json()["runs"]
    assert sorted(r["run_id"] for r in listed) == sorted([first, other.json()["run_id"]])


def test_enqueue_runs_the_second_run_after_the_first_never_beside_it(client: TestClient) -> None:
    """enqueue: accepted, kept queued while the thread's run holds, then run after it."""
    first = _busy(client, "t1")
    r = _post(client, "second", "t1", multitask_strategy="enqueue")
    assert r.status_code == 202, r.text
    second = r.json()["run_id"]
    queue = client.app.state.workers.queue  # type: ignore[attr-defined]
    assert queue.claim(["w"]) is None  # an idle worker finds nothing it may take
    assert queue.get(second).status == "queued"
    assert client.get(f"/runs/{second}", headers=A).json()["status"] == "pending"
    RELEASE.set()
    assert _wait(client, first)["status"] == "completed"
    assert _wait(client, second)["status"] == "completed"
    assert LOG == ["first hold", "first after", "second hold", "second after"]


def test_the_default_strategy_is_enqueue_and_create_app_can_change_it(tmp_path: Path) -> None:
    """No field: the app's default (enqueue unless create_app says reject or interrupt)."""
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver:
        app = create_app(
            workflows={"w": _graph()},
            checkpointer=saver,
            api_keys={"key-a": "a"},
            workers=0,
            multitask_strategy="reject",
        )
        with TestClient(app) as c:
            assert _post(c, "first", "t").status_code == 202
            r = _post(c, "second", "t")
            assert (r.status_code, r.json()["field"]) == (409, "thread_id")
            assert _post(c, "third", "t", multitask_strategy="enqueue").status_code == 202
        with pytest.raises(ValueError, match="multitask_strategy"):
            create_app(
                workflows={"w": _graph()},
                checkpointer=saver,
                api_keys={"key-a": "a"},
                multitask_strategy="sideways",
            )


def test_a_bad_strategy_is_422_naming_the_field(client: TestClient) -> None:
    """An unknown strategy is refused before anything is queued."""
    r = _post(client, "x", "t1", multitask_strategy="sideways")
    assert (r.status_code, r.json()["field"]) == (422, "multitask_strategy")
    r = _post(client, "x", "t1", multitask_strategy=3)
    assert (r.status_code, r.json()["field"]) == (422, "multitask_strategy")


def test_interrupt_stops_the_running_run_at_its_next_step_then_runs_the_new_one(
    client: TestClient,
) -> None:
    """interrupt: the holding run ends cancelled after its step, naming the new run; the
    new run then runs on the thread."""
    first = _busy(client, "t1")
    r = _post(client, "second", "t1", multitask_strategy="interrupt")
    assert r.status_code == 202, r.text
    second = r.json()["run_id"]
    ended = _wait(client, first)  # the abort signal let its node go; no further step
    assert ended["status"] == "cancelled"
    assert second in ended["reason"]
    assert "interrupt" in ended["reason"]
    done = _wait(client, second)
    assert done["status"] == "completed"
    assert LOG == ["first hold", "first aborted", "second hold", "second after"]
    assert done["output"]["log"] == ["first hold", "second hold", "second after"]  # kept


def test_interrupt_cancels_a_queued_run_of_the_thread_before_it_starts(
    client: TestClient,
) -> None:
    """interrupt also stops the thread's runs still queued: they never start."""
    first = _busy(client, "t1")
    queued = _post(client, "queued", "t1", multitask_strategy="enqueue").json()["run_id"]
    last = _post(client, "last", "t1", multitask_strategy="interrupt").json()["run_id"]
    assert _wait(client, first)["status"] == "cancelled"
    ended = _wait(client, queued)
    assert (ended["status"], ended["reason"]) == (
        "cancelled",
        f"interrupted by run {last} (multitask_strategy=interrupt)",
    )
    assert _wait(client, last)["status"] == "completed"
    assert "queued hold" not in LOG


def _stored(c: TestClient, run_id: str) -> tuple[Any, str]:
    """The app's checkpointer and the thread a queued run runs on, as stored."""
    workers: Any = c.app.state.workers  # type: ignore[attr-defined]
    return workers.saver, workers.queue.get(run_id).thread_id


def _checkpoints(saver: Any, thread: str, run_id: str | None = None) -> list[Any]:
    """The thread's checkpoints (those ``run_id`` wrote, if given)."""
    cfg: Any = {"configurable": {"thread_id": thread}}
    return list(saver.list(cfg, filter=None if run_id is None else {RUN_ID_METADATA_KEY: run_id}))


def test_rollback_deletes_the_busy_runs_and_runs_from_the_state_before_them(
    client: TestClient,
) -> None:
    """rollback: the running run sees its abort signal, the queued one never starts; both
    are gone (404, with their webhook); the new run starts from the state before them."""
    zero = _post(client, "zero", "t1").json()["run_id"]
    assert _wait(client, zero)["status"] == "completed"
    first = _busy(client, "t1", webhook="http://127.0.0.1:9/hook")
    queued = _post(client, "queued", "t1").json()["run_id"]  # enqueue, behind the first
    r = _post(client, "second", "t1", multitask_strategy="rollback")
    assert r.status_code == 202, r.text
    second = r.json()["run_id"]
    done = _wait(client, second)
    assert done["status"] == "completed"
    assert done["output"]["log"] == ["zero hold", "zero after", "second hold", "second after"]
    ran = ["zero hold", "zero after", "first hold", "first aborted", "second hold", "second after"]
    assert ran == LOG
    for gone in (first, queued):
        assert client.get(f"/runs/{gone}", headers=A).status_code == 404
        assert client.get(f"/runs/{gone}/webhooks", headers=A).status_code == 404
        assert client.get(f"/runs/{gone}/wait", headers=A).status_code == 404
    listed = client.get("/runs", headers=A).json()["runs"]
    assert sorted(r["run_id"] for r in listed) == sorted([zero, second])
    # LangGraph's savers delete no single run's checkpoints: the first run's stay, a branch
    # no later run continues; the thread goes on from the new run's.
    saver, thread = _stored(client, second)
    assert _checkpoints(saver, thread, first)
    state = saver.get_tuple({"configurable": {"thread_id": thread}})
    assert state.metadata[RUN_ID_METADATA_KEY] == second


def test_rollback_of_a_threads_first_run_deletes_its_checkpoints_not_another_tenants(
    client: TestClient,
) -> None:
    """A rolled-back run that was its thread's first leaves nothing: the thread's
    checkpoints go, the new run starts afresh; a second rollback queued meanwhile rolls
    back the first one's run too. Another tenant's thread of the same name is untouched."""
    theirs = client.post(
        "/runs", json={"workflow": "w", "input": {"title": "b"}, "thread_id": "t1"}, headers=B
    ).json()["run_id"]
    assert _wait(client, theirs, B)["status"] == "completed"
    first = _busy(client, "t1")
    early = _post(client, "early", "t1", multitask_strategy="rollback").json()["run_id"]
    last = _post(client, "last", "t1", multitask_strategy="rollback").json()["run_id"]
    done = _wait(client, last)
    assert (done["status"], done["output"]["log"]) == ("completed", ["last hold", "last after"])
    assert "early hold" not in LOG
    for gone in (first, early):
        assert client.get(f"/runs/{gone}", headers=A).status_code == 404
    saver, thread = _stored(client, last)
    assert [c.metadata[RUN_ID_METADATA_KEY] for c in _checkpoints(saver, thread)] == [last] * 4
    kept = _wait(client, theirs, B)
    assert (kept["status"], kept["output"]["log"]) == ("completed", ["b hold", "b after"])
    assert _checkpoints(*_stored(client, theirs))


def _contend(clients: list[httpx.Client], thread: str, strategy: str) -> list[int]:
    """One post on ``thread`` from each client (a thread each), all let go at once; their
    status codes."""
    start = threading.Barrier(len(clients))
    body = {"workflow": "w", "thread_id": thread, "multitask_strategy": strategy}

    def post(client: httpx.Client) -> int:
        start.wait()
        return client.post("/runs", json=body, headers=A).status_code

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(post, clients))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_reject_takes_exactly_one_of_many_posts_at_once_on_an_idle_thread(
    kind: str, tmp_path: Path
) -> None:
    """reject is one decision: of many posts at the same instant on an idle thread, one
    is queued (202) and every other one refused (409), round after round."""
    with (
        listening(kind, tmp_path, {"w": _graph()}, workers=0) as url,  # nothing runs
        ExitStack() as stack,
    ):
        clients = [stack.enter_context(httpx.Client(base_url=url)) for _ in range(CONTENDERS)]
        for client in clients:  # each on a connection of its own, open before the race
            client.get("/openapi.json").raise_for_status()
        for i in range(ROUNDS):
            codes = _contend(clients, f"race-{i}", "reject")
            assert sorted(codes) == [202] + [409] * (CONTENDERS - 1), f"round {i}: {codes}"
