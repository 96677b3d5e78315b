"""Content-hash node cache: ``NodeCache`` config, canonical keys and backend I/O.

A key is the SHA-256 of canonical JSON (sorted keys, compact, UTF-8) of the node
name, a code version (``code_fingerprint(fn)`` unless ``version=`` is given), the
scope (plus the thread id for ``scope="thread"``) and the node's declared inputs.
Entries live in LangGraph's cache backends under ``("langgraph_runner", node)``,
wrapped in an envelope so a cached ``None`` differs from a miss. Backend trouble
never fails a node: it is a miss or a skipped store, and a ``node.cache_error`` event.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import enum
import functools
import hashlib
import inspect
import json
import logging
import threading
import types
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Literal, NamedTuple

from langgraph.cache.base import BaseCache, FullKey
from langgraph.cache.memory import InMemoryCache
from langgraph.cache.redis import RedisCache
from langgraph.cache.sqlite import SqliteCache
from pydantic import BaseModel

from langgraph_runner.classify import is_control_flow
from langgraph_runner.logs import EventLogger, get_event_logger
from langgraph_runner.sanitize import sanitize_message

__all__ = ["CacheKey", "CacheLookup", "NodeCache", "code_fingerprint", "default_backend"]

_PREFIX = "langgraph_runner"  # first element of every namespace: (_PREFIX, node)
_KEY_FORMAT = 1  # bump to invalidate every key if the canonical form ever changes
_ENVELOPE = "langgraph_runner_cache"
_TAG = "$lgr"  # marks canonical forms of non-JSON types so they cannot equal plain data
_ABSENT: Any = object()
_SCALARS = frozenset({str, int, float, bool, type(None)})  # exact types JSON encodes as they are
# These deserialize on every get, so each hit is already a fresh copy.
_COPYING_BACKENDS: tuple[type[Any], ...] = (InMemoryCache, SqliteCache, RedisCache)
_CODE_ATTRS = ("co_name", "co_code", "co_names", "co_varnames", "co_freevars")


class CacheKey(NamedTuple):
    """A cache entry's address; also a LangGraph ``FullKey`` ``(namespace, key)``."""

    namespace: tuple[str, ...]
    digest: str

    @property
    def node(self) -> str:
        """The node this key belongs to."""
        return self.namespace[-1]


class CacheLookup(NamedTuple):
    """Result of a lookup: ``hit`` tells a cached ``None`` from a miss."""

    hit: bool
    value: Any = None


_MISS = CacheLookup(False)


# --- canonical JSON ---------------------------------------------------------


class _Unhashable(Exception):
    def __init__(self, value: object) -> None:
        super().__init__()
        self.value = value
        self.path: list[str] = []  # innermost first


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canon(value: Any) -> Any:
    """Plain JSON data standing for ``value``, the same in every process."""
    cls = type(value)
    if cls in _SCALARS:
        return value
    if isinstance(value, enum.Enum):
        return _canon(value.value)
    if isinstance(value, (str, int, float)):
        return value  # json encodes subclasses through the base type
    if isinstance(value, Mapping):
        return _canon_mapping(value)
    if isinstance(value, (list, tuple)):
        out = []
        for i, item in enumerate(value):
            try:
                out.append(item if type(item) in _SCALARS else _canon(item))
            except _Unhashable as exc:
                exc.path.append(f"[{i}]")
                raise
        return out
    if isinstance(value, (set, frozenset)):
        return {_TAG: "set", "v": sorted((_canon(v) for v in value), key=_dumps)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {_TAG: "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (datetime, date, time)):
        return {_TAG: cls.__name__, "v": value.isoformat()}
    if isinstance(value, timedelta):
        return {_TAG: "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, (Decimal, uuid.UUID, PurePath)):
        return {_TAG: cls.__name__, "v": str(value)}
    if isinstance(value, BaseModel):
        try:
            return _canon_mapping(value.model_dump(mode="python"))
        except _Unhashable:
            raise
        except Exception as exc:  # a pydantic serializer error; no node code runs here
            raise _Unhashable(value) from exc
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _canon_mapping({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    raise _Unhashable(value)


def _canon_mapping(value: Mapping[Any, Any]) -> Any:
    out = {}
    for k, v in value.items():
        if type(k) is not str:
            return _canon_pairs(value)
        try:
            out[k] = v if type(v) in _SCALARS else _canon(v)
        except _Unhashable as exc:
            exc.path.append(f".{k}")
            raise
    return out


def _canon_pairs(value: Mapping[Any, Any]) -> Any:
    # Non-str keys: a sorted pair list, so {1: x} and {"1": x} stay distinct.
    pairs = []
    for k, v in value.items():
        try:
            pairs.append([_canon(k), _canon(v)])
        except _Unhashable as exc:
            exc.path.append(f"[{k!r}]")
            raise
    return {_TAG: "map", "v": sorted(pairs, key=_dumps)}


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


# --- code fingerprint -------------------------------------------------------


def _code_target(fn: Any) -> Any:
    while True:
        fn = inspect.unwrap(fn)
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif isinstance(fn, types.MethodType):
            fn = fn.__func__
        else:
            break
    if inspect.isfunction(fn) or inspect.isclass(fn) or inspect.isbuiltin(fn):
        return fn
    return type(fn)  # a callable object: its class holds the code


def _code_struct(code: types.CodeType) -> tuple[Any, ...]:
    consts = tuple(_const_struct(c) for c in code.co_consts)
    flags = code.co_flags & 0xFFFF  # drop CO_FUTURE_* bits: they follow the compiling module
    return (*(getattr(code, attr) for attr in _CODE_ATTRS), flags, consts)


def _const_struct(const: Any) -> Any:
    if isinstance(const, types.CodeType):
        return ("code", _code_struct(const))
    if isinstance(const, tuple):
        return ("tuple", tuple(_const_struct(c) for c in const))
    if isinstance(const, frozenset):  # iteration order depends on hash randomization
        return ("frozenset", tuple(sorted(repr(_const_struct(c)) for c in const)))
    return const


def code_fingerprint(fn: Callable[..., Any]) -> str:
    """A SHA-256 fingerprint of the code ``fn`` runs, stable across processes.

    ``__wrapped__``, ``functools.partial`` and bound methods are followed to the
    real function; a callable object is fingerprinted by its class. The source text
    is hashed, so any edit (comments too) changes it. Without source (a lambda typed
    into a REPL, ``exec``'d code) the code object is hashed (bytecode, constants,
    names); a builtin is identified by its qualified name. Closure values, partial
    arguments, globals and called helpers are not seen: use ``NodeCache(version=)``.

    Args:
        fn: The node function or callable.

    Returns:
        A 64-character hex digest.
    """
    target = _code_target(fn)
    try:
        data = b"source\0" + inspect.getsource(target).encode("utf-8", "surrogatepass")
    except (OSError, TypeError):
        code = getattr(target.__call__ if inspect.isclass(target) else target, "__code__", None)
        if isinstance(code, types.CodeType):
            data = b"code\0" + repr(_code_struct(code)).encode("utf-8", "surrogatepass")
        else:
            name = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"
            data = b"name\0" + name.encode()
    return hashlib.sha256(data).hexdigest()


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
        try:
            if self.inputs is None:
                selected = _canon(state)
            else:
                selected = {}
                for name in self.inputs:
                    value = _select(state, name, node)
                    try:
                        if value is not _ABSENT:
                            selected[name] = _canon(value)
                    except _Unhashable as exc:
                        exc.path.append(name)
                        raise
        except _Unhashable as exc:
            where = "".join(reversed(exc.path)).lstrip(".") or "<input>"
            raise TypeError(
                f"node {node!r}: cache input {where!r} holds a {type(exc.value).__name__}, "
                "which has no canonical JSON form; leave it out of NodeCache(inputs=...) "
                "or keep JSON data in the state"
            ) from None
        except RecursionError:
            raise TypeError(f"node {node!r}: cache input is cyclic or nested too deeply") from None
        document = {
            "format": _KEY_FORMAT,
            "node": node,
            "code": ["version", self.version] if self.version else ["source", fingerprint],
            "scope": self.scope,
            "thread": thread_id if self.scope == "thread" else None,
            "fields": sorted(self.inputs) if self.inputs is not None else None,
            "inputs": selected,
        }
        text = _dumps(document).encode("utf-8", "surrogatepass")
        return CacheKey((_PREFIX, node), hashlib.sha256(text).hexdigest())

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
            self.resolved_backend.clear([(_PREFIX, node) for node in nodes])


def _blocks_loop(backend: BaseCache[Any]) -> bool:
    # RedisCache.aget/aset call the sync client on the event loop.
    return isinstance(backend, RedisCache) and type(backend).aget is RedisCache.aget
