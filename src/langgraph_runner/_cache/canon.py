"""Canonical JSON: plain data standing for a value, identical in every process.

No ``hash()`` and no ``repr`` of objects: values that are not JSON (sets, bytes,
datetimes, models ...) get tagged forms ``{"$lgr": kind, "v": ...}`` (enums, pydantic
models and dataclasses also name their class, ``"t"``: two models with the same
fields differ), and plain
mappings that happen to hold the tag key are wrapped in a tagged ``dict`` form,
so no plain value can ever equal the form of another type.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel

from langgraph_runner._records.exceptions import Unhashable

__all__ = ["Unhashable", "canon", "dumps"]

_TAG = "$lgr"  # marks canonical forms of non-JSON types so they cannot equal plain data
_SCALARS = frozenset({str, int, float, bool, type(None)})  # exact types JSON encodes as they are


def dumps(obj: Any) -> str:
    """Compact JSON with sorted keys: the canonical text of canonical data."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canon(value: Any) -> Any:
    """Plain JSON data standing for ``value``, the same in every process."""
    cls = type(value)
    if cls in _SCALARS:
        return value
    if isinstance(value, enum.Enum):
        return {_TAG: "enum", "t": _type_name(cls), "v": canon(value.value)}
    if isinstance(value, (str, int, float)):
        return value  # json encodes subclasses through the base type
    if isinstance(value, Mapping):
        return _canon_mapping(value)
    if isinstance(value, (list, tuple)):
        return _canon_list(value)
    if isinstance(value, (set, frozenset)):
        return {_TAG: "set", "v": sorted((canon(v) for v in value), key=dumps)}
    return _tagged(value, cls)


def _canon_list(value: list[Any] | tuple[Any, ...]) -> list[Any]:
    out = []
    for i, item in enumerate(value):
        try:
            out.append(item if type(item) in _SCALARS else canon(item))
        except Unhashable as exc:
            exc.path.append(f"[{i}]")
            raise
    return out


def _tagged(value: Any, cls: type) -> Any:
    """The tagged form of a non-JSON leaf value (bytes, dates, models ...)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {_TAG: "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (datetime, date, time)):
        return {_TAG: cls.__name__, "v": value.isoformat()}
    if isinstance(value, timedelta):
        return {_TAG: "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, (Decimal, uuid.UUID, PurePath)):
        return {_TAG: cls.__name__, "v": str(value)}
    if isinstance(value, BaseModel):
        fields = {name: getattr(value, name) for name in type(value).model_fields}
        fields.update(value.model_extra or {})
        return {_TAG: "model", "t": _type_name(cls), "v": _canon_mapping(fields)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {_TAG: "dataclass", "t": _type_name(cls), "v": _canon_mapping(fields)}
    raise Unhashable(value)


def _type_name(cls: type) -> str:
    """The class's module and qualified name: the same in every process."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _canon_mapping(value: Mapping[Any, Any]) -> Any:
    out = {}
    for k, v in value.items():
        if type(k) is not str:
            return _canon_pairs(value)
        try:
            out[k] = v if type(v) in _SCALARS else canon(v)
        except Unhashable as exc:
            exc.path.append(f".{k}")
            raise
    # Plain data that holds the tag key is wrapped, so it never equals a tagged form.
    return {_TAG: "dict", "v": out} if _TAG in out else out


def _canon_pairs(value: Mapping[Any, Any]) -> Any:
    # Non-str keys: a sorted pair list, so {1: x} and {"1": x} stay distinct.
    pairs = []
    for k, v in value.items():
        try:
            pairs.append([canon(k), canon(v)])
        except Unhashable as exc:
            exc.path.append(f"[{k!r}]")
            raise
    return {_TAG: "map", "v": sorted(pairs, key=dumps)}
