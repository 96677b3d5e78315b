"""What a fault sweep costs, and how it grows with the number of points.

The graph is ``harden(create_agent(model, [weather, population]))`` with a scripted
model: each turn but the last asks for both tools at once, the last answers. A turn
adds three or four points (the model node, its model call, two tool calls), so a
three-turn agent has ten. ``sweep`` runs the graph once to list the points, then once
per point; each run builds a fresh graph from the factory, as the docs recommend.

Baseline, in the same process: one fault-free run of the same factory (build and
invoke, no sweep). Printed per agent size: the points, the sweep's time (median of
``--repeat`` sweeps), the time per point, and the sweep's time over the baseline's.

    python benchmarks/sweep.py [--repeat 5] [--turns 1,2,3,5,8]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool

from langgraph_runner import harden
from langgraph_runner.testing import sweep

QUESTION = {"messages": [HumanMessage("Weather and population of Paris?")]}


class Model(BaseChatModel):
    """``turns - 1`` turns asking for both tools, then an answer; fresh per graph."""

    turns: int
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "bench"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(self, messages: list[BaseMessage], *a: Any, **kw: Any) -> ChatResult:
        self.calls += 1
        if self.calls < self.turns:
            n = self.calls
            message = AIMessage(
                content="",
                tool_calls=[
                    {"name": "weather", "args": {"city": "Paris"}, "id": f"w{n}"},
                    {"name": "population", "args": {"city": "Paris"}, "id": f"p{n}"},
                ],
            )
        else:
            message = AIMessage(content="Sunny, 2 million people.")
        return ChatResult(generations=[ChatGeneration(message=message)])


@tool
def weather(city: str) -> str:
    """Current weather in a city."""
    return f"{city}: sunny"


@tool
def population(city: str) -> str:
    """Population of a city."""
    return f"{city}: 2 million"


def factory(turns: int) -> Callable[[], Any]:
    """A fresh hardened agent per call."""
    return lambda: harden(create_agent(Model(turns=turns), [weather, population]))


def run_once(make: Callable[[], Any]) -> Any:
    """The baseline: build the graph and run it once, without faults."""
    return make().invoke(QUESTION)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median seconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--turns", default="1,2,3,5,8")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print("| Turns | Points | One run (ms) | Sweep (ms) | Per point (ms) | Sweep / one run |")
    print("| --- | --- | --- | --- | --- | --- |")
    for turns in (int(t) for t in args.turns.split(",")):
        make = factory(turns)
        one, _ = timed(functools.partial(run_once, make), args.repeat * 4)
        whole, report = timed(functools.partial(sweep, make, QUESTION), args.repeat)
        assert report.all_recorded(), report
        points = len(report)
        print(
            f"| {turns} | {points} | {one * 1000:.1f} | {whole * 1000:.0f} | "
            f"{whole * 1000 / points:.1f} | {whole / one:.1f} |"
        )


if __name__ == "__main__":
    main()
