"""The runs service against its own OpenAPI document: schemathesis generates requests for
every route (valid and invalid, hostile strings included) and checks that none is a server
error and that every answer matches the documented status codes, media types and schemas.

It runs on SQLite and on PostgreSQL, each with a tenant and queue of its own, through
the ASGI app (no port); the number of examples per route is bounded so the test stays
quick, and a fixed seed keeps it deterministic.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, given, settings
from typing_extensions import TypedDict

pytest.importorskip("fastapi")
pytest.importorskip("schemathesis")

import schemathesis
import starlette_testclient

from langgraph_runner.runs import open_checkpointer
from langgraph_runner.service import create_app
from tests.fakes import chain_graph

KEY = {"X-API-Key": "key-a"}


class State(TypedDict, total=False):
    title: Any
    log: Annotated[list[str], operator.add]


def _step(name: str) -> Any:
    def body(state: State) -> dict[str, Any]:
        return {"log": [name]}

    return body


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The service's OpenAPI schema, bound to a live app on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'runs.db'}"
    else:
        pytest.importorskip("langgraph.checkpoint.postgres")
        from tests.services import postgres_url

        url = postgres_url()
    uid = uuid.uuid4().hex
    with open_checkpointer(url) as saver:
        app = create_app(
            workflows={"build": chain_graph(State, ["fetch", "render"], _step).compile()},
            checkpointer=saver,
            api_keys={"key-a": f"tenant-{uid}"},
            workers=1,
            queue=uid,
        )
        # One client for the whole test, entered once: the app's lifespan (its workers)
        # starts and stops once, as under a server. Schemathesis's own ASGI transport
        # would run it around every request.
        with starlette_testclient.TestClient(app) as client:
            yield schemathesis.openapi.from_dict(app.openapi()), client
            app.state.workers.queue.purge()
            app.state.scheduler.store.purge(uid)  # the schedules it made


def test_every_route_answers_as_documented_and_never_a_server_error(api: Any) -> None:
    """No 5xx; status, media type, headers and body match the OpenAPI document, for
    generated requests to every route."""
    schema, client = api
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # every route of the service is in the document

    for operation in operations:

        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(session=client, base_url="http://testserver", headers=KEY)

        check()
