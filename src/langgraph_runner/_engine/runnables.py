"""Runnables as nodes: ToolNode, LCEL chains, compiled subgraphs, any ``Runnable``.

A compiled subgraph's records reach the parent graph named by their path
(``child/inner``): renamed in its output, and added to the update of a hand-off
with ``Command(graph=Command.PARENT)``, which would otherwise leave them behind.

A Runnable is not a function the engine can call with injected keywords, so it
gets two small functions of its own, ``(state, config) -> runnable.invoke`` and
``-> runnable.ainvoke``, each driven by the same loop as a function node (one
spec: the same retry, timeout, breaker, cache, metrics and records). The config
LangGraph hands the node goes to the Runnable as it is, so callbacks, every
stream mode, ``interrupt()`` inside it, a subgraph's checkpoint namespace and a
ToolNode's own error handling behave as they would unwrapped.

The Runnable sits in the closure of both functions: LangGraph's subgraph
discovery (which reads a node function's captured values) still finds a compiled
graph wrapped this way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeGuard

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs
from langgraph.errors import ParentCommand
from langgraph.pregel import Pregel
from typing_extensions import Unpack

from langgraph_runner._engine.adapters import _SyncNode, wrap
from langgraph_runner._engine.cached import make_entries
from langgraph_runner._engine.node_options import NodeOptions
from langgraph_runner._engine.spec import build_spec
from langgraph_runner._internal import compat as _compat

__all__ = ["build_runnable", "is_runnable_node", "is_wrapped"]


def is_wrapped(node: object) -> bool:
    """Whether ``node`` was built by ``create_node``."""
    return isinstance(node, _SyncNode)


def is_runnable_node(fn: object) -> TypeGuard[Runnable[Any, Any]]:
    """Whether ``create_node`` should call ``fn`` as a Runnable (``invoke``/``ainvoke``).

    LangGraph's own function shell (``RunnableCallable``) and nodes we built are
    Runnables that are also callables; they keep the function path.
    """
    return isinstance(fn, Runnable) and not callable(fn)


def _name_of(runnable: Runnable[Any, Any]) -> str:
    try:
        return str(runnable.get_name())
    except Exception:  # a Runnable with an exotic name property
        return type(runnable).__name__


def _names(ns: str) -> list[str]:
    """Node names of a checkpoint namespace (``a:<task>|b:<task>`` -> ``[a, b]``)."""
    return [part.split(":", 1)[0] for part in ns.split("|") if part] if ns else []


class _Records(BaseCallbackHandler):
    """Collects the records wrapped nodes inside a subgraph write (their failure runs)."""

    run_inline = True

    def __init__(self) -> None:
        self.found: list[tuple[dict[str, Any], list[str]]] = []

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not (name and name.endswith(":failed") and isinstance(inputs, dict)):
            return
        record = inputs.get("record")
        if isinstance(record, dict):
            ns = (metadata or {}).get("langgraph_checkpoint_ns") or ""
            self.found.append((record, _names(str(ns))))


def _key(record: dict[str, Any]) -> tuple[Any, ...]:
    """A record's identity whatever a subgraph boundary renamed it to."""
    return tuple((k, repr(v)) for k, v in record.items() if k != "node")


class _Seen:
    """One subgraph call: the records its nodes wrote, and where (the namespace path).

    A record is named ``<this node>/<...>/<node>`` as seen from this graph. Records
    that come back in the subgraph's output are renamed so; on a hand-off with
    ``Command(graph=Command.PARENT)`` (which would lose them: the subgraph's state
    is left behind) they are added to the command's update, with the ``blocked``
    flag when one of them was not recovered.
    """

    __slots__ = ("config", "depth", "handler")

    def __init__(self, config: RunnableConfig) -> None:
        self.handler = _Records()
        ns = str((config.get("configurable") or {}).get(_compat.CONFIG_KEY_CHECKPOINT_NS) or "")
        self.depth = max(len(_names(ns)) - 1, 0)  # this node's own depth in the tree
        self.config = merge_configs(config, {"callbacks": [self.handler]})

    def _renamed(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        pairs = []
        for record, names in self.handler.found:
            path = names[self.depth :]
            if not path or path[-1] != record.get("node"):
                path = [*path, str(record.get("node"))]
            pairs.append((record, {**record, "node": "/".join(path)}))
        return pairs

    def out(self, result: Any) -> Any:
        if not self.handler.found or not isinstance(result, dict):
            return result
        errors = result.get("errors")
        if not isinstance(errors, list):
            return result
        paths = {_key(old): new for old, new in self._renamed()}
        renamed = [paths.get(_key(r), r) if isinstance(r, dict) else r for r in errors]
        return {**result, "errors": renamed}

    def handoff(self, exc: ParentCommand) -> ParentCommand:
        if not self.handler.found:
            return exc
        command = exc.args[0]
        records = [new for _, new in self._renamed()]
        update = command.update
        extra: dict[str, Any] = {"errors": records}
        if any(not r.get("recovered") for r in records):
            extra["routing_flags"] = {"blocked": True}
        if update is None:
            merged: Any = extra
        elif isinstance(update, dict):
            merged = {**update}
            merged["errors"] = [*(update.get("errors") or []), *records]
            if "routing_flags" in extra:
                merged["routing_flags"] = {**(update.get("routing_flags") or {}), "blocked": True}
        else:  # a list of (key, value) pairs
            merged = [*update, *extra.items()]
        return ParentCommand(dataclasses.replace(command, update=merged))


def build_runnable(runnable: Runnable[Any, Any], /, **options: Unpack[NodeOptions]) -> Any:
    """The node for a Runnable: sync calls go to ``invoke``, async ones to ``ainvoke``."""

    if isinstance(runnable, Pregel):
        # A subgraph: its records reach this graph, named by where they happened.
        def invoke(state: Any, config: RunnableConfig) -> Any:
            seen = _Seen(config)
            try:
                return seen.out(runnable.invoke(state, seen.config))
            except ParentCommand as handoff:
                raise seen.handoff(handoff) from None

        async def ainvoke(state: Any, config: RunnableConfig) -> Any:
            seen = _Seen(config)
            try:
                return seen.out(await runnable.ainvoke(state, seen.config))
            except ParentCommand as handoff:
                raise seen.handoff(handoff) from None

    else:

        def invoke(state: Any, config: RunnableConfig) -> Any:
            return runnable.invoke(state, config)

        async def ainvoke(state: Any, config: RunnableConfig) -> Any:
            return await runnable.ainvoke(state, config)

    cache = options.get("cache")
    if cache is not None and getattr(cache, "version", None) is None:
        # The code fingerprint reads a function's source; a Runnable's prompts, tools
        # and model settings are not in it, so a change would keep serving old results.
        raise ValueError(
            "create_node: cache on a Runnable needs NodeCache(version=...): its code "
            "cannot be fingerprinted; bump the version when the Runnable changes"
        )
    label = _name_of(runnable)
    for shell in (invoke, ainvoke):
        shell.__name__ = label
        shell.__qualname__ = label
        shell.__module__ = type(runnable).__module__
        shell.__doc__ = type(runnable).__doc__
    spec = build_spec(invoke, **options)
    aspec = dataclasses.replace(
        spec,
        fn=ainvoke if spec.limits is None else spec.limits.wrap(ainvoke),
        is_async=True,
        accepts=_compat.func_accepts(ainvoke),
    )
    run, _ = make_entries(spec)
    _, arun = make_entries(aspec)
    node = wrap(invoke, spec.name, False, run, arun)
    node.langgraph_runner_async_spec = aspec  # read by the Temporal activity body
    # Drawn as the Runnable is: get_graph() JSON names a node without __name__ (a
    # compiled subgraph, a ToolNode) by its class path.
    node.__module__ = type(runnable).__module__
    node.__name__ = type(runnable).__name__
    tools = getattr(runnable, "tools_by_name", None)
    if isinstance(tools, Mapping) and tools:  # a ToolNode: drawings list its tools (__tools)
        node.tools_by_name = tools
    return node
