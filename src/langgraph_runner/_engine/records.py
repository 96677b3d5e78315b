"""A terminal failure's record, its ``node.failed`` line, its update or its exception.

* ``code_and_category``: why the node failed and the failure's category, read
  from the exception once (kept per class where the class alone decides).
* ``record_state``: the record as it is written into state, plain JSON data;
  what depends only on the failing site (message, error type, stack) is kept
  per site. ``record_model`` makes the ``NodeError`` of it.
* ``failure_update``, ``log_failed``, ``raise_redacted``: what ``loop.end`` (the
  common ending of a failed call) makes of it: the update, the ``node.failed``
  line, the redacted exception.
* ``redact_exception``: the exception itself made safe to let out of a node.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from types import CodeType
from typing import Any

from langgraph.errors import NodeTimeoutError as _LGNodeTimeoutError
from langgraph.types import Command
from pydantic import ValidationError

from langgraph_runner._engine.call import Call
from langgraph_runner._engine.spec import NodeSpec
from langgraph_runner._internal import compat as _compat
from langgraph_runner._policies.context import TENANT_KEY
from langgraph_runner._policies.retry import RetryConfig
from langgraph_runner._records.classify import classified_by_class, classify_failure, keep
from langgraph_runner._records.egress import egress_error, egress_text
from langgraph_runner._records.exceptions import (
    BudgetExceededError,
    CircuitOpenError,
    LimitStoreUnavailableError,
    NodeAbortedError,
    RateLimitedError,
    StateSchemaError,
)
from langgraph_runner._records.items import item_summary
from langgraph_runner._records.logs import LAST_RESORT, LOG_TEXT
from langgraph_runner._records.record import ErrorCategory, ErrorCode, NodeError, error_from_fields
from langgraph_runner._records.redact_exc import redact_tree, replacement
from langgraph_runner._records.sanitize import sanitize_message, sanitize_stack

__all__ = [
    "GENERAL",
    "RECORD_CHANNELS",
    "add_note",
    "code_and_category",
    "failure_update",
    "iso_utc",
    "log_failed",
    "marked",
    "raise_redacted",
    "record_message",
    "record_model",
    "record_state",
    "redact_exception",
    "schema_error",
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

    What LangGraph stores (``repr(exc)``) and a traceback prints: ``args``,
    attributes, notes, the cause and context chain, group members (see
    ``_records.redact_exc``). Identity, type and chain are kept; nothing here raises.
    A pydantic ``ValidationError`` shows its inputs from inside pydantic-core, so it
    comes back as a new one, inputs hidden: raise what this returns.
    """
    redact_tree(exc)
    return replacement(exc)


ERROR = logging.ERROR
RECORD_CHANNELS = ("errors", "routing_flags")
GENERAL = object()
"""``loop.end``'s answer when more than the record is wanted (``finish`` goes on)."""
_BUDGET = ErrorCode.BUDGET_EXHAUSTED.value


def failure_update(records: list[dict[str, Any]], goto: str | None) -> Any:
    """The update of an unrecovered failure: records plus the blocked flag (and the
    ``budget_exhausted`` flag when a spent budget stopped the node); a ``Command``
    to ``goto`` when the fallback names a node."""
    flags = {"blocked": True}
    if records and records[-1].get("code") == _BUDGET:
        flags["budget_exhausted"] = True
    update = {"errors": records, "routing_flags": flags}
    if goto is None:
        return update
    return Command(update=update, goto=goto)


# The fields of node.failed that are not sanitized again on their way out: the
# package's own constants, and the message, the record's sanitized text of the error
# (``record_state``), which quotes the node's name and the error type (the
# logger sanitizes everything if either shows a secret); with them the trace id when
# it was generated here.
_FAILED_CLEAN = frozenset(("code", "category", "message"))
_FAILED_CLEAN_OURS = _FAILED_CLEAN | {"trace_id"}
_FAILED_QUOTED = ("node", "error_type")

# What node.failed shows of a failing site, kept per site (node, attempts, code,
# category, error type and the record's message): whether the node's name and the
# error type pass the egress point unchanged (else the generic path sanitizes every
# field), and the line's text around the duration. The run's ids are added per call.
_LINES: dict[tuple[Any, ...], tuple[str, str] | None] = {}
_LINES_MAX = 1024
_UNSEEN = ("", "")  # by identity: a site not seen yet


def _line_parts(
    node: str, attempt: int, code: str, category: str, error_type: str, message: str
) -> tuple[str, str] | None:
    """The text of node.failed before and after its duration; None if a quoted field
    would be redacted (or is not a plain str), or the text is not printable (the
    generic path then escapes its control characters)."""
    key = (node, attempt, code, category, error_type, message)
    found = _LINES.get(key, _UNSEEN)
    if found is _UNSEEN:
        clean = (
            all(
                value.__class__ is str and sanitize_message(value, max_length=LOG_TEXT) == value
                for value in (node, error_type)
            )
            and message.__class__ is str
        )
        found = None
        if clean:
            before = f"node={node} attempt={attempt} duration_ms="
            after = f" code={code} category={category} error_type={error_type} message={message}"
            if before.isprintable() and after.isprintable():
                found = (before, after)
        if len(_LINES) >= _LINES_MAX:
            _LINES.clear()
        _LINES[key] = found
    return found


def log_failed(
    spec: NodeSpec,
    call: Call,
    exc: BaseException,
    code: ErrorCode,
    category: ErrorCategory,
    duration_ms: float,
    message: str,
    audience: int | None = None,
) -> None:
    """Log ``node.failed`` (the caller asked ``spec.log.emits(ERROR)``), as ``call.event``
    would: from the call's ids, no ``NodeContext`` built for the line. ``audience`` is
    ``spec.log.audience(ERROR)`` when the caller asked it (None: asked again when the
    line is written); the line alone when it is ``LAST_RESORT`` (no field is read)."""
    trace_id, _exec_id, thread_id, run_id, scope = call.ids()
    node = call.node()
    error_type = type(exc).__name__
    parts = _line_parts(node, call.attempt, code._value_, category._value_, error_type, message)
    ids = ""
    if parts is not None:
        # The run's ids leave through the egress point (a trace id generated here is
        # hexadecimal: nothing to redact) and are checked for control characters here;
        # the rest is the site's, checked once.
        if thread_id is not None:
            thread_id = sanitize_message(thread_id, max_length=LOG_TEXT)
            ids = f" thread_id={thread_id}"
        if run_id is not None:
            run_id = sanitize_message(run_id, max_length=LOG_TEXT)
            ids = f"{ids} run_id={run_id}"
        if scope is None:
            trace_id = sanitize_message(trace_id, max_length=LOG_TEXT)
        ids = f"{ids} trace_id={trace_id}"
        if audience == LAST_RESORT and ids.isprintable():
            # str(round(duration_ms, 3)), two float conversions fewer: below 1e12 the value
            # to 3 decimals has at most 15 digits, so str() of the nearest float is those
            # digits, as "%.3f" writes them (rounded as round() does), less trailing zeros.
            if -1e12 < duration_ms < 1e12:
                ms = f"{duration_ms:.3f}".rstrip("0")
                ms = f"{ms}0" if ms[-1] == "." else ms
            else:  # nan, infinities, and what str() writes with an exponent or 16+ digits
                ms = str(round(duration_ms, 3))
            spec.log.emit_rendered(ERROR, "node.failed", None, f"{parts[0]}{ms}{parts[1]}{ids}")
            return
    duration = round(duration_ms, 3)
    fields = {
        "node": node,
        "attempt": call.attempt,
        "duration_ms": duration,
        "code": code._value_,
        "category": category._value_,
        "error_type": error_type,
        "message": message,
        "thread_id": thread_id,
        "run_id": run_id,
        "trace_id": trace_id,
    }
    if parts is None:  # a secret in the name or the error type, or a control character
        clean = _FAILED_CLEAN if scope is None else _FAILED_CLEAN_OURS
        spec.log.emit_checked(ERROR, "node.failed", fields, clean, _FAILED_QUOTED, audience)
        return
    spec.log.emit_rendered(
        ERROR,
        "node.failed",
        fields,
        f"{parts[0]}{duration}{parts[1]}{ids}" if ids.isprintable() else None,
        audience,
    )


def schema_error(call: Call, exc: BaseException) -> None:
    """Raise ``StateSchemaError``: the graph's state has no channel for the records."""
    missing = _compat.missing_channels(call.config, RECORD_CHANNELS)
    # The failure becomes the schema error's __cause__ (servers log it); its __context__,
    # the unredacted original (a pydantic ValidationError's raw input), is dropped.
    cause = redact_exception(exc)  # named in the message too: checkpoints keep only the text
    error = StateSchemaError(call.node(), missing, egress_error(cause, max_length=200))
    try:
        raise error from cause
    finally:
        error.__context__ = None


def raise_redacted(spec: NodeSpec, call: Call, exc: BaseException) -> Any:
    """Raise ``exc`` redacted, with a note naming the node, the attempt and the trace id."""
    exc = redact_exception(exc)  # a pydantic ValidationError comes back rebuilt, inputs hidden
    retry = spec.retry
    add_note(
        exc,
        f"langgraph_runner: node '{call.node()}' failed on attempt "
        f"{call.attempt}/{retry.max_attempts if retry is not None else 1} "
        f"(trace_id={call.ids()[0]})",
    )
    raise exc


STEP_MARKS = "step_marks"
"""GraphState's channel of what the package noted about each node's latest execution."""


def marked(result: Any, call: Call, mark: dict[str, Any]) -> Any:
    """``result`` with ``step_marks[node]`` set, when it is a plain dict update of a graph task.

    LangGraph drops keys the state does not declare, so a state without the channel
    is unaffected; a ``Command`` or any other result, or a node called directly
    (outside a graph), gets its result as it is.
    """
    if type(result) is not dict:
        return result
    metadata = call.config.get("metadata") if call.config else None
    if not metadata or "langgraph_node" not in metadata:
        return result
    return {**result, STEP_MARKS: {call.node(): mark}}
