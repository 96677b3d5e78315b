"""The spans of one node call: ``langgraph_runner.node``, and a ``langgraph_runner.attempt``
per attempt inside it.

The node span is a child of whatever span is current when LangGraph calls the node
(the run's span, the caller's, or LangChain's and LangGraph's own instrumentation);
it is current while the node runs, and each attempt's span is current during its
attempt, so a span the node makes (an HTTP client's, a model call's) nests under
the attempt that made it.

Attributes, on both: ``langgraph_runner.node.name``; on the node span
``langgraph_runner.run.id``, ``langgraph_runner.thread.id``, ``langgraph.step`` and
at the end ``langgraph_runner.node.outcome`` (``succeeded``, ``failed``,
``interrupted``, ``aborted``) and ``langgraph_runner.node.attempts``; on an attempt
``langgraph_runner.attempt.number`` and ``langgraph_runner.attempt.outcome``
(``succeeded``, ``retry``, ``failed``, ``interrupted``, ``aborted``). A failure adds
``error.type`` (OpenTelemetry's attribute), ``langgraph_runner.error.code`` and
``langgraph_runner.error.category`` (the record's), an ``exception`` event through
the package's redaction and the error status; a retried one adds
``langgraph_runner.retry.delay_s`` and, when the error carried one,
``langgraph_runner.retry.after_s`` (its Retry-After). Events: ``langgraph_runner.timeout``,
``langgraph_runner.aborted``, ``langgraph_runner.breaker.rejected``,
``langgraph_runner.rate_limit.refused``, ``langgraph_runner.budget.refused``,
``langgraph_runner.cache.hit``/``.miss`` and ``langgraph_runner.rate_limit.wait``
(``current_event``, from the limits).

An interrupt, a ``Command`` to a parent graph and LangGraph's other control flow
end the spans without the error status (``interrupted``): they are how LangGraph
works, not failures. Neither has an abort (``aborted``: a cancelled run, its time
limit): it keeps its ``exception`` event, as the run span of a cancelled run is
not an error either.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Any

from langgraph_runner._records.classify import is_control_flow, retry_after_seconds
from langgraph_runner._records.exceptions import NodeAbortedError
from langgraph_runner._traces.spans import (
    LOOK_AGAIN_S,
    NEXT_LOOK,
    activate,
    add_event,
    api,
    clean,
    deactivate,
    error_type,
    get_tracer,
    record_exception,
    set_attributes,
)

__all__ = ["ATTEMPT_SPAN", "NODE_SPAN", "NodeSpans", "current_event", "open_node_spans"]

NODE_SPAN = "langgraph_runner.node"
"""The name of a node call's span."""
ATTEMPT_SPAN = "langgraph_runner.attempt"
"""The name of one attempt's span."""

_NODE = "langgraph_runner.node.name"
_NUMBER = "langgraph_runner.attempt.number"
_ATTEMPT_OUTCOME = "langgraph_runner.attempt.outcome"
_NODE_OUTCOME = "langgraph_runner.node.outcome"
_ATTEMPTS = "langgraph_runner.node.attempts"
# The record codes that are an event of their own on the attempt's span.
_EVENTS = {
    "NODE_TIMEOUT": "langgraph_runner.timeout",
    "NODE_ABORTED": "langgraph_runner.aborted",
    "CIRCUIT_OPEN": "langgraph_runner.breaker.rejected",
    "RATE_LIMITED": "langgraph_runner.rate_limit.refused",
    "BUDGET_EXHAUSTED": "langgraph_runner.budget.refused",
}


def open_node_spans(node: str, trace_id: Callable[[], str]) -> NodeSpans | None:
    """The node call's spans, started; None when no tracer provider is set.

    Called by a node call whose start time reached ``spans.NEXT_LOOK``; sets the
    next look (see there). ``trace_id()`` is the run's (``run_ids``): with no span
    current, the node's span takes it, so the nodes of one invocation share one
    trace, and the records, the loop guard and per-run budgets keep their one id.
    """
    tracer = get_tracer()
    if tracer is None:
        NEXT_LOOK[0] = perf_counter() + LOOK_AGAIN_S
        return None
    NEXT_LOOK[0] = float("-inf")
    name = clean({_NODE: node})
    trace = api()
    assert trace is not None  # a tracer was found
    parent = _instrumented_parent()
    if parent is None and not trace.get_current_span().get_span_context().is_valid:
        parent = _run_parent(trace, trace_id())
    context = None if parent is None else trace.set_span_in_context(parent)
    span = tracer.start_span(NODE_SPAN, context=context, attributes=name)
    # A span the sampler dropped records nothing: neither do its attempts (a child of an
    # unsampled span is unsampled), so only the node span is made, and made current.
    return NodeSpans(tracer, span, name) if span.is_recording() else _Unsampled(span)


_HEX32 = frozenset("0123456789abcdef")


def _run_parent(trace: Any, trace_id: str) -> Any:
    """A remote parent in the run's trace (``trace_id``, when it is a W3C trace id: 32 hex
    digits, not all zero), sampled; None otherwise. It is never exported: the node spans
    of the invocation are the roots a backend shows, in one trace."""
    if len(trace_id) != 32 or not _HEX32.issuperset(trace_id) or trace_id == "0" * 32:
        return None
    context = trace.SpanContext(
        trace_id=int(trace_id, 16),
        span_id=secrets.randbits(64) or 1,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return trace.NonRecordingSpan(context)


_OPENINFERENCE = "openinference.instrumentation.langchain"


def _instrumented_parent() -> Any:
    """The span LangChain's OpenInference instrumentation made for this node's run, when that
    instrumentation is in use: it does not make its spans current, and the node's span
    belongs under it (the current span, a run's, is that span's ancestor).

    Read through its public ``get_current_span()``, only when the application imported it.
    """
    instrumentation = sys.modules.get(_OPENINFERENCE)
    if instrumentation is None:
        return None
    try:
        return instrumentation.get_current_span()
    except Exception:  # another version's API: the node span is a root then
        return None


class NodeSpans:
    """One node call's span and its current attempt's span (see the module's docstring).

    ``enter`` makes the node span current and ``close`` ends everything still open,
    in that order, in one thread or task.
    """

    __slots__ = (
        "_attempt",
        "_attempt_token",
        "_attempts",
        "_ended",
        "_name",
        "_outcome",
        "_span",
        "_token",
        "_tracer",
    )

    def __init__(self, tracer: Any, span: Any, name: dict[str, Any]) -> None:
        self._tracer = tracer
        self._span = span
        self._name = name  # the node's name as a span attribute, cleaned once
        self._token: object = None
        self._attempt: Any = None
        self._attempt_token: object = None
        self._attempts = 0
        self._outcome: str | None = None
        self._ended = False

    def enter(self) -> None:
        """Make the node span current."""
        self._token = activate(self._span)

    def describe(self, attributes: Mapping[str, Any]) -> None:
        """Add ``attributes`` to the node span (None values are left out)."""
        set_attributes(self._span, attributes)

    def attempt(self, number: int) -> None:
        """Start attempt ``number``'s span (a child of the node span) and make it current."""
        if self._attempt is not None:
            self._end_attempt()
        self._attempts = number
        self._attempt = span = self._tracer.start_span(
            ATTEMPT_SPAN, attributes={**self._name, _NUMBER: number}
        )
        self._attempt_token = activate(span)

    def event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        """Add an event to the attempt's span, or the node's between attempts."""
        add_event(self._attempt if self._attempt is not None else self._span, name, attributes)

    def succeeded(self) -> None:
        """The attempt returned (or the cache answered): both spans succeeded."""
        if self._attempt is not None:
            self._attempt.set_attribute(_ATTEMPT_OUTCOME, "succeeded")
            self._end_attempt()
        self._outcome = "succeeded"

    def failed(self, exc: BaseException, code: str, category: str, delay: float | None) -> None:
        """The attempt raised ``exc`` (record ``code`` and ``category``); ``delay`` is the
        wait before the next attempt, None when this failure ends the call."""
        span = self._attempt if self._attempt is not None else self._span
        fields: dict[str, Any] = {
            "error.type": error_type(exc),
            "langgraph_runner.error.code": code,
            "langgraph_runner.error.category": category,
            _ATTEMPT_OUTCOME: "failed" if delay is None else "retry",
        }
        if delay is not None:
            fields["langgraph_runner.retry.delay_s"] = delay
            hint = retry_after_seconds(exc)
            if hint is not None:
                fields["langgraph_runner.retry.after_s"] = hint
        set_attributes(span, fields)
        event = _EVENTS.get(code)
        if event is not None:
            add_event(span, event)
        record_exception(span, exc)
        self._end_attempt()
        if delay is None:
            node = self._span
            del fields[_ATTEMPT_OUTCOME]
            set_attributes(node, fields)
            record_exception(node, exc)
            self._outcome = "failed"
            self._ended = True

    def leaving(self, exc: BaseException) -> None:
        """``exc`` leaves the node: control flow, an abort, the retry decision's own error,
        or the terminal failure ``failed`` already told (then nothing is added)."""
        if self._ended:
            return
        self._ended = True
        if is_control_flow(exc):
            outcome = "interrupted"
        elif isinstance(exc, NodeAbortedError):
            outcome = "aborted"
            if self._attempt is not None:
                add_event(self._attempt, "langgraph_runner.aborted")
        else:
            outcome = "failed"
        if outcome != "interrupted":
            # An abort (a cancelled run, its time limit) is told, not an error: as the
            # run span of a cancelled run, no error status.
            failed = outcome == "failed"
            for span in (self._attempt, self._span):
                if span is not None:
                    set_attributes(span, {"error.type": error_type(exc)})
                    record_exception(span, exc, error=failed)
        if self._attempt is not None:
            self._attempt.set_attribute(_ATTEMPT_OUTCOME, outcome)
        self._outcome = outcome

    def close(self) -> None:
        """End the spans still open and make the span current before ``enter`` current again."""
        try:
            if self._attempt is not None:
                self._end_attempt()
            span = self._span
            if self._outcome is not None:
                span.set_attributes({_NODE_OUTCOME: self._outcome, _ATTEMPTS: self._attempts})
            else:
                span.set_attribute(_ATTEMPTS, self._attempts)
            span.end()
        finally:
            if self._token is not None:
                deactivate(self._token)
                self._token = None

    def _end_attempt(self) -> None:
        span, self._attempt = self._attempt, None
        if span is None:
            return
        try:
            span.end()
        finally:
            token, self._attempt_token = self._attempt_token, None
            if token is not None:
                deactivate(token)


class _Unsampled(NodeSpans):
    """The spans of a call the sampler dropped: the node span current, nothing recorded."""

    __slots__ = ()

    def __init__(self, span: Any) -> None:
        super().__init__(None, span, {})

    def describe(self, attributes: Mapping[str, Any]) -> None:
        pass

    def attempt(self, number: int) -> None:
        self._attempts = number

    def event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        pass

    def succeeded(self) -> None:
        pass

    def failed(self, exc: BaseException, code: str, category: str, delay: float | None) -> None:
        pass

    def leaving(self, exc: BaseException) -> None:
        pass


def current_event(name: str, attributes: Mapping[str, Any] | None = None) -> None:
    """Add an event to the span current here, if it records (e.g. a rate-limit wait)."""
    trace = api()
    if trace is None:
        return
    span = trace.get_current_span()
    if span.is_recording():
        add_event(span, name, attributes)
