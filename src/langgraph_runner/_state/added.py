"""The record channels added to a state that had none: absent until something is written.

``harden(compiled_graph)`` and ``RunnerMiddleware`` add ``errors`` and
``routing_flags`` to an agent's state. Where nothing fails, the agent must look
exactly as it did without them: the same output keys and the same ``values``
stream. These channels are therefore not available (left out of the output, the
``values`` stream and a node's input) until a record or a flag is written;
``GraphState``'s own channels keep reading ``[]`` and ``{}`` when empty.
"""

from __future__ import annotations

from typing import Annotated, Any

from langgraph.errors import EmptyChannelError
from typing_extensions import TypedDict

from langgraph_runner._state.bounded import DEFAULT_ERRORS_LIMIT, BoundedErrors
from langgraph_runner._state.channels import merge_flags

__all__ = ["AddedErrors", "RecordChannels", "added_errors"]


class AddedErrors(BoundedErrors):
    """The bounded ``errors`` channel, left out of the state until a record is written."""

    __slots__ = ()

    # Unequal to a ``BoundedErrors`` of the same limit: ``Annotated`` caches its
    # aliases by their metadata, so an equal ``bounded_errors(n)`` seen first would
    # stand in for this channel (Python 3.10 does) and ``errors`` would read ``[]``.
    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, AddedErrors)
            and type(other) is type(self)
            and other.limit == self.limit
        )

    def __hash__(self) -> int:
        return hash((type(self), self.limit))

    def __repr__(self) -> str:
        return f"added_errors({self.limit})"

    def is_available(self) -> bool:
        """Once a record was written (kept or dropped)."""
        return bool(self.records) or self.dropped > 0

    def get(self) -> list[dict[str, Any]]:
        """The kept records; ``EmptyChannelError`` before any was written."""
        if not self.is_available():
            raise EmptyChannelError()
        return super().get()


def added_errors(limit: int = DEFAULT_ERRORS_LIMIT) -> AddedErrors:
    """An ``AddedErrors`` channel keeping the last ``limit`` records."""
    return AddedErrors(limit)


class RecordChannels(TypedDict, total=False):
    """``errors`` and ``routing_flags``, as added to a state that had none."""

    errors: Annotated[list[dict[str, Any]], added_errors(DEFAULT_ERRORS_LIMIT)]
    # ``| None``: LangGraph's reducer channel makes no empty value of an optional type,
    # so the channel stays empty (left out) until a flag is written.
    routing_flags: Annotated[dict[str, bool] | None, merge_flags]
