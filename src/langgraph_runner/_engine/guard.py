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
  node resets the count to zero (``FailureStreaks.watch`` sees the calls);
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
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph._internal._constants import CONF, CONFIG_KEY_READ
from langgraph.errors import EmptyChannelError

from langgraph_runner import _compat
from langgraph_runner.context import ids_from_config
from langgraph_runner.errors import FailureLoopError, NodeError

__all__ = ["DEFAULT_MAX_CONSECUTIVE_FAILURES", "FailureStreaks", "check_max_failures"]

DEFAULT_MAX_CONSECUTIVE_FAILURES = 5
_MAX_KEYS = 4096  # runs remembered per node; the oldest are forgotten first

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


def run_trace_id(config: RunnableConfig | None) -> str:
    """The trace id of the run ``config`` belongs to (what ``NodeContext.trace_id`` holds)."""
    runtime = _compat.runtime_of(config)
    run = getattr(getattr(runtime, "execution_info", None), "run_id", None)
    return ids_from_config(
        config, run_id=str(run) if run else None, run_anchor=getattr(runtime, "control", None)
    )[0]


def _key(config: RunnableConfig | None, node: str, trace_id: str | None = None) -> Key:
    """(run trace id, namespace path without task ids, node)."""
    conf = (config or {}).get(CONF) or {}
    ns = str(conf.get("checkpoint_ns", ""))
    path = "|".join(part.partition(":")[0] for part in ns.split("|")) if ns else ""
    return (run_trace_id(config) if trace_id is None else trace_id), path, node


def _named_run(config: RunnableConfig | None) -> bool:
    """Whether the caller named the run (a run or trace id), so another process may resume it."""
    if not config:
        return False
    conf = config.get(CONF) or {}
    meta = config.get("metadata") or {}
    if config.get("run_id") or meta.get("run_id") or conf.get("trace_id") or meta.get("trace_id"):
        return True
    info = getattr(_compat.runtime_of(config), "execution_info", None)
    return getattr(info, "run_id", None) is not None


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


class FailureStreaks:
    """Consecutive terminal failures per (thread, namespace, node), for one wrapped node."""

    __slots__ = ("_counts", "_lock", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: OrderedDict[Key, int] = OrderedDict()
        self._lock = threading.Lock()

    def failed(self, config: RunnableConfig | None, record: NodeError) -> None:
        """Count a terminal failure; the limit-th in a row raises.

        Raises:
            FailureLoopError: This failure is the ``limit``-th in a row.
        """
        key = _key(config, record.node, record.trace_id)
        with self._lock:
            known = self._counts.pop(key, None)
        if known is None:  # a generated run id is new to every invocation: nothing to read
            known = _recorded_streak(config, record.node, key[0]) if _named_run(config) else 0
        count = known + 1
        with self._lock:
            self._counts[key] = count
            while len(self._counts) > _MAX_KEYS:
                self._counts.popitem(last=False)
        if count >= self.limit:
            raise FailureLoopError(record=record, failures=count, limit=self.limit)

    def _count(self, key: Key) -> int | None:
        with self._lock:
            return self._counts.get(key)

    def _reset(self, key: Key, before: int | None) -> None:
        with self._lock:
            if self._counts.get(key) == before and before != 0:  # no failure in the call
                self._counts[key] = 0

    def watch(
        self,
        run: Callable[..., Any],
        arun: Callable[..., Awaitable[Any]],
        node: Callable[[RunnableConfig | None], str],
    ) -> tuple[Callable[..., Any], Callable[..., Awaitable[Any]]]:
        """``run``/``arun`` that reset the count when a call of the node succeeds.

        Nothing is looked up while no run of this node has a failure counted.
        """
        counts = self._counts

        def guarded_run(state: Any, config: RunnableConfig | None = None) -> Any:
            if not counts:
                return run(state, config)
            key = _key(config, node(config))
            before = self._count(key)
            result = run(state, config)
            self._reset(key, before)
            return result

        async def guarded_arun(state: Any, config: RunnableConfig | None = None) -> Any:
            if not counts:
                return await arun(state, config)
            key = _key(config, node(config))
            before = self._count(key)
            result = await arun(state, config)
            self._reset(key, before)
            return result

        return guarded_run, guarded_arun
