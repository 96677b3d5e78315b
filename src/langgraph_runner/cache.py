"""``NodeCache``: the node cache config and its I/O against LangGraph's cache backends.

Keys come from ``langgraph_runner.cache_keys`` (canonical JSON of the declared
inputs, the node name and a code version, SHA-256). Entries live in LangGraph's
cache backends under ``("langgraph_runner", node)``, wrapped in an envelope so a
cached ``None`` differs from a miss. Backend trouble never fails a node: it is a
miss or a skipped store, and a ``node.cache_error`` event.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal, NamedTuple

from langgraph.cache.base import BaseCache, FullKey
from langgraph.cache.memory import InMemoryCache
from langgraph.cache.redis import RedisCache
from langgraph.cache.sqlite import SqliteCache

from langgraph_runner.cache_keys import KEY_NAMESPACE, CacheKey, cache_key, code_fingerprint
from langgraph_runner.classify import is_control_flow
from langgraph_runner.logs import EventLogger, get_event_logger
from langgraph_runner.sanitize import sanitize_message

__all__ = ["CacheKey", "CacheLookup", "NodeCache", "code_fingerprint", "default_backend"]

_ENVELOPE = "langgraph_runner_cache"
# These deserialize on every get, so each hit is already a fresh copy.
_COPYING_BACKENDS: tuple[type[Any], ...] = (InMemoryCache, SqliteCache, RedisCache)


class CacheLookup(NamedTuple):
    """Result of a lookup: ``hit`` tells a cached ``None`` from a miss."""

    hit: bool
    value: Any = None


_MISS = CacheLookup(False)


# --- default backend and reporting -----------------------------------------

_default_lock = threading.Lock()
_default: InMemoryCache[Any] | None = None
_warned_round_trip: set[str] = set()


def default_backend() -> InMemoryCache[Any]:
    """The process-wide ``InMemoryCache`` used when ``NodeCache(backend=None)``.

    Created on first use. It drops an entry only when a read finds it expired, so
    long-lived processes should set a ``ttl`` (or call ``NodeCache.clear``).
    """
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = InMemoryCache()
    return _default


def _report(events: EventLogger | None, key: CacheKey, operation: str, error: object) -> None:
    log = events if events is not None else get_event_logger()
    level = logging.WARNING
    if isinstance(error, str) and operation == "store":
        # An uncacheable value is a steady state, not an incident: warn once per node.
        level = logging.DEBUG if key.node in _warned_round_trip else logging.WARNING
        _warned_round_trip.add(key.node)
    if log.enabled(level):
        kind = {"error_type": type(error).__name__} if isinstance(error, BaseException) else {}
        error_text = sanitize_message(error)
        log.emit(
            level, "node.cache_error", node=key.node, operation=operation, error=error_text, **kind
        )


# --- config -----------------------------------------------------------------


def _ttl_seconds(ttl: object) -> int | None:
    if ttl is None:
        return None
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else ttl
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"NodeCache: ttl must be whole seconds (int or timedelta), got {ttl!r}")
    if isinstance(seconds, float) and not seconds.is_integer():
        raise ValueError(f"NodeCache: ttl must be whole seconds (backends take ints), got {ttl!r}")
    if seconds < 1:
        raise ValueError(f"NodeCache: ttl must be at least 1 second, got {ttl!r}")
    return int(seconds)


def _check_inputs(inputs: object) -> tuple[str, ...] | None:
    if inputs is None:
        return None
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence):
        raise TypeError(f"NodeCache: inputs must be a list of field names, got {inputs!r}")
    if not inputs:
        raise ValueError("NodeCache: inputs must name at least one field (or be None)")
    if not all(isinstance(name, str) and name for name in inputs):
        raise TypeError(f"NodeCache: inputs must be non-empty strings, got {inputs!r}")
    if len(set(inputs)) != len(inputs):
        raise ValueError(f"NodeCache: inputs has duplicates: {inputs!r}")
    return tuple(inputs)


def _check_backend(backend: object) -> None:
    if backend is not None and not isinstance(backend, BaseCache):
        raise TypeError(
            "NodeCache: backend must be a langgraph.cache BaseCache (InMemoryCache, SqliteCache, "
            f"RedisCache) or None, got {type(backend).__name__}"
        )
    client_module = type(getattr(backend, "redis", None)).__module__
    if isinstance(backend, RedisCache) and client_module.startswith("redis.asyncio"):
        raise TypeError(
            "NodeCache: backend RedisCache calls its client without awaiting: "
            "give it a sync redis.Redis, not redis.asyncio"
        )


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class NodeCache:
    """Cache a node's result under a hash of its inputs and code.

    Args:
        inputs: Names of the input fields the result depends on (stored as a
            tuple). ``None`` hashes the whole input, which rarely hits when the
            state keeps growing (messages, errors): declare the fields.
        ttl: Entry lifetime in whole seconds (int or timedelta; stored as int).
            ``None`` keeps entries until cleared.
        version: Code version used instead of ``code_fingerprint(fn)``; bump it when
            closure values, helpers or prompts change the result.
        scope: ``"global"`` shares entries across threads; ``"thread"`` also keys
            by ``configurable.thread_id``.
        backend: A LangGraph cache (``InMemoryCache``, ``SqliteCache``, ``RedisCache``
            with a sync client); ``None`` uses ``default_backend()``.

    Raises:
        TypeError: A field has the wrong type.
        ValueError: A field has a bad value.
    """

    inputs: Sequence[str] | None = None
    ttl: int | timedelta | None = None
    version: str | None = None
    scope: Literal["global", "thread"] = "global"
    backend: BaseCache[Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", _check_inputs(self.inputs))
        object.__setattr__(self, "ttl", _ttl_seconds(self.ttl))
        if self.version is not None and not isinstance(self.version, str):
            raise TypeError(f"NodeCache: version must be a str, got {self.version!r}")
        if self.version == "":
            raise ValueError("NodeCache: version must not be empty (use None for the source)")
        if self.scope not in ("global", "thread"):
            raise ValueError(f"NodeCache: scope must be 'global' or 'thread', got {self.scope!r}")
        _check_backend(self.backend)

    @property
    def ttl_seconds(self) -> int | None:
        """``ttl`` as the whole seconds handed to the backend."""
        return int(self.ttl.total_seconds()) if isinstance(self.ttl, timedelta) else self.ttl

    @property
    def resolved_backend(self) -> BaseCache[Any]:
        """``backend``, or the process-wide default cache."""
        return self.backend if self.backend is not None else default_backend()

    def key(self, node: str, state: Any, *, thread_id: str | None, fingerprint: str) -> CacheKey:
        """The cache key for one call of ``node`` on ``state``.

        Args:
            node: The node name (also the namespace).
            state: The node input: a dict, pydantic model, dataclass or ``Send``
                payload (any other type only with ``inputs=None``). A declared
                field missing from a dict is absent, which differs from ``None``.
            thread_id: ``configurable.thread_id``; required for ``scope="thread"``.
            fingerprint: ``code_fingerprint(fn)``, computed once per node; ignored
                when ``version`` is set.

        Returns:
            The key, usable as a LangGraph ``FullKey``.

        Raises:
            TypeError: An input value has no canonical JSON form (the message names
                the node and field), or fields cannot be selected from ``state``.
            ValueError: Thread scope without a thread id, or a declared input that
                is not a field of a pydantic model or dataclass input.
        """
        if self.scope == "thread" and not thread_id:
            raise ValueError(
                f"node {node!r}: NodeCache(scope='thread') needs a thread id; invoke with "
                "config={'configurable': {'thread_id': ...}}"
            )
        return cache_key(
            node,
            state,
            inputs=self.inputs,
            fingerprint=fingerprint,
            version=self.version,
            thread_id=thread_id if self.scope == "thread" else None,
        )

    # --- backend I/O: failures are reported and never reach the node ---

    def _failed(self, key: CacheKey, operation: str, exc: Exception, events: Any) -> None:
        if is_control_flow(exc):
            raise exc
        _report(events, key, operation, exc)

    def _unwrap(self, key: CacheKey, found: Mapping[Any, Any], events: Any) -> CacheLookup:
        if not found:
            return _MISS
        # SqliteCache rebuilds namespaces by splitting on ",": do not index by our key.
        entry = next(iter(found.values()))
        if not isinstance(entry, dict) or entry.get("format") != _ENVELOPE or "value" not in entry:
            _report(events, key, "lookup", "entry is not a langgraph_runner envelope")
            return _MISS
        if isinstance(self.resolved_backend, _COPYING_BACKENDS):
            return CacheLookup(True, entry["value"])
        try:  # a custom backend may hand out the stored object itself
            return CacheLookup(True, copy.deepcopy(entry["value"]))
        except Exception as exc:
            self._failed(key, "lookup", exc, events)
            return _MISS

    def _envelope(self, key: CacheKey, value: Any, events: Any) -> dict[str, Any] | None:
        envelope = {"format": _ENVELOPE, "value": value}
        serde = self.resolved_backend.serde
        try:
            if serde.loads_typed(serde.dumps_typed(envelope)) == envelope:
                return envelope
        except Exception as exc:
            self._failed(key, "store", exc, events)
            return None
        _report(events, key, "store", "value does not round-trip through the serializer")
        return None

    def lookup(self, key: CacheKey, *, events: EventLogger | None = None) -> CacheLookup:
        """Read an entry; a backend failure is reported and counts as a miss.

        Args:
            key: From ``key()``.
            events: Receives ``node.cache_error``; the default event logger if None.

        Returns:
            ``CacheLookup(hit, value)``; each hit returns a fresh copy.
        """
        try:
            found = self.resolved_backend.get([key])
        except Exception as exc:
            self._failed(key, "lookup", exc, events)
            return _MISS
        return self._unwrap(key, found, events)

    async def alookup(self, key: CacheKey, *, events: EventLogger | None = None) -> CacheLookup:
        """Async ``lookup``; backends that would block the event loop run in a thread."""
        backend = self.resolved_backend
        try:
            if _blocks_loop(backend):
                found = await asyncio.to_thread(backend.get, [key])
            else:
                found = await backend.aget([key])
        except Exception as exc:
            self._failed(key, "lookup", exc, events)
            return _MISS
        return self._unwrap(key, found, events)

    def store(self, key: CacheKey, value: Any, *, events: EventLogger | None = None) -> bool:
        """Write an entry with ``ttl``; never raises for backend or serializer trouble.

        A value that would not come back equal through the backend's serializer
        (tuples, user classes under ``LANGGRAPH_STRICT_MSGPACK``) is not stored.

        Returns:
            Whether the value was handed to the backend.
        """
        envelope = self._envelope(key, value, events)
        if envelope is None:
            return False
        try:
            self.resolved_backend.set({key: (envelope, self.ttl_seconds)})
        except Exception as exc:
            self._failed(key, "store", exc, events)
            return False
        return True

    async def astore(self, key: CacheKey, value: Any, *, events: EventLogger | None = None) -> bool:
        """Async ``store``; backends that would block the event loop run in a thread."""
        envelope = self._envelope(key, value, events)
        if envelope is None:
            return False
        backend = self.resolved_backend
        pairs: dict[FullKey, tuple[Any, int | None]] = {key: (envelope, self.ttl_seconds)}
        try:
            if _blocks_loop(backend):
                await asyncio.to_thread(backend.set, pairs)
            else:
                await backend.aset(pairs)
        except Exception as exc:
            self._failed(key, "store", exc, events)
            return False
        return True

    def clear(self, *nodes: str) -> None:
        """Delete every entry of the given nodes from the backend."""
        if nodes:
            self.resolved_backend.clear([(KEY_NAMESPACE, node) for node in nodes])


def _blocks_loop(backend: BaseCache[Any]) -> bool:
    # RedisCache.aget/aset call the sync client on the event loop.
    return isinstance(backend, RedisCache) and type(backend).aget is RedisCache.aget
