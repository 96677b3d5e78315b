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

Map-reduce: a node that ran as a ``Send`` task failed on one item, not on the
state. Its failed tasks are found in the step that ran them, with their ``Send``
argument read back from that step's checkpoint, and re-sent as they were
(``Send(node, arg)``: TypedDict and pydantic payloads alike); the items that
finished keep their results. ``failed_items`` lists them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langgraph.types import Command, Send, StateSnapshot

from langgraph_runner._internal.compat import PUSH, TASKS
from langgraph_runner._policies.context import TENANT_KEY
from langgraph_runner._records.items import item_summary
from langgraph_runner._runs.tenancy import NO_TENANT, aadmit, admit, aowner, config_tenant, owner

__all__ = [
    "follow_input",
    "FailedItem",
    "ablocked_nodes",
    "afailed_items",
    "arerun_blocked",
    "blocked_nodes",
    "failed_items",
    "rerun_blocked",
    "rerun_command",
]

_FLAG = "blocked"


@dataclasses.dataclass(frozen=True)
class FailedItem:
    """A ``Send`` task whose recorded failure blocked the thread.

    Attributes:
        task_id: LangGraph's id of the task.
        node: The ``Send`` target.
        summary: The record's ``send_item`` (the argument, redacted and capped at
            ``SUMMARY_MAX`` characters, or ``arg[item_key]`` for a node given
            ``item_key=``), or ``arg[key]`` when ``failed_items`` was given a key.
        record: The task's error record.
        arg: The ``Send`` argument itself, as the checkpoint kept it.
    """

    task_id: str
    node: str
    summary: str
    record: dict[str, Any] | None
    arg: Any = dataclasses.field(repr=False)


def _summary(arg: Any, key: str | None, record: Any) -> str:
    # The record of a Send task says what it failed on (send_item, summarized when it
    # failed, by the node's item_key); a key asked for here is read from the argument.
    if key is None and isinstance(record, Mapping) and isinstance(record.get("send_item"), str):
        return str(record["send_item"])
    return item_summary(arg, key)


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
        self.pushed: list[tuple[StateSnapshot, Any]] = []  # (step, failed Send task)
        self.done = False

    def feed(self, snapshot: StateSnapshot) -> None:
        if self.latest is None:
            self.latest = _records(snapshot.values)
        for task in reversed(snapshot.tasks):
            if isinstance(task.result, Mapping) and _flag_set(task.result):
                if task.path and task.path[0] == PUSH:
                    self.pushed.insert(0, (snapshot, task))
                else:
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
        found += [task.name for _, task in self.pushed]
        return list(dict.fromkeys(found))  # oldest failure first, each node once

    def items(self, sends: Any, key: str | None) -> list[FailedItem]:
        """The failed Send tasks, with their arguments from ``sends(snapshot)``."""
        out = []
        for snapshot, task in self.pushed:
            queued = sends(snapshot)
            index = task.path[1] if len(task.path) > 1 else None
            if not isinstance(index, int) or not 0 <= index < len(queued):
                continue
            send = queued[index]
            if not isinstance(send, Send) or send.node != task.name:
                continue
            records = _records(task.result)
            record = records[-1] if records else None
            out.append(
                FailedItem(
                    task_id=task.id,
                    node=task.name,
                    summary=_summary(send.arg, key, record),
                    record=record,
                    arg=send.arg,
                )
            )
        return out

    def missing(self) -> set[str]:
        """Recorded nodes with neither a flagged task nor a failed Send task seen."""
        seen = {task.name for _, task in self.pushed} | set(self.by_task)
        return {n for n in self.result() if n not in seen}

    def look_back(self, snapshot: StateSnapshot, missing: set[str]) -> bool:
        """Take ``missing`` nodes' failed Send tasks from an older step; True when done."""
        for task in snapshot.tasks:
            if task.name not in missing:
                continue
            if not (task.path and task.path[0] == PUSH):
                missing.discard(task.name)  # it ran on the state: a plain node
            elif isinstance(task.result, Mapping) and _flag_set(task.result):
                self.pushed.append((snapshot, task))
        found = {task.name for snap, task in self.pushed if snap is snapshot}
        missing -= found
        return not missing

    def plain(self) -> list[str]:
        """Blocked nodes that did not run as Send tasks (re-run on the state)."""
        sent = {task.name for _, task in self.pushed}
        return [n for n in self.result() if n not in sent]


def _check(graph: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    if getattr(graph, "checkpointer", None) in (None, False):
        raise ValueError("rerun_blocked: the graph must be compiled with a checkpointer")
    configurable = config.get("configurable") or {}
    if not configurable.get("thread_id"):
        raise ValueError("rerun_blocked: config must name the thread: configurable.thread_id")
    return dict(config)


def _latest_tenant(snapshot: StateSnapshot) -> str:
    tenant = (snapshot.metadata or {}).get(TENANT_KEY)
    return NO_TENANT if tenant is None else str(tenant)


def _foreign(graph: Any, cfg: Mapping[str, Any], snapshot: StateSnapshot) -> bool:
    """Whether a read for the config's tenant must see the thread as missing."""
    tenant = config_tenant(cfg, owner="blocked_nodes")
    if tenant is None:  # the operator's view
        return False
    found = owner(graph.checkpointer, str(cfg["configurable"]["thread_id"]))
    return (_latest_tenant(snapshot) if found is None else found) != tenant


async def _aforeign(graph: Any, cfg: Mapping[str, Any], snapshot: StateSnapshot) -> bool:
    tenant = config_tenant(cfg, owner="blocked_nodes")
    if tenant is None:
        return False
    found = await aowner(graph.checkpointer, str(cfg["configurable"]["thread_id"]))
    return (_latest_tenant(snapshot) if found is None else found) != tenant


def _walk(graph: Any, history: Iterable[StateSnapshot]) -> _Collector:
    collector = _Collector(graph.nodes)
    snapshots = iter(history)
    for snapshot in snapshots:
        collector.feed(snapshot)
        if collector.done:
            break
    missing = collector.missing()
    for snapshot in snapshots if missing else ():
        # Re-sent items that failed again ran from a Command, whose Send tasks the
        # history does not list: the items are those that failed when first sent.
        if collector.look_back(snapshot, missing):
            break
    return collector


def _collect(graph: Any, history: Iterable[StateSnapshot]) -> list[str]:
    return _walk(graph, history).result()


def _sends(graph: Any) -> Any:
    def read(snapshot: StateSnapshot) -> list[Any]:
        saved = graph.checkpointer.get_tuple(snapshot.config)
        return list((saved.checkpoint["channel_values"] if saved else {}).get(TASKS) or [])

    return read


def failed_items(
    graph: Any, config: Mapping[str, Any], *, key: str | None = None
) -> list[FailedItem]:
    """The ``Send`` tasks (map-reduce items) whose recorded failure blocked the thread.

    Args:
        graph: A compiled graph with a checkpointer.
        config: The thread's config: ``{"configurable": {"thread_id": ...}}``; with a
            ``tenant_id``, another tenant's thread lists nothing, as a missing one.
        key: Summarize each item by ``arg[key]`` (or ``arg.key``) instead of the
            whole argument.

    Returns:
        One ``FailedItem`` per failed task, in the order they were sent; empty
        when the flag is not set.
    """
    cfg = _check(graph, config)
    snapshot = graph.get_state(cfg)
    if not _flag_set(snapshot.values) or _foreign(graph, cfg, snapshot):
        return []
    return _walk(graph, graph.get_state_history(cfg)).items(_sends(graph), key)


async def afailed_items(
    graph: Any, config: Mapping[str, Any], *, key: str | None = None
) -> list[FailedItem]:
    """Async ``failed_items``, for graphs compiled with an async checkpointer."""
    cfg = _check(graph, config)
    snapshot = await graph.aget_state(cfg)
    if not _flag_set(snapshot.values) or await _aforeign(graph, cfg, snapshot):
        return []
    collector = _Collector(graph.nodes)
    history = graph.aget_state_history(cfg)
    async for snapshot in history:
        collector.feed(snapshot)
        if collector.done:
            break
    missing = collector.missing()
    if missing:
        async for snapshot in history:
            if collector.look_back(snapshot, missing):
                break
    saved = {}
    for snapshot, _ in collector.pushed:
        found = await graph.checkpointer.aget_tuple(snapshot.config)
        values = found.checkpoint["channel_values"] if found else {}
        saved[id(snapshot)] = list(values.get(TASKS) or [])
    return collector.items(lambda snap: saved.get(id(snap), []), key)


def blocked_nodes(graph: Any, config: Mapping[str, Any]) -> list[str]:
    """The nodes whose recorded failure set the thread's ``blocked`` flag.

    Args:
        graph: A compiled graph with a checkpointer.
        config: The thread's config: ``{"configurable": {"thread_id": ...}}``; with a
            ``tenant_id``, another tenant's thread lists nothing, as a missing one.

    Returns:
        Node names, oldest failure first; empty when the flag is not set.
    """
    cfg = _check(graph, config)
    snapshot = graph.get_state(cfg)
    if not _flag_set(snapshot.values) or _foreign(graph, cfg, snapshot):
        return []
    return _collect(graph, graph.get_state_history(cfg))


async def ablocked_nodes(graph: Any, config: Mapping[str, Any]) -> list[str]:
    """Async ``blocked_nodes``, for graphs compiled with an async checkpointer."""
    cfg = _check(graph, config)
    latest = await graph.aget_state(cfg)
    if not _flag_set(latest.values) or await _aforeign(graph, cfg, latest):
        return []
    collector = _Collector(graph.nodes)
    async for snapshot in graph.aget_state_history(cfg):
        collector.feed(snapshot)
        if collector.done:
            break
    return collector.result()


def _command(nodes: Sequence[Any]) -> Command[Any]:
    return Command(update={"routing_flags": {_FLAG: None}}, goto=list(nodes))


def _targets(collector: _Collector, items: list[FailedItem], nodes: Sequence[str] | None) -> Any:
    """What to run again: Send tasks re-sent with their argument, other nodes on the state."""
    if nodes is not None:
        return _pick([], nodes)
    return [*collector.plain(), *(Send(item.node, item.arg) for item in items)]


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
        ThreadNotFoundError: The thread belongs to another tenant than the config's
            ``tenant_id`` (a thread belongs to the tenant, or no tenant, that first ran it).
    """
    cfg = _check(graph, config)
    tenant = config_tenant(cfg, owner="rerun_blocked")
    admit(graph.checkpointer, str(cfg["configurable"]["thread_id"]), tenant, None)
    command = rerun_command(graph, cfg, nodes=nodes)
    if command is None:
        return graph.get_state(cfg).values
    return graph.invoke(command, cfg, **invoke_kwargs)


def rerun_command(
    graph: Any, config: Mapping[str, Any], *, nodes: Sequence[str] | None = None
) -> Any | None:
    """The ``Command`` that re-runs the thread's blocked nodes (what ``rerun_blocked``
    invokes), for a caller that runs it itself (``run()``); None when nothing is blocked."""
    cfg = _check(graph, config)
    if nodes is not None:
        targets: list[Any] = _pick([], nodes)
    elif _flag_set(graph.get_state(cfg).values):
        collector = _walk(graph, graph.get_state_history(cfg))
        targets = _targets(collector, collector.items(_sends(graph), None), None)
    else:
        targets = []
    return _command(targets) if targets else None


async def arerun_blocked(
    graph: Any,
    config: Mapping[str, Any],
    *,
    nodes: Sequence[str] | None = None,
    **invoke_kwargs: Any,
) -> Any:
    """Async ``rerun_blocked``: the same, with ``aget_state`` and ``ainvoke``."""
    cfg = _check(graph, config)
    tenant = config_tenant(cfg, owner="arerun_blocked")
    await aadmit(graph.checkpointer, str(cfg["configurable"]["thread_id"]), tenant, None)
    if nodes is not None:
        targets: list[Any] = _pick([], nodes)
    else:
        found = await ablocked_nodes(graph, cfg)
        items = await afailed_items(graph, cfg) if found else []
        sent = {item.node for item in items}
        targets = [n for n in found if n not in sent] + [Send(i.node, i.arg) for i in items]
    if not targets:
        return (await graph.aget_state(cfg)).values
    return await graph.ainvoke(_command(targets), cfg, **invoke_kwargs)


def follow_input(graph: Any, config: Any, follow: Mapping[str, Any]) -> Any:
    """What a run that continues its thread starts with: the answer to its interrupt
    (``{"kind": "resume", "value": ...}``), the blocked nodes' re-run, or nothing (None:
    on from the last checkpoint)."""
    if follow.get("kind") == "resume":
        return Command(resume=follow.get("value"))
    return rerun_command(graph, config)  # None when nothing is blocked
