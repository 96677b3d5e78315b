"""``harden``: wrap every node of an existing ``StateGraph`` builder in one call.

An app that already exists does not have to touch each ``add_node``::

    builder = StateGraph(State)
    builder.add_node("agent", call_model)
    builder.add_node("tools", ToolNode(tools))
    ...
    harden(builder, retry=3, timeout=30, overrides={"tools": {"retry": 5}})
    graph = builder.compile(checkpointer=saver)

Functions, Runnables (``ToolNode``, LCEL chains, compiled subgraphs) and prebuilt
nodes all go through ``create_node`` with the same defaults, so a failure in any
of them reaches the same records, hooks and metrics. What LangGraph knows of each
node (input schema, ``retry_policy``, ``cache_policy``, destinations, ``defer``,
metadata, error handler) is kept as it was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from langgraph._internal._runnable import RunnableCallable
from langgraph.graph import StateGraph
from typing_extensions import Unpack

from langgraph_runner._node.factory import NodeOptions, create_node, is_wrapped, node_factory

__all__ = ["harden"]

G = TypeVar("G", bound=StateGraph[Any, Any, Any, Any])


def _target(runnable: Any) -> Any:
    """What to wrap: the function behind LangGraph's own function shell, else the Runnable."""
    if type(runnable) is RunnableCallable:
        return runnable.func if runnable.func is not None else runnable.afunc
    return runnable


def harden(
    builder: G,
    /,
    *,
    overrides: Mapping[str, NodeOptions | None] | None = None,
    **defaults: Unpack[NodeOptions],
) -> G:
    """Wrap every node of ``builder`` with ``create_node`` before it is compiled.

    Nodes already made with ``create_node`` are left as they are. A node that has
    a LangGraph ``error_handler`` gets ``on_error="raise"`` (unless its options say
    otherwise), so its handler still runs after our retries.

    Args:
        builder: A ``StateGraph`` that is not compiled yet; changed in place.
        overrides: Node name -> ``create_node`` options for that node, merged
            over ``defaults``; ``None`` leaves that node unwrapped.
        **defaults: Any ``create_node`` keyword except ``name``, for every node.

    Returns:
        ``builder`` itself, so ``harden(builder, retry=3).compile()`` reads well.

    Raises:
        TypeError: ``builder`` is not a ``StateGraph``, or an unknown option.
        ValueError: ``builder`` was already compiled, ``overrides`` names a node
            the graph does not have, or an option has a wrong value.
    """
    if not isinstance(builder, StateGraph):
        raise TypeError(f"harden: builder must be a StateGraph, got {type(builder).__name__}")
    if builder.compiled:
        raise ValueError(
            "harden: the builder was already compiled; harden it before compile() "
            "(a compiled graph keeps the nodes it was compiled with)"
        )
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(builder.nodes))
    if unknown:
        raise ValueError(
            f"harden: overrides name unknown node(s) {', '.join(map(repr, unknown))}; "
            f"the graph has {', '.join(map(repr, sorted(builder.nodes)))}"
        )
    node_factory(**defaults)  # validates the defaults once, with errors naming the option
    for name, spec in list(builder.nodes.items()):
        if spec.is_error_handler or is_wrapped(spec.runnable):
            continue
        if name in overrides and overrides[name] is None:
            continue
        options: NodeOptions = {**defaults, **(overrides.get(name) or {})}
        if "name" in options:
            raise TypeError(f"harden: 'name' cannot be set for node {name!r} (it is {name!r})")
        if spec.error_handler_node is not None:
            options.setdefault("on_error", "raise")
        try:
            node = create_node(_target(spec.runnable), **options)
        except (TypeError, ValueError) as err:
            raise type(err)(f"harden: node {name!r}: {err}") from err
        builder.nodes[name] = dataclasses.replace(spec, runnable=node)
    return builder
