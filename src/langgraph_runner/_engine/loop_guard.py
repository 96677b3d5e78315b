"""The loop guard: a node that keeps failing in one run stops the run.

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

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.errors import EmptyChannelError

from langgraph_runner._internal.compat import CONF, CONFIG_KEY_CHECKPOINT_NS, CONFIG_KEY_READ
from langgraph_runner._policies.context import RunScope, forget_oldest
from langgraph_runner._records.exceptions import FailureLoopError
from langgraph_runner._records.record import NodeError

__all__ = [
    "DEFAULT_MAX_CONSECUTIVE_FAILURES",
    "FailureStreaks",
    "Key",
    "check_max_failures",
    "streak_key",
]

DEFAULT_MAX_CONSECUTIVE_FAILURES = 5
_MAX_KEYS = 4096  # runs remembered per node: the oldest are forgotten, 4096 at a time

Key = tuple[str, str, str]
_EMPTY: Mapping[str, Any] = {}


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
        self.counts: OrderedDict[Key, tuple[int, int]] = OrderedDict()
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
