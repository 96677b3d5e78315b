"""After a failed attempt: retry (after how long), or give up.

The decision is separate from its effects: :meth:`Policy.decide` returns a
:class:`Retry` (the wait) or the exception that ends the call, and the loop does
the logging, metrics, hook and wait. The decision is tenacity's, asked through
its building blocks inside our own loop (no ``Retrying`` drives it): a
``RetryCallState`` per call, made after the first failure, and the node's three
strategies, made once per node::

    retry = retry_if_exception(retryable)   stop = stop_after_attempt(max_attempts)
    wait  = min(max_interval, wait_exponential(initial_interval, backoff_factor,
                                               max_interval)(state) * (1 + U(0, jitter)))
            or the exception's Retry-After hint (capped): RetryConfig.compute_delay's rule

Inside ``testing.no_wait()`` the wait is zero and its delay collected (``nowait``).
For an exception that carries nothing of its own (no instance attributes) of a
class that defines none of the attributes the classifier reads, whether it is
retried and whether it carries a hint are answered once per class.
"""

from __future__ import annotations

import logging
import warnings
from typing import NamedTuple

import tenacity
from tenacity import RetryCallState

from langgraph_runner._engine.call import Call
from langgraph_runner._engine.nowait import NO_WAIT
from langgraph_runner._internal import compat as _compat
from langgraph_runner._policies import retry as _retry
from langgraph_runner._policies.retry import RetryAttempt, RetryConfig
from langgraph_runner._records.classify import classified_by_class, keep, retry_after_seconds
from langgraph_runner._records.exceptions import NodeAbortedError

__all__ = ["Policy", "Retry", "attempt_info"]

_HINT_NAMES = ("retry_after", "response", "headers")  # what retry_after_seconds reads
_DEFAULT_FACTS: dict[type[BaseException], bool] = {}  # class -> retried (default rule, no hint)


class Retry(NamedTuple):
    """Try again: ``delay`` is the policy's wait, ``wait`` what is slept (0 under no_wait)."""

    state: RetryCallState
    delay: float
    wait: float


def attempt_info(call: Call, step: Retry, exc: BaseException) -> RetryAttempt:
    """What ``on_retry_attempt`` is told (built only for a node that has the hook)."""
    ctx = call.get()
    return RetryAttempt(
        node=ctx.node, attempt=ctx.attempt, error=exc, next_delay=step.delay, context=ctx
    )


def _hintless_class(cls: type[BaseException]) -> bool:
    """No class in the MRO defines an attribute ``retry_after_seconds`` reads."""
    return not any(name in vars(c) for c in cls.__mro__ for name in _HINT_NAMES)


class Policy:
    """A node's retry policy: made once per node, asked after every failed attempt."""

    __slots__ = ("_attempts", "_config", "_default", "_retry", "_stop", "_wait", "_warned")

    def __init__(self, retry: RetryConfig | None) -> None:
        self._config = retry
        self._attempts = retry.max_attempts if retry is not None else 1
        self._warned = False
        self._default = retry is not None and retry.retry_on is None
        self._stop: tenacity.stop_after_attempt | None = None
        if retry is not None and retry.max_attempts > 1:
            self._stop = tenacity.stop_after_attempt(retry.max_attempts)
            self._retry = tenacity.retry_if_exception(self._retryable)
            self._wait = tenacity.wait_exponential(
                multiplier=retry.initial_interval,
                exp_base=retry.backoff_factor,
                max=retry.max_interval,
            )

    # ------------------------------------------------------------------ what tenacity asks

    def _retryable(self, exc: BaseException) -> bool:
        """``RetryConfig.should_retry``, kept per class where the class alone decides."""
        if self._default and not exc.__dict__:
            found = _DEFAULT_FACTS.get(type(exc))
            if found is not None:
                return found
        config = self._config
        assert config is not None
        answer = config.should_retry(exc)
        if self._default and classified_by_class(exc) and _hintless_class(type(exc)):
            keep(_DEFAULT_FACTS, type(exc), answer)
        return answer

    def delay(self, state: RetryCallState, exc: BaseException, u: float | None = None) -> float:
        """``RetryConfig.compute_delay(state.attempt_number, exc)`` on tenacity's schedule.

        ``u`` is the jitter's U(0, 1) sample (drawn when None).
        """
        config = self._config
        assert config is not None
        if exc.__dict__ or type(exc) not in _DEFAULT_FACTS:  # it may carry a Retry-After hint
            hint = retry_after_seconds(exc)
            if hint is not None:
                return min(config.max_interval, hint)
        base = self._wait(state)  # min(max_interval, initial * factor ** (n - 1))
        if u is None:
            u = _retry._RANDOM.random()
        return min(config.max_interval, base * (1.0 + u * config.jitter))

    # ------------------------------------------------------------------ the decision

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
        call.event(logging.WARNING, "node.retry_multiplied", native=native)

    def decide(
        self, call: Call, state: RetryCallState | None, exc: BaseException
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
        stop = self._stop
        if stop is None:
            return exc
        if state is None:
            if not self._warned:
                self._check_multiplied(call)
            state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]  # no Retrying
        state.set_exception((type(exc), exc, exc.__traceback__))
        if not self._retry(state) or stop(state):
            return exc  # re-raised as it is, with its own traceback
        delay = self.delay(state, exc)
        remaining = call.remaining()
        if remaining is not None and delay >= remaining:
            return call.deadline_error(exc)  # no wait sleeps past the deadline
        call.check_drain()
        if call.run_signal is not None:
            call.check_run_signal()
        wait = delay
        if NO_WAIT.depth > 0:  # testing.no_wait(): skipped, and collected by every scope
            for sink in tuple(NO_WAIT.sinks):
                sink.append(delay)
            wait = 0.0
        state.upcoming_sleep = wait
        state.idle_for += wait
        return Retry(state, delay, wait)

    @staticmethod
    def advance(state: RetryCallState) -> int:
        """Move on to the next attempt; returns its number."""
        state.prepare_for_next_attempt()
        return state.attempt_number
