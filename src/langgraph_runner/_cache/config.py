"""Validation of ``NodeCache`` fields (each error names the field) and its error reports."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from langgraph.cache.base import BaseCache
from langgraph.cache.redis import RedisCache

from langgraph_runner._cache.keys import CacheKey
from langgraph_runner._internal.durations import whole_seconds
from langgraph_runner._records.egress import egress_text
from langgraph_runner._records.logs import EventLogger, get_event_logger

__all__ = ["check_backend", "check_inputs", "check_names", "report", "ttl_seconds"]

_warned_round_trip: set[str] = set()


def ttl_seconds(ttl: object) -> int | None:
    return None if ttl is None else whole_seconds(ttl, "ttl", owner="NodeCache")


def check_inputs(inputs: object) -> tuple[str, ...] | None:
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


def check_backend(backend: object) -> None:
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


def check_names(field: str, names: object) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
        raise TypeError(f"NodeCache: {field} must be a list of names, got {names!r}")
    if not all(isinstance(name, str) and name for name in names):
        raise TypeError(f"NodeCache: {field} must be non-empty strings, got {names!r}")
    return tuple(names)


def report(events: EventLogger | None, key: CacheKey, operation: str, error: object) -> None:
    """Emit ``node.cache_error`` (sanitized); an uncacheable value warns once per node."""
    log = events if events is not None else get_event_logger()
    level = logging.WARNING
    if isinstance(error, str) and operation == "store":
        # An uncacheable value is a steady state, not an incident: warn once per node.
        level = logging.DEBUG if key.node in _warned_round_trip else logging.WARNING
        _warned_round_trip.add(key.node)
    if log.enabled(level):
        kind = {"error_type": type(error).__name__} if isinstance(error, BaseException) else {}
        error_text = egress_text(error)
        log.emit(
            level, "node.cache_error", node=key.node, operation=operation, error=error_text, **kind
        )
