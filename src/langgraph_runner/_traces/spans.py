"""Spans: made only when OpenTelemetry is in use, every text in them redacted.

The check is cheap on purpose. OpenTelemetry is looked up in ``sys.modules``, never
imported here: an application that traces has imported ``opentelemetry.trace`` to set
its tracer provider, and one that has not cannot have a span current. With the API
imported but no SDK provider set (the API's proxy or no-op provider), ``enabled()``
is False and no span object is made.

Every text that goes into a span (attribute values, event attributes, the status
description) passes through ``_records.egress`` first, so a secret in an exception
message or a reason never reaches a trace backend. Exceptions are recorded with
OpenTelemetry's exception conventions (``exception.type``, ``exception.message``,
``exception.stacktrace``), the stack being ``sanitize_stack``'s (frames and relative
paths, no source lines, no locals), never the SDK's own ``record_exception``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from langgraph_runner._records.egress import egress_error, egress_text
from langgraph_runner._records.sanitize import sanitize_stack
from langgraph_runner._version import __version__

__all__ = [
    "LOOK_AGAIN_S",
    "NEXT_LOOK",
    "TRACER_NAME",
    "activate",
    "add_event",
    "api",
    "current_trace_id",
    "deactivate",
    "enabled",
    "clean",
    "end_span",
    "error_type",
    "get_tracer",
    "record_exception",
    "set_attributes",
    "set_error",
    "start_span",
    "tracer_provider",
    "use_provider",
]

TRACER_NAME = "langgraph_runner"
"""The instrumentation scope of every span the package makes."""

_API = "opentelemetry.trace"
_provider: Any = None  # a tracer provider given to use_provider() (tests), else the global one

NEXT_LOOK = [0.0]
"""When a node call next looks for a tracer provider (a ``perf_counter()`` time).

A node call compares its start time with this one number, so a process without
OpenTelemetry pays nothing more. Finding no SDK provider, the look sets it one
second ahead (an application that sets its provider later gets node spans within
a second, or at once inside ``run()``, whose span looks every time); finding one, it
sets it to minus infinity: OpenTelemetry lets the global provider be set once per
process, so every later call makes spans.
"""
LOOK_AGAIN_S = 1.0


def api() -> ModuleType | None:
    """``opentelemetry.trace`` when the application has imported it, else None (no import)."""
    return sys.modules.get(_API)


def use_provider(provider: Any) -> Any:
    """Make spans with ``provider`` instead of the global tracer provider (None: the global one).

    ``trace.set_tracer_provider`` can be called once per process; this can be called any
    number of times (a test gives each test its own provider and exporter).

    Returns:
        The provider used before.
    """
    global _provider
    before, _provider = _provider, provider
    NEXT_LOOK[0] = 0.0  # the next node call looks again
    return before


def tracer_provider() -> Any:
    """The tracer provider spans are made with, or None when no SDK provider is set."""
    trace = sys.modules.get(_API)
    if trace is None:
        return None
    provider = _provider if _provider is not None else trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None
    return provider


_TRACER: list[Any] = [None, None]  # the provider last asked, its tracer


def get_tracer() -> Any:
    """The package's tracer from ``tracer_provider()`` (kept per provider), else None."""
    provider = tracer_provider()
    if provider is None:
        return None
    NEXT_LOOK[0] = float("-inf")  # a run's span found it: its nodes need not wait to look
    if _TRACER[0] is not provider:
        _TRACER[:] = [provider, provider.get_tracer(TRACER_NAME, __version__)]
    return _TRACER[1]


def enabled() -> bool:
    """Whether spans are made: OpenTelemetry imported and an SDK tracer provider set."""
    return sys.modules.get(_API) is not None and tracer_provider() is not None


def current_trace_id() -> str | None:
    """The trace id (32 hex chars) of the span current in this thread or task, else None.

    A span made elsewhere counts (a caller's, or one continued from a ``traceparent``),
    whether or not this process records spans.
    """
    trace = sys.modules.get(_API)
    if trace is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}"


def start_span(name: str, attributes: Mapping[str, Any] | None = None) -> Any:
    """Start a span named ``name``, a child of the current span (None when not ``enabled()``).

    The span is not made current: ``activate`` does that. Attribute values are
    redacted as in ``set_attributes``.
    """
    tracer = get_tracer()
    if tracer is None:
        return None
    return tracer.start_span(name, attributes=clean(attributes) if attributes else None)


def activate(span: Any) -> Any:
    """Make ``span`` the current span; returns the token ``deactivate`` takes."""
    from opentelemetry import context

    return context.attach(sys.modules[_API].set_span_in_context(span))


def deactivate(token: Any) -> None:
    """Undo the ``activate`` that returned ``token``."""
    sys.modules["opentelemetry.context"].detach(token)


def set_attributes(span: Any, attributes: Mapping[str, Any]) -> None:
    """Set attributes on ``span``; text values are redacted and capped, None values left out."""
    span.set_attributes(clean(attributes))


def add_event(span: Any, name: str, attributes: Mapping[str, Any] | None = None) -> None:
    """Add an event to ``span``, its attribute values redacted like ``set_attributes``."""
    span.add_event(name, clean(attributes) if attributes else None)


def set_error(span: Any, description: object) -> None:
    """Give ``span`` the error status, with ``description`` redacted."""
    trace = sys.modules[_API]
    span.set_status(trace.Status(trace.StatusCode.ERROR, egress_text(description, max_length=200)))


def record_exception(span: Any, exc: BaseException, *, error: bool = True) -> None:
    """Add OpenTelemetry's ``exception`` event for ``exc`` to ``span``, redacted.

    Args:
        span: The span.
        exc: The exception; it is not changed.
        error: Also give the span the error status (its description
            ``"<Type>: <redacted message>"``).
    """
    message = egress_text(_message(exc))
    attributes = {"exception.type": error_type(exc), "exception.message": message}
    stack = sanitize_stack(exc, message=message)
    if stack:
        attributes["exception.stacktrace"] = stack
    span.add_event("exception", attributes)
    if error:
        trace = sys.modules[_API]
        span.set_status(trace.Status(trace.StatusCode.ERROR, egress_error(exc, max_length=200)))


def error_type(exc: BaseException) -> str:
    """``exc``'s class as OpenTelemetry's ``error.type`` and ``exception.type`` name it:
    ``module.QualName``, the bare name for builtins and ``__main__``."""
    kind = type(exc)
    module = kind.__module__
    if module in ("builtins", "__main__"):
        return kind.__qualname__
    return f"{module}.{kind.__qualname__}"


def end_span(span: Any) -> None:
    """End ``span`` (its duration stops here)."""
    span.end()


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException:  # a hostile __str__ must not replace the error being recorded
        return f"<unprintable {type(exc).__name__}>"


def clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``attributes`` as a span takes them: text redacted and capped, None values left out."""
    clean: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, (bool, int, float)):
            clean[key] = value
        else:
            clean[key] = egress_text(value)
    return clean
