"""After a failed attempt: retry (after how long), or give up.

The decision is separate from its effects: :meth:`Policy.decide` returns a
:class:`Retry` (the wait and what the ``on_retry_attempt`` hook is told) or the
exception that ends the call, and the loop does the logging, metrics, hook and
wait. Tenacity is entered only after a first failure; its per-call state is a
copy of the node's template.
"""

from __future__ import annotations

import logging
import warnings
from typing import NamedTuple

import tenacity
from tenacity import RetryCallState

from langgraph_runner._engine.call import Call
from langgraph_runner._engine.events import emit
from langgraph_runner._internal import compat as _compat
from langgraph_runner._policies.retry import RetryAttempt, RetryConfig
from langgraph_runner._records.errors import NodeAbortedError

__all__ = ["Policy", "Retry", "RetryState"]


class RetryState:
    """One call's retry bookkeeping, on tenacity (created after the first failure)."""

    __slots__ = ("retrying", "rs")

    def __init__(self, template: tenacity.Retrying) -> None:
        self.retrying = template.copy()
        self.retrying.begin()
        self.rs = RetryCallState(self.retrying, fn=None, args=(), kwargs={})

    def next_delay(self, exc: BaseException) -> float | BaseException:
        """The wait before the next attempt, or the exception that ends the call."""
        rs = self.rs
        rs.set_exception((type(exc), exc, exc.__traceback__))
        tb = exc.__traceback__
        try:
            action = self.retrying.iter(rs)
        except BaseException as final:  # tenacity re-raises the original (reraise=True)
            if final is exc:  # ... with its own frames appended: restore ours
                final.__traceback__ = tb
            return final
        return float(action)  # type: ignore[arg-type]  # DoSleep is a float

    def advance(self) -> int:
        """Move on to the next attempt; returns its number."""
        self.rs.prepare_for_next_attempt()
        return self.rs.attempt_number


class Retry(NamedTuple):
    """Wait ``delay`` seconds, then try again (``info`` goes to ``on_retry_attempt``)."""

    state: RetryState
    delay: float
    info: RetryAttempt


def _tenacity_for(retry: RetryConfig) -> tenacity.Retrying:
    def wait(rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome is not None else None
        return retry.compute_delay(rs.attempt_number, exc)

    def should_retry(rs: RetryCallState) -> bool:
        exc = rs.outcome.exception() if rs.outcome is not None else None
        return exc is not None and retry.should_retry(exc)

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(retry.max_attempts),
        wait=wait,
        retry=should_retry,
        reraise=True,
    )


class Policy:
    """A node's retry policy: made once per node, asked after every failed attempt."""

    __slots__ = ("_attempts", "_template", "_warned")

    def __init__(self, retry: RetryConfig | None) -> None:
        self._template: tenacity.Retrying | None = None
        self._attempts = retry.max_attempts if retry is not None else 1
        self._warned = False
        if retry is not None and retry.max_attempts > 1:
            self._template = _tenacity_for(retry)

    def _check_multiplied(self, call: Call) -> None:
        """Warn once when LangGraph's own RetryPolicy re-runs a node that retries itself.

        LangGraph counts its executions of a node in ``execution_info.node_attempt``;
        above 1, our ``max_attempts`` attempts are being repeated per native attempt.
        That is first visible here, on the re-run's first failure.
        """
        info = getattr(_compat.runtime_of(call.config), "execution_info", None)
        native = getattr(info, "node_attempt", 1) or 1
        if native <= 1:
            return
        self._warned = True
        node = call.node()
        message = (
            f"node {node!r} has retry= (max_attempts={self._attempts}) and LangGraph re-ran it "
            f"(node_attempt={native}): a native RetryPolicy multiplies the attempts "
            f"({self._attempts} x its max_attempts). Keep one of the two."
        )
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        emit(call.spec.log, logging.WARNING, "node.retry_multiplied", call.get(), native=native)

    def decide(
        self, call: Call, state: RetryState | None, exc: BaseException
    ) -> Retry | BaseException:
        """Decide after a failed attempt.

        Returns:
            A ``Retry``, or the exception that ends the call (``exc``, or the
            deadline's ``NodeTimeoutError`` when no wait fits before it).

        Raises:
            NodeAbortedError: The run was aborted (never retried, never recorded).
            GraphDrained: LangGraph asked the run to drain.
        """
        if isinstance(exc, NodeAbortedError):
            raise exc  # logged once, where the call loop lets it out
        # An attempt that failed *because* the run was aborted (the connection it
        # used was closed, ...) is an abort too: never recorded, no fallback.
        if call.run_signal is not None:
            call.check_run_signal()
        if self._template is None:
            return exc
        if state is None:
            if not self._warned:
                self._check_multiplied(call)
            state = RetryState(self._template)
        step = state.next_delay(exc)
        if isinstance(step, BaseException):
            return step
        remaining = call.remaining()
        if remaining is not None and step >= remaining:
            return call.deadline_error(exc)  # no wait sleeps past the deadline
        call.check_drain()
        call.check_run_signal()
        ctx = call.get()
        info = RetryAttempt(
            node=ctx.node, attempt=ctx.attempt, error=exc, next_delay=step, context=ctx
        )
        return Retry(state, step, info)
