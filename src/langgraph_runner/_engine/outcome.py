"""The update a wrapped node returns after a terminal failure: pure shaping, no effects.

* no fallback: ``{"errors": [record], "routing_flags": {"blocked": True}}``;
* ``fallback="node"``: the same update in ``Command(update=..., goto="node")``;
* ``fallback=callable`` that succeeds: its update, with the record (marked
  ``recovered``) prepended to its ``errors``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from langgraph.types import Command

from langgraph_runner.errors import NodeError

__all__ = ["failure_update", "recovered_update"]


def failure_update(records: list[NodeError], goto: str | None) -> Any:
    """The update of an unrecovered failure: records plus the blocked flag."""
    update = {"errors": [r.to_state() for r in records], "routing_flags": {"blocked": True}}
    if goto is None:
        return update
    return Command(update=update, goto=goto)


def _merged(update: Any, record: NodeError) -> dict[str, Any]:
    if update is None:
        return {"errors": [record.to_state()]}
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
    merged["errors"] = [record.to_state(), *own]
    return merged


def recovered_update(result: Any, record: NodeError) -> Any:
    """A successful fallback's result with ``record`` (marked recovered) merged in.

    Raises:
        TypeError: The fallback returned something that cannot carry the record.
    """
    if isinstance(result, Command):
        return dataclasses.replace(result, update=_merged(result.update, record))
    return _merged(result, record)
