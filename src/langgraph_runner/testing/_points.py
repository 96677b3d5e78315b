"""Call points of a graph run, observed through LangChain callbacks, and failed one at a time.

A run is watched by a callback handler that sees each node execution (the chain run
LangGraph starts for a task, whose metadata names the node and its checkpoint
namespace), each chat model call and each tool call, in subgraphs and ``Send``
tasks too. Each point gets a key that does not depend on timing or on the ids of
the run: the chain of ``(step, task path)`` of the tasks it runs in, then its place
in its task. Sorting by key and numbering per kind and name gives the ordinals.

The handler fails a point by raising from its start callback (``raise_error``), so
the model or tool call raises exactly as if the provider or the tool had, and a bare
node's task fails as if its function had. A node built by ``create_node`` catches
its own function's failures, so it is failed from inside its attempt instead
(``_engine.faults``). A failed point keeps failing in its task: the retries of a
model call, of a tool call, of a node.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any, Literal
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from langgraph_runner._engine.faults import Fault

__all__ = ["Point", "PointKind", "Probe", "names_of"]

PointKind = Literal["node", "model", "tool"]
Key = tuple[Any, ...]


@dataclasses.dataclass(frozen=True, order=True)
class Point:
    """One place a run can fail: a node execution, a chat model call or a tool call.

    Attributes:
        kind: ``"node"``, ``"model"`` or ``"tool"``.
        name: The node name, the chat model's name (its class unless named) or the tool name.
        ordinal: 1 for the first point of this kind and name in the run, 2 for the next...
        where: The node it runs in, with its subgraph path (``"parent/child"``).
        hang: A hang (the node's timeout fires) instead of an exception; only for nodes
            built with a ``timeout``.
    """

    kind: PointKind
    name: str
    ordinal: int
    where: str
    hang: bool = False
    # How the sweep finds the point again (its key) and the records of the fault-free run.
    _seen: Any = dataclasses.field(default=None, compare=False, repr=False, kw_only=True)
    _baseline: tuple[Any, ...] = dataclasses.field(
        default=(), compare=False, repr=False, kw_only=True
    )

    def __str__(self) -> str:
        text = f"{self.kind} {self.name}#{self.ordinal}"
        if self.kind != "node" and self.where:
            text += f" in {self.where}"
        return text + (" (hang)" if self.hang else "")


def names_of(ns: str) -> tuple[str, ...]:
    """Node names of a checkpoint namespace: ``"a:<id>|b:<id>"`` -> ``("a", "b")``."""
    return tuple(part.split(":", 1)[0] for part in ns.split("|") if part)


@dataclasses.dataclass
class Seen:
    """A point as one run saw it (before ordinals are given)."""

    key: Key
    kind: PointKind
    name: str
    where: str
    call_id: str | None = None
    timeout: float | None = None  # a wrapped node's time limit (from its first attempt)


@dataclasses.dataclass(eq=False)
class Probe(BaseCallbackHandler):
    """Watches one run's points, and fails the one whose key is ``target``.

    Args:
        wrapped: ``(subgraph path, node name)`` of the nodes built by ``create_node``.
        tool_nodes: Those of the ``ToolNode`` nodes: their tool calls are the points.
        target: The key of the point to fail, or None (a watching run).
        make_error: The exception for the failed point.
        hang: Whether the target node hangs (its attempt's time limit fires) instead.
        hang_limit: For a hang target: the attempt's shortened time limit.
    """

    raise_error = True
    run_inline = True

    wrapped: frozenset[tuple[tuple[str, ...], str]]
    tool_nodes: frozenset[tuple[tuple[str, ...], str]] = frozenset()
    target: Seen | None = None
    make_error: Callable[[], BaseException] | None = None
    hang: bool = False
    hang_limit: float = 0.01

    def __post_init__(self) -> None:
        self.seen: list[Seen] = []
        self.fired = False
        self._starts: list[tuple[Key, str]] = []  # every task: (key, "parent/child" path)
        self._lock = threading.Lock()
        self._tasks: dict[str, Key] = {}  # checkpoint ns -> task key
        self._counts: dict[tuple[str, str, str, str], int] = {}
        # (ns, kind, name, tool call id) of the failed point: its retries fail too
        self._sticky: set[tuple[str, str, str, str]] = set()
        self._armed: str | None = None  # the ns whose wrapped node fails from inside
        self._armed_key: int | None = None
        self._node_seen: dict[str, Seen] = {}

    # ------------------------------------------------------------------ bookkeeping

    @property
    def after(self) -> list[str]:
        """The node tasks that ran after the failed point, in run order (not by timing)."""
        if self.target is None:
            return []
        target = self.target.key
        with self._lock:
            return [path for key, path in sorted(self._starts) if key > target]

    def _task_key(self, ns: str, metadata: dict[str, Any]) -> Key:
        parent = ns.rpartition("|")[0]
        base = self._tasks.get(parent, ()) if parent else ()
        return (
            *base,
            (int(metadata.get("langgraph_step", 0)), repr(metadata.get("langgraph_path"))),
        )

    def _error(self) -> BaseException:
        assert self.make_error is not None
        self.fired = True
        return self.make_error()

    def _is_target(self, key: Key) -> bool:
        return self.target is not None and self.target.key == key

    # ------------------------------------------------------------------ callbacks

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A node's task starts (the first chain run of a new checkpoint namespace)."""
        md = metadata or {}
        ns = md.get("langgraph_checkpoint_ns")
        node = md.get("langgraph_node")
        if not isinstance(ns, str) or not ns or kwargs.get("name") != node:
            return
        with self._lock:
            if ns in self._tasks:  # a retry of the task (LangGraph's RetryPolicy)
                if (ns, "node", str(node), "") in self._sticky:
                    raise self._error()
                return
            key = self._task_key(ns, md)
            self._tasks[ns] = key
            names = names_of(ns)
            self._starts.append(((*key, (0,)), "/".join(names)))
            if (names[:-1], str(node)) in self.tool_nodes:
                return  # a ToolNode runs no code of its own: its tool calls are the points
            seen = Seen((*key, (0,)), "node", str(node), "/".join(names))
            self.seen.append(seen)
            self._node_seen[ns] = seen
            if not self._is_target(seen.key):
                return
            if (names[:-1], str(node)) in self.wrapped:
                self._armed = ns  # failed from inside its attempt
                return
            self._sticky.add((ns, "node", str(node), ""))
            raise self._error()

    def _call(
        self, kind: PointKind, name: str, metadata: dict[str, Any] | None, call_id: str | None
    ) -> None:
        md = metadata or {}
        ns = md.get("langgraph_checkpoint_ns")
        ns = ns if isinstance(ns, str) else ""
        with self._lock:
            sticky = (ns, kind, name, call_id or "")
            if sticky in self._sticky:
                raise self._error()
            count = self._counts.get(sticky, 0) + 1
            self._counts[sticky] = count
            task = self._tasks.get(ns, ())
            seen = Seen(
                (*task, (1, kind, name, call_id or "", count)),
                kind,
                name,
                "/".join(names_of(ns)),
                call_id,
            )
            self.seen.append(seen)
            if self._is_target(seen.key):
                self._sticky.add(sticky)
                raise self._error()

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A chat model call starts."""
        name = kwargs.get("name") or (serialized or {}).get("name") or "model"
        self._call("model", str(name), metadata, None)

    def on_tool_start(
        self,
        serialized: Any,
        input_str: str,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A tool call starts."""
        name = kwargs.get("name") or (serialized or {}).get("name") or "tool"
        call_id = kwargs.get("tool_call_id")
        self._call("tool", str(name), metadata, str(call_id) if call_id else None)

    # ------------------------------------------------------------------ the engine's seam

    def plan(self, key: int, timeout: float | None, config: Any) -> Fault | None:
        """``_engine.faults`` asks this before each attempt of a wrapped node."""
        md = (config or {}).get("metadata") or {}
        ns = md.get("langgraph_checkpoint_ns")
        if not isinstance(ns, str):
            return None
        with self._lock:
            seen = self._node_seen.get(ns)
            if (
                seen is not None
                and seen.timeout is None
                and timeout is not None
                and (names_of(ns)[:-1], seen.name) in self.wrapped
            ):
                seen.timeout = timeout  # the first attempt in a task is the node's own
            if ns != self._armed:
                return None
            if self._armed_key is None:
                self._armed_key = key
            elif key != self._armed_key:
                return None  # a call guarded inside the node (RunnerMiddleware)
            if self.hang:
                self.fired = True
                return Fault(limit=self.hang_limit)
            return Fault(error=self._error())
