"""Cache keys: canonical JSON of a node's inputs, hashed with its name and code version.

A key is the SHA-256 of canonical JSON (sorted keys, compact, UTF-8) of a document
holding the node name, a code version (``code_fingerprint(fn)`` unless a version
string is given), the scope (plus the thread id for thread scope), the graph the
node runs in (or a namespace the user names), the declared field names and the
canonical form of their values, and what else the node sees (configurable values,
runtime context) and the run's tenant when it has one (unless the cache is shared
across tenants). Canonical forms come from ``_cache_canon``.
``NodeCache.key`` is the usual entry point.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from pydantic import BaseModel

from langgraph_runner._cache.canon import Unhashable, canon, dumps
from langgraph_runner._cache.fingerprint import code_fingerprint

__all__ = ["CacheKey", "KEY_NAMESPACE", "cache_key", "code_fingerprint"]

KEY_NAMESPACE = "langgraph_runner"
"""First element of every key's namespace ``(KEY_NAMESPACE, node)``."""

_KEY_FORMAT = 3  # bump to invalidate every key if the canonical form ever changes
_ABSENT: Any = object()


class CacheKey(NamedTuple):
    """A cache entry's address; also a LangGraph ``FullKey`` ``(namespace, key)``."""

    namespace: tuple[str, ...]
    digest: str

    @property
    def node(self) -> str:
        """The node this key belongs to."""
        return self.namespace[-1]


def _select(state: Any, name: str, node: str) -> Any:
    if isinstance(state, Mapping):
        return state.get(name, _ABSENT)  # an unset channel is absent, which differs from None
    if isinstance(state, BaseModel):
        if name in type(state).model_fields or name in (state.model_extra or {}):
            return getattr(state, name)
    elif dataclasses.is_dataclass(state) and not isinstance(state, type):
        if any(f.name == name for f in dataclasses.fields(state)):
            return getattr(state, name)
    else:
        raise TypeError(
            f"node {node!r}: NodeCache(inputs=...) cannot select fields from a "
            f"{type(state).__name__} input; use inputs=None"
        )
    # On a typed input a misspelt name would silently never change the key.
    raise ValueError(f"node {node!r}: cache input {name!r} is not a field of {type(state)}")


# --- the key ------------------------------------------------------------------


def _selected(node: str, state: Any, inputs: Sequence[str] | None) -> Any:
    try:
        if inputs is None:
            return canon(state)
        selected = {}
        for name in inputs:
            value = _select(state, name, node)
            try:
                if value is not _ABSENT:
                    selected[name] = canon(value)
            except Unhashable as exc:
                exc.path.append(name)
                raise
        return selected
    except Unhashable as exc:
        where = "".join(reversed(exc.path)).lstrip(".") or "<input>"
        raise TypeError(
            f"node {node!r}: cache input {where!r} holds a {type(exc.value).__name__}, "
            "which has no canonical JSON form; leave it out of NodeCache(inputs=...) "
            "or keep JSON data in the state"
        ) from None
    except RecursionError:
        raise TypeError(f"node {node!r}: cache input is cyclic or nested too deeply") from None


def cache_key(
    node: str,
    state: Any,
    *,
    inputs: Sequence[str] | None,
    fingerprint: str,
    version: str | None = None,
    thread_id: str | None = None,
    graph: str | None = None,
    sees: Mapping[str, Any] | None = None,
    tenant: str | None = None,
) -> CacheKey:
    """The key for one call of ``node`` on ``state``.

    Args:
        node: The node name (also the namespace).
        state: The node input: a dict, pydantic model, dataclass or ``Send``
            payload (any other type only with ``inputs=None``). A declared field
            missing from a dict is absent, which differs from ``None``.
        inputs: The declared field names; ``None`` hashes the whole input.
        fingerprint: ``code_fingerprint(fn)``; ignored when ``version`` is set.
        version: A code version that replaces the fingerprint.
        thread_id: Keys by thread (thread scope) when given; ``None`` is global.
        graph: The graph (or user-named namespace) the entry belongs to; ``None``
            outside a graph.
        sees: Canonical data of what else the node sees (configurable values,
            runtime context), from ``_cache_scope.node_sees``.
        tenant: The run's tenant: keys are per tenant when given; ``None`` (no
            tenant, or a cache shared across tenants) leaves it out.

    Returns:
        The key, usable as a LangGraph ``FullKey``.

    Raises:
        TypeError: An input value has no canonical JSON form (the message names
            the node and the field path), or fields cannot be selected from ``state``.
        ValueError: A declared input that is not a field of a pydantic model or
            dataclass input.
    """
    document = {
        "format": _KEY_FORMAT,
        "node": node,
        "code": ["version", version] if version else ["source", fingerprint],
        "scope": "thread" if thread_id is not None else "global",
        "thread": thread_id,
        "fields": sorted(inputs) if inputs is not None else None,
        "inputs": _selected(node, state, inputs),
        "graph": graph,
        "sees": dict(sees) if sees else None,
    }
    if tenant is not None:  # only then: keys of runs without a tenant stay as they were
        document["tenant"] = tenant
    text = dumps(document).encode("utf-8", "surrogatepass")
    return CacheKey((KEY_NAMESPACE, node), hashlib.sha256(text).hexdigest())
