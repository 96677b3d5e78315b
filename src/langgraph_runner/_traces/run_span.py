"""The span of one run: ``langgraph_runner.run``, around ``run()``/``arun()`` and rebuilds.

The span is a child of whatever span is current when the run starts (the caller's,
or the trace context a queued run was triggered with), and it is current while the
graph runs, so spans made inside nodes nest under it. When spans are not made
(``spans.enabled()`` is False) nothing is done beyond that check.

Attributes: ``langgraph_runner.run.id``, ``langgraph_runner.thread.id``,
``langgraph_runner.graph.name``, ``langgraph_runner.tenant`` (when the run has one),
and at the end ``langgraph_runner.run.status`` and ``langgraph_runner.run.reason``.
A failed run's span has the error status and an ``exception`` event; a cancelled
run's has a ``langgraph_runner.run.cancelled`` event (``langgraph_runner.run.time_limit``
when its time limit ended it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from langgraph_runner._traces.spans import (
    activate,
    add_event,
    deactivate,
    end_span,
    record_exception,
    set_attributes,
    set_error,
    start_span,
)

__all__ = ["RUN_SPAN", "Outcome", "Traced", "run_span"]

RUN_SPAN = "langgraph_runner.run"
"""The name of a run's span."""

Outcome = tuple[str, str | None, BaseException | None, bool]
"""How a run ended: status, reason, the exception that ended it, whether its time limit did."""


class Traced(Protocol):
    """What of a run its span reads (``_runs.session.RunSession``)."""

    run_id: str
    thread_id: str | None
    graph_name: str
    tenant: str | None
    outcome: Outcome | None

    def retrace(self) -> None:
        """Take the trace id of the span now current (unless the config names one)."""


@contextmanager
def run_span(run: Traced) -> Iterator[None]:
    """The run's span, current inside the ``with`` block.

    Args:
        run: The run; its ``outcome`` (set when the run concludes) becomes the span's
            status.
    """
    span = start_span(
        RUN_SPAN,
        {
            "langgraph_runner.run.id": run.run_id,
            "langgraph_runner.thread.id": run.thread_id,
            "langgraph_runner.graph.name": run.graph_name,
            "langgraph_runner.tenant": run.tenant,
        },
    )
    if span is None:
        yield
        return
    token = activate(span)
    run.retrace()
    try:
        yield
    except BaseException as exc:
        _end(span, token, run.outcome, exc)
        raise
    _end(span, token, run.outcome, None)


def _end(span: Any, token: object, outcome: Outcome | None, exc: BaseException | None) -> None:
    try:
        _finish(span, outcome, exc)
    finally:
        end_span(span)
        deactivate(token)


def _finish(span: Any, outcome: Outcome | None, exc: BaseException | None) -> None:
    if outcome is None:  # it ended before it started (the thread busy, its row refused)
        if exc is not None:
            set_attributes(span, {"langgraph_runner.run.status": "not_started"})
            record_exception(span, exc)
        return
    status, reason, error, timed_out = outcome
    set_attributes(
        span, {"langgraph_runner.run.status": status, "langgraph_runner.run.reason": reason}
    )
    if status == "failed":
        if error is not None:
            record_exception(span, error)
        else:
            set_error(span, reason or "failed")
    elif status == "cancelled":
        name = "langgraph_runner.run.time_limit" if timed_out else "langgraph_runner.run.cancelled"
        add_event(span, name, {"langgraph_runner.run.reason": reason})
