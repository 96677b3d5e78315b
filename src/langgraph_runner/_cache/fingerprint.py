"""Code fingerprints: what a node runs, including the closure values it reads.

``code_fingerprint(fn)`` hashes the function's source and its code object (so two
lambdas on one source line differ), its default arguments, the arguments bound by
``functools.partial`` and the values of its closure variables. Constant values
with a canonical JSON form (strings, numbers, tuples, frozen dataclasses and
pydantic models ...) are hashed by value; functions are fingerprinted
recursively; classes and modules by their qualified name. Anything else has no
stable form: a client or a lock cannot be hashed, and a mutable value (a list, a
dict) may change after the fingerprint is taken. A ``UserWarning`` then names the
function and the variable, because only ``NodeCache(version=...)`` can tell the
cache when such a value changes.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import functools
import hashlib
import inspect
import json
import pathlib
import types
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from langgraph_runner._cache.canon import Unhashable, canon

__all__ = ["code_fingerprint"]

_CODE_ATTRS = ("co_name", "co_code", "co_names", "co_varnames", "co_freevars")


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


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


class _Walk:
    """One fingerprint computation: guards recursion, names what has no stable form."""

    def __init__(self, root: Any) -> None:
        self.root = _qualname(root)
        self.seen: set[int] = set()
        self.warnings: list[str] = []

    def fingerprint(self, fn: Any) -> list[Any]:
        bound: list[Any] = []
        while True:  # peel wrappers, keeping what they bind
            fn = inspect.unwrap(fn)
            if isinstance(fn, functools.partial):
                bound.append(["partial", self.value("partial args", fn.args, fn)])
                bound.append(["keywords", self.mapping("partial", fn.keywords, fn)])
                fn = fn.func
            elif isinstance(fn, types.MethodType):
                fn = fn.__func__
            else:
                break
        if id(fn) in self.seen:  # recursion through a closure: the name is enough
            return ["recursive", _qualname(fn)]
        self.seen.add(id(fn))
        target = fn if inspect.isfunction(fn) or inspect.isclass(fn) else type(fn)
        if inspect.isbuiltin(fn):
            return ["builtin", _qualname(fn), bound]
        parts: list[Any] = ["fn", _source(target), bound]
        code = getattr(target.__call__ if inspect.isclass(target) else target, "__code__", None)
        if isinstance(code, types.CodeType):
            parts.append(repr(_code_struct(code)))
        if inspect.isfunction(target):
            parts.append(self.value("defaults", target.__defaults__, target))
            parts.append(self.mapping("default", target.__kwdefaults__ or {}, target))
            parts.append(self.closure(target))
        return parts

    def closure(self, fn: types.FunctionType) -> list[Any]:
        cells = fn.__closure__ or ()
        out: list[Any] = []
        for name, cell in zip(fn.__code__.co_freevars, cells, strict=False):
            try:
                value = cell.cell_contents
            except ValueError:  # not yet assigned
                out.append([name, "empty"])
                continue
            out.append([name, self.value(name, value, fn)])
        return out

    def mapping(self, what: str, values: dict[str, Any], owner: Any) -> Any:
        return {k: self.value(f"{what} {k}", v, owner) for k, v in sorted(values.items())}

    def value(self, name: str, value: Any, owner: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (types.ModuleType, type)):
            return ["ref", _qualname(value) if isinstance(value, type) else value.__name__]
        if callable(value) and not _is_data(value):
            return ["callable", self.fingerprint(value)]
        if _immutable(value):
            try:
                return ["data", canon(value)]
            except (Unhashable, RecursionError):
                pass
        if isinstance(value, tuple):
            return ["seq", [self.value(f"{name}[{i}]", v, owner) for i, v in enumerate(value)]]
        self.warnings.append(
            f"code_fingerprint: {_qualname(owner)} reads {name!r}, a {type(value).__name__} "
            "that is mutable or has no canonical form, so a change to it does not change "
            "the cache key; pass NodeCache(version=...) and bump it when that value changes"
        )
        return ["opaque", _qualname(type(value))]


_IMMUTABLE = (
    str,
    bytes,
    int,
    float,
    bool,
    type(None),
    enum.Enum,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    decimal.Decimal,
    uuid.UUID,
    pathlib.PurePath,
)


def _immutable(value: Any) -> bool:
    """Whether ``value`` is constant data: its canonical form cannot change later."""
    if isinstance(value, _IMMUTABLE):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_immutable(item) for item in value)
    params = getattr(type(value), "__dataclass_params__", None)
    if params is not None and not isinstance(value, type):
        return bool(params.frozen) and all(
            _immutable(getattr(value, name)) for name in type(value).__dataclass_fields__
        )
    config = getattr(type(value), "model_config", None)
    if isinstance(config, dict) and hasattr(type(value), "model_fields"):
        return bool(config.get("frozen")) and all(
            _immutable(getattr(value, name)) for name in type(value).model_fields
        )
    return False


def _is_data(value: Any) -> bool:
    # Pydantic models and dataclasses may define __call__; they are still data first.
    return hasattr(value, "__dataclass_fields__") or hasattr(type(value), "model_fields")


def _source(target: Any) -> str | None:
    try:
        return inspect.getsource(target)
    except (OSError, TypeError):
        return None


def code_fingerprint(fn: Callable[..., Any]) -> str:
    """A SHA-256 fingerprint of the code ``fn`` runs, stable across processes.

    ``__wrapped__``, ``functools.partial`` and bound methods are followed to the
    real function; a callable object is fingerprinted by its class. The source text
    (any edit, comments too) and the code object (bytecode, constants, names) are
    hashed, so two lambdas on one line differ. Default arguments, ``partial``
    arguments and closure values are part of the fingerprint when they have a
    canonical form; functions they hold are fingerprinted recursively. Module
    globals and helpers called by name are not seen: use ``NodeCache(version=)``.

    Args:
        fn: The node function or callable.

    Returns:
        A 64-character hex digest.

    Warns:
        UserWarning: A closure value, default or bound argument has no canonical
            form (a client, a lock ...); the warning names the function and the
            variable. Set ``NodeCache(version=...)`` for such nodes.
    """
    walk = _Walk(fn)
    document = walk.fingerprint(fn)
    for message in walk.warnings:
        warnings.warn(message, UserWarning, stacklevel=2)
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
