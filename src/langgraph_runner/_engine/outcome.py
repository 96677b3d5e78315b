"""The update of a recovered failure: pure shaping, no effects.

A ``fallback=callable`` that succeeds: its update, with the record (marked
``recovered``) prepended to its ``errors``. The update of an unrecovered failure
(``{"errors": [record], "routing_flags": {"blocked": True}}``, in a ``Command``
for ``fallback="node"``) is ``finish.failure_update``, on the failure path itself.

Records arrive in their state form (``NodeError.to_state()``: plain JSON data).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from langgraph.types import Command

__all__ = ["recovered_update"]


def _merged(update: Any, record: dict[str, Any]) -> dict[str, Any]:
    if update is None:
        return {"errors": [record]}
    if not isinstance(update, Mapping):
        try:
            update = dict(update)  # a sequence of (key, value) pairs, as Command accepts
        except (TypeError, ValueError):
            raise TypeError(
                "a fallback must return a dict, None or a Command with a dict update, "
                f"got {type(update).__name__}"
            ) from None
    merged = dict(update)
    own = merged.get("errors")
    if own is None:
        own = []
    elif not isinstance(own, (list, tuple)):
        raise TypeError(f"a fallback's 'errors' update must be a list, got {type(own).__name__}")
    merged["errors"] = [record, *own]
    return merged


def recovered_update(result: Any, record: dict[str, Any]) -> Any:
    """A successful fallback's result with ``record`` (marked recovered) merged in.

    Raises:
        TypeError: The fallback returned something that cannot carry the record.
    """
    if isinstance(result, Command):
        return dataclasses.replace(result, update=_merged(result.update, record))
    return _merged(result, record)
