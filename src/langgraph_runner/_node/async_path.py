"""A hardened node keeps the async implementation LangGraph's node had.

LangChain's ``create_agent`` (and LangGraph's prebuilt nodes) give a node both a
sync and an async function (``RunnableCallable(model_node, amodel_node)``): under
``ainvoke``/``astream`` LangGraph runs the async one, which awaits the model's
``ainvoke`` and each middleware's ``awrap_model_call``. Wrapping only the sync
function would run that under ``ainvoke`` in a worker thread: sync models, sync
middleware hooks, and a ``NotImplementedError`` for middleware that is async
only. ``with_async_path`` makes the async entry of the hardened node wrap the
node's own async function, under the same options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.runnables.config import run_in_executor

from langgraph_runner._internal.compat import RunnableCallable
from langgraph_runner._node.factory import create_node

__all__ = ["native_async", "with_async_path"]


def native_async(runnable: Any) -> Any:
    """The async function of a LangGraph node that also has a sync one, else None.

    LangGraph's own async stand-in for a sync function (the function run in an
    executor) is not one: the engine runs sync attempts in a worker thread itself.
    """
    if type(runnable) is not RunnableCallable or runnable.func is None:
        return None
    afunc = runnable.afunc
    if afunc is None or getattr(afunc, "func", None) is run_in_executor:
        return None
    return afunc


def _same(fn: Any) -> Any:
    return fn


def with_async_path(
    node: Any,
    runnable: Any,
    options: Mapping[str, Any],
    prepare: Callable[[Any], Any] = _same,
) -> Any:
    """``node`` (``create_node`` of ``runnable.func``) whose async path runs ``runnable.afunc``.

    Args:
        node: The hardened sync function, as ``create_node`` made it.
        runnable: The node LangGraph had.
        options: The options ``node`` was made with.
        prepare: What ``node``'s function went through before ``create_node``; the
            async function goes through it too.

    Returns:
        ``node`` itself, its async entry replaced when ``runnable`` has its own
        async function.
    """
    afunc = native_async(runnable)
    if afunc is None or not hasattr(node, "_arun"):
        return node
    anode = create_node(prepare(afunc), **options)
    node._arun = anode._arun
    node.afunc = anode._arun
    node.langgraph_runner_async_spec = anode.langgraph_runner_spec  # the Temporal activity's
    return node
