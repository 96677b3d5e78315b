"""Tests for _limits.budget and budgets on nodes: a looping agent stops, records, flags, raises."""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AnyMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from langgraph_runner import GraphState, create_node, get_node_context
from langgraph_runner._limits.budget import Budget
from langgraph_runner._limits.stores import InProcessLimitStore
from langgraph_runner._limits.tokens import Usage
from langgraph_runner._records.exceptions import BudgetExceededError
from tests.limits_fakes import UsageModel, admitted_calls


class AgentState(GraphState):
    messages: Annotated[list[AnyMessage], add_messages]


def _agent_graph(model: UsageModel, budget: Budget, *, checkpointer: Any = None) -> Any:
    """A hand-built tool loop: agent -> tools -> agent ... until routed to END."""

    def agent(state: AgentState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    def tools(state: AgentState) -> dict[str, Any]:
        call = state["messages"][-1].tool_calls[0]  # type: ignore[union-attr]
        return {"messages": [ToolMessage("result", tool_call_id=call["id"])]}

    def route(state: AgentState) -> str:
        return END if state.get("routing_flags", {}).get("budget_exhausted") else "tools"

    g = StateGraph(AgentState)
    g.add_node("agent", create_node(agent, budget=budget))
    g.add_node("tools", create_node(tools))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", route, ["tools", END])
    g.add_edge("tools", "agent")
    return g.compile(checkpointer=checkpointer)


@pytest.mark.parametrize("k", [1, 250, 450, 1000])
def test_a_token_budget_stops_a_looping_agent_after_at_most_k_plus_one_call(k: int) -> None:
    """A budget of K tokens stops the tool loop: spent <= K + one call, a record, a flag."""
    model = UsageModel(tokens=100)
    budget = Budget(name=f"b{k}", tokens=k, store=InProcessLimitStore())
    graph = _agent_graph(model, budget, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": uuid.uuid4().hex}, "recursion_limit": 200}
    out = graph.invoke({"messages": [("user", "go")]}, config)
    spent_tokens = model.calls * 100
    assert spent_tokens <= k + 100
    assert spent_tokens >= k  # it really ran until the budget was spent
    assert out["routing_flags"] == {"blocked": True, "budget_exhausted": True}
    assert out["errors"][-1]["code"] == "BUDGET_EXHAUSTED"
    assert out["errors"][-1]["node"] == "agent"
    snapshot = graph.get_state(config)
    assert snapshot.next == ()  # the run ended cleanly and its state is checkpointed
    assert snapshot.values["errors"][-1]["code"] == "BUDGET_EXHAUSTED"


def test_a_streaming_agent_is_stopped_too() -> None:
    """Tokens reported on the last chunk of a streamed call count against the budget."""
    model = UsageModel(tokens=100)
    budget = Budget(tokens=250, store=InProcessLimitStore())

    def agent(state: AgentState) -> dict[str, Any]:
        chunks = list(model.stream(state["messages"]))
        return {"messages": [("ai", "".join(str(c.content) for c in chunks))]}

    g = StateGraph(AgentState)
    g.add_node("agent", create_node(agent, budget=budget))
    g.add_edge(START, "agent")
    g.add_conditional_edges(
        "agent",
        lambda s: END if s.get("routing_flags", {}).get("budget_exhausted") else "agent",
        ["agent", END],
    )
    out = g.compile().invoke({"messages": [("user", "go")]}, {"recursion_limit": 50})
    assert model.calls == 3
    assert out["errors"][-1]["code"] == "BUDGET_EXHAUSTED"


def test_on_exhausted_raise_ends_the_run_even_in_record_mode() -> None:
    """Budget(on_exhausted='raise') raises BudgetExceededError out of the run."""
    model = UsageModel(tokens=100)
    budget = Budget(tokens=150, on_exhausted="raise", store=InProcessLimitStore())
    graph = _agent_graph(model, budget)
    with pytest.raises(BudgetExceededError) as info:
        graph.invoke({"messages": [("user", "go")]}, {"recursion_limit": 50})
    assert info.value.exhausted == "tokens"
    assert info.value.spent["tokens"] == 200
    assert model.calls == 2


def test_a_budget_is_checked_before_each_model_call_inside_a_node() -> None:
    """A node making many model calls is stopped at the call that finds the budget spent."""
    model = UsageModel(tokens=100)
    budget = Budget(tokens=300, store=InProcessLimitStore())

    def many(state: GraphState) -> dict[str, Any]:
        for _ in range(10):
            model.invoke("x")
        return {}

    node = create_node(many, budget=budget)
    out = node({})
    assert model.calls == 3
    assert out["errors"][0]["code"] == "BUDGET_EXHAUSTED"


def test_budgets_per_thread_and_per_tenant_are_kept_apart() -> None:
    """A thread budget counts per thread id; a tenant budget per configurable tenant id."""
    store = InProcessLimitStore()
    per_thread = Budget(name="t", per="thread", calls=2, store=store)
    per_tenant = Budget(name="c", per="tenant", calls=3, store=store)

    def work(state: GraphState) -> dict[str, Any]:
        return {}

    node = create_node(work, budget=[per_thread, per_tenant])

    def call(thread: str, tenant: str) -> str | None:
        cfg = {"configurable": {"thread_id": thread, "tenant_id": tenant}}
        out = node.invoke({}, cfg)
        return out["errors"][0]["code"] if out else None

    assert [call("t1", "acme"), call("t1", "acme")] == [None, None]
    assert call("t1", "acme") == "BUDGET_EXHAUSTED"  # thread t1 spent its 2 calls
    assert call("t2", "acme") is None  # a stopped call spent nothing: acme's 3rd call
    assert call("t3", "acme") == "BUDGET_EXHAUSTED"  # tenant acme spent its 3 calls
    assert call("t3", "globex") is None
    assert per_thread.status("t1").exhausted and not per_thread.status("t2").exhausted
    assert per_tenant.status("acme").spent["calls"] == 3


def test_remaining_budget_is_readable_from_the_node_context() -> None:
    """get_node_context().budgets shows spent and remaining units while the node runs (the
    running call already counted)."""
    model = UsageModel(tokens=100)
    budget = Budget(name="ctx", tokens=1000, calls=5, store=InProcessLimitStore())
    seen: list[Any] = []

    def node_fn(state: GraphState) -> dict[str, Any]:
        model.invoke("x")
        ctx = get_node_context()
        assert ctx is not None
        seen.append(ctx.budgets["ctx"])
        return {}

    node = create_node(node_fn, budget=budget)
    node.invoke({}, {"configurable": {"thread_id": "x"}, "run_id": uuid.uuid4()})
    status = seen[0]
    assert status.spent["tokens"] == 100
    # The running call is counted when it starts (reserved before it runs).
    assert status.remaining == {"tokens": 900, "cost": None, "calls": 4}
    assert status.exhausted is False


def test_cost_comes_from_the_price_table_by_model_prefix() -> None:
    """Cost = input and output tokens at the table's prices per million; prefixes and '*' match."""
    budget = Budget(cost=1.0, prices={"gpt-4o": (2.5, 10.0), "*": (1.0, 1.0)})
    assert budget.cost_of(Usage(1000, 100, 1100, "gpt-4o-2024-08-06")) == pytest.approx(0.0035)
    assert budget.cost_of(Usage(1000, 0, 1000, "other")) == pytest.approx(0.001)
    unpriced = Budget(cost=1.0, prices={"gpt-4o": (2.5, 10.0)})
    assert unpriced.cost_of(Usage(1000, 0, 1000, "claude")) == 0.0


def test_a_cost_budget_stops_the_agent() -> None:
    """A cost cap stops the loop once the priced usage reaches it."""
    model = UsageModel(tokens=1_000_000)  # 700k in, 300k out: 0.7 + 0.3 = 1.0 per call
    budget = Budget(cost=2.5, prices={"fake-model": (1.0, 1.0)}, store=InProcessLimitStore())
    graph = _agent_graph(model, budget)
    out = graph.invoke({"messages": [("user", "go")]}, {"recursion_limit": 50})
    assert model.calls == 3
    assert out["routing_flags"]["budget_exhausted"] is True


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({}, ValueError, "at least one"),
        ({"tokens": 0}, ValueError, "tokens"),
        ({"calls": 1.5}, ValueError, "calls"),
        ({"cost": 1.0}, ValueError, "prices"),
        ({"tokens": 1, "per": "user"}, ValueError, "per"),
        ({"tokens": 1, "prices": {"m": (1,)}}, ValueError, "prices"),
        ({"tokens": 1, "on_exhausted": "stop"}, ValueError, "on_exhausted"),
        ({"tokens": 1, "store": "redis://"}, TypeError, "store"),
    ],
)
def test_bad_budget_config_is_refused_naming_the_field(
    kwargs: dict[str, Any], error: type[Exception], field: str
) -> None:
    """Budget validates once and names the field at fault."""
    with pytest.raises(error, match=field):
        Budget(**kwargs)


def test_create_node_refuses_a_bad_budget_option() -> None:
    """create_node(budget=...) takes a Budget or a list of them, nothing else."""
    with pytest.raises(TypeError, match="budget"):
        create_node(lambda s: {}, budget={"tokens": 1})  # type: ignore[arg-type]


def test_each_guarded_call_logs_what_is_left(caplog: pytest.LogCaptureFixture) -> None:
    """A DEBUG budget.spent event tells the spend and what remains after each node call."""
    import logging

    budget = Budget(name="logged", calls=3, store=InProcessLimitStore())
    node = create_node(lambda s: {}, name="n", budget=budget)
    with caplog.at_level(logging.DEBUG, logger="langgraph_runner"):
        node({})
    lines = [r.getMessage() for r in caplog.records if "budget.spent" in r.getMessage()]
    assert len(lines) == 1
    assert "'calls': 2.0" in lines[0]


def test_a_call_refused_by_a_rate_limit_spends_no_budget() -> None:
    """A call the rate limit refuses never ran: it spends no call of the budget."""
    from langgraph_runner import RateLimit

    store = InProcessLimitStore()
    budget = Budget(name="refused", per="thread", calls=10, store=store)
    limit = RateLimit(key="refused", requests_per_second=0.001, on_limit="fail", store=store)
    node = create_node(lambda s: {}, budget=budget, rate_limit=limit)
    cfg = {"configurable": {"thread_id": "r1"}}
    node.invoke({}, cfg)
    assert node.invoke({}, cfg)["errors"][0]["code"] == "RATE_LIMITED"
    assert budget.status("r1").spent["calls"] == 1


@settings(max_examples=12, deadline=None)
@given(
    calls=st.integers(min_value=1, max_value=8),
    callers=st.sampled_from([1, 4, 32]),
    mode=st.sampled_from(["threads", "asyncio"]),
)
def test_a_budget_of_n_calls_admits_exactly_n_whatever_the_concurrency(
    calls: int, callers: int, mode: str
) -> None:
    """Budget(calls=N) with 1, 4 or 32 overlapping callers (threads or asyncio tasks) runs
    exactly min(N, callers) of them: the call is checked and counted in one step."""
    budget = Budget(name="concurrent", per="thread", calls=calls, store=InProcessLimitStore())
    thread = f"t-{uuid.uuid4().hex}"
    assert admitted_calls(budget, callers, mode, thread) == min(calls, callers)
    assert budget.status(thread).spent["calls"] == min(calls, callers)


@pytest.mark.parametrize("price", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("slot", [0, 1])
def test_a_price_that_is_not_finite_is_refused(price: float, slot: int) -> None:
    """prices={"*": (inf, x)} would turn spend into NaN (and a budget that never ends)."""
    pair = (price, 1.0) if slot == 0 else (1.0, price)
    with pytest.raises(ValueError, match=r"prices\['\*'\].*finite"):
        Budget(cost=1.0, prices={"*": pair})
