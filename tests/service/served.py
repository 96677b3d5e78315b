"""The runs service as the service tests serve it: on SQLite or PostgreSQL, with two
tenants (``key-a``, ``key-b``) and a run queue of its own, its queue purged at the end."""

from __future__ import annotations

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
def served(
    kind: str, tmp_path: Path, workflows: Mapping[str, Any], **options: Any
) -> Iterator[TestClient]:
    """A ``TestClient`` on ``create_app(workflows=..., **options)``, its lifespan running."""
    uid = uuid.uuid4().hex
    with open_checkpointer(database_url(kind, tmp_path)) as saver:
        app = create_app(
            workflows=dict(workflows),
            checkpointer=saver,
            api_keys={"key-a": f"a-{uid}", "key-b": f"b-{uid}"},
            queue=uid,
            **options,
        )
        with TestClient(app) as client:
            try:
                yield client
            finally:
                from langgraph_runner._service.queue import RunQueue

                left = RunQueue(saver, queue=uid)  # the app's own may be closed by now
                left.purge()
                left.close()


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
