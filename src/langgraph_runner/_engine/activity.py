"""A wrapped node as the body of a Temporal activity (``langgraph_runner.temporal``).

Temporal's LangGraph plugin runs a node's function as an activity. Here that
function is one of ours, built from the node's spec:

- ``retries="temporal"``: each activity attempt runs one attempt of the node. After
  a failure the node's own policy decides as it does in-process (classifier,
  schedule with jitter, Retry-After, deadline): a retry is handed to Temporal as an
  ``ApplicationError`` whose ``next_retry_delay`` is the policy's delay
  (``on_retry_attempt`` is told first); the end of the call (last attempt, or an
  error not retried) is the node's terminal failure, recorded (record mode, the
  activity succeeds) or raised as non-retryable.
- ``retries="runner"``: the node's retry loop runs inside the activity attempt.

In raise mode the non-retryable ``ApplicationError`` carries the node's redacted
record (what record mode would write) as its details.

Either way the node's attempts are counted apart from Temporal's (``_Tally``): the
number of node attempts that failed rides in the activity's heartbeat details,
which Temporal hands to the next activity attempt. An activity attempt that ends
without our code deciding (a lost worker, a start-to-close or heartbeat timeout, a
worker shutdown) leaves the count as it was, so Temporal retries it (the caller
gives the activity enough attempts) and the node's attempt runs again with the
same number: infrastructure failures never use a node's attempts. A ``deadline``
counts from the activity's first scheduling (``_whole_deadline``), so it bounds
every attempt together, as in-process.

A node the package did not build gets ``foreign_body``: the node as LangGraph runs
it. Either body turns message dicts in its input back into messages (``crossing``),
runs with the config the plugin rebuilt in the activity, named after the workflow
run (``_named_run``: one trace id per workflow run), and heartbeats while the node
runs when the activity has a heartbeat timeout (``_Pulse``: the node's own beats,
relayed from ``_policies.progress``, or the worker's). In the workflow, the node is an
``ActivityNode``: the plugin swaps its ``afunc`` for the activity call, and its
``ainvoke`` turns a list result's ``Command`` dicts back into commands.

Both bodies set ``adapters.PREPARED``: a node of ours that the node calls directly
runs as usual, while one that the plugin runs without ``for_temporal`` refuses.

The temporalio package is imported only here, and only this module's caller
(``langgraph_runner.temporal``) imports it (the node shells and the effect ledger
look it up in ``sys.modules``, never import it).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from temporalio import activity
from temporalio.exceptions import ApplicationError
from tenacity import RetryCallState

from langgraph_runner._engine.adapters import PREPARED
from langgraph_runner._engine.attempt import tell_run
from langgraph_runner._engine.cached import cached_async
from langgraph_runner._engine.call import Call
from langgraph_runner._engine.crossing import commands_back, revive
from langgraph_runner._engine.finish import Failure
from langgraph_runner._engine.hooks import acall_hook
from langgraph_runner._engine.loop import AsyncEntry, _async_loop
from langgraph_runner._engine.policy import Policy, Retry, attempt_info
from langgraph_runner._engine.spec import NodeSpec
from langgraph_runner._internal import compat as _compat
from langgraph_runner._policies.context import RUN_TRACKER_KEY
from langgraph_runner._policies.progress import reset_relay, set_relay
from langgraph_runner._policies.retry import RetryAttempt
from langgraph_runner._records.classify import is_control_flow
from langgraph_runner._records.egress import egress_text
from langgraph_runner._traces.spans import current_trace_id

__all__ = ["ActivityNode", "activity_body", "foreign_body", "spec_of"]

ActivityBody = Callable[..., Awaitable[Any]]

_RETRY_INFO = "langgraph_runner_retry_attempt"  # what on_retry_attempt is told, on the error

# Whether asyncio tasks take a context (3.11+): LangGraph then sets a node's config as
# the context of its task; before, ActivityNode sets it for the plugin.
_ASYNC_CONTEXT = sys.version_info >= (3, 11)


def spec_of(node: Any) -> NodeSpec | None:
    """The spec whose async entry runs ``node`` (None for a node we did not build)."""
    found = getattr(node, "langgraph_runner_async_spec", None)
    if found is None:
        found = getattr(node, "langgraph_runner_spec", None)
    return found if isinstance(found, NodeSpec) else None


_TALLY_KEY = "langgraph_runner_failed_attempts"  # the heartbeat details' one key


class _Tally:
    """How many attempts of the node failed, across the activity's attempts.

    Read from the heartbeat details Temporal hands the activity attempt; each failed
    attempt that is retried is written back as a heartbeat (the SDK sends the latest
    details with the attempt's failure, or with its next heartbeat). An attempt that a
    lost worker or a timeout ended was never counted, so it runs again. ``call`` is the
    attempt's node call (its record, when it ends the node in raise mode).
    """

    __slots__ = ("call", "failed")

    def __init__(self, failed: int) -> None:
        self.failed = failed
        self.call: Call | None = None

    @classmethod
    def of_activity(cls) -> _Tally | None:
        """The tally of the running activity attempt (None outside an activity)."""
        if not activity.in_activity():
            return None
        for detail in activity.info().heartbeat_details:
            found = detail.get(_TALLY_KEY) if isinstance(detail, dict) else None
            if isinstance(found, int) and not isinstance(found, bool) and found > 0:
                return cls(found)
        return cls(0)

    def details(self) -> dict[str, int]:
        """What every heartbeat of the activity carries."""
        return {_TALLY_KEY: self.failed}

    def count(self, failed: int) -> None:
        """``failed`` attempts have failed: tell Temporal (a heartbeat)."""
        self.failed = failed
        activity.heartbeat(self.details())


_TALLY: ContextVar[_Tally | None] = ContextVar("langgraph_runner_tally", default=None)


def _first_attempt() -> int:
    """The number of the node's attempt this activity attempt runs first (1 outside one)."""
    tally = _TALLY.get()
    return 1 if tally is None else tally.failed + 1


def _message(exc: BaseException) -> str:
    """The failure's message as it may leave the process (redacted, capped)."""
    return egress_text(str(exc), max_length=500)


class _Counted(Policy):
    """The node's policy, counting its attempts apart from the activity's.

    The first failure in an activity attempt is attempt ``_first_attempt()``; a retry
    is counted in the tally before it happens. With ``hand_off`` (Temporal retries) a
    retry goes to Temporal as a retryable ``ApplicationError``.
    """

    __slots__ = ("_hand_off", "_spec")

    def __init__(self, spec: NodeSpec, *, hand_off: bool) -> None:
        super().__init__(spec.retry)
        self._spec = spec
        self._hand_off = hand_off

    def decide(
        self, call: Call, state: RetryCallState | None, exc: BaseException
    ) -> Retry | BaseException:
        if state is None:
            attempt = _first_attempt()
            if call.attempt != attempt:
                call.next_attempt(attempt)
            state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]  # no Retrying
            state.attempt_number = attempt
        step = super().decide(call, state, exc)
        if not isinstance(step, Retry):
            return step
        tally = _TALLY.get()
        if tally is not None:
            tally.count(state.attempt_number)
        if not self._hand_off:
            return step
        if call.metrics is not None:
            call.report("record_retry", call.attempt)
        if call.config and RUN_TRACKER_KEY in (call.config.get("configurable") or ()):
            tell_run(self._spec, call, exc, step)  # the runs service follows the node
        if self._spec.log.enabled(logging.WARNING):
            call.event(
                logging.WARNING,
                "node.retrying",
                next_delay=round(step.delay, 3),
                error_type=type(exc).__name__,
                retried_by="temporal",
            )
        # Under testing.no_wait() the wait is 0: Temporal is asked for 1 ms.
        delay = max(step.wait, 0.001)
        # from None: Temporal stores an exception's cause chain (messages, stacks) in
        # the workflow history; only the redacted message may leave the process.
        handed = ApplicationError(
            _message(exc), type=type(exc).__name__, next_retry_delay=timedelta(seconds=delay)
        )
        if self._spec.on_retry_attempt is not None:  # called by the activity body
            setattr(handed, _RETRY_INFO, attempt_info(call, step, exc))
        raise handed from None


class _Pulse:
    """Temporal heartbeats for one activity: the node's beats, relayed at most every period.

    A beat (``heartbeat()``, ``runtime.heartbeat()``, or any progress under
    ``refresh_on="auto"``) only sets a flag, from any thread; a task on the activity's
    loop sends one heartbeat per period when the flag is set (Temporal's SDK throttles
    what reaches the server further, to one per 0.8 heartbeat timeouts). With
    ``always``, it sends one every period whatever the node does: the worker is alive.
    """

    __slots__ = ("_always", "_every", "_tally", "_task", "beaten")

    def __init__(self, every: float, *, always: bool, tally: _Tally | None) -> None:
        self._every = every
        self._always = always
        self._tally = tally
        self.beaten = False
        self._task = asyncio.ensure_future(self._run())

    def mark(self) -> None:
        """A beat of the node (called from any thread: sets a flag)."""
        self.beaten = True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            if self._always or self.beaten:
                self.beaten = False
                # Every heartbeat carries the tally: Temporal keeps the latest details.
                tally = self._tally
                activity.heartbeat(*(() if tally is None else (tally.details(),)))

    def stop(self) -> None:
        self._task.cancel()


def _heartbeat_timeout() -> float | None:
    """The activity's heartbeat timeout in seconds (None: none, or not in an activity)."""
    try:
        timeout = activity.info().heartbeat_timeout
    except RuntimeError:  # not in an activity
        return None
    return timeout.total_seconds() if timeout else None


def _pulse(*, progress_driven: bool, tally: _Tally | None = None) -> _Pulse | None:
    """Heartbeats while the node runs, when the activity has a heartbeat timeout.

    Three periods per timeout. ``progress_driven`` (a node with an idle limit, one node
    attempt per activity attempt): only the node's beats are sent, so a node that stops
    beating stops Temporal's heartbeats too. Otherwise every period: a lost worker's
    activity is retried after the heartbeat timeout, not the start-to-close one.
    Either way the heartbeats are how a cancellation reaches the activity: Temporal
    cancels the node's task on its next heartbeat.
    """
    timeout = _heartbeat_timeout()
    if timeout is None:
        return None
    return _Pulse(timeout / 3, always=not progress_driven, tally=tally)


def _config(config: RunnableConfig | None) -> RunnableConfig | None:
    """The config the plugin rebuilt in the activity (with a Runtime), else ``config``,
    named after the workflow run (``_named_run``)."""
    current = var_child_runnable_config.get()
    return _named_run(current if current else config)


def _named_run(config: RunnableConfig | None) -> RunnableConfig | None:
    """``config`` with the workflow's run id as its ``trace_id`` when it names no run.

    In-process, the nodes of one run share a trace id generated once per run; each
    activity would generate its own. With the workflow run's id, a workflow's records
    and log lines share one trace id, and a ``Budget(per="run")`` counts the whole run.
    Inside a span (Temporal's ``TracingInterceptor`` makes one per activity, in the
    workflow's trace) the span's trace id is the run's, as everywhere else.
    """
    if not config or current_trace_id() is not None:
        return config
    metadata = config.get("metadata") or {}
    configurable = config.get("configurable") or {}
    if config.get("run_id") or metadata.get("run_id") or metadata.get("trace_id"):
        return config
    if configurable.get("trace_id"):
        return config
    try:
        run = activity.info().workflow_run_id
    except RuntimeError:  # not in an activity (a direct call)
        return config
    if not run:
        return config
    return {**config, "metadata": {**metadata, "trace_id": run}}


def _since_scheduled() -> float:
    """Seconds since Temporal first scheduled the activity (0 outside an activity)."""
    try:
        scheduled = activity.info().scheduled_time
    except RuntimeError:  # not in an activity (a direct call)
        return 0.0
    return max(0.0, time.time() - scheduled.timestamp())


def _whole_deadline(call: Call) -> None:
    """Count the node's ``deadline`` from the activity's first scheduling, not this attempt.

    In-process a deadline bounds the whole call, attempts and waits together; under
    Temporal's retries each activity attempt is a new call, so its clock is moved back
    by the time the earlier attempts and Temporal's waits took.
    """
    if call.deadline_at is not None and not call.run_deadline:
        shift = _since_scheduled()
        call.m0 -= shift
        call.deadline_at -= shift


async def _retry_hook(spec: NodeSpec, err: ApplicationError) -> None:
    """``on_retry_attempt`` for a retry handed to Temporal (before the activity fails)."""
    info: RetryAttempt | None = getattr(err, _RETRY_INFO, None)
    if info is not None:
        await acall_hook(
            spec.on_retry_attempt,
            info,
            log=spec.log,
            hook_name="on_retry_attempt",
            node=info.node,
        )


def activity_body(name: str, node: Any, spec: NodeSpec, *, temporal_retries: bool) -> ActivityBody:
    """The async function the plugin registers as the activity of node ``name``.

    Its ``__module__``/``__qualname__`` (the plugin's task id, the key of its result
    cache across continue-as-new) are the node function's module and the node name:
    the same on every worker, and never a ``<locals>`` path (which the plugin refuses).
    What the node does with its entries' results (an agent's model node adds the error
    message to a recorded failure) is done to the activity's result too.
    """
    hook = getattr(node, "langgraph_runner_result_hook", None)
    node_loop = _async_loop(spec, _Counted(spec, hand_off=temporal_retries))

    async def loop(state: Any, config: RunnableConfig | None, call: Call) -> Any:
        _whole_deadline(call)
        tally = _TALLY.get()
        if tally is not None:
            tally.call = call
            if tally.failed:
                call.next_attempt(tally.failed + 1)
        return await node_loop(state, config, call)

    entry: AsyncEntry
    if spec.cache is None:

        async def uncached(state: Any, config: RunnableConfig | None) -> Any:
            return await loop(state, config, Call(spec, config))

        entry = uncached

    else:  # the cache wraps the loop
        entry = cached_async(spec, loop)
    # With an idle limit and one node attempt per activity attempt, Temporal hears
    # the node's own beats; else the worker's (see _pulse).
    progress_driven = temporal_retries and spec.idle_timeout is not None

    async def body(state: Any, config: RunnableConfig) -> Any:
        tally = _Tally.of_activity()
        counting, prepared = _TALLY.set(tally), PREPARED.set(True)
        pulse = _pulse(progress_driven=progress_driven, tally=tally)
        relay = set_relay(None if pulse is None else pulse.mark)
        try:
            result = await entry(revive(state), _config(config))
            return result if hook is None else hook(result)
        except ApplicationError as err:
            if spec.on_retry_attempt is not None:
                await _retry_hook(spec, err)
            raise  # a retry handed to Temporal
        except Exception as exc:
            if is_control_flow(exc):
                raise  # interrupt(), Command.PARENT: the plugin carries them back
            # The node's terminal failure (raise mode): Temporal must not run it again.
            # Its details: the record the node writes in record mode (redacted).
            raise ApplicationError(
                _message(exc),
                *_record_of(spec, tally, exc),
                type=type(exc).__name__,
                non_retryable=True,
            ) from None
        finally:
            reset_relay(relay)
            _TALLY.reset(counting)
            PREPARED.reset(prepared)
            if pulse is not None:
                pulse.stop()

    _named(body, name, spec.fn)
    return body


def _record_of(spec: NodeSpec, tally: _Tally | None, exc: BaseException) -> list[Any]:
    """The redacted record of the node's terminal failure ``exc`` (none if it never ended)."""
    call = None if tally is None else tally.call
    if call is None or not call.failed:
        return []
    trace, run = call.ids()[:2]
    failure = Failure(exc, call.node(), call.attempt, call.elapsed_ms(), spec.retry, trace, run)
    return [failure.state()]


def _named(body: Any, name: str, fn: Any) -> None:
    body.__name__ = name
    body.__qualname__ = f"langgraph_runner_node.{name}"
    module = getattr(fn, "__module__", None)
    body.__module__ = module if isinstance(module, str) and module != "__main__" else __name__


def foreign_body(name: str, runnable: Runnable[Any, Any], *, final: bool) -> ActivityBody:
    """The activity body of a node the package did not build: ``runnable`` as LangGraph runs it.

    Its input's messages are revived, and it gets the config the plugin rebuilt in the
    activity (with the ``Runtime``), as the node gets it in-process. With ``final``
    (no retry policy of yours for it) the node's own failure ends the activity as a
    non-retryable ``ApplicationError``: it ran once, as in-process, while Temporal still
    retries what the node never saw (a lost worker, a timeout).
    """

    async def body(state: Any, config: RunnableConfig) -> Any:
        pulse = _pulse(progress_driven=False)
        prepared = PREPARED.set(True)  # a node of ours it calls directly runs as it is
        try:
            return await runnable.ainvoke(revive(state), _config(config))
        except Exception as exc:
            if not final or is_control_flow(exc) or isinstance(exc, ApplicationError):
                raise
            raise ApplicationError(
                _message(exc), type=type(exc).__name__, non_retryable=True
            ) from None
        finally:
            PREPARED.reset(prepared)
            if pulse is not None:
                pulse.stop()

    _named(body, name, getattr(runnable, "func", None) or getattr(runnable, "afunc", None))
    return body


class ActivityNode(_compat.RunnableCallable):
    """The node LangGraph runs in the workflow: the plugin swaps its ``afunc``.

    The one thing of ours that runs in the workflow is ``commands_back`` on the
    activity's result: a pure function of it.

    Before Python 3.11 LangGraph cannot give the node's task its config as context,
    so the plugin, which reads the config to send (node name, step, run context)
    from ``var_child_runnable_config``, would find none: the config LangGraph hands
    the node is set there for the call (the plugin's ``afunc`` runs in this task).
    """

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if _ASYNC_CONTEXT or config is None:
            return commands_back(await super().ainvoke(input, config, **kwargs))
        token = var_child_runnable_config.set(config)
        try:
            return commands_back(await super().ainvoke(input, config, **kwargs))
        finally:
            var_child_runnable_config.reset(token)
