"""After a failed attempt: retry (after how long), or give up.

The decision is separate from its effects: :meth:`Policy.decide` returns a
:class:`Retry` (the wait) or the exception that ends the call, and the loop does
the logging, metrics, hook and wait. The decision itself is ``Retrier``'s
(``_policies/retry``): tenacity's stop, retry and wait pieces, built once per
node from its ``RetryConfig`` and asked inside our own loop, plus the call's
deadline, LangGraph's drain request and the run's abort signal. The rule of the
wait is written there once; ``RetryConfig.compute_delay`` asks the same object.

``Policy`` is that ``Retrier`` with the engine's no-wait switch: inside
``testing.no_wait()`` the wait is zero and its delay collected (``nowait``).
"""

from __future__ import annotations

from langgraph_runner._engine.call import Call
from langgraph_runner._engine.nowait import NO_WAIT
from langgraph_runner._policies.retry import Retrier, Retry, RetryAttempt, RetryConfig

__all__ = ["Policy", "Retry", "attempt_info"]


class Policy(Retrier[Call]):
    """A node's retry decision: made once per node, asked after every failed attempt."""

    __slots__ = ()

    def __init__(self, retry: RetryConfig | None) -> None:
        super().__init__(retry, no_wait=NO_WAIT)


def attempt_info(call: Call, step: Retry, exc: BaseException) -> RetryAttempt:
    """What ``on_retry_attempt`` is told (built only for a node that has the hook)."""
    ctx = call.get()
    return RetryAttempt(
        node=ctx.node, attempt=ctx.attempt, error=exc, next_delay=step.delay, context=ctx
    )
