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

from langgraph_runner import create_node, get_node_context
from langgraph_runner.runs import open_checkpointer
from langgraph_runner.service import create_app
from langgraph_runner.testing import no_wait
from tests.fakes import chain_graph

KEY = {"X-API-Key": "key-a"}


class State(TypedDict, total=False):
    title: Any
    log: Annotated[list[str], operator.add]


def _step(name: str) -> Any:
    def body(state: State) -> dict[str, Any]:
        return {"log": [name]}

    return body


def _failing(state: State) -> dict[str, Any]:
    """Attempt 1 refused (a secret in its message), attempt 2 timed out, attempt 3 ends it:
    a success, or for a state titled ``never`` a failure of its own."""
    ctx = get_node_context()
    attempt = ctx.attempt if ctx else 1
    if attempt == 1:
        raise ConnectionError("refused, key sk-live-0123456789abcdefghijklmnop")
    if attempt == 2 or state.get("title") == "never":
        raise TimeoutError(f"attempt {attempt} timed out")
    return {"log": ["render"]}


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
            workflows={
                "build": chain_graph(State, ["fetch", "render"], _step).compile(),
                "flaky": chain_graph(
                    State, ["render"], lambda _: create_node(_failing, retry=3, on_error="record")
                ).compile(),
            },
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


def test_a_steps_attempts_with_their_own_records_answer_as_documented(api: Any) -> None:
    """A step retried to success and one out of attempts: their attempts, each failure with
    its own record, match the document's ``AttemptBody``."""
    schema, client = api
    operation = schema["/runs/{run_id}/steps/{name}/attempts"]["GET"]
    shown = []
    with no_wait():
        for title in ("once", "never"):
            body = {"workflow": "flaky", "input": {"title": title}}
            run_id = client.post("/runs", json=body, headers=KEY).json()["run_id"]
            client.get(f"/runs/{run_id}/wait", params={"timeout": 60}, headers=KEY)
            case = operation.Case(path_parameters={"run_id": run_id, "name": "render"})
            response = case.call_and_validate(
                session=client, base_url="http://testserver", headers=KEY
            )
            shown.append([(a["outcome"], a["error_type"]) for a in response.json()])
    assert shown == [
        [("retried", "ConnectionError"), ("retried", "TimeoutError"), ("succeeded", None)],
        [("retried", "ConnectionError"), ("retried", "TimeoutError"), ("failed", "TimeoutError")],
    ]
