"""Build a pydantic model from trusted, well-typed values without validating them.

Private helper of ``_records.record`` (error records, built on every terminal failure)
and ``metrics._model`` (snapshots): both check once, at import, that the result equals
the validated model, and validate instead should a pydantic release differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["restore"]

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


def restore(cls: type[M], fields: dict[str, Any], fields_set: Iterable[str]) -> M:
    """An instance of ``cls`` whose ``__dict__`` is ``fields``, as given.

    What ``model_construct`` ends with, and unpickling (``BaseModel.__setstate__``)
    does: no validation, no defaults filled in, no copy of ``fields``.
    """
    model = cls.__new__(cls)
    _set(model, "__dict__", fields)
    _set(model, "__pydantic_fields_set__", set(fields_set))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model
