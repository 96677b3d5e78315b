"""Run lifecycle: ``run``/``arun`` invoke a graph once, with run-level events and a time limit.

LangGraph gives a node wrapper no hook at the start or end of a whole run, so the
run level lives in a helper around ``graph.invoke``/``graph.ainvoke`` (rather than
a callback handler attached by the caller): the helper must act *before* the run
starts (give it a run id, a deadline, an abort signal, a ``RunControl``) and must
see how it ends (cancellation, an interrupt, the time limit), which a callback
handler alone cannot do. It still uses a callback handler, internally, to follow
each node task of the run.

One run, one identity: the helper sets ``config["run_id"]`` (a fresh UUID unless
the caller gave one), which LangGraph uses as its root run id and hands to every
node (``runtime.execution_info.run_id``), so the run's events, node events and
records share one ``trace_id`` and ``graph_execution_id``.

Under OpenTelemetry (an SDK tracer provider set), each run is a ``langgraph_runner.run``
span (``_traces.run_span``), a child of the span current when it starts; the run's
``trace_id`` is then that span's trace id, unless the config names one.

Events (through the same event logger as node events): ``run.started``, then one
of ``run.completed``, ``run.interrupted``, ``run.failed``, ``run.cancelled``, each
with ``duration_ms``, per-status node counts and any ``connection_wait_ms`` (its first
wait for a pooled connection past a second is ``run.waiting_for_connection``).

One writer per thread: a run on a thread of a graph with a checkpointer holds the
thread's lock (``thread_lock``) from before ``run.started`` to its end, so another
process resuming the same thread waits or gets ``ThreadBusyError``.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any

from langchain_core.runnables import RunnableConfig
from typing_extensions import Unpack

from langgraph_runner._db.pool import listening
from langgraph_runner._policies.context import (
    RUN_DEADLINE_KEY,
    TENANT_KEY,
)
from langgraph_runner._records.exceptions import StepFailedError
from langgraph_runner._runs import arows, run_watch
from langgraph_runner._runs.arows import afinish_off_loop, aopen_store
from langgraph_runner._runs.run_options import RunOptions, StepFailurePolicy, own_options
from langgraph_runner._runs.run_store import RUN_ID_METADATA_KEY
from langgraph_runner._runs.session import RunResult, RunSession
from langgraph_runner._runs.status import RunStatus
from langgraph_runner._runs.tenancy import aadmit, admit
from langgraph_runner._runs.tracker import NodeRunStatus
from langgraph_runner._traces.run_span import run_span

__all__ = [
    "NodeRunStatus",
    "RUN_DEADLINE_KEY",
    "RUN_ID_METADATA_KEY",
    "RunStatus",
    "StepFailedError",
    "StepFailurePolicy",
    "TENANT_KEY",
    "arun",
    "run",
]


"""``config["configurable"]`` key of the run's tenant (also ``run(tenant=...)``)."""
CANCEL_POLL_SECONDS = run_watch.INTERVAL
"""How often the process reads its runs' cancel flags (``cancel_run``), one query for all."""


def run(
    graph: Any,
    input: Any,
    config: RunnableConfig | None = None,
    **options: Unpack[RunOptions],
) -> RunResult:
    """Invoke ``graph`` once, as one identified run with lifecycle events.

    Args:
        graph: A compiled LangGraph graph.
        input: The graph input (a ``Command`` to resume works too).
        config: The RunnableConfig; a ``run_id`` in it is kept, else one is made.
        time_limit: Bound on the whole run (float seconds or timedelta). Every
            wrapped node's attempts and retry waits are capped by what is left;
            when it passes, running wrapped nodes are aborted and LangGraph stops
            before the next step. The run then ends ``cancelled``.
        logger: A structlog-style logger for the run events (the package's
            default event logger if None).
        raise_on_error: Re-raise the exception of a failed or cancelled run
            (after logging it); False returns it in ``RunResult.error``.
        exclusive: Hold the thread's lock for the run (``thread_lock``) when the
            graph has a checkpointer and the config a ``thread_id``, so no other
            process runs the thread at the same time. False runs without it.
        lock_wait: How long to wait for a thread another run holds (float seconds
            or timedelta; not part of ``time_limit``); None or 0 fails at once.
        on_step_failure: ``"stop"`` (default): a step that ends failed (its error
            recorded under ``on_error="record"``) ends the run ``failed`` after its
            superstep: the finished steps' writes and artifacts are kept, no
            downstream step starts, ``error`` is a ``StepFailedError``.
            ``"continue"``: the run goes on and the graph routes the failure
            (``route_on_blocked``), agent style.
        tenant: The run's tenant (else ``config["configurable"]["tenant_id"]``); kept
            in its checkpoints' metadata and its runs-table row. A thread belongs to
            the tenant (or no tenant) that first ran it: a run for anyone else is
            refused. At most 256 printable characters.
        **options: The keywords above (``RunOptions``); the rest (``context``,
            ``durability`` ...) is passed to ``graph.invoke``.

    Returns:
        The run's ``RunResult``; ``output`` is what ``graph.invoke`` returned.

    Raises:
        TypeError: ``time_limit`` or ``lock_wait`` is not seconds or a timedelta.
        ValueError: ``time_limit`` is not greater than 0 or is over ten years, or
            ``lock_wait`` is negative.
        ThreadBusyError: Another run holds the thread (also with
            ``raise_on_error=False``: no run started, no event is logged).
        ThreadNotFoundError: The thread belongs to another tenant (or to no tenant,
            for a tenant's run, and the other way round); raised like
            ``ThreadBusyError``, with the message ``run_report`` gives a missing thread.
        ValueError: ``config["run_id"]`` names a run that already exists, or the
            tenant is empty, too long or holds control characters.
    """
    state, raise_on_error, invoke_kwargs = _start(graph, config, dict(options), "run")
    return _run_sync(graph, input, state, raise_on_error, invoke_kwargs)


def _start(
    graph: Any, config: RunnableConfig | None, options: dict[str, Any], owner: str
) -> tuple[RunSession, bool, dict[str, Any]]:
    """The run's state from ``RunOptions`` (defaults in ``options.RUN_OPTION_DEFAULTS``)."""
    own, invoke_kwargs = own_options(options, owner=owner)
    state = RunSession(
        graph,
        config,
        own["time_limit"],
        own["logger"],
        False,
        {},
        own["exclusive"],
        own["lock_wait"],
        own["on_step_failure"],
        own["tenant"],
    )
    return state, own["raise_on_error"], invoke_kwargs


def _run_sync(
    graph: Any, input: Any, state: RunSession, raise_on_error: bool, invoke_kwargs: dict[str, Any]
) -> RunResult:
    # The run's span (when spans are made) is current from before its admission to its end.
    with run_span(state), listening(state):  # its connection waits are told to the run
        if state.saver is not None:  # another tenant's thread reads like a missing one
            failed = functools.partial(state._store_failed, when="start")
            admit(state.saver, state.thread_id, state.tenant, state.run_id, failed)
        with state.lock:
            return _invoke_sync(graph, input, state, raise_on_error, invoke_kwargs)


def _invoke_sync(
    graph: Any, input: Any, state: RunSession, raise_on_error: bool, invoke_kwargs: dict[str, Any]
) -> RunResult:
    state.use_control(invoke_kwargs)
    timer: threading.Timer | None = None
    if state.limit is not None:
        timer = threading.Timer(state.limit, state.expire)
        timer.daemon = True
        timer.start()
    state.open_store()
    state.started()
    try:
        output = graph.invoke(input, state.config, control=state.control, **invoke_kwargs)
    except (Exception, KeyboardInterrupt) as exc:
        return _settled(state.finish(None, exc), raise_on_error, exc)
    finally:
        if timer is not None:
            timer.cancel()
    return _settled(state.finish(output, None), raise_on_error)


def _settled(
    result: RunResult, raise_on_error: bool, exc: BaseException | None = None
) -> RunResult:
    """The ended run's result, or (``raise_on_error``) its error raised: ``exc``, what
    the graph raised, again, or the error it became (a ``StepFailedError``...) from it."""
    error = result.error
    if not raise_on_error or error is None:
        return result
    if exc is None:
        raise error
    if error is exc:
        raise exc
    raise error from exc


async def arun(
    graph: Any,
    input: Any,
    config: RunnableConfig | None = None,
    **options: Unpack[RunOptions],
) -> RunResult:
    """The async ``run`` (``graph.ainvoke``). Cancelling the awaiting task ends the run
    ``cancelled`` (logged) and re-raises ``CancelledError``; see ``run`` for the arguments."""
    state, raise_on_error, invoke_kwargs = _start(graph, config, dict(options), "arun")
    return await _run_async(graph, input, state, raise_on_error, invoke_kwargs)


async def _run_async(
    graph: Any, input: Any, state: RunSession, raise_on_error: bool, invoke_kwargs: dict[str, Any]
) -> RunResult:
    with run_span(state), listening(state):  # its connection waits are told to the run
        on_loop = state.saver is not None and arows.applies(state.saver)
        if state.saver is not None:  # another tenant's thread reads like a missing one
            failed = functools.partial(state._store_failed, when="start")
            if not (on_loop and await arows.admit(state, failed)):
                await aadmit(state.saver, state.thread_id, state.tenant, state.run_id, failed)
        async with state.lock:
            return await _invoke_async(
                graph, input, state, raise_on_error, invoke_kwargs, on_loop=on_loop
            )


async def _invoke_async(
    graph: Any,
    input: Any,
    state: RunSession,
    raise_on_error: bool,
    invoke_kwargs: dict[str, Any],
    *,
    on_loop: bool = False,
) -> RunResult:
    state.use_control(invoke_kwargs)
    handle: asyncio.TimerHandle | None = None
    if state.limit is not None:
        handle = asyncio.get_running_loop().call_later(state.limit, state.expire)
    await (arows.aopen(state) if on_loop else aopen_store(state))
    state.started()
    try:
        output = await graph.ainvoke(input, state.config, control=state.control, **invoke_kwargs)
    except asyncio.CancelledError as exc:
        state.finish(None, exc)
        raise
    except Exception as exc:
        result = await (arows.afinish if on_loop else afinish_off_loop)(state, None, exc)
        return _settled(result, raise_on_error, exc)
    finally:
        if handle is not None:
            handle.cancel()
    result = await (arows.afinish if on_loop else afinish_off_loop)(state, output, None)
    return _settled(result, raise_on_error)
