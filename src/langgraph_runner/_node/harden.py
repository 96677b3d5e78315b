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
from typing import Any, TypeVar, get_type_hints, overload

from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from typing_extensions import TypedDict, Unpack

from langgraph_runner._internal.compat import (
    RunnableCallable,
    add_schema,
    copy_builder,
    error_handler_node,
    node_defaults,
)
from langgraph_runner._node.agent_model import is_agent_model, with_error_message
from langgraph_runner._node.async_path import with_async_path
from langgraph_runner._node.calls import harden_tool_node
from langgraph_runner._node.factory import NodeOptions, create_node, is_wrapped, node_factory
from langgraph_runner._node.invalid_answer import letting_invalid_answers_out
from langgraph_runner._state.added import RecordChannels

__all__ = ["harden"]

G = TypeVar("G", bound=StateGraph[Any, Any, Any, Any])


def _same(fn: Any) -> Any:
    return fn


def _target(runnable: Any) -> Any:
    """What to wrap: the function behind LangGraph's own function shell, else the Runnable."""
    if type(runnable) is RunnableCallable:
        return runnable.func if runnable.func is not None else runnable.afunc
    return runnable


# What compile() makes from the builder; every other attribute of a compiled graph
# (checkpointer, store, cache, interrupts, name, debug, config, stream transformers,
# policies, and whatever LangChain or LangGraph add later) is kept as it was.
_FROM_BUILDER = frozenset(
    {
        "builder",
        "nodes",
        "channels",
        "input_channels",
        "output_channels",
        "stream_channels",
        "trigger_to_nodes",
        "node_error_handler_map",
        "schema_to_mapper",
        "_serde_allowlist",
        "_output_mapper",
        "_state_mapper",
    }
)


@overload
def harden(
    builder: CompiledStateGraph[Any, Any, Any, Any],
    /,
    *,
    overrides: Mapping[str, NodeOptions | None] | None = None,
    **defaults: Unpack[NodeOptions],
) -> CompiledStateGraph[Any, Any, Any, Any]: ...


@overload
def harden(
    builder: G,
    /,
    *,
    overrides: Mapping[str, NodeOptions | None] | None = None,
    **defaults: Unpack[NodeOptions],
) -> G: ...


def harden(
    builder: Any,
    /,
    *,
    overrides: Mapping[str, NodeOptions | None] | None = None,
    **defaults: Unpack[NodeOptions],
) -> Any:
    """Wrap every node of a graph with ``create_node``: a builder, or a compiled graph.

    Nodes already made with ``create_node`` are left as they are. What the app had
    keeps working as it did:

    - A ``ToolNode`` is hardened per tool call: a failed call is retried alone,
      the parallel calls that succeeded keep their results, and a call that fails
      terminally is answered with an error ``ToolMessage`` for its call id
      (``status="error"``, redacted text) plus its record (``recovered``). A
      ``fallback`` option hardens the whole ToolNode as one node instead.
    - A node with a LangGraph ``error_handler`` or ``retry_policy`` gets
      ``on_error="raise"`` and, with a ``retry_policy``, none of our retries
      (LangGraph's stay in charge), unless its options say otherwise; asking for
      ``retry`` there multiplies the attempts (a ``node.retry_multiplied``
      warning when it happens).
    - A node with a ``cache_policy`` gets ``on_error="raise"``: a recorded
      failure is an ordinary update, which LangGraph would cache and serve again.
    - A compiled subgraph node (a sub-agent) is hardened inside, node by node,
      with the same options; the node around it does not retry (that would run
      every inner model and tool call again). A ``fallback`` option wraps it
      whole instead.

    Args:
        builder: A ``StateGraph`` that is not compiled yet (changed in place), or
            a compiled graph (``compile()``, ``create_agent``,
            ``create_react_agent``; left as it is).
        overrides: Node name -> ``create_node`` options for that node, merged
            over ``defaults``; ``None`` leaves that node unwrapped.
        **defaults: Any ``create_node`` keyword except ``name``, for every node.

    Returns:
        The builder itself, so ``harden(builder, retry=3).compile()`` reads well;
        for a compiled graph, a new compiled graph from a hardened copy of its
        builder with the same checkpointer, store, cache, interrupts, name, debug
        flag and config, and the ``errors``/``routing_flags`` channels added when
        its state had none.

    Raises:
        TypeError: Not a ``StateGraph`` nor a compiled one, or an unknown option.
        ValueError: ``builder`` was already compiled, ``overrides`` names a node
            the graph does not have, an option has a wrong value, or a node with a
            ``cache_policy`` is asked for ``on_error="record"``.
    """
    if isinstance(builder, CompiledStateGraph):
        return _harden_compiled(builder, overrides, defaults)
    if not isinstance(builder, StateGraph):
        raise TypeError(
            "harden: builder must be a StateGraph or a compiled graph, "
            f"got {type(builder).__name__}"
        )
    if builder.compiled:
        raise ValueError(
            "harden: the builder was already compiled; harden it before compile(), "
            "or pass the compiled graph (harden returns a hardened recompiled copy)"
        )
    _harden_nodes(builder, overrides, defaults)
    return builder


def _harden_nodes(
    builder: StateGraph[Any, Any, Any, Any],
    overrides: Mapping[str, NodeOptions | None] | None,
    defaults: Mapping[str, Any],
) -> None:
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(builder.nodes))
    if unknown:
        raise ValueError(
            f"harden: overrides name unknown node(s) {', '.join(map(repr, unknown))}; "
            f"the graph has {', '.join(map(repr, sorted(builder.nodes)))}"
        )
    node_factory(**defaults)  # validates the defaults once, with errors naming the option
    for name, spec in list(builder.nodes.items()):
        if spec.is_error_handler or is_wrapped(spec.runnable) or _is_hardened(spec.runnable):
            continue
        if name in overrides and overrides[name] is None:
            continue
        own: Mapping[str, Any] = overrides.get(name) or {}
        options: dict[str, Any] = {**defaults, **own}
        if "name" in options:
            raise TypeError(f"harden: 'name' cannot be set for node {name!r} (it is {name!r})")
        if spec.error_handler_node is not None:
            options.setdefault("on_error", "raise")
        if spec.retry_policy is not None:
            options["on_error"] = own.get("on_error", "raise")
            if "retry" not in own:
                options["retry"] = None
        if spec.cache_policy is not None:
            if own.get("on_error") == "record":
                raise ValueError(
                    f"harden: node {name!r} has a cache_policy: a recorded failure would be "
                    "cached and served again; use on_error='raise' or NodeCache"
                )
            options["on_error"] = "raise"
        try:
            node = _harden_one(name, spec.runnable, options)
        except (TypeError, ValueError) as err:
            raise type(err)(f"harden: node {name!r}: {err}") from err
        builder.nodes[name] = dataclasses.replace(spec, runnable=node)


def _is_hardened(runnable: Any) -> bool:
    return bool(getattr(runnable, "_langgraph_runner_hardened", False))


def _harden_one(name: str, runnable: Any, options: dict[str, Any]) -> Any:
    from langgraph.prebuilt import ToolNode

    if isinstance(runnable, ToolNode) and options.get("fallback") is None:
        options.pop("fallback", None)
        node = harden_tool_node(runnable, name, options)
        node._langgraph_runner_hardened = True
        return node
    if isinstance(runnable, CompiledStateGraph) and options.get("fallback") is None:
        # A subgraph (a sub-agent): its own nodes are hardened, each retried alone; the
        # node around it keeps the rest (timeout, records of what escapes it, the
        # boundary) but does not retry: that would run every inner call again.
        options.pop("fallback", None)
        inner = _harden_compiled(runnable, None, options)
        return create_node(inner, **{**options, "retry": None})
    target = _target(runnable)

    def build(prepare: Any = _same) -> Any:
        return with_async_path(create_node(prepare(target), **options), runnable, options, prepare)

    # An agent's structured answer that does not validate leaves as it would bare.
    node = letting_invalid_answers_out(build) if is_agent_model(target) else build()
    if is_agent_model(target) and options.get("on_error", "record") == "record":
        # A recorded model failure ends the agent with an error AIMessage (its router
        # reads the last message), as RunnerMiddleware does.
        node = with_error_message(node)
    return node


def _copy_builder(builder: StateGraph[Any, Any, Any, Any]) -> StateGraph[Any, Any, Any, Any]:
    """A copy that compiling or hardening does not share with the original."""
    new = copy_builder(builder)
    new.nodes = {name: dataclasses.replace(spec) for name, spec in builder.nodes.items()}
    new.compiled = False
    defaults = node_defaults(builder)
    if defaults is not None and defaults.error_handler is not None:
        new.nodes.pop(error_handler_node(), None)  # compile() adds its handler node again
    return new


def _with_records(output: Any) -> Any:
    """The output schema plus the record channels, when it is a TypedDict without them."""
    if not isinstance(output, type) or not hasattr(output, "__total__"):
        return output
    try:
        hints = get_type_hints(output, include_extras=True)
    except Exception:  # unresolvable annotations: keep the output as it was
        return output
    if "errors" in hints:
        return output
    fields = {**hints, **get_type_hints(RecordChannels, include_extras=True)}
    return TypedDict(output.__name__, fields, total=False)  # type: ignore[operator]


def _interrupts(nodes: Any) -> Any:
    return nodes if nodes == "*" else list(nodes)


def _harden_compiled(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    overrides: Mapping[str, NodeOptions | None] | None,
    defaults: Mapping[str, Any],
) -> CompiledStateGraph[Any, Any, Any, Any]:
    builder = _copy_builder(graph.builder)
    if "errors" not in builder.channels or "routing_flags" not in builder.channels:
        add_schema(builder, RecordChannels)
        output = _with_records(builder.output_schema)
        if output is not builder.output_schema:
            add_schema(builder, output)
            builder.output_schema = output
    _harden_nodes(builder, overrides, defaults)
    hardened = builder.compile(
        checkpointer=graph.checkpointer,
        cache=graph.cache,
        store=graph.store,
        interrupt_before=_interrupts(graph.interrupt_before_nodes),
        interrupt_after=_interrupts(graph.interrupt_after_nodes),
        debug=graph.debug,
        name=graph.name,
    )
    for attr, value in vars(graph).items():
        if attr not in _FROM_BUILDER:
            setattr(hardened, attr, value)
    return hardened
