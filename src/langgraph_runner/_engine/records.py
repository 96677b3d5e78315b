"""Turning a terminal failure into a sanitized record (and a safe exception).

* ``code_and_category``: why the node failed and the failure's category, read
  from the exception once (kept per class where the class alone decides).
* ``record_state``: the record as it is written into state, plain JSON data;
  what depends only on the failing site (message, error type, stack) is kept
  per site. ``record_model`` makes the ``NodeError`` of it; ``record_message``
  gives its message alone.
* ``Failure``: one failure for the paths that read its record later or more
  than once (fallbacks, hooks): the state is built on first read.
* ``redact_exception``: the exception itself made safe to let out of a node.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Mapping
from types import CodeType
from typing import Any

from langgraph.errors import NodeTimeoutError as _LGNodeTimeoutError
from langgraph.types import Command
from pydantic import ValidationError

from langgraph_runner._internal import compat as _compat
from langgraph_runner._policies.context import TENANT_KEY, NodeContext
from langgraph_runner._policies.retry import RetryConfig
from langgraph_runner._records.classify import classified_by_class, classify_failure, keep
from langgraph_runner._records.egress import egress_text
from langgraph_runner._records.exceptions import (
    BudgetExceededError,
    CircuitOpenError,
    LimitStoreUnavailableError,
    NodeAbortedError,
    RateLimitedError,
)
from langgraph_runner._records.items import item_summary
from langgraph_runner._records.record import ErrorCategory, ErrorCode, NodeError, error_from_fields
from langgraph_runner._records.redact_exc import redact_tree, replacement
from langgraph_runner._records.sanitize import sanitize_stack

__all__ = [
    "Failure",
    "add_note",
    "build_record",
    "code_and_category",
    "error_code",
    "iso_utc",
    "record_message",
    "record_model",
    "record_state",
    "recovered_update",
    "redact_exception",
    "send_fields",
]

# By value: an Enum member hashes in Python code (Enum.__hash__), a str in C.
_RECOVERABLE = frozenset(
    code.value
    for code in (
        ErrorCode.RETRY_EXHAUSTED,
        ErrorCode.NODE_TIMEOUT,
        ErrorCode.CIRCUIT_OPEN,
        ErrorCode.RATE_LIMITED,
        ErrorCode.LIMIT_STORE_UNAVAILABLE,
    )
)
_STACK_MESSAGE = 300
_CIRCUIT_OPEN_CODE = ErrorCode.CIRCUIT_OPEN.value
_HINTED_CODES = frozenset(  # carry retry_after
    (_CIRCUIT_OPEN_CODE, ErrorCode.RATE_LIMITED.value, ErrorCode.LIMIT_STORE_UNAVAILABLE.value)
)


_OWN_CODES: tuple[tuple[type[BaseException], ErrorCode, ErrorCategory | None], ...] = (
    (_LGNodeTimeoutError, ErrorCode.NODE_TIMEOUT, ErrorCategory.TIMEOUT),
    (CircuitOpenError, ErrorCode.CIRCUIT_OPEN, None),
    (NodeAbortedError, ErrorCode.NODE_ABORTED, None),
    (LimitStoreUnavailableError, ErrorCode.LIMIT_STORE_UNAVAILABLE, ErrorCategory.NETWORK),
    (RateLimitedError, ErrorCode.RATE_LIMITED, ErrorCategory.RATE_LIMIT),
    (BudgetExceededError, ErrorCode.BUDGET_EXHAUSTED, None),
    (ValidationError, ErrorCode.VALIDATION_FAILED, None),
)
"""The classes with a code of their own, in the order they are tested (a subclass before its
base): ``(class, code, category)``, the category None where the classified one stands."""
_OWN_CLASSES = tuple(cls for cls, _code, _category in _OWN_CODES)


def code_and_category(
    exc: BaseException, retry: RetryConfig | None
) -> tuple[ErrorCode, ErrorCategory]:
    """The record code and category of a terminal failure (the exception read once).

    Kept per class when the classification depends on the class alone and the
    node's retry predicate is the default one.
    """
    default = retry is None or retry.retry_on is None
    if default and not exc.__dict__:
        kept = _CODES.get(type(exc))
        if kept is not None:
            return kept
    category, retryable = classify_failure(exc)
    found: tuple[ErrorCode, ErrorCategory]
    if isinstance(exc, _OWN_CLASSES):
        for cls, code, own in _OWN_CODES:  # the first class that matches decides
            if isinstance(exc, cls):
                found = code, (category if own is None else own)
                break
    else:
        if retry is not None and not default:
            retryable = retry.should_retry(exc)  # the node's own predicate decides
        found = (ErrorCode.RETRY_EXHAUSTED if retryable else ErrorCode.NON_RETRYABLE), category
    if default and classified_by_class(exc):
        keep(_CODES, type(exc), found)
    return found


_CODES: dict[type[BaseException], tuple[ErrorCode, ErrorCategory]] = {}


def error_code(exc: BaseException, retry: RetryConfig | None) -> ErrorCode:
    """The record code for a terminal failure."""
    return code_and_category(exc, retry)[0]


def _retry_after(exc: BaseException) -> float | None:
    after = exc.retry_after if isinstance(exc, (CircuitOpenError, RateLimitedError)) else None
    return None if after is None else float(after)


# The date and time to the second, formatted once a second (a record's timestamp is
# otherwise a datetime built and formatted on every failure).
_SECOND: tuple[float, str] = (-1.0, "")


def iso_utc(t: float) -> str:
    """``datetime.fromtimestamp(t, timezone.utc).isoformat()`` for a ``time.time()`` value."""
    global _SECOND
    frac, whole = math.modf(t)
    micros = round(frac * 1e6)  # half to even, as datetime rounds
    if micros >= 1_000_000:
        whole += 1.0
        micros -= 1_000_000
    second = _SECOND
    if second[0] != whole:
        second = _SECOND = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    if micros:
        return f"{second[1]}.{str(micros).zfill(6)}+00:00"
    return f"{second[1]}+00:00"


# What a record shows of where and how it failed (message, error type, stack) is the
# same every time a call site fails the same way: it is kept per site, keyed by the
# exception's class and raw text, the code, node and attempts, and each frame of the
# traceback (code object by id, held by the entry so no id is reused, and instruction).
_SITES: dict[tuple[Any, ...], tuple[tuple[str, str, str | None], tuple[CodeType, ...]]] = {}
_SITES_MAX = 1024
_SITE_TEXT_MAX = 4096  # longer texts are not kept (sanitize_message does not keep them either)


def _frame_codes(exc: BaseException) -> tuple[CodeType, ...]:
    """The code object of each frame of ``exc``'s traceback (held by a ``_SITES`` entry)."""
    codes = []
    tb = exc.__traceback__
    while tb is not None:
        codes.append(tb.tb_frame.f_code)
        tb = tb.tb_next
    return tuple(codes)


def _site_fields(
    exc: BaseException, code: ErrorCode, node: str, attempts: int
) -> tuple[str, str, str | None]:
    """``(message, error_type, stack)`` of a failure, sanitized."""
    text = egress_text(exc, max_length=400)
    error_type = type(exc).__name__
    # A sanitized text is a fixed point of sanitize_message: no second scan unless the
    # stack's shorter cap cuts it.
    short = text if len(text) <= _STACK_MESSAGE else egress_text(text, max_length=_STACK_MESSAGE)
    message = code.template.format(node=node, attempts=attempts, error=f"{error_type}: {text}")
    return message, error_type, sanitize_stack(exc, message=short)


def _site(
    exc: BaseException, code: ErrorCode, node: str, attempts: int
) -> tuple[str, str, str | None]:
    """``(message, error_type, stack)`` of a failure, sanitized, kept per failing site."""
    if exc.__class__ is ValidationError:
        # Its text shows the inputs it failed on (input_value=...): the record shows
        # what raise mode lets out, the same errors with the inputs hidden.
        exc = replacement(exc)
    # What depends only on where and how it failed is kept per failing site (_SITES);
    # a text too long to keep, or a __str__ that raises, is sanitized afresh.
    try:
        raw = str(exc)
    except BaseException:
        raw = None
    if raw is None or len(raw) > _SITE_TEXT_MAX:
        return _site_fields(exc, code, node, attempts)
    key: list[Any] = [type(exc), raw, code._value_, node, attempts]
    tb = exc.__traceback__
    while tb is not None:
        key += (id(tb.tb_frame.f_code), tb.tb_lasti)
        tb = tb.tb_next
    site_key = tuple(key)
    found = _SITES.get(site_key)
    if found is None:
        found = (_site_fields(exc, code, node, attempts), _frame_codes(exc))
        if len(_SITES) >= _SITES_MAX:
            _SITES.clear()
        _SITES[site_key] = found
    return found[0]


def record_message(exc: BaseException, code: ErrorCode, node: str, attempts: int) -> str:
    """``record_state(...)["message"]`` alone: what a re-raised failure's log line shows."""
    return _site(exc, code, node, attempts)[0]


def record_state(
    exc: BaseException,
    code: ErrorCode,
    category: ErrorCategory,
    node: str,
    attempts: int,
    duration_ms: float,
    trace_id: str | None,
    graph_execution_id: str | None,
    at: float,
    recovered: bool = False,
    send: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A failure's record as it is written into state: plain JSON data, secrets redacted.

    From trusted values only (``code_and_category``'s answer, the engine's own counts
    and clocks; ``at`` is the failure's ``time.time()``): nothing is validated.
    ``record_model`` turns it into the ``NodeError`` that validating it would give.
    ``send`` (``send_fields``' answer) adds the fields of a ``Send`` task.
    """
    value = code._value_
    message, error_type, stack = _site(exc, code, node, attempts)
    # Every field in NodeError's declaration order (tests/engine/test_records.py checks
    # the result against pydantic); the Send fields, last, only for a Send task.
    out = {
        "node": node,
        "code": value,
        "message": message,
        "error_type": error_type,
        "category": category._value_,
        "recoverable": value in _RECOVERABLE,
        "attempts": attempts,
        "timestamp": iso_utc(at),
        "duration_ms": duration_ms,
        "stack": stack,
        "trace_id": trace_id,
        "graph_execution_id": graph_execution_id,
        "retry_after": _retry_after(exc) if value in _HINTED_CODES else None,
        "recovered": recovered,
    }
    if send is not None:
        out.update(send)
    return out


def send_fields(config: Any, item: Any, item_key: str | None) -> dict[str, Any] | None:
    """The optional record fields: a ``Send`` task's, and the run's tenant; None for neither.

    ``task_id`` and ``send_node`` from the task's config, ``send_item`` the node's
    input (the ``Send`` argument) summarized by ``item_summary`` (redacted, capped),
    or its ``item_key`` value.
    """
    task = _compat.send_task_of(config)
    conf = config.get("configurable") if config else None
    tenant = conf.get(TENANT_KEY) if conf else None
    if task is None:
        return None if tenant is None else {"tenant": str(tenant)}
    fields = {"task_id": task[0], "send_node": task[1], "send_item": item_summary(item, item_key)}
    if tenant is not None:
        fields["tenant"] = str(tenant)
    return fields


def record_model(state: dict[str, Any], code: ErrorCode, category: ErrorCategory) -> NodeError:
    """The ``NodeError`` of a ``record_state`` (built without validating it again)."""
    fields = dict(state)
    fields["code"] = code
    fields["category"] = category
    return error_from_fields(fields)


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Failure:
    """One terminal failure of a node: classified now, its record built when first read.

    Made from trusted values only (the engine's own counts and clocks): nothing
    is validated.

    Args:
        exc: The exception that ended the call.
        node: The node's name.
        attempts: Attempts made (>= 1).
        duration_ms: The whole call's duration (>= 0).
        retry: The node's retry policy (its predicate decides the code).
        trace_id: The run's trace id.
        graph_execution_id: The thread id, else the run id, else the trace id.

    Attributes:
        code: Why the node failed.
        category: The failure's category (what its record and metrics show).
    """

    exc: BaseException
    node: str
    attempts: int
    duration_ms: float
    retry: dataclasses.InitVar[RetryConfig | None]
    trace_id: str | None
    graph_execution_id: str | None
    code: ErrorCode = dataclasses.field(init=False)
    category: ErrorCategory = dataclasses.field(init=False)
    recovered: bool = dataclasses.field(default=False, init=False)
    send: dict[str, Any] | None = dataclasses.field(default=None, init=False)  # send_fields()
    time: float = dataclasses.field(init=False)
    _state: dict[str, Any] | None = dataclasses.field(default=None, init=False)
    _model: NodeError | None = dataclasses.field(default=None, init=False)

    def __post_init__(self, retry: RetryConfig | None) -> None:
        self.code, self.category = code_and_category(self.exc, retry)
        self.time = time.time()  # the moment of the failure, not of the first read

    def state(self) -> dict[str, Any]:
        """The record as it is written into state: plain JSON data, secrets redacted.

        Built on first use; equal to ``self.record().to_state()``.
        """
        state = self._state
        if state is None:
            state = self._state = record_state(
                self.exc,
                self.code,
                self.category,
                self.node,
                self.attempts,
                self.duration_ms,
                self.trace_id,
                self.graph_execution_id,
                self.time,
                self.recovered,
                self.send,
            )
        return state

    def mark_recovered(self) -> None:
        """A fallback recovered the node: the record says so."""
        self.recovered = True
        if self._state is not None:
            self._state = {**self._state, "recovered": True}
            self._model = None

    @property
    def message(self) -> str:
        """The record's sanitized message."""
        return str(self.state()["message"])

    def record(self) -> NodeError:
        """The ``NodeError`` of this failure (built once, without re-validating)."""
        model = self._model
        if model is None:
            model = self._model = record_model(self.state(), self.code, self.category)
        return model


def build_record(
    exc: BaseException,
    *,
    ctx: NodeContext,
    attempts: int,
    duration_ms: float,
    retry: RetryConfig | None,
) -> NodeError:
    """A sanitized record of ``exc``: no secret of its message reaches state."""
    failure = Failure(
        exc,
        ctx.node,
        max(0, attempts),
        max(0.0, float(duration_ms)),
        retry,
        ctx.trace_id,
        ctx.graph_execution_id,
    )
    return failure.record()


def add_note(exc: BaseException, note: str) -> None:
    """``exc.add_note`` on 3.11+, the same list by hand on 3.10."""
    if sys.version_info >= (3, 11):
        exc.add_note(note)
    else:  # pragma: no cover - exercised on 3.10 only
        notes = getattr(exc, "__notes__", None)
        if not isinstance(notes, list):
            notes = []
            exc.__notes__ = notes  # type: ignore[attr-defined]
        notes.append(note)


def redact_exception(exc: BaseException) -> BaseException:
    """Redact secrets from everything ``exc`` shows, in place, before it leaves a node.

    Covers what LangGraph stores (``repr(exc)`` in the checkpoint) and what a
    traceback prints: string, bytes, dict and nested ``args``, attributes,
    ``__notes__``, the ``__cause__``/``__context__`` chain and ``ExceptionGroup``
    members. Each exception keeps its identity, its type (for ``except`` clauses
    and LangGraph's ``error_handler``) and its chain. A class whose ``__str__`` or
    ``__repr__`` still shows a secret built from somewhere else is swapped for a
    subclass of the same name that prints the redacted text. Safe on any
    exception: nothing here raises.

    One kind cannot be fixed in place: pydantic's ``ValidationError`` builds its
    text from the inputs inside pydantic-core. For it the function returns a new
    ``ValidationError`` (same type, same errors, inputs hidden, same traceback and
    cause, implicit context suppressed); raise what it returns.

    Args:
        exc: The exception about to leave the node.

    Returns:
        The exception to raise: ``exc`` itself, redacted, or its replacement.
    """
    redact_tree(exc)
    return replacement(exc)


def _merged(update: Any, record: dict[str, Any]) -> dict[str, Any]:
    if update is None:
        return {"errors": [record]}
    if not isinstance(update, Mapping):
        try:
            update = dict(update)  # a sequence of (key, value) pairs, as Command accepts
        except (TypeError, ValueError):
            raise TypeError(
                "a fallback must return a dict, None or a Command with a dict update, "
                f"got {type(update).__name__}"
            ) from None
    merged = dict(update)
    own = merged.get("errors")
    if own is None:
        own = []
    elif not isinstance(own, (list, tuple)):
        raise TypeError(f"a fallback's 'errors' update must be a list, got {type(own).__name__}")
    merged["errors"] = [record, *own]
    return merged


def recovered_update(result: Any, record: dict[str, Any]) -> Any:
    """A successful fallback's result with ``record`` (marked recovered) merged in.

    Raises:
        TypeError: The fallback returned something that cannot carry the record.
    """
    if isinstance(result, Command):
        return dataclasses.replace(result, update=_merged(result.update, record))
    return _merged(result, record)
