"""Runnables as nodes: ToolNode, LCEL chains, compiled subgraphs, any ``Runnable``.

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
from typing import Any, TypeGuard

from langchain_core.runnables import Runnable, RunnableConfig
from typing_extensions import Unpack

from langgraph_runner._engine.adapters import _SyncNode, wrap
from langgraph_runner._engine.loop import make_entries
from langgraph_runner._engine.options import NodeOptions
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


def build_runnable(runnable: Runnable[Any, Any], /, **options: Unpack[NodeOptions]) -> Any:
    """The node for a Runnable: sync calls go to ``invoke``, async ones to ``ainvoke``."""

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
    return wrap(invoke, spec.name, False, run, arun)
