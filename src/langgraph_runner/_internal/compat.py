"""Every use of LangGraph's private API, in one place.

Each helper mirrors what LangGraph itself does (checked against langgraph 1.2.15 to 1.2.22);
tests/internal/test_compat.py fails loudly if an upgrade moves or changes any of them.

- ``RunnableCallable``: the Runnable LangGraph builds for function nodes. Sync
  nodes are returned as a subclass so LangGraph uses our own async path under
  ``ainvoke`` (a plain sync function would run in an executor thread that
  cancellation never reaches), while ``find_subgraph_pregel`` still inspects it.
  That subclass's ``invoke``/``ainvoke`` call our runner directly, doing what
  ``RunnableCallable`` does for a ``trace=False`` callable without extra kwargs
  (pass ``config``, recurse into a returned Runnable).
- ``func_accepts``: which of config/runtime/store/writer/... a function declares,
  by LangGraph's own injection rules.
- The scratchpad's interrupt counter, reset between attempts like
  ``langgraph.pregel._retry._reset_interrupt_counter`` so a retried node that
  called ``interrupt()`` reuses its resume values instead of asking again.
- ``default_retry_on``: LangGraph's own retry predicate (``retry_on="langgraph"``).
- ``CONF``, ``CONFIG_KEY_RUNTIME``, ``CONFIG_KEY_READ``, ``CONFIG_KEY_CHECKPOINT_NS``:
  where LangGraph keeps a task's runtime object, channel reader and checkpoint
  namespace in its config; the reader is ``partial(local_read, ..., channels, ...)``,
  whose channels tell which state keys the graph has (``missing_channels``).
- ``CONFIG_KEY_TASK_ID``, ``PUSH``: a task's id in its config, and the trigger a
  ``Send`` task's ``metadata["langgraph_triggers"]`` holds (``send_task_of``).
- ``StreamMessagesHandler``: the callback handler LangGraph adds to a run's
  inheritable handlers when it streams ``messages`` (``streams_messages``).
- ``CONTROL_WRITES``, ``ERROR``, ``INTERRUPT``, ``NULL_TASK_ID``, ``PULL``, ``TASKS``
  and ``task_id``: the reserved write channels and the deterministic task ids
  (``langgraph.pregel._algo``) with which a stored checkpoint is read without the
  graph (``_runs.checkpoint_tasks``, ``_rebuild.rerun``).
- ``node_defaults``, ``add_schema``, ``error_handler_node``, ``copy_builder``: a
  ``StateGraph`` builder's default node policies, schema registration, the name of the
  error handler node ``compile()`` adds, and a copy sharing none of its containers
  (``_node.harden`` copies a compiled graph's builder, ``temporal`` the plugin's).
- ``saver_cursor``: a PostgreSQL saver's own ``_cursor`` (how it opens each
  statement's cursor), for the savers ``_runs.pg_savers`` keeps it for (one connection,
  pipeline mode); on a pool they replace it with ``_db.cursor``, which opens what it
  opens (the test checks its signature).
- ``tool_node_parts``, ``copy_injected_args``: the settings of a ``ToolNode`` that
  its constructor does not expose again (``_node.calls`` rebuilds one).
- ``wrap_checkpoint_ids``: the function LangGraph names each new checkpoint with
  (``langgraph.pregel._checkpoint.uuid6``), wrapped so that a run's Temporal workflow
  names them (``_temporal.checkpoint_ids``: the same ids on a replay).
"""

from __future__ import annotations

import binascii
import contextlib
import copy
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any, NamedTuple

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config

SUPPORTED_LANGGRAPH = ">=1.2.15,<1.3"
"""The LangGraph releases this shim is checked against (pyproject pins the same range)."""

try:
    from langgraph._internal._config import patch_configurable
    from langgraph._internal._constants import (
        CONF,
        CONFIG_KEY_CHECKPOINT_NS,
        CONFIG_KEY_NODE_ERROR,
        CONFIG_KEY_READ,
        CONFIG_KEY_RESUMING,
        CONFIG_KEY_RUNTIME,
        CONFIG_KEY_SCRATCHPAD,
        CONFIG_KEY_TASK_ID,
        ERROR,
        ERROR_SOURCE_NODE,
        INTERRUPT,
        NULL_TASK_ID,
        PULL,
        PUSH,
        RESUME,
        TASKS,
    )
    from langgraph._internal._retry import default_retry_on
    from langgraph._internal._runnable import RunnableCallable, is_async_callable
    from langgraph.errors import EmptyChannelError, is_invalid_resume
    from langgraph.graph import StateGraph
    from langgraph.pregel._algo import LazyAtomicCounter, local_read
    from langgraph.pregel._messages import StreamMessagesHandler
except ImportError as exc:  # pragma: no cover - tests/internal/test_compat.py, in a subprocess
    from importlib.metadata import PackageNotFoundError, version

    try:
        _installed = version("langgraph")
    except PackageNotFoundError:
        _installed = "unknown"
    raise ImportError(
        f"langgraph_runner needs LangGraph {SUPPORTED_LANGGRAPH}, but the installed LangGraph "
        f"{_installed} moved or removed {exc.name or 'a private helper'} ({exc}). Install a "
        f'supported release: pip install "langgraph{SUPPORTED_LANGGRAPH}"'
    ) from exc

__all__ = [
    "CONF",
    "CONFIG_KEY_CHECKPOINT_NS",
    "CONFIG_KEY_READ",
    "CONFIG_KEY_RUNTIME",
    "CONFIG_KEY_TASK_ID",
    "CONTROL_WRITES",
    "ERROR",
    "INTERRUPT",
    "NULL_TASK_ID",
    "PULL",
    "PUSH",
    "SUPPORTED_LANGGRAPH",
    "TASKS",
    "RunnableCallable",
    "ToolNodeParts",
    "add_schema",
    "config_for_retry",
    "copy_builder",
    "copy_injected_args",
    "default_retry_on",
    "error_handler_node",
    "func_accepts",
    "is_async_callable",
    "is_invalid_resume",
    "missing_channels",
    "node_defaults",
    "node_error_of",
    "runtime_of",
    "saver_cursor",
    "send_task_of",
    "streams_messages",
    "task_id",
    "tool_node_parts",
    "use_config",
    "with_runtime",
    "wrap_checkpoint_ids",
]

CONTROL_WRITES = frozenset((ERROR, ERROR_SOURCE_NODE, INTERRUPT, RESUME))
"""Writes that say what happened to a task; any other write is output, so the task
finished (the rule of ``langgraph.pregel._task_status``)."""


def func_accepts(fn: Callable[..., Any]) -> dict[str, tuple[str, Any]]:
    """The keyword arguments LangGraph would inject into ``fn``: name -> (runtime attr, default)."""
    return dict(RunnableCallable(fn, trace=False).func_accepts)


def runtime_of(config: RunnableConfig | None) -> Any:
    """The ``langgraph.runtime.Runtime`` of the running task, or None outside a graph."""
    if not config:
        return None
    return (config.get(CONF) or {}).get(CONFIG_KEY_RUNTIME)


def with_runtime(config: RunnableConfig, runtime: Any) -> RunnableConfig:
    """A copy of ``config`` whose task runtime (``get_runtime()``, injection) is ``runtime``."""
    return patch_configurable(config, {CONFIG_KEY_RUNTIME: runtime})


def node_error_of(config: RunnableConfig | None) -> Any:
    """The ``langgraph.errors.NodeError`` LangGraph hands to an error_handler node, if any."""
    if not config:
        return None
    return (config.get(CONF) or {}).get(CONFIG_KEY_NODE_ERROR)


def config_for_retry(config: RunnableConfig | None) -> RunnableConfig | None:
    """A config for the next attempt: interrupt counter reset, subgraphs told to resume."""
    if not config:
        return config
    conf = config.get(CONF) or {}
    patch: dict[str, Any] = {CONFIG_KEY_RESUMING: True}
    scratchpad = conf.get(CONFIG_KEY_SCRATCHPAD)
    if scratchpad is not None:
        patch[CONFIG_KEY_SCRATCHPAD] = replace(scratchpad, interrupt_counter=LazyAtomicCounter())
    return patch_configurable(config, patch)


class _ConfigScope:
    """Sets LangGraph's config context variable for a ``with`` block.

    A class rather than ``@contextmanager``: it runs around every guarded attempt,
    and a generator-based manager costs about 1 us more there.
    """

    __slots__ = ("_config", "_token")

    def __init__(self, config: RunnableConfig) -> None:
        self._config = config

    def __enter__(self) -> None:
        self._token = var_child_runnable_config.set(self._config)

    def __exit__(self, *exc_info: object) -> None:
        var_child_runnable_config.reset(self._token)


_UNCHANGED: contextlib.nullcontext[None] = contextlib.nullcontext()


def use_config(config: RunnableConfig | None) -> contextlib.AbstractContextManager[None]:
    """Make ``config`` what ``langgraph.config.get_config()`` (and so ``interrupt()``) sees.

    With None the current config is left as it is.
    """
    return _UNCHANGED if config is None else _ConfigScope(config)


def send_task_of(config: RunnableConfig | None) -> tuple[str | None, str] | None:
    """``(task_id, node)`` when the task of ``config`` runs a ``Send`` (a PUSH task), else None.

    LangGraph gives a PUSH task ``metadata["langgraph_triggers"] == ("__pregel_push",)``
    (``prepare_push_task_send``), the target as ``langgraph_node`` and its id under
    ``configurable["__pregel_task_id"]``.
    """
    metadata = config.get("metadata") if config else None
    if not metadata:
        return None
    triggers = metadata.get("langgraph_triggers")
    if not triggers or triggers[0] != PUSH or len(triggers) != 1:
        return None
    conf = config.get(CONF) if config else None
    task_id = conf.get(CONFIG_KEY_TASK_ID) if conf else None
    node = metadata.get("langgraph_node")
    return (str(task_id) if task_id else None), str(node) if node else ""


def streams_messages(config: RunnableConfig | None) -> bool:
    """Whether the run of ``config`` streams ``messages`` (LangGraph's handler is attached).

    ``Pregel.stream`` adds a ``StreamMessagesHandler`` to the run's inheritable
    handlers, so every task's ``config["callbacks"]`` (a callback manager) has it.
    """
    callbacks = config.get("callbacks") if config else None
    if callbacks is None:
        return False
    handlers = callbacks if isinstance(callbacks, list) else getattr(callbacks, "handlers", None)
    if not handlers:
        return False
    return any(isinstance(handler, StreamMessagesHandler) for handler in handlers)


def missing_channels(config: RunnableConfig | None, names: tuple[str, ...]) -> tuple[str, ...]:
    """Which of ``names`` the running graph has no state channel for.

    Empty when all exist, or when we are not inside a graph (nothing to check).
    """
    read = (config.get(CONF) or {}).get(CONFIG_KEY_READ) if config else None
    if read is None:
        return ()
    # LangGraph's reader is partial(local_read, scratchpad, channels, managed, task): a
    # name it cannot read is one missing from ``channels``. Looked up there, nothing is
    # read (the errors channel's value is not copied on every failure).
    if read.__class__ is partial and read.func is local_read and type(read.args[1]) is dict:
        channels = read.args[1]
        for name in names:
            if name not in channels:
                break
        else:
            return ()
    missing: list[str] = []
    for name in names:
        try:
            read(name)
        except EmptyChannelError:
            continue
        except KeyError:
            missing.append(name)
    return tuple(missing)


def task_id(checkpoint_id: str, version: int, *parts: str) -> str:
    """The id LangGraph gives a task of the checkpoint ``checkpoint_id`` (format ``version``).

    ``parts`` are what ``langgraph.pregel._algo.prepare_single_task`` hashes after the
    checkpoint id: namespace, step, node name, ``PULL``/``PUSH`` and the triggers or index.
    """
    from langgraph.pregel._algo import _uuid5_str, _xxhash_str

    make = _xxhash_str if version > 1 else _uuid5_str
    return make(binascii.unhexlify(checkpoint_id.replace("-", "")), *parts)


def saver_cursor(saver_class: type[Any], saver: Any, *, pipeline: bool) -> Any:
    """``saver_class``'s own ``_cursor(pipeline=)`` for ``saver`` (a PostgreSQL saver of it)."""
    return saver_class._cursor(saver, pipeline=pipeline)


def node_defaults(builder: Any) -> Any:
    """A ``StateGraph`` builder's default node policies (``error_handler`` ...), or None."""
    return getattr(builder, "_node_defaults", None)


def add_schema(builder: Any, schema: type[Any]) -> None:
    """Register ``schema``'s channels on a ``StateGraph`` builder, as its constructor does."""
    builder._add_schema(schema)


def copy_builder(builder: StateGraph[Any, Any, Any, Any]) -> StateGraph[Any, Any, Any, Any]:
    """A shallow copy of a ``StateGraph`` builder that shares no container with it (its
    nodes, edges, branches, schemas and channels), so the copy's may be edited."""
    out = copy.copy(builder)
    out.nodes = dict(builder.nodes)
    out.edges = set(builder.edges)
    out.waiting_edges = set(builder.waiting_edges)
    out.branches = defaultdict(dict, {k: dict(v) for k, v in builder.branches.items()})
    out.schemas = dict(builder.schemas)
    out.channels = dict(builder.channels)
    out.managed = dict(builder.managed)
    return out


def error_handler_node() -> str:
    """The name of the node ``compile()`` adds for a builder-wide ``error_handler``."""
    from langgraph.graph.state import _DEFAULT_ERROR_HANDLER_NODE

    return str(_DEFAULT_ERROR_HANDLER_NODE)


class ToolNodeParts(NamedTuple):
    """The settings of a ``ToolNode`` that its constructor takes but it does not expose."""

    wrap_tool_call: Any
    awrap_tool_call: Any
    messages_key: str
    handle_tool_errors: Any


def tool_node_parts(tool_node: Any) -> ToolNodeParts:
    """What a copy of ``tool_node`` must be built with to behave like it."""
    return ToolNodeParts(
        tool_node._wrap_tool_call,
        tool_node._awrap_tool_call,
        tool_node._messages_key,
        tool_node._handle_tool_errors,
    )


def copy_injected_args(source: Any, target: Any) -> None:
    """Give the ``ToolNode`` ``target`` the injected-argument map of ``source``."""
    target._injected_args = dict(source._injected_args)


def wrap_checkpoint_ids(wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> bool:
    """Replace the function LangGraph names new checkpoints with by ``wrap(original)``,
    once per process (a wrapper marked ``_langgraph_runner_ids`` is kept); False where
    this LangGraph has no such function (its ids stay its own)."""
    import importlib

    module = importlib.import_module("langgraph.pregel._checkpoint")
    original = getattr(module, "uuid6", None)
    if original is None:
        return False
    if not getattr(original, "_langgraph_runner_ids", False):
        wrapped = wrap(original)
        setattr(wrapped, "_langgraph_runner_ids", True)  # noqa: B010 - a marker
        setattr(module, "uuid6", wrapped)  # noqa: B010 - a module attribute (mypy)
    return True
