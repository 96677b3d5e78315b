"""The runs service as the service tests serve it: on SQLite or PostgreSQL, with two
tenants (``key-a``, ``key-b``) and a run queue of its own, its queue purged at the end;
through a ``TestClient`` (``served``) or over HTTP from uvicorn on a free port (``listening``)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from langgraph_runner.runs import open_checkpointer
from langgraph_runner.service import create_app
from tests.services import database_url

A = {"X-API-Key": "key-a"}
B = {"X-API-Key": "key-b"}


@contextmanager
def _app(
    kind: str, tmp_path: Path, workflows: Mapping[str, Any], options: Mapping[str, Any]
) -> Iterator[tuple[Any, Any, str]]:
    """``create_app(workflows=..., **options)`` on a fresh database (SQLite) or the test
    PostgreSQL, with a queue of its own: the app, its checkpointer and the queue's name."""
    uid = uuid.uuid4().hex
    with open_checkpointer(database_url(kind, tmp_path)) as saver:
        app = create_app(
            workflows=dict(workflows),
            checkpointer=saver,
            api_keys={"key-a": f"a-{uid}", "key-b": f"b-{uid}"},
            queue=uid,
            **options,
        )
        yield app, saver, uid


@contextmanager
def served(
    kind: str, tmp_path: Path, workflows: Mapping[str, Any], **options: Any
) -> Iterator[TestClient]:
    """A ``TestClient`` on ``create_app(workflows=..., **options)``, its lifespan running."""
    with _app(kind, tmp_path, workflows, options) as (app, saver, uid), TestClient(app) as client:
        try:
            yield client
        finally:
            from langgraph_runner._service.queue import RunQueue

            left = RunQueue(saver, queue=uid)  # the app's own may be closed by now
            left.purge()
            left.close()


@contextmanager
def listening(
    kind: str, tmp_path: Path, workflows: Mapping[str, Any], **options: Any
) -> Iterator[str]:
    """The base URL of ``create_app(workflows=..., **options)`` served by uvicorn on a free
    port (a thread of this process); its queue, runs and threads dropped at the end."""
    import uvicorn

    with _app(kind, tmp_path, workflows, options) as (app, saver, uid):
        server = uvicorn.Server(uvicorn.Config(app, port=0, log_config=None, log_level="warning"))
        try:
            with running(server):
                port = server.servers[0].sockets[0].getsockname()[1]
                yield f"http://127.0.0.1:{port}"
        finally:
            drop_queue(saver, uid)


@contextmanager
def running(server: Any, **run: Any) -> Iterator[None]:
    """A ``uvicorn.Server`` running in a thread (``server.run(**run)``) until the block ends."""
    thread = threading.Thread(target=server.run, kwargs=run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        thread.join(30)


def drop_queue(saver: Any, queue: str) -> None:
    """Delete a test's run queue: its rows, the runs they made and those runs' threads."""
    from langgraph_runner._runs.run_store import TABLE as RUNS_TABLE
    from langgraph_runner._runs.store_registry import open_run_store
    from langgraph_runner._service.queue import QUEUE_TABLE

    store = open_run_store(saver)
    assert store is not None
    try:
        _, rows = store.sql.run(
            f"SELECT run_id, thread_id FROM {QUEUE_TABLE} WHERE queue = ?", (queue,)
        )
        for r in rows:
            run_id, thread = (r["run_id"], r["thread_id"]) if isinstance(r, dict) else r
            store.sql.run(f"DELETE FROM {RUNS_TABLE} WHERE run_id = ?", (run_id,))
            saver.delete_thread(thread)
        store.sql.run(f"DELETE FROM {QUEUE_TABLE} WHERE queue = ?", (queue,))
    finally:
        store.close()
