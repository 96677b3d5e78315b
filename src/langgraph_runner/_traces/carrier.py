"""W3C trace context (``traceparent``, ``tracestate``) kept in a plain dict carrier.

A carrier is what travels with a run between processes: the headers of the HTTP
request that triggered it, then the run's row in the queue table, then the worker
that executes it. ``from_headers`` keeps only a well-formed ``traceparent`` (and its
``tracestate``), so nothing else a caller sends is stored. ``attach`` makes the
carrier's context current (through ``opentelemetry.propagate``) when OpenTelemetry
is installed; without it the carrier's trace id still names the run's trace.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from typing import Any

from langgraph_runner._traces.spans import (
    activate,
    api,
    current_trace_id,
    deactivate,
    end_span,
    start_span,
)

__all__ = [
    "TRACEPARENT",
    "TRACESTATE",
    "attach",
    "detach",
    "extract",
    "from_headers",
    "inject",
    "trace_id_of",
    "trigger",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_MAX_TRACESTATE = 512  # the W3C limit a sender must keep to
_PARENT = re.compile(r"\A([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\Z")


def _valid(traceparent: str) -> re.Match[str] | None:
    found = _PARENT.match(traceparent.strip().lower())
    if found is None or found[1] == "ff":
        return None
    if found[2] == "0" * 32 or found[3] == "0" * 16:
        return None
    return found


def from_headers(headers: Mapping[str, str]) -> dict[str, str] | None:
    """The trace context in ``headers`` (names in lower case), or None when there is none.

    A malformed ``traceparent`` counts as none (W3C: start a new trace); a
    ``tracestate`` is kept only beside a valid ``traceparent`` and when within 512 chars.
    """
    raw = headers.get(TRACEPARENT)
    if not raw:
        return None
    found = _valid(raw)
    if found is None:
        return None
    carrier = {TRACEPARENT: found[0]}
    state = headers.get(TRACESTATE)
    if state and len(state) <= _MAX_TRACESTATE and state.isprintable():
        carrier[TRACESTATE] = state
    return carrier


def trace_id_of(carrier: Mapping[str, str] | None) -> str | None:
    """The trace id (32 hex chars) a carrier's ``traceparent`` names, else None."""
    if not carrier:
        return None
    found = _valid(carrier.get(TRACEPARENT) or "")
    return None if found is None else found[2]


def inject(carrier: dict[str, str]) -> dict[str, str]:
    """Write the current trace context into ``carrier`` (nothing when no span is current).

    Uses the application's propagator (``opentelemetry.propagate``); nothing is
    imported or written when OpenTelemetry is not in use.

    Returns:
        ``carrier``.
    """
    trace = api()
    if trace is None or not trace.get_current_span().get_span_context().is_valid:
        return carrier
    propagate = importlib.import_module("opentelemetry.propagate")
    propagate.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str]) -> Any:
    """The OpenTelemetry ``Context`` of ``carrier``, or None when OpenTelemetry is not installed."""
    try:
        propagate = importlib.import_module("opentelemetry.propagate")
    except ImportError:
        return None
    return propagate.extract(dict(carrier))


def attach(carrier: Mapping[str, str] | None) -> object | None:
    """Make ``carrier``'s trace context current; the token ``detach`` takes (None: nothing done).

    Nothing is done for an empty carrier or without OpenTelemetry installed.
    """
    if not carrier or trace_id_of(carrier) is None:
        return None
    context = extract(carrier)
    if context is None:
        return None
    otel_context = importlib.import_module("opentelemetry.context")
    token: object = otel_context.attach(context)
    return token


def detach(token: object | None) -> None:
    """Undo the ``attach`` that returned ``token`` (nothing for None)."""
    if token is not None:
        importlib.import_module("opentelemetry.context").detach(token)


def trigger(
    headers: Mapping[str, str], name: str, attributes: Mapping[str, Any]
) -> dict[str, str] | None:
    """The trace context to keep with a run triggered by a request with ``headers``.

    The run joins the request's trace: the span current in the request (an
    instrumented server's), else the request's ``traceparent``. When spans are made,
    a short ``name`` span (a child of that) marks the trigger and the run continues
    from it, so a run triggered without any trace context starts a trace of its own
    whose id is known from the start.

    Returns:
        The carrier (``traceparent``, maybe ``tracestate``), or None: no trace context.
    """
    given = from_headers(headers)
    token = attach(given) if current_trace_id() is None else None
    try:
        span = start_span(name, attributes)
        if span is None:
            return from_headers(inject({})) or given
        current = activate(span)
        try:
            return from_headers(inject({})) or given
        finally:
            deactivate(current)
            end_span(span)
    finally:
        detach(token)
