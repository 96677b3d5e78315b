"""Cache keys: canonical JSON of a node's inputs, hashed with its name and code version.

A key is the SHA-256 of canonical JSON (sorted keys, compact, UTF-8) of a document
holding the node name, a code version (``code_fingerprint(fn)`` unless a version
string is given), the scope (plus the thread id for thread scope), the declared
field names and the canonical form of their values. Canonical forms are plain JSON
data, identical in every process (no ``hash()``, no ``repr`` of objects); values
that are not JSON (sets, bytes, datetimes, models ...) get tagged forms that can
never equal plain data. ``NodeCache.key`` is the usual entry point.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import functools
import hashlib
import inspect
import json
import types
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any, NamedTuple

from pydantic import BaseModel

__all__ = ["CacheKey", "KEY_NAMESPACE", "cache_key", "code_fingerprint"]

KEY_NAMESPACE = "langgraph_runner"
"""First element of every key's namespace ``(KEY_NAMESPACE, node)``."""

_KEY_FORMAT = 1  # bump to invalidate every key if the canonical form ever changes
_TAG = "$lgr"  # marks canonical forms of non-JSON types so they cannot equal plain data
_ABSENT: Any = object()
_SCALARS = frozenset({str, int, float, bool, type(None)})  # exact types JSON encodes as they are
_CODE_ATTRS = ("co_name", "co_code", "co_names", "co_varnames", "co_freevars")


class CacheKey(NamedTuple):
    """A cache entry's address; also a LangGraph ``FullKey`` ``(namespace, key)``."""

    namespace: tuple[str, ...]
    digest: str

    @property
    def node(self) -> str:
        """The node this key belongs to."""
        return self.namespace[-1]


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


# --- the key ------------------------------------------------------------------


def _selected(node: str, state: Any, inputs: Sequence[str] | None) -> Any:
    try:
        if inputs is None:
            return _canon(state)
        selected = {}
        for name in inputs:
            value = _select(state, name, node)
            try:
                if value is not _ABSENT:
                    selected[name] = _canon(value)
            except _Unhashable as exc:
                exc.path.append(name)
                raise
        return selected
    except _Unhashable as exc:
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
    }
    text = _dumps(document).encode("utf-8", "surrogatepass")
    return CacheKey((KEY_NAMESPACE, node), hashlib.sha256(text).hexdigest())
