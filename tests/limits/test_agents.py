"""Tests for limits and budgets in RunnerMiddleware (a LangChain create_agent agent)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("langchain.agents")

from langchain.agents import create_agent
from langchain_core.tools import tool

from langgraph_runner import Budget, RateLimit
from langgraph_runner._limits.stores import InProcessLimitStore
from langgraph_runner._policies.abort import AbortSignal
from langgraph_runner.agents import RunnerMiddleware
from tests.limits_fakes import UsageModel


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return "found"


def test_a_token_budget_stops_an_agent_through_the_middleware() -> None:
    """RunnerMiddleware(model={'budget': ...}) stops a looping agent after K (+ one call)."""
    model = UsageModel(tokens=100)
    budget = Budget(tokens=350, store=InProcessLimitStore())
    agent = create_agent(model, [lookup], middleware=[RunnerMiddleware(model={"budget": budget})])
    out = agent.invoke({"messages": [("user", "go")]}, {"recursion_limit": 100})
    assert model.calls * 100 <= 350 + 100
    assert model.calls == 4
    assert out["errors"][-1]["code"] == "BUDGET_EXHAUSTED"
    assert out["routing_flags"]["budget_exhausted"] is True


def test_model_calls_wait_for_a_shared_rate_limit() -> None:
    """RunnerMiddleware(model={'rate_limit': ...}) makes each model call take a slot."""
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float, signal: AbortSignal | None) -> bool:
        slept.append(seconds)
        now[0] += seconds
        return False

    store = InProcessLimitStore(clock=lambda: now[0], sleep=sleep)
    limit = RateLimit(key="llm", requests_per_second=2, burst=1, store=store)

    class Stopping(UsageModel):
        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            result = super()._generate(*args, **kwargs)
            if self.calls >= 3:
                result.generations[0].message.tool_calls = []
            return result

    model = Stopping(tokens=10)
    agent = create_agent(
        model, [lookup], middleware=[RunnerMiddleware(model={"rate_limit": limit})]
    )
    agent.invoke({"messages": [("user", "go")]})
    assert model.calls == 3
    assert slept == pytest.approx([0.5, 0.5])
