"""The error record model, its codes and categories, and the package's exception tree."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langgraph.errors import NodeTimeoutError as LGNodeTimeoutError
from pydantic import BaseModel, ConfigDict, ValidationError

from langgraph_runner._records.exceptions import (
    CircuitOpenError,
    LangGraphRunnerError,
    NodeAbortedError,
    NodeTimeoutError,
    StateSchemaError,
)
from langgraph_runner._records.record import (
    ErrorCategory,
    ErrorCode,
    NodeError,
    error_from_fields,
    restore,
)

SPEC_CODES = {
    "RETRY_EXHAUSTED",
    "NON_RETRYABLE",
    "VALIDATION_FAILED",
    "NODE_TIMEOUT",
    "CIRCUIT_OPEN",
    "NODE_ABORTED",
    "RATE_LIMITED",
    "BUDGET_EXHAUSTED",
    "LIMIT_STORE_UNAVAILABLE",
}
JSON_SCALARS = (str, int, float, bool, type(None))


def record_data(**overrides: Any) -> dict[str, Any]:
    """A complete, valid record as plain data."""
    data: dict[str, Any] = {
        "node": "fetch",
        "code": "RETRY_EXHAUSTED",
        "message": "Node 'fetch' failed after 3 attempt(s): ConnectionError: down",
        "error_type": "ConnectionError",
        "category": "network",
        "recoverable": True,
        "attempts": 3,
        "timestamp": "2026-01-02T03:04:05.678901+00:00",
        "duration_ms": 12.5,
        "stack": "app/nodes.py:10 in fetch\nConnectionError: down",
        "trace_id": "trace-1",
        "graph_execution_id": "thread-1",
        "retry_after": 1.5,
        "recovered": False,
    }
    data.update(overrides)
    return data


def assert_plain_json(value: Any) -> None:
    """Fail unless ``value`` is made only of JSON types (no enums, no models, no tuples)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str
            assert_plain_json(item)
    elif isinstance(value, list):
        for item in value:
            assert_plain_json(item)
    else:
        assert type(value) in JSON_SCALARS, (value, type(value))


def test_error_codes_match_the_spec() -> None:
    """ErrorCode has exactly the codes of the spec, as a str enum."""
    assert {c.value for c in ErrorCode} == SPEC_CODES
    assert all(isinstance(c, str) and c == c.value and str(c) == c.value for c in ErrorCode)


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_code_message_names_node_and_attempts(code: ErrorCode) -> None:
    """Each code's message template names the node and the attempt count."""
    message = code.render(node="fetch_docs", attempts=7, error="Boom: nope")
    assert "fetch_docs" in message
    assert "7" in message
    assert "Boom: nope" in message
    assert "{" not in message


@pytest.mark.parametrize("code", list(ErrorCode))
def test_code_templates_are_distinct_text(code: ErrorCode) -> None:
    """Every code has its own non-empty template with node, attempts and error fields."""
    assert {"{node}", "{attempts}", "{error}"} <= set(_fields(code.template))
    others = [c.template for c in ErrorCode if c is not code]
    assert code.template not in others


def _fields(template: str) -> list[str]:
    import string

    return ["{" + name + "}" for _, name, _, _ in string.Formatter().parse(template) if name]


def test_error_categories_match_the_spec() -> None:
    """ErrorCategory has the five spec categories and prints as its value."""
    assert {c.value for c in ErrorCategory} == {
        "timeout",
        "network",
        "rate_limit",
        "validation",
        "other",
    }
    assert str(ErrorCategory.RATE_LIMIT) == "rate_limit"


def test_record_dump_is_plain_json_data() -> None:
    """to_state() is plain JSON data: strings for enums, no models, survives json.dumps."""
    record = NodeError.model_validate(record_data())
    dumped = record.to_state()
    assert_plain_json(dumped)
    assert dumped["code"] == "RETRY_EXHAUSTED"
    assert dumped["category"] == "network"
    assert json.loads(json.dumps(dumped)) == dumped
    assert dumped == record.model_dump(mode="json")


def test_record_round_trips_through_model_validate() -> None:
    """NodeError.model_validate(record.to_state()) gives an equal record, and so on forever."""
    record = NodeError.model_validate(record_data())
    again = NodeError.model_validate(record.to_state())
    assert again == record
    assert again.to_state() == record.to_state()
    assert again.code is ErrorCode.RETRY_EXHAUSTED
    assert again.category is ErrorCategory.NETWORK


def test_record_round_trips_through_json_text() -> None:
    """A record survives JSON text (what checkpoints and the API server carry)."""
    record = NodeError.model_validate(record_data(stack=None, retry_after=None))
    assert NodeError.model_validate_json(json.dumps(record.to_state())) == record


def test_record_optional_fields_default() -> None:
    """stack, trace_id, graph_execution_id and retry_after default to None, recovered to False."""
    minimal = {
        k: v
        for k, v in record_data().items()
        if k not in {"stack", "trace_id", "graph_execution_id", "retry_after", "recovered"}
    }
    record = NodeError.model_validate(minimal)
    assert record.stack is None
    assert record.trace_id is None
    assert record.graph_execution_id is None
    assert record.retry_after is None
    assert record.recovered is False


def test_record_is_frozen() -> None:
    """A record cannot be changed after creation."""
    record = NodeError.model_validate(record_data())
    with pytest.raises(ValidationError):
        record.attempts = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("attempts", -1),
        ("duration_ms", -0.5),
        ("retry_after", -1.0),
        ("code", "EXPLODED"),
        ("category", "cosmic_ray"),
        ("timestamp", "yesterday"),
        ("timestamp", "2026-01-02T03:04:05"),
        ("timestamp", "2026-01-02T03:04:05+02:00"),
        ("recoverable", "perhaps"),
    ],
)
def test_record_rejects_bad_values_naming_the_field(field: str, value: Any) -> None:
    """Invalid values raise a ValidationError located at the field."""
    with pytest.raises(ValidationError) as info:
        NodeError.model_validate(record_data(**{field: value}))
    assert {err["loc"][0] for err in info.value.errors()} == {field}


@pytest.mark.parametrize("field", ["node", "code", "message", "error_type", "timestamp"])
def test_record_requires_core_fields(field: str) -> None:
    """A record lacking a required field is rejected, naming it."""
    data = record_data()
    del data[field]
    with pytest.raises(ValidationError) as info:
        NodeError.model_validate(data)
    assert info.value.errors()[0]["loc"] == (field,)


def test_record_rejects_unknown_fields() -> None:
    """Unknown keys are rejected, so a typo cannot silently lose data."""
    with pytest.raises(ValidationError) as info:
        NodeError.model_validate(record_data(atempts=3))
    assert info.value.errors()[0]["loc"] == ("atempts",)


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-01-02T03:04:05+00:00",
        "2026-01-02T03:04:05.123456+00:00",
        "2026-01-02T03:04:05Z",
        datetime(2031, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc).isoformat(),
    ],
)
def test_record_accepts_utc_iso_timestamps(stamp: str) -> None:
    """ISO-8601 UTC timestamps (offset +00:00 or Z) are accepted unchanged."""
    assert NodeError.model_validate(record_data(timestamp=stamp)).timestamp == stamp


@pytest.mark.parametrize(
    "cls", [StateSchemaError, NodeAbortedError, CircuitOpenError, NodeTimeoutError]
)
def test_every_package_exception_derives_from_the_base(cls: type[BaseException]) -> None:
    """Everything the package raises is a LangGraphRunnerError (one except clause catches all)."""
    assert issubclass(cls, LangGraphRunnerError)
    assert issubclass(cls, Exception)


def test_node_timeout_error_is_langgraphs_timeout() -> None:
    """Our NodeTimeoutError is LangGraph's (not builtin TimeoutError) and carries its context."""
    exc = NodeTimeoutError("fetch", timeout=2.0, elapsed=2.5, attempt=3)
    assert isinstance(exc, LGNodeTimeoutError)
    assert not isinstance(exc, TimeoutError)
    assert (exc.node, exc.timeout, exc.elapsed, exc.attempt, exc.kind) == (
        "fetch",
        2.0,
        2.5,
        3,
        "run",
    )
    assert str(exc) == "Node 'fetch' exceeded its timeout of 2.000s on attempt 3 (elapsed: 2.500s)."


def test_node_timeout_error_deadline_kind() -> None:
    """A deadline timeout says so in its kind and message."""
    exc = NodeTimeoutError("fetch", timeout=10.0, elapsed=10.2, kind="deadline")
    assert exc.kind == "deadline"
    assert "deadline of 10.000s" in str(exc)


def test_state_schema_error_names_node_and_channels() -> None:
    """StateSchemaError is a TypeError naming the node, the missing channels and the fix."""
    exc = StateSchemaError("fetch", ("errors", "routing_flags"))
    assert isinstance(exc, TypeError)
    assert (exc.node, exc.missing) == ("fetch", ("errors", "routing_flags"))
    text = str(exc)
    assert "'fetch'" in text
    assert "'errors'" in text
    assert "'routing_flags'" in text
    assert "GraphState" in text
    assert exc.cause is None and text.startswith("Node 'fetch' failed and wants to record")


def test_state_schema_error_names_the_nodes_own_error_first() -> None:
    """With the node's own error, the message names it before the schema advice: a
    checkpoint keeps only the text, and a report shows its start."""
    exc = StateSchemaError("fetch", ("errors",), "ValueError: bad port")
    assert exc.cause == "ValueError: bad port"
    assert str(exc).startswith("Node 'fetch' failed (ValueError: bad port) and wants to record")
    assert "'errors'" in str(exc) and "GraphState" in str(exc)


@pytest.mark.parametrize(("given", "kept"), [(2.5, 2.5), (0.0, 0.0), (-3.0, 0.0)])
def test_circuit_open_error_clamps_retry_after(given: float, kept: float) -> None:
    """CircuitOpenError.retry_after is never negative and appears in the message."""
    exc = CircuitOpenError("search-api", given, node="fetch")
    assert exc.retry_after == kept
    assert (exc.breaker, exc.node) == ("search-api", "fetch")
    assert f"retry after {kept:.3f}s" in str(exc)
    assert "'fetch'" in str(exc)


def test_circuit_open_error_without_node() -> None:
    """Without a node, the message only names the breaker."""
    exc = CircuitOpenError("search-api", 1.0)
    assert exc.node is None
    assert "node" not in str(exc)


@pytest.mark.parametrize(("reason", "suffix"), [("user cancelled", ": user cancelled"), (None, "")])
def test_node_aborted_error_message(reason: str | None, suffix: str) -> None:
    """NodeAbortedError carries node, reason and attempt, and names them."""
    exc = NodeAbortedError("fetch", reason, attempt=2)
    assert (exc.node, exc.reason, exc.attempt) == ("fetch", reason, 2)
    assert str(exc) == f"Node 'fetch' was aborted on attempt 2{suffix}"


EXCEPTIONS = [
    NodeTimeoutError("fetch", timeout=2.0, elapsed=2.5, attempt=3, kind="deadline"),
    NodeAbortedError("fetch", "shutdown", attempt=2),
    NodeAbortedError("fetch"),
    CircuitOpenError("search-api", 4.0, node="fetch"),
    StateSchemaError("fetch", ("errors",)),
    StateSchemaError("fetch", ("errors",), "ValueError: bad port"),
]


@pytest.mark.parametrize("exc", EXCEPTIONS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("clone", ["pickle", "deepcopy", "copy"])
def test_exceptions_survive_pickle_and_copy(exc: BaseException, clone: str) -> None:
    """Our exceptions pickle and copy (process pools, deepcopy) with message and attributes."""
    if clone == "pickle":
        other = pickle.loads(pickle.dumps(exc))
    elif clone == "deepcopy":
        other = copy.deepcopy(exc)
    else:
        other = copy.copy(exc)
    assert type(other) is type(exc)
    assert str(other) == str(exc)
    assert other.args == exc.args
    assert vars(other) == vars(exc)


def test_pickled_exception_keeps_notes() -> None:
    """Notes added to a package exception (node, attempt, trace id) survive pickling."""
    from langgraph_runner._engine.records import add_note  # BaseException.add_note is 3.11+

    exc = CircuitOpenError("search-api", 1.0)
    add_note(exc, "langgraph_runner: node 'fetch' failed on attempt 1/3")
    assert pickle.loads(pickle.dumps(exc)).__notes__ == exc.__notes__


@settings(max_examples=200, deadline=None)
@given(
    node=st.text(min_size=1, max_size=20),
    code=st.sampled_from(list(ErrorCode)),
    category=st.sampled_from(list(ErrorCategory)),
    attempts=st.integers(min_value=0, max_value=50),
    duration=st.floats(min_value=0, max_value=1e9, allow_nan=False),
    stack=st.none() | st.text(max_size=50),
    trace=st.none() | st.text(max_size=40),
    retry_after=st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False),
    recovered=st.booleans(),
)
def test_a_record_built_without_validation_equals_the_validated_one(
    node: str,
    code: ErrorCode,
    category: ErrorCategory,
    attempts: int,
    duration: float,
    stack: str | None,
    trace: str | None,
    retry_after: float | None,
    recovered: bool,
) -> None:
    """The failure path's record (no validation) and its state form are pydantic's own."""
    fields: dict[str, Any] = {
        "node": node,
        "code": code,
        "message": f"{node} failed",
        "error_type": "ValueError",
        "category": category,
        "recoverable": code is ErrorCode.RETRY_EXHAUSTED,
        "attempts": attempts,
        "timestamp": "2026-11-23T10:00:00+00:00",
        "duration_ms": duration,
        "stack": stack,
        "trace_id": trace,
        "graph_execution_id": trace,
        "retry_after": retry_after,
        "recovered": recovered,
    }
    validated = NodeError.model_validate(fields)
    built = error_from_fields(dict(fields))
    assert built == validated and hash(built) == hash(validated)
    assert built.model_fields_set == validated.model_fields_set
    assert built.to_state() == validated.to_state() == validated.model_dump(mode="json")
    assert json.dumps(built.to_state()) == json.dumps(validated.model_dump(mode="json"))
    assert pickle.loads(pickle.dumps(built)) == validated
    copied = built.model_copy(update={"recovered": not recovered})
    assert copied.to_state() == {**validated.model_dump(mode="json"), "recovered": not recovered}
    assert NodeError.model_validate(built.to_state()) == validated


def test_send_fields_are_optional_and_left_out_when_unset() -> None:
    """A record without Send fields dumps as before; with them, they round-trip as plain JSON."""
    base = NodeError(
        node="work",
        code=ErrorCode.NON_RETRYABLE,
        message="m",
        error_type="ValueError",
        category=ErrorCategory.OTHER,
        recoverable=False,
        attempts=1,
        timestamp="2026-11-23T10:00:00+00:00",
        duration_ms=1.0,
    )
    assert not {"task_id", "send_node", "send_item"} & set(base.to_state())
    assert base.to_state() == base.model_dump(mode="json")
    sent = base.model_copy(update={"task_id": "t1", "send_node": "work", "send_item": '{"n": 1}'})
    state = sent.to_state()
    assert (state["task_id"], state["send_node"], state["send_item"]) == ("t1", "work", '{"n": 1}')
    assert NodeError.model_validate(json.loads(json.dumps(state))) == sent
    assert error_from_fields(dict(state)) == sent


class Point(BaseModel):
    model_config = ConfigDict(frozen=True)

    x: int
    label: str | None = None


def test_restored_model_equals_the_validated_one() -> None:
    """Same value, hash, dump, fields_set and pickle round trip as the validated model."""
    fields = {"x": 3, "label": "a"}
    built = restore(Point, fields, fields)
    validated = Point(x=3, label="a")
    assert built == validated and hash(built) == hash(validated)
    assert built.model_dump(mode="json") == validated.model_dump(mode="json")
    assert built.model_fields_set == validated.model_fields_set == {"x", "label"}
    assert pickle.loads(pickle.dumps(built)) == validated
    assert built.model_copy(update={"x": 4}) == Point(x=4, label="a")


def test_fields_become_the_instance_dict_without_validation() -> None:
    """No copy and no validation: the caller vouches for the values."""
    fields = {"x": "not an int", "label": None}
    built = restore(Point, fields, {"x"})
    assert built.__dict__ is fields
    assert built.x == "not an int"
    assert built.model_fields_set == {"x"}
