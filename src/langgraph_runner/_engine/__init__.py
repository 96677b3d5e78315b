"""The engine behind ``create_node``. Private: not part of the public API.

Imports flow one way, top to bottom (the ``engine-layers`` contract in
pyproject.toml); nothing imports a module above it. Outside the engine only
``_node.factory`` (``build``, ``is_wrapped``, the option checks), the testing
kit (the no-wait switch in ``waits``, the sweep's ``faults``) and
``langgraph_runner.temporal`` (the activity body in ``temporal``) import it.

Modules::

    __init__         build(fn, **options) -> the node LangGraph gets
    activity         a node as a Temporal activity body (langgraph_runner.temporal only)
    crossing         messages and Commands back from Temporal's plain data (pure functions)
    runnables        a Runnable node (ToolNode, a chain, a subgraph): invoke/ainvoke shells
    adapters         _SyncNode/_AsyncNode: Runnable shells that look like fn
    cached           make_entries: the loops, with the cache's lookup and store around them
    loop             one call, top-down: attempts, retries, waits, success, its end, spans
    finish           a failure with a fallback, on_failure or callbacks: Failure, outcome
    attempt          one attempt: plain | breaker-only | guarded; its failure told (breaker, run)
    policy           after a failure: Retry or the ending exception (Retrier + no_wait switch)
    waits            retry waits (abort ends them, drain polled)
    nowait           the process-wide switch of testing.no_wait()
    hooks            user hooks that can never break a node (sync or async, own limit)
    call             Call: one call's clocks, signals, context, metrics sink; emit(); injection
    records          a failure's sanitized record, node.failed line, update or exception
    gate             an attempt's config gated by its Progress: heartbeats, idle limit, muting
    streamed         the ids of tokens a failed attempt streamed (the discarded_message event)
    spec             NodeSpec: every option validated once, frozen (build_spec)
    node_options     NodeOptions: create_node's keyword options, written once (a TypedDict)
    faults           the testing kit's fault plan, asked before each attempt while a sweep runs

Below the engine sit the concept subpackages it uses (``_policies``, ``_limits``,
``_cache``, ``_state``, ``_records``, ``metrics``) and the leaves in ``_internal``
(``compat`` for LangGraph's private API, ``durations``). See ARCHITECTURE.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from langchain_core.runnables import Runnable
from typing_extensions import Unpack

from langgraph_runner._engine.adapters import wrap
from langgraph_runner._engine.cached import make_entries
from langgraph_runner._engine.node_options import NodeOptions
from langgraph_runner._engine.runnables import build_runnable, is_runnable_node
from langgraph_runner._engine.spec import build_spec

__all__ = ["build"]


def build(fn: Callable[..., Any] | Runnable[Any, Any], /, **options: Unpack[NodeOptions]) -> Any:
    """Validate ``options`` (``create_node``'s keywords) and build the node for ``fn``."""
    if is_runnable_node(fn):
        return build_runnable(fn, **options)
    fn = cast("Callable[..., Any]", fn)
    spec = build_spec(fn, **options)
    run, arun = make_entries(spec)
    node = wrap(fn, spec.name, spec.is_async, run, arun)
    node.langgraph_runner_spec = spec  # read by rebuild.plan (cache inputs and version)
    return node
