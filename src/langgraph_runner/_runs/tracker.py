"""What ``runs.run`` learns about each node of a run: a callback handler plus cache outcomes.

LangGraph starts one callback run per node task, a child of the graph's root run;
the handler follows the top-level ones (subgraph tasks have another parent). A
cache hit returns normally, so the engine tells the tracker first (it finds it in
``config["configurable"][RUN_TRACKER_KEY]``).

Each node task's start and end go to the run's ``task_times`` rows as they happen
(``mark_time``: the process's writer thread writes them to the runs store the
process watches the run in), so a report of a live run shows which nodes are
running. A failed write is made good when the run ends (its times are written again).
A node's row also says when its cache served it (``served``: ``cached``, ``reused`` in a
rebuild), which a report shows whatever channels the state has.

A failed attempt of a node is told by the engine too (``attempt_failed``, with the
attempt's own redacted record and the wait before the next attempt): the node's row keeps
its attempts (``task_times.AttemptLog``, bounded), each with its record, start and end (the
first starts with the task, a later one when the wait before it ended), and the attempt
that ended the task with how it did (``succeeded``, ``recovered`` by a fallback,
``cancelled``, ...).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal

from langchain_core.callbacks import BaseCallbackHandler
from langgraph.errors import GraphDrained, GraphInterrupt

from langgraph_runner._records.exceptions import NodeAbortedError
from langgraph_runner._runs import run_watch
from langgraph_runner._runs.run_store import RunStore
from langgraph_runner._runs.task_times import AttemptLog, mark_time

__all__ = [
    "NodeRunStatus",
    "Tracker",
    "attempt_entry",
    "closing",
    "ending",
    "is_cancel",
    "own_record",
    "recorded_status",
    "task_of",
]

_now = time.time  # the clock node times are taken with (tests replace it)
_RECORD = ("code", "category", "error_type", "message")  # what an attempt keeps of its record

NodeRunStatus = Literal["succeeded", "failed", "cancelled", "interrupted", "cached", "reused"]
"""How one node ran: ``cached`` when its NodeCache served the result, ``reused``
when that entry came from a rebuild's base run."""


class Tracker(BaseCallbackHandler):
    """Follows the run's top-level node tasks (callbacks) and cache outcomes (the engine)."""

    run_inline = True  # keep the order of events under ainvoke too
    live = True  # write each node's start and end as they happen (benchmarks turn it off)

    # Only chain events tell node tasks apart: LangChain sends the rest (every model
    # call, each streamed token, tools, retrievers) to no handler that ignores them.
    ignore_llm = ignore_chat_model = ignore_retry = ignore_agent = True
    ignore_retriever = ignore_custom_event = True

    def __init__(
        self,
        root: uuid.UUID,
        *,
        reused: bool,
        on_failure: Callable[[str, Mapping[str, Any] | None], None] | None = None,
    ) -> None:
        self.root = root
        self.run_id = str(root)
        self.reused = reused
        # Called (outside the lock) when a node ends failed, with its latest own record.
        self.on_failure = on_failure
        self.failed: list[str] = []
        self._lock = threading.Lock()
        self._tasks: dict[uuid.UUID, str] = {}
        self._hits: dict[str, int] = {}
        self.nodes: dict[str, NodeRunStatus] = {}
        self.counts: dict[str, int] = {}
        self.cache_keys: dict[str, str] = {}
        # (node, step) -> (first start, last end), epoch seconds: each node's own time
        # (step: the superstep's checkpoint step, as reports number them)
        self.times: dict[tuple[str, int], tuple[float, float | None]] = {}
        self._steps: dict[uuid.UUID, tuple[str, int]] = {}
        self._began: dict[uuid.UUID, float] = {}  # each followed task's start
        # task -> (its last failed attempt's number, when the next one starts, its entry)
        self._tries: dict[uuid.UUID, tuple[int, float, dict[str, Any]]] = {}
        self._logs: dict[tuple[str, int], AttemptLog] = {}
        # (node, step) -> its attempts as the row keeps them (AttemptLog.text), once one failed
        self.attempts: dict[tuple[str, int], str] = {}
        # (node, step) -> "cached"/"reused" when the cache served its every task, else None
        self.served: dict[tuple[str, int], str | None] = {}
        self._store: RunStore | None = None
        self._looked = not self.live  # looked up the run's store (or never will)

    # called by the engine (configurable[RUN_TRACKER_KEY]) before a cached node returns
    def cache_outcome(self, node: str, hit: bool, key_hash: str) -> None:
        with self._lock:
            self.cache_keys[node] = key_hash
            if hit:
                self._hits[node] = self._hits.get(node, 0) + 1

    # called by the engine (configurable[RUN_TRACKER_KEY]) after each failed attempt
    def attempt_failed(
        self, config: Any, number: int, record: Mapping[str, Any], wait: float | None
    ) -> None:
        """Attempt ``number`` of the task ``config`` runs failed with ``record``; ``wait``:
        seconds before the next attempt (None: none follows)."""
        # The node's callbacks are the children of its task's run (on_chain_start's run_id).
        found = getattr(config.get("callbacks"), "parent_run_id", None) if config else None
        meta = (config.get("metadata") if config else None) or {}
        now = _now()
        with self._lock:
            task = found if isinstance(found, uuid.UUID) else uuid.UUID(int=0)
            key = self._steps.get(task)
            if key is None:  # not a task of the run's own (a subgraph's node, a direct call)
                return
            tried = self._tries.get(task)
            entry = attempt_entry(
                number,
                "retried" if wait is not None else "failed",
                self._began.get(task, now) if tried is None else tried[1],
                now,
                task_of(meta),
                record,
                wait,
            )
            self._tries[task] = (number, now + (wait or 0.0), entry)
            self._kept(key, entry)
            self._write(key)

    def _kept(self, key: tuple[str, int], entry: dict[str, Any] | None) -> None:
        """Add ``entry`` (if any) to the row's attempts (the caller writes the row)."""
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = AttemptLog()
        if entry is not None:
            log.add(entry)
        self.attempts[key] = log.text()

    def _closed(self, run_id: uuid.UUID, outcome: str) -> None:
        """A task whose attempts failed ended (``outcome``): its last attempt says how
        (``_ended`` writes the row next)."""
        tried = self._tries.pop(run_id, None)
        key = self._steps.get(run_id)
        if tried is None or key is None:
            return
        self._kept(key, closing(*tried, outcome, _now()))

    def on_chain_start(self, serialized: Any, inputs: Any, **kw: Any) -> None:
        metadata = kw.get("metadata") or {}
        node = metadata.get("langgraph_node")
        if kw.get("parent_run_id") == self.root and node and not str(node).startswith("__"):
            now = _now()
            step = metadata.get("langgraph_step")
            with self._lock:
                self._tasks[kw["run_id"]] = str(node)
                if isinstance(step, int):
                    key = (str(node), step - 1)  # the checkpoint that opened the step
                    self._steps[kw["run_id"]] = key
                    self._began[kw["run_id"]] = now
                    start, end = self.times.get(key, (now, None))
                    self.times[key] = (min(start, now), end)
                    self._write(key)

    def _write(self, key: tuple[str, int]) -> None:
        """Hand one (node, step) time row to the writer thread as it changes."""
        if not self._looked:
            self._looked = True
            self._store = run_watch.store_of(self.run_id)
        if self._store is not None:
            served, tries = self.served.get(key), self.attempts.get(key)
            mark_time(self._store, self.run_id, key[0], key[1], self.times[key], served, tries)

    def _ended(self, run_id: uuid.UUID, served: str | None = None) -> None:
        self._began.pop(run_id, None)
        key = self._steps.pop(run_id, None)
        if key is not None:
            start, end = self.times[key]
            now = _now()
            self.times[key] = (start, now if end is None else max(end, now))
            # A node's Send tasks of one step share its row: served only if all of them were.
            if end is None or self.served.get(key) == served:
                self.served[key] = served
            else:
                self.served[key] = None
            self._write(key)

    def on_chain_end(self, outputs: Any, **kw: Any) -> None:
        with self._lock:
            node = self._tasks.pop(kw["run_id"], None)
            status: NodeRunStatus = "succeeded"
            if node is not None:
                status = recorded_status(node, outputs)
                if self._hits.get(node):
                    self._hits[node] -= 1
                    status = "reused" if self.reused else "cached"
                self._set(node, status)
                if kw["run_id"] in self._tries:
                    self._closed(kw["run_id"], ending(node, outputs, status))
            self._ended(kw["run_id"], status if status in ("cached", "reused") else None)
            if node is None:
                return
        if status == "failed":
            self.failed.append(node)
            if self.on_failure is not None:
                self.on_failure(node, own_record(node, outputs))

    def on_chain_error(self, error: BaseException, **kw: Any) -> None:
        with self._lock:
            node = self._tasks.pop(kw["run_id"], None)
            if node is not None:
                self._set(node, _node_status(error))
                if kw["run_id"] in self._tries:
                    self._closed(kw["run_id"], _node_status(error))
            self._ended(kw["run_id"])

    def _set(self, node: str, status: NodeRunStatus) -> None:
        self.nodes[node] = status
        self.counts[status] = self.counts.get(status, 0) + 1


def recorded_status(node: str, outputs: Any) -> NodeRunStatus:
    """A node that returned normally: failed or cancelled if it wrote its own unrecovered
    error record (``on_error="record"``), else succeeded."""
    records = outputs.get("errors") if isinstance(outputs, Mapping) else None
    if not isinstance(records, list):
        return "succeeded"
    own = [
        r
        for r in records
        if isinstance(r, Mapping) and r.get("node") == node and not r.get("recovered")
    ]
    if not own:
        return "succeeded"
    return "cancelled" if own[-1].get("code") == "NODE_ABORTED" else "failed"


def own_record(node: str, outputs: Any) -> Mapping[str, Any] | None:
    """The last error record node ``node`` wrote in its ``outputs`` (None: none)."""
    records = outputs.get("errors") if isinstance(outputs, Mapping) else None
    own = [r for r in records or () if isinstance(r, Mapping) and r.get("node") == node]
    return own[-1] if own else None


def closing(
    number: int, next_at: float, last: dict[str, Any], outcome: str, now: float
) -> dict[str, Any] | None:
    """A task whose attempts failed ended (``outcome``) at ``now``: the entry to add for
    the attempt that ended it, or None where ``last`` (its last failed attempt, numbered
    ``number``, the next one due at ``next_at``) says how it ended (changed in place)."""
    if last["outcome"] != "retried":  # the engine told the attempt that ended the call
        last["outcome"] = "failed" if outcome == "succeeded" else outcome  # recovered, ...
        return None
    if outcome == "cancelled" and now < next_at:  # cancelled during the wait
        last["outcome"] = outcome
        return None
    # the attempt after the last failed one ended the task
    return attempt_entry(number + 1, outcome, next_at, now, last["task"], {}, None)


def task_of(metadata: Mapping[str, Any]) -> str | None:
    """LangGraph's id of the task a node's config ``metadata`` belongs to (the last part
    of its checkpoint namespace), None when it names none."""
    return str(metadata.get("langgraph_checkpoint_ns") or "").rpartition(":")[2] or None


def attempt_entry(
    number: int,
    outcome: str,
    started_at: float,
    ended_at: float,
    task: str | None,
    record: Mapping[str, Any],
    wait: float | None,
) -> dict[str, Any]:
    """One attempt as a node's row keeps it (``task_times.AttemptLog``)."""
    entry: dict[str, Any] = {
        "number": number,
        "outcome": outcome,
        "started_at": started_at,
        "ended_at": ended_at,
        "wait": wait,
        "task": task,
    }
    entry.update((field, record.get(field)) for field in _RECORD)
    return entry


def ending(node: str, outputs: Any, status: str) -> str:
    """How a task that returned normally ended: ``recovered`` when its own record says a
    fallback handled its failure, else its status."""
    record = own_record(node, outputs) if status == "succeeded" else None
    return "recovered" if record is not None and record.get("recovered") else status


def _node_status(error: BaseException) -> NodeRunStatus:
    if isinstance(error, GraphInterrupt):
        return "interrupted"
    if is_cancel(error):
        return "cancelled"
    return "failed"


def is_cancel(error: BaseException) -> bool:
    return isinstance(
        error, (NodeAbortedError, GraphDrained, asyncio.CancelledError, KeyboardInterrupt)
    )
