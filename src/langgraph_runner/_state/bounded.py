"""The bounded ``errors`` channel: the last N error records per thread, and a count of the rest.

``GraphState["errors"]`` keeps the last ``DEFAULT_ERRORS_LIMIT`` (100) records.
Older ones are dropped, oldest first, and counted; the count is saved in the
checkpoint next to the records and read with ``errors_dropped(graph, config)``.
A node sees, and ``invoke`` returns, the records as a plain list, exactly as
before; a checkpoint stores at most N records, so storage grows linearly with
the number of failures instead of quadratically.

Another bound is one annotation away::

    class State(GraphState):
        errors: Annotated[list[dict[str, Any]], bounded_errors(500)]

Writes are one record (a dict) or a list of records, appended in order; a
record equal to one already kept is not appended again (a subgraph that shares
the state hands back the records it was given).
``Overwrite([...])`` (or ``{"__overwrite__": [...]}``) replaces the records, as
with any LangGraph reducer channel; the count of dropped records is kept.

LangGraph saves a channel's whole value whenever it changes (and SQLite saves every
channel in every checkpoint), so each recorded failure writes the kept records
again. The saved form packs them: ``{"packed": <zlib of their JSON>, "dropped": n}``,
made once per change. Records of one failure repeated shrink to a few percent,
varied ones to about a fifth (``benchmarks/errors_bound.py``). ``saved_records``
reads either saved form.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.channels.base import BaseChannel
from langgraph.errors import InvalidUpdateError
from langgraph.types import Overwrite
from typing_extensions import Self

__all__ = [
    "DEFAULT_ERRORS_LIMIT",
    "BoundedErrors",
    "bounded_append",
    "bounded_errors",
    "errors_dropped",
    "aerrors_dropped",
    "saved_records",
]

DEFAULT_ERRORS_LIMIT = 100
"""How many error records a thread keeps by default."""

_OVERWRITE_KEY = "__overwrite__"  # LangGraph's serialisable form of Overwrite
_PACKED = "packed"  # the saved records: zlib-compressed JSON

Record = dict[str, Any]


def bounded_append(
    records: Sequence[Record], dropped: int, new: Sequence[Record], limit: int
) -> tuple[tuple[Record, ...], int]:
    """Append ``new`` to ``records``, keeping the last ``limit``; count what falls off.

    Args:
        records: The records kept so far, oldest first.
        dropped: How many were dropped before.
        new: Records to append, in order.
        limit: How many to keep.

    Returns:
        ``(kept, dropped)``: at most ``limit`` records, the newest last, and the
        updated count. Only the kept tail is copied, never the whole history.
    """
    total = len(records) + len(new)
    if total <= limit:
        return (*records, *new), dropped
    if len(new) >= limit:
        return tuple(new[len(new) - limit :]), dropped + total - limit
    keep_old = limit - len(new)
    return (*records[len(records) - keep_old :], *new), dropped + total - limit


def _as_records(value: Any) -> list[Record]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [dict(value)]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidUpdateError(
            f"errors: expected a record (dict) or a list of records, got {type(value).__name__}"
        )
    return list(value)


def _stamp(record: Any) -> str | None:
    stamp = record.get("timestamp") if isinstance(record, Mapping) else None
    return stamp if isinstance(stamp, str) else None


def _overwrite_value(value: Any) -> tuple[bool, Any]:
    if isinstance(value, Overwrite):
        return True, value.value
    if isinstance(value, dict) and len(value) == 1 and _OVERWRITE_KEY in value:
        return True, value[_OVERWRITE_KEY]
    if isinstance(value, dict) and value.get("type") == _OVERWRITE_KEY and "value" in value:
        return True, value["value"]
    return False, None


def _pack(records: tuple[Record, ...]) -> bytes | None:
    """The records as zlib-compressed JSON; None when they are not JSON data."""
    if not records:
        return None
    try:
        text = json.dumps(records, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return zlib.compress(text.encode(), 1)  # level 1: most of the gain, a third of the time


def saved_records(value: Any) -> list[Record] | None:
    """The records of a saved ``errors`` channel value (packed or plain), or None when
    ``value`` is not one."""
    if not isinstance(value, Mapping):
        return None
    packed = value.get(_PACKED)
    if isinstance(packed, (bytes, bytearray)):
        loaded = json.loads(zlib.decompress(bytes(packed)))
        return [r for r in loaded if isinstance(r, dict)] if isinstance(loaded, list) else []
    if "records" in value:
        return list(value.get("records") or ())
    return None


class BoundedErrors(BaseChannel[list[Record], Any, dict[str, Any]]):
    """A LangGraph channel holding the last ``limit`` error records and a dropped count.

    Use it through ``bounded_errors(limit)`` in an ``Annotated`` state field. The
    checkpoint holds ``{"packed": <zlib-compressed JSON of the records>, "dropped":
    n}`` (``{"records": [...], "dropped": n}`` for records that are not JSON data, as
    earlier versions saved); a checkpoint written by an unbounded list channel is
    read as its last ``limit`` records.
    """

    __slots__ = ("_saved", "dropped", "limit", "records", "stamps")

    def __init__(self, limit: int = DEFAULT_ERRORS_LIMIT, typ: Any = list) -> None:
        super().__init__(typ)
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError(f"bounded_errors: limit must be an int, got {type(limit).__name__}")
        if limit < 1:
            raise ValueError(f"bounded_errors: limit must be >= 1, got {limit}")
        self.limit = limit
        self.records: tuple[Record, ...] = ()
        self.dropped = 0
        # How many kept records carry each timestamp: finds a record handed back
        # (see _unseen) without scanning the kept records on every append.
        self.stamps: dict[str, int] = {}
        # The packed form of ``records`` (made once per change, not per checkpoint).
        self._saved: tuple[tuple[Record, ...], bytes | None] | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BoundedErrors) and other.limit == self.limit

    def __hash__(self) -> int:
        return hash((BoundedErrors, self.limit))

    def __repr__(self) -> str:
        return f"bounded_errors({self.limit})"

    @property
    def ValueType(self) -> Any:
        """The type of the value: a list of records."""
        return list[Record]

    @property
    def UpdateType(self) -> Any:
        """The type of a write: a record or a list of records."""
        return list[Record] | Record

    def _new(self) -> Self:
        empty = self.__class__(self.limit, self.typ)
        empty.key = self.key
        return empty

    def copy(self) -> Self:
        """A copy sharing the (immutable) records."""
        out = self._new()
        out.records, out.dropped, out.stamps = self.records, self.dropped, dict(self.stamps)
        out._saved = self._saved
        return out

    def from_checkpoint(self, checkpoint: Any) -> Self:
        """Restore from ``{"records", "dropped"}`` or from a plain list of records."""
        out = self._new()
        saved = saved_records(checkpoint)
        if saved is not None:
            records = saved
            dropped = int(checkpoint.get("dropped") or 0)
        elif isinstance(checkpoint, Sequence) and not isinstance(checkpoint, (str, bytes)):
            records, dropped = list(checkpoint), 0
        else:  # MISSING or nothing saved yet
            return out
        out.records, out.dropped = bounded_append((), dropped, records, self.limit)
        out._count(out.records, 1)
        packed = checkpoint.get(_PACKED) if isinstance(checkpoint, Mapping) else None
        if isinstance(packed, bytes) and len(records) <= self.limit:
            out._saved = (out.records, packed)  # saved again unchanged: not packed again
        return out

    def update(self, values: Sequence[Any]) -> bool:
        """Apply one step's writes: appends in order; one ``Overwrite`` replaces."""
        if not values:
            return False
        appended: list[Record] = []
        overwritten = False
        for value in values:
            is_overwrite, replacement = _overwrite_value(value)
            if is_overwrite:
                if overwritten:
                    raise InvalidUpdateError(
                        "errors: can receive only one Overwrite value per super-step"
                    )
                overwritten = True
                # As in LangGraph's reducer channels: an Overwrite wins over the
                # step's plain writes, whichever came first.
                self.records = ()
                appended = _as_records(replacement)
            elif not overwritten:
                appended.extend(_as_records(value))
        old = self.records
        if overwritten:
            self.stamps = {}
        else:
            appended = self._unseen(appended)
        self.records, self.dropped = bounded_append(old, self.dropped, appended, self.limit)
        excess = len(old) + len(appended) - self.limit
        if excess > 0:
            self._count(old[: min(len(old), excess)], -1)
            appended = appended[max(0, len(appended) - self.limit) :]
        self._count(appended, 1)
        return True

    def _count(self, records: Sequence[Record], sign: int) -> None:
        stamps = self.stamps
        for record in records:
            stamp = _stamp(record)
            if stamp is not None:
                left = stamps.get(stamp, 0) + sign
                if left > 0:
                    stamps[stamp] = left
                else:
                    stamps.pop(stamp, None)

    def _unseen(self, new: list[Record]) -> list[Record]:
        """``new`` without the records already kept (or repeated within ``new``).

        A subgraph sharing the state returns the records it was given with its own
        output; appending them again would duplicate them. Records carry a
        timestamp to the microsecond, so equal records are the same record.
        """
        out: list[Record] = []
        batch: set[str] = set()
        for record in new:
            stamp = _stamp(record)
            if stamp is not None:
                if (stamp in self.stamps or stamp in batch) and (
                    record in self.records or record in out
                ):
                    continue
                batch.add(stamp)
            out.append(record)
        return out

    def get(self) -> list[Record]:
        """The kept records, oldest first, as a new list."""
        return list(self.records)

    def is_available(self) -> bool:
        """Always: an empty channel reads as ``[]``, like a list reducer channel."""
        return True

    def checkpoint(self) -> dict[str, Any]:
        """The saved form: ``{"packed": ..., "dropped": n}`` (plain ``"records"`` when they
        are not JSON data)."""
        records = self.records
        saved = self._saved
        if saved is None or saved[0] is not records:
            saved = self._saved = (records, _pack(records))
        if saved[1] is None:
            return {"records": list(records), "dropped": self.dropped}
        return {_PACKED: saved[1], "dropped": self.dropped}


def bounded_errors(limit: int = DEFAULT_ERRORS_LIMIT) -> BoundedErrors:
    """The ``errors`` channel keeping the last ``limit`` records, for ``Annotated`` fields.

    Args:
        limit: How many records a thread keeps (>= 1).

    Returns:
        A channel to put in ``Annotated[list[dict[str, Any]], bounded_errors(limit)]``.

    Raises:
        TypeError: ``limit`` is not an int.
        ValueError: ``limit`` is below 1.
    """
    return BoundedErrors(limit)


def _dropped_from(tuple_: Any) -> int:
    if tuple_ is None:
        return 0
    saved = tuple_.checkpoint.get("channel_values", {}).get("errors")
    if isinstance(saved, Mapping):
        return int(saved.get("dropped") or 0)
    return 0


def _saver(graph: Any) -> Any:
    saver = getattr(graph, "checkpointer", None)
    if saver is None or isinstance(saver, bool):
        raise ValueError("errors_dropped: the graph must be compiled with a checkpointer")
    return saver


def errors_dropped(graph: Any, config: Mapping[str, Any]) -> int:
    """How many error records the thread's ``errors`` channel has dropped so far.

    Args:
        graph: A compiled graph with a checkpointer.
        config: The thread's config (``{"configurable": {"thread_id": ...}}``),
            optionally with a ``checkpoint_id``.

    Returns:
        The count saved in that checkpoint; 0 for a thread with no checkpoint or
        an unbounded ``errors`` channel.
    """
    return _dropped_from(_saver(graph).get_tuple(dict(config)))


async def aerrors_dropped(graph: Any, config: Mapping[str, Any]) -> int:
    """Async ``errors_dropped``, for graphs compiled with an async checkpointer."""
    return _dropped_from(await _saver(graph).aget_tuple(dict(config)))
