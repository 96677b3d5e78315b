"""Tests for _limits.tokens: usage read from what LangChain models report, and the counter."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from langgraph_runner._limits.budget import Budget
from langgraph_runner._limits.stores import InProcessLimitStore
from langgraph_runner._limits.tokens import Usage, UsageCounter, counting, usage_of
from langgraph_runner._records.exceptions import BudgetExceededError
from tests.limits_fakes import UsageModel


def test_usage_of_an_ai_message() -> None:
    """usage_metadata on an AIMessage is read with the model name."""
    msg = AIMessage(
        content="hi",
        usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
        response_metadata={"model_name": "m"},
    )
    assert usage_of(msg) == Usage(3, 4, 7, "m")


def test_usage_of_an_llm_result_falls_back_to_token_usage() -> None:
    """An LLMResult without usage_metadata reports llm_output['token_usage']."""
    result = LLMResult(
        generations=[[ChatGeneration(message=AIMessage(content="x"))]],
        llm_output={"token_usage": {"prompt_tokens": 5, "completion_tokens": 2}, "model_name": "o"},
    )
    assert usage_of(result) == Usage(5, 2, 7, "o")


def test_usage_of_a_node_update_sums_its_messages() -> None:
    """A node's {'messages': [...]} update sums the usage of its AI messages."""
    usage = {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}
    update = {"messages": [HumanMessage("q"), AIMessage("a", usage_metadata=usage),
                           AIMessage("b", usage_metadata=usage)]}  # fmt: skip
    assert usage_of(update) == Usage(2, 2, 4, None)
    assert usage_of({"other": 1}) is None


def test_counter_sees_invoke_and_stream_without_user_code() -> None:
    """Inside counting(), every model call reports its usage, streamed ones from the last chunk."""
    seen: list[Usage] = []
    starts: list[str | None] = []
    model = UsageModel(tokens=50)
    with counting(UsageCounter(starts.append, seen.append)):
        model.invoke("hello")
        list(model.stream("hello"))
    assert [u.total_tokens for u in seen] == [50, 50]
    assert seen[0].model == "fake-model-1"
    assert len(starts) == 2
    model.invoke("outside")
    assert len(seen) == 2


def test_a_raising_before_hook_stops_the_model_call() -> None:
    """An exception from the before hook ends the model call (how a spent budget stops it)."""

    def refuse(_model: str | None) -> None:
        raise RuntimeError("spent")

    model = UsageModel()
    with (
        counting(UsageCounter(refuse, lambda _u: None)),
        pytest.raises(RuntimeError, match="spent"),
    ):
        model.invoke("x")
    assert model.calls == 0


def test_a_huge_usage_report_is_counted_not_lost() -> None:
    """usage_metadata of 10**400 tokens (past float's range) is clamped and counted: the
    budget ends instead of the count raising OverflowError."""
    budget = Budget(name="huge", tokens=1000, store=InProcessLimitStore())
    report = SimpleNamespace(
        usage_metadata={"input_tokens": 10**400, "output_tokens": 1, "total_tokens": 10**400},
        response_metadata={"model_name": "m"},
    )
    usage = usage_of(report)
    assert usage is not None
    spent = budget.spend_usage("r", usage)
    assert 1000 <= spent.tokens < math.inf
    with pytest.raises(BudgetExceededError):
        budget.check("r")
