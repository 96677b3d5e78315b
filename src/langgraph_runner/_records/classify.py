"""Classifying exceptions: category, retryability, control flow and Retry-After hints.

Everything here inspects exceptions by duck typing (``status_code``, ``response``,
``retry_after`` attributes and class names in the MRO), so httpx, requests,
aiohttp, openai and anthropic errors are understood without importing them.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from langgraph.errors import EmptyInputError, GraphBubbleUp, GraphRecursionError, InvalidUpdateError
from langgraph.errors import NodeTimeoutError as _LGNodeTimeoutError
from pydantic import ValidationError

from langgraph_runner._internal.compat import is_invalid_resume
from langgraph_runner._records.exceptions import (
    BudgetExceededError,
    CircuitOpenError,
    FailureLoopError,
    NodeAbortedError,
    RateLimitedError,
)
from langgraph_runner._records.record import ErrorCategory

__all__ = [
    "MAYBE_CONTROL_FLOW",
    "PER_CLASS_MAX",
    "classified_by_class",
    "classify_error",
    "classify_failure",
    "http_status",
    "is_control_flow",
    "is_retryable_node_error",
    "keep",
    "retry_after_seconds",
]

_PROGRAMMING_ERRORS: tuple[type[BaseException], ...] = (
    TypeError,
    AttributeError,
    NameError,
    ImportError,
    LookupError,
    AssertionError,
    NotImplementedError,
)
_RETRYABLE_4XX = frozenset({408, 425, 429})
_NEVER_RETRIED: tuple[type[BaseException], ...] = (
    CircuitOpenError,
    NodeAbortedError,
    FailureLoopError,
    RateLimitedError,
    BudgetExceededError,
    ValidationError,
)
_TIMEOUT_NAMES = ("Timeout", "TimedOut")
_NETWORK_NAMES = frozenset(
    {
        "ConnectionError",
        "ConnectError",
        "NetworkError",
        "TransportError",
        "RemoteProtocolError",
        "ClientConnectionError",
        "ServerDisconnectedError",
        "APIConnectionError",
    }
)


def _attr(obj: object, name: str) -> Any:
    """``getattr(obj, name, None)`` that survives hostile objects.

    An exception whose property or ``__getattr__`` raises must not replace the
    error being classified (nor end its retries): the attribute counts as absent.
    """
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


_GRAPH_CONTROL = (GraphBubbleUp, GraphRecursionError, InvalidUpdateError, EmptyInputError)

MAYBE_CONTROL_FLOW = (*_GRAPH_CONTROL, ValidationError)
"""The ``Exception`` classes ``is_control_flow`` may answer True for.

A caller on a hot path asks ``is_control_flow`` only for a non-``Exception`` or an
instance of one of these; every other exception is not control flow.
"""


def is_control_flow(exc: BaseException) -> bool:
    """True for exceptions a wrapper must let through untouched.

    That is LangGraph's ``GraphBubbleUp`` family (``interrupt()``, ``Command.PARENT``,
    drain), its graph errors (``GraphRecursionError``, ``InvalidUpdateError``,
    ``EmptyInputError``: raised by a subgraph or agent a node runs, they end the
    outer run as they would unwrapped: a retry would only repeat every model and tool
    call of the inner run), the ``ValidationError`` of an invalid resume value, and
    every ``BaseException`` that is not an ``Exception`` (cancellation,
    KeyboardInterrupt, SystemExit, GeneratorExit).
    """
    return (
        not isinstance(exc, Exception)
        or isinstance(exc, _GRAPH_CONTROL)
        or (isinstance(exc, ValidationError) and is_invalid_resume(exc))
    )


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries, if any.

    Looks at ``status_code`` and ``status`` on the exception (openai, anthropic,
    aiohttp, FastAPI) and on its ``response`` (httpx, requests), then ``code``
    (urllib's HTTPError).
    """
    if _plain_class(type(exc)) and not exc.__dict__.keys() & _STATUS_NAMES:
        return None  # nothing of those names anywhere: the common case, a builtin error
    for holder in (exc, _attr(exc, "response")):
        if holder is None:
            continue
        for attr in ("status_code", "status"):
            value = _attr(holder, attr)
            if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
                return value
    code = _attr(exc, "code")
    if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599:
        return code
    return None


_STATUS_NAMES = frozenset({"status_code", "status", "response", "code"})
_PLAIN: dict[type[BaseException], bool] = {}


def _plain_class(cls: type[BaseException]) -> bool:
    """Whether an instance of ``cls`` can hold a status only in its ``__dict__``.

    True when no class in the MRO defines one of the names ``http_status`` reads
    (no attribute, property or slot) nor customises attribute lookup; then
    ``getattr(exc, name, None)`` is ``exc.__dict__.get(name)``. Per class, once.
    """
    plain = _PLAIN.get(cls)
    if plain is None:
        plain = keep(
            _PLAIN,
            cls,
            cls.__getattribute__ is BaseException.__getattribute__
            and not hasattr(cls, "__getattr__")
            and not any(name in vars(c) for c in cls.__mro__ for name in _STATUS_NAMES),
        )
    return plain


_TRAITS: dict[type[BaseException], tuple[bool, bool, bool]] = {}


def _type_traits(cls: type[BaseException]) -> tuple[bool, bool, bool]:
    """(timeout, network, rate limit) as the class and its MRO names say; per class, once."""
    traits = _TRAITS.get(cls)
    if traits is None:
        traits = keep(_TRAITS, cls, _compute_traits(cls))
    return traits


def _compute_traits(cls: type[BaseException]) -> tuple[bool, bool, bool]:
    names = [c.__name__ for c in cls.__mro__]
    timeout = issubclass(cls, (TimeoutError, _LGNodeTimeoutError)) or any(
        any(t in name for t in _TIMEOUT_NAMES) for name in names[:-2]
    )
    network = issubclass(cls, ConnectionError) or any(name in _NETWORK_NAMES for name in names)
    return timeout, network, any("RateLimit" in n for n in names)


def classify_error(exc: BaseException) -> ErrorCategory:
    """Map an exception to an ``ErrorCategory``.

    Checked in this order: timeout (builtin ``TimeoutError``, LangGraph's
    ``NodeTimeoutError``, httpx-style ``*Timeout*`` classes, HTTP 408/504), rate
    limit (HTTP 429, ``*RateLimit*`` classes), network (``ConnectionError`` and
    client-library connection errors, other HTTP 5xx), validation (pydantic
    ``ValidationError``), other. Timeout comes before network because
    ``TimeoutError`` and ``ConnectionError`` are both ``OSError``.

    Args:
        exc: The exception to classify.

    Returns:
        The category.
    """
    return _category(exc, http_status(exc), _type_traits(type(exc)))


def _category(
    exc: BaseException, status: int | None, traits: tuple[bool, bool, bool]
) -> ErrorCategory:
    timeout, network, rate_limit = traits
    if timeout or status in (408, 504):
        return ErrorCategory.TIMEOUT
    if status == 429 or rate_limit:
        return ErrorCategory.RATE_LIMIT
    if network or (status is not None and status >= 500):
        return ErrorCategory.NETWORK
    if isinstance(exc, ValidationError):
        return ErrorCategory.VALIDATION
    return ErrorCategory.OTHER


def is_retryable_node_error(exc: BaseException) -> bool:
    """The default retry predicate of ``RetryConfig``.

    Never retried: LangGraph control flow, non-``Exception`` base exceptions, our
    own ``CircuitOpenError``, ``NodeAbortedError``, ``FailureLoopError``, ``RateLimitedError``
    and ``BudgetExceededError``. Not retried: pydantic
    ``ValidationError`` and programming errors (TypeError, AttributeError,
    NameError, ImportError, LookupError, AssertionError, NotImplementedError),
    HTTP 4xx other than 408/425/429. Retried: timeouts, network errors, HTTP
    408/425/429/5xx, and every other exception.

    Args:
        exc: The exception an attempt raised.

    Returns:
        Whether another attempt may help.
    """
    if is_control_flow(exc) or isinstance(exc, _NEVER_RETRIED):
        return False
    return _retryable(exc, http_status(exc), _type_traits(type(exc)))


def _retryable(exc: BaseException, status: int | None, traits: tuple[bool, bool, bool]) -> bool:
    """``is_retryable_node_error`` for an ``Exception`` past its never-retried checks."""
    if status is not None:
        if status in _RETRYABLE_4XX or status >= 500:
            return True
        if 400 <= status < 500:
            return False
    if traits[0] or traits[1]:
        return True
    return not isinstance(exc, _PROGRAMMING_ERRORS)


def classify_failure(exc: BaseException) -> tuple[ErrorCategory, bool]:
    """``(classify_error(exc), is_retryable_node_error(exc))``, reading the exception once.

    What a terminal failure needs (its record's category and code). An exception
    that carries nothing of its own (no instance attributes) of a class that
    defines none of the attributes read here is answered for its class, once.

    Args:
        exc: The exception that ended a node call.

    Returns:
        Its category, and whether the default retry predicate would retry it.
    """
    cls = type(exc)
    if not exc.__dict__:
        facts = _FACTS.get(cls)
        if facts is not None:
            return facts
        if _plain_class(cls):
            return keep(_FACTS, cls, _facts(exc))
    return _facts(exc)


_FACTS: dict[type[BaseException], tuple[ErrorCategory, bool]] = {}


def classified_by_class(exc: BaseException) -> bool:
    """Whether every answer this module gives about ``exc`` depends on its class alone.

    True for an exception that carries nothing of its own (no instance attributes)
    of a class that defines none of the attributes read here: its category, its
    retryability and its HTTP status are those of any other such instance of the
    class, so a caller may keep what it derives from them per class.
    """
    return not exc.__dict__ and _plain_class(type(exc))


def _facts(exc: BaseException) -> tuple[ErrorCategory, bool]:
    status = http_status(exc)
    traits = _type_traits(type(exc))
    category = _category(exc, status, traits)
    if is_control_flow(exc) or isinstance(exc, _NEVER_RETRIED):
        return category, False
    return category, _retryable(exc, status, traits)


def _parse_retry_after(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif hasattr(value, "total_seconds"):
        seconds = float(value.total_seconds())
    elif isinstance(value, (str, bytes)):
        # Header bytes are latin-1 by HTTP's rules; decoding never fails on garbage.
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        text = text.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            seconds = (when - datetime.now(timezone.utc)).total_seconds()
    else:
        return None
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def retry_after_seconds(exc: BaseException) -> float | None:
    """The server's Retry-After hint an exception carries, in seconds.

    Reads ``exc.retry_after`` (seconds or timedelta) and then the ``Retry-After``
    header (delta-seconds or an HTTP date) of ``exc.response`` (httpx, requests)
    or of the exception itself (urllib, aiohttp).

    Args:
        exc: The exception an attempt raised.

    Returns:
        Seconds to wait, or None when the exception carries no usable hint.
    """
    try:
        hint = _parse_retry_after(_attr(exc, "retry_after"))
    except Exception:  # a value whose float()/total_seconds() raises is no hint
        hint = None
    if hint is not None:
        return hint
    # httpx/requests keep headers on exc.response; urllib's HTTPError and aiohttp's
    # ClientResponseError keep them on the exception itself.
    for holder in (_attr(exc, "response"), exc):
        headers = _attr(holder, "headers")
        if headers is None:
            continue
        try:
            raw = headers.get("Retry-After") or headers.get("retry-after")
            hint = _parse_retry_after(raw)
        except Exception:  # a header object we do not understand is no hint
            continue
        if hint is not None:
            return hint
    return None


PER_CLASS_MAX = 1024
"""Answers one question keeps at most."""


K = TypeVar("K")


V = TypeVar("V")


def keep(answers: dict[K, V], key: K, value: V) -> V:
    """``value``, kept in ``answers`` under ``key``; full answers are first forgotten.

    Forgetting them all (not refusing the new one) keeps the classes a process fails
    with most warm after a burst of classes made on the fly has filled the answers.
    """
    if len(answers) >= PER_CLASS_MAX:
        answers.clear()
    answers[key] = value
    return value
