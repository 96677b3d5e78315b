"""What a wrapped node returns after a terminal failure: records, flags, fallbacks.

Three outcomes, decided once the retries are over:

* no fallback: ``{"errors": [record], "routing_flags": {"blocked": True}}``;
* ``fallback="node"``: the same update in ``Command(update=..., goto="node")``;
* ``fallback=callable`` that succeeds: its update, with the record (marked
  ``recovered``) prepended to its ``errors``; one that fails: both records and
  the blocked flag.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from langgraph.types import Command

from langgraph_runner.errors import NodeError

__all__ = ["Fallback", "check_fallback", "failure_update", "recovered_update"]

Fallback = str | Callable[..., Any]
"""A node name to route to, or a callable run inline with fn's signature rules."""


def check_fallback(fallback: object) -> Fallback | None:
    """Validate ``create_node(fallback=...)`` at factory time.

    Raises:
        ValueError: An empty node name.
        TypeError: Neither a node name nor a callable.
    """
    if fallback is None:
        return None
    if isinstance(fallback, str):
        if not fallback:
            raise ValueError("create_node: fallback must be a non-empty node name or a callable")
        return fallback
    if isinstance(fallback, type) or not callable(fallback):
        raise TypeError(
            "create_node: fallback must be a node name (str) or a function, "
            f"got {type(fallback).__name__}"
        )
    return fallback


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
