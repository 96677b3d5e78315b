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
