"""``NodeError``: the JSON-safe record of a terminal node failure, with its code and category.

``NodeError`` is the *record* written into ``GraphState["errors"]`` as plain JSON
data. It shares its name with ``langgraph.errors.NodeError`` (the dataclass
LangGraph injects into an ``error_handler``); import ours from ``langgraph_runner``
and LangGraph's from ``langgraph.errors`` when a module needs both. The exceptions
the package raises are in ``_records.exceptions``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from langgraph_runner._internal.value_enum import ValueEnum
from langgraph_runner._records.sanitize import sanitize_message

__all__ = [
    "ErrorCategory",
    "ErrorCode",
    "NodeError",
    "error_from_fields",
    "record_cause",
    "restore",
]


class ErrorCategory(ValueEnum):
    """Coarse failure category, used by records, logs and metrics."""

    TIMEOUT = "timeout"
    NETWORK = "network"
    RATE_LIMIT = "rate_limit"
    VALIDATION = "validation"
    OTHER = "other"


_TEMPLATES: dict[str, str] = {
    "RETRY_EXHAUSTED": "Node '{node}' failed after {attempts} attempt(s): {error}",
    "NON_RETRYABLE": (
        "Node '{node}' failed with a non-retryable error on attempt {attempts}: {error}"
    ),
    "VALIDATION_FAILED": "Node '{node}' failed validation on attempt {attempts}: {error}",
    "NODE_TIMEOUT": "Node '{node}' timed out after {attempts} attempt(s): {error}",
    "CIRCUIT_OPEN": (
        "Node '{node}' was rejected by an open circuit breaker on attempt {attempts}: {error}"
    ),
    "NODE_ABORTED": "Node '{node}' was aborted on attempt {attempts}: {error}",
    "RATE_LIMITED": "Node '{node}' was refused by a rate limit on attempt {attempts}: {error}",
    "BUDGET_EXHAUSTED": (
        "Node '{node}' was stopped by a spent budget on attempt {attempts}: {error}"
    ),
    "LIMIT_STORE_UNAVAILABLE": (
        "Node '{node}' was refused because its limit store is unavailable on attempt "
        "{attempts}: {error}"
    ),
}


class ErrorCode(ValueEnum):
    """Why a node failed terminally. Each code carries a message template."""

    RETRY_EXHAUSTED = "RETRY_EXHAUSTED"
    """A retryable error outlasted the attempts (also when only one was allowed)."""
    NON_RETRYABLE = "NON_RETRYABLE"
    """The error is not retryable (a programming error, an HTTP 4xx, ...)."""
    VALIDATION_FAILED = "VALIDATION_FAILED"
    """A pydantic ``ValidationError``."""
    NODE_TIMEOUT = "NODE_TIMEOUT"
    """The attempt timeout or the call's deadline ran out."""
    CIRCUIT_OPEN = "CIRCUIT_OPEN"
    """A circuit breaker rejected the call without running the node."""
    NODE_ABORTED = "NODE_ABORTED"
    """The run's abort signal fired."""
    RATE_LIMITED = "RATE_LIMITED"
    """A rate limit refused the call (fail-fast, or no slot before the deadline)."""
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
    """A run, thread or tenant budget was spent before the call."""
    LIMIT_STORE_UNAVAILABLE = "LIMIT_STORE_UNAVAILABLE"
    """A rate limit's or budget's shared store could not answer and fails closed."""

    @property
    def template(self) -> str:
        """The message template, with ``{node}``, ``{attempts}`` and ``{error}`` fields."""
        return _TEMPLATES[self._value_]

    def render(self, *, node: str, attempts: int, error: str) -> str:
        """Render this code's message template."""
        return self.template.format(node=node, attempts=attempts, error=error)


def _is_none(value: object) -> bool:
    return value is None


class NodeError(BaseModel):
    """A JSON-safe record of a terminal node failure, as stored in ``GraphState["errors"]``.

    State holds ``record.model_dump(mode="json")``; ``NodeError.model_validate(d)``
    turns it back into a model. Messages and stacks are already sanitized.

    A node that ran as a ``Send`` task (map-reduce) also says which item failed:
    ``task_id`` (LangGraph's id of the task), ``send_node`` (the ``Send`` target)
    and ``send_item`` (the ``Send`` argument as JSON, redacted and capped at 200
    characters, or ``arg[item_key]`` when the node was given ``item_key=``). The
    three are left out of the dumped record for any other node.

    A node that ran for a tenant (``config["configurable"]["tenant_id"]``, which
    ``run(tenant=...)`` sets) carries it as ``tenant``; left out when there is none.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    node: str
    code: ErrorCode
    message: str
    error_type: str
    category: ErrorCategory
    recoverable: bool
    attempts: int = Field(ge=0)
    timestamp: str
    duration_ms: float = Field(ge=0)
    stack: str | None = None
    trace_id: str | None = None
    graph_execution_id: str | None = None
    retry_after: float | None = Field(default=None, ge=0)
    recovered: bool = False
    task_id: str | None = Field(default=None, exclude_if=_is_none)
    send_node: str | None = Field(default=None, exclude_if=_is_none)
    send_item: str | None = Field(default=None, exclude_if=_is_none)
    tenant: str | None = Field(default=None, exclude_if=_is_none)

    @field_validator("timestamp")
    @classmethod
    def _iso_timestamp(cls, value: str) -> str:
        # fromisoformat() only reads a trailing "Z" from Python 3.11 on.
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        if parsed.utcoffset() != timedelta(0):
            raise ValueError("timestamp must be ISO-8601 in UTC (offset +00:00 or Z)")
        return value

    def to_state(self) -> dict[str, Any]:
        """Plain JSON data, as written into state."""
        return _to_state(self)


# A terminal failure builds one record and writes it to state; pydantic's constructor
# and serializer were a third of that path's cost. The fields are all plain values or
# our str enums, so both can be done by hand: checked once here against pydantic, and
# pydantic's own are used should a release ever set models up differently.
_NODE_ERROR_FIELDS = tuple(NodeError.model_fields)
_PLAIN = frozenset((str, int, float, bool, type(None)))
# The optional fields (last in declaration order): absent from a dump when None.
_SEND_FIELDS = ("task_id", "send_node", "send_item")
_OPTIONAL_FIELDS = (*_SEND_FIELDS, "tenant")
_OMITTED_NONE = frozenset(_OPTIONAL_FIELDS)


def _restore_error(fields: dict[str, Any]) -> NodeError:
    # What model_construct ends with (and unpickling does): the values become __dict__.
    if "tenant" in fields:
        if "send_item" in fields:
            return restore(NodeError, fields, fields)
        # A tenant without Send fields: those go before it, in declaration order.
        given = tuple(fields)
        ordered = {name: fields.get(name) for name in _NODE_ERROR_FIELDS}
        return restore(NodeError, ordered, given)
    given = tuple(fields)  # the optional fields not given are defaults, as validation leaves them
    for name in _OPTIONAL_FIELDS:
        fields.setdefault(name, None)
    return restore(NodeError, fields, given)


def _json_fields(record: NodeError) -> dict[str, Any]:
    if type(record) is not NodeError:
        return record.model_dump(mode="json")
    out = {}
    for key, value in record.__dict__.items():
        if value is None and key in _OMITTED_NONE:
            continue
        if type(value) in _PLAIN:
            out[key] = value
        elif isinstance(value, enum.Enum):
            out[key] = value.value
        else:
            return record.model_dump(mode="json")
    return out


def _construct(fields: dict[str, Any]) -> NodeError:
    return NodeError.model_construct(**fields)


def _dump_json(record: NodeError) -> dict[str, Any]:
    return record.model_dump(mode="json")


def _pick() -> tuple[Callable[[dict[str, Any]], NodeError], Callable[[NodeError], dict[str, Any]]]:
    probe = {
        "node": "n",
        "code": ErrorCode.RETRY_EXHAUSTED,
        "message": "m",
        "error_type": "ValueError",
        "category": ErrorCategory.NETWORK,
        "recoverable": True,
        "attempts": 2,
        "timestamp": "2026-01-01T00:00:00+00:00",
        "duration_ms": 1.5,
        "stack": None,
        "trace_id": "t",
        "graph_execution_id": None,
        "retry_after": None,
        "recovered": False,
    }
    sent = {**probe, "task_id": "t1", "send_node": "n", "send_item": '{"id": 1}'}
    owned = {**probe, "tenant": "acme"}
    validated = NodeError.model_validate(probe)
    try:
        built = _restore_error(dict(probe))
        built_sent = _restore_error(dict(sent))
        built_owned = _restore_error(dict(owned))
        same = (
            (*probe, *_OPTIONAL_FIELDS) == _NODE_ERROR_FIELDS
            and built_owned == NodeError.model_validate(owned)
            and _json_fields(built_owned) == NodeError.model_validate(owned).model_dump(mode="json")
            and built == validated
            and built.model_fields_set == validated.model_fields_set
            and _json_fields(built) == validated.model_dump(mode="json")
            and _json_fields(validated) == validated.model_dump(mode="json")
            and list(_json_fields(built)) == list(validated.model_dump(mode="json"))
            and built_sent == NodeError.model_validate(sent)
            and _json_fields(built_sent) == NodeError.model_validate(sent).model_dump(mode="json")
        )
    except Exception:  # any surprise means: let pydantic do it
        same = False
    if same:
        return _restore_error, _json_fields
    return _construct, _dump_json


error_from_fields, _to_state = _pick()
"""``error_from_fields(fields)``: a ``NodeError`` from every field, in declaration order,
already well-typed (no validation, like ``model_construct``); the Send fields may be
left out (None). ``fields`` becomes its ``__dict__``, so do not reuse it."""


def record_cause(record: Mapping[str, Any] | None) -> str | None:
    """The redacted cause an error record carries (``ErrorType: message``), or None."""
    if not record:
        return None
    message = str(record.get("message") or "")
    # "Node 'x' failed after 3 attempt(s): Cause", "... on attempt 1: Cause"
    head, sep, cause = message.partition(": ")
    text = cause if sep and cause and head.startswith("Node ") else message
    return sanitize_message(text, max_length=300) or None


M = TypeVar("M", bound=BaseModel)


_set = object.__setattr__


def restore(cls: type[M], fields: dict[str, Any], fields_set: Iterable[str]) -> M:
    """An instance of ``cls`` whose ``__dict__`` is ``fields``, as given.

    What ``model_construct`` ends with, and unpickling (``BaseModel.__setstate__``)
    does: no validation, no defaults filled in, no copy of ``fields``.
    """
    model = cls.__new__(cls)
    _set(model, "__dict__", fields)
    _set(model, "__pydantic_fields_set__", set(fields_set))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model
