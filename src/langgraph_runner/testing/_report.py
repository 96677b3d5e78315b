"""What a sweep reports: ``PointResult`` (one failed call point) and ``SweepReport`` (all)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Literal

from langgraph_runner.testing._points import Point, PointKind

__all__ = [
    "ALL_KINDS",
    "TEXT_LIMIT",
    "ErrorSpec",
    "GraphSource",
    "Outcome",
    "PointResult",
    "SweepReport",
]

Outcome = Literal["recorded", "answered", "returned", "raised", "hung", "not reached"]
GraphSource = Any  # a compiled graph, or a function returning a fresh one
ErrorSpec = BaseException | type[BaseException] | Callable[[Point], BaseException]
ALL_KINDS: tuple[PointKind, ...] = ("node", "model", "tool")
TEXT_LIMIT = 160


@dataclasses.dataclass(frozen=True)
class PointResult:
    """What a run did when one point failed.

    Attributes:
        point: The failed point.
        outcome: ``"recorded"`` (the run returned with a new record), ``"answered"``
            (a tool call answered with an error ``ToolMessage``, no record),
            ``"returned"`` (neither: something else handled the failure, like a
            fallback model), ``"raised"``, ``"hung"`` (a hang that no timeout stopped)
            or ``"not reached"`` (the run never came to the point: the graph does not
            repeat its calls; pass a graph factory).
        records: ``(node, code)`` of each record the run's output has beyond those of
            the run without faults.
        flags: The routing flags set in the run's output.
        tool_error: A tool point's call was answered with an error ``ToolMessage``.
        error_type: The class name of what the run raised.
        error: ``"Type: message"`` of what the run raised (cut at 160 characters).
        after: The nodes that started after the fault (``"parent/child"`` paths).
    """

    point: Point
    outcome: Outcome
    records: tuple[tuple[str, str], ...] = ()
    flags: tuple[str, ...] = ()
    tool_error: bool = False
    error_type: str | None = None
    error: str | None = None
    after: tuple[str, ...] = ()

    @property
    def recorded(self) -> bool:
        """Whether the run ended with the failure recorded (or, for a tool call, answered
        with an error ``ToolMessage``)."""
        return self.outcome in ("recorded", "answered")

    def summary(self) -> str:
        """A short cell: ``recorded RETRY_EXHAUSTED (blocked)``, ``raised KeyError``, ..."""
        if self.outcome == "raised":
            return f"raised {self.error_type}"
        if self.outcome in ("hung", "not reached"):
            return self.outcome
        parts: list[str] = [self.outcome]
        if self.tool_error:
            parts.append("error ToolMessage")
        codes = sorted({code for _, code in self.records})
        if codes:
            parts.append(", ".join(codes))
        if self.flags:
            parts.append(f"({', '.join(self.flags)})")
        return " ".join(parts)

    def __str__(self) -> str:
        text = f"{self.point}: {self.summary()}"
        if self.outcome == "raised" and self.error:
            text += f" [{self.error}]"
        if self.after:
            text += f" -> {' -> '.join(self.after)}"
        return text


@dataclasses.dataclass(frozen=True)
class SweepReport:
    """Every point of a sweep and what its run did (iterable, ``str`` is a table).

    Attributes:
        results: One ``PointResult`` per point, in the order the points ran.
    """

    results: tuple[PointResult, ...]

    def __iter__(self) -> Iterator[PointResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def all_recorded(self) -> bool:
        """Whether every point's run ended with its failure recorded."""
        return all(r.recorded for r in self.results)

    def not_recorded(self) -> tuple[PointResult, ...]:
        """The points whose run did not end with a record."""
        return tuple(r for r in self.results if not r.recorded)

    def raised(self) -> dict[str, str | None]:
        """Point (as text) -> the class name of what its run raised (None: it did not raise)."""
        return {str(r.point): r.error_type for r in self.results}

    def table(self) -> str:
        """A Markdown table: point, outcome, nodes run after the fault."""
        rows = ["| Point | Outcome | Then |", "| --- | --- | --- |"]
        for r in self.results:
            then = " -> ".join(r.after) if r.after else "-"
            rows.append(f"| {r.point} | {r.summary()} | {then} |")
        return "\n".join(rows)

    def __str__(self) -> str:
        done = sum(r.recorded for r in self.results)
        lines = [f"sweep: {done} of {len(self.results)} points recorded"]
        lines += [f"  {r}" for r in self.results]
        return "\n".join(lines)


# ---------------------------------------------------------------------- pieces
