"""The string enums of the package: members are their value, and print as it."""

from __future__ import annotations

import enum

__all__ = ["ValueEnum"]


class ValueEnum(str, enum.Enum):
    """A ``str`` enum whose members print as their value (``str(RunStatus.FAILED)`` is
    ``"failed"``), on every supported Python (``enum.StrEnum`` is 3.11+)."""

    _value_: str

    def __str__(self) -> str:
        return self._value_
