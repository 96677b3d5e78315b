"""What a cache key must see besides the node's input: its graph, config and context.

- Graph identity: LangGraph hands every task a channel reader
  (``config["configurable"]["__pregel_read"]``, a ``functools.partial`` over the
  graph's channels). The sorted channel names (state keys plus one
  ``branch:to:<node>`` channel per node, ...) describe the graph's structure, are
  the same in every process, and differ between graphs with different nodes or
  state, so entries are scoped per graph without the user naming it.
- Config: a node that takes ``config`` may read any ``configurable`` value, so the
  JSON-able ones are keyed (LangGraph's internal ``__*`` keys, thread/checkpoint/
  run/task ids are not: they identify a run, not an input).
- Context: a node that takes ``runtime`` may read ``runtime.context``; it is keyed
  field by field (values with no canonical form are named in one warning).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from pydantic import BaseModel

from langgraph_runner._cache.canon import Unhashable, canon, dumps
from langgraph_runner._internal.compat import CONFIG_KEY_READ, CONFIG_KEY_RUNTIME

__all__ = ["IGNORED_CONFIGURABLE", "config_now", "graph_identity", "node_sees"]

_CONF = "configurable"
_READ = CONFIG_KEY_READ
_RUNTIME = CONFIG_KEY_RUNTIME

IGNORED_CONFIGURABLE = frozenset(
    {
        "thread_id",
        "checkpoint_id",
        "checkpoint_ns",
        "checkpoint_map",
        "run_id",
        "task_id",
        "abort_signal",  # langgraph_runner._policies.abort: a live object, not an input
        "langgraph_auth_user",  # the API server's user object; its id is keyed below
    }
)
"""``configurable`` keys that identify a run (or hold live objects) rather than an input:
never keyed. The API server's ``langgraph_auth_user_id`` is keyed like any value."""

_ABSENT = {"$lgr": "absent"}
_logger = logging.getLogger("langgraph_runner._cache.node_cache")
_warned: set[tuple[str, str]] = set()


def config_now(config: RunnableConfig | None) -> RunnableConfig | None:
    """``config``, or the config of the LangGraph task running now (None outside one)."""
    if config is not None:
        return config
    # What langgraph.config.get_config() reads, without its exception outside a task.
    return var_child_runnable_config.get()


def graph_identity(config: RunnableConfig | None) -> str | None:
    """A stable id of the graph running the task, from its channel names; None outside a graph."""
    if not config:
        return None
    conf: Mapping[str, Any] = cast("Mapping[str, Any]", config.get(_CONF) or {})
    read = conf.get(_READ)
    if not isinstance(read, functools.partial) or len(read.args) < 2:
        return None
    channels = read.args[1]
    if not isinstance(channels, Mapping):
        return None
    return _identity(tuple(channels))


@functools.lru_cache(maxsize=256)
def _identity(names: tuple[str, ...]) -> str:
    # Cached by the channel tuple: hashing it is far cheaper than sorting and digesting.
    return hashlib.sha256(dumps(sorted(map(str, names))).encode()).hexdigest()[:32]


def _warn_once(node: str, what: str, message: str) -> None:
    if (node, what) not in _warned:
        _warned.add((node, what))
        _logger.warning(message)


def _fields_of(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, BaseModel):
        return {name: getattr(value, name) for name in type(value).model_fields}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    attrs = getattr(value, "__dict__", None)
    return attrs if isinstance(attrs, dict) else None


def _declared(node: str, where: str, source: Any, names: Sequence[str]) -> dict[str, Any]:
    fields = _fields_of(source) if source is not None else {}
    out: dict[str, Any] = {}
    for name in names:
        value = fields.get(name, _ABSENT) if fields is not None else getattr(source, name, _ABSENT)
        try:
            out[name] = value if value is _ABSENT else canon(value)
        except (Unhashable, RecursionError):
            raise TypeError(
                f"node {node!r}: NodeCache({where}=...) names {name!r}, whose value (a "
                f"{type(value).__name__}) has no canonical JSON form"
            ) from None
    return out


def _keyable(node: str, where: str, fields: Mapping[Any, Any], skip: Collection[str]) -> Any:
    out: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in fields.items():
        if not isinstance(name, str) or name.startswith("__") or name in skip:
            continue
        try:
            out[name] = canon(value)
        except (Unhashable, RecursionError):
            dropped.append(name)
    if dropped:
        _warn_once(
            node,
            where,
            f"node {node!r}: cache keys leave out {where} values with no canonical form "
            f"{sorted(dropped)}; if the result depends on them, declare what it reads "
            "with NodeCache(key_config=..., key_context=...)",
        )
    return out


def _context_form(node: str, context: Any) -> Any:
    if context is None:
        return None
    try:
        return canon(context)
    except (Unhashable, RecursionError):
        pass
    fields = _fields_of(context)
    if fields is None:
        _warn_once(
            node,
            "context",
            f"node {node!r}: runtime.context ({type(context).__name__}) has no canonical "
            "form and is keyed by its type only; declare NodeCache(key_context=...)",
        )
        return {"$lgr": "opaque", "v": type(context).__qualname__}
    return {"type": type(context).__qualname__, "fields": _keyable(node, "context", fields, ())}


def node_sees(
    node: str,
    config: RunnableConfig | None,
    *,
    accepts: Collection[str] | None,
    key_config: Sequence[str] | None,
    key_context: Sequence[str] | None,
) -> dict[str, Any]:
    """Canonical data of the config and context the node may read.

    Args:
        node: The node name, for messages.
        config: The task's config.
        accepts: The parameters LangGraph injects into the node (``config``,
            ``runtime`` ...); ``None`` when unknown, which keys both.
        key_config: The ``configurable`` names the node declares it reads, or None.
        key_context: The ``runtime.context`` fields it declares it reads, or None.

    Returns:
        ``{"config": ..., "context": ...}`` with only the parts that apply.
    """
    conf: Mapping[str, Any] = {}
    if config:
        conf = cast("Mapping[str, Any]", config.get(_CONF) or {})
    runtime = conf.get(_RUNTIME)
    context = getattr(runtime, "context", None)
    sees: dict[str, Any] = {}
    if key_config is not None:
        sees["config"] = _declared(node, "key_config", conf, key_config)
    elif accepts is None or "config" in accepts:
        sees["config"] = _keyable(node, "config", conf, IGNORED_CONFIGURABLE)
    if key_context is not None:
        sees["context"] = _declared(node, "key_context", context, key_context)
    elif accepts is None or "runtime" in accepts:
        sees["context"] = _context_form(node, context)
    return {k: v for k, v in sees.items() if v not in (None, {})}
