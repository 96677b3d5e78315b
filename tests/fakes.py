"""Fakes shared by the test folders: one clock for every test that must not really wait,
and a chain of steps for tests that need a small workflow."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any


class FakeClock:
    """A monotonic clock that moves only when a test advances it or something sleeps on it.

    Pass it where the package takes a ``clock`` (it is callable and returns the current
    time) and its ``sleep`` where the package takes a ``sleep(seconds, signal)`` function.

    Args:
        now: The time the clock starts at.
    """

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward without recording a sleep."""
        self.now += seconds

    def sleep(self, seconds: float, signal: Any = None) -> bool:
        """Record the sleep and move the clock; never aborted (returns False)."""
        self.slept.append(seconds)
        self.now += seconds
        return False


def chain_graph(state: Any, names: list[str], step: Callable[[str], Any]) -> Any:
    """A ``StateGraph`` running ``step(name)`` for each name in turn, START to END."""
    from langgraph.graph import END, START, StateGraph

    g: Any = StateGraph(state)
    for name in names:
        g.add_node(name, step(name))
    g.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        g.add_edge(a, b)
    g.add_edge(names[-1], END)
    return g
