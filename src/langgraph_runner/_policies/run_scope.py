"""One graph run as this process sees it: its ids, its scope, its loop guard.

* ``run_ids`` / ``ids_from_config``: the trace, thread and run ids of the run a
  config belongs to; a trace id is generated once per run (``new_trace_id``) when
  the caller names none.
* ``RunScope``: a run whose trace id was generated here, and what is kept for it
  while it runs (``run_scope``; the last 4096 runs).
* The loop guard (``FailureStreaks``): a node that keeps failing in one run
  stops the run.

The loop guard
--------------
A recorded failure lets the graph carry on, which is what makes an agent loop
(model -> tools -> model -> ...) spin to the recursion limit when the tools node
fails every time. ``max_consecutive_failures`` caps that: the N-th terminal
failure of the same node in a row, in the same run (and subgraph namespace),
with no success of that node between, raises ``FailureLoopError`` instead of
returning a record.

A run is one ``invoke``/``stream`` call: its trace id (``NodeContext.trace_id``:
the caller's ``run_id`` or ``trace_id`` when given, else the id generated once
per LangGraph invocation). Earlier runs of the same thread do not count, so a
chat thread whose tool failed once per turn is not stopped on its fifth turn,
and a resume after a ``FailureLoopError`` (a new invocation) gets a fresh budget.

How a node counts, per ``(run, checkpoint namespace, node)``:

* in this process, exactly: each terminal failure adds one, each success of the
  node resets the count to zero (the engine's call loop tells ``FailureStreaks``
  both, keyed by ``streak_key``);
* for a run whose trace id was generated here, in its ``RunScope``: forgotten
  with the run;
* when nothing is known in memory and the caller named the run (a ``run_id`` or
  ``trace_id`` in the config, so another process may be resuming it), the count
  starts from the run of this node's records at the end of the checkpointed
  ``errors`` channel that carry this run's trace id, read through the task's
  channel reader. A generated run id is new to every invocation, so there is
  nothing to read for it.
"""

from __future__ import annotations

import collections
import itertools
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from langchain_core.runnables import RunnableConfig
from langgraph.errors import EmptyChannelError

from langgraph_runner._internal.compat import CONF, CONFIG_KEY_CHECKPOINT_NS, CONFIG_KEY_READ
from langgraph_runner._records.exceptions import FailureLoopError
from langgraph_runner._records.record import NodeError

__all__ = [
    "DEFAULT_MAX_CONSECUTIVE_FAILURES",
    "FailureStreaks",
    "Key",
    "RunScope",
    "check_max_failures",
    "forget_oldest",
    "ids_from_config",
    "new_trace_id",
    "run_ids",
    "run_scope",
    "streak_key",
    "trace_id_for_run",
]

_EMPTY: Mapping[str, Any] = {}
# Whether OpenTelemetry is in use: one dict lookup, so a run without it pays nothing more.
_MODULES = sys.modules
_OTEL = "opentelemetry.trace"


# Generated trace ids: a random per-process prefix and a counter, unique without the
# cost of uuid4 on every node call.
# The prefix fills the top 64 bits of a 128-bit number, the counter the rest.
_PREFIX = int.from_bytes(os.urandom(8), "big") << 64
_COUNTER = itertools.count(1)


def new_trace_id() -> str:
    """A fresh trace id (32 hex chars), unique across processes."""
    return (_PREFIX | next(_COUNTER)).to_bytes(16, "big").hex()


def _reseed_after_fork() -> None:
    global _PREFIX
    _PREFIX = int.from_bytes(os.urandom(8), "big") << 64


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_after_fork)


# One generated trace id per graph run. LangGraph gives every invocation (and the
# subgraphs it calls) one ``RunControl`` object, but a node cannot see the root run's
# id when the caller gave none; the control object is the run's identity instead.
# RunControl has __slots__ and no __weakref__, so the registry holds the objects
# themselves (a strong reference also keeps their id() from being reused) and is
# bounded: the oldest runs are forgotten first, 4096 at a time once it holds twice as
# many (one pass over old entries now and then, instead of one on every new run).
_RUNS_MAX = 4096
_RUNS: collections.OrderedDict[int, RunScope] = collections.OrderedDict()
_RUNS_LOCK = threading.Lock()


class RunScope(NamedTuple):
    """A graph run this process generated the trace id of, and what is kept for it.

    Attributes:
        anchor: LangGraph's ``RunControl`` of the run (its identity).
        trace_id: The run's generated trace id.
        data: Bookkeeping kept for the run and forgotten with it (the loop guard's
            counts of failures in a row).
    """

    anchor: object
    trace_id: str
    data: dict[Any, Any]


_new_scope = tuple.__new__  # RunScope(...) without NamedTuple's Python-level __new__


def run_scope(anchor: object) -> RunScope:
    """The ``RunScope`` of the run whose identity object is ``anchor``.

    The same object always gets the same scope, and so the same trace id (while
    it is among the last 4096 runs).
    """
    key = id(anchor)
    _RUNS_LOCK.acquire()  # acquire/release is ~2x cheaper than `with` on CPython 3.11
    try:
        found = _RUNS.get(key)
        if found is not None and found.anchor is anchor:
            _RUNS.move_to_end(key)
            return found
        trace = (_PREFIX | next(_COUNTER)).to_bytes(16, "big").hex()  # new_trace_id(), inlined
        scope = _RUNS[key] = _new_scope(RunScope, (anchor, trace, {}))
        if len(_RUNS) >= 2 * _RUNS_MAX:
            forget_oldest(_RUNS, _RUNS_MAX)
        return scope
    finally:
        _RUNS_LOCK.release()


def trace_id_for_run(anchor: object) -> str:
    """The trace id generated for the run whose identity object is ``anchor``.

    The same object always gets the same id (while it is among the last 4096 runs).
    """
    return run_scope(anchor).trace_id


def forget_oldest(entries: collections.OrderedDict[Any, Any], keep: int) -> None:
    """Drop the oldest entries of ``entries`` until ``keep`` are left."""
    pop = entries.popitem
    for _ in range(len(entries) - keep):
        pop(last=False)


def ids_from_config(
    config: Mapping[str, Any] | None,
    *,
    run_id: str | None = None,
    run_anchor: object = None,
) -> tuple[str, str, str | None, str | None]:
    """Derive ``(trace_id, graph_execution_id, thread_id, run_id)`` from a RunnableConfig.

    trace_id: ``configurable["trace_id"]``, else ``metadata["trace_id"]``, else the
    trace id of the current OpenTelemetry span (when one is current), else the
    run id, else the id generated once for ``run_anchor`` (LangGraph's per-run
    ``RunControl``), else a fresh id. graph_execution_id: the thread id, else the
    run id, else the trace id. ``run_id`` is the fallback run id when the config
    carries none (inside a graph LangGraph keeps it in ``runtime.execution_info``).
    """
    trace_id, exec_id, thread_id, run, _scope = run_ids(
        config, run_id=run_id, run_anchor=run_anchor
    )
    return trace_id, exec_id, thread_id, run


def run_ids(
    config: Mapping[str, Any] | None,
    *,
    run_id: str | None = None,
    run_anchor: object = None,
) -> tuple[str, str, str | None, str | None, RunScope | None]:
    """``ids_from_config``'s four ids, and the run's ``RunScope`` when its id was generated.

    A run is named when its trace id came from the caller (a trace or run id in
    the config, or the current span's trace) or from ``run_id``: another process
    may then be running (resuming) the same run, and the scope is None. Otherwise
    the trace id was generated here, once per ``run_anchor``, and the scope is that
    run's (None without an anchor: a fresh id for a call outside any graph run).
    """
    scope = None
    if not config:
        # The current span's trace (read here, not through _traces: one module fewer on
        # every failure's path).
        if (
            _OTEL in _MODULES
            and (span := _MODULES[_OTEL].get_current_span().get_span_context()).is_valid
        ):
            span_trace = f"{span.trace_id:032x}"
            return span_trace, run_id or span_trace, None, run_id, None
        if run_id:
            return run_id, run_id, None, run_id, None
        if run_anchor is not None:
            scope = run_scope(run_anchor)
            return scope.trace_id, scope.trace_id, None, None, scope
        trace = new_trace_id()
        return trace, trace, None, None, None
    configurable: Mapping[str, Any] = config.get("configurable") or _EMPTY
    metadata: Mapping[str, Any] = config.get("metadata") or _EMPTY
    raw_run = config.get("run_id") or metadata.get("run_id")
    if raw_run is not None:
        run_id = str(raw_run)
    raw_thread = configurable.get("thread_id") or metadata.get("thread_id")
    thread_id = None if raw_thread is None else str(raw_thread)
    raw_trace = configurable.get("trace_id") or metadata.get("trace_id")
    if raw_trace:
        trace_id = str(raw_trace)
    elif (
        _OTEL in _MODULES
        and (span := _MODULES[_OTEL].get_current_span().get_span_context()).is_valid
    ):
        trace_id = f"{span.trace_id:032x}"
    elif run_id:
        trace_id = run_id
    elif run_anchor is not None:
        scope = run_scope(run_anchor)
        trace_id = scope.trace_id
    else:
        trace_id = new_trace_id()
    return trace_id, thread_id or run_id or trace_id, thread_id, run_id, scope


DEFAULT_MAX_CONSECUTIVE_FAILURES = 5
_MAX_KEYS = 4096  # runs remembered per node: the oldest are forgotten, 4096 at a time

Key = tuple[str, str, str]


def check_max_failures(value: object) -> int | None:
    """``max_consecutive_failures=``: None (no guard) or an int >= 1.

    Raises:
        TypeError: Not an int (a bool is refused).
        ValueError: Less than 1.
    """
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(
            "create_node: max_consecutive_failures must be an int or None, "
            f"got {type(value).__name__}"
        )
    if value < 1:
        raise ValueError(f"create_node: max_consecutive_failures must be >= 1, got {value}")
    return value


def streak_key(config: RunnableConfig | None, node: str, trace_id: str) -> Key:
    """What a streak is counted by: (run trace id, namespace path without task ids, node)."""
    ns = (config.get(CONF) or _EMPTY).get(CONFIG_KEY_CHECKPOINT_NS) if config else None
    if not ns:
        return trace_id, "", node
    if not isinstance(ns, str):
        ns = str(ns)
    if "|" not in ns:  # a root-graph task: "node:task-id"
        return trace_id, ns.partition(":")[0], node
    return trace_id, "|".join(part.partition(":")[0] for part in ns.split("|")), node


def _recorded_streak(config: RunnableConfig | None, node: str, trace_id: str) -> int:
    """The run of this run's ``node`` records at the end of the checkpointed ``errors``."""
    read = ((config or {}).get(CONF) or {}).get(CONFIG_KEY_READ)
    if read is None:
        return 0
    try:
        records = read("errors")
    except (EmptyChannelError, KeyError):
        return 0
    count = 0
    for record in reversed(records or ()):
        if not isinstance(record, dict) or record.get("node") != node:
            break
        if record.get("trace_id") != trace_id:
            break
        count += 1
    return count


def _raise_alone(err: FailureLoopError) -> None:
    """Raise ``err`` with no ``__context__``.

    The guard runs while the node's failure is being handled, so a plain ``raise``
    would make that failure (unredacted: record mode keeps the live exception as
    the node raised it) the context the traceback leaving ``invoke`` prints. The
    failure's redacted text is in ``err``'s record; the original is not chained.
    A bare ``raise`` re-raises without setting the context again.
    """
    try:
        raise err
    except FailureLoopError:
        err.__context__ = None
        err.__cause__ = None
        err.__suppress_context__ = True
        raise


class FailureStreaks:
    """Consecutive terminal failures per (run, namespace, node), for one wrapped node.

    The engine tells it each terminal failure (``failed``) and, once any failure
    was counted (``counting``), each success (``succeeded``). A run whose trace id
    was generated here keeps its counts in its ``RunScope`` (forgotten with it);
    a named run's are kept here, by key. ``seq`` counts failures; a call reads it
    when it starts, so its success resets a streak only if no failure of the same
    key was counted while it ran (a parallel task of the same node).
    """

    __slots__ = ("_lock", "counting", "counts", "limit", "seq")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seq = 0
        self.counting = False
        self.counts: collections.OrderedDict[Key, tuple[int, int]] = collections.OrderedDict()
        """A named run's key -> (failures in a row, ``seq`` of the last one)."""
        self._lock = threading.Lock()

    def failed(
        self,
        config: RunnableConfig | None,
        key: Key,
        *,
        scope: RunScope | None,
        record: Callable[[], NodeError],
    ) -> None:
        """Count a terminal failure; the limit-th in a row raises.

        Args:
            config: The call's config (to read the checkpointed records of a named run).
            key: ``streak_key(config, node, trace_id)``.
            scope: The run's ``RunScope`` when its trace id was generated here, else
                None (a named run: with nothing known in memory, its checkpointed
                records are counted).
            record: Builds the failure's record, for the ``FailureLoopError``.

        Raises:
            FailureLoopError: This failure is the ``limit``-th in a row.
        """
        counts = self.counts if scope is None else scope.data
        with self._lock:
            self.counting = True
            known = counts.pop(key, None)
            if known is not None or scope is not None:  # a generated run id: nothing to read
                count = 1 if known is None else known[0] + 1
                self.seq = seq = self.seq + 1
                counts[key] = (count, seq)
                if scope is None and len(counts) >= 2 * _MAX_KEYS:
                    forget_oldest(self.counts, _MAX_KEYS)
        if known is None and scope is None:  # read outside the lock: it calls LangGraph
            count = _recorded_streak(config, key[2], key[0]) + 1
            with self._lock:
                self.seq = seq = self.seq + 1
                counts[key] = (count, seq)
                if len(counts) >= 2 * _MAX_KEYS:
                    forget_oldest(self.counts, _MAX_KEYS)
        if count >= self.limit:
            _raise_alone(FailureLoopError(record=record(), failures=count, limit=self.limit))

    def succeeded(self, key: Key, since: int, scope: RunScope | None) -> None:
        """A call that started when ``seq`` was ``since`` succeeded: reset its streak.

        Unless a failure of the same key was counted after it started.
        """
        counts = self.counts if scope is None else scope.data
        with self._lock:
            found = counts.get(key)
            if found is not None and found[0] and found[1] <= since:
                counts[key] = (0, found[1])

    def count(self, key: Key, scope: RunScope | None = None) -> int:
        """The failures in a row counted for ``key`` (0 when none)."""
        counts = self.counts if scope is None else scope.data
        with self._lock:
            found = counts.get(key)
        return 0 if found is None else found[0]
