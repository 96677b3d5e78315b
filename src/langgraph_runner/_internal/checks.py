"""What the options classes share: one rule for names, choices, counts and amounts, and the
pydantic-era API of the configs that were pydantic models before 0.3.

The house rule for every option: a value of the wrong type is a ``TypeError``, a
value of the right type that is out of range a ``ValueError``; each message starts
with the owner and the field the user typed (``"Budget: name must be ..."``).
Durations have their own module (``durations``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from typing_extensions import Self

__all__ = [
    "PydanticEraAPI",
    "check_choice",
    "check_count",
    "check_positive",
    "check_text",
]


def check_text(value: object, field: str, owner: str) -> str:
    """``value`` when it is a non-empty string.

    Raises:
        TypeError: Not a string.
        ValueError: An empty string.
    """
    if not isinstance(value, str):
        raise TypeError(f"{owner}: {field} must be a string, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{owner}: {field} must be a non-empty string, got ''")
    return value


def check_choice(value: object, field: str, owner: str, choices: Collection[str]) -> str:
    """``value`` when it is one of ``choices`` (strings).

    Raises:
        TypeError: Not a string.
        ValueError: A string that is not one of ``choices``.
    """
    names = " or ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        raise TypeError(f"{owner}: {field} must be {names}, got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{owner}: {field} must be {names}, got {value!r}")
    return value


def check_count(value: object, field: str, owner: str, *, least: int = 1) -> int:
    """``value`` when it is an int (not a bool) of ``least`` or more.

    Raises:
        TypeError: Not an int.
        ValueError: Less than ``least``.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{owner}: {field} must be an int, got {type(value).__name__}")
    if value < least:
        raise ValueError(f"{owner}: {field} must be >= {least}, got {value}")
    return value


def check_positive(value: object, field: str, owner: str) -> float | None:
    """``value`` as a float when it is a finite number greater than 0; None stays None.

    Raises:
        TypeError: Not a number (a bool is not one).
        ValueError: Not finite, or not greater than 0.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: {field} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{owner}: {field} must be finite and > 0, got {value!r}")
    return float(value)


class PydanticEraAPI:
    """``model_copy``, ``model_dump`` and ``model_validate`` on a frozen dataclass config
    (``RetryConfig``, ``CircuitBreakerConfig``): what code written for their pydantic
    models calls keeps working (a bad value is a ``ValueError``, not a ``ValidationError``)."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Any]]

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Self:
        """A copy with ``update`` applied, validated again (``dataclasses.replace``)."""
        return dataclasses.replace(self, **(update or {}))

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]:
        """The fields as a dict (plain values: ``mode`` is accepted for compatibility and
        ignored)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def model_validate(cls, data: Mapping[str, Any]) -> Self:
        """``cls(**data)``."""
        return cls(**data)
