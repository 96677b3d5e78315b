"""Re-run a thread's blocked nodes after fixing what made them fail.

A node wrapped with ``create_node(..., on_error="record")`` that fails for good
does not raise: it writes its error record and ``routing_flags={"blocked": True}``
and the graph goes on (usually to END or a handler, see ``route_on_blocked``).
LangGraph then has nothing left to run for the thread. ``rerun_blocked(graph,
config)`` is the "try again" button: it finds the nodes that set the flag (from
the thread's checkpoint history) and resumes the thread with LangGraph's own
``Command(update={"routing_flags": {"blocked": None}}, goto=[...nodes])``: one new
step that clears the flag and runs those nodes on the thread's current state,
after which the graph follows their edges as usual. Earlier error records stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langgraph.types import Command, StateSnapshot

__all__ = ["arerun_blocked", "ablocked_nodes", "blocked_nodes", "rerun_blocked"]

_FLAG = "blocked"


def _get(values: Any, key: str) -> Any:
    if isinstance(values, Mapping):
        return values.get(key)
    return getattr(values, key, None)


def _flag_set(values: Any) -> bool:
    flags = _get(values, "routing_flags")
    return bool(isinstance(flags, Mapping) and flags.get(_FLAG))


def _records(values: Any) -> list[Any]:
    errors = _get(values, "errors")
    return list(errors) if isinstance(errors, list) else []


class _Collector:
    """Walks checkpoints newest first to the newest one without the flag.

    The blocked nodes are those that set the flag since then: named by the error
    records added since (records carry the node's name), or, for a node that set
    the flag without a record, by its task's saved result.
    """

    def __init__(self, graph_nodes: Iterable[str]) -> None:
        self.graph_nodes = set(graph_nodes)
        self.latest: list[Any] | None = None
        self.baseline: list[Any] = []
        self.by_task: list[str] = []
        self.done = False

    def feed(self, snapshot: StateSnapshot) -> None:
        if self.latest is None:
            self.latest = _records(snapshot.values)
        for task in reversed(snapshot.tasks):
            if isinstance(task.result, Mapping) and _flag_set(task.result):
                self.by_task.insert(0, task.name)
        if not _flag_set(snapshot.values):
            self.baseline = _records(snapshot.values)
            self.done = True

    def result(self) -> list[str]:
        new = [r for r in self.latest or () if r not in self.baseline]
        named = [
            r.get("node")
            for r in new
            if isinstance(r, Mapping) and not r.get("recovered") and r.get("node")
        ]
        found = [n for n in (*named, *self.by_task) if n in self.graph_nodes]
        return list(dict.fromkeys(found))  # oldest failure first, each node once


def _check(graph: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    if getattr(graph, "checkpointer", None) in (None, False):
        raise ValueError("rerun_blocked: the graph must be compiled with a checkpointer")
    configurable = config.get("configurable") or {}
    if not configurable.get("thread_id"):
        raise ValueError("rerun_blocked: config must name the thread: configurable.thread_id")
    return dict(config)


def _collect(graph: Any, history: Iterable[StateSnapshot]) -> list[str]:
    collector = _Collector(graph.nodes)
    for snapshot in history:
        collector.feed(snapshot)
        if collector.done:
            break
    return collector.result()


def blocked_nodes(graph: Any, config: Mapping[str, Any]) -> list[str]:
    """The nodes whose recorded failure set the thread's ``blocked`` flag.

    Args:
        graph: A compiled graph with a checkpointer.
        config: The thread's config: ``{"configurable": {"thread_id": ...}}``.

    Returns:
        Node names, oldest failure first; empty when the flag is not set.
    """
    cfg = _check(graph, config)
    if not _flag_set(graph.get_state(cfg).values):
        return []
    return _collect(graph, graph.get_state_history(cfg))


async def ablocked_nodes(graph: Any, config: Mapping[str, Any]) -> list[str]:
    """Async ``blocked_nodes``, for graphs compiled with an async checkpointer."""
    cfg = _check(graph, config)
    if not _flag_set((await graph.aget_state(cfg)).values):
        return []
    collector = _Collector(graph.nodes)
    async for snapshot in graph.aget_state_history(cfg):
        collector.feed(snapshot)
        if collector.done:
            break
    return collector.result()


def _command(nodes: Sequence[str]) -> Command[Any]:
    return Command(update={"routing_flags": {_FLAG: None}}, goto=list(nodes))


def _pick(found: list[str], nodes: Sequence[str] | None) -> list[str]:
    if nodes is None:
        return found
    if isinstance(nodes, str):
        raise TypeError("rerun_blocked: nodes must be a list of node names, not a str")
    return list(dict.fromkeys(nodes))


def rerun_blocked(
    graph: Any,
    config: Mapping[str, Any],
    *,
    nodes: Sequence[str] | None = None,
    **invoke_kwargs: Any,
) -> Any:
    """Re-run the thread's blocked nodes from its latest checkpoint.

    Clears ``routing_flags["blocked"]`` and runs the nodes that set it, on the
    thread's current state, in one new step; the graph then follows their edges.
    Earlier error records are kept; a node that fails again adds its record and
    sets the flag again.

    Args:
        graph: A compiled graph with a checkpointer (SQLite, PostgreSQL, memory...).
        config: The thread's config: ``{"configurable": {"thread_id": ...}}``;
            callbacks and other run settings pass through to ``invoke``.
        nodes: The nodes to re-run; default: ``blocked_nodes(graph, config)``.
        **invoke_kwargs: Passed to ``graph.invoke`` (``context=``, ``durability=``...).

    Returns:
        What ``graph.invoke`` returns: the thread's new state. When nothing is
        blocked, nothing runs and the thread's current state is returned.

    Raises:
        ValueError: The graph has no checkpointer, or the config no thread_id.
    """
    cfg = _check(graph, config)
    snapshot = graph.get_state(cfg)
    found = _collect(graph, graph.get_state_history(cfg)) if _flag_set(snapshot.values) else []
    targets = _pick(found, nodes)
    if not targets:
        return snapshot.values
    return graph.invoke(_command(targets), cfg, **invoke_kwargs)


async def arerun_blocked(
    graph: Any,
    config: Mapping[str, Any],
    *,
    nodes: Sequence[str] | None = None,
    **invoke_kwargs: Any,
) -> Any:
    """Async ``rerun_blocked``: the same, with ``aget_state`` and ``ainvoke``."""
    cfg = _check(graph, config)
    found = await ablocked_nodes(graph, cfg)
    targets = _pick(found, nodes)
    if not targets:
        return (await graph.aget_state(cfg)).values
    return await graph.ainvoke(_command(targets), cfg, **invoke_kwargs)
